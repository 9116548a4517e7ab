// One processing thread's Kafka loop: a consumer in the application's group, a producer, and the pipeline.
// At-least-once: outputs are produced asynchronously, and input offsets are committed only after every output
// produced so far has been acknowledged by the broker (commit()). commit() is the single place where outputs
// become durable and inputs are marked done, so exactly-once can later wrap it in a Kafka transaction.
//
// Keyed state: each assigned partition belongs to a task (sub-topology, partition). A stateful task opens its
// RocksDB stores under state_dir, restores its changelog tail (from the offset the local store reflects) with a
// separate restore consumer while its input partitions stay paused and other tasks keep processing, then runs.
// A commit: keyed operators emit (closed windows, compacted updates), state changes go to the changelog, every
// output is acknowledged, input offsets are committed, and only then the stores apply the changes together with
// the changelog offsets they reflect — so a local store always holds a committed prefix of its changelog.
//
// Lifecycle: construct, run(stop_flag) on the calling thread until the flag is set (SIGTERM) or a fatal error;
// run() leaves the group and flushes before returning. Health is shared with the HTTP threads (atomics).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/kafka/client.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/pipeline.hpp"
#include "sluice/state/store.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::runtime {

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
  std::int64_t restore_batch_records = 10'000;
  // RocksDB block cache and write buffer budget shared by every processing thread of the process; when null,
  // the Processor makes its own from state_memory_bytes.
  std::shared_ptr<state::StateResources> state_resources;
  // exactly_once: one transaction per commit holds outputs, repartition and changelog records and the input
  // offsets (KIP-447: sent with the consumer's group metadata). transactional_id must be stable per instance,
  // so a restarted instance fences its zombie and aborts its open transaction at once.
  bool exactly_once = true;
  std::string transactional_id;
  std::chrono::milliseconds transaction_timeout{60'000};
};

// Liveness and readiness, read by /healthz and /readyz.
class Health {
 public:
  void set_ready(bool ready, std::string reason);
  bool ready() const noexcept { return ready_.load(); }
  std::string reason() const;
  void beat(std::int64_t monotonic_ms) noexcept { last_beat_ms_.store(monotonic_ms); }
  std::int64_t last_beat_ms() const noexcept { return last_beat_ms_.load(); }

 private:
  std::atomic<bool> ready_{false};
  std::atomic<std::int64_t> last_beat_ms_{0};
  mutable std::mutex mutex_;
  std::string reason_ = "starting";
};

enum class RunOutcome : std::uint8_t {
  stopped,        // stop requested; committed and left the group
  config_error,   // the cluster does not fit the topology (missing source topics): exit code 2
  fatal,          // unrecoverable client error: exit code 1
};

class Processor final : public kafka::RebalanceListener, public OutputCollector {
 public:
  Processor(const Pipeline& pipeline, ProcessorOptions options, observe::Metrics& metrics, observe::Logger& logger,
            const core::Clock& clock, Health& health);
  ~Processor() override;

  RunOutcome run(const std::atomic<bool>& stop_requested);

  // OutputCollector
  void send(std::size_t sink_index, const OutputRecord& record) override;
  void on_dead_letter(std::string_view operator_name, core::RecordErrorKind kind) override;
  void on_discarded(std::string_view operator_name) override;

  // RebalanceListener
  void on_partitions_revoked(const std::vector<kafka::TopicPartition>& partitions) override;
  void on_partitions_assigned(const std::vector<kafka::TopicPartition>& partitions) override;
  void on_partitions_lost(const std::vector<kafka::TopicPartition>& partitions) override;

 private:
  // A changelog partition being replayed into a task's store slot.
  struct RestoreTarget {
    std::size_t slot = 0;
    std::string topic;
    std::int64_t end = 0;       // high watermark when the restore started
    std::int64_t position = 0;  // next offset to apply
    std::int64_t start = 0;
  };
  struct Restore {
    std::vector<RestoreTarget> targets;
    std::int64_t restored = 0;
    std::int64_t started_ms = 0;
    std::int64_t last_log_ms = 0;
  };

  bool wait_for_cluster(const std::atomic<bool>& stop_requested, std::vector<kafka::TopicInfo>& topics);
  bool prepare_topics(const std::vector<kafka::TopicInfo>& topics);
  void create_clients();
  void process(const kafka::Message& message);
  TaskState* open_task(const TaskId& id);
  void close_tasks(bool commit_state);
  void start_restore(TaskState& task);
  void restore_step();
  void finish_restore(const TaskId& id, Restore& restore);
  void update_restore_assignment();
  std::vector<kafka::TopicPartition> input_partitions(const TaskId& id) const;
  std::size_t buffered_state_changes() const;
  // Waits for all outputs to be acknowledged, then commits the consumed offsets. Returns false if nothing
  // could be committed (outputs failed: the inputs were rewound and will be processed again).
  bool commit(const char* why);
  bool finish_commit(const std::vector<kafka::TopicPartition>& offsets, std::int64_t started);
  void rewind_to_committed();
  // Exactly-once: begins the transaction on the first write after a commit; false if the producer failed.
  bool ensure_transaction();
  bool commit_transaction(const std::vector<kafka::TopicPartition>& offsets, const char* why);
  void abort_transaction(const char* why);
  void update_gauges();
  // Runs the on_time hooks of every ready task whose stream time moved since they last ran.
  void close_due_windows();
  // Instance-wide gauges summed over processing threads: each thread adds the change of its own share.
  static void set_share(prometheus::Gauge& gauge, double& share, double value) {
    gauge.Increment(value - share);
    share = value;
  }
  kafka::ClientCallbacks client_callbacks(std::string name);

  const Pipeline& pipeline_;
  ProcessorOptions options_;
  observe::Metrics& metrics_;
  observe::Logger& logger_;
  const core::Clock& clock_;
  Health& health_;
  PipelineState state_;
  std::string component_;  // log component: "runtime", or "runtime-<thread>" for threads after the first

  std::unique_ptr<kafka::Consumer> consumer_;
  std::unique_ptr<kafka::Producer> producer_;

  // Hash that lets maps keyed by std::string be searched with a string_view, so the per-record path does not
  // allocate a key.
  struct TopicHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view topic) const noexcept { return std::hash<std::string_view>{}(topic); }
  };
  template <typename Value>
  using TopicMap = std::unordered_map<std::string, Value, TopicHash, std::equal_to<>>;

  // Next offsets consumed but not yet committed (topic -> partition -> offset), and the last committed ones.
  TopicMap<std::map<std::int32_t, std::int64_t>> pending_offsets_;
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> committed_offsets_;
  std::vector<kafka::TopicPartition> assignment_;
  bool delivery_failed_ = false;
  bool in_transaction_ = false;
  bool cluster_unreachable_ = false;
  bool in_group_ = false;  // an assignment (possibly empty) was received and not revoked since
  std::int64_t last_unreachable_probe_ms_ = 0;
  std::atomic<bool> fatal_error_{false};

  // Tasks by id; the ones in restoring_ have paused input partitions until their stores caught up.
  std::map<TaskId, TaskState> tasks_;
  std::map<TaskId, Restore> restoring_;
  std::shared_ptr<state::StateResources> state_resources_;
  std::unique_ptr<kafka::Consumer> restore_consumer_;
  std::vector<std::int32_t> subtopology_partitions_;
  // Offset of the last changelog record acknowledged per (task, slot) in the current commit (-1: none).
  std::map<TaskId, std::vector<std::int64_t>> changelog_offsets_;
  std::vector<std::pair<TaskId, std::size_t>> changelog_slots_;  // delivery opaque -> (task, slot), per commit
  bool outputs_since_commit_ = false;
  std::int64_t records_since_buffer_check_ = 0;
  // The state buffer bound is checked every kBufferCheckRecords records (a walk over the tasks' stores), so a
  // commit holds at most that many records' changes beyond state_buffer_max_records. It was 1000, and a
  // crash between a commit and its local apply then replayed up to 1000 records' changes more than the bound
  // (the kill -9 test saw 5,616 against 5,000 + 64).
  static constexpr int kBufferCheckRecords = 16;
  // Records served per poll batch, and one in kLatencySample records is timed for the latency histogram.
  static constexpr int kMaxBatch = 500;
  static constexpr int kLatencySample = 64;
  int records_since_latency_sample_ = 0;
  std::int64_t batch_wall_ms_ = 0;  // wall clock at the start of the current batch (idle detection)

  // Metric handles resolved once, so the per-record path does no label lookups.
  std::vector<prometheus::Counter*> consumed_by_source_;
  double active_tasks_share_ = 0;
  double assigned_partitions_share_ = 0;
  double producer_queue_share_ = 0;
  TopicMap<prometheus::Counter*> produced_by_topic_;
};

}  // namespace sluice::runtime
