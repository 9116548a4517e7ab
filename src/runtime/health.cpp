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

}  // namespace sluice::runtime
