// One processing thread: a consumer in the application's group, a producer, and the loop that runs the
// pipeline over what the consumer fetches. The jobs are split over collaborators this class wires together:
//   TopicProvisioner    waits for the cluster, checks and creates topics (start-up)
//   TaskManager         the tasks of the current assignment, per-record task lookup, the commit order
//   ChangelogRestorer   replays changelog tails of restoring tasks (their inputs paused)
//   RecordCollector     produces outputs, dead letters and changelog records; delivery reports
//   Committer           exactly-once (transactions) or at-least-once (flush, then offsets)
// and it is the consumer's RebalanceListener: revoke commits, lost does not, assign opens and restores tasks.
// Kafka is reached only through the kafka::ClientFactory handed in (librdkafka in production, a fake in unit
// tests); time only through the injected clock.
//
// Lifecycle: construct, run(stop_flag) on the calling thread until the flag is set (SIGTERM) or a failure;
// run() always ends with close(): commit (unless failed), abort what is open, leave the group, close the
// tasks, flush. close() is idempotent and also runs from the destructor, so no callback can reach a member
// that is gone. Health is shared with the HTTP threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/core/backoff.hpp"
#include "sluice/core/clock.hpp"
#include "sluice/kafka/client.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/changelog_restorer.hpp"
#include "sluice/runtime/committer.hpp"
#include "sluice/runtime/global_tables.hpp"
#include "sluice/runtime/health.hpp"
#include "sluice/runtime/input_queue.hpp"
#include "sluice/runtime/pipeline.hpp"
#include "sluice/runtime/pipeline_metrics.hpp"
#include "sluice/runtime/record_collector.hpp"
#include "sluice/runtime/task_manager.hpp"
#include "sluice/runtime/topic_provisioner.hpp"
#include "sluice/state/store.hpp"

namespace sluice::runtime {

class StoreGuard;

struct ProcessorOptions {
  std::string bootstrap_servers = "127.0.0.1:9092";
  kafka::Config kafka;  // pass-through properties (kafka.* settings without the prefix)
  std::chrono::milliseconds commit_interval{100};
  std::string instance_id;  // static membership (group.instance.id) when not empty
  // Index of this processing thread within the instance (several Processors share one process): it names the
  // clients in logs and broker metrics.
  int thread_index = 0;
  std::int64_t producer_queue_max_records = 100'000;
  std::int64_t consumer_queue_max_kbytes = 16'384;
  std::chrono::milliseconds max_poll_interval{300'000};
  std::chrono::milliseconds session_timeout{45'000};
  std::chrono::milliseconds shutdown_timeout{30'000};
  std::chrono::milliseconds startup_backoff_max{30'000};
  bool create_output_topics = true;
  std::int32_t output_topic_partitions = 0;  // 0: as many as the largest source topic
  std::string state_dir = "/tmp/sluice-state";
  std::int64_t state_memory_bytes = 256ll << 20;
  std::int64_t state_buffer_max_records = 100'000;
  std::int64_t window_idle_timeout_ms = 60'000;
  // Event-time order across the input partitions of a task with several inputs (input_queue.hpp): how long an
  // empty caught-up input partition holds the task back, and how many records each such partition buffers
  // before it is paused.
  std::int64_t max_task_idle_ms = 0;
  std::int64_t buffered_records_per_partition = 1'000;
  std::int64_t restore_batch_records = 10'000;
  // Consecutive commits that fail for a reason that is not an outage (a refused write, missing ACLs) before
  // the thread stops with exit code 1.
  int max_failed_commits = 10;
  // RocksDB block cache and write buffer budget shared by every processing thread of the process; when null,
  // the Processor makes its own from state_memory_bytes.
  std::shared_ptr<state::StateResources> state_resources;
  // Opens a task's stores; when empty, RocksDB stores under state_dir (unit tests pass memory stores, or
  // stores that fail on purpose).
  StoreOpener open_stores;
  // exactly_once: one transaction per commit holds outputs, repartition and changelog records and the input
  // offsets (KIP-447: sent with the consumer's group metadata). transactional_id must be stable per instance,
  // so a restarted instance fences its zombie and aborts its open transaction at once.
  bool exactly_once = true;
  std::string transactional_id;
  std::chrono::milliseconds transaction_timeout{60'000};
  // The instance's global tables (shared by its processing threads, started by app): open() waits until they
  // are loaded before joining the group, reporting the progress in /readyz. Null when there are none.
  GlobalTables* global_tables = nullptr;
  // The instance's store guard (shared by its processing threads): open() has it check the stores' fingerprints
  // after the topics are provisioned and before any task opens a store (a changed store: config_error), and the
  // RocksDB stores of a task are dropped when the marker in their directory no longer matches. Null: no checks.
  StoreGuard* store_guard = nullptr;
};

enum class RunOutcome : std::uint8_t {
  stopped,       // stop requested; committed and left the group
  config_error,  // the cluster does not fit the topology (missing source topics): exit code 2
  fatal,         // unrecoverable failure (fenced, refused, a store that cannot be written): exit code 1
};

enum class ThreadState : std::uint8_t {
  created,
  starting,  // waiting for the cluster, creating topics and clients
  joining,   // subscribed; no assignment (yet, or since a revoke)
  running,   // has an assignment
  closing,   // close() is leaving the group: callbacks commit nothing
  failed,    // a fatal failure: the loop ends, close() commits nothing
  closed,
};
std::string_view to_string(ThreadState state);

class Processor final : public kafka::RebalanceListener {
 public:
  // The least time between a commit and one brought forward for closed windows.
  static constexpr std::int64_t kCommitSoonSpacingMs = 10;
  // Windows are committed early only while their stream time is at most this far behind the wall clock: a
  // processor catching up on a backlog closes windows far faster than real time, and a commit for each would
  // cost throughput to shorten a wait already dominated by the backlog.
  static constexpr std::int64_t kCommitSoonMaxLagMs = 1'000;
  Processor(const Pipeline& pipeline, ProcessorOptions options, kafka::ClientFactory& clients,
            observe::Metrics& metrics, observe::Logger& logger, const core::Clock& clock, Health& health);
  ~Processor() override;
  Processor(const Processor&) = delete;
  Processor& operator=(const Processor&) = delete;

  // open(); step() until it returns false; close().
  RunOutcome run(const std::atomic<bool>& stop_requested);
  // Start-up: waits for the cluster, creates topics and clients, subscribes. nullopt when ready to step(),
  // else how the run ended (stopped while waiting, a topology that does not fit, a fatal failure).
  std::optional<RunOutcome> open(const std::atomic<bool>& stop_requested);
  // One turn of the loop: restore, poll and process a batch, close due windows, commit when due. False once
  // the loop should end (stop requested, or failed). Exceptions (an internal failure) escape; run() catches.
  bool step();
  // The shutdown sequence (see above); idempotent.
  void close() noexcept;
  // How a run that got past open() ended: fatal if it failed, else stopped.
  RunOutcome outcome() const noexcept { return failed_ ? RunOutcome::fatal : RunOutcome::stopped; }
  ThreadState state() const noexcept { return state_; }

  // RebalanceListener
  void on_partitions_revoked(const std::vector<kafka::TopicPartition>& partitions) override;
  void on_partitions_assigned(const std::vector<kafka::TopicPartition>& partitions) override;
  void on_partitions_lost(const std::vector<kafka::TopicPartition>& partitions) override;
  bool on_assignment_delayed(const kafka::KafkaError& error) override;
  void on_assignment_failed(const std::vector<kafka::TopicPartition>& partitions, const kafka::KafkaError& error) override;

 private:
  // A consumed record: processed at once by a single-input task, queued by a task with several inputs.
  void consume(kafka::Message&& message);
  // The consumer's queue ran empty: wakes librdkafka's fetcher when it has most likely stopped at its bound.
  void on_queue_dry();
  void process(std::size_t source, TaskState& task, const kafka::Message& message);
  // Processes what the queues of multi-input tasks let through now; the number of records processed.
  int drain_queues(std::int64_t wall_ms);
  // How long the poll may block without making a queue wait longer than it should.
  std::chrono::milliseconds queue_wait(std::int64_t wall_ms, std::chrono::milliseconds wait) const;
  void clear_queues();
  void commit(const char* why);
  // After a rollback: inputs back to their committed offsets, state back to the committed state.
  void rewind();
  void fail(const std::string& message);
  std::unique_ptr<state::TaskStores> open_marked_stores(const StoreGuard& guard,
                                                        const std::shared_ptr<state::StateResources>& resources,
                                                        const state::StateOptions& directory, const TaskId& id,
                                                        const std::vector<std::uint8_t>& families);
  void set_trouble(const std::string& reason);
  void clear_trouble();
  void update_readiness();
  void update_gauges();
  void update_table_rows();  // sluice_table_rows: this thread's share, from its tasks' table stores
  void forget_assignment();
  kafka::ClientCallbacks client_callbacks(const std::string& name);
  std::int64_t now_ms() const { return clock_.monotonic_ns() / 1'000'000; }
  // Instance-wide gauges summed over processing threads: each thread adds the change of its own share.
  static void set_share(prometheus::Gauge& gauge, double& share, double value) {
    gauge.Increment(value - share);
    share = value;
  }

  const Pipeline& pipeline_;
  ProcessorOptions options_;
  kafka::ClientFactory& clients_;
  observe::Metrics& metrics_;
  observe::Logger& logger_;
  const core::Clock& clock_;
  Health& health_;
  std::string component_;  // log component: "runtime", or "runtime-<thread>" for threads after the first
  PipelineState state_data_;
  PipelineMetrics pipeline_metrics_;
  ThreadState state_ = ThreadState::created;
  const std::atomic<bool>* stop_requested_ = nullptr;
  std::optional<std::string> trouble_;          // why commits or the cluster are failing now (not ready)
  kafka::KafkaError last_client_error_;          // from the clients' error callbacks
  std::vector<kafka::TopicPartition> assignment_;
  std::shared_ptr<state::StateResources> state_resources_;

  // Declared in dependency order: destroyed in reverse, the consumers first (after close()).
  std::unique_ptr<kafka::Admin> admin_;
  std::unique_ptr<TopicProvisioner> topics_;
  std::unique_ptr<RecordCollector> collector_;  // owns the producer
  std::unique_ptr<TaskManager> tasks_;
  std::unique_ptr<Committer> committer_;
  ExactlyOnceCommitter* transactions_ = nullptr;  // committer_, under exactly-once
  std::unique_ptr<kafka::Consumer> restore_consumer_;
  std::unique_ptr<ChangelogRestorer> restorer_;
  std::unique_ptr<kafka::Consumer> consumer_;

  std::int64_t records_since_buffer_check_ = 0;
  // The state buffer bound is checked every kBufferCheckRecords records (a walk over the tasks' stores), so a
  // commit holds at most that many records' changes beyond state_buffer_max_records.
  static constexpr int kBufferCheckRecords = 16;
  // Records served per poll batch, and one in kLatencySample records is timed for the latency histogram.
  static constexpr int kMaxBatch = 500;
  static constexpr int kLatencySample = 64;
  int records_since_latency_sample_ = 0;
  std::int64_t batch_wall_ms_ = 0;  // wall clock at the start of the current batch (idle detection)
  int rollbacks_in_a_row_ = 0;
  std::int64_t assignment_delayed_since_ms_ = -1;  // reading a new assignment's committed offsets since (-1: not)
  std::int64_t assignment_delay_logged_ms_ = 0;
  bool failed_ = false;
  std::int64_t next_commit_ms_ = 0;
  std::int64_t drained_bytes_ = 0;     // key and value bytes consumed since the consumer's queue was last empty
  // Per assigned partition: the position its last fetcher wake-up sought (librdkafka's is unknown until the next
  // record), for the caught-up test of multi-input tasks.
  std::map<std::pair<std::string, std::int32_t>, std::int64_t, std::less<>> sought_positions_;
  std::int64_t last_commit_ms_ = 0;  // when the loop's last commit returned
  // Windows closed that asked for a commit soon: the commit comes once every task of theirs closed them too.
  std::optional<TaskManager::CommitSoon> commit_soon_;
  bool commit_brought_forward_ = false;  // next_commit_ms_ was brought forward for them
  std::int64_t next_gauges_ms_ = 0;
  std::unique_ptr<core::Backoff> rollback_backoff_;
  std::int64_t last_probe_ms_ = 0;

  // Multi-input tasks (joins, merged sources): per source, its index among its sub-topology's sources, and per
  // sub-topology its sources when it has more than one (else empty).
  std::vector<std::size_t> input_index_;
  std::vector<std::vector<std::size_t>> inputs_of_subtopology_;
  std::vector<std::int64_t> task_idle_ms_;  // per sub-topology: max_task_idle, or its joins' override
  struct InputQueue {
    TaskInputQueue queue;
    std::vector<bool> paused;  // per input: paused in the consumer because its buffer is full
  };
  std::map<TaskId, InputQueue> queues_;

  // Metric handles resolved once, so the per-record path does no label lookups.
  std::vector<prometheus::Counter*> consumed_by_source_;
  double active_tasks_share_ = 0;
  double assigned_partitions_share_ = 0;
  double producer_queue_share_ = 0;
  std::vector<double> table_rows_share_;  // per Topology::tables index: this thread's part of sluice_table_rows
};

}  // namespace sluice::runtime
