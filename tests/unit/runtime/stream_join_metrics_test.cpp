// The metrics of windowed stream-stream joins through the TestDriver (issue 12, item 7):
// sluice_stream_join_pairs_total{join}, sluice_stream_join_unmatched_total{join,side} and
// sluice_stream_join_expired_total{join,side} (side: left = `from`, right = `stream`), for inner, left and outer
// joins, counted when a record's window closes (never early) and only once the commit covering them succeeds.
// That a rollback does not count them twice is tested with the Processor in processor_fault_test.cpp.
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

// Clicks (left) attributed to the impression (right) shown up to 10 minutes before them: a click at t closes
// once stream time passes t + grace, an impression at t once it passes t + 10m + grace.
json attribution(const std::string& type, const json& join_extra = json::object()) {
  json join = {{"stream", "impressions"}, {"type", type}, {"within", {{"before", "10m"}, {"after", "0s"}}}};
  join.update(join_extra);
  return {{"application_id", "ads"},
          {"sources", {{{"name", "clicks"}, {"topic", "clicks"}}, {{"name", "impressions"}, {"topic", "impressions"}}}},
          {"operators", {{{"name", "attributed"}, {"from", "clicks"}, {"join", join}}}},
          {"sinks", {{{"from", "attributed"}, {"topic", "out"}}}}};
}

// The counters of join "attributed", as /metrics shows them.
struct Counts {
  double pairs = 0;
  double unmatched_left = 0;
  double unmatched_right = 0;
  double expired_left = 0;
  double expired_right = 0;
  bool operator==(const Counts&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Counts& counts) {
  return out << "{pairs " << counts.pairs << ", unmatched left " << counts.unmatched_left << " right "
             << counts.unmatched_right << ", expired left " << counts.expired_left << " right " << counts.expired_right
             << "}";
}

Counts counts(runtime::TestDriver& driver) {
  observe::Metrics& metrics = driver.metrics();
  return {metrics.stream_join_pairs("attributed").Value(),
          metrics.stream_join_unmatched("attributed", "left").Value(),
          metrics.stream_join_unmatched("attributed", "right").Value(),
          metrics.stream_join_expired("attributed", "left").Value(),
          metrics.stream_join_expired("attributed", "right").Value()};
}

}  // namespace

class StreamJoinMetricsTest : public ::testing::Test {
 protected:
  core::ManualClock clock{1'000'000};
};

TEST_F(StreamJoinMetricsTest, InnerJoinCountsPairsAndRecordsThatExpiredWithoutAMatch) {
  auto topology = sluice::testing::parse_valid(attribution("inner"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("impressions", "u1", R"({"ad": "a"})", 10 * kMinute);
  driver.pipe("clicks", "u1", R"({"n": 1})", 12 * kMinute);  // pairs with a
  driver.pipe("clicks", "u1", R"({"n": 2})", 13 * kMinute);  // pairs with a
  driver.pipe("impressions", "u2", R"({"ad": "b"})", 13 * kMinute);  // no click of u2, ever
  driver.pipe("clicks", "u3", R"({"n": 3})", 14 * kMinute);          // no impression of u3, ever
  EXPECT_EQ(driver.read("out").size(), 2u);
  EXPECT_EQ(counts(driver), (Counts{2, 0, 0, 0, 0})) << "nothing has closed yet";
  // Stream time 30m closes every record above: the matched impression a and clicks 1 and 2 are not expired
  // (they matched, though only the newer side of each pair was written matched when it arrived), impression b
  // and click 3 are. An inner join emits nothing for them.
  driver.pipe("clicks", "u9", R"({"n": 9})", 30 * kMinute);
  EXPECT_EQ(driver.read("out").size(), 0u);
  EXPECT_EQ(counts(driver), (Counts{2, 0, 0, 1, 1}));
  EXPECT_EQ(driver.state_keys(0, 0, 0, 1), 0u) << "every impression was dropped";
  // Counted once: more time passing does not count the closed records again.
  driver.pipe("clicks", "u9", R"({"n": 10})", 60 * kMinute);
  EXPECT_EQ(counts(driver), (Counts{2, 0, 0, 2, 1}));  // click 9 closed unmatched too
}

TEST_F(StreamJoinMetricsTest, LeftJoinCountsAnUnmatchedClickWhenItsWindowClosesAndNotBefore) {
  auto topology = sluice::testing::parse_valid(attribution("left", {{"grace", "1m"}}));
  runtime::TestDriver driver(topology, clock);
  const std::int64_t click = 100 * kMinute;
  driver.pipe("clicks", "u1", R"({"n": 1})", click);
  driver.pipe("clicks", "u5", R"({"n": 5})", click);
  driver.pipe("impressions", "u5", R"({"ad": "e"})", click);  // pairs with click 5
  EXPECT_EQ(counts(driver), (Counts{1, 0, 0, 0, 0}));
  // The click u1 closes when stream time passes click + grace: at exactly that time, not yet.
  driver.pipe("impressions", "other", R"({"ad": "x"})", click + kMinute);
  EXPECT_EQ(driver.pending("out"), 1u);  // the pair
  EXPECT_EQ(counts(driver), (Counts{1, 0, 0, 0, 0})) << "an unmatched result counted early";
  driver.read("out");
  driver.pipe("impressions", "other", R"({"ad": "y"})", click + kMinute + 1);
  ASSERT_EQ(driver.read("out").size(), 1u);  // click 1 with a null impression
  // The matched click 5 closed at the same time without counting.
  EXPECT_EQ(counts(driver), (Counts{1, 1, 0, 1, 0}));
  // The impressions "other" (never matched) and e (matched) close 10m + grace after their time; a left join
  // emits nothing for an impression, so only the expired count of the right side moves.
  driver.pipe("clicks", "u9", R"({"n": 9})", click + 20 * kMinute);
  EXPECT_EQ(driver.read("out").size(), 0u);
  EXPECT_EQ(counts(driver), (Counts{1, 1, 0, 1, 2}));
}

TEST_F(StreamJoinMetricsTest, OuterJoinCountsUnmatchedResultsOfBothSides) {
  auto topology = sluice::testing::parse_valid(attribution("outer"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("impressions", "u1", R"({"ad": "a"})", 0);  // closes after 10m
  driver.pipe("clicks", "u2", R"({"n": 2})", kMinute);    // closes after 1m
  driver.pipe("clicks", "u3", R"({"n": 3})", kMinute + 1);
  EXPECT_EQ(counts(driver), (Counts{0, 1, 0, 1, 0}));  // click 2
  driver.pipe("clicks", "u1", R"({"n": 1})", 10 * kMinute);  // pairs with a; closes click 3
  EXPECT_EQ(counts(driver), (Counts{1, 2, 0, 2, 0}));
  driver.pipe("impressions", "u4", R"({"ad": "d"})", 20 * kMinute);  // closes impression a and click 1: matched
  EXPECT_EQ(counts(driver), (Counts{1, 2, 0, 2, 0}));
  driver.pipe("clicks", "u5", R"({"n": 5})", 31 * kMinute);  // closes impression d
  EXPECT_EQ(counts(driver), (Counts{1, 2, 1, 2, 1}));
  // Every unmatched result that went out is counted: 3 nulls in the output.
  int nulls = 0;
  for (const auto& record : driver.read("out")) {
    const json value = json::parse(*record.value);
    nulls += value["clicks"].is_null() || value["impressions"].is_null();
  }
  EXPECT_EQ(nulls, 3);
}

TEST_F(StreamJoinMetricsTest, CountsBecomeVisibleWithTheCommitThatCoversThem) {
  auto topology = sluice::testing::parse_valid(attribution("left"));
  runtime::TestDriver::Options options;
  options.auto_commit = false;
  runtime::TestDriver driver(topology, clock, {}, options);
  driver.pipe("impressions", "u1", R"({"ad": "a"})", kMinute);
  driver.pipe("clicks", "u1", R"({"n": 1})", kMinute);
  driver.pipe("clicks", "u2", R"({"n": 2})", kMinute);
  driver.pipe("clicks", "u3", R"({"n": 3})", 2 * kMinute);  // closes click 2
  EXPECT_EQ(driver.read("out").size(), 2u);  // the pair and click 2 unmatched, emitted into the open commit
  EXPECT_EQ(counts(driver), (Counts{0, 0, 0, 0, 0})) << "counted before the commit covering them";
  driver.commit();
  EXPECT_EQ(counts(driver), (Counts{1, 1, 0, 1, 0}));
  driver.commit();
  EXPECT_EQ(counts(driver), (Counts{1, 1, 0, 1, 0})) << "a second commit publishes nothing again";
}

TEST_F(StreamJoinMetricsTest, ALateRecordIsDeadLetteredAndNeitherUnmatchedNorExpired) {
  // Late records are counted by sluice_records_dead_lettered_total{operator="attributed",reason="late"} (the
  // dead-letter path; the driver counts them in dead_lettered()), never here: they were never kept.
  auto topology = sluice::testing::parse_valid(attribution("left"));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("clicks", "u1", R"({"n": 1})", 10 * kMinute);
  driver.pipe("clicks", "u2", R"({"n": 2})", 5 * kMinute);  // more than grace (0) behind stream time
  auto dead = driver.read("ads-dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "late");
  driver.pipe("clicks", "u9", R"({"n": 9})", 20 * kMinute);
  EXPECT_EQ(counts(driver), (Counts{0, 1, 0, 1, 0})) << "only click 1 closed unmatched";
  EXPECT_EQ(driver.dead_lettered(), 1u);
}
