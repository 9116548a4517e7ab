// The broker goes away and comes back while sluice is processing under exactly-once: the processor must not
// exit, must become ready again, and the committed output (read_committed) must still be exact.
//
// Topology: rekey by user -> repartition -> table count per user (emit update). Oracle: the number of clicks
// per user. Exactness: the last count of every user equals the oracle, no user is missing or extra, and the
// counts read for one user are strictly increasing (an update seen again would repeat or lower a count).
//
// The broker is restarted with scripts/local-kafka restart (same data directory), which restart_broker()
// refuses unless the tests' broker is the one that script manages. The first part of the input is produced
// before the restart and the restart starts while it is being processed (checked from the metrics: some of it
// consumed, not all); the second part is produced once the broker is back, so processing also has to resume.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "support/click_workload.hpp"
#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int partitions = 4;
constexpr std::int64_t base_ms = 1'795'255'200'000;  // 2026-11-21T10:00:00Z

// exactly_once, unless SLUICE_E2E_GUARANTEE says otherwise (to compare with at_least_once by hand).
std::string guarantee() {
  const char* value = std::getenv("SLUICE_E2E_GUARANTEE");
  return value != nullptr && *value != '\0' ? value : "exactly_once";
}

double metric(const RunningTopology& running, const std::string& name,
              const std::map<std::string, std::string>& labels = {}) {
  return metric_value(http_get(running.port, "/metrics").body, name, labels).value_or(0);
}

}  // namespace

TEST(BrokerRestart, ProcessorRidesOutABrokerRestart) {
  const std::string input = unique_name("br-clicks");
  const std::string output = unique_name("br-totals");
  const std::string application_id = unique_name("broker-restart");
  const std::string state_dir = "/tmp/" + unique_name("br-state");
  const std::string repartition = application_id + "-per_user-repartition";
  create_topic(input, partitions);
  json document = {
      {"application_id", application_id},
      {"sources", {{{"name", "clicks"}, {"topic", input}}}},
      {"operators",
       {{{"name", "by_user"}, {"from", "clicks"}, {"rekey", "user"}},
        {{"name", "per_user"}, {"from", "by_user"}, {"aggregate", {{"clicks", "count()"}}}}}},
      {"sinks", {{{"from", "per_user"}, {"topic", output}}}}};
  std::string path = write_temp_file("broker-restart.json", document.dump(2));

  constexpr int before_restart = 300'000, after_restart = 50'000, users = 3'000;
  std::mt19937_64 random(31337);
  std::map<std::string, std::int64_t> expected;
  auto make = [&](int from, int count) {
    std::vector<TestRecord> records;
    records.reserve(static_cast<std::size_t>(count));
    for (int i = from; i < from + count; ++i) {
      std::string user = "user-" + std::to_string(random() % users);
      ++expected[user];
      TestRecord record;
      record.key = "session-" + std::to_string(random() % 10'000);
      record.value = json{{"user", user}, {"seq", i}}.dump();
      record.partition = i % partitions;
      record.timestamp_ms = base_ms + i;
      records.push_back(std::move(record));
    }
    return records;
  };
  auto first_part = make(0, before_restart);
  auto second_part = make(before_restart, after_restart);
  produce(input, first_part);

  auto running = start_sluice(path, {"--set", "processing_guarantee=" + guarantee(), "--set",
                                     "instance_id=broker-restart-instance", "--set", "state_dir=" + state_dir});
  // Restart the broker while the first part is being processed: some of it consumed, not all.
  double consumed_at_restart = 0;
  ASSERT_TRUE(eventually([&] {
    consumed_at_restart = metric(running, "sluice_records_consumed_total", {{"topic", input}});
    return consumed_at_restart >= 5'000 || !running.process->running();
  }, 120s)) << running.process->log();
  ASSERT_TRUE(running.process->running()) << running.process->log();
  ASSERT_LT(consumed_at_restart, before_restart)
      << "the input was processed before the restart could start: make it larger";
  auto outage = restart_broker();
  double consumed_after_restart = metric(running, "sluice_records_consumed_total", {{"topic", input}});
  ASSERT_TRUE(running.process->running()) << "sluice exited during the broker restart; log:\n"
                                          << running.process->log();

  // Back in business: ready again (it may have noticed the outage only now), and still alive.
  ASSERT_TRUE(eventually([&] {
    return http_get(running.port, "/readyz").status == 200 || !running.process->running();
  }, 120s)) << running.process->log();
  ASSERT_TRUE(running.process->running()) << running.process->log();
  produce(input, second_part);

  std::string why;
  ASSERT_TRUE(wait_group_processed(application_id, {input, repartition}, partitions, 240s, &why))
      << why << "\nlog:\n" << running.process->log();
  ASSERT_TRUE(running.process->running()) << running.process->log();
  auto records = consume_to_end(output, partitions, 120s);

  std::map<std::string, std::int64_t> last;
  std::size_t repeated = 0;
  std::string first_repeat;
  for (const auto& record : records) {
    ASSERT_TRUE(record.key && record.value);
    std::int64_t count = json::parse(*record.value).at("clicks").get<std::int64_t>();
    auto [it, inserted] = last.emplace(*record.key, count);
    if (!inserted) {
      if (count <= it->second && repeated++ == 0) {
        first_repeat = *record.key + ": " + std::to_string(it->second) + " then " + std::to_string(count);
      }
      it->second = count;
    }
  }
  const auto [missing, wrong, extra] = compare_values(expected, last);
  EXPECT_EQ(repeated, 0u) << "an update was seen again: " << first_repeat;
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(extra, 0u);
  EXPECT_EQ(wrong, 0u) << "last count per user differs from the oracle";

  auto metrics = http_get(running.port, "/metrics").body;
  std::cout << "[ figures ] " << guarantee() << ": input " << before_restart + after_restart << " records ("
            << after_restart << " after the restart), users " << users << ", consumed when the restart began "
            << consumed_at_restart << ", when the broker was back " << consumed_after_restart
            << ", restart script took " << outage.count() << " ms (stop + start)\n"
            << "[ figures ] output updates " << records.size() << ", repeated " << repeated << ", wrong " << wrong
            << ", missing " << missing << "; transactions committed "
            << metric_value(metrics, "sluice_transactions_committed_total").value_or(-1) << ", aborted "
            << metric_value(metrics, "sluice_transactions_aborted_total").value_or(-1) << ", commit failures "
            << metric_value(metrics, "sluice_commit_failures_total").value_or(-1) << ", rebalances "
            << metric_value(metrics, "sluice_rebalances_total").value_or(-1) << "\n";

  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(60s), 0) << running.process->log();
  std::filesystem::remove_all(state_dir);
}
