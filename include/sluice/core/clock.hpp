// Time source injected into everything that reads the time (windows, idle closing, commit timers, now()),
// so tests advance it by hand. Wall clock in milliseconds since the Unix epoch; monotonic in nanoseconds.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace sluice::core {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t wall_ms() const = 0;
  virtual std::int64_t monotonic_ns() const = 0;
  // Waits `ms` (retry backoffs): a real sleep, or for a test clock an advance of its time.
  virtual void sleep_ms(std::int64_t ms) const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t wall_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::int64_t monotonic_ns() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void sleep_ms(std::int64_t ms) const override { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }
};

// Advanced only by the test (and by sleep_ms, so code that backs off runs without waiting); thread-safe reads.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t wall_ms = 0) : wall_ms_(wall_ms) {}
  std::int64_t wall_ms() const override { return wall_ms_.load(); }
  std::int64_t monotonic_ns() const override { return wall_ms_.load() * 1'000'000; }
  void advance_ms(std::int64_t ms) { wall_ms_ += ms; }
  void set_ms(std::int64_t ms) { wall_ms_ = ms; }
  void sleep_ms(std::int64_t ms) const override { wall_ms_ += ms; }

 private:
  mutable std::atomic<std::int64_t> wall_ms_;
};

}  // namespace sluice::core
