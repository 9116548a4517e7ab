// Global tables in the topology format (issue 12, item 5): "global": true on a table, "lookup" on a join that
// reads one; no co-partitioning, no repartition, no store in any task; each mistake named by its pointer; describe
// shows a global table apart from the sub-topologies in every format.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sluice/topology/describe.hpp"
#include "support.hpp"

namespace sluice::topology {
namespace {

// payments -> (rekey by account) -> checked: a join with the table `cards`.
std::string document(std::string_view tables, std::string_view join, bool rekey_first = false) {
  const std::string from = rekey_first ? "by_account" : "payments";
  std::string operators = rekey_first ? R"({"name": "by_account", "from": "payments", "rekey": "account"},)" : "";
  operators += R"({"name": "checked", "from": ")" + from + R"(", "join": )" + std::string(join) + "}";
  return std::string(R"({"application_id": "app",
    "sources": [{"name": "payments", "topic": "payments"}],
    "tables": )") + std::string(tables) + R"(,
    "operators": [)" + operators + R"(],
    "sinks": [{"from": "checked", "topic": "out"}]})";
}

constexpr std::string_view kGlobalCards = R"([{"name": "cards", "topic": "cards", "global": true}])";
constexpr std::string_view kPartitionedCards = R"([{"name": "cards", "topic": "cards"}])";

TEST(TopologyGlobalTableTest, AGlobalTableJoinIsNotKeyedAndNeedsNoTopicOfItsOwn) {
  const Topology topology = testing::topology_of(
      document(kGlobalCards, R"({"table": "cards", "lookup": "card.id", "type": "left"})", /*rekey_first=*/true));
  ASSERT_EQ(topology.tables.size(), 1u);
  EXPECT_TRUE(topology.tables[0].global);
  const OperatorSpec& join_op = topology.operators[1];
  const auto& join = std::get<JoinSpec>(join_op.body);
  EXPECT_TRUE(join.global_table);
  ASSERT_TRUE(join.lookup.has_value());
  EXPECT_EQ(join.lookup->text(), "card.id");
  // A rekey upstream does not send it through a repartition topic, and the table topic is not its changelog.
  EXPECT_FALSE(join_op.repartition_topic.has_value());
  EXPECT_FALSE(join_op.changelog_topic.has_value());
  EXPECT_TRUE(topology.internal_topics.empty());
  // One sub-topology, which does not read the table topic (no co-partitioning).
  ASSERT_EQ(topology.subtopologies.size(), 1u);
  EXPECT_EQ(topology.subtopologies[0].source_topics, std::vector<std::string>{"payments"});
  EXPECT_TRUE(topology.subtopologies[0].tables.empty());
}

TEST(TopologyGlobalTableTest, WithoutLookupTheRecordKeyIsLookedUp) {
  const Topology topology = testing::topology_of(document(kGlobalCards, R"({"table": "cards"})"));
  const auto& join = std::get<JoinSpec>(topology.operators[0].body);
  EXPECT_TRUE(join.global_table);
  EXPECT_FALSE(join.lookup.has_value());
  EXPECT_FALSE(topology.operators[0].changelog_topic.has_value());
}

TEST(TopologyGlobalTableTest, AKeyedOperatorAfterAGlobalJoinStillFollowsTheRekeyBeforeIt) {
  // The global join keeps the (rekeyed) key: an aggregate behind it still needs its repartition topic.
  const Topology topology = testing::topology_of(R"J({"application_id": "app",
    "sources": [{"name": "payments", "topic": "payments"}],
    "tables": [{"name": "cards", "topic": "cards", "global": true}],
    "operators": [{"name": "by_account", "from": "payments", "rekey": "account"},
                  {"name": "checked", "from": "by_account", "join": {"table": "cards", "lookup": "card_id"}},
                  {"name": "totals", "from": "checked", "aggregate": {"n": "count()"}}],
    "sinks": [{"from": "totals", "topic": "out"}]})J");
  ASSERT_EQ(topology.operators.size(), 3u);
  EXPECT_FALSE(topology.operators[1].repartition_topic.has_value());
  EXPECT_EQ(topology.operators[2].repartition_topic, "app-totals-repartition");
}

TEST(TopologyGlobalTableTest, EachMistakeIsNamedByItsPointer) {
  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(kPartitionedCards, R"({"table": "cards", "lookup": "card_id"})")),
      "/operators/0/join/lookup", "needs a global table"));
  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(R"([{"name": "cards", "topic": "cards", "global": "yes"}])", R"({"table": "cards"})")),
      "/tables/0/global", "expected true"));
  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(kGlobalCards, R"({"table": "cards", "lookup": "card_id +"})")),
      "/operators/0/join/lookup", "does not parse"));
  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(R"([{"name": "cards", "topic": "cards", "globl": true}])", R"({"table": "cards"})")),
      "/tables/0/globl", "did you mean \"global\""));
  // "global" belongs to tables, not sources.
  EXPECT_TRUE(testing::has_error(testing::errors_of(R"({"application_id": "app",
    "sources": [{"name": "payments", "topic": "payments", "global": true}],
    "sinks": [{"from": "payments", "topic": "out"}]})"),
                                 "/sources/0/global", "unknown field"));
}

TEST(TopologyGlobalTableTest, DescribeShowsAGlobalTableOutsideTheSubtopologiesInEveryFormat) {
  const Topology topology =
      testing::topology_of(document(kGlobalCards, R"({"table": "cards", "lookup": "card_id", "as": "payment"})"));
  const std::string text = describe(topology, DescribeFormat::text);
  EXPECT_NE(text.find("Sub-topology 0 (source topics: payments)"), std::string::npos) << text;
  EXPECT_NE(text.find("Global tables (every instance reads all partitions before processing):\n"
                      "  Table: cards (topic: cards, global)\n"
                      "    --> checked (looked up)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("inner join with global table cards, stream as payment; lookup card_id"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("State stores:"), std::string::npos) << text;

  const nlohmann::json json = describe_json(topology);
  ASSERT_EQ(json["tables"].size(), 1u);
  EXPECT_EQ(json["tables"][0]["global"], true);
  EXPECT_TRUE(json["tables"][0]["subtopology"].is_null());
  EXPECT_TRUE(json["state_stores"].empty());
  const nlohmann::json& join = json["subtopologies"][0]["nodes"][1];
  EXPECT_EQ(join["global_table"], true);
  EXPECT_EQ(join["lookup"], "card_id");

  const std::string dot = describe(topology, DescribeFormat::dot);
  EXPECT_NE(dot.find("  table_0 [label=\"cards\\nglobal table, topic: cards\", shape=cylinder];"), std::string::npos)
      << dot;
  EXPECT_NE(dot.find("table_0 -> processor_0"), std::string::npos) << dot;
  const std::string mermaid = describe(topology, DescribeFormat::mermaid);
  EXPECT_NE(mermaid.find("  table_0[(\"cards<br/>global table, topic: cards\")]"), std::string::npos) << mermaid;
  // Outside the sub-topology's subgraph: after its "end".
  EXPECT_LT(mermaid.find("  end\n"), mermaid.find("table_0[("));
}

}  // namespace
}  // namespace sluice::topology
