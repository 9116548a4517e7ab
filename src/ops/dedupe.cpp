// Dedupe: forwards a record unless a record of the same key was forwarded at an event time s with
// |t - s| < within. Never late: an old record is compared with whatever forwarded times are still kept.
// Family 0: [group key][s] -> "" (every forwarded time still kept, so out-of-order records compare with all of
// them, not only the latest).  Family 1 (index): [s][group key] -> "" (expiry by time without a scan of keys).
// A forwarded time s is dropped once stream time - within > s.
#include <algorithm>
#include <stdexcept>
#include <utility>

#include "sluice/ops/stateful.hpp"
#include "window.hpp"

namespace sluice::ops {

namespace {

class DedupeOperator final : public Operator {
 public:
  DedupeOperator(std::string name, const topology::DedupeSpec& spec)
      : Operator(std::move(name)), within_(spec.within_ms) {
    if (within_ < 0) throw std::invalid_argument("dedupe span must not be negative");
  }

  std::uint8_t store_families() const noexcept override { return 2; }

  // What the task knows of its expiry index between scans (see detail::IndexProgress).
  struct ExpiryProgress final : OperatorTaskState {
    detail::IndexProgress progress;
  };
  std::unique_ptr<OperatorTaskState> create_task_state() const override { return std::make_unique<ExpiryProgress>(); }

  core::Result<Disposition> process(core::Record&& record, ProcessContext& context) const override {
    state::Store& store = this->store(context);
    if (record.key.is_null()) {
      return core::make_error(core::RecordErrorKind::missing_field,
                              "dedupe '" + name() + "' needs a record key; the key is null");
    }
    std::string group_key;
    detail::append_group_key(group_key, record.key);
    const std::int64_t time = record.timestamp_ms;

    // A duplicate was forwarded at s with time - within < s < time + within, and s is not expired
    // (stream_time - within > s). Expired entries on_time has not dropped yet are skipped here, so the outcome
    // does not depend on when the runtime calls on_time.
    if (within_ > 0) {
      const std::int64_t earliest = std::max(detail::saturating_add(detail::saturating_sub(time, within_), 1),
                                             detail::saturating_sub(context.time->stream_time_ms, within_));
      std::string from = group_key;
      detail::append_time(from, earliest);
      const std::int64_t last = detail::saturating_sub(detail::saturating_add(time, within_), 1);
      std::string to = group_key;
      if (last == INT64_MAX) {
        to = detail::group_key_end(group_key);
      } else {
        detail::append_time(to, last + 1);
      }
      bool duplicate = false;
      store.scan(0, from, to, [&](std::string_view, std::string_view) {
        duplicate = true;
        return false;
      });
      if (duplicate) return Disposition::discarded;
    }

    std::string key = group_key;
    detail::append_time(key, time);
    store.put(0, key, {});
    key.clear();
    detail::append_index_key(key, time, group_key);
    auto* memory = static_cast<ExpiryProgress*>(context.task_state);
    detail::put_index(store, 1, key, memory != nullptr ? &memory->progress : nullptr);
    context.out.emit(0, std::move(record));
    return Disposition::forwarded;
  }

  void on_time(ProcessContext& context) const override {
    state::Store& store = this->store(context);
    // Drop s once stream_time - within > s, i.e. s <= stream_time - within - 1.
    auto last_expired = detail::closed_up_to(context.time->stream_time_ms, detail::saturating_add(within_, 1));
    if (!last_expired) return;
    std::vector<std::string> expired;
    auto* memory = static_cast<ExpiryProgress*>(context.task_state);
    detail::collect_index(store, 1, *last_expired, expired, memory != nullptr ? &memory->progress : nullptr);
    std::string key;
    for (const std::string& index_key : expired) {
      detail::IndexKey entry;
      if (!detail::parse_index_key(index_key, entry)) detail::corrupt_state(name(), "dedupe index key");
      key.assign(entry.group_key);
      detail::append_time(key, entry.time);
      store.remove(0, key);
      store.remove(1, index_key);
    }
  }

 private:
  state::Store& store(ProcessContext& context) const {
    if (context.store == nullptr || context.time == nullptr) {
      throw std::logic_error("stateful operator '" + name() + "' called without its store or time");
    }
    return *context.store;
  }

  std::int64_t within_;
};

}  // namespace

std::unique_ptr<Operator> make_dedupe_operator(const std::string& name, const topology::DedupeSpec& spec) {
  return std::make_unique<DedupeOperator>(name, spec);
}

}  // namespace sluice::ops
