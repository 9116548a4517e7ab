// The in-memory durable contents: one std::map per (store, family) standing in for RocksDB, so that tests and
// the TestDriver get exactly the write-buffer semantics of production (the buffer is the shared code above).
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

#include "durable.hpp"

namespace sluice::state::detail {
namespace {

using FamilyContents = std::map<std::string, std::string, std::less<>>;

class MemoryCursor final : public DurableCursor {
 public:
  MemoryCursor(const FamilyContents& contents, FamilyContents::const_iterator position,
               FamilyContents::const_iterator end)
      : contents_(&contents), position_(position), end_(end) {}

  bool valid() const override { return position_ != end_; }
  std::string_view key() const override { return position_->first; }
  std::string_view value() const override { return position_->second; }
  void next() override { ++position_; }
  void seek(std::string_view from) override {
    position_ = contents_->lower_bound(from);
    // Not past the range's end (lower_bound beyond it would never compare equal to end_).
    if (end_ != contents_->end() && (position_ == contents_->end() || position_->first >= end_->first)) {
      position_ = end_;
    }
  }

 private:
  const FamilyContents* contents_;
  FamilyContents::const_iterator position_;
  FamilyContents::const_iterator end_;
};

class MemoryBatch final : public DurableBatch {
 public:
  struct Change {
    std::size_t store;
    std::uint8_t family;
    std::string key;
    std::optional<std::string> value;  // nullopt: delete
  };

  void put(std::size_t store, std::uint8_t family, std::string_view key, std::string_view value) override {
    changes.push_back({store, family, std::string(key), std::string(value)});
  }
  void remove(std::size_t store, std::uint8_t family, std::string_view key) override {
    changes.push_back({store, family, std::string(key), std::nullopt});
  }
  void set_changelog_offset(std::size_t store, std::int64_t offset) override { offsets[store] = offset; }
  void set_stream_time(std::int64_t stream_time_ms) override { stream_time = stream_time_ms; }

  std::vector<Change> changes;  // in the order given, as a RocksDB WriteBatch applies them
  std::map<std::size_t, std::int64_t> offsets;
  std::optional<std::int64_t> stream_time;
};

class MemoryBackend final : public DurableBackend {
 public:
  explicit MemoryBackend(const std::vector<std::uint8_t>& families) : offsets_(families.size(), -1) {
    contents_.reserve(families.size());
    for (const std::uint8_t count : families) contents_.emplace_back(count);
  }

  bool get(std::size_t store, std::uint8_t family, std::string_view key, std::string& value) override {
    const FamilyContents& contents = contents_[store][family];
    const auto found = contents.find(key);
    if (found == contents.end()) return false;
    value.assign(found->second);
    return true;
  }

  std::unique_ptr<DurableCursor> scan(std::size_t store, std::uint8_t family, std::string_view from,
                                      std::string_view to) override {
    const FamilyContents& contents = contents_[store][family];
    const auto begin = contents.lower_bound(from);
    // The caller never passes to < from (an empty range), so lower_bound(to) cannot precede begin.
    const auto end = to.empty() ? contents.end() : contents.lower_bound(to);
    return std::make_unique<MemoryCursor>(contents, begin, end);
  }

  std::unique_ptr<DurableBatch> new_batch() override { return std::make_unique<MemoryBatch>(); }

  void write(DurableBatch& batch) override {
    auto* memory_batch = dynamic_cast<MemoryBatch*>(&batch);
    if (memory_batch == nullptr) throw std::logic_error("state: a batch written to the wrong backend");
    // Nothing below can fail except allocation, which is fatal for the process anyway: the write is atomic in
    // every way a test can observe.
    for (MemoryBatch::Change& change : memory_batch->changes) {
      FamilyContents& contents = contents_[change.store][change.family];
      if (change.value) {
        contents.insert_or_assign(std::move(change.key), std::move(*change.value));
      } else if (const auto found = contents.find(change.key); found != contents.end()) {
        contents.erase(found);
      }
    }
    for (const auto& [store, offset] : memory_batch->offsets) offsets_[store] = offset;
    if (memory_batch->stream_time) stream_time_ = *memory_batch->stream_time;
    memory_batch->changes.clear();
  }

  std::int64_t changelog_offset(std::size_t store) const override { return offsets_[store]; }
  std::int64_t stream_time_ms() const override { return stream_time_; }
  std::uint64_t estimated_keys(std::size_t store, std::uint8_t family) const override {
    return contents_[store][family].size();
  }

  void close() override {}  // nothing to persist: the contents die with the object

 private:
  std::vector<std::vector<FamilyContents>> contents_;  // [store][family]
  std::vector<std::int64_t> offsets_;
  std::int64_t stream_time_ = std::numeric_limits<std::int64_t>::min();
};

}  // namespace
}  // namespace sluice::state::detail

namespace sluice::state {

std::unique_ptr<TaskStores> make_memory_task_stores(const std::vector<std::uint8_t>& families) {
  return detail::make_buffered_task_stores(std::make_unique<detail::MemoryBackend>(families), families);
}

}  // namespace sluice::state
