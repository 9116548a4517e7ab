// The keyed, stateful operators: aggregate (windows, aggregations, emit, idle_timeout) and dedupe — their typed
// form with defaults, and every validation error with its JSON pointer and key phrase.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "sluice/topology/topology.hpp"
#include "support.hpp"

namespace sluice::topology {
namespace {

using testing::errors_of;
using testing::has_error;
using testing::has_only_error;
using testing::topology_of;
using testing::with_operators;

// A document with one operator (sources "orders" and "events"; the sink reads the operator).
std::string one_operator(const std::string& op) { return with_operators("[" + op + "]", "op"); }

// The errors of a document whose one operator "op" is `op`.
std::vector<ValidationError> errors_of_operator(const std::string& op) { return errors_of(one_operator(op)); }

// An aggregate "op" on orders with these aggregations and extra fields (window, emit, ...).
std::string aggregate_op(const std::string& aggregations, const std::string& extra = "") {
  return R"({"name": "op", "from": "orders", "aggregate": )" + aggregations + (extra.empty() ? "" : ", " + extra) +
         "}";
}

// An aggregate "op" with one aggregation "total" written as `text` (a JSON string literal, quotes included).
std::vector<ValidationError> aggregation_errors(const std::string& text) {
  return errors_of_operator(aggregate_op(R"({"total": )" + text + "}"));
}

std::vector<ValidationError> window_errors(const std::string& window) {
  return errors_of_operator(aggregate_op(R"json({"n": "count()"})json", R"("window": )" + window));
}

const AggregateSpec& aggregate_of(const Topology& topology, std::size_t index = 0) {
  return std::get<AggregateSpec>(topology.operators.at(index).body);
}

// ---- the typed form ----

TEST(TopologyStatefulTest, TableAggregateDefaults) {
  const Topology topology =
      topology_of(one_operator(R"json({"name": "op", "from": "orders", "aggregate": {"n": "count()"}})json"));
  ASSERT_EQ(topology.operators.size(), 1u);
  const OperatorSpec& op = topology.operators[0];
  EXPECT_EQ(op.type_name(), "aggregate");
  const AggregateSpec& spec = aggregate_of(topology);
  EXPECT_FALSE(spec.window.has_value());
  EXPECT_EQ(spec.emit, EmitMode::update);
  EXPECT_FALSE(spec.idle_timeout_ms.has_value());
  ASSERT_EQ(spec.aggregations.size(), 1u);
  EXPECT_EQ(spec.aggregations[0].name, "n");
  EXPECT_EQ(spec.aggregations[0].function, AggregateFunction::count);
  EXPECT_FALSE(spec.aggregations[0].argument.has_value());
  EXPECT_EQ(spec.aggregations[0].text, "count()");
  // Straight from a source, which is partitioned by its key: no repartition topic; every keyed operator logs.
  EXPECT_FALSE(op.repartition_topic.has_value());
  EXPECT_EQ(op.changelog_topic, "app-op-changelog");
}

TEST(TopologyStatefulTest, WindowedAggregateWithEveryFunctionInFileOrder) {
  const Topology topology = topology_of(one_operator(R"json({"name": "op", "from": "orders",
      "window": {"type": "hopping", "size": "5m", "advance": "1m", "grace": "30s"},
      "aggregate": {"n": "count()", "total": "sum(amount)", "largest": "max(amount)", "avg_amount": "avg(amount)",
                    "smallest": "min(price * qty)", "first_seen": "first(merchant)", "last_seen": "last(merchant)",
                    "with_card": "count(card_id)"},
      "emit": "final",
      "idle_timeout": "30s"})json"));
  const AggregateSpec& spec = aggregate_of(topology);
  ASSERT_TRUE(spec.window.has_value());
  EXPECT_EQ(spec.window->type, WindowType::hopping);
  EXPECT_EQ(spec.window->size_ms, 300'000);
  EXPECT_EQ(spec.window->advance_ms, 60'000);
  EXPECT_EQ(spec.window->gap_ms, 0);
  EXPECT_EQ(spec.window->grace_ms, 30'000);
  EXPECT_EQ(spec.emit, EmitMode::final);
  EXPECT_EQ(spec.idle_timeout_ms, 30'000);
  ASSERT_EQ(spec.aggregations.size(), 8u);
  const std::vector<std::pair<std::string, AggregateFunction>> expected{
      {"n", AggregateFunction::count},         {"total", AggregateFunction::sum},
      {"largest", AggregateFunction::max},     {"avg_amount", AggregateFunction::avg},
      {"smallest", AggregateFunction::min},    {"first_seen", AggregateFunction::first},
      {"last_seen", AggregateFunction::last},  {"with_card", AggregateFunction::count}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(spec.aggregations[i].name, expected[i].first) << i;
    EXPECT_EQ(spec.aggregations[i].function, expected[i].second) << i;
  }
  EXPECT_FALSE(spec.aggregations[0].argument.has_value());
  EXPECT_EQ(spec.aggregations[1].argument->text(), "amount");
  EXPECT_EQ(spec.aggregations[4].argument->text(), "price * qty");
  EXPECT_EQ(spec.aggregations[4].text, "min(price * qty)");
  EXPECT_EQ(spec.aggregations[6].argument->text(), "merchant");
  EXPECT_EQ(spec.aggregations[7].argument->text(), "card_id");  // count(x): the records where x is not null
}

TEST(TopologyStatefulTest, WindowTypesAndGraceDefault) {
  const Topology topology = topology_of(with_operators(R"json([
      {"name": "tumbling", "from": "orders", "window": {"type": "tumbling", "size": "1m"},
       "aggregate": {"n": "count()"}},
      {"name": "hopping", "from": "orders", "window": {"type": "hopping", "size": "10m", "advance": "10m"},
       "aggregate": {"n": "count()"}},
      {"name": "sliding", "from": "orders", "window": {"type": "sliding", "size": "10s", "grace": "2s"},
       "aggregate": {"n": "count()"}},
      {"name": "session", "from": "orders", "window": {"type": "session", "gap": "1h30m", "grace": "0"},
       "aggregate": {"n": "count()"}},
      {"name": "all", "merge": ["tumbling", "hopping", "sliding", "session"]}])json",
                                                       "all"));
  const WindowSpec tumbling = aggregate_of(topology, 0).window.value();
  EXPECT_EQ(tumbling.type, WindowType::tumbling);
  EXPECT_EQ(tumbling.size_ms, 60'000);
  EXPECT_EQ(tumbling.advance_ms, 60'000);  // a tumbling window advances by its size
  EXPECT_EQ(tumbling.grace_ms, 0);
  const WindowSpec hopping = aggregate_of(topology, 1).window.value();
  EXPECT_EQ(hopping.type, WindowType::hopping);
  EXPECT_EQ(hopping.advance_ms, 600'000);  // advance == size is allowed
  const WindowSpec sliding = aggregate_of(topology, 2).window.value();
  EXPECT_EQ(sliding.type, WindowType::sliding);
  EXPECT_EQ(sliding.size_ms, 10'000);
  EXPECT_EQ(sliding.advance_ms, 0);
  EXPECT_EQ(sliding.grace_ms, 2'000);
  const WindowSpec session = aggregate_of(topology, 3).window.value();
  EXPECT_EQ(session.type, WindowType::session);
  EXPECT_EQ(session.gap_ms, 5'400'000);
  EXPECT_EQ(session.size_ms, 0);
  EXPECT_EQ(session.grace_ms, 0);
}

TEST(TopologyStatefulTest, Dedupe) {
  const Topology topology =
      topology_of(one_operator(R"({"name": "op", "from": ["orders", "events"], "dedupe": {"within": "10m"}})"));
  const OperatorSpec& op = topology.operators.at(0);
  EXPECT_EQ(op.type_name(), "dedupe");
  EXPECT_EQ(std::get<DedupeSpec>(op.body).within_ms, 600'000);
  EXPECT_EQ(op.inputs, (std::vector<std::string>{"orders", "events"}));
  EXPECT_FALSE(op.repartition_topic.has_value());
  EXPECT_EQ(op.changelog_topic, "app-op-changelog");
}

TEST(TopologyStatefulTest, AggregationSpellings) {
  const Topology topology = topology_of(one_operator(aggregate_op(R"json({
      "a": "  sum( amount )  ", "b": "count( )", "c": "max(coalesce(price, 0) * qty)", "d": "first(items[0].name)",
      "e": "last('a)b, c')", "f": "min(`odd name`)", "g": "avg\t(x)", "h": "count(if(a, 1, null))"})json")));
  const AggregateSpec& spec = aggregate_of(topology);
  ASSERT_EQ(spec.aggregations.size(), 8u);
  EXPECT_EQ(spec.aggregations[0].function, AggregateFunction::sum);
  EXPECT_EQ(spec.aggregations[0].argument->text(), "amount");  // without the spaces around it
  EXPECT_EQ(spec.aggregations[0].text, "  sum( amount )  ");     // as written
  EXPECT_FALSE(spec.aggregations[1].argument.has_value());
  EXPECT_EQ(spec.aggregations[2].argument->text(), "coalesce(price, 0) * qty");
  EXPECT_EQ(spec.aggregations[3].argument->text(), "items[0].name");
  EXPECT_EQ(spec.aggregations[4].argument->text(), "'a)b, c'");  // a ')' or ',' in a string is not syntax
  EXPECT_EQ(spec.aggregations[5].argument->text(), "`odd name`");
  EXPECT_EQ(spec.aggregations[6].function, AggregateFunction::avg);
  EXPECT_EQ(spec.aggregations[7].argument->text(), "if(a, 1, null)");
}

TEST(TopologyStatefulTest, WindowBoundNamesAreFineInATable) {
  const Topology topology = topology_of(one_operator(aggregate_op(R"json({"window_start": "min($timestamp)"})json")));
  EXPECT_EQ(aggregate_of(topology).aggregations.at(0).name, "window_start");
}

// ---- durations ----

TEST(TopologyStatefulTest, WindowSizeMustBeADuration) {
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "tumbling", "size": "5x"})"), "/operators/0/window/size",
                             "\"5x\" is not a duration (e.g. 30s, 5m, 1h)"));
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "tumbling", "size": 300})"), "/operators/0/window/size",
                             "expected a string, got number"));
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "tumbling", "size": "-5m"})"), "/operators/0/window/size",
                             "\"-5m\" is not a duration"));
}

TEST(TopologyStatefulTest, SizesAdvancesAndGapsMustBePositive) {
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "tumbling", "size": "0s"})"), "/operators/0/window/size",
                             "expected a duration greater than 0, got \"0s\""));
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "hopping", "size": "1m", "advance": "0"})"),
                             "/operators/0/window/advance", "expected a duration greater than 0, got \"0\""));
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "session", "gap": "0ms"})"), "/operators/0/window/gap",
                             "expected a duration greater than 0"));
  // A grace period of zero is the default, and may be written.
  (void)topology_of(one_operator(aggregate_op(R"json({"n": "count()"})json",
                                              R"("window": {"type": "tumbling", "size": "1m", "grace": "0s"})")));
}

TEST(TopologyStatefulTest, DurationsHaveAnUpperBound) {
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "tumbling", "size": "36501d"})"), "/operators/0/window/size",
                             "\"36501d\" is longer than the longest duration allowed here, 36500d (100 years)"));
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "tumbling", "size": "1m", "grace": "99999999999d"})"),
                             "/operators/0/window/grace", "is longer than the longest duration allowed here"));
  const std::string longest = R"("window": {"type": "tumbling", "size": "36500d", "grace": "36500d"})";
  (void)topology_of(one_operator(aggregate_op(R"json({"n": "count()"})json", longest)));
}

TEST(TopologyStatefulTest, AdvanceMayNotExceedSize) {
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "hopping", "size": "5m", "advance": "6m"})"),
                             "/operators/0/window/advance",
                             "advance \"6m\" is longer than the window size \"5m\", which would leave gaps between "
                             "windows; expected 0 < advance <= size"));
}

// ---- window fields ----

TEST(TopologyStatefulTest, WindowFieldsOfOtherTypes) {
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "tumbling", "size": "5m", "advance": "1m"})"),
                             "/operators/0/window/advance",
                             "\"advance\" is only valid with hopping windows; valid fields of a tumbling window are "
                             "type, size, grace"));
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "hopping", "size": "5m", "advance": "1m", "gap": "1m"})"),
                             "/operators/0/window/gap",
                             "\"gap\" is only valid with session windows; valid fields of a hopping window are type, "
                             "size, advance, grace"));
  const auto session = window_errors(R"({"type": "session", "size": "5m", "gap": "1m"})");
  EXPECT_TRUE(has_only_error(session, "/operators/0/window/size",
                             "\"size\" is only valid with tumbling, hopping and sliding windows; valid fields of a "
                             "session window are type, gap, grace"));
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "sliding", "size": "5m", "advance": "1m"})"),
                             "/operators/0/window/advance", "\"advance\" is only valid with hopping windows"));
}

TEST(TopologyStatefulTest, UnknownWindowFieldSuggests) {
  const auto errors = window_errors(R"({"type": "tumbling", "size": "5m", "graec": "1s"})");
  EXPECT_TRUE(has_only_error(errors, "/operators/0/window/graec",
                             "unknown field; valid fields here are type, size, grace; did you mean \"grace\"?"));
}

TEST(TopologyStatefulTest, MissingWindowFields) {
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "tumbling"})"), "/operators/0/window",
                             "missing required field \"size\" (the length of each window, e.g. \"5m\")"));
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "sliding", "grace": "1s"})"), "/operators/0/window",
                             "missing required field \"size\""));
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "hopping", "size": "5m"})"), "/operators/0/window",
                             "missing required field \"advance\""));
  const auto hopping = window_errors(R"({"type": "hopping"})");
  ASSERT_EQ(hopping.size(), 2u) << testing::describe_errors(hopping);
  EXPECT_TRUE(has_error(hopping, "/operators/0/window", "missing required field \"size\""));
  EXPECT_TRUE(has_error(hopping, "/operators/0/window", "missing required field \"advance\""));
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "session"})"), "/operators/0/window",
                             "missing required field \"gap\" (how long without records closes a session"));
}

TEST(TopologyStatefulTest, WindowType) {
  EXPECT_TRUE(has_only_error(window_errors(R"({"size": "5m"})"), "/operators/0/window",
                             "missing required field \"type\"; expected one of tumbling, hopping, sliding, session"));
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": "tumblng", "size": "5m"})"), "/operators/0/window/type",
                             "\"tumblng\" is not a window type; expected one of tumbling, hopping, sliding, session; "
                             "did you mean \"tumbling\"?"));
  EXPECT_TRUE(has_only_error(window_errors(R"({"type": 1, "size": "5m"})"), "/operators/0/window/type",
                             "expected a string, got number"));
  // Without a known type, the durations are still checked, and any window field is accepted.
  const auto errors = window_errors(R"({"type": "rolling", "size": "5x", "gap": "1m", "width": "1m"})");
  ASSERT_EQ(errors.size(), 3u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/window/type", "\"rolling\" is not a window type"));
  EXPECT_TRUE(has_error(errors, "/operators/0/window/size", "\"5x\" is not a duration"));
  EXPECT_TRUE(has_error(errors, "/operators/0/window/width",
                        "unknown field; valid fields here are type, size, advance, gap, grace"));
}

TEST(TopologyStatefulTest, WindowMustBeAnObject) {
  EXPECT_TRUE(has_only_error(window_errors(R"("5m")"), "/operators/0/window",
                             "expected an object such as {\"type\": \"tumbling\", \"size\": \"1m\"}, got string"));
}

// ---- aggregations ----

TEST(TopologyStatefulTest, UnknownAggregationSuggestsTheClosest) {
  EXPECT_TRUE(has_only_error(aggregation_errors(R"json("summ(amount)")json"), "/operators/0/aggregate/total",
                             "unknown aggregation \"summ\"; expected one of count, sum, min, max, avg, first, last "
                             "(did you mean \"sum\"?)"));
  // Function names are case-sensitive.
  EXPECT_TRUE(has_only_error(aggregation_errors(R"json("SUM(amount)")json"), "/operators/0/aggregate/total",
                             "unknown aggregation \"SUM\"; expected one of count, sum, min, max, avg, first, last "
                             "(did you mean \"sum\"?)"));
  const auto median = aggregation_errors(R"json("median(amount)")json");
  ASSERT_EQ(median.size(), 1u);
  EXPECT_EQ(median[0].message,
            "unknown aggregation \"median\"; expected one of count, sum, min, max, avg, first, last");
}

TEST(TopologyStatefulTest, AggregationNeedsAnArgument) {
  EXPECT_TRUE(has_only_error(aggregation_errors(R"json("sum()")json"), "/operators/0/aggregate/total",
                             "\"sum()\" needs an argument expression"));
  EXPECT_TRUE(has_only_error(aggregation_errors(R"json("avg(  )")json"), "/operators/0/aggregate/total",
                             "\"avg(  )\" needs an argument expression, e.g. \"avg(amount)\""));
  for (const char* function : {"min", "max", "first", "last"}) {
    EXPECT_TRUE(has_only_error(aggregation_errors("\"" + std::string(function) + "()\""),
                               "/operators/0/aggregate/total", "needs an argument expression"))
        << function;
  }
  EXPECT_TRUE(has_only_error(aggregation_errors(R"json("count(*)")json"), "/operators/0/aggregate/total",
                             "count(*) is written \"count()\" here"));
}

TEST(TopologyStatefulTest, AggregationArgumentCount) {
  EXPECT_TRUE(has_only_error(aggregation_errors(R"json("sum(a, b)")json"), "/operators/0/aggregate/total",
                             "\"sum(a, b)\": sum takes exactly one argument expression"));
  EXPECT_TRUE(has_only_error(aggregation_errors(R"json("count(a, b)")json"), "/operators/0/aggregate/total",
                             "count takes at most one argument expression"));
}

TEST(TopologyStatefulTest, ArgumentSyntaxErrorsCountColumnsInTheWholeString) {
  // "sum(amount +)": the argument starts at column 5 and ends after 8 characters, where an operand is missing.
  const auto errors = aggregation_errors(R"json("sum(amount +)")json");
  ASSERT_EQ(errors.size(), 1u) << testing::describe_errors(errors);
  EXPECT_EQ(errors[0].pointer, "/operators/0/aggregate/total");
  EXPECT_EQ(errors[0].message.rfind("expression does not parse: ", 0), 0u) << errors[0].message;
  EXPECT_NE(errors[0].message.find(" at column 13"), std::string::npos) << errors[0].message;
  // Spaces before and inside move the column along.
  const auto spaced = aggregation_errors(R"json("  sum( amount + )")json");
  ASSERT_EQ(spaced.size(), 1u) << testing::describe_errors(spaced);
  EXPECT_NE(spaced[0].message.find(" at column 16"), std::string::npos) << spaced[0].message;
  // "max(a ** b)": the second '*' is at column 8.
  const auto doubled = aggregation_errors(R"json("max(a ** b)")json");
  ASSERT_EQ(doubled.size(), 1u) << testing::describe_errors(doubled);
  EXPECT_NE(doubled[0].message.find(" at column 8"), std::string::npos) << doubled[0].message;
}

TEST(TopologyStatefulTest, AggregationShapeErrors) {
  EXPECT_TRUE(has_only_error(aggregation_errors(R"("amount")"), "/operators/0/aggregate/total",
                             "\"amount\" is not an aggregation; expected function(expression) with one of count, sum, "
                             "min, max, avg, first, last, e.g. \"sum(amount)\" or \"count()\""));
  EXPECT_TRUE(has_only_error(aggregation_errors(R"json("(amount)")json"), "/operators/0/aggregate/total",
                             "is not an aggregation"));
  EXPECT_TRUE(has_only_error(aggregation_errors(R"("sum(amount) + 1")"), "/operators/0/aggregate/total",
                             "unexpected \"+ 1\" at column 13 after the aggregation"));
  EXPECT_TRUE(has_only_error(aggregation_errors(R"("sum(amount")"), "/operators/0/aggregate/total",
                             "expected \")\" at column 11 to close \"sum(\""));
  EXPECT_TRUE(has_only_error(aggregation_errors(R"json("sum('amount)")json"), "/operators/0/aggregate/total",
                             "unterminated string"));
  EXPECT_TRUE(has_only_error(aggregation_errors(R"("  ")"), "/operators/0/aggregate/total",
                             "expected an aggregation such as \"count()\" or \"sum(amount)\", got an empty string"));
  EXPECT_TRUE(has_only_error(aggregation_errors("5"), "/operators/0/aggregate/total", "expected a string, got number"));
}

TEST(TopologyStatefulTest, AggregateFieldErrors) {
  EXPECT_TRUE(has_only_error(errors_of_operator(aggregate_op("{}")), "/operators/0/aggregate",
                             "aggregate needs at least one field, e.g. {\"n\": \"count()\"}"));
  EXPECT_TRUE(has_only_error(errors_of_operator(aggregate_op(R"json(["count()"])json")), "/operators/0/aggregate",
                             "expected an object {\"output field\": \"function(expression)\"}"));
  EXPECT_TRUE(has_only_error(errors_of_operator(aggregate_op(R"json({"": "count()"})json")), "/operators/0/aggregate/",
                             "field names must not be empty"));
  // Several bad aggregations: each at its own pointer (RFC 6901 escapes in field names).
  const auto errors = errors_of_operator(aggregate_op(R"json({"a/b": "summ(x)", "ok": "count()", "c": "avg()"})json"));
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/aggregate/a~1b", "unknown aggregation \"summ\""));
  EXPECT_TRUE(has_error(errors, "/operators/0/aggregate/c", "needs an argument expression"));
}

TEST(TopologyStatefulTest, WindowBoundFieldsAreReservedInWindowedAggregates) {
  const auto errors =
      errors_of_operator(aggregate_op(R"json({"window_start": "min($timestamp)", "window_end": "count()"})json",
                                      R"("window": {"type": "tumbling", "size": "1m"})"));
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/aggregate/window_start",
                        "\"window_start\" is already a field of every windowed aggregate's output"));
  EXPECT_TRUE(has_error(errors, "/operators/0/aggregate/window_end", "choose another name"));
}

// ---- emit and idle_timeout ----

TEST(TopologyStatefulTest, EmitFinalNeedsAWindow) {
  EXPECT_TRUE(has_only_error(errors_of_operator(aggregate_op(R"json({"n": "count()"})json", R"("emit": "final")")),
                             "/operators/0/emit",
                             "\"final\" emits once per window, when it closes, and needs a \"window\""));
  const Topology topology =
      topology_of(one_operator(aggregate_op(R"json({"n": "count()"})json", R"("emit": "update")")));
  EXPECT_EQ(aggregate_of(topology).emit, EmitMode::update);
}

TEST(TopologyStatefulTest, EmitModes) {
  EXPECT_TRUE(has_only_error(errors_of_operator(aggregate_op(R"json({"n": "count()"})json", R"("emit": "Final")")),
                             "/operators/0/emit",
                             "\"Final\" is not an emit mode; expected one of update, final; did you mean \"final\"?"));
  EXPECT_TRUE(has_only_error(errors_of_operator(aggregate_op(R"json({"n": "count()"})json", R"("emit": true)")),
                             "/operators/0/emit", "expected a string, got boolean"));
}

TEST(TopologyStatefulTest, IdleTimeout) {
  const std::string count = R"json({"n": "count()"})json";
  EXPECT_TRUE(has_only_error(errors_of_operator(aggregate_op(count, R"("idle_timeout": "30s")")),
                             "/operators/0/idle_timeout",
                             "\"idle_timeout\" closes windows while a partition is quiet and needs a \"window\""));
  const std::string window = R"("window": {"type": "tumbling", "size": "1m"}, )";
  EXPECT_TRUE(has_only_error(errors_of_operator(aggregate_op(count, window + R"("idle_timeout": "36501d")")),
                             "/operators/0/idle_timeout", "is longer than the longest duration allowed here"));
  // 0: this operator's windows never close on idleness (as the setting's 0 for every operator).
  const Topology never = topology_of(one_operator(aggregate_op(count, window + R"("idle_timeout": "0s")")));
  EXPECT_EQ(aggregate_of(never).idle_timeout_ms, 0);
  EXPECT_TRUE(has_only_error(errors_of_operator(aggregate_op(count, window + R"("idle_timeout": "soon")")),
                             "/operators/0/idle_timeout", "\"soon\" is not a duration (e.g. 30s, 5m, 1h)"));
}

TEST(TopologyStatefulTest, AggregateOptionsOnlyWithAggregate) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "a", "from": "orders", "filter": "true", "window": {"type": "tumbling", "size": "1m"}},
      {"name": "b", "from": "orders", "dedupe": {"within": "1m"}, "emit": "final"},
      {"name": "c", "from": "orders", "rekey": "id", "idle_timeout": "1m"}])",
                                               "a"));
  ASSERT_EQ(errors.size(), 3u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/window",
                        "\"window\" is only valid with aggregate; valid fields here are name, from, description, "
                        "filter"));
  EXPECT_TRUE(has_error(errors, "/operators/1/emit",
                        "\"emit\" is only valid with aggregate; valid fields here are name, from, description, "
                        "dedupe"));
  EXPECT_TRUE(has_error(errors, "/operators/2/idle_timeout", "\"idle_timeout\" is only valid with aggregate"));
}

TEST(TopologyStatefulTest, UnknownAggregateOperatorField) {
  EXPECT_TRUE(has_only_error(
      errors_of_operator(aggregate_op(R"json({"n": "count()"})json", R"("windw": {"type": "tumbling", "size": "1m"})")),
      "/operators/0/windw",
      "unknown field; valid fields here are name, from, description, aggregate, window, emit, idle_timeout; did you "
      "mean \"window\"?"));
}

TEST(TopologyStatefulTest, AggregateAndDedupeAreTypesLikeTheOthers) {
  EXPECT_TRUE(has_only_error(errors_of_operator(R"json({"name": "op", "from": "orders", "aggregate": {"n": "count()"},
                                                      "dedupe": {"within": "1m"}})json"),
                             "/operators/0", "operator has two types (aggregate, dedupe); expected exactly one"));
  EXPECT_TRUE(has_only_error(errors_of_operator(R"json({"name": "op", "aggregate": {"n": "count()"}})json"),
                             "/operators/0", "missing required field \"from\""));
  EXPECT_TRUE(has_only_error(errors_of_operator(R"({"name": "op", "from": "orderz", "dedupe": {"within": "1m"}})"),
                             "/operators/0/from", "\"orderz\" is not a source, operator or route branch"));
  // Only route operators have branches; the article follows the type.
  const std::string aggregate = R"json([{"name": "op", "from": "orders", "aggregate": {"n": "count()"}}])json";
  EXPECT_TRUE(has_only_error(errors_of(with_operators(aggregate, "op.x")), "/sinks/0/from",
                             "\"op\" is an aggregate operator, and only route operators have branches"));
}

TEST(TopologyStatefulTest, EveryErrorOfAnAggregateAtOnce) {
  const auto errors = errors_of_operator(R"json({"name": "op", "from": "orders",
      "window": {"type": "hopping", "size": "5x", "gap": "1m"},
      "aggregate": {"n": "cnt()", "total": "sum()"}, "emit": "sometimes", "idle_timeout": "-1s"})json");
  ASSERT_EQ(errors.size(), 7u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/window/gap", "\"gap\" is only valid with session windows"));
  EXPECT_TRUE(has_error(errors, "/operators/0/window/size", "\"5x\" is not a duration"));
  EXPECT_TRUE(has_error(errors, "/operators/0/window", "missing required field \"advance\""));
  EXPECT_TRUE(has_error(errors, "/operators/0/aggregate/n", "unknown aggregation \"cnt\""));
  EXPECT_TRUE(has_error(errors, "/operators/0/aggregate/total", "\"sum()\" needs an argument expression"));
  EXPECT_TRUE(has_error(errors, "/operators/0/emit", "\"sometimes\" is not an emit mode"));
  EXPECT_TRUE(has_error(errors, "/operators/0/idle_timeout", "\"-1s\" is not a duration"));
}

// ---- dedupe ----

TEST(TopologyStatefulTest, DedupeErrors) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "a", "from": "orders", "dedupe": "10m"},
      {"name": "b", "from": "orders", "dedupe": {}},
      {"name": "c", "from": "orders", "dedupe": {"within": "10m", "by": "id"}},
      {"name": "d", "from": "orders", "dedupe": {"within": "0"}},
      {"name": "e", "from": "orders", "dedupe": {"within": "10 minutes"}},
      {"name": "f", "from": "orders", "dedupe": {"witin": "10m"}}])",
                                               "a"));
  ASSERT_EQ(errors.size(), 7u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/dedupe", "expected an object such as {\"within\": \"10m\"}, got string"));
  EXPECT_TRUE(has_error(errors, "/operators/1/dedupe",
                        "missing required field \"within\" (how long a key counts as seen, e.g. \"10m\")"));
  EXPECT_TRUE(has_error(errors, "/operators/2/dedupe/by", "unknown field; valid fields here are within"));
  EXPECT_TRUE(has_error(errors, "/operators/3/dedupe/within", "expected a duration greater than 0, got \"0\""));
  EXPECT_TRUE(has_error(errors, "/operators/4/dedupe/within", "\"10 minutes\" is not a duration (e.g. 30s, 5m, 1h)"));
  EXPECT_TRUE(has_error(errors, "/operators/5/dedupe/witin", "did you mean \"within\"?"));
  EXPECT_TRUE(has_error(errors, "/operators/5/dedupe", "missing required field \"within\""));
}

TEST(TopologyStatefulTest, EnumSpellings) {
  EXPECT_EQ(to_string(WindowType::tumbling), "tumbling");
  EXPECT_EQ(to_string(WindowType::hopping), "hopping");
  EXPECT_EQ(to_string(WindowType::sliding), "sliding");
  EXPECT_EQ(to_string(WindowType::session), "session");
  EXPECT_EQ(to_string(AggregateFunction::count), "count");
  EXPECT_EQ(to_string(AggregateFunction::sum), "sum");
  EXPECT_EQ(to_string(AggregateFunction::min), "min");
  EXPECT_EQ(to_string(AggregateFunction::max), "max");
  EXPECT_EQ(to_string(AggregateFunction::avg), "avg");
  EXPECT_EQ(to_string(AggregateFunction::first), "first");
  EXPECT_EQ(to_string(AggregateFunction::last), "last");
  EXPECT_EQ(to_string(EmitMode::update), "update");
  EXPECT_EQ(to_string(EmitMode::final), "final");
  EXPECT_EQ(to_string(InternalTopic::Kind::repartition), "repartition");
  EXPECT_EQ(to_string(InternalTopic::Kind::changelog), "changelog");
}

}  // namespace
}  // namespace sluice::topology
