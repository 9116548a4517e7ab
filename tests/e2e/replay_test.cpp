// Replaying history: clicks whose event times are a year old go through a rekey (a repartition topic) into a
// tumbling window count (emit final), under exactly-once, against the oracle computed from the input. Records
// carry their event time as Kafka timestamp everywhere sluice writes them; the repartition topic must not lose
// them to time-based retention (it has none: sluice deletes what was committed) and the windows must close on
// event time, not wall time.
//
// What this test does not show: the broker deleting by time (the tests' broker has no time retention, see
// scripts/local-kafka). The repartition topic's configuration that prevents it on any broker is checked in
// tests/unit/topology (plan_test), its purge in tests/unit/runtime (processor_fault_test).
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "support/click_workload.hpp"
#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

TEST(Replay, YearOldEventTimesThroughARepartitionAndAWindowAreExact) {
  constexpr int partitions = 4, records = 40'000, users = 500;
  constexpr std::int64_t year_ms = 365LL * 86'400'000, size_ms = 60'000;
  const std::string application_id = unique_name("replay");
  const std::string input = unique_name("replay-clicks");
  const std::string output = unique_name("replay-counts");
  const std::string state_dir = "/tmp/" + application_id;
  // Input and output hold year-old timestamps: on a broker with time retention (the default 7 days) its next
  // check deletes them, active segment included, while the test reads them (what failed CI once: 677 of 1,316
  // windows read, the rest deleted under the reader). Sinks are the user's to configure (README, Reliability).
  const std::map<std::string, std::string> keep{{"retention.ms", "-1"}};
  create_topic(input, partitions, keep);
  create_topic(output, partitions, keep);
  json document = {
      {"application_id", application_id},
      {"sources", {{{"name", "clicks"}, {"topic", input}, {"timestamp", {{"field", "ts"}}}}}},
      {"operators",
       {{{"name", "by_user"}, {"from", "clicks"}, {"rekey", "user"}},
        {{"name", "per_minute"},
         {"from", "by_user"},
         {"window", {{"type", "tumbling"}, {"size", "1m"}, {"grace", "2h"}}},
         {"aggregate", {{"clicks", "count()"}}},
         {"emit", "final"}}}},
      {"sinks", {{{"from", "per_minute"}, {"topic", output}}}}};
  const std::string path = write_temp_file("replay.json", document.dump(2));

  // The shared click workload, moved a year back in event time (values and Kafka timestamps).
  ClickInput clicks = make_clicks(365, records, 1, partitions, users);
  for (auto& event : clicks.events) event.t -= year_ms;
  for (auto& record : clicks.slices[0]) {
    json value = json::parse(*record.value);
    value["ts"] = value["ts"].get<std::int64_t>() - year_ms;
    record.timestamp_ms = value["ts"].get<std::int64_t>();
    record.value = value.dump();
  }
  const auto expected = window_counts(clicks.events, size_ms, size_ms);
  std::int64_t newest = 0;
  for (const auto& event : clicks.events) newest = std::max(newest, event.t);
  auto markers = closing_markers(partitions, newest + size_ms + 2 * 3'600'000 + 1'000);
  for (auto& marker : markers) marker.timestamp_ms = newest;
  produce(input, clicks.slices[0]);
  RunningTopology running = start_sluice(path, {"--set", "processing_guarantee=exactly_once", "--set",
                                                "state_dir=" + state_dir});
  // Every click through both sub-topologies first: a marker overtaking a click still in the repartition topic
  // would make that click late (the input partitions are consumed unevenly).
  std::string why;
  ASSERT_TRUE(wait_group_processed(application_id, {input, application_id + "-per_minute-repartition"}, partitions,
                                   180s, &why))
      << why << "\n" << running.process->log();
  produce(input, markers);
  auto first = consume(output, expected.size(), 180s);
  ASSERT_GE(first.size(), expected.size()) << "windows not closed; log:\n" << running.process->log();
  auto all = consume_to_end(output, partitions, 120s);
  const FinalComparison comparison = compare_final(all, expected, size_ms, "clicks");
  EXPECT_TRUE(comparison.exact()) << comparison.describe();
  EXPECT_EQ(comparison.results, expected.size());
  // Nothing was dead-lettered as late: event time, not wall time, closes the windows.
  const double dead = metric_value(http_get(running.port, "/metrics").body, "sluice_records_dead_lettered_total").value_or(0);
  EXPECT_EQ(dead, 0);
  std::cout << "[ figures ] replay a year back: " << records << " clicks, " << expected.size() << " windows; "
            << comparison.describe() << "\n";
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(60s), 0) << running.process->log();
  std::filesystem::remove_all(state_dir);
}
