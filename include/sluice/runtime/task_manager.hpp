// The tasks of one processing thread (or of the in-process TestDriver) and the commit order, written once:
//   1. every running task's keyed operators emit what time closed and their compacted updates;
//   2. every running task's buffered state changes go to its changelogs;
//   3. the Committer makes the outputs, the changelog records and the consumed input offsets durable together;
//   4. only then the stores apply their buffered changes with the changelog offsets they reflect,
// so a local store always holds a committed prefix of its changelog. When step 3 fails, nothing is applied:
// discard_uncommitted() drops the buffers and the caller rewinds its inputs.
//
// Lifecycle: open() tasks (on assignment, or on first use in the TestDriver), commit() repeatedly, close_all().
// Not thread-safe: owned and used by one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/kafka/client.hpp"
#include "sluice/runtime/pipeline.hpp"

namespace sluice::runtime {

// Where a commit's changelog records go, and which offsets they got.
class ChangelogSink {
 public:
  virtual ~ChangelogSink() = default;
  // Starts a commit's changelog writes (forgets the offsets of the previous commit).
  virtual void begin_changelog() = 0;
  virtual void write_changelog(const TaskId& task, std::size_t slot, std::string_view topic, std::string_view key,
                               std::optional<std::string_view> value, std::int64_t timestamp_ms) = 0;
  // Offset of the last changelog record acknowledged per store slot of `task` in this commit (-1: none).
  virtual std::vector<std::int64_t> changelog_offsets(const TaskId& task, std::size_t slots) const = 0;
};

enum class CommitResult : std::uint8_t {
  nothing,      // nothing was pending
  committed,    // outputs, changelog records and offsets are durable; stores applied
  retry_later,  // nothing was lost or undone; everything stays pending for the next attempt
  rolled_back,  // the outputs since the last commit are undone (or may be): rewind inputs and state
  fatal,        // the thread must stop (fenced, a store cannot be written)
};
std::string_view to_string(CommitResult result);

class Committer {
 public:
  virtual ~Committer() = default;
  // Makes every output and changelog record written since the last commit durable together with `offsets`
  // (the next offsets to consume). Never reports `committed` unless all of them are.
  [[nodiscard]] virtual CommitResult commit(const std::vector<kafka::TopicPartition>& offsets, const char* why) = 0;
};

// Opens a task's stores (RocksDB in production, memory in the TestDriver); throws when they cannot be opened.
using StoreOpener =
    std::function<std::unique_ptr<state::TaskStores>(const TaskId& id, const std::vector<std::uint8_t>& families)>;

class TaskManager {
 public:
  TaskManager(const Pipeline& pipeline, PipelineState& state, StoreOpener open_stores,
              std::int64_t default_idle_timeout_ms);
  ~TaskManager();
  TaskManager(const TaskManager&) = delete;
  TaskManager& operator=(const TaskManager&) = delete;

  // Opens the task (stores, operator memory) in phase `running`, or returns it if open. Throws if its stores
  // cannot be opened.
  TaskState& open(const TaskId& id, std::int64_t wall_ms);
  TaskState* find(const TaskId& id);
  // The task reading `partition` of pipeline source `source`, or null: one vector lookup per record.
  TaskState* task_for_input(std::size_t source, std::int32_t partition) const {
    if (source >= by_source_.size() || partition < 0) return nullptr;
    const auto& tasks = by_source_[source];
    return static_cast<std::size_t>(partition) < tasks.size() ? tasks[static_cast<std::size_t>(partition)] : nullptr;
  }
  std::map<TaskId, TaskState>& tasks() noexcept { return tasks_; }
  bool empty() const noexcept { return tasks_.empty(); }
  std::size_t restoring() const;
  // The input partitions (user sources and repartition topics) a task reads.
  std::vector<kafka::TopicPartition> input_partitions(const TaskId& id) const;

  // Closes every task; its buffered (uncommitted) changes are dropped.
  void close_all();

  // Input consumed: `next_offset` of `topic`/`partition` becomes part of the next commit.
  void record_consumed(std::string_view topic, std::int32_t partition, std::int64_t next_offset);
  bool has_pending_offsets() const noexcept { return !pending_offsets_.empty(); }
  std::vector<kafka::TopicPartition> pending_offsets() const;
  std::optional<std::int64_t> committed_offset(const std::string& topic, std::int32_t partition) const;
  // The committed (next) offset of every input partition committed since the tasks were opened.
  std::vector<kafka::TopicPartition> committed_offsets() const;

  // Runs the on_time hooks of every running task whose stream time moved since they last ran. When an operator
  // asked for a commit soon (ops::ProcessContext::commit_soon), returns the task and its stream time then, and
  // forgets the requests.
  struct CommitSoon {
    int subtopology = 0;
    std::int64_t stream_time_ms = 0;
  };
  std::optional<CommitSoon> close_due_windows(std::int64_t wall_ms, OutputCollector& out);
  // Whether every running task of `subtopology` that has seen a record has stream time >= `stream_time_ms` (so
  // the windows that one task closed at that time are closed in all of them).
  bool stream_time_reached(int subtopology, std::int64_t stream_time_ms) const;
  std::size_t buffered_state_changes() const;

  // The commit order above. `after_task_emit` runs after each task's emissions (the TestDriver delivers its
  // repartition records there, so downstream tasks see them before they emit). Stores that fail to apply
  // throw: the caller stops in order.
  [[nodiscard]] CommitResult commit(std::int64_t wall_ms, OutputCollector& out, ChangelogSink& changelog,
                                    Committer& committer, const char* why,
                                    const std::function<void()>& after_task_emit = {});
  // After a failed commit: every running task drops its buffered changes and starts again from its stores;
  // pending offsets are forgotten. The caller rewinds the inputs (and restores the changelog tails).
  void discard_uncommitted();

 private:
  void index_inputs();

  const Pipeline& pipeline_;
  PipelineState& state_;
  StoreOpener open_stores_;
  std::int64_t default_idle_timeout_ms_;
  std::map<TaskId, TaskState> tasks_;  // node-based: TaskState addresses are stable
  std::vector<std::vector<TaskState*>> by_source_;  // [source][partition]
  struct TopicHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view topic) const noexcept { return std::hash<std::string_view>{}(topic); }
  };
  std::unordered_map<std::string, std::map<std::int32_t, std::int64_t>, TopicHash, std::equal_to<>> pending_offsets_;
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> committed_offsets_;
};

}  // namespace sluice::runtime
