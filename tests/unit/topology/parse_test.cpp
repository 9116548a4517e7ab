// Valid topologies: defaults, the typed form of each operator, processing order, and the shipped examples.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "sluice/topology/topology.hpp"
#include "support.hpp"

namespace sluice::topology {
namespace {

using testing::topology_of;
using testing::with_operators;

std::vector<std::string> operator_names(const Topology& topology) {
  std::vector<std::string> names;
  for (const auto& op : topology.operators) names.push_back(op.name);
  return names;
}

std::vector<std::string> field_names(const std::vector<FieldAssignment>& fields) {
  std::vector<std::string> names;
  for (const auto& field : fields) names.push_back(field.name);
  return names;
}

TEST(TopologyParseTest, Defaults) {
  const Topology topology = topology_of(R"({"application_id": "app",
      "sources": [{"name": "orders", "topic": "orders"}],
      "sinks": [{"from": "orders", "topic": "orders-copy"}]})");
  EXPECT_EQ(topology.application_id, "app");
  EXPECT_EQ(topology.description, "");
  EXPECT_EQ(topology.dead_letter_topic, "app-dlq");
  EXPECT_TRUE(topology.operators.empty());
  ASSERT_EQ(topology.sources.size(), 1u);
  const SourceSpec& source = topology.sources[0];
  EXPECT_EQ(source.name, "orders");
  EXPECT_EQ(source.topic, "orders");
  EXPECT_EQ(source.key, KeyFormat::string);
  EXPECT_EQ(source.value, ValueFormat::json);
  EXPECT_FALSE(source.timestamp.field.has_value());
  EXPECT_EQ(source.timestamp.format, TimestampFormat::epoch_ms);
  EXPECT_EQ(source.pointer, "/sources/0");
  ASSERT_EQ(topology.sinks.size(), 1u);
  const SinkSpec& sink = topology.sinks[0];
  EXPECT_EQ(sink.name, "orders-to-orders-copy");
  EXPECT_EQ(sink.from, "orders");
  EXPECT_EQ(sink.topic, "orders-copy");
  EXPECT_EQ(sink.key, KeyFormat::string);
  EXPECT_EQ(sink.value, ValueFormat::json);
  EXPECT_EQ(sink.pointer, "/sinks/0");
}

TEST(TopologyParseTest, ExplicitFormatsTimestampAndNames) {
  const Topology topology = topology_of(R"({"$schema": "x", "application_id": "app.v2_test-1",
      "description": "about", "dead_letter_topic": "errors",
      "sources": [{"name": "a", "topic": "a", "key": "bytes", "value": "string", "timestamp": "record",
                   "description": "first"},
                  {"name": "b", "topic": "b", "key": "json", "value": "bytes",
                   "timestamp": {"field": "meta.ts", "format": "epoch_s"}},
                  {"name": "c", "topic": "c", "timestamp": {"field": "created_at"}}],
      "sinks": [{"name": "out", "from": "a", "topic": "out", "key": "bytes", "value": "string", "description": "d"}]})");
  EXPECT_EQ(topology.application_id, "app.v2_test-1");
  EXPECT_EQ(topology.description, "about");
  EXPECT_EQ(topology.dead_letter_topic, "errors");
  ASSERT_EQ(topology.sources.size(), 3u);
  EXPECT_EQ(topology.sources[0].key, KeyFormat::bytes);
  EXPECT_EQ(topology.sources[0].value, ValueFormat::string);
  EXPECT_FALSE(topology.sources[0].timestamp.field);
  EXPECT_EQ(topology.sources[1].key, KeyFormat::json);
  EXPECT_EQ(topology.sources[1].value, ValueFormat::bytes);
  ASSERT_TRUE(topology.sources[1].timestamp.field);
  EXPECT_EQ(topology.sources[1].timestamp.field->text(), "meta.ts");
  EXPECT_EQ(topology.sources[1].timestamp.format, TimestampFormat::epoch_s);
  ASSERT_TRUE(topology.sources[2].timestamp.field);
  EXPECT_EQ(topology.sources[2].timestamp.format, TimestampFormat::epoch_ms);
  EXPECT_EQ(topology.sinks[0].name, "out");
  EXPECT_EQ(topology.sinks[0].key, KeyFormat::bytes);
  EXPECT_EQ(topology.sinks[0].value, ValueFormat::string);
}

TEST(TopologyParseTest, EveryOperatorType) {
  const Topology topology = topology_of(with_operators(R"json([
      {"name": "big", "from": "orders", "filter": "amount > 100", "description": "large orders"},
      {"name": "enriched", "from": "big", "map": {"total": "price * qty", "region": "upper(country)"},
       "drop": ["internal_notes"]},
      {"name": "slim", "from": "enriched", "select": {"id": "order_id", "total": "total"}},
      {"name": "paths", "from": "enriched", "select": ["order_id", "customer.id"]},
      {"name": "words", "from": "events", "flat_map": "split(lower(text), ' ')", "as": "word"},
      {"name": "elements", "from": "events", "flat_map": "items"},
      {"name": "by_word", "from": "words", "rekey": "word"},
      {"name": "by_type", "from": "events",
       "route": [{"name": "clicks", "when": "type == 'click'"}, {"name": "views", "when": "type == 'view'"}],
       "default": "other"},
      {"name": "no_default", "from": "events", "route": [{"name": "only", "when": "true"}]},
      {"name": "all", "merge": ["by_type.clicks", "by_type.views"]}])json",
                                                       "all"));
  ASSERT_EQ(topology.operators.size(), 10u);
  EXPECT_EQ(operator_names(topology), (std::vector<std::string>{"big", "enriched", "slim", "paths", "words", "elements",
                                                                "by_word", "by_type", "no_default", "all"}));
  std::vector<std::string> types;
  for (const auto& op : topology.operators) types.emplace_back(op.type_name());
  EXPECT_EQ(types, (std::vector<std::string>{"filter", "map", "select", "select", "flat_map", "flat_map", "rekey",
                                             "route", "route", "merge"}));

  EXPECT_EQ(std::get<FilterSpec>(topology.operators[0].body).predicate.text(), "amount > 100");
  EXPECT_EQ(topology.operators[0].inputs, (std::vector<std::string>{"orders"}));

  const auto& map = std::get<MapSpec>(topology.operators[1].body);
  EXPECT_EQ(field_names(map.fields), (std::vector<std::string>{"total", "region"}));  // file order
  EXPECT_EQ(map.fields[0].expression.text(), "price * qty");
  EXPECT_EQ(map.drop, (std::vector<std::string>{"internal_notes"}));

  const auto& slim = std::get<SelectSpec>(topology.operators[2].body);
  EXPECT_EQ(field_names(slim.fields), (std::vector<std::string>{"id", "total"}));
  EXPECT_EQ(slim.fields[0].expression.text(), "order_id");

  const auto& paths = std::get<SelectSpec>(topology.operators[3].body);
  EXPECT_EQ(field_names(paths.fields), (std::vector<std::string>{"order_id", "id"}));  // last path segment
  EXPECT_EQ(paths.fields[1].expression.text(), "customer.id");

  const auto& words = std::get<FlatMapSpec>(topology.operators[4].body);
  EXPECT_EQ(words.elements.text(), "split(lower(text), ' ')");
  EXPECT_EQ(words.as, "word");
  EXPECT_FALSE(std::get<FlatMapSpec>(topology.operators[5].body).as.has_value());

  EXPECT_EQ(std::get<RekeySpec>(topology.operators[6].body).key.text(), "word");

  const auto& route = std::get<RouteSpec>(topology.operators[7].body);
  ASSERT_EQ(route.branches.size(), 2u);
  EXPECT_EQ(route.branches[0].name, "clicks");
  EXPECT_EQ(route.branches[0].when.text(), "type == 'click'");
  EXPECT_EQ(route.branches[1].name, "views");
  EXPECT_EQ(route.default_branch, "other");
  EXPECT_FALSE(std::get<RouteSpec>(topology.operators[8].body).default_branch.has_value());

  EXPECT_TRUE(std::holds_alternative<MergeSpec>(topology.operators[9].body));
  EXPECT_EQ(topology.operators[9].inputs, (std::vector<std::string>{"by_type.clicks", "by_type.views"}));
  EXPECT_EQ(topology.operators[9].pointer, "/operators/9");
}

TEST(TopologyParseTest, SeveralInputsAreAnImplicitMerge) {
  const Topology topology =
      topology_of(with_operators(R"([{"name": "both", "from": ["orders", "events"], "filter": "true"}])", "both"));
  ASSERT_EQ(topology.operators.size(), 1u);
  EXPECT_EQ(topology.operators[0].inputs, (std::vector<std::string>{"orders", "events"}));
}

TEST(TopologyParseTest, OperatorsAreOrderedInputsFirstKeepingFilePointers) {
  const Topology topology = topology_of(with_operators(R"([
      {"name": "d", "from": "c", "filter": "true"},
      {"name": "x", "from": "events", "filter": "true"},
      {"name": "c", "from": ["b", "a"], "filter": "true"},
      {"name": "b", "from": "a", "filter": "true"},
      {"name": "y", "from": "orders", "filter": "true"},
      {"name": "a", "from": "orders", "filter": "true"}])",
                                                       "d"));
  // Each step takes the first operator in the file whose inputs are all done.
  EXPECT_EQ(operator_names(topology), (std::vector<std::string>{"x", "y", "a", "b", "c", "d"}));
  std::vector<std::string> pointers;
  for (const auto& op : topology.operators) pointers.push_back(op.pointer);
  EXPECT_EQ(pointers, (std::vector<std::string>{"/operators/1", "/operators/4", "/operators/5", "/operators/3",
                                                "/operators/2", "/operators/0"}));
}

TEST(TopologyParseTest, OrderedFileKeepsItsOrder) {
  const Topology topology = topology_of(with_operators(R"([
      {"name": "a", "from": "orders", "filter": "true"},
      {"name": "z", "from": "events", "filter": "true"},
      {"name": "b", "from": "a", "filter": "true"},
      {"name": "m", "merge": ["b", "z"]}])",
                                                       "m"));
  EXPECT_EQ(operator_names(topology), (std::vector<std::string>{"a", "z", "b", "m"}));
}

TEST(TopologyParseTest, RouteInputsWaitForTheRoute) {
  const Topology topology = topology_of(with_operators(R"([
      {"name": "clicks_only", "from": "r.clicks", "filter": "true"},
      {"name": "r", "from": "events", "route": [{"name": "clicks", "when": "true"}]}])",
                                                       "clicks_only"));
  EXPECT_EQ(operator_names(topology), (std::vector<std::string>{"r", "clicks_only"}));
}

TEST(TopologyParseTest, NlohmannJsonOverloadSortsObjectKeys) {
  // nlohmann::json keeps object keys sorted, so map fields arrive alphabetically; everything else is the same.
  const auto document = nlohmann::json::parse(with_operators(
      R"([{"name": "m", "from": "orders", "map": {"zeta": "1", "alpha": "2"}}])", "m"));
  auto result = parse_topology(document);
  ASSERT_TRUE(std::holds_alternative<Topology>(result));
  const auto& map = std::get<MapSpec>(std::get<Topology>(result).operators[0].body);
  EXPECT_EQ(field_names(map.fields), (std::vector<std::string>{"alpha", "zeta"}));

  const auto ordered = nlohmann::ordered_json::parse(with_operators(
      R"([{"name": "m", "from": "orders", "map": {"zeta": "1", "alpha": "2"}}])", "m"));
  auto ordered_result = parse_topology(ordered);
  ASSERT_TRUE(std::holds_alternative<Topology>(ordered_result));
  EXPECT_EQ(field_names(std::get<MapSpec>(std::get<Topology>(ordered_result).operators[0].body).fields),
            (std::vector<std::string>{"zeta", "alpha"}));

  auto invalid = parse_topology(nlohmann::json::parse(R"({"application_id": "a"})"));
  ASSERT_TRUE(std::holds_alternative<std::vector<ValidationError>>(invalid));
  EXPECT_EQ(std::get<std::vector<ValidationError>>(invalid).size(), 2u);  // no sources, no sinks
}

TEST(TopologyParseTest, EnumSpellings) {
  EXPECT_EQ(to_string(KeyFormat::string), "string");
  EXPECT_EQ(to_string(KeyFormat::bytes), "bytes");
  EXPECT_EQ(to_string(KeyFormat::json), "json");
  EXPECT_EQ(to_string(ValueFormat::json), "json");
  EXPECT_EQ(to_string(ValueFormat::string), "string");
  EXPECT_EQ(to_string(ValueFormat::bytes), "bytes");
  EXPECT_EQ(to_string(TimestampFormat::epoch_ms), "epoch_ms");
  EXPECT_EQ(to_string(TimestampFormat::epoch_s), "epoch_s");
  EXPECT_EQ(to_string(TimestampFormat::iso8601), "iso8601");
}

// ---- the shipped examples ----

std::string example_path(const std::string& name) { return std::string(SLUICE_SOURCE_DIR) + "/topologies/" + name; }

Topology load_example(const std::string& name) {
  auto result = load_topology_file(example_path(name));
  if (auto* errors = std::get_if<std::vector<ValidationError>>(&result)) {
    ADD_FAILURE() << name << " has errors:" << testing::describe_errors(*errors);
    return {};
  }
  return std::get<Topology>(std::move(result));
}

TEST(TopologyExamplesTest, WordCountSplit) {
  const Topology topology = load_example("word-count-split.json");
  EXPECT_EQ(topology.application_id, "word-count-split");
  ASSERT_EQ(topology.sources.size(), 1u);
  EXPECT_EQ(topology.sources[0].name, "lines");
  EXPECT_EQ(topology.sources[0].topic, "text-lines");
  EXPECT_EQ(topology.sources[0].value, ValueFormat::json);
  EXPECT_EQ(operator_names(topology), (std::vector<std::string>{"words", "non_empty", "by_word"}));
  const auto& words = std::get<FlatMapSpec>(topology.operators[0].body);
  EXPECT_EQ(words.elements.text(), "split(lower(trim(text)), ' ')");
  EXPECT_FALSE(words.as.has_value());  // each element becomes the record value
  EXPECT_EQ(std::get<FilterSpec>(topology.operators[1].body).predicate.text(), "$value != ''");
  EXPECT_EQ(std::get<RekeySpec>(topology.operators[2].body).key.text(), "$value");
  ASSERT_EQ(topology.sinks.size(), 1u);
  EXPECT_EQ(topology.sinks[0].from, "by_word");
  EXPECT_EQ(topology.sinks[0].topic, "words-by-key");
  EXPECT_EQ(topology.sinks[0].value, ValueFormat::string);
  EXPECT_EQ(topology.dead_letter_topic, "word-count-split-dlq");
}

TEST(TopologyExamplesTest, OrdersEnrichment) {
  const Topology topology = load_example("orders-enrichment.json");
  EXPECT_EQ(topology.application_id, "orders-enrichment");
  ASSERT_EQ(topology.sources.size(), 1u);
  EXPECT_EQ(topology.sources[0].topic, "orders");
  ASSERT_TRUE(topology.sources[0].timestamp.field);
  EXPECT_EQ(topology.sources[0].timestamp.field->text(), "created_at");
  EXPECT_EQ(topology.sources[0].timestamp.format, TimestampFormat::iso8601);
  EXPECT_EQ(operator_names(topology), (std::vector<std::string>{"paid", "enriched", "summary", "by_customer"}));
  EXPECT_EQ(std::get<FilterSpec>(topology.operators[0].body).predicate.text(), "status == 'paid' and amount > 0");
  const auto& map = std::get<MapSpec>(topology.operators[1].body);
  EXPECT_EQ(field_names(map.fields), (std::vector<std::string>{"total_cents", "tier", "country"}));
  EXPECT_EQ(map.fields[0].expression.text(), "to_int(round(amount * 100))");
  EXPECT_EQ(map.fields[1].expression.text(), "if(amount >= 1000, 'gold', if(amount >= 100, 'silver', 'bronze'))");
  EXPECT_EQ(map.fields[2].expression.text(), "upper(customer.country ?? 'unknown')");
  const auto& select = std::get<SelectSpec>(topology.operators[2].body);
  EXPECT_EQ(field_names(select.fields),
            (std::vector<std::string>{"order_id", "customer", "total_cents", "tier", "country"}));
  EXPECT_EQ(select.fields[1].expression.text(), "customer.id");
  EXPECT_EQ(std::get<RekeySpec>(topology.operators[3].body).key.text(), "customer");
  ASSERT_EQ(topology.sinks.size(), 1u);
  EXPECT_EQ(topology.sinks[0].from, "by_customer");
  EXPECT_EQ(topology.sinks[0].topic, "orders-enriched");
}

TEST(TopologyExamplesTest, EventRouter) {
  const Topology topology = load_example("event-router.json");
  EXPECT_EQ(topology.application_id, "event-router");
  EXPECT_EQ(topology.dead_letter_topic, "event-router-dlq");
  ASSERT_EQ(topology.operators.size(), 1u);
  const auto& route = std::get<RouteSpec>(topology.operators[0].body);
  ASSERT_EQ(route.branches.size(), 2u);
  EXPECT_EQ(route.branches[0].name, "clicks");
  EXPECT_EQ(route.branches[0].when.text(), "type == 'click'");
  EXPECT_EQ(route.branches[1].name, "purchases");
  EXPECT_EQ(route.branches[1].when.text(), "type == 'purchase' and amount is not null");
  EXPECT_EQ(route.default_branch, "other");
  ASSERT_EQ(topology.sinks.size(), 3u);
  EXPECT_EQ(topology.sinks[0].from, "by_type.clicks");
  EXPECT_EQ(topology.sinks[0].topic, "events-clicks");
  EXPECT_EQ(topology.sinks[1].from, "by_type.purchases");
  EXPECT_EQ(topology.sinks[1].topic, "events-purchases");
  EXPECT_EQ(topology.sinks[2].from, "by_type.other");
  EXPECT_EQ(topology.sinks[2].topic, "events-other");
}

// The stateful examples: integration tests of other modules run them on a broker by these names.

TEST(TopologyExamplesTest, PageViewsPerMinute) {
  const Topology topology = load_example("page-views-per-minute.json");
  EXPECT_EQ(topology.application_id, "page-views");
  ASSERT_EQ(topology.sources.size(), 1u);
  EXPECT_EQ(topology.sources[0].name, "views");
  EXPECT_EQ(topology.sources[0].topic, "page-views");
  ASSERT_TRUE(topology.sources[0].timestamp.field);
  EXPECT_EQ(topology.sources[0].timestamp.field->text(), "ts");
  EXPECT_EQ(topology.sources[0].timestamp.format, TimestampFormat::epoch_ms);
  EXPECT_EQ(operator_names(topology), (std::vector<std::string>{"by_user", "per_minute"}));
  EXPECT_EQ(std::get<RekeySpec>(topology.operators[0].body).key.text(), "user");
  const auto& aggregate = std::get<AggregateSpec>(topology.operators[1].body);
  ASSERT_TRUE(aggregate.window);
  EXPECT_EQ(aggregate.window->type, WindowType::tumbling);
  EXPECT_EQ(aggregate.window->size_ms, 60'000);
  EXPECT_EQ(aggregate.window->grace_ms, 10'000);
  ASSERT_EQ(aggregate.aggregations.size(), 1u);
  EXPECT_EQ(aggregate.aggregations[0].name, "views");
  EXPECT_EQ(aggregate.aggregations[0].function, AggregateFunction::count);
  EXPECT_EQ(aggregate.emit, EmitMode::final);
  EXPECT_EQ(topology.operators[1].repartition_topic, "page-views-per_minute-repartition");
  EXPECT_EQ(topology.operators[1].changelog_topic, "page-views-per_minute-changelog");
  ASSERT_EQ(topology.sinks.size(), 1u);
  EXPECT_EQ(topology.sinks[0].from, "per_minute");
  EXPECT_EQ(topology.sinks[0].topic, "page-views-per-minute");
  EXPECT_EQ(topology.subtopologies.size(), 2u);
}

TEST(TopologyExamplesTest, FraudAlerts) {
  const Topology topology = load_example("fraud-alerts.json");
  EXPECT_EQ(topology.application_id, "fraud-alerts");
  EXPECT_EQ(topology.dead_letter_topic, "fraud-alerts-dlq");
  ASSERT_EQ(topology.sources.size(), 1u);
  EXPECT_EQ(topology.sources[0].name, "payments");
  EXPECT_EQ(topology.sources[0].topic, "payments");
  EXPECT_EQ(topology.sources[0].timestamp.field->text(), "event_time");
  EXPECT_EQ(topology.sources[0].timestamp.format, TimestampFormat::epoch_ms);
  EXPECT_EQ(operator_names(topology), (std::vector<std::string>{"large", "by_card", "per_card_5m", "suspicious"}));
  EXPECT_EQ(std::get<FilterSpec>(topology.operators[0].body).predicate.text(), "amount > 1000");
  EXPECT_EQ(std::get<RekeySpec>(topology.operators[1].body).key.text(), "card_id");
  const auto& aggregate = std::get<AggregateSpec>(topology.operators[2].body);
  ASSERT_TRUE(aggregate.window);
  EXPECT_EQ(aggregate.window->type, WindowType::hopping);
  EXPECT_EQ(aggregate.window->size_ms, 300'000);
  EXPECT_EQ(aggregate.window->advance_ms, 60'000);
  EXPECT_EQ(aggregate.window->grace_ms, 30'000);
  ASSERT_EQ(aggregate.aggregations.size(), 3u);
  EXPECT_EQ(aggregate.aggregations[0].name, "n");
  EXPECT_EQ(aggregate.aggregations[1].name, "total");
  EXPECT_EQ(aggregate.aggregations[1].function, AggregateFunction::sum);
  EXPECT_EQ(aggregate.aggregations[2].name, "largest");
  EXPECT_EQ(aggregate.aggregations[2].function, AggregateFunction::max);
  EXPECT_EQ(aggregate.emit, EmitMode::final);
  EXPECT_EQ(std::get<FilterSpec>(topology.operators[3].body).predicate.text(), "n >= 3");
  EXPECT_EQ(topology.operators[2].repartition_topic, "fraud-alerts-per_card_5m-repartition");
  ASSERT_EQ(topology.sinks.size(), 1u);
  EXPECT_EQ(topology.sinks[0].from, "suspicious");
  EXPECT_EQ(topology.sinks[0].topic, "fraud-alerts");
}

TEST(TopologyExamplesTest, SensorAnomaly) {
  const Topology topology = load_example("sensor-anomaly.json");
  EXPECT_EQ(topology.application_id, "sensor-anomaly");
  EXPECT_EQ(topology.sources[0].name, "readings");
  EXPECT_EQ(topology.sources[0].topic, "sensor-readings");
  EXPECT_EQ(topology.sources[0].key, KeyFormat::string);
  EXPECT_EQ(topology.sources[0].timestamp.field->text(), "ts");
  EXPECT_EQ(operator_names(topology), (std::vector<std::string>{"avg_10s", "too_hot"}));
  const auto& aggregate = std::get<AggregateSpec>(topology.operators[0].body);
  EXPECT_EQ(aggregate.window->type, WindowType::sliding);
  EXPECT_EQ(aggregate.window->size_ms, 10'000);
  EXPECT_EQ(aggregate.window->grace_ms, 2'000);
  ASSERT_EQ(aggregate.aggregations.size(), 2u);
  EXPECT_EQ(aggregate.aggregations[0].name, "avg_temp");
  EXPECT_EQ(aggregate.aggregations[0].function, AggregateFunction::avg);
  EXPECT_EQ(aggregate.aggregations[0].argument->text(), "temperature");
  EXPECT_EQ(aggregate.aggregations[1].name, "readings");
  EXPECT_EQ(aggregate.emit, EmitMode::update);
  // Keyed by sensor at the source already: no repartition.
  EXPECT_FALSE(topology.operators[0].repartition_topic.has_value());
  EXPECT_EQ(std::get<FilterSpec>(topology.operators[1].body).predicate.text(), "avg_temp > 80");
  EXPECT_EQ(topology.sinks[0].from, "too_hot");
  EXPECT_EQ(topology.sinks[0].topic, "sensor-alerts");
  EXPECT_EQ(topology.subtopologies.size(), 1u);
}

TEST(TopologyExamplesTest, UserSessions) {
  const Topology topology = load_example("user-sessions.json");
  EXPECT_EQ(topology.application_id, "user-sessions");
  EXPECT_EQ(topology.sources[0].name, "clicks");
  EXPECT_EQ(topology.sources[0].topic, "clicks");
  EXPECT_EQ(topology.sources[0].timestamp.field->text(), "ts");
  EXPECT_EQ(operator_names(topology), (std::vector<std::string>{"by_user", "sessions"}));
  EXPECT_EQ(std::get<RekeySpec>(topology.operators[0].body).key.text(), "user");
  const auto& aggregate = std::get<AggregateSpec>(topology.operators[1].body);
  EXPECT_EQ(aggregate.window->type, WindowType::session);
  EXPECT_EQ(aggregate.window->gap_ms, 1'800'000);
  EXPECT_EQ(aggregate.window->grace_ms, 60'000);
  ASSERT_EQ(aggregate.aggregations.size(), 3u);
  EXPECT_EQ(aggregate.aggregations[0].name, "clicks");
  EXPECT_EQ(aggregate.aggregations[1].name, "first_page");
  EXPECT_EQ(aggregate.aggregations[1].function, AggregateFunction::first);
  EXPECT_EQ(aggregate.aggregations[2].name, "last_page");
  EXPECT_EQ(aggregate.aggregations[2].function, AggregateFunction::last);
  EXPECT_EQ(aggregate.emit, EmitMode::final);
  EXPECT_EQ(topology.operators[1].repartition_topic, "user-sessions-sessions-repartition");
  EXPECT_EQ(topology.sinks[0].topic, "user-sessions");
}

TEST(TopologyExamplesTest, WordCount) {
  const Topology topology = load_example("word-count.json");
  EXPECT_EQ(topology.application_id, "word-count");
  EXPECT_EQ(topology.sources[0].name, "lines");
  EXPECT_EQ(topology.sources[0].topic, "text-lines");
  EXPECT_EQ(topology.sources[0].value, ValueFormat::json);
  EXPECT_EQ(operator_names(topology), (std::vector<std::string>{"words", "non_empty", "by_word", "counts"}));
  EXPECT_EQ(std::get<FlatMapSpec>(topology.operators[0].body).elements.text(), "split(lower(trim(text)), ' ')");
  EXPECT_EQ(std::get<FilterSpec>(topology.operators[1].body).predicate.text(), "$value != ''");
  EXPECT_EQ(std::get<RekeySpec>(topology.operators[2].body).key.text(), "$value");
  const auto& aggregate = std::get<AggregateSpec>(topology.operators[3].body);
  EXPECT_FALSE(aggregate.window.has_value());  // a table
  ASSERT_EQ(aggregate.aggregations.size(), 1u);
  EXPECT_EQ(aggregate.aggregations[0].name, "count");
  EXPECT_EQ(aggregate.emit, EmitMode::update);
  EXPECT_EQ(topology.operators[3].repartition_topic, "word-count-counts-repartition");
  ASSERT_EQ(topology.internal_topics.size(), 2u);
  EXPECT_EQ(topology.internal_topics[1].configs, (std::map<std::string, std::string>{{"cleanup.policy", "compact"}}));
  EXPECT_EQ(topology.sinks[0].from, "counts");
  EXPECT_EQ(topology.sinks[0].topic, "word-counts");
}

}  // namespace
}  // namespace sluice::topology
