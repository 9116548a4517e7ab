// Replays the changelog tails of a thread's restoring tasks into their stores with a separate restore consumer
// (manual assignment, read_committed), while the tasks' inputs stay paused and the other tasks keep
// processing. A local store reflects its changelog up to the offset it recorded, so only what follows is
// replayed, never the whole changelog. The ends of every changelog partition of the tasks started together
// are asked in one request.
//
// Lifecycle: start() for tasks that are assigned (or rolled back), step() from the loop until active() is
// false, clear() when the assignment goes. Used by one thread.
#pragma once

#include "sluice/core/json.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/kafka/client.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/pipeline.hpp"
#include "sluice/runtime/task_manager.hpp"

namespace sluice::runtime {

class ChangelogRestorer {
 public:
  ChangelogRestorer(const Pipeline& pipeline, TaskManager& tasks, kafka::Consumer& restore_consumer,
                    kafka::Consumer& input_consumer, bool exactly_once, std::int64_t batch_records,
                    observe::Metrics& metrics, observe::Logger& logger, const core::Clock& clock,
                    std::string component);

  // Puts the stateful tasks among `ids` into phase `restoring` (their inputs paused) when their changelogs
  // hold records their stores lack; the others stay running. Returns an error when the changelog ends
  // cannot be read (after retrying retriable failures for up to a minute).
  [[nodiscard]] kafka::KafkaError start(const std::vector<TaskId>& ids);
  // Applies up to batch_records changelog records; tasks that caught up start running (inputs resumed).
  void step();
  bool active() const noexcept { return !restoring_.empty(); }
  // Forgets every restore (the tasks are being closed).
  void clear();

 private:
  struct Target {
    std::size_t slot = 0;
    std::string topic;
    std::int64_t end = 0;       // end offset when the restore started
    std::int64_t position = 0;  // next offset to apply
    std::int64_t start = 0;
  };
  struct Restore {
    std::vector<Target> targets;
    std::int64_t records = 0;  // records applied (markers and aborted records take offsets but are no records)
    std::int64_t started_ms = 0;
    std::int64_t last_log_ms = 0;
  };
  void finish(const TaskId& id, Restore& restore);
  void update_assignment();
  std::int64_t now_ms() const { return clock_.monotonic_ns() / 1'000'000; }

  const Pipeline& pipeline_;
  TaskManager& tasks_;
  kafka::Consumer& restore_consumer_;
  kafka::Consumer& input_consumer_;
  bool exactly_once_;
  std::int64_t batch_records_;
  observe::Metrics& metrics_;
  observe::Logger& logger_;
  const core::Clock& clock_;
  std::string component_;
  std::map<TaskId, Restore> restoring_;
  core::JsonParser parser_;  // checks table rows as Pipeline::update_table does
};

}  // namespace sluice::runtime
