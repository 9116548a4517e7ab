#include "sluice/runtime/task_manager.hpp"

#include <unordered_map>

namespace sluice::runtime {

std::string_view to_string(CommitResult result) {
  switch (result) {
    case CommitResult::nothing: return "nothing";
    case CommitResult::committed: return "committed";
    case CommitResult::retry_later: return "retry_later";
    case CommitResult::rolled_back: return "rolled_back";
    case CommitResult::fatal: return "fatal";
  }
  return "fatal";
}

TaskManager::TaskManager(const Pipeline& pipeline, PipelineState& state, StoreOpener open_stores,
                         std::int64_t default_idle_timeout_ms)
    : pipeline_(pipeline),
      state_(state),
      open_stores_(std::move(open_stores)),
      default_idle_timeout_ms_(default_idle_timeout_ms),
      by_source_(pipeline.sources().size()) {}

TaskManager::~TaskManager() { close_all(); }

TaskState& TaskManager::open(const TaskId& id, std::int64_t wall_ms) {
  if (auto it = tasks_.find(id); it != tasks_.end()) return it->second;
  TaskState opened;
  opened.id = id;
  opened.last_input_wall_ms = wall_ms;
  const auto& families = pipeline_.store_families(id.subtopology);
  if (!families.empty()) opened.stores = open_stores_(id, families);  // throws: nothing is half-open
  TaskState& task = tasks_.emplace(id, std::move(opened)).first->second;
  pipeline_.init_task(task);
  index_inputs();
  return task;
}

TaskState* TaskManager::find(const TaskId& id) {
  auto it = tasks_.find(id);
  return it == tasks_.end() ? nullptr : &it->second;
}

std::size_t TaskManager::restoring() const {
  std::size_t count = 0;
  for (const auto& [id, task] : tasks_) count += task.phase == TaskPhase::restoring;
  return count;
}

void TaskManager::index_inputs() {
  for (std::size_t source = 0; source < by_source_.size(); ++source) {
    auto& partitions = by_source_[source];
    partitions.clear();
    for (auto& [id, task] : tasks_) {
      if (pipeline_.sources()[source].subtopology != id.subtopology) continue;
      auto index = static_cast<std::size_t>(id.partition);
      if (partitions.size() <= index) partitions.resize(index + 1, nullptr);
      partitions[index] = &task;
    }
  }
}

std::vector<kafka::TopicPartition> TaskManager::input_partitions(const TaskId& id) const {
  std::vector<kafka::TopicPartition> partitions;
  for (const auto& source : pipeline_.sources()) {
    if (source.subtopology == id.subtopology) partitions.push_back({source.topic, id.partition, kafka::offset_invalid});
  }
  return partitions;
}

void TaskManager::close_all() {
  for (auto& [id, task] : tasks_) {
    task.phase = TaskPhase::closed;
    if (!task.stores) continue;
    task.stores->discard();
    task.stores->close();
  }
  tasks_.clear();
  index_inputs();
  pending_offsets_.clear();
  committed_offsets_.clear();
  if (state_.transactional_counts != nullptr) state_.transactional_counts->drop();
}

void TaskManager::record_consumed(std::string_view topic, std::int32_t partition, std::int64_t next_offset) {
  auto pending = pending_offsets_.find(topic);
  if (pending == pending_offsets_.end()) pending = pending_offsets_.try_emplace(std::string(topic)).first;
  pending->second[partition] = next_offset;
}

std::vector<kafka::TopicPartition> TaskManager::pending_offsets() const {
  std::vector<kafka::TopicPartition> offsets;
  for (const auto& [topic, partitions] : pending_offsets_) {
    for (const auto& [partition, offset] : partitions) offsets.push_back({topic, partition, offset});
  }
  return offsets;
}

std::optional<std::int64_t> TaskManager::committed_offset(const std::string& topic, std::int32_t partition) const {
  auto it = committed_offsets_.find({topic, partition});
  if (it == committed_offsets_.end()) return std::nullopt;
  return it->second;
}

std::vector<kafka::TopicPartition> TaskManager::committed_offsets() const {
  std::vector<kafka::TopicPartition> offsets;
  for (const auto& [partition, offset] : committed_offsets_) offsets.push_back({partition.first, partition.second, offset});
  return offsets;
}

std::optional<TaskManager::CommitSoon> TaskManager::close_due_windows(std::int64_t wall_ms, OutputCollector& out) {
  std::optional<CommitSoon> commit_soon;
  for (auto& [id, task] : tasks_) {
    if (!task.stores || !task.running()) continue;
    if (task.time.stream_time_ms == task.timed_stream_time_ms) continue;
    task.timed_stream_time_ms = task.time.stream_time_ms;
    pipeline_.on_time(wall_ms, default_idle_timeout_ms_, state_, task, out);
    if (task.commit_soon && !commit_soon) commit_soon = CommitSoon{id.subtopology, task.time.stream_time_ms};
    task.commit_soon = false;
  }
  return commit_soon;
}

bool TaskManager::stream_time_reached(int subtopology, std::int64_t stream_time_ms) const {
  for (const auto& [id, task] : tasks_) {
    if (id.subtopology != subtopology || !task.stores || !task.running()) continue;
    if (task.time.stream_time_ms != INT64_MIN && task.time.stream_time_ms < stream_time_ms) return false;
  }
  return true;
}

std::size_t TaskManager::buffered_state_changes() const {
  std::size_t total = 0;
  for (const auto& [id, task] : tasks_) {
    if (!task.stores) continue;
    for (std::size_t slot = 0; slot < task.stores->size(); ++slot) total += task.stores->store(slot).buffered_changes();
  }
  return total;
}

CommitResult TaskManager::commit(std::int64_t wall_ms, OutputCollector& out, ChangelogSink& changelog,
                                 Committer& committer, const char* why, const std::function<void()>& after_task_emit) {
  // 1. Keyed operators: what time closed and the compacted updates go out with this commit.
  for (auto& [id, task] : tasks_) {
    if (!task.running()) continue;
    if (task.stores) {
      pipeline_.on_time(wall_ms, default_idle_timeout_ms_, state_, task, out);
      pipeline_.on_commit(state_, task, out);
      task.commit_soon = false;  // this commit is the one asked for
    }
    if (after_task_emit) after_task_emit();
  }
  // 2. State changes to the changelogs. Changelog records carry the commit's wall-clock time, not event
  // time, so time-based retention of a changelog never expires what a store still needs.
  changelog.begin_changelog();
  for (auto& [id, task] : tasks_) {
    if (!task.stores || !task.running()) continue;
    const auto& topics = pipeline_.store_changelogs(id.subtopology);
    const auto& table_backed = pipeline_.table_backed(id.subtopology);
    const auto& task_id = id;  // a lambda cannot capture the structured binding itself with clang before 16
    for (std::size_t slot = 0; slot < task.stores->size(); ++slot) {
      if (table_backed[slot]) continue;  // its changes came from its table's topic: nothing to log
      task.stores->changes(slot, [&](const state::ChangelogRecord& change) {
        std::optional<std::string_view> value;
        if (change.value) value = *change.value;
        changelog.write_changelog(task_id, slot, topics[slot], change.key, value, wall_ms);
      });
    }
  }
  // 3. Durable, all together, or not at all.
  const std::vector<kafka::TopicPartition> offsets = pending_offsets();
  const CommitResult result = committer.commit(offsets, why);
  if (result != CommitResult::committed) return result;
  if (state_.transactional_counts != nullptr) state_.transactional_counts->publish();
  // 4. The stores reflect the committed changes.
  for (auto& [id, task] : tasks_) {
    if (!task.stores || !task.running()) continue;
    std::vector<std::int64_t> offsets_applied = changelog.changelog_offsets(id, task.stores->size());
    const auto& table_backed = pipeline_.table_backed(id.subtopology);
    for (std::size_t slot = 0; slot < offsets_applied.size(); ++slot) {
      if (table_backed[slot]) offsets_applied[slot] = task.table_offsets.at(slot);
    }
    task.stores->apply(offsets_applied, task.observed_stream_time_ms);
  }
  for (const auto& offset : offsets) committed_offsets_[{offset.topic, offset.partition}] = offset.offset;
  pending_offsets_.clear();
  return CommitResult::committed;
}

void TaskManager::discard_uncommitted() {
  for (auto& [id, task] : tasks_) {
    if (!task.stores) continue;
    task.stores->discard();
    pipeline_.init_task(task);
  }
  pending_offsets_.clear();
  if (state_.transactional_counts != nullptr) state_.transactional_counts->drop();
}

}  // namespace sluice::runtime
