// The commit protocol of one processing thread under scripted faults, against the fake Kafka of
// tests/support/fake_kafka.hpp: every rule of DESIGN.md's "Failure handling" that a real broker cannot be made
// to break at a chosen moment. Each test drives the Processor step by step on a manual clock and checks what a
// read_committed reader and the group's committed offsets show.
//
// The topology counts records per key (a keyed table, emit update) and writes the counts to "out", so every
// input changes state (a changelog record) and produces an output: exactly-once means the last count per key
// equals the number of inputs with that key, and each count appears once.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sluice/core/clock.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/processor.hpp"
#include "sluice/topology/topology.hpp"
#include "support/fake_kafka.hpp"
#include "support/parsed_topology.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;
using sluice::testing::FakeCluster;
using sluice::testing::FakeClientFactory;
using sluice::testing::make_error;
using kafka::ErrorCode;

namespace {

topology::Topology counting_topology(const std::string& sink_topic = "out") {
  json document = {{"application_id", "app"},
                   {"sources", {{{"name", "in"}, {"topic", "in"}}}},
                   {"operators", {{{"name", "per_key"}, {"from", "in"}, {"aggregate", {{"n", "count()"}}}}}},
                   {"sinks", {{{"from", "per_key"}, {"topic", sink_topic}}}},
                   {"dead_letter_topic", "dlq"}};
  return sluice::testing::parse_valid(document);
}

topology::Topology passthrough_topology() {
  json document = {{"application_id", "app"},
                   {"sources", {{{"name", "in"}, {"topic", "in"}}}},
                   {"operators", {{{"name", "all"}, {"from", "in"}, {"filter", "true"}}}},
                   {"sinks", {{{"from", "all"}, {"topic", "out"}}}},
                   {"dead_letter_topic", "dlq"}};
  return sluice::testing::parse_valid(document);
}

// Memory stores that can be made to fail when they apply a commit (a RocksDB write error).
class FailingStores final : public state::TaskStores {
 public:
  FailingStores(std::unique_ptr<state::TaskStores> inner, const bool& fail) : inner_(std::move(inner)), fail_(fail) {}
  state::Store& store(std::size_t index) override { return inner_->store(index); }
  std::size_t size() const noexcept override { return inner_->size(); }
  void changes(std::size_t index, const std::function<void(const state::ChangelogRecord&)>& consumer) override {
    inner_->changes(index, consumer);
  }
  void apply(const std::vector<std::int64_t>& offsets, std::int64_t stream_time_ms) override {
    if (fail_) throw std::runtime_error("IO error: No space left on device (scripted)");
    inner_->apply(offsets, stream_time_ms);
  }
  void discard() override { inner_->discard(); }
  std::int64_t changelog_offset(std::size_t index) const override { return inner_->changelog_offset(index); }
  std::int64_t stream_time_ms() const override { return inner_->stream_time_ms(); }
  std::uint64_t estimated_keys(std::size_t index, std::uint8_t family) const override {
    return inner_->estimated_keys(index, family);
  }
  void restore(std::size_t index, std::string_view key, std::optional<std::string_view> value,
               std::int64_t offset) override {
    inner_->restore(index, key, value, offset);
  }
  void finish_restore() override { inner_->finish_restore(); }
  void close() override { inner_->close(); }

 private:
  std::unique_ptr<state::TaskStores> inner_;
  const bool& fail_;
};

class ProcessorFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster.create_topic("in", 2);
    cluster.set_auto_assign(true);
    options.bootstrap_servers = "fake:9092";
    options.transactional_id = "app-instance";
    options.commit_interval = 100ms;
    options.transaction_timeout = 1000ms;  // two 500 ms slices per transactional call
    options.max_failed_commits = 4;
    options.open_stores = [this](const runtime::TaskId&, const std::vector<std::uint8_t>& families) {
      return std::make_unique<FailingStores>(state::make_memory_task_stores(families), fail_store_apply);
    };
  }

  void start(const topology::Topology& topology) {
    topology_ = std::make_unique<topology::Topology>(topology);
    pipeline_ = std::make_unique<runtime::Pipeline>(*topology_);
    processor = std::make_unique<runtime::Processor>(*pipeline_, options, factory, metrics, logger, clock, health);
    auto early = processor->open(stop);
    ASSERT_FALSE(early.has_value()) << log.str();
  }

  // Turns of the loop, each after 50 ms of (manual) time, so commits fall due every other turn.
  void steps(int count) {
    for (int i = 0; i < count; ++i) {
      clock.advance_ms(50);
      if (!processor->step()) return;
    }
  }

  void input(const std::string& key, int partition) {
    cluster.produce("in", partition, key, json{{"k", key}}.dump(), clock.wall_ms());
  }

  kafka::Consumer& consumer() { return *factory.consumer(0); }

  // Last count per key in what a read_committed reader of `topic` sees, and how often each (key, count) shows.
  std::map<std::string, std::int64_t> last_counts(const std::string& topic, int* repeated = nullptr) {
    std::map<std::string, std::int64_t> last;
    std::map<std::pair<std::string, std::int64_t>, int> seen;
    for (const auto& record : cluster.read_committed(topic)) {
      std::int64_t n = json::parse(*record.value)["n"].get<std::int64_t>();
      last[*record.key] = std::max(last[*record.key], n);
      if (++seen[{*record.key, n}] > 1 && repeated != nullptr) ++*repeated;
    }
    return last;
  }

  std::int64_t committed(std::int32_t partition) { return cluster.committed("app", "in", partition).value_or(-1); }
  double metric(const std::string& name) {
    std::string text = metrics.render();
    double total = 0;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(name, 0) == 0 && (line[name.size()] == ' ' || line[name.size()] == '{')) {
        total += std::stod(line.substr(line.rfind(' ') + 1));
      }
    }
    return total;
  }

  FakeCluster cluster;
  FakeClientFactory factory{cluster};
  core::ManualClock clock{1'795'255'200'000};
  std::ostringstream log;
  observe::Logger logger{log, observe::LogLevel::debug, clock};
  observe::Metrics metrics{"app"};
  runtime::Health health;
  runtime::ProcessorOptions options;
  std::atomic<bool> stop{false};
  bool fail_store_apply = false;
  std::unique_ptr<topology::Topology> topology_;
  std::unique_ptr<runtime::Pipeline> pipeline_;
  std::unique_ptr<runtime::Processor> processor;
};

}  // namespace

TEST_F(ProcessorFaults, OutputsChangelogAndOffsetsCommitTogether) {
  start(counting_topology());
  // A key lives in one partition (k0, k2 in 0; k1 in 1), as the producer's partitioner would put it.
  for (int i = 0; i < 10; ++i) input("k" + std::to_string(i % 3), (i % 3) % 2);
  steps(6);
  // Each committed input offset is matched by its outputs and its state change, and nothing is half-visible.
  EXPECT_EQ(committed(0), 7);
  EXPECT_EQ(committed(1), 3);
  int repeated = 0;
  auto counts = last_counts("out", &repeated);
  EXPECT_EQ(counts, (std::map<std::string, std::int64_t>{{"k0", 4}, {"k1", 3}, {"k2", 3}}));
  EXPECT_EQ(repeated, 0);
  EXPECT_FALSE(cluster.read_committed("app-per_key-changelog").empty());
  EXPECT_TRUE(health.ready()) << health.reason();
  processor->close();
  EXPECT_EQ(processor->outcome(), runtime::RunOutcome::stopped);
}

// Issue 11, item 5: Kafka tells a null header value from an empty one, and so must everything between the
// consumer and the producer.
TEST_F(ProcessorFaults, NullAndEmptyHeaderValuesPassThroughToTheSinkAsTheyCame) {
  start(passthrough_topology());
  const std::vector<core::Header> headers = {{"trace", std::nullopt}, {"empty", ""}, {"plain", "v"}, {"trace", "x"}};
  cluster.produce("in", 0, "k", R"({"a": 1})", clock.wall_ms(), headers);
  steps(6);
  const auto out = cluster.read_committed("out");
  ASSERT_EQ(out.size(), 1u) << log.str();
  EXPECT_EQ(out[0].headers, headers);
  ASSERT_EQ(out[0].headers.size(), 4u);
  EXPECT_FALSE(out[0].headers[0].value.has_value());
  ASSERT_TRUE(out[0].headers[1].value.has_value());
  EXPECT_EQ(*out[0].headers[1].value, "");
  processor->close();
}

TEST_F(ProcessorFaults, AbortRollsStateBackAndRewinds) {
  start(counting_topology());
  for (int i = 0; i < 4; ++i) input("a", 0);
  steps(4);
  ASSERT_EQ(committed(0), 4);
  for (int i = 0; i < 3; ++i) input("a", 0);
  // The broker refuses this commit: the transaction must abort, the count go back to 4, the inputs be re-read.
  cluster.fail("producer.commit_transaction", make_error(ErrorCode::other, false, false, true));
  steps(12);
  EXPECT_EQ(committed(0), 7);
  int repeated = 0;
  EXPECT_EQ(last_counts("out", &repeated)["a"], 7);
  EXPECT_EQ(repeated, 0) << "a count of the aborted transaction was applied twice";
  EXPECT_GE(metric("sluice_transactions_aborted_total"), 1);
  EXPECT_GE(metric("sluice_rewinds_total"), 1);
}

// The stream-stream join counters count what a commit covered: the pair of an aborted transaction, processed
// again after the rewind, is counted once (sluice_stream_join_pairs_total), as it is output once.
TEST_F(ProcessorFaults, AStreamJoinPairOfAnAbortedTransactionIsCountedOnce) {
  cluster.create_topic("clicks", 2);
  cluster.create_topic("impressions", 2);
  json document = {
      {"application_id", "app"},
      {"sources", {{{"name", "clicks"}, {"topic", "clicks"}}, {{"name", "impressions"}, {"topic", "impressions"}}}},
      {"operators",
       {{{"name", "attributed"},
         {"from", "clicks"},
         {"join", {{"stream", "impressions"}, {"type", "inner"}, {"within", "10m"}}}}}},
      {"sinks", {{{"from", "attributed"}, {"topic", "out"}}}},
      {"dead_letter_topic", "dlq"}};
  start(sluice::testing::parse_valid(document));
  cluster.produce("impressions", 0, "u1", R"({"ad": "a"})", clock.wall_ms());
  cluster.produce("clicks", 0, "u1", R"({"n": 1})", clock.wall_ms());
  steps(6);
  ASSERT_EQ(cluster.read_committed("out").size(), 1u) << log.str();
  EXPECT_EQ(metric("sluice_stream_join_pairs_total"), 1);
  cluster.produce("clicks", 0, "u1", R"({"n": 2})", clock.wall_ms());
  // The broker refuses this commit: the pair of click 2 is undone and made again from the re-read input.
  cluster.fail("producer.commit_transaction", make_error(ErrorCode::other, false, false, true));
  steps(12);
  EXPECT_GE(metric("sluice_transactions_aborted_total"), 1);
  EXPECT_GE(metric("sluice_rewinds_total"), 1);
  EXPECT_EQ(cluster.read_committed("out").size(), 2u) << log.str();
  EXPECT_EQ(metric("sluice_stream_join_pairs_total"), 2) << "the aborted transaction's pair counted again";
  EXPECT_EQ(metric("sluice_stream_join_expired_total"), 0);
}

TEST_F(ProcessorFaults, EndTxnTimeoutReplacesTheProducerAndNeverReusesIt) {
  start(counting_topology());
  for (int i = 0; i < 3; ++i) input("a", 0);
  steps(4);
  ASSERT_EQ(factory.producers_created(), 1u);
  const int old_producer = cluster.client_id(*factory.producer(0));
  for (int i = 0; i < 2; ++i) input("b", 1);
  // EndTxn times out for the whole transaction_timeout (two slices): the outcome is unknown (here the first
  // call did commit).
  cluster.fail_after_effect("producer.commit_transaction", sluice::testing::timed_out(), 1);
  cluster.fail("producer.commit_transaction", sluice::testing::timed_out(), 1);
  steps(12);
  EXPECT_EQ(factory.producers_created(), 2u) << log.str();
  // Once the outcome is given up as unknown, the old producer starts nothing new (no abort, no record, no
  // transaction): a stale request of it cannot land in a later transaction. Retrying the same EndTxn is fine.
  bool timed_out_seen = false;
  for (const auto& call : cluster.call_log()) {
    if (call.client != old_producer) continue;
    if (timed_out_seen && call.call != "producer.commit_transaction" && call.call != "producer.flush" &&
        call.call != "producer.delivery") {
      ADD_FAILURE() << "old producer used after an indefinite outcome: " << call.call;
    }
    if (call.call == "producer.commit_transaction" && call.result == ErrorCode::timed_out) timed_out_seen = true;
  }
  EXPECT_TRUE(timed_out_seen);
  // The transaction had committed: the state restored from the changelog continues from 5, nothing counted twice.
  for (int i = 0; i < 2; ++i) input("a", 0);
  steps(8);
  int repeated = 0;
  auto counts = last_counts("out", &repeated);
  EXPECT_EQ(counts["a"], 5) << log.str();
  EXPECT_EQ(counts["b"], 2) << log.str();
  EXPECT_EQ(repeated, 0);
  EXPECT_EQ(committed(0), 5);
  EXPECT_EQ(committed(1), 2);
}

TEST_F(ProcessorFaults, SendOffsetsTimeoutReplacesTheProducer) {
  start(counting_topology());
  input("a", 0);
  cluster.fail("producer.send_offsets_to_transaction", sluice::testing::timed_out(), 2);
  steps(12);
  EXPECT_EQ(factory.producers_created(), 2u) << log.str();
  EXPECT_EQ(committed(0), 1);
  EXPECT_EQ(last_counts("out")["a"], 1);
}

TEST_F(ProcessorFaults, FencedOnceIsRetriedWithANewProducerFencedTwiceStops) {
  start(counting_topology());
  input("a", 0);
  steps(4);
  ASSERT_EQ(committed(0), 1);
  // A broker-side transaction timeout shows as a fenced producer: one replacement is tried.
  input("a", 0);
  cluster.fail("producer.commit_transaction", make_error(ErrorCode::fenced, false, true));
  steps(8);
  EXPECT_EQ(factory.producers_created(), 2u);
  EXPECT_EQ(committed(0), 2);
  EXPECT_NE(processor->state(), runtime::ThreadState::failed);
  // A real zombie is fenced again before any commit succeeds: it stops.
  input("a", 0);
  cluster.fail("producer.commit_transaction", make_error(ErrorCode::fenced, false, true), 2);
  steps(12);
  EXPECT_EQ(processor->state(), runtime::ThreadState::failed) << log.str();
  processor->close();
  EXPECT_EQ(processor->outcome(), runtime::RunOutcome::fatal);
  EXPECT_EQ(committed(0), 2);
}

TEST_F(ProcessorFaults, RevokeCommitsAndLostDoesNot) {
  options.commit_interval = 3'600'000ms;  // only the rebalance can commit
  start(counting_topology());
  input("a", 0);
  input("b", 1);
  steps(1);  // assigned and processed, not committed yet
  cluster.revoke(consumer());
  steps(1);
  EXPECT_EQ(committed(0), 1) << "revoke must commit what was processed";
  EXPECT_EQ(committed(1), 1);
  cluster.assign(consumer(), {{"in", 0, kafka::offset_invalid}, {"in", 1, kafka::offset_invalid}});
  input("a", 0);
  steps(4);  // restored from the changelog, then processed: a transaction is open
  ASSERT_TRUE(health.ready()) << health.reason();
  const std::size_t commits_before = cluster.calls("producer.commit_transaction");
  cluster.lose(consumer());
  steps(1);
  EXPECT_EQ(cluster.calls("producer.commit_transaction"), commits_before) << "a lost assignment must not commit";
  EXPECT_EQ(committed(0), 1) << "a lost assignment must not commit";
  EXPECT_EQ(last_counts("out")["a"], 1);
}

// A new assignment starts at the group's committed offsets, read before anything of it starts: while a
// transaction holds them (a crashed owner's, until the broker aborts it) the thread waits and says so, and it
// never starts anywhere else (librdkafka 2.0.2 once started such a partition at auto.offset.reset; see
// tests/integration/consumer_assignment_test.cpp for that on the real broker).
TEST_F(ProcessorFaults, AnAssignmentWaitsUntilItsCommittedOffsetsCanBeReadThenStartsThere) {
  start(counting_topology());
  input("a", 0);
  input("b", 1);
  steps(3);
  ASSERT_EQ(committed(0), 1);
  cluster.fail("consumer.assignment_offsets", sluice::testing::timed_out(), 3);
  cluster.revoke(consumer());
  cluster.assign(consumer(), {{"in", 0, kafka::offset_invalid}, {"in", 1, kafka::offset_invalid}});
  input("a", 0);
  steps(6);
  EXPECT_EQ(cluster.scripted_failures_left(), 0u);
  EXPECT_NE(log.str().find("waiting 0 s for the committed offsets of the new assignment"), std::string::npos)
      << log.str();
  EXPECT_TRUE(health.ready()) << health.reason();
  EXPECT_EQ(committed(0), 2);
  EXPECT_EQ(last_counts("out")["a"], 2) << "the first record of partition 0 was processed again";
  EXPECT_EQ(last_counts("out")["b"], 1);
}

TEST_F(ProcessorFaults, CommittedOffsetsThatCannotBeReadStopTheThreadInsteadOfStartingElsewhere) {
  start(counting_topology());
  input("a", 0);
  steps(3);
  cluster.fail("consumer.assignment_offsets", make_error(ErrorCode::authorization), 1);
  cluster.revoke(consumer());
  cluster.assign(consumer(), {{"in", 0, kafka::offset_invalid}, {"in", 1, kafka::offset_invalid}});
  input("a", 0);
  steps(4);
  EXPECT_EQ(processor->state(), runtime::ThreadState::failed);
  EXPECT_EQ(processor->outcome(), runtime::RunOutcome::fatal);
  EXPECT_NE(log.str().find("cannot read the committed offsets of the 2 partitions assigned"), std::string::npos)
      << log.str();
  EXPECT_FALSE(health.ready());
  EXPECT_EQ(last_counts("out")["a"], 1);
}

TEST_F(ProcessorFaults, OutputTooLargeIsDeadLetteredAndTheInputCommitted) {
  start(passthrough_topology());
  cluster.fail("producer.produce", sluice::testing::ScriptedFailure{make_error(ErrorCode::message_too_large), 1, "out"});
  input("big", 0);
  input("small", 0);
  steps(4);
  EXPECT_EQ(committed(0), 2);
  auto out = cluster.read_committed("out");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(*out[0].key, "small");
  auto dlq = cluster.read_committed("dlq");
  ASSERT_EQ(dlq.size(), 1u) << log.str();
  std::map<std::string, std::string> headers;
  for (const auto& header : dlq[0].headers) headers[header.name] = header.value.value_or("<null>");
  EXPECT_EQ(headers["sluice.error.kind"], "output_rejected");
  EXPECT_EQ(headers["sluice.source.topic"], "in");
  EXPECT_EQ(headers["sluice.source.offset"], "0");
  EXPECT_EQ(headers["sluice.destination.topic"], "out");
  EXPECT_EQ(metric("sluice_records_dead_lettered_total"), 1);
}

TEST_F(ProcessorFaults, AWriteThatFailsNeverHasItsInputCommittedAndStopsAfterTheLimit) {
  options.max_failed_commits = 3;
  start(passthrough_topology());
  input("a", 0);
  // The principal may not write to the sink: not the record's fault.
  cluster.fail("producer.produce", sluice::testing::ScriptedFailure{make_error(ErrorCode::authorization), 100, "out"});
  steps(40);
  EXPECT_EQ(committed(0), -1) << "a commit covered an input whose output was not written";
  EXPECT_TRUE(cluster.read_committed("out").empty());
  EXPECT_FALSE(health.ready());
  EXPECT_EQ(processor->state(), runtime::ThreadState::failed) << log.str();
  EXPECT_NE(log.str().find("commits in a row rolled back, stopping"), std::string::npos) << log.str();
  processor->close();
  EXPECT_EQ(processor->outcome(), runtime::RunOutcome::fatal);
}

TEST_F(ProcessorFaults, AtLeastOnceRewindsAfterAFailedDeliveryAndLosesNothing) {
  options.exactly_once = false;
  start(passthrough_topology());
  for (int i = 0; i < 5; ++i) input("k" + std::to_string(i), 0);
  cluster.fail("producer.delivery", sluice::testing::ScriptedFailure{make_error(ErrorCode::timed_out, true), 1, "out"});
  steps(16);
  EXPECT_EQ(committed(0), 5);
  std::set<std::string> keys;
  for (const auto& record : cluster.read_committed("out")) keys.insert(*record.key);
  EXPECT_EQ(keys.size(), 5u) << "an output whose delivery failed was never written again";
  EXPECT_GE(metric("sluice_rewinds_total"), 1);
}

TEST_F(ProcessorFaults, AFullStateBufferCommitsEarly) {
  options.commit_interval = 3'600'000ms;
  options.state_buffer_max_records = 20;
  start(counting_topology());
  for (int i = 0; i < 100; ++i) input("k" + std::to_string(i), 0);
  for (int i = 0; i < 20; ++i) processor->step();  // no time passes: only the buffer bound can commit
  EXPECT_GE(committed(0), 20) << log.str();
  EXPECT_GE(metric("sluice_commits_total"), 2);
}

TEST_F(ProcessorFaults, RestoreInterleavesWithProcessing) {
  options.restore_batch_records = 5;
  // Partition 0's changelog holds 50 committed changes its (empty) store lacks.
  cluster.create_topic("app-per_key-changelog", 2);
  for (int i = 0; i < 50; ++i) {
    cluster.produce("app-per_key-changelog", 0, "old" + std::to_string(i), json{{"n", 1}}.dump());
  }
  start(counting_topology());
  input("new", 1);
  steps(2);
  // Task 0 is still restoring (5 records a turn) while task 1 already processed and committed.
  EXPECT_EQ(committed(1), 1) << log.str();
  EXPECT_TRUE(cluster.paused(consumer(), "in", 0));
  EXPECT_FALSE(health.ready());
  steps(20);
  EXPECT_FALSE(cluster.paused(consumer(), "in", 0));
  EXPECT_TRUE(health.ready()) << health.reason();
  EXPECT_NE(log.str().find("restored 50 records"), std::string::npos) << log.str();
}

TEST_F(ProcessorFaults, AStoreWriteErrorEndsInAnOrderlyCloseWithoutCommitting) {
  start(counting_topology());
  input("a", 0);
  steps(4);
  ASSERT_EQ(committed(0), 1);
  fail_store_apply = true;
  input("a", 0);
  bool threw = false;
  try {
    steps(4);
  } catch (const std::exception&) {
    threw = true;
  }
  EXPECT_TRUE(threw);
  // run() turns the exception into this sequence: no commit at close, the group left, the producer flushed.
  processor.reset();  // the destructor closes; no callback may reach a destroyed member (ASan would say)
  EXPECT_EQ(factory.consumer(0), nullptr);
}

TEST_F(ProcessorFaults, RunReturnsFatalOnAStoreWriteError) {
  topology_ = std::make_unique<topology::Topology>(counting_topology());
  pipeline_ = std::make_unique<runtime::Pipeline>(*topology_);
  fail_store_apply = true;
  options.commit_interval = 0ms;  // the manual clock stands still inside run(): commit every turn
  input("a", 0);
  runtime::Processor runner(*pipeline_, options, factory, metrics, logger, clock, health);
  EXPECT_EQ(runner.run(stop), runtime::RunOutcome::fatal);
  EXPECT_NE(log.str().find("internal failure"), std::string::npos) << log.str();
  EXPECT_EQ(runner.state(), runtime::ThreadState::closed);
}

TEST_F(ProcessorFaults, RepartitionRecordsArePurgedOnceCommittedAndNotBefore) {
  json document = {{"application_id", "app"},
                   {"sources", {{{"name", "in"}, {"topic", "in"}}}},
                   {"operators",
                    {{{"name", "by_user"}, {"from", "in"}, {"rekey", "k"}},
                     {{"name", "per_user"}, {"from", "by_user"}, {"aggregate", {{"n", "count()"}}}}}},
                   {"sinks", {{{"from", "per_user"}, {"topic", "out"}}}},
                   {"dead_letter_topic", "dlq"}};
  start(sluice::testing::parse_valid(document));
  const std::string repartition = "app-per_user-repartition";
  for (int i = 0; i < 20; ++i) input("u" + std::to_string(i % 4), i % 2);
  steps(10);
  std::int64_t written = 0, purged = 0, committed_total = 0;
  for (std::int32_t partition = 0; partition < 2; ++partition) {
    written += cluster.end_offset(repartition, partition);
    committed_total += cluster.committed("app", repartition, partition).value_or(0);
  }
  ASSERT_GT(written, 20);  // 20 records and their transaction markers
  clock.advance_ms(runtime::TopicProvisioner::kPurgeIntervalMs);
  input("u0", 0);
  steps(10);
  for (std::int32_t partition = 0; partition < 2; ++partition) {
    const std::int64_t start = cluster.start_offset(repartition, partition);
    // Never beyond what the reader committed: an uncommitted record must stay readable after a crash.
    EXPECT_LE(start, cluster.committed("app", repartition, partition).value_or(0));
    purged += start;
  }
  EXPECT_GE(purged, committed_total) << log.str();
  EXPECT_GT(purged, 0);
  EXPECT_EQ(last_counts("out")["u0"], 6);
}

// The broker rejects an output after it left (the topic's max.message.bytes is below the producer's): the
// commit rolls back, and on the replay that input is dead-lettered instead of failing the same way forever.
class RejectedDelivery : public ProcessorFaults, public ::testing::WithParamInterface<bool> {};

TEST_P(RejectedDelivery, TheInputIsDeadLetteredOnReplayAndTheOthersGoThrough) {
  options.exactly_once = GetParam();
  start(passthrough_topology());
  input("a", 0);
  input("poison", 0);
  input("c", 0);
  // The first output's delivery report carries the broker's refusal.
  cluster.fail("producer.delivery",
               sluice::testing::ScriptedFailure{make_error(ErrorCode::message_too_large), 1, "out"});
  steps(30);
  EXPECT_EQ(committed(0), 3) << log.str();
  EXPECT_NE(processor->state(), runtime::ThreadState::failed) << log.str();
  std::set<std::string> out;
  for (const auto& record : cluster.read_committed("out")) out.insert(*record.key);
  auto dlq = cluster.read_committed("dlq");
  ASSERT_EQ(dlq.size(), 1u) << log.str();
  std::map<std::string, std::string> headers;
  for (const auto& header : dlq[0].headers) headers[header.name] = header.value.value_or("<null>");
  EXPECT_EQ(headers["sluice.error.kind"], "output_rejected");
  // Whichever record the broker refused is the one dead-lettered, with its coordinates; all others arrived.
  const std::string rejected = *dlq[0].key;
  EXPECT_EQ(out.count(rejected), 0u);
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(headers["sluice.source.offset"], rejected == "a" ? "0" : rejected == "poison" ? "1" : "2");
  EXPECT_EQ(metric("sluice_records_dead_lettered_total"), 1);
}

INSTANTIATE_TEST_SUITE_P(Guarantees, RejectedDelivery, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "exactly_once" : "at_least_once"; });

TEST_F(ProcessorFaults, ARefusingClusterIsNamedInReadyzAndEndsTheStartAfterBoundedAttempts) {
  // A wrong SASL password: metadata requests only time out, the client's error callback has the cause.
  cluster.client_error(make_error(ErrorCode::authentication));
  cluster.fail("admin.list_topics", sluice::testing::timed_out(), 100);
  topology_ = std::make_unique<topology::Topology>(passthrough_topology());
  pipeline_ = std::make_unique<runtime::Pipeline>(*topology_);
  runtime::Processor runner(*pipeline_, options, factory, metrics, logger, clock, health);
  std::optional<runtime::RunOutcome> early = runner.open(stop);
  ASSERT_TRUE(early.has_value());
  EXPECT_EQ(*early, runtime::RunOutcome::fatal);
  EXPECT_FALSE(health.ready());
  EXPECT_NE(health.reason().find("authentication"), std::string::npos) << health.reason();
  EXPECT_EQ(cluster.calls("admin.list_topics"), 10u) << log.str();
  EXPECT_NE(log.str().find("check the kafka.security.protocol, kafka.sasl.*"), std::string::npos) << log.str();
}

TEST_F(ProcessorFaults, AnUnreachableClusterIsWaitedOutAndShownAsSuch) {
  cluster.fail("admin.list_topics", make_error(ErrorCode::all_brokers_down, true), 30);
  topology_ = std::make_unique<topology::Topology>(passthrough_topology());
  pipeline_ = std::make_unique<runtime::Pipeline>(*topology_);
  runtime::Processor runner(*pipeline_, options, factory, metrics, logger, clock, health);
  std::optional<runtime::RunOutcome> early = runner.open(stop);
  EXPECT_FALSE(early.has_value()) << log.str();  // 30 failures, then the cluster answered: no give-up
  EXPECT_EQ(cluster.calls("admin.list_topics"), 31u + 1u);  // + the check that created topics are visible
  EXPECT_NE(log.str().find("cannot reach the Kafka cluster"), std::string::npos);
  runner.close();
}

// Issue 12, item 3: a task with several input partitions (here a join's stream and table) processes them in
// event-time order, whatever order the consumer fetched them in, and waits up to max_task_idle for an input
// with nothing buffered. The fake consumer hands partitions over round-robin: without the ordering the order
// would join the first customer row (or none), not the last one older than the order.
topology::Topology join_topology(std::optional<std::string> max_task_idle = std::nullopt) {
  json join = {{"table", "customers"}, {"type", "left"}, {"select", {{"tier", "customers.tier"}}}};
  if (max_task_idle) join["max_task_idle"] = *max_task_idle;
  json document = {{"application_id", "app"},
                   {"sources", {{{"name", "orders"}, {"topic", "orders"}}}},
                   {"tables", {{{"name", "customers"}, {"topic", "customers"}}}},
                   {"operators", {{{"name", "joined"}, {"from", "orders"}, {"join", join}}}},
                   {"sinks", {{{"from", "joined"}, {"topic", "out"}}}},
                   {"dead_letter_topic", "dlq"}};
  return sluice::testing::parse_valid(document);
}

std::vector<std::string> tiers(const std::vector<sluice::testing::FakeRecord>& records) {
  std::vector<std::string> result;
  for (const auto& record : records) {
    const json tier = json::parse(*record.value)["tier"];
    result.push_back(tier.is_null() ? "null" : tier.get<std::string>());
  }
  return result;
}

TEST_F(ProcessorFaults, AJoinTakesItsInputsInEventTimeOrderWhateverTheFetchOrder) {
  cluster.create_topic("orders", 1);
  cluster.create_topic("customers", 1);
  start(join_topology());
  const std::int64_t t = clock.wall_ms();
  cluster.produce("customers", 0, "c", R"({"tier": "bronze"})", t + 100);
  cluster.produce("customers", 0, "c", R"({"tier": "silver"})", t + 101);
  cluster.produce("customers", 0, "c", R"({"tier": "gold"})", t + 102);
  cluster.produce("orders", 0, "c", R"({"amount": 5})", t + 150);
  cluster.produce("customers", 0, "c", R"({"tier": "platinum"})", t + 200);  // after the order: not seen by it
  steps(6);
  EXPECT_EQ(tiers(cluster.read_committed("out")), (std::vector<std::string>{"gold"})) << log.str();
  EXPECT_EQ(metric("sluice_enforced_processing_total"), 0);
  processor->close();
}

TEST_F(ProcessorFaults, TableRowsGaugeCountsTheCommittedRowsOfAPartitionedTable) {
  cluster.create_topic("orders", 1);
  cluster.create_topic("customers", 1);
  start(join_topology());
  const std::int64_t t = clock.wall_ms();
  cluster.produce("customers", 0, "a", R"({"tier": "bronze"})", t);
  cluster.produce("customers", 0, "b", R"({"tier": "silver"})", t + 1);
  cluster.produce("customers", 0, "c", R"({"tier": "gold"})", t + 2);
  cluster.produce("customers", 0, "a", R"({"tier": "gold"})", t + 3);  // an update: still one row
  cluster.produce("customers", 0, "b", std::nullopt, t + 4);            // a tombstone: one row fewer
  steps(40);  // 2 s: committed, and the gauges (once a second) have seen the commit
  EXPECT_EQ(metric("sluice_table_rows"), 2) << log.str();
  cluster.produce("customers", 0, "d", R"({"tier": "bronze"})", t + 5);
  steps(40);
  EXPECT_EQ(metric("sluice_table_rows"), 3) << log.str();
  processor->close();
}

TEST_F(ProcessorFaults, AJoinWaitsUpToMaxTaskIdleForAQuietTableThenGoesOn) {
  cluster.create_topic("orders", 1);
  cluster.create_topic("customers", 1);
  options.max_task_idle_ms = 1'000;
  start(join_topology());
  steps(2);  // both partitions fetched once: caught up, empty
  const std::int64_t t = clock.wall_ms() + 50;
  cluster.produce("orders", 0, "c", R"({"amount": 5})", t);
  steps(10);  // 500 ms: the order waits for the quiet table
  EXPECT_TRUE(cluster.read_committed("out").empty());
  // Table rows arrive within max_task_idle, one older than the order and one newer: the order sees the older
  // one at once (the newer row holds a record to compare with), and not the newer one.
  cluster.produce("customers", 0, "c", R"({"tier": "gold"})", t - 1'000);
  cluster.produce("customers", 0, "c", R"({"tier": "platinum"})", t + 500);
  steps(4);
  EXPECT_EQ(tiers(cluster.read_committed("out")), (std::vector<std::string>{"gold"})) << log.str();
  EXPECT_EQ(metric("sluice_enforced_processing_total"), 0);
  // Another order, and the table stays quiet: after max_task_idle (and not before) it goes on without it.
  cluster.produce("orders", 0, "c", R"({"amount": 7})", clock.wall_ms());
  steps(18);  // 900 ms
  EXPECT_EQ(cluster.read_committed("out").size(), 1u);
  steps(6);
  EXPECT_EQ(tiers(cluster.read_committed("out")), (std::vector<std::string>{"gold", "platinum"}));
  EXPECT_EQ(metric("sluice_enforced_processing_total"), 1);
  // The table's wait ran out and it is still quiet: later orders go on at once.
  cluster.produce("orders", 0, "c", R"({"amount": 9})", clock.wall_ms());
  steps(3);
  EXPECT_EQ(cluster.read_committed("out").size(), 3u);
  EXPECT_EQ(metric("sluice_enforced_processing_total"), 2);
  processor->close();
}

TEST_F(ProcessorFaults, AJoinsMaxTaskIdleOverridesTheSetting) {
  cluster.create_topic("orders", 1);
  cluster.create_topic("customers", 1);
  options.max_task_idle_ms = 0;  // the setting would not wait for a caught-up table
  start(join_topology("1s"));
  steps(2);
  cluster.produce("orders", 0, "c", R"({"amount": 5})", clock.wall_ms());
  steps(18);  // 900 ms
  EXPECT_TRUE(cluster.read_committed("out").empty());
  steps(6);
  EXPECT_EQ(tiers(cluster.read_committed("out")), (std::vector<std::string>{"null"})) << log.str();
  processor->close();
}

TEST_F(ProcessorFaults, AFullInputBufferPausesItsPartitionUntilTheTaskCatchesUp) {
  cluster.create_topic("orders", 1);
  cluster.create_topic("customers", 1);
  options.buffered_records_per_partition = 10;
  options.max_task_idle_ms = 2'000;  // the table is quiet: orders pile up while the task waits for it
  start(join_topology());
  steps(2);
  for (int i = 0; i < 25; ++i) cluster.produce("orders", 0, "c", R"({"amount": 1})", clock.wall_ms());
  steps(4);
  EXPECT_TRUE(cluster.paused(consumer(), "orders", 0));
  EXPECT_TRUE(cluster.read_committed("out").empty());
  steps(60);  // 3 s: the wait ran out, the buffer drained, the partition resumed and the rest followed
  EXPECT_FALSE(cluster.paused(consumer(), "orders", 0));
  EXPECT_EQ(tiers(cluster.read_committed("out")), std::vector<std::string>(25, "null")) << log.str();
  EXPECT_EQ(metric("sluice_enforced_processing_total"), 25);
  EXPECT_EQ(cluster.committed("app", "orders", 0).value_or(-1), 25);
  processor->close();
}

// Issue 13: under exactly-once a window's final result is invisible until committed, and its readers wait for
// exactly that. Windows that close at an aligned end (tumbling, hopping) commit right away instead of at the
// interval; other emissions (updates, sessions, whose closes are not aligned) keep the interval.
struct CommitSoonCase {
  const char* name;
  json window;  // the aggregate's "window"
  const char* emit;
  bool exactly_once;
  bool commits_soon;
};

void PrintTo(const CommitSoonCase& test, std::ostream* out) { *out << test.name; }

class CommitSoon : public ProcessorFaults, public ::testing::WithParamInterface<CommitSoonCase> {};

topology::Topology windowed_count_topology(const json& window, const char* emit) {
  json document = {{"application_id", "app"},
                   {"sources", {{{"name", "in"}, {"topic", "in"}}}},
                   {"operators",
                    {{{"name", "per_second"},
                      {"from", "in"},
                      {"window", window},
                      {"aggregate", {{"n", "count()"}}},
                      {"emit", emit}}}},
                   {"sinks", {{{"from", "per_second"}, {"topic", "out"}}}},
                   {"dead_letter_topic", "dlq"}};
  return sluice::testing::parse_valid(document);
}

TEST_P(CommitSoon, OnlyFinalResultsOfAlignedWindowsAreCommittedBeforeTheInterval) {
  const CommitSoonCase& test = GetParam();
  options.commit_interval = 3'600'000ms;  // never due within the test
  options.exactly_once = test.exactly_once;
  start(windowed_count_topology(test.window, test.emit));
  const std::int64_t t = clock.wall_ms();  // a multiple of 1,000: a window starts here
  cluster.produce("in", 0, "a", "{}", t + 100);
  cluster.produce("in", 0, "a", "{}", t + 200);
  for (int i = 0; i < 3; ++i) processor->step();
  const double commits_before = metric("sluice_commits_total");
  cluster.produce("in", 0, "a", "{}", t + 5'000);  // stream time past [t, t + 1000) and its grace
  for (int i = 0; i < 3; ++i) {
    clock.advance_ms(runtime::Processor::kCommitSoonSpacingMs);
    processor->step();
  }
  EXPECT_EQ(metric("sluice_commits_total") - commits_before, test.commits_soon ? 1 : 0) << log.str();
  if (test.commits_soon) {
    EXPECT_EQ(committed(0), 3);
    const auto out = cluster.read_committed("out");  // hopping: [t - 500, t + 500) and [t, t + 1000)
    ASSERT_FALSE(out.empty()) << log.str();
    for (const auto& record : out) EXPECT_EQ(json::parse(*record.value)["n"], 2) << *record.value;
  }
  processor->close();
}

INSTANTIATE_TEST_SUITE_P(
    Windows, CommitSoon,
    ::testing::Values(
        CommitSoonCase{"TumblingFinal", {{"type", "tumbling"}, {"size", "1s"}}, "final", true, true},
        CommitSoonCase{"HoppingFinal", {{"type", "hopping"}, {"size", "1s"}, {"advance", "500ms"}}, "final", true, true},
        CommitSoonCase{"TumblingUpdate", {{"type", "tumbling"}, {"size", "1s"}}, "update", true, false},
        CommitSoonCase{"SessionFinal", {{"type", "session"}, {"gap", "1s"}}, "final", true, false},
        CommitSoonCase{"TumblingFinalAtLeastOnce", {{"type", "tumbling"}, {"size", "1s"}}, "final", false, false}),
    [](const ::testing::TestParamInfo<CommitSoonCase>& info) { return std::string(info.param.name); });

// Catching up on a backlog (the event times an hour old), windows close far faster than real time: they wait for
// the interval, or a commit for each would cost a third of the throughput (q5 under exactly-once, 190-221k ->
// 136-137k records/s). Once stream time is within kCommitSoonMaxLagMs of the wall clock, they commit early again.
TEST_F(ProcessorFaults, WindowsClosedWhileCatchingUpWaitForTheInterval) {
  options.commit_interval = 3'600'000ms;
  start(windowed_count_topology({{"type", "tumbling"}, {"size", "1s"}}, "final"));
  const std::int64_t old = clock.wall_ms() - 3'600'000;
  cluster.produce("in", 0, "a", "{}", old + 100);
  for (int i = 0; i < 3; ++i) processor->step();
  const double commits_before = metric("sluice_commits_total");
  for (std::int64_t second = 1; second <= 5; ++second) {  // each closes the window before it
    cluster.produce("in", 0, "a", "{}", old + second * 1'000 + 100);
    clock.advance_ms(runtime::Processor::kCommitSoonSpacingMs);
    processor->step();
    clock.advance_ms(runtime::Processor::kCommitSoonSpacingMs);
    processor->step();
  }
  EXPECT_EQ(metric("sluice_commits_total"), commits_before) << log.str();
  EXPECT_TRUE(cluster.read_committed("out").empty());
  // Live again: a record at the wall clock less the lag allowed closes the backlog's last window, and commits.
  cluster.produce("in", 0, "a", "{}", clock.wall_ms() - runtime::Processor::kCommitSoonMaxLagMs);
  for (int i = 0; i < 3; ++i) {
    processor->step();
    clock.advance_ms(runtime::Processor::kCommitSoonSpacingMs);
  }
  EXPECT_EQ(metric("sluice_commits_total") - commits_before, 1) << log.str();
  EXPECT_EQ(cluster.read_committed("out").size(), 6u);
  processor->close();
}

// Tasks reach a window end a few records apart (each its own partition): the commit waits for the last of them,
// so that one commit carries the window end instead of one per task, each delaying the next task's close.
TEST_F(ProcessorFaults, OneCommitCarriesAWindowEndOnceEveryTaskHasClosedIt) {
  options.commit_interval = 3'600'000ms;
  start(windowed_count_topology({{"type", "tumbling"}, {"size", "1s"}}, "final"));
  const std::int64_t t = clock.wall_ms();
  cluster.produce("in", 0, "a", "{}", t + 100);
  cluster.produce("in", 1, "b", "{}", t + 150);
  for (int i = 0; i < 3; ++i) processor->step();
  const double commits_before = metric("sluice_commits_total");
  cluster.produce("in", 0, "a", "{}", t + 5'000);  // partition 0 closes [t, t + 1000); partition 1 not yet
  for (int i = 0; i < 3; ++i) {
    clock.advance_ms(runtime::Processor::kCommitSoonSpacingMs);
    processor->step();
  }
  EXPECT_EQ(metric("sluice_commits_total"), commits_before) << log.str();
  EXPECT_TRUE(cluster.read_committed("out").empty());
  cluster.produce("in", 1, "b", "{}", t + 5'000);
  for (int i = 0; i < 3; ++i) {
    clock.advance_ms(runtime::Processor::kCommitSoonSpacingMs);
    processor->step();
  }
  EXPECT_EQ(metric("sluice_commits_total") - commits_before, 1) << log.str();
  EXPECT_EQ(cluster.read_committed("out").size(), 2u);
  processor->close();
}

// Issue 13: librdkafka 2.0.2 stops fetching at its prefetch bound and decides again only when its thread next
// wakes, up to a second later; a processing thread that drained the queue would wait that second for nothing.
// Having drained about half the bound since the queue was last empty, the processor wakes the fetcher (a seek to
// where it was), and reads on from there, losing and repeating nothing.
TEST_F(ProcessorFaults, ADrainedPrefetchQueueWakesTheStoppedFetcher) {
  options.commit_interval = 3'600'000ms;
  options.consumer_queue_max_kbytes = 1;  // half of it: 512 bytes of keys and values, about 40 records
  cluster.set_fetch_stall(100);
  start(passthrough_topology());
  for (int i = 0; i < 1'000; ++i) cluster.produce("in", i % 2, "k", json{{"i", i}}.dump(), clock.wall_ms());
  for (int i = 0; i < 50; ++i) processor->step();  // no time passes: a stalled fetcher would stay stalled
  EXPECT_GE(metric("sluice_fetcher_wakeups_total"), 9);
  processor->close();  // commits what was processed
  EXPECT_EQ(committed(0) + committed(1), 1'000) << log.str();
  const auto out = cluster.read_committed("out");
  ASSERT_EQ(out.size(), 1'000u);
  std::set<std::int64_t> seen;
  for (const auto& record : out) seen.insert(json::parse(*record.value)["i"].get<std::int64_t>());
  EXPECT_EQ(seen.size(), 1'000u);  // every record once
}

// The same for a join: its task compares each input's position with the high watermark to know whether more is
// coming, and librdkafka forgets a position at a seek until the next record (the quiet table has none): the
// task uses the position sought, so the orders do not wait for the table after each wake-up.
TEST_F(ProcessorFaults, AJoinsFetcherIsWokenAndItsQuietTableStaysCaughtUp) {
  cluster.create_topic("orders", 1);
  cluster.create_topic("customers", 1);
  options.commit_interval = 3'600'000ms;
  options.max_task_idle_ms = 0;  // a caught-up table is not waited for; a lagging one is (500 ms)
  options.consumer_queue_max_kbytes = 1;
  cluster.set_fetch_stall(100);
  start(join_topology());
  const std::int64_t t = clock.wall_ms();
  cluster.produce("customers", 0, "c", R"({"tier": "gold"})", t - 1'000);
  for (int i = 0; i < 1'000; ++i) cluster.produce("orders", 0, "c", R"({"amount": 5})", t + i);
  for (int i = 0; i < 60; ++i) {  // 60 ms in all: a table taken for lagging would hold the orders back
    clock.advance_ms(1);
    processor->step();
  }
  EXPECT_GE(metric("sluice_fetcher_wakeups_total"), 9);
  processor->close();
  EXPECT_EQ(cluster.read_committed("out").size(), 1'000u) << log.str();
  EXPECT_EQ(metric("sluice_enforced_processing_total"), 0);
}

// A queue that runs dry while little was drained (a caught-up input) does not touch the fetcher.
TEST_F(ProcessorFaults, AQueueThatRunsDryWithLittleDrainedLeavesTheFetcherAlone) {
  options.consumer_queue_max_kbytes = 1;
  start(passthrough_topology());
  for (int round = 0; round < 20; ++round) {
    cluster.produce("in", 0, "k", json{{"i", round}}.dump(), clock.wall_ms());
    steps(1);
  }
  EXPECT_EQ(metric("sluice_fetcher_wakeups_total"), 0);
  EXPECT_EQ(cluster.read_committed("out").size(), 20u) << log.str();
  processor->close();
}

TEST(HealthTest, ACallStalledPastTheLimitMakesTheThreadNotReadyAndSaysWhy) {
  runtime::Health health;
  health.set_ready(true, "processing");
  {
    runtime::BlockingCall call(&health, "send_offsets_to_transaction", 1'000);
    EXPECT_TRUE(health.ready_at(1'000 + runtime::Health::kStalledCallMs - 1));
    EXPECT_FALSE(health.ready_at(1'000 + runtime::Health::kStalledCallMs));
    EXPECT_EQ(health.reason_at(41'000), "waiting for the cluster: send_offsets_to_transaction has not returned for 40 s");
  }
  EXPECT_TRUE(health.ready_at(41'000));
  EXPECT_EQ(health.reason_at(41'000), "processing");
}
