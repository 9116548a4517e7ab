#include "sluice/runtime/health.hpp"

namespace sluice::runtime {

void Health::set_ready(bool ready, std::string reason) {
  std::lock_guard lock(mutex_);
  ready_.store(ready);
  reason_ = std::move(reason);
}

std::string Health::reason() const {
  std::lock_guard lock(mutex_);
  return reason_;
}

void Health::enter_call(const char* what, std::int64_t monotonic_ms) noexcept {
  std::lock_guard lock(mutex_);
  call_ = Call{what, monotonic_ms};
}

void Health::leave_call() noexcept {
  std::lock_guard lock(mutex_);
  call_ = Call{};
}

std::optional<Health::Call> Health::current_call() const {
  std::lock_guard lock(mutex_);
  if (call_.what == nullptr) return std::nullopt;
  return call_;
}

bool Health::ready_at(std::int64_t now_ms) const {
  if (!ready()) return false;
  auto call = current_call();
  return !call || now_ms - call->since_ms < kStalledCallMs;
}

std::string Health::reason_at(std::int64_t now_ms) const {
  if (auto call = current_call(); call && now_ms - call->since_ms >= kStalledCallMs) {
    return "waiting for the cluster: " + std::string(call->what) + " has not returned for " +
           std::to_string((now_ms - call->since_ms) / 1000) + " s";
  }
  return reason();
}

}  // namespace sluice::runtime
