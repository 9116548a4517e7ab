// Event-time order across the input partitions of one task (a join's stream and table partitions, two merged
// streams). The consumer hands records over in fetch order, which interleaves partitions arbitrarily; a task
// with several inputs buffers them here, one FIFO per input partition, and takes the head with the smallest
// timestamp next. When an input partition has nothing buffered, what it might still deliver could be older
// than every buffered head, so the task waits for it (as Kafka Streams' max.task.idle.ms does):
//   - up to max_task_idle from the moment the partition was first seen empty (0: not at all while it is
//     caught up, i.e. the consumer knows of nothing more to fetch from it);
//   - and while it has records the consumer knows of but has not fetched yet (its position is behind the end
//     offset last fetched), up to lagging_wait from the moment it was first seen so.
// Once its wait has run out, a partition that stays empty holds nothing back (enforced processing, counted)
// until it has a record again; its next empty spell starts a new wait.
//
// Records of a single-input task never come here. The queue holds consumer messages (their buffers stay in
// librdkafka); the caller bounds it by pausing a partition whose buffer is full.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "sluice/kafka/client.hpp"

namespace sluice::runtime {

struct InputQueueOptions {
  std::int64_t max_task_idle_ms = 0;
  // The wait for a partition known to have unfetched records, when max_task_idle is shorter: one fetch round
  // trip is normally enough. Bounded, because a read_committed consumer's position can stay one short of the
  // end offset when the partition ends with a transaction marker.
  std::int64_t lagging_wait_ms = 500;
};

class TaskInputQueue {
 public:
  struct Next {
    std::size_t input;  // index of the input partition the record came from
    kafka::Message message;
    bool enforced;  // taken while another input partition was empty and waited for in vain
  };
  // Whether input partition `input` is caught up: nothing known to the consumer is left to fetch.
  using CaughtUp = std::function<bool(std::size_t input)>;

  TaskInputQueue(std::size_t inputs, InputQueueOptions options);

  std::size_t inputs() const noexcept { return buffers_.size(); }
  void push(std::size_t input, kafka::Message&& message);
  std::size_t buffered(std::size_t input) const { return buffers_.at(input).size(); }
  std::size_t buffered() const noexcept { return total_; }

  // The next record to process at wall time `wall_ms`, or nullopt to wait (or when nothing is buffered).
  std::optional<Next> next(std::int64_t wall_ms, const CaughtUp& caught_up);
  // How long, from `wall_ms`, the current wait lasts at most (nullopt: not waiting). For the poll timeout.
  std::optional<std::int64_t> wait_left_ms(std::int64_t wall_ms) const;

  void clear();

 private:
  struct Idle {
    std::optional<std::int64_t> empty_since;    // first seen with nothing buffered (since it last had records)
    std::optional<std::int64_t> lagging_since;  // first seen empty with records left to fetch
  };
  std::vector<std::deque<kafka::Message>> buffers_;
  std::vector<Idle> idle_;  // per input
  InputQueueOptions options_;
  std::size_t total_ = 0;
  std::optional<std::int64_t> resume_at_ms_;  // set by next() when it made the task wait: when the wait ends
};

}  // namespace sluice::runtime
