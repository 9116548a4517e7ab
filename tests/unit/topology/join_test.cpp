// Tables and stream-table joins in the topology format (issue 12): what parses, what each mistake reports (by
// JSON pointer), and what describe shows.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sluice/topology/describe.hpp"
#include "support.hpp"

namespace sluice::topology {
namespace {

std::string document(std::string_view tables, std::string_view join, std::string_view from = "orders") {
  return std::string(R"({"application_id": "app",
    "sources": [{"name": "orders", "topic": "orders"}],
    "tables": )") + std::string(tables) + R"(,
    "operators": [{"name": "enriched", "from": ")" + std::string(from) + R"(", "join": )" + std::string(join) + R"(}],
    "sinks": [{"from": "enriched", "topic": "out"}]})";
}

constexpr std::string_view kCustomers = R"([{"name": "customers", "topic": "customers", "key": "string"}])";

TEST(TopologyJoinTest, AStreamTableJoinParsesWithItsDefaults) {
  const Topology topology = testing::topology_of(document(kCustomers, R"({"table": "customers"})"));
  ASSERT_EQ(topology.tables.size(), 1u);
  EXPECT_EQ(topology.tables[0].pointer, "/tables/0");
  const auto& join = std::get<JoinSpec>(topology.operators[0].body);
  EXPECT_EQ(join.type, JoinType::inner);
  EXPECT_EQ(join.stream_name, "orders");
  EXPECT_TRUE(join.fields.empty());
  EXPECT_EQ(topology.operators[0].changelog_topic, "customers");  // the table's own topic
  EXPECT_FALSE(topology.operators[0].repartition_topic.has_value());
  EXPECT_TRUE(topology.internal_topics.empty());  // no changelog of its own
  ASSERT_EQ(topology.subtopologies.size(), 1u);
  EXPECT_EQ(topology.subtopologies[0].source_topics, (std::vector<std::string>{"orders", "customers"}));
  EXPECT_EQ(topology.subtopologies[0].tables, std::vector<std::size_t>{0});
}

TEST(TopologyJoinTest, EachMistakeIsNamedByItsPointer) {
  EXPECT_TRUE(testing::has_only_error(testing::errors_of(document(kCustomers, R"({"table": "customer"})")),
                                      "/operators/0/join/table", "did you mean \"customers\""));
  EXPECT_TRUE(testing::has_only_error(testing::errors_of(document("[]", R"({"table": "customers"})")),
                                      "/operators/0/join/table", "declare it under \"tables\""));
  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(kCustomers, R"({"table": "customers", "type": "outer"})")), "/operators/0/join/type",
      "not a stream-table join type"));
  EXPECT_TRUE(testing::has_only_error(testing::errors_of(document(kCustomers, R"({"table": "customers", "on": "x"})")),
                                      "/operators/0/join/on", "unknown field"));
  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(kCustomers, R"({"table": "customers", "select": {"x": "orders."}})")),
      "/operators/0/join/select/x", "does not parse"));
  EXPECT_TRUE(testing::has_only_error(testing::errors_of(document(kCustomers, R"({"table": "customers"})", "customers")),
                                      "/operators/0/from", "is a table"));
  EXPECT_TRUE(testing::has_error(
      testing::errors_of(document(R"([{"name": "orders", "topic": "customers"}])", R"({"table": "orders"})")),
      "/tables/0/name", "already used by /sources/0"));
  EXPECT_TRUE(testing::has_error(
      testing::errors_of(document(R"([{"name": "customers", "topic": "orders"}])", R"({"table": "customers"})")),
      "/tables/0/topic", "read as a stream or as a table, not both"));
  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(R"([{"name": "customers", "topic": "customers", "timestamp": "record"}])",
                                  R"({"table": "customers"})")),
      "/tables/0/timestamp", "only valid for sources"));
  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(kCustomers, R"({"table": "customers", "as": "customers"})")), "/operators/0/join",
      "name the stream side"));
}

TEST(TopologyJoinTest, DescribeShowsTheTableTheLookupAndTheStore) {
  const Topology topology = testing::topology_of(
      document(kCustomers, R"({"table": "customers", "type": "left", "select": {"tier": "customers.tier"}})"));
  const std::string text = describe(topology, DescribeFormat::text);
  EXPECT_NE(text.find("Table: customers (topic: customers)"), std::string::npos) << text;
  EXPECT_NE(text.find("--> enriched (looked up)"), std::string::npos) << text;
  EXPECT_NE(text.find("left join with table customers, stream as orders; select tier = customers.tier"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("changelog topic customers (the table's own topic)"), std::string::npos) << text;
  const nlohmann::json json = describe_json(topology);
  EXPECT_EQ(json["tables"][0]["topic"], "customers");
  EXPECT_EQ(json["subtopologies"][0]["nodes"][1]["join_type"], "left");
  EXPECT_NE(describe(topology, DescribeFormat::dot).find("table_0 -> processor_0 [label=\"lookup\"]"),
            std::string::npos);
  EXPECT_NE(describe(topology, DescribeFormat::mermaid).find("table_0[("), std::string::npos);
}

}  // namespace
}  // namespace sluice::topology

namespace sluice::topology {
namespace {

// Issue 12, item 3: a join may wait longer (or shorter) than the max_task_idle setting for a quiet input.
TEST(TopologyJoinTest, AJoinMayOverrideMaxTaskIdle) {
  const Topology topology =
      testing::topology_of(document(kCustomers, R"({"table": "customers", "max_task_idle": "2s"})"));
  EXPECT_EQ(std::get<JoinSpec>(topology.operators[0].body).max_task_idle_ms, 2'000);
  EXPECT_NE(describe(topology, DescribeFormat::text).find("max task idle 2s"), std::string::npos) << describe(topology, DescribeFormat::text);
  EXPECT_EQ(describe_json(topology)["subtopologies"][0]["nodes"][1]["max_task_idle"], "2s")
      << describe_json(topology).dump(2);
  const Topology defaulted = testing::topology_of(document(kCustomers, R"({"table": "customers"})"));
  EXPECT_FALSE(std::get<JoinSpec>(defaulted.operators[0].body).max_task_idle_ms.has_value());
  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(kCustomers, R"({"table": "customers", "max_task_idle": "2d"})")),
      "/operators/0/join/max_task_idle", "at most 1d"));
  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(kCustomers, R"({"table": "customers", "max_task_idle": "soon"})")),
      "/operators/0/join/max_task_idle", "not a duration"));
}

}  // namespace
}  // namespace sluice::topology

namespace sluice::topology {
namespace {

// Issue 12, item 4: a table with `history` is versioned; the join looks it up as of the record's time.
TEST(TopologyJoinTest, ATableWithHistoryIsVersioned) {
  constexpr std::string_view kVersioned = R"([{"name": "customers", "topic": "customers", "history": "1h"}])";
  const Topology topology = testing::topology_of(document(kVersioned, R"({"table": "customers"})"));
  EXPECT_EQ(topology.tables[0].history_ms, 3'600'000);
  EXPECT_EQ(std::get<JoinSpec>(topology.operators[0].body).table_history_ms, 3'600'000);
  const std::string text = describe(topology, DescribeFormat::text);
  EXPECT_NE(text.find("Table: customers (topic: customers, history 1h)"), std::string::npos) << text;
  EXPECT_NE(text.find("as of the stream record's time"), std::string::npos) << text;
  EXPECT_EQ(describe_json(topology)["tables"][0]["history"], "1h");
  EXPECT_NE(describe(topology, DescribeFormat::mermaid).find("history 1h"), std::string::npos);
  EXPECT_FALSE(testing::topology_of(document(kCustomers, R"({"table": "customers"})")).tables[0].history_ms);

  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(R"([{"name": "customers", "topic": "customers", "history": "0s"}])",
                                  R"({"table": "customers"})")),
      "/tables/0/history", "above 0"));
  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(R"([{"name": "customers", "topic": "customers", "history": 5}])",
                                  R"({"table": "customers"})")),
      "/tables/0/history", "expected a string"));
  // A global table's updates are not ordered with stream time: no "as of" to look up.
  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(R"([{"name": "customers", "topic": "customers", "global": true, "history": "1h"}])",
                                  R"({"table": "customers"})")),
      "/tables/0/history", "a global table is not versioned"));
  // "history" belongs to tables, not sources.
  EXPECT_TRUE(testing::has_error(
      testing::errors_of(R"({"application_id": "app", "sources": [{"name": "orders", "topic": "orders", "history": "1h"}],
                             "operators": [], "sinks": [{"from": "orders", "topic": "out"}]})"),
      "/sources/0/history", "unknown field"));
}

}  // namespace
}  // namespace sluice::topology
