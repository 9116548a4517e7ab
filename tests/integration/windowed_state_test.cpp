// Keyed windowed state on the real broker: rekey -> repartition -> hopping count (emit final) over 4 input
// partitions, compared with an oracle computed here from the input. Half-way, the instance stops and its state
// directory is deleted: the restart must rebuild the open windows from the changelog (and say how many records
// it replayed), and the finals emitted after it must still be exact. A last clean restart replays nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "sluice/runtime/test_driver.hpp"
#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr std::int64_t base_ms = 1'795'255'200'000;  // 2026-11-21T10:00:00Z
constexpr std::int64_t size_ms = 60'000;
constexpr std::int64_t advance_ms = 20'000;
// Longer than the input's event-time span: partitions are consumed unevenly (each is fetched in one chunk), so
// the repartitioned stream is out of order by up to the whole span, and no record may count as late here.
constexpr std::int64_t grace_ms = 2 * 3'600'000;

using WindowKey = std::pair<std::string, std::int64_t>;  // (user, window start)

// Hopping windows containing t: starts s = k * advance with s <= t < s + size.
std::map<WindowKey, std::int64_t> oracle(const std::vector<std::pair<std::string, std::int64_t>>& events) {
  std::map<WindowKey, std::int64_t> counts;
  for (const auto& [user, t] : events) {
    std::int64_t last_start = t - t % advance_ms;
    for (std::int64_t start = last_start; start > t - size_ms; start -= advance_ms) ++counts[{user, start}];
  }
  return counts;
}

// A user name whose JSON-encoded key lands on `partition` of the 4-partition repartition topic, so a record
// with it advances that downstream task's stream time.
std::string marker_for(std::int32_t partition, const std::string& prefix) {
  for (int i = 0;; ++i) {
    std::string user = prefix + std::to_string(i);
    if (sluice::runtime::murmur2_partition("\"" + user + "\"", 4) == partition) return user;
  }
}

double metric(const RunningTopology& running, const std::string& name) {
  return metric_value(http_get(running.port, "/metrics").body, name).value_or(-1);
}

}  // namespace

TEST(WindowedState, RepartitionedHoppingCountSurvivesStateLossAndRestoresOnlyTheTail) {
  const std::string input = unique_name("clicks");
  const std::string output = unique_name("counts");
  const std::string application_id = unique_name("hopping");
  const std::string state_dir = "/tmp/" + unique_name("state");
  create_topic(input, 4);
  json document = {
      {"application_id", application_id},
      {"sources", {{{"name", "clicks"}, {"topic", input}, {"timestamp", {{"field", "ts"}}}}}},
      {"operators",
       {{{"name", "by_user"}, {"from", "clicks"}, {"rekey", "user"}},
        {{"name", "per_user"},
         {"from", "by_user"},
         {"window", {{"type", "hopping"}, {"size", "1m"}, {"advance", "20s"}, {"grace", "2h"}}},
         {"aggregate", {{"clicks", "count()"}}},
         {"emit", "final"}}}},
      {"sinks", {{{"from", "per_user"}, {"topic", output}}}}};
  std::string path = write_temp_file("hopping.json", document.dump(2));
  std::vector<std::string> arguments = {"--set", "state_dir=" + state_dir, "--set", "window_idle_timeout=0"};

  // 40 users, 2,000 events over 10 minutes of event time, keyed by session id (not user) so the rekey matters,
  // with a little disorder that never crosses from one half of the input into the other.
  std::mt19937_64 random(11);
  std::vector<std::pair<std::string, std::int64_t>> events;
  std::vector<TestRecord> first_half, second_half;
  for (int i = 0; i < 2000; ++i) {
    std::string user = "user-" + std::to_string(random() % 40);
    std::int64_t t = base_ms + i * 300 - static_cast<std::int64_t>(random() % 3000);
    if (i >= 1000) t = std::max<std::int64_t>(t, base_ms + 1000 * 300);
    events.emplace_back(user, t);
    TestRecord record;
    record.key = "session-" + std::to_string(random() % 1000);
    record.value = json{{"user", user}, {"ts", t}}.dump();
    record.partition = i % 4;
    (i < 1000 ? first_half : second_half).push_back(record);
  }
  auto markers = [&](std::int64_t t, const std::string& prefix) {
    std::vector<TestRecord> records;
    for (std::int32_t partition = 0; partition < 4; ++partition) {
      TestRecord record;
      record.key = "marker";
      record.value = json{{"user", marker_for(partition, prefix)}, {"ts", t}}.dump();
      record.partition = partition;
      records.push_back(record);
    }
    return records;
  };
  auto expected = oracle(events);

  const std::string repartition = application_id + "-per_user-repartition";
  // Markers are later data: they go in only once every earlier record has reached the keyed tasks (partitions
  // are consumed unevenly, so a marker sent together with the data could overtake it).
  auto send_markers_after = [&](const RunningTopology& running, std::size_t records, std::int64_t t,
                                const std::string& prefix) {
    ASSERT_TRUE(eventually([&] {
      auto text = http_get(running.port, "/metrics").body;
      return metric_value(text, "sluice_records_consumed_total", {{"topic", repartition}}).value_or(0) >= records;
    }, 60s)) << running.process->log();
    produce(input, markers(t, prefix));
  };

  // Phase 1: the first half, then markers at the end of the first half: only windows closed by then emit.
  produce(input, first_half);
  std::int64_t middle = base_ms + 1000 * 300 + grace_ms;  // closes exactly the windows ending by the half-way time
  std::size_t closed_in_phase_one = 0;
  for (const auto& [window, count] : expected) closed_in_phase_one += window.second + size_ms + grace_ms <= middle;
  {
    auto running = start_sluice(path, arguments);
    send_markers_after(running, first_half.size(), middle, "mid-");
    auto phase_one = consume(output, closed_in_phase_one, 60s);
    ASSERT_GE(phase_one.size(), closed_in_phase_one) << running.process->log();
    running.process->signal(SIGTERM);
    ASSERT_EQ(running.process->wait(60s), 0) << running.process->log();
  }

  // Phase 2: lose the local state, restart, finish the input, close every window.
  std::filesystem::remove_all(state_dir);
  produce(input, second_half);
  std::size_t data_windows = expected.size();
  {
    auto running = start_sluice(path, arguments);
    send_markers_after(running, second_half.size(), base_ms + 3'600'000 + grace_ms, "end-");
    auto all = consume(output, data_windows, 90s, 2s);
    double restored = metric(running, "sluice_restored_records_total");
    double dead_lettered =
        metric_value(http_get(running.port, "/metrics").body, "sluice_records_dead_lettered_total").value_or(0);
    EXPECT_GT(restored, 0) << "the open windows came back from the changelog";
    EXPECT_NE(running.process->log().find("restored"), std::string::npos);
    running.process->signal(SIGTERM);
    ASSERT_EQ(running.process->wait(60s), 0) << running.process->log();

    std::map<WindowKey, std::int64_t> seen;
    std::size_t duplicates = 0;
    for (const auto& record : all) {
      json value = json::parse(*record.value);
      const std::string& user = *record.key;  // string key format: the user name as is
      if (user.rfind("mid-", 0) == 0 || user.rfind("end-", 0) == 0) continue;  // the markers' own windows
      WindowKey window{user, value["window_start"].get<std::int64_t>()};
      EXPECT_EQ(value["window_end"].get<std::int64_t>(), window.second + size_ms);
      duplicates += seen.count(window);
      seen[window] = value["clicks"].get<std::int64_t>();
    }
    EXPECT_EQ(duplicates, 0u) << "emit final: one result per window";
    EXPECT_EQ(seen.size(), expected.size());
    std::size_t wrong = 0;
    for (const auto& [window, count] : expected) {
      auto it = seen.find(window);
      if (it == seen.end() || it->second != count) ++wrong;
    }
    EXPECT_EQ(wrong, 0u) << "every (user, window) count matches the oracle";
    EXPECT_EQ(dead_lettered, 0) << "no record was late or bad";
    std::cout << "[ figures ] windows " << expected.size() << ", closed before the state loss " << closed_in_phase_one
              << ", restored records " << restored << "\n";
  }

  // Phase 3: a clean stop flushed the stores, so a restart with the directory intact replays nothing.
  {
    auto running = start_sluice(path, arguments);
    EXPECT_EQ(metric(running, "sluice_restored_records_total"), 0) << running.process->log();
    running.process->signal(SIGTERM);
    ASSERT_EQ(running.process->wait(60s), 0) << running.process->log();
  }
  std::filesystem::remove_all(state_dir);
}
