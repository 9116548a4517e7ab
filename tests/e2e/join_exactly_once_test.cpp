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
#include <functional>
#include <set>
#include <stdexcept>
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

// Runs sluice kills + 1 times; before run i, `produce_slice(i)` writes slice i of the input. Runs 0..kills-1 are
// killed with SIGKILL a seeded delay after they have consumed something; every restart must restore at most one
// commit's worth of state. Returns the last run, still running. Throws on a run that misbehaves.
struct KillRuns {
  std::vector<double> restored, delays;
};

RunningTopology run_with_kills(const std::string& path, const std::vector<std::string>& arguments,
                               const std::function<void(int run)>& produce_slice, std::uint64_t seed, KillRuns& runs) {
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int> delay(0, kill_delay_max_ms);
  for (int run = 0;; ++run) {
    produce_slice(run);
    RunningTopology running = start_sluice(path, arguments);
    const double restored =
        metric_value(http_get(running.port, "/metrics").body, "sluice_restored_records_total").value_or(0);
    runs.restored.push_back(restored);
    if (run > 0) {
      EXPECT_LE(restored, static_cast<double>(state_buffer_max_records) + restore_slack)
          << "restart " << run << " after a kill -9 restored more than one commit's worth of state; log:\n"
          << running.process->log();
    }
    if (run == kills) return running;
    const bool consuming = eventually([&] {
      return metric_value(http_get(running.port, "/metrics").body, "sluice_records_consumed_total").value_or(0) > 0 ||
             !running.process->running();
    }, 60s);
    if (!consuming || !running.process->running()) {
      throw std::runtime_error("run " + std::to_string(run) + " consumed nothing; log:\n" + running.process->log());
    }
    const int wait_ms = delay(random);
    runs.delays.push_back(wait_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));  // the test's randomness, not a wait
    running.process->signal(SIGKILL);
    if (running.process->wait(30s) != 128 + SIGKILL) {
      throw std::runtime_error("run " + std::to_string(run) + " did not die of SIGKILL; log:\n" + running.process->log());
    }
  }
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
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
  const Workload workload = make_workload(20261127, now_ms() - 2 * 3'600'000);
  const auto expected = oracle(workload);

  KillRuns runs;
  std::optional<RunningTopology> last = run_with_kills(path, arguments, [&](int run) {
    produce(table, workload.update_slices.at(static_cast<std::size_t>(run)));
    produce(orders, workload.order_slices.at(static_cast<std::size_t>(run)));
  }, 4711, runs);
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
            << "[ figures ] kill delays (ms): " << join_numbers(runs.delays) << "\n"
            << "[ figures ] restored table records per run (run 0 = first start): " << join_numbers(runs.restored) << "\n"
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

// The windowed stream-stream left join under the same kills: clicks (the `from` side) joined with the
// impressions of the same id shown up to 5 minutes before them. Every pair must come out exactly once, and
// every click without one exactly once as unmatched, when its window has closed (stream time moved past every
// window by a later impression per partition at the end). Grace (1 h) exceeds the data's disorder, so no
// record is late and the oracle needs no timing: it is the set of (click, impression) pairs within the window,
// plus (click, null) for the clicks with none.
TEST(ExactlyOnce, KillNineRepeatedlyWindowedLeftJoinIsExact) {
  constexpr int keys = 2'000, impressions_per_slice = 3'000, clicks_per_slice = 6'000;
  constexpr std::int64_t before_ms = 5 * 60'000;
  const std::string impressions = unique_name("eos-impressions"), clicks = unique_name("eos-clicks"),
                    output = unique_name("eos-attributed"), application_id = unique_name("eos-wjoin"),
                    state_dir = "/tmp/" + unique_name("eos-wjoin-state");
  create_topic(impressions, partitions);
  create_topic(clicks, partitions);
  json document = {
      {"application_id", application_id},
      {"sources", {{{"name", "clicks"}, {"topic", clicks}}, {{"name", "impressions"}, {"topic", impressions}}}},
      {"operators",
       {{{"name", "attributed"},
         {"from", "clicks"},
         {"join",
          {{"stream", "impressions"},
           {"type", "left"},
           {"within", {{"before", "5m"}, {"after", "0s"}}},
           {"grace", "1h"},
           {"select", {{"click", "clicks.id"}, {"impression", "impressions.id"}}}}}}}},
      {"sinks", {{{"from", "attributed"}, {"topic", output}}}}};
  const std::string path = write_temp_file("eos-wjoin.json", document.dump(2));
  const std::vector<std::string> arguments = {
      "--set", "processing_guarantee=" + guarantee(), "--set", "instance_id=eos-wjoin-instance",
      "--set", "state_dir=" + state_dir, "--set", "state_buffer_max_records=" + std::to_string(state_buffer_max_records),
      "--set", "commit_interval=2s", "--set", "window_idle_timeout=0"};

  // Slice i spans 3 minutes of event time; a click can match impressions of its own or the previous slices.
  const std::int64_t base = now_ms() - 2 * 3'600'000;
  constexpr std::int64_t slice_span = 3 * 60'000;
  std::mt19937_64 random(20261128);
  std::uniform_int_distribution<int> key(0, keys - 1);
  std::uniform_int_distribution<std::int64_t> offset(0, slice_span - 1);
  struct Shown {
    std::string key, id;
    std::int64_t t;
  };
  std::vector<Shown> all_impressions, all_clicks;
  std::vector<std::vector<TestRecord>> impression_slices, click_slices;
  auto record = [](const Shown& event) {
    TestRecord out;
    out.key = event.key;
    out.value = json{{"id", event.id}}.dump();
    out.partition = kafka_partition(event.key, partitions);
    out.timestamp_ms = event.t;
    return out;
  };
  for (int slice = 0; slice <= kills; ++slice) {
    std::vector<TestRecord> shown, clicked;
    for (int i = 0; i < impressions_per_slice; ++i) {
      Shown event{"k" + std::to_string(key(random)), "i" + std::to_string(all_impressions.size()),
                  base + slice * slice_span + offset(random)};
      all_impressions.push_back(event);
      shown.push_back(record(event));
    }
    for (int i = 0; i < clicks_per_slice; ++i) {
      Shown event{"k" + std::to_string(key(random)), "c" + std::to_string(all_clicks.size()),
                  base + slice * slice_span + offset(random)};
      all_clicks.push_back(event);
      clicked.push_back(record(event));
    }
    impression_slices.push_back(std::move(shown));
    click_slices.push_back(std::move(clicked));
  }
  std::multiset<std::pair<std::string, std::string>> expected;  // (click, impression or "null")
  std::map<std::string, std::vector<const Shown*>> impressions_of;
  for (const auto& shown : all_impressions) impressions_of[shown.key].push_back(&shown);
  for (const auto& click : all_clicks) {
    bool matched = false;
    for (const Shown* shown : impressions_of[click.key]) {
      if (shown->t >= click.t - before_ms && shown->t <= click.t) {
        expected.emplace(click.id, shown->id);
        matched = true;
      }
    }
    if (!matched) expected.emplace(click.id, "null");
  }

  KillRuns runs;
  RunningTopology last = run_with_kills(path, arguments, [&](int run) {
    produce(impressions, impression_slices.at(static_cast<std::size_t>(run)));
    produce(clicks, click_slices.at(static_cast<std::size_t>(run)));
  }, 8128, runs);
  // Every record processed and committed first; then close every window: an impression a day later on each
  // partition of the impressions topic (sent earlier, it could overtake clicks not yet fetched and make them late).
  std::string why;
  ASSERT_TRUE(wait_group_processed(application_id, {clicks, impressions}, partitions, 180s, &why))
      << why << "\nlog:\n" << last.process->log();
  std::vector<TestRecord> markers;
  for (int partition = 0; partition < partitions; ++partition) {
    markers.push_back(record(Shown{"marker-" + std::to_string(partition), "marker", base + 24 * 3'600'000}));
    markers.back().partition = partition;
  }
  produce(impressions, markers);
  ASSERT_TRUE(wait_group_processed(application_id, {clicks, impressions}, partitions, 180s, &why))
      << why << "\nlog:\n" << last.process->log();

  std::multiset<std::pair<std::string, std::string>> actual;
  for (const auto& out : consume_to_end(output, partitions, 120s)) {
    ASSERT_TRUE(out.value.has_value());
    const json value = json::parse(*out.value);
    actual.emplace(value.at("click").get<std::string>(),
                   value.at("impression").is_null() ? "null" : value.at("impression").get<std::string>());
  }
  std::size_t missing = 0, extra = 0, duplicates = 0, unmatched = 0;
  std::set<std::pair<std::string, std::string>> distinct(actual.begin(), actual.end());
  duplicates = actual.size() - distinct.size();
  for (const auto& pair : expected) {
    missing += distinct.contains(pair) ? 0 : 1;
    unmatched += pair.second == "null" ? 1 : 0;
  }
  for (const auto& pair : distinct) extra += expected.contains(pair) ? 0 : 1;
  std::cout << "[ figures ] windowed left join (" << guarantee() << "): kills " << kills << ", clicks "
            << all_clicks.size() << ", impressions " << all_impressions.size() << ", expected results "
            << expected.size() << " (" << unmatched << " unmatched clicks), outputs read " << actual.size() << "\n"
            << "[ figures ] kill delays (ms): " << join_numbers(runs.delays) << "\n"
            << "[ figures ] restored changelog records per run (run 0 = first start): " << join_numbers(runs.restored)
            << "\n"
            << "[ figures ] missing " << missing << ", extra " << extra << ", duplicates " << duplicates << "\n";
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(extra, 0u);
  EXPECT_EQ(duplicates, 0u);
  const auto dead = consume_to_end(application_id + "-dlq", partitions, 60s);
  EXPECT_TRUE(dead.empty()) << dead.size() << " dead letters, the first: " << dead.front().header("sluice.error.kind")
                            << ": " << dead.front().header("sluice.error.message");

  last.process->signal(SIGTERM);
  EXPECT_EQ(last.process->wait(60s), 0) << last.process->log();
  std::filesystem::remove_all(state_dir);
}
