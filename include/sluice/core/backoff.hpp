// Exponential backoff on the injected clock: every retry loop of the runtime waits through this, so a test clock
// runs the loop without real waiting, and SIGTERM (the stop condition) is honoured within one slice.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>

#include "sluice/core/clock.hpp"

namespace sluice::core {

class Backoff {
 public:
  Backoff(const Clock& clock, std::int64_t initial_ms, std::int64_t max_ms)
      : clock_(clock), initial_ms_(initial_ms), max_ms_(std::max(initial_ms, max_ms)), next_ms_(initial_ms) {}

  // The delay the next wait() will take.
  std::int64_t next_ms() const noexcept { return next_ms_; }
  void reset() noexcept { next_ms_ = initial_ms_; }

  // Waits the next delay in slices of at most 50 ms, calling `tick` after each (a heartbeat) and returning
  // false early when `stop` becomes true; then doubles the delay up to the maximum.
  bool wait(const std::function<bool()>& stop = {}, const std::function<void()>& tick = {}) {
    const std::int64_t until = clock_.monotonic_ns() / 1'000'000 + next_ms_;
    next_ms_ = std::min(next_ms_ * 2, max_ms_);
    for (;;) {
      if (stop && stop()) return false;
      const std::int64_t left = until - clock_.monotonic_ns() / 1'000'000;
      if (left <= 0) return true;
      clock_.sleep_ms(std::min<std::int64_t>(left, 50));
      if (tick) tick();
    }
  }

 private:
  const Clock& clock_;
  std::int64_t initial_ms_;
  std::int64_t max_ms_;
  std::int64_t next_ms_;
};

}  // namespace sluice::core
