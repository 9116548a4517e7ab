// The compiled form of a topology: operators wired into a graph, with source decoders and sink encoders.
// A Pipeline is immutable and shared by processing threads; each thread brings a PipelineState (parser and
// expression scratch) and an OutputCollector (where encoded records and dead letters go: Kafka, or the
// in-process TestDriver). Processing one input record runs it through the whole graph synchronously.
//
// Keyed operators work per task: a TaskState (stores, operator memory, stream time) of the sub-topology and
// partition the record came from. A keyed operator behind a rekey reads through a repartition topic: its
// inputs send records there (OutputCollector::repartition) and the pipeline has an extra source for it.
#pragma once

#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/counter.h>

#include "sluice/core/clock.hpp"
#include "sluice/core/json.hpp"
#include "sluice/core/record.hpp"
#include "sluice/expr/expression.hpp"
#include "sluice/ops/operator.hpp"
#include "sluice/ops/serde.hpp"
#include "sluice/state/global_table_store.hpp"
#include "sluice/state/store.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::runtime {

// Dead-letter headers: why a record failed and where it came from.
namespace dead_letter_header {
inline constexpr std::string_view error_kind = "sluice.error.kind";
inline constexpr std::string_view error_message = "sluice.error.message";
inline constexpr std::string_view operator_name = "sluice.operator";
inline constexpr std::string_view source_topic = "sluice.source.topic";
inline constexpr std::string_view source_partition = "sluice.source.partition";
inline constexpr std::string_view source_offset = "sluice.source.offset";
inline constexpr std::string_view source_timestamp = "sluice.source.timestamp";  // the input record's timestamp
inline constexpr std::string_view application_id = "sluice.application.id";
// On a stub (a dead letter whose whole record could not be written): the value was cut to this many bytes
// from the original size given here.
inline constexpr std::string_view original_size = "sluice.original.size";
inline constexpr std::string_view destination_topic = "sluice.destination.topic";
}  // namespace dead_letter_header

// A record leaving the pipeline, encoded. Views are valid only during the OutputCollector call.
struct OutputRecord {
  std::string_view topic;
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
  std::int64_t timestamp_ms = 0;
  const std::vector<core::Header>* headers = nullptr;
};

// Receives the pipeline's results. Implementations: the Kafka producer path and the TestDriver.
class OutputCollector {
 public:
  virtual ~OutputCollector() = default;
  // A record for a sink topic (sink_index into Topology::sinks) or, with sink_index == npos, the dead-letter topic.
  virtual void send(std::size_t sink_index, const OutputRecord& record) = 0;
  // Observations for metrics; the record itself goes through send().
  virtual void on_dead_letter(std::string_view operator_name, core::RecordErrorKind kind) = 0;
  virtual void on_discarded(std::string_view operator_name) = 0;

  static constexpr std::size_t dead_letter = static_cast<std::size_t>(-1);
  static constexpr std::size_t repartition = static_cast<std::size_t>(-2);
};

// Where a task is in its life: its stores replay their changelog tail (its inputs are paused), it processes,
// or it was closed (its stores are closed; the object is about to go).
enum class TaskPhase : std::uint8_t { restoring, running, closed };

// A task: one partition of one sub-topology.
struct TaskId {
  int subtopology = 0;
  std::int32_t partition = 0;
  auto operator<=>(const TaskId&) const = default;
  std::string name() const { return std::to_string(subtopology) + "_" + std::to_string(partition); }
};

// What one task owns at run time. Created by the runtime (Processor or TestDriver), which opens the stores and
// then calls Pipeline::init_task.
struct TaskState {
  TaskId id;
  TaskPhase phase = TaskPhase::running;
  std::unique_ptr<state::TaskStores> stores;  // null for a stateless sub-topology
  std::vector<std::unique_ptr<ops::OperatorTaskState>> operator_memory;  // per operator index; null if none
  ops::TaskTime time;
  std::int64_t last_input_wall_ms = 0;
  std::int64_t observed_stream_time_ms = INT64_MIN;  // max event time of input records (no idle advance)
  std::int64_t timed_stream_time_ms = INT64_MIN;     // stream time at the last on_time call (runtime loop)
  bool commit_soon = false;  // an operator asked for its output to be committed soon (ops::ProcessContext)
  // Per store slot: for a store backed by a table topic (a join's), the offset of the last table record
  // written to it (-1: none yet); what apply() records for it at the next commit. Unused for other slots.
  std::vector<std::int64_t> table_offsets;
  bool running() const noexcept { return phase == TaskPhase::running; }
};

// A topic the pipeline reads: a user source or a repartition topic.
struct PipelineSource {
  std::string topic;
  int subtopology = 0;
  bool repartition = false;
  bool table = false;  // a table's topic: its records update the table's stores, they are not processed
};

// Counters of one table's records applied to its stores (a tombstone counts as a delete). Handles resolved once.
struct TableCounters {
  prometheus::Counter* updates = nullptr;
  prometheus::Counter* deletes = nullptr;
};

// Counts that become visible only once the commit covering them has succeeded (the stream-stream join metrics),
// so that inputs processed again after a rollback are not counted twice. Held per thread; the TaskManager
// publishes them after each successful commit and drops them when it discards uncommitted work or closes its
// tasks uncommitted.
class TransactionalCounts {
 public:
  virtual ~TransactionalCounts() = default;
  virtual void publish() noexcept = 0;
  virtual void drop() noexcept = 0;
};

// Per-thread mutable state for processing. Not thread-safe.
class PipelineState {
 public:
  explicit PipelineState(const core::Clock& clock) : eval(clock) {}
  core::JsonParser parser;
  expr::EvalContext eval;
  std::string key_buffer;
  std::string value_buffer;
  std::vector<core::Header> dead_letter_headers;
  // Per Topology::tables index: the instance's store of a global table (null for the others). Set before the
  // first record once the global tables are loaded; a join with a global table needs its entry.
  std::vector<const state::GlobalTableStore*> global_tables;
  // Per Topology::operators index: where a join reports its lookups (empty or null: not counted).
  std::vector<ops::JoinObserver*> join_observers;
  // Per Topology::operators index: where a stream-stream join reports pairs and expired records (empty or
  // null: not counted); their counts are held in `transactional_counts` until a commit.
  std::vector<ops::StreamJoinObserver*> stream_join_observers;
  TransactionalCounts* transactional_counts = nullptr;
  // Per Topology::tables index: counters of a partitioned table's rows applied (empty: not counted).
  std::vector<TableCounters> table_counters;
};

// What became of one input record.
struct ProcessSummary {
  std::uint32_t outputs = 0;       // records sent to sinks
  std::uint32_t dead_letters = 0;  // records sent to the dead-letter topic
};

class Pipeline {
 public:
  explicit Pipeline(const topology::Topology& topology);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  const topology::Topology& topology() const noexcept { return topology_; }
  // Binds the registry formats before any record flows (app, at start): the decoder of the sources whose values
  // are avro or protobuf, and per Topology::sinks index the registered schema of each such sink. Without it those
  // values are read and written as JSON (sluice test, the TestDriver).
  void use_registry(const formats::RegistryDecoder* decoder,
                    const std::map<std::size_t, std::shared_ptr<const formats::SinkSchema>>& sinks);
  // The source reading `topic`, or nullopt if no source does.
  std::optional<std::size_t> source_for_topic(std::string_view topic) const;
  const std::vector<PipelineSource>& sources() const noexcept { return sources_; }
  // Every topic the pipeline reads (user sources, then repartition topics).
  std::vector<std::string> source_topics() const;
  int subtopology_count() const noexcept { return static_cast<int>(topology_.subtopologies.size()); }
  // Store families of each store slot of a sub-topology's tasks (empty: the sub-topology is stateless).
  const std::vector<std::uint8_t>& store_families(int subtopology) const { return store_families_.at(subtopology); }
  // The changelog topic of each store slot of a sub-topology's tasks.
  const std::vector<std::string>& store_changelogs(int subtopology) const { return store_changelogs_.at(subtopology); }
  // Per store slot: whether its changelog is a table's own topic (a join's store). Nothing is produced for such
  // a slot at a commit: its changes came from that topic; it records the offset of the last table record.
  const std::vector<bool>& table_backed(int subtopology) const { return table_backed_.at(subtopology); }
  // Per store slot: the Topology::tables index of the partitioned table it holds (a join's store), or -1; and
  // the store family that holds its rows (1 for a versioned table's versions, else 0).
  int slot_table(int subtopology, std::size_t slot) const { return slot_table_.at(subtopology).at(slot); }
  std::uint8_t slot_table_family(int subtopology, std::size_t slot) const {
    return slot_versioned_.at(subtopology).at(slot) ? 1 : 0;
  }
  // Whether a record of a table topic becomes a row of a table-backed store slot, as update_table decides
  // (a key, and a value in the table's format or a tombstone); for the restore, which copies the topic.
  bool table_row_storable(int subtopology, std::size_t slot, bool has_key, std::optional<std::string_view> value,
                          core::JsonParser& parser) const;
  // The store entry (changelog key: family byte + store key, and value) that a record of a table topic becomes
  // in a table-backed store slot, for the restore: the row as it is, or a version of a versioned table.
  std::pair<std::string, std::optional<std::string>> table_store_entry(int subtopology, std::size_t slot,
                                                                       std::string_view key,
                                                                       std::optional<std::string_view> value,
                                                                       std::int64_t timestamp_ms) const;
  // The wall-clock idle time after which a task's stream time advances with the wall clock: the smallest
  // idle_timeout of its windowed aggregates, else `default_ms`; nullopt when the sub-topology has no windows
  // or the timeout is 0 (disabled).
  std::optional<std::int64_t> idle_timeout_ms(int subtopology, std::int64_t default_ms) const;

  // The global tables (Topology::tables indexes) some join looks up: every instance loads them before processing.
  const std::vector<std::size_t>& global_tables() const noexcept { return global_tables_; }
  // The global table whose topic is `topic` (a Topology::tables index), if any.
  std::optional<std::size_t> global_table_for_topic(std::string_view topic) const;

  // The top-level fields of a source's JSON value its records are decoded with (the rest of each object is
  // parsed and validated but not built), or nullopt for the whole value: see collect_fields_read.
  const std::optional<std::vector<std::string>>& source_projection(std::size_t source_index) const {
    return decoders_.at(source_index).projection();
  }

  // Creates the operator memory of a task whose stores (if any) are already open.
  void init_task(TaskState& task) const;

  // Runs one consumed record through the task's part of the graph. `origin` describes the input (bytes, topic,
  // partition, offset); `headers` are the input's headers. Errors never escape: they become dead letters.
  ProcessSummary process(std::size_t source_index, const core::Origin& origin, std::int64_t record_timestamp_ms,
                         std::vector<core::Header> headers, PipelineState& state, TaskState& task,
                         OutputCollector& out) const;
  // Stateless topologies: a task-less overload (each call uses a scratch task).
  ProcessSummary process(std::size_t source_index, const core::Origin& origin, std::int64_t record_timestamp_ms,
                         std::vector<core::Header> headers, PipelineState& state, OutputCollector& out) const;

  // Lets the task's keyed operators emit what time has closed, after advancing its stream time with the wall
  // clock if it has been idle longer than its idle timeout (`default_idle_timeout_ms` from the settings).
  void on_time(std::int64_t wall_ms, std::int64_t default_idle_timeout_ms, PipelineState& state, TaskState& task,
               OutputCollector& out) const;
  // Before a commit: lets the task's keyed operators emit their compacted updates.
  void on_commit(PipelineState& state, TaskState& task, OutputCollector& out) const;

 private:
  struct Target;
  struct Node;
  struct Frame;
  class Dispatch;
  void forward(const std::vector<Target>& targets, core::Record&& record, Frame& frame) const;
  void dead_letter(std::string_view operator_name, const core::RecordError& error, Frame& frame) const;
  void update_table(std::size_t source_index, Frame& frame) const;
  bool collect_fields_read(const std::vector<Target>& targets, std::vector<std::string>& fields) const;
  ops::ProcessContext context_for(std::size_t node_index, Frame& frame, ops::Emitter& emitter) const;
  template <typename Hook>
  void run_hooks(PipelineState& state, TaskState& task, OutputCollector& out, Hook hook) const;

  const topology::Topology& topology_;
  std::vector<PipelineSource> sources_;
  std::deque<topology::SourceSpec> repartition_specs_;  // decoders hold references: a deque keeps them stable
  std::vector<ops::SourceDecoder> decoders_;             // per source
  std::vector<std::vector<Target>> source_targets_;      // per source
  std::vector<ops::SinkEncoder> encoders_;
  std::vector<std::string> repartition_topics_;          // per repartition target
  std::vector<topology::KeyFormat> repartition_key_formats_;  // per repartition target
  std::vector<std::unique_ptr<Node>> nodes_;  // one per operator, in Topology::operators order
  std::vector<std::vector<std::uint8_t>> store_families_;  // per sub-topology, per store slot
  std::vector<std::vector<std::string>> store_changelogs_;  // per sub-topology, per store slot
  std::vector<std::vector<bool>> table_backed_;             // per sub-topology, per store slot
  std::vector<std::vector<topology::ValueFormat>> slot_table_values_;  // per sub-topology, per store slot
  std::vector<std::vector<int>> slot_table_;      // per sub-topology, per store slot: a table index or -1
  std::vector<std::vector<bool>> slot_versioned_;  // per sub-topology, per store slot: a versioned table
  // Per pipeline source reading a table: the operators (join nodes) whose stores hold that table.
  std::vector<std::vector<std::size_t>> table_readers_;
  std::vector<const topology::TableSpec*> table_of_source_;  // per pipeline source: its table, or null
  std::vector<int> store_slot_;                            // per operator: slot in its task's stores, or -1
  std::vector<int> global_table_of_operator_;              // per operator: a join's global table index, or -1
  std::vector<std::size_t> global_tables_;
  std::vector<std::size_t> table_index_of_source_;         // per pipeline source reading a table: its tables index
  std::vector<int> subtopology_of_operator_;
};

}  // namespace sluice::runtime
