// Stream-table joins through the in-process TestDriver (issue 12): inner and left, tombstones, updates, a
// re-keyed stream (through a repartition topic with the table's partition count), null keys, bad table rows,
// several partitions, and a table store that reflects exactly the table records of its task.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sluice/core/clock.hpp"
#include "sluice/runtime/test_driver.hpp"
#include "sluice/topology/topology.hpp"
#include "support/parsed_topology.hpp"

using namespace sluice;
using nlohmann::json;

namespace {

json enrichment(const std::string& type, const json& extra_operators = json::array(), const std::string& from = "orders") {
  json operators = extra_operators;
  operators.push_back({{"name", "enriched"},
                       {"from", from},
                       {"join",
                        {{"table", "customers"},
                         {"type", type},
                         {"as", "orders"},
                         {"select", {{"id", "orders.id"}, {"amount", "orders.amount"}, {"tier", "customers.tier"}}}}}});
  return {{"application_id", "enrich"},
          {"sources", {{{"name", "orders"}, {"topic", "orders"}}}},
          {"tables", {{{"name", "customers"}, {"topic", "customers"}}}},
          {"operators", operators},
          {"sinks", {{{"from", "enriched"}, {"topic", "out"}}}}};
}

std::vector<json> values(const std::vector<runtime::DriverRecord>& records) {
  std::vector<json> out;
  for (const auto& record : records) out.push_back(record.value ? json::parse(*record.value) : json());
  return out;
}

}  // namespace

class JoinTest : public ::testing::Test {
 protected:
  core::ManualClock clock{1'000'000};
};

TEST_F(JoinTest, InnerJoinEmitsOnlyRecordsWithARowAndSeesUpdatesAndTombstones) {
  auto topology = sluice::testing::parse_valid(enrichment("inner"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("customers", "c1", R"({"tier": "gold"})", 10);
  driver.pipe("orders", "c1", R"({"id": 1, "amount": 5})", 20);
  driver.pipe("orders", "c2", R"({"id": 2, "amount": 6})", 21);  // no row: no output, counted
  driver.pipe("customers", "c1", R"({"tier": "platinum"})", 30);
  driver.pipe("orders", "c1", R"({"id": 3, "amount": 7})", 40);
  driver.pipe("customers", "c1", std::nullopt, 50);  // tombstone: the row is gone
  driver.pipe("orders", "c1", R"({"id": 4, "amount": 8})", 60);
  auto out = driver.read("out");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(values(out)[0], json::parse(R"({"id": 1, "amount": 5, "tier": "gold"})"));
  EXPECT_EQ(values(out)[1], json::parse(R"({"id": 3, "amount": 7, "tier": "platinum"})"));
  EXPECT_EQ(*out[0].key, "c1");
  EXPECT_EQ(out[0].timestamp_ms, 20);  // the stream record's time
  EXPECT_EQ(driver.discarded(), 2u);
  EXPECT_EQ(driver.dead_lettered(), 0u);
}

TEST_F(JoinTest, LeftJoinGivesNullsWithoutARow) {
  auto topology = sluice::testing::parse_valid(enrichment("left"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("orders", "c9", R"({"id": 1, "amount": 5})", 20);
  driver.pipe("customers", "c9", R"({"tier": "silver"})", 25);
  driver.pipe("orders", "c9", R"({"id": 2, "amount": 6})", 30);
  EXPECT_EQ(values(driver.read("out")),
            (std::vector<json>{json::parse(R"({"id": 1, "amount": 5, "tier": null})"),
                               json::parse(R"({"id": 2, "amount": 6, "tier": "silver"})")}));
  EXPECT_EQ(driver.discarded(), 0u);
}

TEST_F(JoinTest, WithoutSelectTheOutputHoldsBothSides) {
  json document = enrichment("left");
  document["operators"][0]["join"].erase("select");
  auto topology = sluice::testing::parse_valid(document);
  runtime::TestDriver driver(topology, clock);
  driver.pipe("customers", "c1", R"({"tier": "gold"})", 10);
  driver.pipe("orders", "c1", R"({"id": 1})", 20);
  EXPECT_EQ(values(driver.read("out")), std::vector<json>{json::parse(R"({"orders": {"id": 1}, "customers": {"tier": "gold"}})")});
}

TEST_F(JoinTest, EachPartitionLooksUpItsOwnTask) {
  auto topology = sluice::testing::parse_valid(enrichment("left"));
  runtime::TestDriver driver(topology, clock, {{"orders", 3}, {"customers", 3}});
  // A row on partition 1 is not visible to a stream record on partition 2: co-partitioning is the contract.
  driver.pipe("customers", "c1", R"({"tier": "gold"})", 10, 1);
  driver.pipe("orders", "c1", R"({"id": 1})", 20, 2);
  driver.pipe("orders", "c1", R"({"id": 2})", 21, 1);
  EXPECT_EQ(values(driver.read("out")),
            (std::vector<json>{json::parse(R"({"id": 1, "amount": null, "tier": null})"),
                               json::parse(R"({"id": 2, "amount": null, "tier": "gold"})")}));
  EXPECT_EQ(driver.state_keys(0, 1, 0, 0), 1u);
  EXPECT_EQ(driver.state_keys(0, 2, 0, 0), 0u);
}

TEST_F(JoinTest, AReKeyedStreamGoesThroughARepartitionTopicToTheTablesPartition) {
  json document = enrichment("inner", json::array({{{"name", "by_customer"}, {"from", "orders"}, {"rekey", "customer"}}}),
                             "by_customer");
  auto topology = sluice::testing::parse_valid(document);
  ASSERT_TRUE(topology.operators.back().repartition_topic.has_value());
  EXPECT_EQ(*topology.operators.back().repartition_topic, "enrich-enriched-repartition");
  // The repartition topic takes the table topic's partition count.
  bool found = false;
  for (const auto& internal : topology.internal_topics) {
    if (internal.name != "enrich-enriched-repartition") continue;
    found = true;
    EXPECT_EQ(internal.partitions_of, std::vector<std::string>{"customers"});
  }
  EXPECT_TRUE(found);
  for (const auto& internal : topology.internal_topics) EXPECT_NE(internal.name, "enrich-enriched-changelog");

  runtime::TestDriver driver(topology, clock, {{"orders", 2}, {"customers", 4}, {"enrich-enriched-repartition", 4}});
  const std::int32_t partition = runtime::murmur2_partition("c7", 4);
  driver.pipe("customers", "c7", R"({"tier": "gold"})", 10, partition);
  driver.pipe("orders", "order-1", R"({"id": 1, "amount": 3, "customer": "c7"})", 20, 1);
  auto out = driver.read("out");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(*out[0].key, "c7");
  EXPECT_EQ(values(out)[0]["tier"], "gold");
}

TEST_F(JoinTest, NullKeysAndUnreadableRowsAreDeadLettered) {
  auto topology = sluice::testing::parse_valid(enrichment("left"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("customers", "c1", R"({"tier": "gold"})", 10);
  driver.pipe("customers", "c1", "{not json", 11);  // refused; the key keeps its row
  driver.pipe("customers", std::nullopt, R"({"tier": "x"})", 12);
  driver.pipe("orders", std::nullopt, R"({"id": 1})", 20);
  driver.pipe("orders", "c1", R"({"id": 2})", 21);
  auto dead = driver.read("enrich-dlq");
  ASSERT_EQ(dead.size(), 3u);
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "deserialization");
  EXPECT_EQ(dead[0].header("sluice.operator"), "table:customers");
  EXPECT_EQ(dead[1].header("sluice.error.kind"), "missing_field");
  EXPECT_EQ(dead[1].header("sluice.operator"), "table:customers");
  EXPECT_EQ(dead[2].header("sluice.error.kind"), "missing_field");
  EXPECT_EQ(dead[2].header("sluice.operator"), "enriched");
  EXPECT_EQ(values(driver.read("out")), std::vector<json>{json::parse(R"({"id": 2, "amount": null, "tier": "gold"})")});
}

TEST_F(JoinTest, JsonKeysAreLookedUpByTheirCompactJson) {
  json document = enrichment("left");
  document["sources"][0]["key"] = "json";
  document["tables"][0]["key"] = "json";
  auto topology = sluice::testing::parse_valid(document);
  runtime::TestDriver driver(topology, clock);
  driver.pipe("customers", R"({"region":"eu","id":7})", R"({"tier": "gold"})", 10);
  driver.pipe("orders", R"({ "region": "eu", "id": 7 })", R"({"id": 1})", 20);
  EXPECT_EQ(values(driver.read("out"))[0]["tier"], "gold");
}

// Issue 12, item 4: a versioned table (`history`) answers a lookup with the value current at the stream
// record's time (an as-of join), whatever order the table's updates came in.
namespace {

json versioned_enrichment(const std::string& history) {
  json document = enrichment("left");
  document["tables"][0]["history"] = history;
  return document;
}

std::vector<json> tiers(const std::vector<runtime::DriverRecord>& records) {
  std::vector<json> out;
  for (const auto& value : values(records)) out.push_back(value["tier"]);
  return out;
}

}  // namespace

TEST_F(JoinTest, AVersionedTableJoinsTheValueCurrentAtTheRecordsTime) {
  auto topology = sluice::testing::parse_valid(versioned_enrichment("1h"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("customers", "c1", R"({"tier": "gold"})", 100);
  driver.pipe("customers", "c1", R"({"tier": "platinum"})", 300);
  driver.pipe("orders", "c1", R"({"id": 1, "amount": 5})", 200);  // between the two: gold
  driver.pipe("orders", "c1", R"({"id": 2, "amount": 5})", 300);  // at the update itself: platinum
  driver.pipe("orders", "c1", R"({"id": 3, "amount": 5})", 50);   // before any value: null
  driver.pipe("customers", "c1", R"({"tier": "silver"})", 150);  // out of order, within the history
  driver.pipe("orders", "c1", R"({"id": 4, "amount": 5})", 200);  // now silver was current at 200
  driver.pipe("orders", "c1", R"({"id": 5, "amount": 5})", 350);  // still platinum: the late update is older
  EXPECT_EQ(tiers(driver.read("out")), (std::vector<json>{"gold", "platinum", nullptr, "silver", "platinum"}));
  EXPECT_EQ(driver.dead_lettered(), 0u);
}

TEST_F(JoinTest, WithoutHistoryTheLastWrittenValueWinsEvenIfItIsOlder) {
  auto topology = sluice::testing::parse_valid(enrichment("left"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("customers", "c1", R"({"tier": "gold"})", 100);
  driver.pipe("customers", "c1", R"({"tier": "platinum"})", 300);
  driver.pipe("customers", "c1", R"({"tier": "silver"})", 150);
  driver.pipe("orders", "c1", R"({"id": 1, "amount": 5})", 200);
  driver.pipe("orders", "c1", R"({"id": 2, "amount": 5})", 350);
  EXPECT_EQ(tiers(driver.read("out")), (std::vector<json>{"silver", "silver"}));
}

TEST_F(JoinTest, AVersionedTombstoneEndsTheValueFromItsTimeOn) {
  auto topology = sluice::testing::parse_valid(versioned_enrichment("1h"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("customers", "c1", R"({"tier": "gold"})", 100);
  driver.pipe("customers", "c1", std::nullopt, 200);
  driver.pipe("orders", "c1", R"({"id": 1, "amount": 5})", 150);
  driver.pipe("orders", "c1", R"({"id": 2, "amount": 5})", 250);
  EXPECT_EQ(tiers(driver.read("out")), (std::vector<json>{"gold", nullptr}));
}

TEST_F(JoinTest, AVersionedTableKeepsOnlyWhatItsHistoryNeedsAndARecordOlderThanThatIsLate) {
  auto topology = sluice::testing::parse_valid(versioned_enrichment("2s"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("customers", "c1", R"({"tier": "bronze"})", 0);
  driver.pipe("customers", "c1", R"({"tier": "silver"})", 1'000);
  driver.pipe("customers", "c1", R"({"tier": "gold"})", 2'000);
  EXPECT_EQ(driver.state_keys(0, 0, 0, 1), 3u);
  // Stream time 5 s: the horizon is 3 s; gold (2 s) was current then and stays, the older two go at the key's
  // next update.
  driver.pipe("customers", "c1", R"({"tier": "platinum"})", 5'000);
  EXPECT_EQ(driver.state_keys(0, 0, 0, 1), 2u);
  driver.pipe("orders", "c1", R"({"id": 1, "amount": 5})", 3'500);  // within the history: gold
  driver.pipe("orders", "c1", R"({"id": 2, "amount": 5})", 2'500);  // older than the horizon: late
  EXPECT_EQ(tiers(driver.read("out")), (std::vector<json>{"gold"}));
  auto dead = driver.read("enrich-dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "late");
  // A tombstone past the horizon leaves nothing behind.
  driver.pipe("customers", "c2", R"({"tier": "gold"})", 4'000);
  driver.pipe("customers", "c2", std::nullopt, 4'500);
  driver.pipe("orders", "x", R"({"id": 3, "amount": 5})", 9'000);  // stream time 9 s, horizon 7 s
  driver.pipe("customers", "c2", std::nullopt, 9'000);
  // c1: gold and platinum (not updated since); c2: only its tombstone at 9 s (gold and the first tombstone,
  // at or before the horizon, ended in a tombstone: nothing there to keep).
  EXPECT_EQ(driver.state_keys(0, 0, 0, 1), 3u);
}
