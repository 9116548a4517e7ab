#include "sluice/runtime/input_queue.hpp"

#include <algorithm>
#include <stdexcept>

namespace sluice::runtime {

TaskInputQueue::TaskInputQueue(std::size_t inputs, InputQueueOptions options)
    : buffers_(inputs), idle_(inputs), options_(options) {
  if (inputs == 0) throw std::invalid_argument("a task input queue needs at least one input");
}

void TaskInputQueue::push(std::size_t input, kafka::Message&& message) {
  buffers_.at(input).push_back(std::move(message));
  ++total_;
}

std::optional<TaskInputQueue::Next> TaskInputQueue::next(std::int64_t wall_ms, const CaughtUp& caught_up) {
  resume_at_ms_.reset();
  if (total_ == 0) return std::nullopt;
  bool enforced = false;
  std::optional<std::int64_t> resume_at;
  std::optional<std::size_t> oldest;
  for (std::size_t input = 0; input < buffers_.size(); ++input) {
    const auto& buffer = buffers_[input];
    Idle& idle = idle_[input];
    if (!buffer.empty()) {
      idle = Idle{};
      // Ties go to the lower input index, so equal timestamps are taken in a fixed order.
      if (!oldest || buffer.front().timestamp_ms() < buffers_[*oldest].front().timestamp_ms()) oldest = input;
      continue;
    }
    // An empty input is waited for from the moment it is first seen empty (max_task_idle), and, while it has
    // records not yet fetched, from the moment it is first seen lagging (the longer of the two waits).
    if (!idle.empty_since) idle.empty_since = wall_ms;
    std::int64_t deadline = *idle.empty_since + options_.max_task_idle_ms;
    if (caught_up(input)) {
      idle.lagging_since.reset();
      if (options_.max_task_idle_ms == 0) continue;
    } else {
      if (!idle.lagging_since) idle.lagging_since = wall_ms;
      deadline = std::max(deadline, *idle.lagging_since + options_.lagging_wait_ms);
    }
    if (wall_ms < deadline) {
      resume_at = std::max(resume_at.value_or(deadline), deadline);
    } else {
      enforced = true;
    }
  }
  if (resume_at) {
    resume_at_ms_ = resume_at;
    return std::nullopt;
  }
  auto& buffer = buffers_[*oldest];
  Next taken{*oldest, std::move(buffer.front()), enforced};
  buffer.pop_front();
  --total_;
  return taken;
}

std::optional<std::int64_t> TaskInputQueue::wait_left_ms(std::int64_t wall_ms) const {
  if (!resume_at_ms_) return std::nullopt;
  return std::max<std::int64_t>(0, *resume_at_ms_ - wall_ms);
}

void TaskInputQueue::clear() {
  for (auto& buffer : buffers_) buffer.clear();
  total_ = 0;
  std::fill(idle_.begin(), idle_.end(), Idle{});
  resume_at_ms_.reset();
}

}  // namespace sluice::runtime
