// Joins with a global table through the TestDriver (issue 12, item 5 and the join metrics of item 7): lookups by
// any expression of the record from every stream partition, the record key without `lookup`, updates and
// tombstones, null and failing lookups and bad table rows dead-lettered, and the lookup / hit / miss counters.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sluice/core/clock.hpp"
#include "sluice/runtime/test_driver.hpp"
#include "sluice/topology/topology.hpp"
#include "support/parsed_topology.hpp"

using namespace sluice;
using nlohmann::json;

namespace {

json payments(const std::string& type, const json& join_extra = json::object()) {
  json join = {{"table", "cards"},
               {"type", type},
               {"as", "payment"},
               {"select",
                {{"id", "payment.id"}, {"amount", "payment.amount"}, {"over_limit", "payment.amount > cards.limit"}}}};
  join.update(join_extra);
  return {{"application_id", "pay"},
          {"sources", {{{"name", "payments"}, {"topic", "payments"}}}},
          {"tables", {{{"name", "cards"}, {"topic", "cards"}, {"global", true}}}},
          {"operators", {{{"name", "checked"}, {"from", "payments"}, {"join", join}}}},
          {"sinks", {{{"from", "checked"}, {"topic", "out"}}}}};
}

std::vector<json> values(const std::vector<runtime::DriverRecord>& records) {
  std::vector<json> out;
  for (const auto& record : records) out.push_back(record.value ? json::parse(*record.value) : json());
  return out;
}

double value_of(prometheus::Counter& counter) { return counter.Value(); }

}  // namespace

class GlobalJoinTest : public ::testing::Test {
 protected:
  core::ManualClock clock{1'000'000};
};

TEST_F(GlobalJoinTest, LooksUpByAnExpressionFromEveryPartitionWithoutRepartitioning) {
  auto topology = sluice::testing::parse_valid(payments("inner", {{"lookup", "card.id"}}));
  runtime::TestDriver driver(topology, clock, {{"payments", 3}, {"out", 3}});
  driver.pipe("cards", "c1", R"({"limit": 100})", 1, 0);
  driver.pipe("cards", "c2", R"({"limit": 10})", 2, 1);  // another table partition: every row reaches every task
  // Stream keys are account ids, unrelated to the card: no co-partitioning is needed.
  driver.pipe("payments", "a1", R"({"id": 1, "amount": 50, "card": {"id": "c1"}})", 10, 0);
  driver.pipe("payments", "a2", R"({"id": 2, "amount": 50, "card": {"id": "c2"}})", 11, 1);
  driver.pipe("payments", "a3", R"({"id": 3, "amount": 5, "card": {"id": "c2"}})", 12, 2);
  driver.pipe("payments", "a4", R"({"id": 4, "amount": 5, "card": {"id": "c9"}})", 13, 2);  // no row: no output
  auto out = driver.read("out");
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(values(out)[0], json::parse(R"({"id": 1, "amount": 50, "over_limit": false})"));
  EXPECT_EQ(values(out)[1], json::parse(R"({"id": 2, "amount": 50, "over_limit": true})"));
  EXPECT_EQ(values(out)[2], json::parse(R"({"id": 3, "amount": 5, "over_limit": false})"));
  EXPECT_EQ(*out[1].key, "a2");  // the stream's key is kept
  EXPECT_EQ(driver.discarded(), 1u);
  EXPECT_EQ(driver.dead_lettered(), 0u);
  EXPECT_EQ(value_of(driver.metrics().join_lookups("checked")), 4);
  EXPECT_EQ(value_of(driver.metrics().join_hits("checked")), 3);
  EXPECT_EQ(value_of(driver.metrics().join_misses("checked")), 1);
  EXPECT_EQ(driver.global_table(0).rows(), 2);
}

TEST_F(GlobalJoinTest, WithoutLookupTheRecordKeyIsLookedUpAndALeftJoinGivesNulls) {
  auto topology = sluice::testing::parse_valid(payments("left"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("cards", "c1", R"({"limit": 100})", 1);
  driver.pipe("payments", "c1", R"({"id": 1, "amount": 500})", 10);
  driver.pipe("payments", "c2", R"({"id": 2, "amount": 5})", 11);
  auto out = values(driver.read("out"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], json::parse(R"({"id": 1, "amount": 500, "over_limit": true})"));
  EXPECT_EQ(out[1], json::parse(R"({"id": 2, "amount": 5, "over_limit": null})"));
  EXPECT_EQ(value_of(driver.metrics().join_misses("checked")), 1);
}

TEST_F(GlobalJoinTest, UpdatesAndTombstonesAreSeenByTheNextLookup) {
  auto topology = sluice::testing::parse_valid(payments("left", {{"lookup", "card_id"}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("cards", "c1", R"({"limit": 100})", 1);
  driver.pipe("payments", "a", R"({"id": 1, "amount": 50, "card_id": "c1"})", 10);
  driver.pipe("cards", "c1", R"({"limit": 10})", 2);
  driver.pipe("payments", "a", R"({"id": 2, "amount": 50, "card_id": "c1"})", 11);
  driver.pipe("cards", "c1", std::nullopt, 3);
  driver.pipe("payments", "a", R"({"id": 3, "amount": 50, "card_id": "c1"})", 12);
  auto out = values(driver.read("out"));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0]["over_limit"], false);
  EXPECT_EQ(out[1]["over_limit"], true);
  EXPECT_TRUE(out[2]["over_limit"].is_null());
  EXPECT_EQ(driver.global_table(0).rows(), 0);
  EXPECT_EQ(driver.global_table(0).next_offsets().at(0), 3);
}

TEST_F(GlobalJoinTest, ANullOrFailingLookupIsADeadLetterNeverADrop) {
  auto topology = sluice::testing::parse_valid(payments("left", {{"lookup", "lower(card_id)"}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("cards", "c1", R"({"limit": 100})", 1);
  driver.pipe("payments", "a", R"({"id": 1, "amount": 50})", 10);                   // no card_id
  driver.pipe("payments", "a", R"({"id": 2, "amount": 50, "card_id": null})", 11);  // null
  driver.pipe("payments", "a", R"({"id": 3, "amount": 50, "card_id": 7})", 12);     // lower() of a number fails
  EXPECT_TRUE(driver.read("out").empty());
  auto dead = driver.read("pay-dlq");
  ASSERT_EQ(dead.size(), 3u);
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "missing_field");
  EXPECT_EQ(dead[0].header("sluice.operator"), "checked");
  EXPECT_NE(dead[0].header("sluice.error.message")->find("lower(card_id)"), std::string::npos);
  EXPECT_EQ(dead[1].header("sluice.error.kind"), "missing_field");
  EXPECT_EQ(dead[2].header("sluice.error.kind"), "type_error");
  EXPECT_EQ(*dead[0].value, R"({"id": 1, "amount": 50})");  // the input as it was
  EXPECT_EQ(value_of(driver.metrics().join_lookups("checked")), 0);  // none reached the table
}

TEST_F(GlobalJoinTest, BadTableRowsAreDeadLetteredAndTheTableGoesOn) {
  auto topology = sluice::testing::parse_valid(payments("inner", {{"lookup", "card_id"}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("cards", std::nullopt, R"({"limit": 1})", 1);  // no key
  driver.pipe("cards", "c1", "{not json", 2);
  driver.pipe("cards", "c1", R"({"limit": 100})", 3);
  driver.pipe("payments", "a", R"({"id": 1, "amount": 50, "card_id": "c1"})", 10);
  auto dead = driver.read("pay-dlq");
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "missing_field");
  EXPECT_EQ(dead[0].header("sluice.operator"), "table:cards");
  EXPECT_EQ(dead[1].header("sluice.error.kind"), "deserialization");
  EXPECT_EQ(dead[1].header("sluice.source.topic"), "cards");
  EXPECT_EQ(dead[1].header("sluice.source.offset"), "1");
  EXPECT_EQ(values(driver.read("out")).at(0)["over_limit"], false);
}

TEST_F(GlobalJoinTest, AStreamTableJoinCountsItsLookupsAndItsTableRows) {
  // The partitioned (co-partitioned) join reports through the same counters, and its table rows are counted.
  json document = payments("left");
  document["tables"][0].erase("global");
  auto topology = sluice::testing::parse_valid(document);
  runtime::TestDriver driver(topology, clock);
  driver.pipe("cards", "c1", R"({"limit": 100})", 1);
  driver.pipe("cards", "c2", R"({"limit": 100})", 2);
  driver.pipe("cards", "c2", std::nullopt, 3);
  driver.pipe("payments", "c1", R"({"id": 1, "amount": 5})", 10);
  driver.pipe("payments", "c2", R"({"id": 2, "amount": 5})", 11);
  EXPECT_EQ(driver.read("out").size(), 2u);
  EXPECT_EQ(value_of(driver.metrics().join_lookups("checked")), 2);
  EXPECT_EQ(value_of(driver.metrics().join_hits("checked")), 1);
  EXPECT_EQ(value_of(driver.metrics().join_misses("checked")), 1);
  EXPECT_EQ(value_of(driver.metrics().table_updates("cards")), 2);
  EXPECT_EQ(value_of(driver.metrics().table_deletes("cards")), 1);
}
