// describe_json / describe: sub-topologies, nodes and edges in each format.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "sluice/topology/describe.hpp"
#include "sluice/topology/topology.hpp"
#include "support.hpp"

namespace sluice::topology {
namespace {

using testing::topology_of;

// Two independent flows: orders -> big -> enriched -> sink, and events -> by_type -> (clicks | other) -> sinks,
// where clicks and the orders flow do not meet.
constexpr const char* kTwoFlows = R"({"application_id": "two-flows",
  "sources": [{"name": "orders", "topic": "orders"}, {"name": "events", "topic": "events"}],
  "operators": [
    {"name": "by_type", "from": "events", "route": [{"name": "clicks", "when": "type == 'click'"}], "default": "other"},
    {"name": "enriched", "from": "big", "map": {"total": "price * qty"}, "drop": ["notes"]},
    {"name": "big", "from": "orders", "filter": "amount > 100"},
    {"name": "slim", "from": "enriched", "select": {"id": "order_id", "total": "total"}}
  ],
  "sinks": [
    {"from": "slim", "topic": "orders-out"},
    {"name": "clicks-out", "from": "by_type.clicks", "topic": "clicks"},
    {"from": "by_type.other", "topic": "other"},
    {"from": "enriched", "topic": "orders-out"}
  ]})";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(TopologyDescribeTest, JsonStructure) {
  const Topology topology = topology_of(kTwoFlows);
  const nlohmann::json description = describe_json(topology);
  EXPECT_EQ(description.at("application_id"), "two-flows");
  EXPECT_EQ(description.at("dead_letter_topic"), "two-flows-dlq");
  EXPECT_EQ(description.at("state_stores"), nlohmann::json::array());
  EXPECT_EQ(description.at("internal_topics"), nlohmann::json::array());
  EXPECT_EQ(description.at("output_topics"), (nlohmann::json{"orders-out", "clicks", "other", "two-flows-dlq"}));

  const auto& subtopologies = description.at("subtopologies");
  ASSERT_EQ(subtopologies.size(), 2u);
  // Numbered in the order of their first source: orders is listed first.
  const auto& orders = subtopologies[0];
  EXPECT_EQ(orders.at("id"), 0);
  EXPECT_EQ(orders.at("source_topics"), (nlohmann::json{"orders"}));
  EXPECT_EQ(orders.at("sink_topics"), (nlohmann::json{"orders-out"}));
  const auto& nodes = orders.at("nodes");
  ASSERT_EQ(nodes.size(), 6u) << nodes.dump(2);
  EXPECT_EQ(nodes[0], (nlohmann::json{{"name", "orders"}, {"type", "source"}, {"inputs", nlohmann::json::array()},
                                      {"detail", "orders"}, {"key", "string"}, {"value", "json"}}));
  EXPECT_EQ(nodes[1], (nlohmann::json{{"name", "big"}, {"type", "filter"}, {"inputs", {"orders"}},
                                      {"detail", "amount > 100"}}));
  EXPECT_EQ(nodes[2], (nlohmann::json{{"name", "enriched"}, {"type", "map"}, {"inputs", {"big"}},
                                      {"detail", "total = price * qty; drop notes"}}));
  EXPECT_EQ(nodes[3], (nlohmann::json{{"name", "slim"}, {"type", "select"}, {"inputs", {"enriched"}},
                                      {"detail", "id = order_id, total"}}));
  EXPECT_EQ(nodes[4], (nlohmann::json{{"name", "slim-to-orders-out"}, {"type", "sink"}, {"inputs", {"slim"}},
                                      {"detail", "orders-out"}, {"key", "string"}, {"value", "json"}}));
  EXPECT_EQ(nodes[5].at("name"), "enriched-to-orders-out");

  const auto& events = subtopologies[1];
  EXPECT_EQ(events.at("id"), 1);
  EXPECT_EQ(events.at("source_topics"), (nlohmann::json{"events"}));
  EXPECT_EQ(events.at("sink_topics"), (nlohmann::json{"clicks", "other"}));
  ASSERT_EQ(events.at("nodes").size(), 4u);
  EXPECT_EQ(events.at("nodes")[1], (nlohmann::json{{"name", "by_type"}, {"type", "route"}, {"inputs", {"events"}},
                                                   {"detail", "clicks: type == 'click'; default: other"}}));
  EXPECT_EQ(events.at("nodes")[2], (nlohmann::json{{"name", "clicks-out"}, {"type", "sink"},
                                                   {"inputs", {"by_type.clicks"}}, {"detail", "clicks"},
                                                   {"key", "string"}, {"value", "json"}}));

  // The JSON format of describe() is the same document.
  EXPECT_EQ(nlohmann::json::parse(describe(topology, DescribeFormat::json)), description);
}

TEST(TopologyDescribeTest, MergeJoinsSubtopologiesAndDetailsOfOtherTypes) {
  const Topology topology = topology_of(R"json({"application_id": "m",
    "sources": [{"name": "a", "topic": "a"}, {"name": "b", "topic": "b"}, {"name": "lonely", "topic": "c"}],
    "operators": [
      {"name": "words", "from": "a", "flat_map": "split(text, ' ')", "as": "word"},
      {"name": "keyed", "from": "words", "rekey": "word"},
      {"name": "paths", "from": "b", "select": ["customer.id", "order_id"]},
      {"name": "all", "merge": ["keyed", "paths"]}],
    "sinks": [{"from": "all", "topic": "out"}, {"from": "lonely", "topic": "copy"}]})json");
  const nlohmann::json description = describe_json(topology);
  const auto& subtopologies = description.at("subtopologies");
  ASSERT_EQ(subtopologies.size(), 2u);
  EXPECT_EQ(subtopologies[0].at("source_topics"), (nlohmann::json{"a", "b"}));
  EXPECT_EQ(subtopologies[1].at("source_topics"), (nlohmann::json{"c"}));
  EXPECT_EQ(subtopologies[1].at("sink_topics"), (nlohmann::json{"copy"}));
  const auto& nodes = subtopologies[0].at("nodes");
  ASSERT_EQ(nodes.size(), 7u) << nodes.dump(2);
  EXPECT_EQ(nodes[2].at("detail"), "split(text, ' ') as word");
  EXPECT_EQ(nodes[3].at("detail"), "word");
  EXPECT_EQ(nodes[4].at("detail"), "customer.id, order_id");
  EXPECT_EQ(nodes[5].at("type"), "merge");
  EXPECT_EQ(nodes[5].at("detail"), "keyed, paths");
}

TEST(TopologyDescribeTest, Text) {
  const std::string text = describe(topology_of(kTwoFlows), DescribeFormat::text);
  EXPECT_TRUE(contains(text, "Topology: two-flows\n")) << text;
  EXPECT_TRUE(contains(text, "Sub-topology 0 (source topics: orders)\n"
                             "  Source: orders (topic: orders)\n"
                             "    --> big\n"
                             "  Processor: big (filter: amount > 100)\n"
                             "    --> enriched\n"
                             "    <-- orders\n"))
      << text;
  EXPECT_TRUE(contains(text, "  Processor: by_type (route: clicks: type == 'click'; default: other)\n"
                             "    --> clicks-out (via clicks)\n"
                             "    --> by_type.other-to-other (via other)\n"
                             "    <-- events\n"))
      << text;
  EXPECT_TRUE(contains(text, "Sub-topology 1 (source topics: events)\n")) << text;
  // Stateless: no stores and no internal topics to list.
  EXPECT_FALSE(contains(text, "State stores")) << text;
  EXPECT_FALSE(contains(text, "Internal topics")) << text;
  EXPECT_TRUE(contains(text, "  Sink: clicks-out (topic: clicks)\n    <-- by_type\n")) << text;
  EXPECT_TRUE(contains(text, "Dead-letter topic: two-flows-dlq\n")) << text;
  EXPECT_LT(text.find("Source: orders"), text.find("Sub-topology 1"));
}

TEST(TopologyDescribeTest, DotHasEveryNodeAndEdge) {
  const std::string dot = describe(topology_of(kTwoFlows), DescribeFormat::dot);
  EXPECT_EQ(dot.rfind("digraph \"two-flows\" {\n", 0), 0u) << dot;
  EXPECT_TRUE(contains(dot, "subgraph cluster_0 {\n    label=\"Sub-topology 0\\nsource topics: orders\";\n")) << dot;
  EXPECT_TRUE(contains(dot, "subgraph cluster_1 {")) << dot;
  // Nodes: sources by file index, processors by processing order (big, by_type... see below), sinks by file index.
  EXPECT_TRUE(contains(dot, "source_0 [label=\"orders\\ntopic: orders\", shape=cds];")) << dot;
  EXPECT_TRUE(contains(dot, "source_1 [label=\"events\\ntopic: events\", shape=cds];")) << dot;
  EXPECT_TRUE(contains(dot, "processor_0 [label=\"by_type\\nroute: clicks: type == 'click'; default: other\"];")) << dot;
  EXPECT_TRUE(contains(dot, "processor_1 [label=\"big\\nfilter: amount > 100\"];")) << dot;
  EXPECT_TRUE(contains(dot, "processor_2 [label=\"enriched\\nmap: total = price * qty; drop notes\"];")) << dot;
  EXPECT_TRUE(contains(dot, "processor_3 [label=\"slim\\nselect: id = order_id, total\"];")) << dot;
  for (const char* sink : {"sink_0 [label=\"slim-to-orders-out", "sink_1 [label=\"clicks-out",
                           "sink_2 [label=\"by_type.other-to-other", "sink_3 [label=\"enriched-to-orders-out"}) {
    EXPECT_TRUE(contains(dot, sink)) << sink << "\n" << dot;
  }
  for (const char* edge : {"source_0 -> processor_1;", "source_1 -> processor_0;", "processor_1 -> processor_2;",
                           "processor_2 -> processor_3;", "processor_3 -> sink_0;",
                           "processor_0 -> sink_1 [label=\"clicks\"];", "processor_0 -> sink_2 [label=\"other\"];",
                           "processor_2 -> sink_3;"}) {
    EXPECT_TRUE(contains(dot, edge)) << edge << "\n" << dot;
  }
  std::size_t arrows = 0;
  for (std::size_t at = dot.find(" -> "); at != std::string::npos; at = dot.find(" -> ", at + 1)) ++arrows;
  EXPECT_EQ(arrows, 8u);
  EXPECT_EQ(dot.substr(dot.size() - 2), "}\n");
}

TEST(TopologyDescribeTest, MermaidHasEveryNodeAndEdge) {
  const std::string mermaid = describe(topology_of(kTwoFlows), DescribeFormat::mermaid);
  EXPECT_EQ(mermaid.rfind("flowchart LR\n", 0), 0u) << mermaid;
  EXPECT_TRUE(contains(mermaid, "  subgraph subtopology_0[\"Sub-topology 0<br/>source topics: orders\"]\n")) << mermaid;
  EXPECT_TRUE(contains(mermaid, "    source_0([\"orders<br/>topic: orders\"])\n")) << mermaid;
  // '>' is written as an entity so that labels stay plain text.
  EXPECT_TRUE(contains(mermaid, "    processor_1[\"big<br/>filter: amount #gt; 100\"]\n")) << mermaid;
  EXPECT_TRUE(contains(mermaid, "    sink_1([\"clicks-out<br/>topic: clicks\"])\n")) << mermaid;
  for (const char* edge : {"  source_0 --> processor_1\n", "  source_1 --> processor_0\n",
                           "  processor_1 --> processor_2\n", "  processor_2 --> processor_3\n",
                           "  processor_3 --> sink_0\n", "  processor_0 -->|\"clicks\"| sink_1\n",
                           "  processor_0 -->|\"other\"| sink_2\n", "  processor_2 --> sink_3\n"}) {
    EXPECT_TRUE(contains(mermaid, edge)) << edge << "\n" << mermaid;
  }
  std::size_t arrows = 0;
  for (std::size_t at = mermaid.find(" -->"); at != std::string::npos; at = mermaid.find(" -->", at + 1)) ++arrows;
  EXPECT_EQ(arrows, 8u);
  std::size_t ends = 0;
  for (std::size_t at = mermaid.find("  end\n"); at != std::string::npos; at = mermaid.find("  end\n", at + 1)) ++ends;
  EXPECT_EQ(ends, 2u);
}

TEST(TopologyDescribeTest, LabelsAreEscaped) {
  // parse_topology never produces such names, but describe must stay well-formed for any Topology.
  Topology topology;
  topology.application_id = "odd\"app";
  topology.dead_letter_topic = "dlq";
  topology.sources.push_back(SourceSpec{"a\"b", "t#1<x>", KeyFormat::string, ValueFormat::json, {}, "/sources/0"});
  topology.sinks.push_back(SinkSpec{"s\\k", "a\"b", "out&", KeyFormat::string, ValueFormat::json, "/sinks/0", std::nullopt});
  const std::string dot = describe(topology, DescribeFormat::dot);
  EXPECT_TRUE(contains(dot, "digraph \"odd\\\"app\" {")) << dot;
  EXPECT_TRUE(contains(dot, "source_0 [label=\"a\\\"b\\ntopic: t#1<x>\"")) << dot;
  EXPECT_TRUE(contains(dot, "sink_0 [label=\"s\\\\k\\ntopic: out&\"")) << dot;
  EXPECT_TRUE(contains(dot, "source_0 -> sink_0;")) << dot;
  const std::string mermaid = describe(topology, DescribeFormat::mermaid);
  EXPECT_TRUE(contains(mermaid, "source_0([\"a#quot;b<br/>topic: t#35;1#lt;x#gt;\"])")) << mermaid;
  EXPECT_TRUE(contains(mermaid, "sink_0([\"s\\k<br/>topic: out#amp;\"])")) << mermaid;
  EXPECT_TRUE(contains(mermaid, "source_0 --> sink_0")) << mermaid;

  topology.sinks[0].topic = "bad\xff utf-8";
  std::string json;
  EXPECT_NO_THROW(json = describe(topology, DescribeFormat::json));
  EXPECT_TRUE(contains(json, "bad\xef\xbf\xbd utf-8")) << json;  // U+FFFD
}

Topology load_example(const std::string& name) {
  auto result = load_topology_file(std::string(SLUICE_SOURCE_DIR) + "/topologies/" + name);
  if (auto* errors = std::get_if<std::vector<ValidationError>>(&result)) {
    ADD_FAILURE() << name << ":" << testing::describe_errors(*errors);
    return {};
  }
  return std::get<Topology>(std::move(result));
}

TEST(TopologyDescribeTest, ExamplesDescribeInEveryFormat) {
  for (const char* name : {"word-count-split.json", "orders-enrichment.json", "event-router.json",
                           "page-views-per-minute.json", "fraud-alerts.json", "sensor-anomaly.json",
                           "user-sessions.json", "word-count.json"}) {
    const Topology topology = load_example(name);
    const nlohmann::json description = describe_json(topology);
    ASSERT_EQ(description.at("subtopologies").size(), topology.subtopologies.size()) << name;
    std::size_t described_nodes = 0;
    for (const auto& sub : description.at("subtopologies")) described_nodes += sub.at("nodes").size();
    const std::size_t node_count = topology.sources.size() + topology.operators.size() + topology.sinks.size();
    EXPECT_EQ(described_nodes, node_count) << name;
    EXPECT_EQ(description.at("internal_topics").size(), topology.internal_topics.size()) << name;
    for (const auto format : {DescribeFormat::text, DescribeFormat::dot, DescribeFormat::mermaid}) {
      const std::string text = describe(topology, format);
      for (const auto& op : topology.operators) EXPECT_TRUE(contains(text, op.name)) << name << "\n" << text;
      for (const auto& sink : topology.sinks) EXPECT_TRUE(contains(text, sink.name)) << name << "\n" << text;
      for (const auto& topic : topology.internal_topics) {
        EXPECT_TRUE(contains(text, topic.name)) << name << "\n" << text;
      }
    }
  }
}

// ---- stateful topologies ----

TEST(TopologyDescribeTest, FraudAlertsText) {
  const std::string text = describe(load_example("fraud-alerts.json"), DescribeFormat::text);
  EXPECT_EQ(text,
            "Topology: fraud-alerts\n"
            "Sub-topology 0 (source topics: payments)\n"
            "  Source: payments (topic: payments)\n"
            "    --> large\n"
            "  Processor: large (filter: amount > 1000)\n"
            "    --> by_card\n"
            "    <-- payments\n"
            "  Processor: by_card (rekey: card_id)\n"
            "    --> per_card_5m (through repartition topic fraud-alerts-per_card_5m-repartition)\n"
            "    <-- large\n"
            "Sub-topology 1 (source topics: fraud-alerts-per_card_5m-repartition)\n"
            "  Processor: per_card_5m (aggregate: n = count(), total = sum(amount), largest = max(amount); hopping "
            "window 5m advancing by 1m, grace 30s; emit final)\n"
            "    store: per_card_5m (changelog topic: fraud-alerts-per_card_5m-changelog)\n"
            "    --> suspicious\n"
            "    <-- by_card (through repartition topic fraud-alerts-per_card_5m-repartition)\n"
            "  Processor: suspicious (filter: n >= 3)\n"
            "    --> suspicious-to-fraud-alerts\n"
            "    <-- per_card_5m\n"
            "  Sink: suspicious-to-fraud-alerts (topic: fraud-alerts)\n"
            "    <-- suspicious\n"
            "State stores:\n"
            "  per_card_5m: operator per_card_5m, sub-topology 1, changelog topic fraud-alerts-per_card_5m-changelog\n"
            "Internal topics:\n"
            "  fraud-alerts-per_card_5m-repartition (repartition topic of per_card_5m, sub-topology 1)\n"
            "    partitions = partitions of payments\n"
            "    configs: cleanup.policy=delete; retention.ms=-1; segment.ms=600000\n"
            "  fraud-alerts-per_card_5m-changelog (changelog topic of per_card_5m, sub-topology 1)\n"
            "    partitions = partitions of fraud-alerts-per_card_5m-repartition\n"
            "    configs: cleanup.policy=compact,delete; retention.ms=86730000\n"
            "Dead-letter topic: fraud-alerts-dlq\n");
}

TEST(TopologyDescribeTest, FraudAlertsJson) {
  const nlohmann::json description = describe_json(load_example("fraud-alerts.json"));
  const auto& subtopologies = description.at("subtopologies");
  ASSERT_EQ(subtopologies.size(), 2u);
  const auto& upstream = subtopologies[0];
  EXPECT_EQ(upstream.at("id"), 0);
  EXPECT_EQ(upstream.at("source_topics"), (nlohmann::json{"payments"}));
  // The repartition topic is what the upstream tasks write.
  EXPECT_EQ(upstream.at("sink_topics"), (nlohmann::json{"fraud-alerts-per_card_5m-repartition"}));
  ASSERT_EQ(upstream.at("nodes").size(), 3u);
  EXPECT_EQ(upstream.at("nodes")[2], (nlohmann::json{{"name", "by_card"}, {"type", "rekey"}, {"inputs", {"large"}},
                                                     {"detail", "card_id"}}));

  const auto& downstream = subtopologies[1];
  EXPECT_EQ(downstream.at("source_topics"), (nlohmann::json{"fraud-alerts-per_card_5m-repartition"}));
  EXPECT_EQ(downstream.at("sink_topics"), (nlohmann::json{"fraud-alerts"}));
  ASSERT_EQ(downstream.at("nodes").size(), 3u);
  const auto& aggregate = downstream.at("nodes")[0];
  EXPECT_EQ(aggregate.at("name"), "per_card_5m");
  EXPECT_EQ(aggregate.at("type"), "aggregate");
  EXPECT_EQ(aggregate.at("inputs"), (nlohmann::json{"by_card"}));
  EXPECT_EQ(aggregate.at("repartition_topic"), "fraud-alerts-per_card_5m-repartition");
  EXPECT_EQ(aggregate.at("store"), "per_card_5m");
  EXPECT_EQ(aggregate.at("changelog_topic"), "fraud-alerts-per_card_5m-changelog");
  EXPECT_EQ(aggregate.at("window"),
            (nlohmann::json{{"type", "hopping"}, {"size", "5m"}, {"advance", "1m"}, {"grace", "30s"}}));
  EXPECT_EQ(aggregate.at("aggregations"), nlohmann::json::parse(R"([{"name": "n", "function": "count"},
      {"name": "total", "function": "sum", "argument": "amount"},
      {"name": "largest", "function": "max", "argument": "amount"}])"));
  EXPECT_EQ(aggregate.at("emit"), "final");
  EXPECT_FALSE(aggregate.contains("idle_timeout"));
  EXPECT_FALSE(downstream.at("nodes")[1].contains("repartition_topic"));

  EXPECT_EQ(description.at("state_stores"), nlohmann::json::parse(R"([{"name": "per_card_5m",
      "operator": "per_card_5m", "changelog_topic": "fraud-alerts-per_card_5m-changelog", "subtopology": 1}])"));
  EXPECT_EQ(description.at("internal_topics"), nlohmann::json::parse(R"([
      {"name": "fraud-alerts-per_card_5m-repartition", "kind": "repartition", "operator": "per_card_5m",
       "subtopology": 1, "partitions": "= partitions of payments", "partitions_of": ["payments"],
       "configs": {"cleanup.policy": "delete", "retention.ms": "-1", "segment.ms": "600000"}},
      {"name": "fraud-alerts-per_card_5m-changelog", "kind": "changelog", "operator": "per_card_5m",
       "subtopology": 1, "partitions": "= partitions of fraud-alerts-per_card_5m-repartition",
       "partitions_of": ["fraud-alerts-per_card_5m-repartition"],
       "configs": {"cleanup.policy": "compact,delete", "retention.ms": "86730000"}}])"));
  EXPECT_EQ(description.at("output_topics"), (nlohmann::json{"fraud-alerts", "fraud-alerts-dlq"}));
}

TEST(TopologyDescribeTest, FraudAlertsDotAndMermaidGoThroughTheInternalTopics) {
  const Topology topology = load_example("fraud-alerts.json");
  const std::string dot = describe(topology, DescribeFormat::dot);
  EXPECT_TRUE(contains(dot, "  subgraph cluster_1 {\n"
                            "    label=\"Sub-topology 1\\nsource topics: fraud-alerts-per_card_5m-repartition\";\n"
                            "    processor_2 [label=\"per_card_5m\\naggregate: n = count(), total = sum(amount), "
                            "largest = max(amount); hopping window 5m advancing by 1m, grace 30s; emit final\\n"
                            "store: per_card_5m\"];\n"))
      << dot;
  EXPECT_TRUE(contains(dot, "  internal_0 [label=\"fraud-alerts-per_card_5m-repartition\\nrepartition topic\\n"
                            "partitions = partitions of payments\\ncleanup.policy=delete\\nretention.ms=-1\\nsegment.ms=600000\", "
                            "shape=cylinder];\n"))
      << dot;
  EXPECT_TRUE(contains(dot, "  internal_1 [label=\"fraud-alerts-per_card_5m-changelog\\nchangelog topic\\n"))
      << dot;
  for (const char* edge : {"  processor_1 -> internal_0;\n", "  internal_0 -> processor_2;\n",
                           "  processor_2 -> internal_1 [style=dashed];\n", "  processor_2 -> processor_3;\n"}) {
    EXPECT_TRUE(contains(dot, edge)) << edge << "\n" << dot;
  }
  EXPECT_FALSE(contains(dot, "processor_1 -> processor_2")) << dot;

  const std::string mermaid = describe(topology, DescribeFormat::mermaid);
  EXPECT_TRUE(contains(mermaid, "  subgraph subtopology_1[\"Sub-topology 1<br/>source topics: "
                                "fraud-alerts-per_card_5m-repartition\"]\n"))
      << mermaid;
  EXPECT_TRUE(contains(mermaid, "  internal_0[(\"fraud-alerts-per_card_5m-repartition<br/>repartition topic<br/>"
                                "partitions = partitions of payments<br/>cleanup.policy=delete<br/>"
                                "retention.ms=-1<br/>segment.ms=600000\")]\n"))
      << mermaid;
  for (const char* edge : {"  processor_1 --> internal_0\n", "  internal_0 --> processor_2\n",
                           "  processor_2 -.-> internal_1\n"}) {
    EXPECT_TRUE(contains(mermaid, edge)) << edge << "\n" << mermaid;
  }
  EXPECT_TRUE(contains(mermaid, "store: per_card_5m")) << mermaid;
}

TEST(TopologyDescribeTest, WindowsTablesAndDedupeDetails) {
  EXPECT_TRUE(contains(describe(load_example("page-views-per-minute.json"), DescribeFormat::text),
                       "  Processor: per_minute (aggregate: views = count(); tumbling window 1m, grace 10s; emit "
                       "final)\n"));
  EXPECT_TRUE(contains(describe(load_example("user-sessions.json"), DescribeFormat::text),
                       "(aggregate: clicks = count(), first_page = first(page), last_page = last(page); session "
                       "window with gap 30m, grace 1m; emit final)\n"));
  EXPECT_TRUE(contains(describe(load_example("word-count.json"), DescribeFormat::text),
                       "  Processor: counts (aggregate: count = count(); table (no window); emit update)\n"));

  // No rekey: one sub-topology, a changelog and no repartition topic.
  const std::string sensor = describe(load_example("sensor-anomaly.json"), DescribeFormat::text);
  EXPECT_TRUE(contains(sensor, "(aggregate: avg_temp = avg(temperature), readings = count(); sliding window 10s, "
                               "grace 2s; emit update)\n"
                               "    store: avg_10s (changelog topic: sensor-anomaly-avg_10s-changelog)\n"))
      << sensor;
  EXPECT_FALSE(contains(sensor, "Sub-topology 1")) << sensor;
  EXPECT_TRUE(contains(sensor, "Internal topics:\n"
                               "  sensor-anomaly-avg_10s-changelog (changelog topic of avg_10s, sub-topology 0)\n"
                               "    partitions = partitions of sensor-readings\n"
                               "    configs: cleanup.policy=compact,delete; retention.ms=86412000\n"))
      << sensor;

  const Topology dedupe = testing::topology_of(R"json({"application_id": "d",
      "sources": [{"name": "s", "topic": "s"}],
      "operators": [{"name": "once", "from": "s", "dedupe": {"within": "1h30m"}},
                    {"name": "hourly", "from": "once", "window": {"type": "tumbling", "size": "1h"},
                     "aggregate": {"n": "count()"}, "idle_timeout": "45s"}],
      "sinks": [{"from": "hourly", "topic": "out"}]})json");
  const nlohmann::json description = describe_json(dedupe);
  const auto& nodes = description.at("subtopologies")[0].at("nodes");
  EXPECT_EQ(nodes[1].at("detail"), "within 1h30m");
  EXPECT_EQ(nodes[1].at("within"), "1h30m");
  EXPECT_EQ(nodes[2].at("detail"), "n = count(); tumbling window 1h, grace 0s; emit update; idle timeout 45s");
  EXPECT_EQ(nodes[2].at("window"), (nlohmann::json{{"type", "tumbling"}, {"size", "1h"}, {"grace", "0s"}}));
  EXPECT_EQ(nodes[2].at("idle_timeout"), "45s");
}

TEST(TopologyDescribeTest, SessionWindowJsonAndSeveralWriters) {
  const nlohmann::json sessions = describe_json(load_example("user-sessions.json"));
  EXPECT_EQ(sessions.at("subtopologies")[1].at("nodes")[0].at("window"),
            (nlohmann::json{{"type", "session"}, {"gap", "30m"}, {"grace", "1m"}}));

  const Topology topology = testing::topology_of(R"json({"application_id": "app",
      "sources": [{"name": "a", "topic": "ta"}, {"name": "b", "topic": "tb"}],
      "operators": [{"name": "ka", "from": "a", "rekey": "k"}, {"name": "kb", "from": "b", "rekey": "k"},
                    {"name": "n", "from": ["ka", "kb"], "aggregate": {"n": "count()"}}],
      "sinks": [{"from": "n", "topic": "out"}]})json");
  const std::string text = describe(topology, DescribeFormat::text);
  EXPECT_TRUE(contains(text, "    partitions = max partitions of ta, tb\n")) << text;
  // Both upstream flows write the repartition topic, which the reader's node shows once.
  const std::string dot = describe(topology, DescribeFormat::dot);
  for (const char* edge : {"  processor_0 -> internal_0;\n", "  processor_1 -> internal_0;\n"}) {
    EXPECT_TRUE(contains(dot, edge)) << edge << "\n" << dot;
  }
  std::size_t readers = 0;
  for (std::size_t at = dot.find("internal_0 -> processor_2;"); at != std::string::npos;
       at = dot.find("internal_0 -> processor_2;", at + 1)) {
    ++readers;
  }
  EXPECT_EQ(readers, 1u) << dot;
}

TEST(TopologyDescribeTest, AHandBuiltTopologyIsPlannedTheSameWay) {
  const Topology parsed = load_example("fraud-alerts.json");
  Topology hand_built = parsed;
  hand_built.subtopologies.clear();
  hand_built.internal_topics.clear();
  EXPECT_EQ(describe_json(hand_built), describe_json(parsed));
  EXPECT_EQ(describe(hand_built, DescribeFormat::text), describe(parsed, DescribeFormat::text));
}

TEST(TopologyDescribeTest, RegistryFormatsShowWhereTheirSchemasComeFrom) {
  const Topology topology = topology_of(R"({"application_id": "shop",
      "sources": [{"name": "orders", "topic": "orders", "value": "protobuf"}],
      "operators": [{"name": "paid", "from": "orders", "filter": "status == 'PAID'"}],
      "sinks": [{"from": "paid", "topic": "paid", "value": "protobuf",
                 "value_schema": {"file": "schemas/paid.proto", "message": "shop.Paid"}},
                {"from": "paid", "topic": "paid-avro", "value": "avro",
                 "value_schema": {"subject": "paid-avro-value", "version": 3}},
                {"from": "paid", "topic": "paid-avro-2", "value": "avro",
                 "value_schema": {"schema": "long", "subject_naming": "record"}}]})");
  const std::string text = describe(topology, DescribeFormat::text);
  EXPECT_NE(text.find("Source: orders (topic: orders, value: protobuf, each record's writer schema by its id from the "
                      "schema registry)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Sink: paid-to-paid (topic: paid, value: protobuf, schema: file schemas/paid.proto, registered "
                      "under paid-value, message shop.Paid)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("(topic: paid-avro, value: avro, schema: subject paid-avro-value version 3)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("(topic: paid-avro-2, value: avro, schema: inline, registered under the record's full name)"),
            std::string::npos)
      << text;
  const auto nodes = describe_json(topology).at("subtopologies")[0].at("nodes");
  EXPECT_EQ(nodes[2].at("value_schema"),
            (nlohmann::json{{"file", "schemas/paid.proto"}, {"subject_naming", "topic"}, {"message", "shop.Paid"}}));
  EXPECT_EQ(nodes[3].at("value_schema"), (nlohmann::json{{"subject", "paid-avro-value"}, {"version", "3"}}));
  EXPECT_EQ(nodes[4].at("value_schema"), (nlohmann::json{{"schema", "\"long\""}, {"subject_naming", "record"}}));
}

}  // namespace
}  // namespace sluice::topology
