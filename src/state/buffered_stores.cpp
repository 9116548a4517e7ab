// The write buffer, shared by the RocksDB and the in-memory implementations: reads through it, the merge of
// buffer and durable contents in scans, the changelog encoding ([family byte][key]), apply/discard and restore.
// Written once so that the two implementations cannot drift apart; only DurableBackend differs.
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "durable.hpp"

namespace sluice::state::detail {
namespace {

// The buffered changes of one family, sorted and compacted per key: a later put or remove of a key replaces
// the earlier one. nullopt is a tombstone: the key is deleted and must hide its durable value until apply()
// or discard(). std::less<> allows lookups by string_view without building a std::string.
using FamilyBuffer = std::map<std::string, std::optional<std::string>, std::less<>>;

class BufferedTaskStores;

class BufferedStore final : public Store {
 public:
  BufferedStore(BufferedTaskStores& owner, std::size_t index, std::uint8_t family_count)
      : owner_(&owner), index_(index), buffers_(family_count) {}

  bool get(std::uint8_t family, std::string_view key, std::string& value) override;
  void put(std::uint8_t family, std::string_view key, std::string_view value) override;
  void remove(std::uint8_t family, std::string_view key) override;
  void scan(std::uint8_t family, std::string_view from, std::string_view to, const Visitor& visitor) override;
  void scan_ranges(std::uint8_t family, const std::vector<KeyRange>& ranges, const RangeVisitor& visitor) override;

  std::size_t buffered_changes() const noexcept override {
    std::size_t count = 0;
    for (const FamilyBuffer& buffer : buffers_) count += buffer.size();
    return count;
  }

  std::size_t family_count() const noexcept { return buffers_.size(); }
  const FamilyBuffer& buffer(std::uint8_t family) const { return buffers_[family]; }
  void clear() noexcept {
    for (FamilyBuffer& buffer : buffers_) buffer.clear();
  }

 private:
  FamilyBuffer& checked_buffer(std::uint8_t family);
  void record(std::uint8_t family, std::string_view key, std::optional<std::string_view> value);

  BufferedTaskStores* owner_;
  std::size_t index_;
  std::vector<FamilyBuffer> buffers_;  // one per family
};

class BufferedTaskStores final : public TaskStores {
 public:
  BufferedTaskStores(std::unique_ptr<DurableBackend> backend, const std::vector<std::uint8_t>& families)
      : backend_(std::move(backend)), pending_offsets_(families.size(), -1) {
    stores_.reserve(families.size());
    for (std::size_t index = 0; index < families.size(); ++index) {
      stores_.push_back(std::make_unique<BufferedStore>(*this, index, families[index]));
    }
  }

  ~BufferedTaskStores() override {
    // A destructor must not throw; close() failing here (a failed flush) leaves the state to be rebuilt from
    // the changelog, which is what the durable prefix design allows for.
    try {
      close();
    } catch (...) {  // NOLINT(bugprone-empty-catch): see above
    }
  }

  BufferedTaskStores(const BufferedTaskStores&) = delete;
  BufferedTaskStores& operator=(const BufferedTaskStores&) = delete;

  Store& store(std::size_t index) override { return checked_store(index); }
  std::size_t size() const noexcept override { return stores_.size(); }

  void changes(std::size_t index, const std::function<void(const ChangelogRecord&)>& consumer) override {
    const BufferedStore& store = checked_store(index);
    ensure_open();
    // One record reused for every change: its strings keep their capacity from one key to the next.
    ChangelogRecord record;
    for (std::size_t family = 0; family < store.family_count(); ++family) {
      for (const auto& [key, value] : store.buffer(static_cast<std::uint8_t>(family))) {
        record.key.assign(1, static_cast<char>(family));
        record.key.append(key);
        if (value) {
          if (!record.value) record.value.emplace();
          record.value->assign(*value);
        } else {
          record.value.reset();
        }
        consumer(record);
      }
    }
  }

  void apply(const std::vector<std::int64_t>& changelog_offsets, std::int64_t stream_time_ms) override {
    ensure_open();
    if (changelog_offsets.size() != stores_.size()) {
      throw std::invalid_argument("state: apply() needs one changelog offset per store (" +
                                  std::to_string(stores_.size()) + "), got " +
                                  std::to_string(changelog_offsets.size()));
    }
    const std::unique_ptr<DurableBatch> batch = backend_->new_batch();
    for (std::size_t index = 0; index < stores_.size(); ++index) {
      const BufferedStore& store = *stores_[index];
      for (std::size_t family = 0; family < store.family_count(); ++family) {
        const auto family_byte = static_cast<std::uint8_t>(family);
        for (const auto& [key, value] : store.buffer(family_byte)) {
          if (value) {
            batch->put(index, family_byte, key, *value);
          } else {
            batch->remove(index, family_byte, key);
          }
        }
      }
      if (changelog_offsets[index] >= 0) batch->set_changelog_offset(index, changelog_offsets[index]);
    }
    batch->set_stream_time(stream_time_ms);
    backend_->write(*batch);  // throws on failure, leaving the buffers as they were
    discard();
  }

  void discard() override {
    for (const auto& store : stores_) store->clear();
  }

  std::uint64_t estimated_keys(std::size_t index, std::uint8_t family) const override {
    checked_store(index);
    ensure_open();
    return backend_->estimated_keys(index, family);
  }

  std::int64_t changelog_offset(std::size_t index) const override {
    checked_store(index);
    ensure_open();
    return backend_->changelog_offset(index);
  }

  std::int64_t stream_time_ms() const override {
    ensure_open();
    return backend_->stream_time_ms();
  }

  void restore(std::size_t index, std::string_view changelog_key, std::optional<std::string_view> value,
               std::int64_t offset) override {
    const BufferedStore& store = checked_store(index);
    ensure_open();
    if (!pending_restore_) pending_restore_ = backend_->new_batch();
    // The offset is recorded even for a record that is skipped below: it has been read, and skipping it again
    // on the next restore would change nothing.
    pending_offsets_[index] = offset;
    // A record without a family byte, or with one this store does not have (written by a different version of
    // the operator), cannot be placed anywhere. It is skipped silently: logging once per record could flood
    // the log during a long restore, and the state module does not log.
    if (changelog_key.empty()) return;
    const auto family = static_cast<std::uint8_t>(changelog_key.front());
    if (family >= store.family_count()) return;
    const std::string_view key = changelog_key.substr(1);
    if (value) {
      pending_restore_->put(index, family, key, *value);
    } else {
      pending_restore_->remove(index, family, key);
    }
  }

  void finish_restore() override {
    ensure_open();
    if (!pending_restore_) return;
    // The offsets go into the batch once, here, rather than once per restored record.
    for (std::size_t index = 0; index < pending_offsets_.size(); ++index) {
      if (pending_offsets_[index] >= 0) pending_restore_->set_changelog_offset(index, pending_offsets_[index]);
    }
    backend_->write(*pending_restore_);
    pending_restore_.reset();
    pending_offsets_.assign(pending_offsets_.size(), -1);
  }

  void close() override {
    if (closed_) return;
    // Marked closed first, so that a close() that throws is not retried by the destructor.
    closed_ = true;
    discard();  // uncommitted changes are dropped, as after a crash: only apply() makes them durable
    pending_restore_.reset();
    backend_->close();
  }

  DurableBackend& backend() {
    ensure_open();
    return *backend_;
  }

  void ensure_open() const {
    if (closed_) throw std::logic_error("state: the task's stores are closed");
  }

 private:
  BufferedStore& checked_store(std::size_t index) const {
    if (index >= stores_.size()) {
      throw std::out_of_range("state: store index " + std::to_string(index) + " out of range (the task has " +
                              std::to_string(stores_.size()) + " stores)");
    }
    return *stores_[index];
  }

  std::unique_ptr<DurableBackend> backend_;
  // unique_ptr: stores are handed out by reference and must not move when the vector is built.
  std::vector<std::unique_ptr<BufferedStore>> stores_;
  std::unique_ptr<DurableBatch> pending_restore_;  // restored records not yet written (finish_restore)
  std::vector<std::int64_t> pending_offsets_;      // per store, the last restored offset (-1: none)
  bool closed_ = false;
};

FamilyBuffer& BufferedStore::checked_buffer(std::uint8_t family) {
  if (family >= buffers_.size()) {
    throw std::out_of_range("state: family " + std::to_string(family) + " out of range (store " +
                            std::to_string(index_) + " has " + std::to_string(buffers_.size()) + " families)");
  }
  return buffers_[family];
}

bool BufferedStore::get(std::uint8_t family, std::string_view key, std::string& value) {
  const FamilyBuffer& buffer = checked_buffer(family);
  DurableBackend& backend = owner_->backend();
  if (const auto found = buffer.find(key); found != buffer.end()) {
    if (!found->second) return false;  // deleted in the buffer: the durable value is stale
    value.assign(*found->second);
    return true;
  }
  return backend.get(index_, family, key, value);
}

void BufferedStore::put(std::uint8_t family, std::string_view key, std::string_view value) {
  record(family, key, value);
}

void BufferedStore::remove(std::uint8_t family, std::string_view key) {
  // A tombstone even if the key is not durable: checking would cost a backend read per remove, and an
  // unnecessary tombstone only costs one changelog record.
  record(family, key, std::nullopt);
}

void BufferedStore::record(std::uint8_t family, std::string_view key, std::optional<std::string_view> value) {
  FamilyBuffer& buffer = checked_buffer(family);
  owner_->ensure_open();
  const auto position = buffer.lower_bound(key);
  if (position != buffer.end() && position->first == key) {
    // Overwrite in place: the existing strings keep their capacity.
    if (!value) {
      position->second.reset();
    } else if (position->second) {
      position->second->assign(*value);
    } else {
      position->second.emplace(*value);
    }
    return;
  }
  if (value) {
    buffer.emplace_hint(position, std::string(key), std::string(*value));
  } else {
    buffer.emplace_hint(position, std::string(key), std::nullopt);
  }
}

// A two-way merge of the buffered entries [buffered, buffered_end) and the durable cursor's keys below `to`
// (empty: every key the cursor has). On equal keys the buffer wins: its entry is newer, and a tombstone there
// hides the durable key entirely. Returns false when the visitor stopped.
template <typename Visit>
bool merge_buffer_and_durable(FamilyBuffer::const_iterator buffered, FamilyBuffer::const_iterator buffered_end,
                              DurableCursor& durable, std::string_view to, Visit&& visit) {
  while (true) {
    const bool has_buffered = buffered != buffered_end;
    const bool has_durable = durable.valid() && (to.empty() || durable.key() < to);
    if (!has_buffered && !has_durable) return true;
    int order = 0;  // < 0: the buffered key comes first; > 0: the durable key comes first; 0: the same key
    if (!has_durable) {
      order = -1;
    } else if (!has_buffered) {
      order = 1;
    } else {
      order = std::string_view(buffered->first).compare(durable.key());
    }

    if (order > 0) {
      if (!visit(durable.key(), durable.value())) return false;
      durable.next();
      continue;
    }
    if (order == 0) durable.next();  // shadowed by the buffered entry
    if (buffered->second && !visit(std::string_view(buffered->first), std::string_view(*buffered->second))) {
      return false;
    }
    ++buffered;
  }
}

// How many keys a cursor steps over before it seeks instead: a step is a fraction of a seek, and consecutive
// ranges (the slices of one window end's groups) usually lie a few keys apart.
constexpr int kStepsBeforeSeek = 8;

void BufferedStore::scan(std::uint8_t family, std::string_view from, std::string_view to, const Visitor& visitor) {
  const FamilyBuffer& buffer = checked_buffer(family);
  DurableBackend& backend = owner_->backend();
  if (!to.empty() && to <= from) return;  // an empty range (and lower_bound(to) would precede lower_bound(from))

  const auto buffered = buffer.lower_bound(from);
  const auto buffered_end = to.empty() ? buffer.end() : buffer.lower_bound(to);
  const std::unique_ptr<DurableCursor> durable = backend.scan(index_, family, from, to);
  merge_buffer_and_durable(buffered, buffered_end, *durable, {}, visitor);
}

void BufferedStore::scan_ranges(std::uint8_t family, const std::vector<KeyRange>& ranges, const RangeVisitor& visitor) {
  check_ranges(ranges);
  if (ranges.empty()) return;
  const FamilyBuffer& buffer = checked_buffer(family);
  DurableBackend& backend = owner_->backend();
  const std::unique_ptr<DurableCursor> durable = backend.scan(index_, family, ranges.front().from, ranges.back().to);
  for (std::size_t range = 0; range < ranges.size(); ++range) {
    const KeyRange& bounds = ranges[range];
    if (range > 0) {
      int steps = 0;
      while (durable->valid() && durable->key() < bounds.from && steps++ < kStepsBeforeSeek) durable->next();
      if (durable->valid() && durable->key() < bounds.from) durable->seek(bounds.from);
    }
    const bool more = merge_buffer_and_durable(
        buffer.lower_bound(bounds.from), buffer.lower_bound(bounds.to), *durable, bounds.to,
        [&](std::string_view key, std::string_view value) { return visitor(range, key, value); });
    if (!more) return;
  }
}

}  // namespace

std::unique_ptr<TaskStores> make_buffered_task_stores(std::unique_ptr<DurableBackend> backend,
                                                      std::vector<std::uint8_t> families) {
  return std::make_unique<BufferedTaskStores>(std::move(backend), families);
}

}  // namespace sluice::state::detail

namespace sluice::state {

void Store::check_ranges(const std::vector<KeyRange>& ranges) {
  for (std::size_t range = 0; range < ranges.size(); ++range) {
    if (ranges[range].to.empty() || ranges[range].to <= ranges[range].from ||
        (range > 0 && ranges[range].from < ranges[range - 1].to)) {
      throw std::invalid_argument("state: scan_ranges needs ascending, non-empty, non-overlapping ranges (range " +
                                  std::to_string(range) + ")");
    }
  }
}

}  // namespace sluice::state
