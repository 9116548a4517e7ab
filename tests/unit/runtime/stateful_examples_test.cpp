// The stateful example topologies in topologies/, run through the TestDriver (in-memory stores, in-process
// repartitioning): each produces exactly the results computed here by hand.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sluice/core/clock.hpp"
#include "sluice/runtime/test_driver.hpp"
#include "sluice/topology/topology.hpp"

using namespace sluice;
using nlohmann::json;

namespace {

constexpr std::int64_t base_ms = 1'795'255'200'000;  // 2026-11-21T10:00:00Z, a whole hour

topology::Topology load(const std::string& file) {
  auto loaded = topology::load_topology_file(std::string(SLUICE_SOURCE_DIR) + "/topologies/" + file);
  if (auto* errors = std::get_if<std::vector<topology::ValidationError>>(&loaded)) {
    std::string all;
    for (const auto& error : *errors) all += error.to_string() + "\n";
    ADD_FAILURE() << all;
    std::abort();
  }
  return std::get<topology::Topology>(std::move(loaded));
}

std::vector<json> values(const std::vector<runtime::DriverRecord>& records) {
  std::vector<json> out;
  for (const auto& record : records) out.push_back(json::parse(*record.value));
  return out;
}

}  // namespace

TEST(StatefulExamples, PageViewsPerMinuteCountsPerUserAndMinuteOnceClosed) {
  auto topology = load("page-views-per-minute.json");
  core::ManualClock clock(0);
  runtime::TestDriver driver(topology, clock, {{"page-views", 4}});
  auto view = [&](const std::string& user, std::int64_t offset_ms, int partition) {
    driver.pipe("page-views", "view", json{{"user", user}, {"ts", base_ms + offset_ms}}.dump(), 0, partition);
  };
  view("ada", 1'000, 0);
  view("ada", 59'999, 1);
  view("bob", 30'000, 2);
  view("ada", 60'000, 3);  // next minute
  EXPECT_EQ(driver.read("page-views-per-minute").size(), 0u) << "emit final: nothing before the minute closes";
  view("carl", 70'000, 0);  // stream time 1:10 = end of minute 0 + 10 s grace: minute 0 closes
  auto first = driver.read("page-views-per-minute");
  ASSERT_EQ(first.size(), 2u);
  std::map<std::string, json> by_user;
  for (const auto& record : first) by_user[*record.key] = json::parse(*record.value);
  EXPECT_EQ(by_user["ada"]["views"], 2);
  EXPECT_EQ(by_user["ada"]["window_start"], base_ms);
  EXPECT_EQ(by_user["ada"]["window_end"], base_ms + 60'000);
  EXPECT_EQ(by_user["bob"]["views"], 1);
  view("bob", 5'000, 1);  // minute 0 is closed: late
  auto dead = driver.read("page-views-dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "late");
  EXPECT_EQ(dead[0].header("sluice.operator"), "per_minute");
}

TEST(StatefulExamples, FraudAlertsFlagCardsWithThreeLargePaymentsInFiveMinutes) {
  auto topology = load("fraud-alerts.json");
  core::ManualClock clock(0);
  runtime::TestDriver driver(topology, clock, {{"payments", 2}});
  auto pay = [&](const std::string& card, double amount, std::int64_t offset_ms) {
    driver.pipe("payments", "p", json{{"card_id", card}, {"amount", amount}, {"event_time", base_ms + offset_ms}}.dump());
  };
  pay("c1", 1500, 10'000);
  pay("c1", 2500, 70'000);
  pay("c1", 50, 80'000);  // small: filtered before counting
  pay("c1", 1200, 130'000);
  pay("c2", 5000, 20'000);
  pay("c2", 5000, 30'000);  // only two for c2
  pay("zz", 9999, 3'600'000);  // advances stream time: every window above closes
  auto alerts = values(driver.read("fraud-alerts"));
  // c1's large payments at 0:10, 1:10, 2:10 fall together in the 5-minute windows starting at -2:00..0:00.
  ASSERT_FALSE(alerts.empty());
  for (const auto& alert : alerts) {
    EXPECT_GE(alert["n"].get<int>(), 3);
    EXPECT_EQ(alert["total"], 5200.0);
    EXPECT_EQ(alert["largest"], 2500.0);
  }
  std::set<std::int64_t> starts;
  for (const auto& alert : alerts) starts.insert(alert["window_start"].get<std::int64_t>());
  EXPECT_EQ(starts, (std::set<std::int64_t>{base_ms - 120'000, base_ms - 60'000, base_ms}));
}

TEST(StatefulExamples, SensorAnomalyAlertsWhenTheTenSecondAverageIsAboveEighty) {
  auto topology = load("sensor-anomaly.json");
  core::ManualClock clock(0);
  runtime::TestDriver driver(topology, clock);
  // Each sensor on its own partition, so each has its own task and stream time.
  auto reading = [&](const std::string& sensor, double temperature, std::int64_t offset_ms) {
    driver.pipe("sensor-readings", sensor, json{{"temperature", temperature}, {"ts", base_ms + offset_ms}}.dump(), 0,
                sensor == "s1" ? 0 : 1);
  };
  reading("s1", 70, 0);
  reading("s1", 85, 5'000);   // avg over [-5s, 5s] = 77.5
  reading("s1", 95, 9'000);   // avg over [-1s, 9s] = 83.3 -> alert
  reading("s1", 60, 20'000);  // alone in [10s, 20s]: 60
  reading("s2", 81, 1'000);   // s2's own window: 81 -> alert
  auto alerts = values(driver.read("sensor-alerts"));
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_NEAR(alerts[0]["avg_temp"].get<double>(), (70.0 + 85 + 95) / 3, 1e-9);
  EXPECT_EQ(alerts[0]["readings"], 3);
  EXPECT_EQ(alerts[0]["window_end"], base_ms + 9'000);
  EXPECT_EQ(alerts[0]["window_start"], base_ms - 1'000);
  EXPECT_EQ(alerts[1]["avg_temp"], 81.0);
}

TEST(StatefulExamples, UserSessionsMergeClicksCloserThanThirtyMinutes) {
  auto topology = load("user-sessions.json");
  core::ManualClock clock(0);
  runtime::TestDriver driver(topology, clock, {{"clicks", 3}});
  auto click = [&](const std::string& user, const std::string& page, std::int64_t minute) {
    driver.pipe("clicks", std::nullopt, json{{"user", user}, {"page", page}, {"ts", base_ms + minute * 60'000}}.dump(), 0,
                static_cast<int>(minute % 3));
  };
  click("ada", "home", 0);
  click("bob", "home", 5);
  click("ada", "cart", 31);     // more than 30 minutes later: a second session (the first closes after 0+30+1)
  click("ada", "search", 15);   // bridges both: one session from 0 to 31
  click("zed", "home", 24 * 60);  // a day later: every session above closes
  auto sessions = values(driver.read("user-sessions"));
  ASSERT_EQ(sessions.size(), 2u) << json(sessions).dump() << " dead: " << driver.read("user-sessions-dlq").size();
  std::map<std::int64_t, json> by_start;
  for (const auto& session : sessions) by_start[session["window_start"].get<std::int64_t>()] = session;
  json ada = by_start[base_ms];
  EXPECT_EQ(ada["clicks"], 3);
  EXPECT_EQ(ada["window_end"], base_ms + 31 * 60'000);
  EXPECT_EQ(ada["first_page"], "home");
  EXPECT_EQ(ada["last_page"], "cart");
  EXPECT_EQ(by_start[base_ms + 5 * 60'000]["clicks"], 1);
}

TEST(StatefulExamples, WordCountKeepsARunningTablePerWord) {
  auto topology = load("word-count.json");
  core::ManualClock clock(0);
  runtime::TestDriver driver(topology, clock, {{"text-lines", 2}, {"word-count-counts-repartition", 3}});
  driver.pipe("text-lines", std::nullopt, R"({"text": "the cat and the hat"})", 0, 0);
  driver.pipe("text-lines", std::nullopt, R"({"text": "The  end"})", 0, 1);
  std::map<std::string, std::int64_t> latest;
  for (const auto& record : driver.read("word-counts")) latest[*record.key] = json::parse(*record.value)["count"];
  EXPECT_EQ(latest, (std::map<std::string, std::int64_t>{{"the", 3}, {"cat", 1}, {"and", 1}, {"hat", 1}, {"end", 1}}));
}

TEST(StatefulExamples, UpdatesAreCompactedPerCommit) {
  auto topology = load("word-count.json");
  core::ManualClock clock(0);
  runtime::TestDriver::Options options;
  options.auto_commit = false;
  runtime::TestDriver driver(topology, clock, {}, options);
  for (int i = 0; i < 5; ++i) driver.pipe("text-lines", std::nullopt, R"({"text": "again"})");
  EXPECT_EQ(driver.pending("word-counts"), 0u);
  driver.commit();
  auto out = driver.read("word-counts");
  ASSERT_EQ(out.size(), 1u) << "five changes of one key within a commit give one update";
  EXPECT_EQ(json::parse(*out[0].value)["count"], 5);
}

TEST(StatefulExamples, IdleTasksCloseTheirWindowsWithTheWallClock) {
  auto topology = load("page-views-per-minute.json");
  core::ManualClock clock(1'000'000);
  runtime::TestDriver::Options options;
  options.default_idle_timeout_ms = 30'000;
  runtime::TestDriver driver(topology, clock, {}, options);
  driver.pipe("page-views", "v", json{{"user", "ada"}, {"ts", base_ms + 1'000}}.dump());
  clock.advance_ms(29'000);
  driver.punctuate();
  EXPECT_EQ(driver.pending("page-views-per-minute"), 0u) << "not idle long enough";
  clock.advance_ms(60'000);  // idle 89 s: stream time 0:01 + 89 s = 1:30 > end 1:00 + grace 10 s
  driver.punctuate();
  driver.commit();
  auto out = driver.read("page-views-per-minute");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(json::parse(*out[0].value)["views"], 1);
}
