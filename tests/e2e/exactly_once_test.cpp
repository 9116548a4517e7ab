// Exactly-once on the real broker, proved by crashing: a rekey -> repartition -> windowed count over 4 input
// partitions runs under processing_guarantee=exactly_once and is killed with SIGKILL at random moments (seeded
// delays, each once the run is ready and has consumed something), then restarted with the same instance_id
// and state_dir. The committed output, read with read_committed, is compared with an oracle computed here from
// the input:
//   - emit final: every (user, window) result exactly once with the right count, nothing missing or extra;
//   - emit update: the last value of every (user, window) is right, and the counts read for one window are
//     strictly increasing (at-least-once would show a count again after a crash: the replayed inputs
//     recompute values that the aborted transaction had already sent).
// Each restart after a kill must restore only the changelog tail: at most one commit's worth of state changes
// (state_buffer_max_records), never the whole history.
//
// Synchronisation is by committed offsets, never by sleeping: "all input processed" means the group has
// committed past the last record of the input topic and then of the repartition topic (read_committed).
//
// The tests can fail: SLUICE_E2E_GUARANTEE=at_least_once runs them unchanged under at-least-once, where the
// kills make them fail (repartition records produced again after a crash are counted twice: thousands of
// wrong counts in both tests). SLUICE_E2E_SEED picks other kill delays.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/click_workload.hpp"
#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int partitions = 4;
constexpr std::int64_t base_ms = click_base_ms;
constexpr int records_total = 210'000;               // 7 slices of 30,000: one per run
constexpr int users = 5'000;
constexpr int kills = 6;
constexpr std::int64_t state_buffer_max_records = 5'000;
// A restart may replay the last committed transaction's changelog records if the kill came between the
// commit and the local write; one transaction holds at most state_buffer_max_records changes, plus the few
// that the record crossing the bound added (a hopping record touches 3 windows).
constexpr double restore_slack = 64;
constexpr int kill_delay_max_ms = 1'500;

using Event = ClickEvent;
using Input = ClickInput;

Input make_input(std::uint64_t seed, int records, int slices) { return make_clicks(seed, records, slices, partitions, users); }

std::map<WindowKey, std::int64_t> oracle(const std::vector<Event>& events, std::int64_t size, std::int64_t advance) {
  return window_counts(events, size, advance);
}

// exactly_once, unless SLUICE_E2E_GUARANTEE says otherwise: with at_least_once the same tests are expected to
// fail (repeated updates, wrong counts), which shows that they can.
std::string guarantee() {
  const char* value = std::getenv("SLUICE_E2E_GUARANTEE");
  return value != nullptr && *value != '\0' ? value : "exactly_once";
}

double metric(const RunningTopology& running, const std::string& name,
              const std::map<std::string, std::string>& labels = {}) {
  return metric_value(http_get(running.port, "/metrics").body, name, labels).value_or(0);
}

// The kill delays come from this seed (SLUICE_E2E_SEED overrides it, to explore other kill moments).
std::uint64_t kill_seed(std::uint64_t fallback) {
  const char* value = std::getenv("SLUICE_E2E_SEED");
  return value != nullptr && *value != '\0' ? std::strtoull(value, nullptr, 10) : fallback;
}

std::string join(const std::vector<double>& values) {
  std::ostringstream text;
  for (std::size_t i = 0; i < values.size(); ++i) text << (i ? ", " : "") << values[i];
  return text.str();
}

// For the figures only: changelog offsets the run found beyond its local stores, from its log lines "task 1_0:
// restoring 3 changelog records (local store behind)". After a kill these are mostly the killed transaction's
// aborted records and markers, which a read_committed restore skips.
double tail_offsets_in_log(const std::string& log) {
  static const std::string before = ": restoring ", after = " changelog records";
  double total = 0;
  for (auto at = log.find(before); at != std::string::npos; at = log.find(before, at + 1)) {
    auto end = log.find(after, at);
    auto line_end = log.find('\n', at);
    if (end == std::string::npos || end > line_end) continue;
    total += std::atof(log.substr(at + before.size(), end - at - before.size()).c_str());
  }
  return total;
}

// One crash test: the topic names, the topology and what the runs reported.
struct CrashTest {
  std::string input = unique_name("eos-clicks");
  std::string output = unique_name("eos-counts");
  std::string application_id = unique_name("eos");
  std::string state_dir = "/tmp/" + unique_name("eos-state");
  std::string repartition() const { return application_id + "-per_user-repartition"; }
  std::string changelog() const { return application_id + "-per_user-changelog"; }
  std::string dead_letters() const { return application_id + "-dlq"; }
  std::string topology_path;

  std::vector<std::string> arguments() const {
    return {"--set", "processing_guarantee=" + guarantee(),
            "--set", "instance_id=eos-test-instance",
            "--set", "state_dir=" + state_dir,
            "--set", "window_idle_timeout=0",
            "--set", "state_buffer_max_records=" + std::to_string(state_buffer_max_records)};
  }

  // Figures, per run (the last run is never killed).
  std::vector<double> restored, tail_offsets, consumed, changelog_records, committed, aborted;
  std::vector<int> delays_ms;
};

void write_topology(CrashTest& test, const json& window, const std::string& emit) {
  create_topic(test.input, partitions);
  json document = {
      {"application_id", test.application_id},
      {"sources", {{{"name", "clicks"}, {"topic", test.input}, {"timestamp", {{"field", "ts"}}}}}},
      {"operators",
       {{{"name", "by_user"}, {"from", "clicks"}, {"rekey", "user"}},
        {{"name", "per_user"},
         {"from", "by_user"},
         {"window", window},
         {"aggregate", {{"clicks", "count()"}}},
         {"emit", emit}}}},
      {"sinks", {{{"from", "per_user"}, {"topic", test.output}}}}};
  test.topology_path = write_temp_file("eos.json", document.dump(2));
}

void record_run_figures(CrashTest& test, const RunningTopology& running) {
  auto text = http_get(running.port, "/metrics").body;
  test.consumed.push_back(metric_value(text, "sluice_records_consumed_total").value_or(0));
  test.changelog_records.push_back(metric_value(text, "sluice_changelog_records_total").value_or(0));
  test.committed.push_back(metric_value(text, "sluice_transactions_committed_total").value_or(0));
  test.aborted.push_back(metric_value(text, "sluice_transactions_aborted_total").value_or(0));
}

// Runs `kills` + 1 times; before run i, slice i of the input is produced (so every run has work to do). Runs
// 0..kills-1 are killed with SIGKILL a random delay after they are ready and have consumed something; each
// restart must restore no more than one commit's worth of changelog records. Returns the last run, still
// running, once it is ready.
RunningTopology run_with_kills(CrashTest& test, const Input& input, std::uint64_t seed) {
  std::cout << "[ figures ] kill delay seed " << seed << "\n";
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int> delay(0, kill_delay_max_ms);
  for (int run = 0;; ++run) {
    produce(test.input, input.slices.at(static_cast<std::size_t>(run)));
    RunningTopology running = start_sluice(test.topology_path, test.arguments());  // waits for /readyz
    double restored = metric(running, "sluice_restored_records_total");
    test.restored.push_back(restored);
    test.tail_offsets.push_back(tail_offsets_in_log(running.process->log()));
    if (run == 0) {
      EXPECT_EQ(restored, 0) << "a first start has nothing to restore";
    } else {
      EXPECT_LE(restored, static_cast<double>(state_buffer_max_records) + restore_slack)
          << "restart " << run << " after a kill -9 replayed more than one commit's worth of changelog: the "
          << "local store must hold every committed transaction but the last; log:\n" << running.process->log();
    }
    if (run == kills) return running;

    bool consuming = eventually(
        [&] { return metric(running, "sluice_records_consumed_total") > 0 || !running.process->running(); }, 60s);
    if (!consuming || !running.process->running()) {
      throw std::runtime_error("run " + std::to_string(run) + " consumed nothing; log:\n" + running.process->log());
    }
    int wait_ms = delay(random);
    test.delays_ms.push_back(wait_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));  // the test's randomness, not a wait
    record_run_figures(test, running);
    running.process->signal(SIGKILL);
    auto code = running.process->wait(30s);
    if (code != 128 + SIGKILL) {
      throw std::runtime_error("run " + std::to_string(run) + " did not die of SIGKILL (exit " +
                               (code ? std::to_string(*code) : std::string("none")) + "); log:\n" +
                               running.process->log());
    }
  }
}

// Waits until the last run has committed every input through both sub-topologies.
void wait_processed(const CrashTest& test, const RunningTopology& running) {
  std::string why;
  bool done = wait_group_processed(test.application_id, {test.input, test.repartition()}, partitions, 180s, &why);
  if (!done) throw std::runtime_error(why + "\nlog:\n" + running.process->log());
  if (!running.process->running()) throw std::runtime_error("sluice exited; log:\n" + running.process->log());
}

void print_figures(const CrashTest& test, const std::string& what, std::size_t records, std::size_t windows,
                   std::size_t outputs) {
  double changelog_total = 0, committed_total = 0, aborted_total = 0;
  for (double value : test.changelog_records) changelog_total += value;
  for (double value : test.committed) committed_total += value;
  for (double value : test.aborted) aborted_total += value;
  double changelog_offsets = 0;
  for (const auto& [partition, offset] : end_offsets(test.changelog(), partitions)) changelog_offsets += offset;
  std::vector<double> delays(test.delays_ms.begin(), test.delays_ms.end());
  std::cout << "[ figures ] " << what << " (" << guarantee() << "): kills " << kills << ", input records " << records
            << ", windows " << windows << ", output records read " << outputs << "\n"
            << "[ figures ] kill delays after first consumption (ms): " << join(delays) << "\n"
            << "[ figures ] restored records per run (run 0 = first start, then one per kill): "
            << join(test.restored) << "\n"
            << "[ figures ] changelog offsets beyond the local stores per run (aborted records, markers): "
            << join(test.tail_offsets) << "\n"
            << "[ figures ] records consumed per run, input + repartition (killed runs at the kill, then the last): "
            << join(test.consumed) << "\n"
            << "[ figures ] changelog records produced (metric, killed runs + last run): " << changelog_total
            << "; changelog offsets used (incl. aborted and markers): " << changelog_offsets << "\n"
            << "[ figures ] transactions committed " << committed_total << ", aborted " << aborted_total << "\n";
}

void expect_no_dead_letters(const CrashTest& test) {
  auto dead = consume_to_end(test.dead_letters(), partitions, 60s);
  EXPECT_EQ(dead.size(), 0u) << "no record was late or bad (first: "
                             << (dead.empty() ? "" : dead.front().header("sluice.error.message")) << ")";
}

}  // namespace

TEST(ExactlyOnce, KillNineRepeatedlyWindowedCountFinalIsExact) {
  constexpr std::int64_t size_ms = 60'000, advance_ms = 20'000;
  CrashTest test;
  // Grace beyond the input's event-time span: input partitions are consumed unevenly, so the repartitioned
  // stream is out of order by up to the whole span, and no record may be late.
  write_topology(test, {{"type", "hopping"}, {"size", "1m"}, {"advance", "20s"}, {"grace", "2h"}}, "final");
  Input input = make_input(20261121, records_total, kills + 1);
  auto expected = oracle(input.events, size_ms, advance_ms);

  RunningTopology last = run_with_kills(test, input, kill_seed(4242));
  wait_processed(test, last);

  // Every earlier record has reached the keyed tasks and is committed there: now markers far enough in event
  // time to close every window, one per repartition partition (each advances one keyed task's stream time).
  std::int64_t closing_time = base_ms + records_total * 3 + size_ms + 2 * 3'600'000 + 1'000;
  std::vector<TestRecord> markers = closing_markers(partitions, closing_time);
  produce(test.input, markers);
  wait_processed(test, last);
  // Closing may be spread over commits: wait for as many results as there are windows, then read everything
  // up to the end (results beyond that count would be duplicates or extras).
  auto first_read = consume(test.output, expected.size(), 120s);
  ASSERT_GE(first_read.size(), expected.size()) << "windows not closed; log:\n" << last.process->log();
  auto output = consume_to_end(test.output, partitions, 120s);
  record_run_figures(test, last);
  FinalComparison comparison = compare_final(output, expected, size_ms, "clicks");
  EXPECT_EQ(comparison.duplicates, 0u) << "emit final: one result per (user, window)";
  EXPECT_EQ(comparison.missing, 0u) << "windows without a result";
  EXPECT_EQ(comparison.extra, 0u) << "results for windows that have no input";
  EXPECT_EQ(comparison.wrong, 0u) << "counts different from the oracle";
  EXPECT_EQ(comparison.bad_end, 0u);
  EXPECT_EQ(comparison.results, expected.size());
  expect_no_dead_letters(test);
  print_figures(test, "emit final", input.events.size(), expected.size(), output.size());
  std::cout << "[ figures ] " << comparison.describe() << "\n";

  last.process->signal(SIGTERM);
  EXPECT_EQ(last.process->wait(60s), 0) << last.process->log();
  std::filesystem::remove_all(test.state_dir);
}

TEST(ExactlyOnce, KillNineRepeatedlyEmitUpdateNoDuplicateUpdates) {
  constexpr std::int64_t size_ms = 60'000;
  CrashTest test;
  write_topology(test, {{"type", "tumbling"}, {"size", "1m"}, {"grace", "2h"}}, "update");
  Input input = make_input(777, records_total, kills + 1);
  auto expected = oracle(input.events, size_ms, size_ms);

  RunningTopology last = run_with_kills(test, input, kill_seed(99));
  wait_processed(test, last);  // every update is in a committed transaction now
  auto output = consume_to_end(test.output, partitions, 120s);
  record_run_figures(test, last);

  // Per (user, window), the counts in output order (one key is on one partition, so offsets order them).
  // Each update is the window's count after a commit that changed it, so under exactly-once the sequence is
  // strictly increasing; a count that does not increase is an update seen again.
  std::map<WindowKey, std::int64_t> last_value;
  std::size_t repeated = 0, bad_end = 0;
  std::string first_repeat;
  for (const auto& record : output) {
    ASSERT_TRUE(record.key && record.value);
    json value = json::parse(*record.value);
    WindowKey window{*record.key, value.at("window_start").get<std::int64_t>()};
    bad_end += value.at("window_end").get<std::int64_t>() != window.second + size_ms;
    std::int64_t count = value.at("clicks").get<std::int64_t>();
    auto [it, inserted] = last_value.emplace(window, count);
    if (!inserted) {
      if (count <= it->second) {
        if (repeated++ == 0) {
          first_repeat = window.first + "@" + std::to_string(window.second) + ": " + std::to_string(it->second) +
                         " then " + std::to_string(count) + " (partition " + std::to_string(record.partition) +
                         ", offset " + std::to_string(record.offset) + ")";
        }
      }
      it->second = count;
    }
  }
  const auto [missing, wrong, extra] = compare_values(expected, last_value);
  EXPECT_EQ(repeated, 0u) << "updates whose count did not increase (seen again after a crash); first: "
                          << first_repeat;
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(extra, 0u);
  EXPECT_EQ(wrong, 0u) << "last value per (user, window) differs from the oracle";
  EXPECT_EQ(bad_end, 0u);
  expect_no_dead_letters(test);
  print_figures(test, "emit update", input.events.size(), expected.size(), output.size());
  std::cout << "[ figures ] update records " << output.size() << ", repeated (non-increasing) updates " << repeated
            << ", missing " << missing << ", extra " << extra << ", wrong last values " << wrong << "\n";

  last.process->signal(SIGTERM);
  EXPECT_EQ(last.process->wait(60s), 0) << last.process->log();
  std::filesystem::remove_all(test.state_dir);
}
