// Windowed stream-stream joins through the in-process TestDriver (issue 12, item 6): inner pairs once, left and
// outer unmatched results exactly once when the window closes and never before, asymmetric windows, grace and
// out-of-order records, late records and null keys to the dead-letter topic, several partitions (stream time per
// task), re-keyed sides through their own repartition topics, and idle closing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sluice/core/clock.hpp"
#include "sluice/runtime/test_driver.hpp"
#include "sluice/topology/topology.hpp"
#include "support/parsed_topology.hpp"

using namespace sluice;
using nlohmann::json;

namespace {

constexpr std::int64_t kMinute = 60'000;

// Clicks attributed to the impression shown up to 10 minutes before them (impression.ts in [click.ts - 10m,
// click.ts]).
json attribution(const std::string& type, const json& join_extra = json::object(),
                 const json& extra_operators = json::array(), const std::string& from = "clicks",
                 const std::string& stream = "impressions") {
  json join = {{"stream", stream}, {"type", type}, {"within", {{"before", "10m"}, {"after", "0s"}}}};
  join.update(join_extra);
  json operators = extra_operators;
  operators.push_back({{"name", "attributed"}, {"from", from}, {"join", join}});
  return {{"application_id", "ads"},
          {"sources", {{{"name", "clicks"}, {"topic", "clicks"}}, {{"name", "impressions"}, {"topic", "impressions"}}}},
          {"operators", operators},
          {"sinks", {{{"from", "attributed"}, {"topic", "out"}}}}};
}

std::vector<json> values(const std::vector<runtime::DriverRecord>& records) {
  std::vector<json> out;
  for (const auto& record : records) out.push_back(record.value ? json::parse(*record.value) : json());
  return out;
}

json pair(const json& click, const json& impression) { return {{"clicks", click}, {"impressions", impression}}; }

}  // namespace

class StreamJoinTest : public ::testing::Test {
 protected:
  core::ManualClock clock{1'000'000};
};

TEST_F(StreamJoinTest, InnerJoinEmitsEachPairOnceWhenItsSecondRecordArrives) {
  auto topology = sluice::testing::parse_valid(attribution("inner"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("impressions", "u1", R"({"ad": "a"})", 10 * kMinute);
  EXPECT_EQ(driver.pending("out"), 0u);
  driver.pipe("clicks", "u1", R"({"n": 1})", 12 * kMinute);
  auto out = driver.read("out");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(values(out)[0], pair({{"n", 1}}, {{"ad", "a"}}));
  EXPECT_EQ(*out[0].key, "u1");
  EXPECT_EQ(out[0].timestamp_ms, 12 * kMinute);  // the later of the two
  // A new impression pairs only with clicks up to 10 minutes after it (the click at 12m is before it); a second
  // click pairs with both impressions, so each pair comes out exactly once.
  driver.pipe("impressions", "u1", R"({"ad": "b"})", 12 * kMinute + 1);
  EXPECT_EQ(driver.pending("out"), 0u);
  driver.pipe("clicks", "u1", R"({"n": 2})", 13 * kMinute);
  EXPECT_EQ(values(driver.read("out")),
            (std::vector<json>{pair({{"n", 2}}, {{"ad", "a"}}), pair({{"n", 2}}, {{"ad", "b"}})}));
  // Other keys, and impressions after the click or more than 10 minutes before it, do not match.
  driver.pipe("clicks", "u2", R"({"n": 3})", 14 * kMinute);
  driver.pipe("impressions", "u1", R"({"ad": "late-shown"})", 14 * kMinute);
  driver.pipe("clicks", "u1", R"({"n": 4})", 24 * kMinute + 2);  // the impression at 14m is 10m + 2 ms before
  EXPECT_EQ(driver.read("out").size(), 0u);
  EXPECT_EQ(driver.dead_lettered(), 0u);
  EXPECT_EQ(driver.discarded(), 0u);
}

TEST_F(StreamJoinTest, WindowBoundsAreInclusive) {
  auto topology = sluice::testing::parse_valid(attribution("inner"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("impressions", "u1", R"({"ad": "a"})", 0);
  driver.pipe("clicks", "u1", R"({"n": 1})", 10 * kMinute);  // exactly 10 minutes after: joins
  driver.pipe("clicks", "u1", R"({"n": 2})", 10 * kMinute);
  driver.pipe("impressions", "u1", R"({"ad": "b"})", 10 * kMinute);  // the same time as the clicks: joins both
  EXPECT_EQ(driver.read("out").size(), 4u);
}

TEST_F(StreamJoinTest, SelectReadsBothSidesByName) {
  auto topology = sluice::testing::parse_valid(attribution("left", {{"as", "click"},
                                             {"other_as", "impression"},
                                             {"select", {{"user", "click.user"}, {"ad", "impression.ad"}}}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("impressions", "u1", R"({"ad": "a"})", 1000);
  driver.pipe("clicks", "u1", R"({"user": "u1"})", 2000);
  EXPECT_EQ(values(driver.read("out")), std::vector<json>{json::parse(R"({"user": "u1", "ad": "a"})")});
}

TEST_F(StreamJoinTest, LeftJoinEmitsAnUnmatchedRecordOnceWhenItsWindowClosesAndNotBefore) {
  auto topology = sluice::testing::parse_valid(attribution("left", {{"grace", "1m"}}));
  runtime::TestDriver driver(topology, clock);
  const std::int64_t click = 100 * kMinute;
  driver.pipe("clicks", "u1", R"({"n": 1})", click);
  // Its window [click - 10m, click] closes when stream time passes click + 0 + grace.
  driver.pipe("impressions", "other", R"({"ad": "x"})", click + kMinute);
  EXPECT_EQ(driver.pending("out"), 0u) << "an early null result could still be contradicted";
  driver.pipe("impressions", "other", R"({"ad": "x"})", click + kMinute + 1);
  auto out = driver.read("out");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(values(out)[0], pair({{"n", 1}}, nullptr));
  EXPECT_EQ(*out[0].key, "u1");
  EXPECT_EQ(out[0].timestamp_ms, click);  // an unmatched result carries its record's own time
  driver.pipe("clicks", "u9", R"({"n": 9})", click + 100 * kMinute);
  driver.pipe("impressions", "u9", R"({"ad": "y"})", click + 100 * kMinute);
  EXPECT_EQ(values(driver.read("out")), std::vector<json>{pair({{"n", 9}}, {{"ad", "y"}})}) << "no second null result";
  // Nothing of the closed records is kept.
  EXPECT_EQ(driver.state_keys(0, 0, 0, 0), 1u);  // the click u9
  EXPECT_EQ(driver.state_keys(0, 0, 0, 1), 1u);  // the impression u9
}

TEST_F(StreamJoinTest, LeftJoinNeverEmitsAMatchedRecordAsUnmatchedNorAnUnmatchedImpression) {
  auto topology = sluice::testing::parse_valid(attribution("left"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("clicks", "u1", R"({"n": 1})", 5 * kMinute);
  driver.pipe("impressions", "u1", R"({"ad": "a"})", 5 * kMinute);  // matches the click (same time)
  driver.pipe("impressions", "u2", R"({"ad": "b"})", 5 * kMinute);  // no click, ever
  EXPECT_EQ(values(driver.read("out")), std::vector<json>{pair({{"n", 1}}, {{"ad", "a"}})});
  driver.pipe("clicks", "u3", R"({"n": 3})", 60 * kMinute);  // closes everything before
  EXPECT_EQ(driver.read("out").size(), 0u);
}

TEST_F(StreamJoinTest, OuterJoinEmitsUnmatchedRecordsOfBothSidesAtTheirOwnClose) {
  auto topology = sluice::testing::parse_valid(attribution("outer"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("impressions", "u1", R"({"ad": "a"})", 0);  // may match clicks up to 10m: closes after 10m
  driver.pipe("clicks", "u2", R"({"n": 2})", kMinute);    // may match impressions up to 1m: closes after 1m
  driver.pipe("clicks", "u3", R"({"n": 3})", kMinute + 1);
  EXPECT_EQ(values(driver.read("out")), std::vector<json>{pair({{"n", 2}}, nullptr)});
  // The click matches the impression at its last moment; stream time 10m closes the click u3 (at 1m + 1).
  driver.pipe("clicks", "u1", R"({"n": 1})", 10 * kMinute);
  EXPECT_EQ(values(driver.read("out")),
            (std::vector<json>{pair({{"n", 1}}, {{"ad", "a"}}), pair({{"n", 3}}, nullptr)}));
  // Closed by now: the click and the impression u1, both matched, which say nothing more.
  driver.pipe("impressions", "u4", R"({"ad": "d"})", 20 * kMinute);
  EXPECT_EQ(driver.read("out").size(), 0u);
  driver.pipe("clicks", "u5", R"({"n": 5})", 31 * kMinute);
  EXPECT_EQ(values(driver.read("out")), std::vector<json>{pair(nullptr, {{"ad", "d"}})});
}

TEST_F(StreamJoinTest, OutOfOrderRecordsWithinGraceStillJoinAndLaterOnesAreDeadLettered) {
  auto topology = sluice::testing::parse_valid(attribution("left", {{"grace", "2m"}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("clicks", "u1", R"({"n": 1})", 10 * kMinute);
  driver.pipe("clicks", "u2", R"({"n": 2})", 12 * kMinute);  // stream time 12m
  // An impression 2 minutes behind stream time, within the first click's window: joins.
  driver.pipe("impressions", "u1", R"({"ad": "a"})", 10 * kMinute);
  EXPECT_EQ(values(driver.read("out")), std::vector<json>{pair({{"n", 1}}, {{"ad", "a"}})});
  // One more than grace behind: late, to the dead-letter topic, nothing emitted for it.
  driver.pipe("impressions", "u2", R"({"ad": "b"})", 10 * kMinute - 1);
  EXPECT_EQ(driver.read("out").size(), 0u);
  auto dead = driver.read("ads-dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "late");
  EXPECT_EQ(dead[0].header("sluice.operator"), "attributed");
  EXPECT_EQ(dead[0].value, R"({"ad": "b"})");
  // A late click too.
  driver.pipe("clicks", "u3", R"({"n": 3})", 9 * kMinute);
  ASSERT_EQ(driver.read("ads-dlq").size(), 1u);
  EXPECT_EQ(driver.dead_lettered(), 2u);
}

TEST_F(StreamJoinTest, NullKeysAreDeadLetteredOnEitherSide) {
  auto topology = sluice::testing::parse_valid(attribution("outer"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("clicks", std::nullopt, R"({"n": 1})", 1000);
  driver.pipe("impressions", std::nullopt, R"({"ad": "a"})", 1000);
  auto dead = driver.read("ads-dlq");
  ASSERT_EQ(dead.size(), 2u);
  for (const auto& record : dead) EXPECT_EQ(record.header("sluice.error.kind"), "missing_field");
  driver.pipe("clicks", "u1", R"({"n": 2})", 100 * kMinute);
  EXPECT_EQ(driver.read("out").size(), 0u) << "nothing of the null-key records was kept";
}

TEST_F(StreamJoinTest, EachPartitionHasItsOwnStreamTime) {
  auto topology = sluice::testing::parse_valid(attribution("left"));
  runtime::TestDriver driver(topology, clock, {{"clicks", 3}, {"impressions", 3}, {"out", 3}});
  driver.pipe("clicks", "u1", R"({"n": 1})", kMinute, 1);
  // Stream time of partition 2 moves on; the click on partition 1 is not closed by it.
  driver.pipe("clicks", "u2", R"({"n": 2})", 60 * kMinute, 2);
  EXPECT_EQ(driver.pending("out"), 0u);
  // An impression of u1 on another partition is not seen by partition 1's task (co-partitioning is the contract).
  driver.pipe("impressions", "u1", R"({"ad": "a"})", 59 * kMinute + 30'000, 2);
  EXPECT_EQ(driver.pending("out"), 0u);
  driver.pipe("impressions", "u1", R"({"ad": "b"})", kMinute, 1);
  EXPECT_EQ(values(driver.read("out")), std::vector<json>{pair({{"n", 1}}, {{"ad", "b"}})});
  driver.pipe("impressions", "u3", R"({"ad": "c"})", 70 * kMinute, 2);
  // Partition 2 closes its own click (u2 unmatched); partition 1's matched click stays quiet.
  EXPECT_EQ(values(driver.read("out")), std::vector<json>{pair({{"n", 2}}, nullptr)});
}

TEST_F(StreamJoinTest, AReKeyedSideGoesThroughItsOwnRepartitionTopicInTheOtherSidesKeyFormat) {
  json rekey = json::array({{{"name", "by_user"}, {"from", "impressions"}, {"rekey", "user"}}});
  auto topology = sluice::testing::parse_valid(attribution("left", json::object(), rekey, "clicks", "by_user"));
  const auto& join = topology.operators.back();
  EXPECT_FALSE(join.repartition_topic.has_value());
  ASSERT_EQ(join.input_repartition_topics.size(), 2u);
  EXPECT_FALSE(join.input_repartition_topics[0].has_value());
  EXPECT_EQ(join.input_repartition_topics[1], "ads-attributed-right-repartition");
  EXPECT_EQ(std::get<topology::StreamJoinSpec>(join.body).other_name, "by_user");
  EXPECT_EQ(std::get<topology::StreamJoinSpec>(join.body).repartition_key, topology::KeyFormat::string);
  bool found = false;
  for (const auto& internal : topology.internal_topics) {
    if (internal.name == "ads-attributed-right-repartition") {
      found = true;
      EXPECT_EQ(internal.partitions_of, std::vector<std::string>{"clicks"});  // the other side's count
    }
  }
  EXPECT_TRUE(found);

  runtime::TestDriver driver(topology, clock,
                             {{"clicks", 4}, {"impressions", 2}, {"ads-attributed-right-repartition", 4}});
  // The repartitioned impression lands in the partition where the click with the same key (string bytes) is.
  const std::int32_t partition = runtime::murmur2_partition("u7", 4);
  driver.pipe("impressions", "imp-1", R"({"user": "u7", "ad": "a"})", 1000, 1);
  driver.pipe("clicks", "u7", R"({"n": 1})", 2000, partition);
  auto out = driver.read("out");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(values(out)[0], json({{"clicks", {{"n", 1}}}, {"by_user", {{"user", "u7"}, {"ad", "a"}}}}));
  EXPECT_EQ(*out[0].key, "u7");
}

TEST_F(StreamJoinTest, BothSidesReKeyedGoThroughTwoRepartitionTopics) {
  json rekeys = json::array({{{"name", "clicks_by_user"}, {"from", "clicks"}, {"rekey", "user"}},
                             {{"name", "impressions_by_user"}, {"from", "impressions"}, {"rekey", "user"}}});
  auto topology = sluice::testing::parse_valid(attribution("inner", {{"as", "clicks"}, {"other_as", "impressions"}}, rekeys,
                                    "clicks_by_user", "impressions_by_user"));
  const auto& join = topology.operators.back();
  EXPECT_EQ(join.input_repartition_topics[0], "ads-attributed-left-repartition");
  EXPECT_EQ(join.input_repartition_topics[1], "ads-attributed-right-repartition");
  runtime::TestDriver driver(topology, clock,
                             {{"ads-attributed-left-repartition", 3}, {"ads-attributed-right-repartition", 3}});
  driver.pipe("impressions", "i", R"({"user": "u1", "ad": "a"})", 1000);
  driver.pipe("clicks", "c", R"({"user": "u1", "n": 1})", 2000);
  auto out = driver.read("out");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(*out[0].key, "u1");
  EXPECT_EQ(values(out)[0], pair({{"user", "u1"}, {"n", 1}}, {{"user", "u1"}, {"ad", "a"}}));
}

TEST_F(StreamJoinTest, AnIdleTaskClosesWindowsOnTheWallClock) {
  auto topology = sluice::testing::parse_valid(attribution("left"));
  runtime::TestDriver::Options options;
  options.default_idle_timeout_ms = 30'000;
  runtime::TestDriver driver(topology, clock, {}, options);
  driver.pipe("clicks", "u1", R"({"n": 1})", 5 * kMinute);
  clock.advance_ms(29'999);
  driver.punctuate();
  EXPECT_EQ(driver.pending("out"), 0u);
  clock.advance_ms(1);
  driver.punctuate();
  EXPECT_EQ(values(driver.read("out")), std::vector<json>{pair({{"n", 1}}, nullptr)});
}

TEST_F(StreamJoinTest, ASelectThatFailsDeadLettersTheRecordThatCompletesThePair) {
  auto topology = sluice::testing::parse_valid(attribution("left", {{"select", {{"total", "clicks.n * impressions.weight"}}}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("impressions", "u1", R"({"weight": "heavy"})", 1000);
  driver.pipe("clicks", "u1", R"({"n": 2})", 2000);
  EXPECT_EQ(driver.read("out").size(), 0u);
  auto dead = driver.read("ads-dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "type_error");
  // The click was not kept either: it is not emitted unmatched later.
  driver.pipe("clicks", "u2", R"({"n": 1})", 100 * kMinute);
  EXPECT_EQ(driver.read("out").size(), 0u);
}
