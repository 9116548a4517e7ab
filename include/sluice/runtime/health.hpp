// Liveness and readiness of one processing thread, written by its loop and read by the HTTP threads (/healthz,
// /readyz). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sluice/core/clock.hpp"

namespace sluice::runtime {

class Health {
 public:
  Health() = default;
  Health(bool ready, std::string reason) : ready_(ready), reason_(std::move(reason)) {}

  // A call into Kafka that has not returned for this long makes the thread not ready: some librdkafka calls
  // block past their timeout while a broker accepts connections but does not answer (a frozen broker held
  // send_offsets_to_transaction for 40 s), and the loop cannot beat or report from inside them.
  static constexpr std::int64_t kStalledCallMs = 5'000;

  struct Call {
    const char* what = nullptr;  // a string literal naming the call
    std::int64_t since_ms = 0;   // monotonic
  };

  void set_ready(bool ready, std::string reason);
  bool ready() const noexcept { return ready_.load(); }
  std::string reason() const;
  void beat(std::int64_t monotonic_ms) noexcept { last_beat_ms_.store(monotonic_ms); }
  std::int64_t last_beat_ms() const noexcept { return last_beat_ms_.load(); }

  void enter_call(const char* what, std::int64_t monotonic_ms) noexcept;
  void leave_call() noexcept;
  // The call the thread is inside, if any.
  std::optional<Call> current_call() const;
  // Readiness as seen at `now_ms`: not ready while a call has been stalled for kStalledCallMs or more.
  bool ready_at(std::int64_t now_ms) const;
  std::string reason_at(std::int64_t now_ms) const;

 private:
  std::atomic<bool> ready_{false};
  std::atomic<std::int64_t> last_beat_ms_{0};
  mutable std::mutex mutex_;
  std::string reason_ = "starting";
  Call call_;  // guarded by mutex_; what == nullptr: none
};

// Marks a possibly blocking Kafka call for the watchdog and /readyz for as long as it lives.
class BlockingCall {
 public:
  BlockingCall(Health* health, const char* what, std::int64_t now_ms) noexcept : health_(health) {
    if (health_ != nullptr) health_->enter_call(what, now_ms);
  }
  ~BlockingCall() {
    if (health_ != nullptr) health_->leave_call();
  }
  BlockingCall(const BlockingCall&) = delete;
  BlockingCall& operator=(const BlockingCall&) = delete;

 private:
  Health* health_;
};

// The instance's readiness as /readyz shows it: ready when every processing thread is (none stalled inside a
// Kafka call) and the global-table reader is; the reason is the first thread's that is not, else the reader's.
// Alive (/healthz) while every processing thread's loop beats. Thread-safe.
class InstanceHealth {
 public:
  InstanceHealth(int threads, const core::Clock& clock);
  Health& thread(int i) { return *threads_[static_cast<std::size_t>(i)]; }
  const Health& thread(int i) const { return *threads_[static_cast<std::size_t>(i)]; }
  std::size_t threads() const noexcept { return threads_.size(); }
  // Written by the global-table reader (GlobalTablesOptions::health); ready while there is none.
  Health& global_tables() noexcept { return global_tables_; }
  // Written while a processing thread waits for the schema registry (an outage with a cold cache).
  Health& registry() noexcept { return registry_; }
  bool ready() const;
  std::string reason() const;
  std::int64_t last_beat_ms() const;
  std::int64_t now_ms() const { return clock_.monotonic_ns() / 1'000'000; }

 private:
  const core::Clock& clock_;
  std::vector<std::unique_ptr<Health>> threads_;
  Health global_tables_{true, "no global tables"};
  Health registry_{true, "schema registry reachable"};
};

}  // namespace sluice::runtime
