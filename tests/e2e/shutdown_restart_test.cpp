// SIGTERM in the middle of a stream, then a restart: at-least-once means every input appears in the output at
// least once, and a clean SIGTERM commits what was processed so the restart does not start over.
#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

TEST(ShutdownRestart, SigtermMidStreamThenRestartLosesNothing) {
  const std::string input = unique_name("restart-in");
  const std::string output = unique_name("restart-out");
  const std::string application_id = unique_name("restart");
  create_topic(input, 4);
  json document = {{"application_id", application_id},
                   {"sources", {{{"name", "in"}, {"topic", input}}}},
                   {"operators", {{{"name", "tagged"}, {"from", "in"}, {"map", {{"doubled", "n * 2"}}}}}},
                   {"sinks", {{{"from", "tagged"}, {"topic", output}}}}};
  std::string path = write_temp_file("restart.json", document.dump());

  constexpr int total = 100'000;
  std::vector<TestRecord> records;
  records.reserve(total);
  for (int i = 0; i < total; ++i) {
    TestRecord record;
    record.key = "k" + std::to_string(i % 1000);
    record.value = json{{"n", i}}.dump();
    records.push_back(std::move(record));
  }
  produce(input, records);

  // First run: stop it with SIGTERM while it is part-way through the input.
  auto first = start_sluice(path);
  ASSERT_TRUE(eventually([&] {
    auto metrics = http_get(first.port, "/metrics").body;
    double consumed = metric_value(metrics, "sluice_records_consumed_total").value_or(0);
    return consumed >= 1000 || !first.process->running();
  }, 120s));
  first.process->signal(SIGTERM);
  ASSERT_EQ(first.process->wait(60s), 0) << first.process->log();
  // A clean shutdown commits: the log says so, and the committed progress is visible on restart below.
  EXPECT_NE(first.process->log().find("stopping: committing and leaving the group"), std::string::npos);

  // Second run: finishes the rest.
  auto second = start_sluice(path);
  auto out = consume(output, total, 180s, 2s);
  // The restart resumed from the offsets the first run committed: it had work left (the SIGTERM really came
  // mid-stream) but did not start over from the beginning.
  double resumed = 0;
  ASSERT_TRUE(eventually([&] {
    resumed = metric_value(http_get(second.port, "/metrics").body, "sluice_records_consumed_total").value_or(0);
    return resumed > 0;
  }, 30s));
  EXPECT_LT(resumed, total);
  second.process->signal(SIGTERM);
  EXPECT_EQ(second.process->wait(60s), 0) << second.process->log();

  std::vector<int> seen(total, 0);
  for (const auto& record : out) {
    json value = json::parse(*record.value);
    int n = value["n"];
    ASSERT_GE(n, 0);
    ASSERT_LT(n, total);
    EXPECT_EQ(value["doubled"], 2 * n);
    ++seen[n];
  }
  int missing = 0, duplicated = 0;
  for (int count : seen) {
    missing += count == 0;
    duplicated += count > 1;
  }
  EXPECT_EQ(missing, 0) << "inputs lost across SIGTERM + restart";
  // A clean SIGTERM commits after the outputs are acknowledged, so the restart does not redo the first run's
  // work (at-least-once permits duplicates, but a graceful stop should not cause any).
  EXPECT_EQ(duplicated, 0);
  std::cout << "[ figures ] outputs " << out.size() << " for " << total << " inputs; second run consumed " << resumed
            << "; duplicates " << duplicated << "\n";
}
