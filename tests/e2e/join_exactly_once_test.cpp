// Exactly-once of a stream-table join on the real broker, proved by crashing (issue 12): orders are enriched with
// the version of their customer's row in a table that is updated (and rows deleted) while the orders flow. The
// run is killed with SIGKILL at random moments and restarted with the same instance_id and state_dir; the
// committed output (read_committed) is compared with an oracle computed here from the input:
//   - every order exactly once: 0 missing, 0 extra, 0 duplicates;
//   - each order joined the table row current at its event time (the last update of its customer older than
//     the order; null before the first and after a tombstone): 0 wrong. This holds because the task takes its
//     two input partitions in event-time order (every partition is produced in timestamp order; orders have
//     even and table updates odd timestamps, so no tie), and it would not if a restart lost or re-applied table
//     rows, or committed an order whose output was lost.
// Each restart after a kill must restore only the table's tail: at most one commit's worth of table records,
// never the whole table topic.
//
// Synchronisation is by committed offsets (the group has committed past the last record of both topics).
// SLUICE_E2E_GUARANTEE=at_least_once runs it unchanged under at-least-once, where the kills show duplicates.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/click_workload.hpp"
#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int partitions = 4;
constexpr int kills = 6;
constexpr int customers = 400;
constexpr int orders_per_slice = 8'000;
constexpr int updates_per_slice = 1'500;
constexpr std::int64_t slice_ms = 60'000;
constexpr std::int64_t state_buffer_max_records = 2'000;
constexpr double restore_slack = 64;
constexpr int kill_delay_max_ms = 1'500;

std::string guarantee() {
  const char* value = std::getenv("SLUICE_E2E_GUARANTEE");
  return value != nullptr && *value != '\0' ? value : "exactly_once";
}

struct TableUpdate {
  std::string customer;
  std::int64_t t;
  std::optional<int> version;  // nullopt: a tombstone
};

struct Order {
  std::string id;
  std::string customer;
  std::int64_t t;
};

struct Workload {
  std::vector<Order> orders;
  std::vector<TableUpdate> updates;  // in produce order (per partition: timestamp order)
  std::vector<std::vector<TestRecord>> order_slices, update_slices;
};

// Slice i covers event times [base + i * slice_ms, base + (i + 1) * slice_ms): orders at even, updates at odd
// milliseconds; each slice is sorted by time, so each partition is in timestamp order.
Workload make_workload(std::uint64_t seed, std::int64_t base_ms) {
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int> customer(0, customers - 1);
  std::uniform_int_distribution<std::int64_t> half(0, slice_ms / 2 - 1);
  std::uniform_int_distribution<int> percent(0, 99);
  Workload workload;
  int version = 0, order_number = 0;
  for (int slice = 0; slice <= kills; ++slice) {
    const std::int64_t start = base_ms + slice * slice_ms;
    std::vector<TableUpdate> updates;
    for (int i = 0; i < updates_per_slice; ++i) {
      TableUpdate update{"c" + std::to_string(customer(random)), start + 2 * half(random) + 1, std::nullopt};
      if (percent(random) >= 10) update.version = ++version;
      updates.push_back(std::move(update));
    }
    std::stable_sort(updates.begin(), updates.end(), [](const auto& a, const auto& b) { return a.t < b.t; });
    std::vector<Order> orders;
    for (int i = 0; i < orders_per_slice; ++i) {
      orders.push_back(Order{"o" + std::to_string(order_number++), "c" + std::to_string(customer(random)),
                             start + 2 * half(random)});
    }
    std::stable_sort(orders.begin(), orders.end(), [](const auto& a, const auto& b) { return a.t < b.t; });
    std::vector<TestRecord> update_records, order_records;
    for (const auto& update : updates) {
      TestRecord record;
      record.key = update.customer;
      if (update.version) record.value = json{{"version", *update.version}}.dump();
      record.partition = kafka_partition(update.customer, partitions);
      record.timestamp_ms = update.t;
      update_records.push_back(std::move(record));
    }
    for (const auto& order : orders) {
      TestRecord record;
      record.key = order.customer;
      record.value = json{{"id", order.id}}.dump();
      record.partition = kafka_partition(order.customer, partitions);
      record.timestamp_ms = order.t;
      order_records.push_back(std::move(record));
    }
    workload.updates.insert(workload.updates.end(), updates.begin(), updates.end());
    workload.orders.insert(workload.orders.end(), orders.begin(), orders.end());
    workload.update_slices.push_back(std::move(update_records));
    workload.order_slices.push_back(std::move(order_records));
  }
  return workload;
}

// Order id -> the version of its customer's row current at its time (nullopt: no row).
std::map<std::string, std::optional<int>> oracle(const Workload& workload) {
  std::map<std::string, std::vector<const TableUpdate*>> by_customer;  // in time order
  for (const auto& update : workload.updates) by_customer[update.customer].push_back(&update);
  std::map<std::string, std::optional<int>> expected;
  for (const auto& order : workload.orders) {
    std::optional<int> version;
    for (const TableUpdate* update : by_customer[order.customer]) {
      if (update->t > order.t) break;
      version = update->version;
    }
    expected[order.id] = version;
  }
  return expected;
}

std::string join_numbers(const std::vector<double>& values) {
  std::string text;
  for (std::size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + std::to_string(static_cast<long long>(values[i]));
  return text;
}

}  // namespace

TEST(ExactlyOnce, KillNineRepeatedlyStreamTableJoinIsExact) {
  const std::string orders = unique_name("eos-orders"), table = unique_name("eos-customers"),
                    output = unique_name("eos-enriched"), application_id = unique_name("eos-join"),
                    state_dir = "/tmp/" + unique_name("eos-join-state");
  create_topic(orders, partitions);
  create_topic(table, partitions);
  json document = {
      {"application_id", application_id},
      {"sources", {{{"name", "orders"}, {"topic", orders}}}},
      {"tables", {{{"name", "customers"}, {"topic", table}}}},
      {"operators",
       {{{"name", "enriched"},
         {"from", "orders"},
         {"join",
          {{"table", "customers"},
           {"type", "left"},
           // Long enough that a partition not fetched yet is always waited for on this loaded machine.
           {"max_task_idle", "5s"},
           {"select", {{"order", "orders.id"}, {"version", "customers.version"}}}}}}}},
      {"sinks", {{{"from", "enriched"}, {"topic", output}}}}};
  const std::string path = write_temp_file("eos-join.json", document.dump(2));
  const std::vector<std::string> arguments = {
      "--set", "processing_guarantee=" + guarantee(), "--set", "instance_id=eos-join-instance",
      "--set", "state_dir=" + state_dir, "--set", "state_buffer_max_records=" + std::to_string(state_buffer_max_records),
      // A slice is processed in well under a second: a long commit interval makes most kills land with
      // outputs written and not yet committed, the moment exactly-once is about.
      "--set", "commit_interval=2s"};

  // Event times two hours ago: recent enough for any retention, old enough to be all in the past.
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  const Workload workload = make_workload(20261127, now_ms - 2 * 3'600'000);
  const auto expected = oracle(workload);

  std::mt19937_64 random(4711);
  std::uniform_int_distribution<int> delay(0, kill_delay_max_ms);
  std::vector<double> restored, delays;
  std::optional<RunningTopology> last;
  for (int run = 0; run <= kills; ++run) {
    produce(table, workload.update_slices.at(static_cast<std::size_t>(run)));
    produce(orders, workload.order_slices.at(static_cast<std::size_t>(run)));
    RunningTopology running = start_sluice(path, arguments);
    const double run_restored =
        metric_value(http_get(running.port, "/metrics").body, "sluice_restored_records_total").value_or(0);
    restored.push_back(run_restored);
    if (run > 0) {
      EXPECT_LE(run_restored, static_cast<double>(state_buffer_max_records) + restore_slack)
          << "restart " << run << " after a kill -9 restored more than one commit's worth of the table topic; log:\n"
          << running.process->log();
    }
    if (run == kills) {
      last = std::move(running);
      break;
    }
    ASSERT_TRUE(eventually([&] {
      return metric_value(http_get(running.port, "/metrics").body, "sluice_records_consumed_total").value_or(0) > 0 ||
             !running.process->running();
    }, 60s));
    ASSERT_TRUE(running.process->running()) << running.process->log();
    const int wait_ms = delay(random);
    delays.push_back(wait_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));  // the test's randomness, not a wait
    running.process->signal(SIGKILL);
    ASSERT_EQ(running.process->wait(30s), 128 + SIGKILL) << running.process->log();
  }
  std::string why;
  ASSERT_TRUE(wait_group_processed(application_id, {orders, table}, partitions, 180s, &why))
      << why << "\nlog:\n" << last->process->log();

  const auto records = consume_to_end(output, partitions, 120s);
  std::map<std::string, std::optional<int>> seen;
  std::size_t duplicates = 0, extra = 0, wrong = 0, missing = 0;
  std::string first_wrong;
  for (const auto& record : records) {
    ASSERT_TRUE(record.value.has_value());
    const json value = json::parse(*record.value);
    const std::string id = value.at("order").get<std::string>();
    const std::optional<int> version =
        value.at("version").is_null() ? std::nullopt : std::optional<int>(value.at("version").get<int>());
    if (!seen.emplace(id, version).second) ++duplicates;
    auto found = expected.find(id);
    if (found == expected.end()) {
      ++extra;
    } else if (found->second != version && wrong++ == 0) {
      first_wrong = id + " joined " + (version ? std::to_string(*version) : "null") + ", expected " +
                    (found->second ? std::to_string(*found->second) : "null");
    }
  }
  for (const auto& [id, version] : expected) missing += seen.contains(id) ? 0 : 1;
  const std::string metrics = http_get(last->port, "/metrics").body;
  std::cout << "[ figures ] stream-table join (" << guarantee() << "): kills " << kills << ", orders "
            << workload.orders.size() << ", table updates " << workload.updates.size() << ", outputs read "
            << records.size() << "\n"
            << "[ figures ] kill delays (ms): " << join_numbers(delays) << "\n"
            << "[ figures ] restored table records per run (run 0 = first start): " << join_numbers(restored) << "\n"
            << "[ figures ] last run: records processed while an input waited in vain (enforced): "
            << metric_value(metrics, "sluice_enforced_processing_total").value_or(0) << "\n"
            << "[ figures ] missing " << missing << ", extra " << extra << ", duplicates " << duplicates << ", wrong "
            << wrong << "\n";
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(extra, 0u);
  EXPECT_EQ(duplicates, 0u);
  EXPECT_EQ(wrong, 0u) << "first: " << first_wrong;
  EXPECT_TRUE(consume_to_end(application_id + "-dlq", partitions, 60s).empty());

  last->process->signal(SIGTERM);
  EXPECT_EQ(last->process->wait(60s), 0) << last->process->log();
  std::filesystem::remove_all(state_dir);
}
