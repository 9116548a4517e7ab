#include "sluice/runtime/changelog_restorer.hpp"

#include <algorithm>
#include <set>

#include "sluice/core/backoff.hpp"

namespace sluice::runtime {

using namespace std::chrono_literals;

ChangelogRestorer::ChangelogRestorer(const Pipeline& pipeline, TaskManager& tasks, kafka::Consumer& restore_consumer,
                                     kafka::Consumer& input_consumer, bool exactly_once, std::int64_t batch_records,
                                     observe::Metrics& metrics, observe::Logger& logger, const core::Clock& clock,
                                     std::string component)
    : pipeline_(pipeline),
      tasks_(tasks),
      restore_consumer_(restore_consumer),
      input_consumer_(input_consumer),
      exactly_once_(exactly_once),
      batch_records_(batch_records),
      metrics_(metrics),
      logger_(logger),
      clock_(clock),
      component_(std::move(component)) {}

kafka::KafkaError ChangelogRestorer::start(const std::vector<TaskId>& ids) {
  std::vector<kafka::TopicPartition> ends;
  for (const auto& id : ids) {
    TaskState* task = tasks_.find(id);
    if (task == nullptr || !task->stores) continue;
    for (const auto& topic : pipeline_.store_changelogs(id.subtopology)) ends.push_back({topic, id.partition});
  }
  if (ends.empty()) return {};
  // A topic created moments ago may not have a leader yet: retriable errors are retried with a backoff.
  kafka::KafkaError error;
  core::Backoff backoff(clock_, 100, 2'000);
  for (const std::int64_t deadline = now_ms() + 60'000;;) {
    // Exactly-once: the high watermark, not the last stable offset that end_offsets answers under read_committed.
    // Kafka writes a transaction's markers partition by partition after the commit returned, so the group's
    // committed offsets may already include the previous owner's last transaction while this changelog's last
    // stable offset is still below its records: an end taken there is stale and the task would go on from an
    // older state. Up to the high watermark, the restore waits until every transaction below it is decided and
    // marked (the position steps over markers and aborted records, so the end is reached either way).
    error = exactly_once_ ? restore_consumer_.high_watermarks(ends, 10s) : restore_consumer_.end_offsets(ends, 10s);
    if (error.ok() || !(error.retriable || error.unreachable() || error.code == kafka::ErrorCode::unknown_topic) ||
        now_ms() >= deadline) {
      break;
    }
    logger_.warn(component_, "reading the ends of " + std::to_string(ends.size()) + " changelog partitions: " +
                                 error.message + "; retrying");
    backoff.wait();
  }
  if (!error.ok()) return error;
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> end_of;
  for (const auto& end : ends) end_of[{end.topic, end.partition}] = end.offset;
  // A table's store is restored up to the group's committed offset of its topic, not to the topic's end: the
  // consumer resumes from there, so the store is again exactly the committed prefix of the table.
  std::vector<kafka::TopicPartition> tables;
  for (const auto& id : ids) {
    TaskState* task = tasks_.find(id);
    if (task == nullptr || !task->stores) continue;
    const auto& changelogs = pipeline_.store_changelogs(id.subtopology);
    const auto& backed = pipeline_.table_backed(id.subtopology);
    for (std::size_t slot = 0; slot < changelogs.size(); ++slot) {
      if (backed[slot]) tables.push_back({changelogs[slot], id.partition, kafka::offset_invalid});
    }
  }
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> committed_of;
  if (!tables.empty()) {
    if (kafka::KafkaError committed = input_consumer_.committed(tables, 10s); !committed.ok()) return committed;
    // No committed offset yet: the consumer starts at the beginning, so there is nothing to restore.
    for (const auto& table : tables) committed_of[{table.topic, table.partition}] = std::max<std::int64_t>(0, table.offset);
  }

  for (const auto& id : ids) {
    TaskState* task = tasks_.find(id);
    if (task == nullptr || !task->stores) continue;
    const auto& changelogs = pipeline_.store_changelogs(id.subtopology);
    Restore restore;
    restore.started_ms = now_ms();
    const auto& backed = pipeline_.table_backed(id.subtopology);
    for (std::size_t slot = 0; slot < changelogs.size(); ++slot) {
      const bool table = backed[slot];
      const std::int64_t high = table ? committed_of[{changelogs[slot], id.partition}]
                                      : end_of[{changelogs[slot], id.partition}];
      const std::int64_t local = task->stores->changelog_offset(slot);
      // The local store reflects the changelog up to its recorded offset: replay only what follows.
      std::int64_t from = local + 1;
      // Exactly-once: only this task's transactional producer writes the partition, so after the store applied
      // a committed transaction the one offset left is that transaction's commit marker, which holds no record.
      // (Not for a table's topic, which others write.)
      if (!table && exactly_once_ && local >= 0 && from == high - 1) from = high;
      // Records below the log start are gone (retention, or the changelog emptied by --reset-store): start at
      // the log start. The consumer would reset there by itself, but when no record follows its position stays
      // unknown and the restore would wait for an end it never sees.
      if (from < high) {
        std::int64_t low = 0;
        std::int64_t ignored = 0;
        if (restore_consumer_.query_watermarks(changelogs[slot], id.partition, low, ignored, 10s).ok()) {
          from = std::max(from, low);
        }
      }
      if (from < high) restore.targets.push_back(Target{slot, changelogs[slot], high, from, from});
    }
    if (restore.targets.empty()) {
      task->phase = TaskPhase::running;
      continue;
    }
    std::int64_t span = 0;
    for (const auto& target : restore.targets) span += target.end - target.start;
    logger_.info(component_, "task " + id.name() + ": restoring up to " + std::to_string(span) +
                                 " changelog offsets (local store " +
                                 (task->stores->changelog_offset(0) < 0 ? "empty" : "behind") + ")");
    metrics_.set_restore_remaining(id.name(), static_cast<double>(span));
    task->phase = TaskPhase::restoring;
    (void)input_consumer_.pause(tasks_.input_partitions(id));
    restoring_[id] = std::move(restore);
  }
  update_assignment();
  return {};
}

void ChangelogRestorer::update_assignment() {
  std::vector<kafka::TopicPartition> partitions;
  for (const auto& [id, restore] : restoring_) {
    for (const auto& target : restore.targets) {
      if (target.position < target.end) partitions.push_back({target.topic, id.partition, target.position});
    }
  }
  kafka::KafkaError error = restore_consumer_.assign(partitions);
  if (!error.ok()) logger_.error(component_, "restore consumer: cannot assign: " + error.message);
}

void ChangelogRestorer::step() {
  std::int64_t applied = 0;
  std::set<TaskId> touched;
  while (applied < batch_records_) {
    kafka::Message message = restore_consumer_.poll(applied == 0 ? 10ms : 0ms);
    if (!message) break;
    if (!message.ok()) {
      if (message.error() != kafka::ErrorCode::partition_eof) {
        logger_.warn(component_, "restore: " + message.error_message());
      }
      continue;
    }
    for (auto& [id, restore] : restoring_) {
      if (id.partition != message.partition()) continue;
      for (auto& target : restore.targets) {
        if (target.topic != message.topic() || message.offset() < target.position) continue;
        // A table is restored to the committed offset and never past it: what follows is the input consumer's
        // to process. A changelog's records read past its end are applied (only a zombie of the previous owner
        // writes there now, and what it commits is committed). Its end is the high watermark under exactly-once
        // (see start()): with the last stable offset, a transaction whose changelog marker was not yet written
        // was skipped (RestoreEnd.ATransactionWhoseChangelogMarkerIsNotWrittenYetIsWaitedForNotSkipped), the
        // likely cause of the 19,116 wrong counts of 59,669 one scale-out run once gave.
        if (message.offset() >= target.end && pipeline_.table_backed(id.subtopology)[target.slot]) continue;
        auto value = message.has_value() ? std::optional<std::string_view>(message.value()) : std::nullopt;
        if (!pipeline_.table_backed(id.subtopology)[target.slot]) {
          tasks_.find(id)->stores->restore(target.slot, message.key(), value, message.offset());
        } else if (pipeline_.table_row_storable(id.subtopology, target.slot, message.has_key(), value, parser_)) {
          // A table topic holds rows as they are; the store keeps them in family 0, or as versions.
          auto [key, row] = pipeline_.table_store_entry(id.subtopology, target.slot, message.key(), value,
                                                        message.timestamp_ms());
          tasks_.find(id)->stores->restore(target.slot, key, row ? std::optional<std::string_view>(*row) : std::nullopt,
                                           message.offset());
        }
        target.position = message.offset() + 1;
        ++restore.records;
        touched.insert(id);
        ++applied;
      }
    }
  }
  metrics_.restored_records().Increment(static_cast<double>(applied));
  const std::int64_t now = now_ms();
  std::vector<TaskId> done;
  for (auto& [id, restore] : restoring_) {
    // Transaction markers and aborted records occupy offsets that are never delivered: the consumer position,
    // not the last record, tells when the end is reached.
    for (auto& target : restore.targets) {
      if (auto position = restore_consumer_.position(target.topic, id.partition)) {
        target.position = std::max(target.position, *position);
      }
    }
    std::int64_t span = 0, remaining = 0;
    for (const auto& target : restore.targets) {
      span += target.end - target.start;
      remaining += std::max<std::int64_t>(0, target.end - target.position);
    }
    if (touched.count(id) != 0) tasks_.find(id)->stores->finish_restore();
    metrics_.set_restore_remaining(id.name(), static_cast<double>(remaining));
    if (remaining == 0) {
      done.push_back(id);
    } else if (now - restore.last_log_ms >= 1000) {
      restore.last_log_ms = now;
      logger_.info(component_, "task " + id.name() + ": restoring " +
                                   std::to_string(span > 0 ? (span - remaining) * 100 / span : 100) + "% (" +
                                   std::to_string(restore.records) + " records applied, " +
                                   std::to_string(remaining) + " offsets left)");
    }
  }
  for (const auto& id : done) {
    auto it = restoring_.find(id);
    finish(id, it->second);
    restoring_.erase(it);
  }
  if (!done.empty()) update_assignment();
}

void ChangelogRestorer::finish(const TaskId& id, Restore& restore) {
  TaskState& task = *tasks_.find(id);
  task.stores->finish_restore();
  pipeline_.init_task(task);  // stream time from the restored stores
  task.phase = TaskPhase::running;
  const std::int64_t elapsed = std::max<std::int64_t>(1, now_ms() - restore.started_ms);
  logger_.info(component_, "task " + id.name() + ": restored " + std::to_string(restore.records) + " records in " +
                               std::to_string(elapsed) + " ms (" + std::to_string(restore.records * 1000 / elapsed) +
                               " records/s); processing");
  metrics_.remove_restore_remaining(id.name());
  metrics_.restore_seconds().Increment(static_cast<double>(elapsed) / 1000.0);
  (void)input_consumer_.resume(tasks_.input_partitions(id));
}

void ChangelogRestorer::clear() {
  for (const auto& [id, restore] : restoring_) metrics_.remove_restore_remaining(id.name());
  restoring_.clear();
  (void)restore_consumer_.assign({});
}

}  // namespace sluice::runtime
