// Liveness and readiness of one processing thread, written by its loop and read by the HTTP threads (/healthz,
// /readyz). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace sluice::runtime {

class Health {
 public:
  void set_ready(bool ready, std::string reason);
  bool ready() const noexcept { return ready_.load(); }
  std::string reason() const;
  void beat(std::int64_t monotonic_ms) noexcept { last_beat_ms_.store(monotonic_ms); }
  std::int64_t last_beat_ms() const noexcept { return last_beat_ms_.load(); }

 private:
  std::atomic<bool> ready_{false};
  std::atomic<std::int64_t> last_beat_ms_{0};
  mutable std::mutex mutex_;
  std::string reason_ = "starting";
};

}  // namespace sluice::runtime
