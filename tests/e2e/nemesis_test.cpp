// Nemesis tests on the real broker: sluice runs as child processes under exactly_once while something in its
// environment misbehaves, and the committed output (read_committed) is compared with an oracle computed here
// from the input: 0 inputs lost (beyond what retention deleted), 0 counted twice, no update seen twice, and no
// aborted record read.
//   - Zombie (two variants): one of two instances of a dynamic group is frozen with SIGSTOP past its session
//     timeout while the other takes over its partitions, then thawed with SIGCONT. Past the transaction
//     timeout (the broker aborts its open transaction, and the survivor has processed everything meanwhile),
//     and within it (the zombie's transaction is still open when it wakes, so only the group generation sent
//     with its offsets, KIP-447, can fence it). If it froze between sending its offsets and ending its commit,
//     the survivor owns the partitions but waits for those pending offsets until the zombie's transaction ends
//     (its thaw, or the broker's abort): both variants take that as the takeover.
//   - BrokerFrozen: the broker's JVM is frozen with SIGSTOP for 40 s (beyond librdkafka's 30 s request timeout)
//     while commits are under way, then thawed. Not checked here: /readyz answers 200 "processing" and nothing
//     is logged during the freeze, while the processing loop waits in send_offsets_to_transaction (a finding
//     against DESIGN.md's "say so truthfully in /readyz and the log", reported separately).
//   - KillNineDuringRestore: a stateful topology with a big changelog; kill -9 mid-processing, a restart that
//     lost its state directory (a new node) is killed again while /readyz says it is restoring, and a third
//     start resumes from the partly restored store.
//   - RebalanceDuringRestore: a second instance joins the group while the first restores every task.
//   - CommittedOffsetBelowLogStart: the group's committed input offsets are deleted from under it
//     (DeleteRecords, as retention would) while it is stopped. The consumer resets to the new log start
//     (auto.offset.reset=earliest) and librdkafka's WARN line about it reaches sluice's log, which the test
//     requires; no sluice metric counts the reset or the offsets skipped.
//
// Workload (all but the last): user clicks (click_workload.hpp) re-keyed by user through a repartition topic
// into a table count per user, emit update. Exactness: the last count of every user equals the oracle, no user
// is missing or extra, the counts read for one user are strictly increasing (an update seen again would
// repeat or lower a count; an input counted twice would leave a wrong last count), and the repartition topic
// holds each input exactly once.
// Synchronisation is by conditions polled with deadlines (ready, assigned partitions, committed offsets,
// metrics); the only timed wait is the nemesis's own duration (the broker freeze).
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/click_workload.hpp"
#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int partitions = 6;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double metric(const RunningTopology& running, const std::string& name,
              const std::map<std::string, std::string>& labels = {}) {
  return metric_value(http_get(running.port, "/metrics").body, name, labels).value_or(0);
}

bool ready(const RunningTopology& running) { return http_get(running.port, "/readyz").status == 200; }

std::string readiness_reason(const RunningTopology& running) {
  auto answer = http_get(running.port, "/readyz");
  if (answer.status == 0) return "(no answer)";
  try {
    return json::parse(answer.body).value("reason", "");
  } catch (const std::exception&) {
    return answer.body;
  }
}

double assigned(const RunningTopology& running) { return metric(running, "sluice_assigned_partitions"); }

// The log lines that contain any of `needles`, at most `limit` of them: the excerpt a failure or a figure
// quotes.
std::string log_lines(const std::string& log, const std::vector<std::string>& needles, std::size_t limit = 12) {
  std::istringstream lines(log);
  std::string line, excerpt;
  std::size_t taken = 0;
  while (std::getline(lines, line) && taken < limit) {
    for (const auto& needle : needles) {
      if (line.find(needle) != std::string::npos) {
        excerpt += "    " + line + "\n";
        ++taken;
        break;
      }
    }
  }
  return excerpt;
}

std::string join(const std::set<std::string>& values) {
  std::string text;
  for (const auto& value : values) text += (text.empty() ? "'" : ", '") + value + "'";
  return text;
}

std::string logs_of(const std::vector<const RunningTopology*>& instances) {
  std::string logs;
  for (const auto* instance : instances) logs += "\n---- instance log " + instance->process->log_path() + ":\n" + instance->process->log();
  return logs;
}

// Clicks per user: the oracle of the table count.
std::map<std::string, std::int64_t> clicks_per_user(const std::vector<ClickEvent>& events) {
  std::map<std::string, std::int64_t> counts;
  for (const auto& event : events) ++counts[event.user];
  return counts;
}

// The table's updates compared with the oracle.
struct UpdateComparison {
  std::size_t updates = 0, repeated = 0, missing = 0, wrong = 0, extra = 0;
  std::string first_repeat;
  bool exact() const { return repeated == 0 && missing == 0 && wrong == 0 && extra == 0; }
  std::string describe() const {
    return "updates " + std::to_string(updates) + ", repeated (non-increasing) " + std::to_string(repeated) +
           ", missing users " + std::to_string(missing) + ", wrong last counts " + std::to_string(wrong) +
           ", extra users " + std::to_string(extra) + (first_repeat.empty() ? "" : " (first repeat: " + first_repeat + ")");
  }
};

UpdateComparison compare_updates(const std::vector<TestRecord>& output, const std::map<std::string, std::int64_t>& expected) {
  UpdateComparison comparison;
  std::map<std::string, std::int64_t> last;
  for (const auto& record : output) {
    ++comparison.updates;
    if (!record.key || !record.value) {
      ++comparison.extra;
      continue;
    }
    std::int64_t count = json::parse(*record.value).at("clicks").get<std::int64_t>();
    auto [it, inserted] = last.emplace(*record.key, count);
    if (inserted) continue;
    // One key lives on one partition, so output order is offset order: counts must strictly increase.
    if (count <= it->second && comparison.repeated++ == 0) {
      comparison.first_repeat = *record.key + ": " + std::to_string(it->second) + " then " + std::to_string(count) +
                                " (partition " + std::to_string(record.partition) + ", offset " +
                                std::to_string(record.offset) + ")";
    }
    it->second = count;
  }
  const MapDifference difference = compare_values(expected, last);
  comparison.missing = difference.missing;
  comparison.wrong = difference.wrong;
  comparison.extra += difference.extra;
  return comparison;
}

// One application: clicks re-keyed by user, counted per user (a table, emit update).
struct ClickCounts {
  std::string id;
  std::string input, output;
  std::string topology_path;
  std::vector<std::string> state_dirs;

  explicit ClickCounts(const std::string& prefix)
      : id(unique_name(prefix)), input(unique_name(prefix + "-clicks")), output(unique_name(prefix + "-counts")) {
    create_topic(input, partitions);
    json document = {
        {"application_id", id},
        {"sources", {{{"name", "clicks"}, {"topic", input}, {"timestamp", {{"field", "ts"}}}}}},
        {"operators",
         {{{"name", "by_user"}, {"from", "clicks"}, {"rekey", "user"}},
          {{"name", "per_user"}, {"from", "by_user"}, {"aggregate", {{"clicks", "count()"}}}}}},
        {"sinks", {{{"from", "per_user"}, {"topic", output}}}}};
    topology_path = write_temp_file(prefix + ".json", document.dump(2));
  }
  ~ClickCounts() {
    for (const auto& dir : state_dirs) std::filesystem::remove_all(dir);
  }
  ClickCounts(const ClickCounts&) = delete;
  ClickCounts& operator=(const ClickCounts&) = delete;

  std::string repartition() const { return id + "-per_user-repartition"; }
  std::string changelog() const { return id + "-per_user-changelog"; }
  std::string dead_letters() const { return id + "-dlq"; }

  // The state directory of instance `name` (kept across its restarts, like a pod's volume).
  std::string state_dir(const std::string& name) {
    std::string dir = "/tmp/" + id + "-" + name;
    if (std::find(state_dirs.begin(), state_dirs.end(), dir) == state_dirs.end()) state_dirs.push_back(dir);
    return dir;
  }

  // exactly_once; `instance_id` empty means dynamic membership (transactional id from the state directory).
  std::vector<std::string> arguments(const std::string& name, const std::string& instance_id,
                                     const std::vector<std::string>& settings = {}) {
    std::vector<std::string> arguments = {"--set", "processing_guarantee=exactly_once", "--set",
                                          "state_dir=" + state_dir(name)};
    if (!instance_id.empty()) arguments.insert(arguments.end(), {"--set", "instance_id=" + instance_id});
    for (const auto& setting : settings) arguments.insert(arguments.end(), {"--set", setting});
    return arguments;
  }

  void wait_processed(const std::vector<const RunningTopology*>& running, std::chrono::seconds timeout = 180s) const {
    std::string why;
    if (!wait_group_processed(id, {input, repartition()}, partitions, timeout, &why)) {
      throw std::runtime_error(why + logs_of(running));
    }
  }

  // Reads the committed output and compares it with the oracle; prints the figures.
  UpdateComparison check(const ClickInput& clicks, const std::string& test) const {
    auto committed = consume_to_end(output, partitions, 120s);
    auto everything = consume_to_end_uncommitted(output, partitions, 120s);
    auto repartition_committed = consume_to_end(repartition(), partitions, 120s);
    auto repartition_everything = consume_to_end_uncommitted(repartition(), partitions, 120s);
    auto dead = consume_to_end(dead_letters(), partitions, 60s);
    EXPECT_EQ(dead.size(), 0u) << "no record is bad (first: "
                               << (dead.empty() ? "" : dead.front().header("sluice.error.message")) << ")";
    // sluice deletes repartition records its readers have committed (every 30 s): the count is exact only
    // while nothing was deleted.
    std::int64_t purged_offsets = 0;
    for (const auto& [partition, offset] : start_offsets(repartition(), partitions)) purged_offsets += offset;
    if (purged_offsets == 0) {
      EXPECT_EQ(repartition_committed.size(), clicks.events.size())
          << "the repartition topic holds each input once (read_committed)";
    } else {
      EXPECT_LE(repartition_committed.size(), clicks.events.size()) << "more repartition records than inputs";
    }
    auto comparison = compare_updates(committed, clicks_per_user(clicks.events));
    std::cout << "[ figures ] " << test << ": input records " << clicks.events.size() << ", users "
              << clicks_per_user(clicks.events).size() << "; output (read_committed) " << comparison.describe()
              << "\n[ figures ] " << test << ": aborted records left in the topics (read_uncommitted minus "
              << "read_committed): output " << everything.size() - committed.size() << ", repartition "
              << repartition_everything.size() - repartition_committed.size() << " (repartition offsets already "
              << "deleted by sluice's purge: " << purged_offsets << ")\n";
    return comparison;
  }
};

// SIGTERM to every instance still running; each must commit and exit 0.
void stop_all(const std::vector<RunningTopology*>& instances) {
  for (auto* instance : instances) {
    if (!instance->process->running()) continue;
    instance->process->signal(SIGTERM);
    EXPECT_EQ(instance->process->wait(60s), 0) << instance->process->log();
  }
}

void wait_consuming(const RunningTopology& running, double more_than = 0) {
  bool consuming = eventually(
      [&] { return metric(running, "sluice_records_consumed_total") > more_than || !running.process->running(); },
      120s);
  if (!consuming || !running.process->running()) {
    throw std::runtime_error("instance consumed nothing more; log:\n" + running.process->log());
  }
}

// ---- Zombie -----------------------------------------------------------------------------------------------

struct ZombieFigures {
  double takeover_seconds = 0, frozen_seconds = 0, settle_seconds = 0;
  std::optional<int> zombie_exit;
};

// Two dynamic members a and b; a is frozen mid-work until b owns every partition (and, with
// `wait_for_survivor_to_process`, until b has also processed all input produced so far), then thawed.
// Afterwards a either exits or rejoins; the rest of the input is processed and the output compared.
void run_zombie(const std::string& test, const std::string& transaction_timeout, bool wait_for_survivor_to_process) {
  ClickCounts application("zombie");
  ClickInput clicks = make_clicks(test.size() * 7919, 120'000, 4, partitions, 3'000);
  const std::vector<std::string> settings = {"session_timeout=6s", "transaction_timeout=" + transaction_timeout,
                                             "window_idle_timeout=0"};
  ZombieFigures figures;

  produce(application.input, clicks.slices[0]);
  RunningTopology a = start_sluice(application.topology_path, application.arguments("a", "", settings));
  wait_consuming(a);
  RunningTopology b = start_sluice(application.topology_path, application.arguments("b", "", settings));
  ASSERT_TRUE(eventually([&] { return assigned(a) + assigned(b) == 2 * partitions && ready(a) && ready(b); }, 120s))
      << "the group of two did not settle" << logs_of({&a, &b});
  ASSERT_GT(assigned(a), 0) << "a owns nothing: freezing it would test nothing";

  // Freeze a while it works: it has consumed new input since the last figure, so a transaction is open.
  produce(application.input, clicks.slices[1]);
  double consumed_by_a = metric(a, "sluice_records_consumed_total");
  wait_consuming(a, consumed_by_a);
  const double a_committed_before = metric(a, "sluice_transactions_committed_total");
  const double a_partitions = assigned(a);
  const double b_rebalances = metric(b, "sluice_rebalances_total");
  const std::size_t a_log_at_freeze = a.process->log().size();
  a.process->signal(SIGSTOP);
  auto frozen = std::chrono::steady_clock::now();

  // b notices a's silence after the session timeout and takes every partition, and starts processing them, or,
  // if a was frozen between sending its offsets to its transaction and ending it (a commit's flush lies between
  // the two), waits for those pending offsets (KIP-447) until a's transaction ends: a's thaw, or the broker's abort
  // after the transaction timeout (CI once froze a there, and waited 60 s for b to be ready).
  // While it waits, b counts none of them as assigned yet.
  HttpResult b_ready_at_takeover;
  bool taken_over = eventually(
      [&] {
        b_ready_at_takeover = http_get(b.port, "/readyz");
        if (b_ready_at_takeover.body.find("waiting for the committed offsets") != std::string::npos) return true;
        return b_ready_at_takeover.status == 200 && assigned(b) == 2 * partitions;
      },
      60s);
  figures.takeover_seconds = seconds_since(frozen);
  ASSERT_TRUE(taken_over) << "b did not take over a's partitions (b: " << assigned(b) << " partitions, /readyz "
                          << http_get(b.port, "/readyz").body << ", /healthz " << http_get(b.port, "/healthz").body
                          << ")" << logs_of({&a, &b});
  EXPECT_GT(metric(b, "sluice_rebalances_total"), b_rebalances);
  // a's last heartbeat came at most one heartbeat interval (librdkafka: 3 s) before the freeze.
  EXPECT_GE(figures.takeover_seconds, 3.0) << "b took over before a's session (6 s) could have expired";
  if (wait_for_survivor_to_process) {
    // b keeps processing, a's partitions included: new input, and everything must get through both
    // sub-topologies. a's open transaction holds back read_committed reads of the repartition partitions it
    // wrote until the broker aborts it (transaction_timeout), so this takes at least that long.
    produce(application.input, clicks.slices[2]);
    application.wait_processed({&b}, 120s);
  }
  a.process->signal(SIGCONT);
  figures.frozen_seconds = seconds_since(frozen);
  auto thawed = std::chrono::steady_clock::now();

  // The zombie either stops (fenced) or rejoins: the group settles with every partition owned once.
  bool settled = eventually(
      [&] {
        if (!a.process->running()) return assigned(b) == 2 * partitions && ready(b);
        return assigned(a) + assigned(b) == 2 * partitions && ready(a) && ready(b);
      },
      120s);
  figures.settle_seconds = seconds_since(thawed);
  ASSERT_TRUE(settled) << "the group did not settle after the zombie woke" << logs_of({&a, &b});
  figures.zombie_exit = a.process->wait(0ms);
  if (!wait_for_survivor_to_process) produce(application.input, clicks.slices[2]);
  produce(application.input, clicks.slices[3]);
  std::vector<const RunningTopology*> running = {&b};
  if (a.process->running()) running.push_back(&a);
  application.wait_processed(running);

  const std::string a_log = a.process->log();
  const double a_committed_after =
      a.process->running() ? metric(a, "sluice_transactions_committed_total") : a_committed_before;
  auto comparison = application.check(clicks, test);
  EXPECT_TRUE(comparison.exact()) << comparison.describe() << logs_of({&a, &b});
  std::cout << "[ figures ] " << test << ": a owned " << a_partitions << " of " << 2 * partitions
            << " partitions when frozen; b owned all " << figures.takeover_seconds << " s after the freeze; a was "
            << "thawed after " << figures.frozen_seconds << " s; the group settled " << figures.settle_seconds
            << " s after the thaw; a "
            << (figures.zombie_exit ? "exited with " + std::to_string(*figures.zombie_exit)
                                    : std::string("rejoined and kept running"))
            << "; b when it owned them all: " << (b_ready_at_takeover.status == 200 ? std::string("ready")
                                                 : "not ready, " + b_ready_at_takeover.body)
            << "; a's transactions committed before the freeze " << a_committed_before << ", after it "
            << a_committed_after << "\n[ figures ] " << test << ": what a logged after the thaw:\n"
            << log_lines(a_log.substr(std::min(a_log.size(), a_log_at_freeze)),
                         {"fenced", "lost", "abort", "Abort", "failed", "FATAL", "fatal", "revoked", "generation",
                          "rewound", "stopping"},
                         16);
  std::vector<RunningTopology*> to_stop = {&b, &a};
  stop_all(to_stop);
}

}  // namespace

TEST(Nemesis, ZombieFrozenPastTransactionTimeoutIsFencedAndOutputExact) {
  // transaction_timeout 10s: while a is frozen the broker aborts its open transaction, and b processes every
  // input produced meanwhile before a wakes.
  run_zombie("zombie past transaction timeout", "10s", true);
}

TEST(Nemesis, ZombieThawedWithinTransactionTimeoutIsFencedByGenerationAndOutputExact) {
  // transaction_timeout 60s: a wakes as soon as b owns its partitions, its transaction still open; only the
  // group generation sent with its offsets (KIP-447) can stop it from committing what b now processes too.
  run_zombie("zombie within transaction timeout", "60s", false);
}

// ---- Broker frozen ----------------------------------------------------------------------------------------

namespace {

// The broker frozen for 40 s while commits are under way; `settings` are extra --set assignments.
void freeze_broker_mid_commits(const std::string& name, const std::vector<std::string>& settings) {
  ClickCounts application(name);
  ClickInput clicks = make_clicks(4040, 250'000, 2, partitions, 3'000);
  constexpr auto freeze = 40s;  // beyond librdkafka's request.timeout.ms (30 s); below session_timeout (45 s)

  produce(application.input, clicks.slices[0]);
  RunningTopology running = start_sluice(application.topology_path,
                                         application.arguments("only", application.id + "-only", settings));
  // Freeze while commits are under way: a transaction committed, some of the first slice consumed, not all.
  double consumed_at_freeze = 0;
  ASSERT_TRUE(eventually([&] {
    auto metrics = http_get(running.port, "/metrics").body;
    consumed_at_freeze =
        metric_value(metrics, "sluice_records_consumed_total", {{"topic", application.input}}).value_or(0);
    return (consumed_at_freeze >= 5'000 &&
            metric_value(metrics, "sluice_transactions_committed_total").value_or(0) >= 1) ||
           !running.process->running();
  }, 120s)) << running.process->log();
  ASSERT_TRUE(running.process->running()) << running.process->log();
  ASSERT_LT(consumed_at_freeze, static_cast<double>(clicks.slices[0].size())) << "the input was processed before the freeze";
  const double committed_at_freeze = metric(running, "sluice_transactions_committed_total");

  std::set<std::string> reasons_during_freeze;  // what /readyz said while the broker was frozen
  std::int64_t longest_loop_silence_ms = 0;     // /healthz: how long the processing loop went without a beat
  bool exited_during_freeze = false;
  const std::size_t log_before_freeze = running.process->log().size();
  std::string log_during_freeze;
  auto frozen_at = std::chrono::steady_clock::now();
  {
    FrozenBroker broker;
    // The freeze lasts `freeze`; meanwhile the processor must stay alive (polled every 50 ms).
    exited_during_freeze = eventually([&] {
      auto readiness = http_get(running.port, "/readyz");
      reasons_during_freeze.insert(std::to_string(readiness.status) + " " + readiness_reason(running));
      auto health = http_get(running.port, "/healthz");
      try {
        longest_loop_silence_ms =
            std::max(longest_loop_silence_ms, json::parse(health.body).value("loop_silent_ms", std::int64_t{0}));
      } catch (const std::exception&) {
      }
      return !running.process->running();
    }, freeze);
    log_during_freeze = running.process->log().substr(log_before_freeze);
    broker.thaw();
  }
  const double frozen_seconds = seconds_since(frozen_at);
  ASSERT_FALSE(exited_during_freeze) << "sluice exited while the broker was frozen; log:\n" << running.process->log();
  // Truthful while it lasts: some librdkafka calls block past their timeout against a frozen broker; /readyz
  // must say the thread waits for the cluster, and the log must say so before the broker is back.
  bool said_not_ready = false;
  std::string seen;
  for (const auto& answer : reasons_during_freeze) {
    said_not_ready = said_not_ready || answer.rfind("503", 0) == 0;
    seen += "\n    " + answer;
  }
  EXPECT_TRUE(said_not_ready) << "/readyz said ready through a " << freeze.count() << " ms broker freeze:" << seen;
  EXPECT_TRUE(log_during_freeze.find("WARN") != std::string::npos) << "nothing logged during the freeze:\n"
                                                                     << log_during_freeze;

  // Recovery: commits succeed again (the transaction counter moves) and the instance is ready.
  auto thawed = std::chrono::steady_clock::now();
  double committed_after_freeze = metric(running, "sluice_transactions_committed_total");
  bool recovered = eventually([&] {
    return (metric(running, "sluice_transactions_committed_total") > committed_after_freeze && ready(running)) ||
           !running.process->running();
  }, 120s);
  const double recovery_seconds = seconds_since(thawed);
  ASSERT_TRUE(recovered && running.process->running())
      << "sluice did not commit again after the thaw (exit " << running.process->wait(0ms).value_or(-1) << "); log:\n"
      << running.process->log();
  produce(application.input, clicks.slices[1]);
  application.wait_processed({&running}, 240s);
  ASSERT_TRUE(running.process->running()) << running.process->log();

  const std::string log = running.process->log();
  auto comparison = application.check(clicks, "broker frozen");
  EXPECT_TRUE(comparison.exact()) << comparison.describe() << "\nlog:\n" << log;
  auto metrics = http_get(running.port, "/metrics").body;
  std::cout << "[ figures ] broker frozen: consumed when frozen " << consumed_at_freeze << ", transactions committed "
            << committed_at_freeze << " then; frozen " << frozen_seconds << " s; /readyz during the freeze: "
            << join(reasons_during_freeze) << "; longest processing-loop silence (/healthz) "
            << longest_loop_silence_ms << " ms; commits resumed and ready " << recovery_seconds
            << " s after the thaw; transactions committed "
            << metric_value(metrics, "sluice_transactions_committed_total").value_or(-1) << ", aborted "
            << metric_value(metrics, "sluice_transactions_aborted_total").value_or(-1) << ", commit failures "
            << metric_value(metrics, "sluice_commit_failures_total").value_or(-1) << ", delivery failures "
            << metric_value(metrics, "sluice_delivery_failures_total").value_or(-1) << ", rebalances "
            << metric_value(metrics, "sluice_rebalances_total").value_or(-1) << "\n[ figures ] broker frozen: what "
            << "sluice logged:\n"
            << log_lines(log, {"WARN", "ERROR"}, 20);
  std::vector<RunningTopology*> to_stop = {&running};
  stop_all(to_stop);
}

}  // namespace

TEST(Nemesis, BrokerFrozenFortySecondsMidCommitsProcessorRecoversAndOutputExact) {
  freeze_broker_mid_commits("frozen-broker", {});
}

// The outage outlasts transaction_timeout: once the broker answers again it aborts the open transaction and
// fences its producer epoch. The producer is replaced (librdkafka 2.0.2 cannot continue it) and processing goes
// on; before, the abort failed with INVALID_TXN_STATE and the process exited 1.
TEST(Nemesis, BrokerFrozenLongerThanTheTransactionTimeoutProcessorCarriesOn) {
  freeze_broker_mid_commits("frozen-broker-txn", {"transaction_timeout=10s"});
}

// ---- Restores ---------------------------------------------------------------------------------------------

namespace {

// Many users, so nearly every click changes another user's count: the changelog grows with the input.
constexpr int restore_users = 150'000;

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

// Whether the log shows a restore that started and did not finish for some task: each start says "(local
// store empty|behind)", each end "task X: restored N records in".
bool restore_unfinished(const std::string& log) {
  return occurrences(log, "(local store ") > occurrences(log, ": restored ");
}

// Restoring instances apply at most 100 changelog records per step (the setting's minimum) instead of 10,000,
// so a restore of ~75,000-160,000 records lasts long enough for the kill or the join to land inside it.
const std::string slow_restore = "restore_batch_records=100";

}  // namespace

TEST(Nemesis, KillNineDuringRestoreThenRestartIsExact) {
  ClickCounts application("restore-kill");
  ClickInput clicks = make_clicks(909, 240'000, 3, partitions, restore_users);
  const std::string instance = application.id + "-pod";
  auto arguments = [&] { return application.arguments("pod", instance, {"window_idle_timeout=0", slow_restore}); };

  // Run 1: processes the first slice; killed once it is done, so the changelog holds all of it.
  produce(application.input, clicks.slices[0]);
  {
    RunningTopology first = start_sluice(application.topology_path, arguments());
    application.wait_processed({&first}, 180s);
    first.process->signal(SIGKILL);
    ASSERT_EQ(first.process->wait(30s), 128 + SIGKILL);
  }
  double changelog_offsets = 0;
  for (const auto& [partition, offset] : end_offsets(application.changelog(), partitions)) changelog_offsets += offset;

  // Run 2: the pod comes back on a node without its state directory, so every task restores the whole
  // changelog; it is killed while /readyz says it is restoring.
  std::filesystem::remove_all(application.state_dir("pod"));
  produce(application.input, clicks.slices[1]);
  double remaining_at_kill = 0, restored_at_kill = 0;
  std::string second_log;
  auto second_started = std::chrono::steady_clock::now();
  double restoring_after = 0;
  {
    RunningTopology second = start_sluice(application.topology_path, arguments(), false);
    bool restoring = eventually([&] {
      if (!second.process->running()) return true;
      if (readiness_reason(second) != "restoring state") return false;
      auto metrics = http_get(second.port, "/metrics").body;
      remaining_at_kill = metric_value(metrics, "sluice_restore_remaining_records").value_or(0);
      restored_at_kill = metric_value(metrics, "sluice_restored_records_total").value_or(0);
      return remaining_at_kill > 0 && restored_at_kill > 0;
    }, 60s);
    restoring_after = seconds_since(second_started);
    ASSERT_TRUE(restoring && second.process->running()) << "never saw the restore under way; log:\n"
                                                        << second.process->log();
    second.process->signal(SIGKILL);
    ASSERT_EQ(second.process->wait(30s), 128 + SIGKILL);
    second_log = second.process->log();
  }
  ASSERT_TRUE(restore_unfinished(second_log)) << "the restore had finished when the kill landed; log:\n" << second_log;

  // Run 3: resumes the restore from the partly restored store, then processes the rest.
  auto third_started = std::chrono::steady_clock::now();
  RunningTopology third = start_sluice(application.topology_path, arguments(), false);
  ASSERT_TRUE(eventually([&] { return ready(third) || !third.process->running(); }, 120s) && third.process->running())
      << third.process->log();
  const double third_ready = seconds_since(third_started);
  const double third_restored = metric(third, "sluice_restored_records_total");
  const double third_restore_seconds = metric(third, "sluice_restore_seconds_total");
  produce(application.input, clicks.slices[2]);
  application.wait_processed({&third});
  auto comparison = application.check(clicks, "kill -9 during restore");
  EXPECT_TRUE(comparison.exact()) << comparison.describe() << "\nlog of the killed restore:\n"
                                  << second_log << "\nlog of the last run:\n" << third.process->log();
  EXPECT_GT(third_restored, 0) << "the third run had to restore what the killed restore had not";
  std::cout << "[ figures ] kill -9 during restore: changelog offsets " << changelog_offsets
            << " when the state directory was lost; run 2 was restoring " << restoring_after
            << " s after its start and was killed with " << restored_at_kill << " records restored, "
            << remaining_at_kill << " remaining; run 3 restored " << third_restored << " records in "
            << third_restore_seconds << " s (task-seconds) and was ready " << third_ready << " s after its start\n"
            << "[ figures ] run 3's restore log:\n"
            << log_lines(third.process->log(), {"restoring ", ": restored "}, 14);
  std::vector<RunningTopology*> to_stop = {&third};
  stop_all(to_stop);
}

TEST(Nemesis, RebalanceDuringRestoreIsExact) {
  ClickCounts application("restore-rebalance");
  ClickInput clicks = make_clicks(1717, 300'000, 5, partitions, restore_users);
  // A member learns of a rebalance from its next heartbeat: 500 ms instead of librdkafka's 3 s, so the
  // rebalance b's join starts reaches a while it restores.
  const std::vector<std::string> settings = {"window_idle_timeout=0", "session_timeout=10s",
                                             "kafka.heartbeat.interval.ms=500", slow_restore};

  // An earlier instance builds the changelog (three fifths of the input) and stops cleanly.
  for (std::size_t slice = 0; slice < 3; ++slice) produce(application.input, clicks.slices[slice]);
  {
    RunningTopology builder = start_sluice(application.topology_path, application.arguments("builder", "", settings));
    application.wait_processed({&builder}, 180s);
    builder.process->signal(SIGTERM);
    ASSERT_EQ(builder.process->wait(60s), 0) << builder.process->log();
  }
  double changelog_offsets = 0;
  for (const auto& [partition, offset] : end_offsets(application.changelog(), partitions)) changelog_offsets += offset;

  // a starts on an empty state directory: it restores every task. b joins while a restores.
  produce(application.input, clicks.slices[3]);
  auto a_started = std::chrono::steady_clock::now();
  RunningTopology a = start_sluice(application.topology_path, application.arguments("a", "", settings), false);
  double a_restored_at_join = 0;
  ASSERT_TRUE(eventually([&] {
    if (!a.process->running()) return true;
    a_restored_at_join = metric(a, "sluice_restored_records_total");
    // Some records already in a's stores: the revoke then closes partly restored stores.
    return readiness_reason(a) == "restoring state" && a_restored_at_join > 0;
  }, 60s) && a.process->running()) << "never saw a restoring; log:\n" << a.process->log();
  const double a_restoring_after = seconds_since(a_started);
  auto joined = std::chrono::steady_clock::now();
  RunningTopology b = start_sluice(application.topology_path, application.arguments("b", "", settings), false);
  ASSERT_TRUE(eventually([&] { return assigned(a) + assigned(b) == 2 * partitions && assigned(b) > 0 && ready(a) && ready(b); },
                         180s))
      << "the group did not settle" << logs_of({&a, &b});
  const double settle_seconds = seconds_since(joined);
  // The rebalance really came during a's restore: a's partitions were revoked while a task still restored.
  const std::string a_log = a.process->log();
  const auto revoked_at = a_log.find("partitions revoked");
  ASSERT_NE(revoked_at, std::string::npos) << "a saw no rebalance; log:\n" << a_log;
  EXPECT_TRUE(restore_unfinished(a_log.substr(0, revoked_at)))
      << "a had finished restoring before b joined: the rebalance did not interrupt a restore; log:\n" << a_log;

  produce(application.input, clicks.slices[4]);
  application.wait_processed({&a, &b});
  auto comparison = application.check(clicks, "rebalance during restore");
  EXPECT_TRUE(comparison.exact()) << comparison.describe() << logs_of({&a, &b});
  std::cout << "[ figures ] rebalance during restore: changelog offsets " << changelog_offsets
            << "; a was restoring " << a_restoring_after << " s after its start (" << a_restored_at_join
            << " records restored) when b started; both ready with " << assigned(a) << " + " << assigned(b)
            << " partitions " << settle_seconds << " s later; restored records a " << metric(a, "sluice_restored_records_total")
            << " (" << metric(a, "sluice_restore_seconds_total") << " task-s), b "
            << metric(b, "sluice_restored_records_total") << " (" << metric(b, "sluice_restore_seconds_total")
            << " task-s)\n[ figures ] a's restore log:\n"
            << log_lines(a_log, {"restoring ", ": restored ", "partitions revoked", "partitions assigned"}, 20);
  std::vector<RunningTopology*> to_stop = {&a, &b};
  stop_all(to_stop);
}

// ---- Committed offset below the log start -----------------------------------------------------------------

TEST(Nemesis, CommittedOffsetBelowLogStartIsResetToEarliestAndLogged) {
  constexpr int input_partitions = 2, per_partition = 5'000, deleted_per_partition = 2'500;
  const std::string input = unique_name("retention-in");
  const std::string output = unique_name("retention-out");
  const std::string application_id = unique_name("retention");
  create_topic(input, input_partitions);
  json document = {{"application_id", application_id},
                   {"sources", {{{"name", "in"}, {"topic", input}}}},
                   {"operators", {{{"name", "tagged"}, {"from", "in"}, {"map", {{"doubled", "n * 2"}}}}}},
                   {"sinks", {{{"from", "tagged"}, {"topic", output}}}}};
  const std::string path = write_temp_file("retention.json", document.dump());
  const std::vector<std::string> arguments = {"--set", "processing_guarantee=exactly_once", "--set",
                                              "instance_id=" + application_id + "-only", "--set",
                                              "state_dir=/tmp/" + application_id};
  // Input n goes to partition n % 2 at offset n / 2 (per phase).
  auto make = [&](int from, int count) {
    std::vector<TestRecord> records;
    for (int n = from; n < from + count; ++n) {
      TestRecord record;
      record.key = "k" + std::to_string(n);
      record.value = json{{"n", n}}.dump();
      record.partition = n % input_partitions;
      records.push_back(std::move(record));
    }
    return records;
  };
  const int phase = per_partition * input_partitions;

  // The group commits everything of phase 1 and stops.
  produce(input, make(0, phase));
  {
    RunningTopology first = start_sluice(path, arguments);
    std::string why;
    ASSERT_TRUE(wait_group_processed(application_id, {input}, input_partitions, 120s, &why)) << why;
    first.process->signal(SIGTERM);
    ASSERT_EQ(first.process->wait(60s), 0) << first.process->log();
  }
  PartitionOffsets committed = committed_offsets(application_id, input, input_partitions);
  for (const auto& [partition, offset] : committed) ASSERT_EQ(offset, per_partition) << "partition " << partition;

  // Phase 2 arrives while it is stopped, and retention removes everything below the middle of phase 2: the
  // committed offsets now point below the log start.
  produce(input, make(phase, phase));
  PartitionOffsets cut;
  for (std::int32_t partition = 0; partition < input_partitions; ++partition) {
    cut[partition] = per_partition + deleted_per_partition;
  }
  PartitionOffsets low = delete_records_before(input, cut);
  for (const auto& [partition, offset] : low) ASSERT_EQ(offset, cut[partition]);

  auto restarted = std::chrono::steady_clock::now();
  RunningTopology second = start_sluice(path, arguments);
  std::string why;
  ASSERT_TRUE(wait_group_processed(application_id, {input}, input_partitions, 120s, &why)) << why << "\n"
                                                                                           << second.process->log();
  const double caught_up_seconds = seconds_since(restarted);
  auto metrics = http_get(second.port, "/metrics").body;
  const double consumed = metric_value(metrics, "sluice_records_consumed_total").value_or(0);
  second.process->signal(SIGTERM);
  ASSERT_EQ(second.process->wait(60s), 0) << second.process->log();
  const std::string log = second.process->log();

  // What it did: the output holds phase 1 and phase 2 from the new log start, each once; the records between
  // the committed offsets and the log start are gone (retention's doing, not sluice's).
  auto records = consume_to_end(output, input_partitions, 60s);
  std::map<int, int> seen;
  for (const auto& record : records) ++seen[json::parse(*record.value).at("n").get<int>()];
  int duplicates = 0, lost_before_cut = 0, present_deleted = 0, missing_after_cut = 0;
  for (const auto& [n, count] : seen) duplicates += count > 1;
  for (int n = 0; n < 2 * phase; ++n) {
    bool deleted = n >= phase && (n - phase) / input_partitions < deleted_per_partition;
    bool present = seen.count(n) != 0;
    if (n < phase && !present) ++lost_before_cut;
    if (deleted && present) ++present_deleted;
    if (n >= phase && !deleted && !present) ++missing_after_cut;
  }
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(lost_before_cut, 0);
  EXPECT_EQ(missing_after_cut, 0) << "auto.offset.reset=earliest resumes at the new log start";
  EXPECT_EQ(present_deleted, 0);
  EXPECT_EQ(consumed, static_cast<double>(phase - deleted_per_partition * input_partitions))
      << "the restart read from the new log start";

  // Observable: the reset and the records it skipped must be in the log.
  const std::string excerpt = log_lines(log, {"out of range", "Offset out of range", "OFFSET", "reset"}, 10);
  EXPECT_FALSE(excerpt.empty()) << "sluice skipped " << deleted_per_partition * input_partitions
                                << " committed-but-unread offsets without a log line; log:\n" << log;
  std::vector<std::string> offset_metrics;
  for (const std::string name : {"offset_reset", "offsets_reset", "out_of_range", "skipped"}) {
    if (metrics.find(name) != std::string::npos) offset_metrics.push_back(name);
  }
  // Counted, one per reset partition, and explained by sluice itself, not only by librdkafka.
  EXPECT_EQ(metric_value(metrics, "sluice_offset_resets_total").value_or(0), static_cast<double>(input_partitions))
      << metrics;
  EXPECT_NE(log.find("committed offset is no longer in its log"), std::string::npos) << log;
  std::cout << "[ figures ] committed offset below log start: committed " << per_partition << " per partition, log "
            << "start moved to " << per_partition + deleted_per_partition << "; restart consumed " << consumed
            << " records and caught up in " << caught_up_seconds << " s; output " << records.size()
            << " records, duplicates " << duplicates << ", lost (not deleted) " << lost_before_cut + missing_after_cut
            << ", deleted records skipped " << deleted_per_partition * input_partitions
            << "\n[ figures ] log lines about it:\n"
            << (excerpt.empty() ? std::string("    (none)\n") : excerpt) << "[ figures ] metrics about it: "
            << (offset_metrics.empty() ? std::string("none (no metric names an offset reset or skipped records)")
                                       : offset_metrics.front())
            << "\n";
  std::filesystem::remove_all("/tmp/" + application_id);
}
