#include "sluice/runtime/health.hpp"

#include <algorithm>
#include <limits>

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

InstanceHealth::InstanceHealth(int threads, const core::Clock& clock) : clock_(clock) {
  for (int i = 0; i < threads; ++i) threads_.push_back(std::make_unique<Health>());
}

bool InstanceHealth::ready() const {
  const std::int64_t now = now_ms();
  return global_tables_.ready() && registry_.ready() &&
         std::all_of(threads_.begin(), threads_.end(), [now](const auto& health) { return health->ready_at(now); });
}

std::string InstanceHealth::reason() const {
  const std::int64_t now = now_ms();
  // The schema registry first: while it is awaited the threads cannot say more than "starting" or "processing".
  if (!registry_.ready()) return registry_.reason();
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    if (threads_[i]->ready_at(now)) continue;
    return threads_.size() == 1 ? threads_[i]->reason_at(now) : "thread " + std::to_string(i) + ": " + threads_[i]->reason_at(now);
  }
  if (!global_tables_.ready()) return global_tables_.reason();
  return threads_.empty() ? std::string("processing") : threads_[0]->reason_at(now);
}

std::int64_t InstanceHealth::last_beat_ms() const {
  std::int64_t oldest = std::numeric_limits<std::int64_t>::max();
  for (const auto& health : threads_) oldest = std::min(oldest, health->last_beat_ms());
  return oldest;
}

}  // namespace sluice::runtime
