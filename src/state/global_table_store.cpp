// A global table's rows and offsets over one TaskStores store (see global_table_store.hpp for the layout).
#include "sluice/state/global_table_store.hpp"

#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include "durable.hpp"
#include "meta_codec.hpp"

namespace sluice::state {
namespace {

constexpr std::uint8_t kRows = 0;
constexpr std::uint8_t kMeta = 1;
constexpr std::string_view kRowCountKey = "rows";
const std::vector<std::uint8_t> kFamilies{2};

using detail::decode_int64;
using detail::encode_int64;

// "o" + the partition, 4 bytes big-endian: in partition order, and never equal to "rows".
std::string offset_key(std::int32_t partition) {
  const auto bits = static_cast<std::uint32_t>(partition);
  std::string key = "o";
  for (int shift = 24; shift >= 0; shift -= 8) key.push_back(static_cast<char>((bits >> shift) & 0xffu));
  return key;
}

}  // namespace

GlobalTableStore::GlobalTableStore(Opener open) : open_(std::move(open)) {
  stores_ = open_(false);
  if (!stores_ || stores_->size() != 1) throw std::logic_error("state: a global table needs one store");
  Store& store = stores_->store(0);
  store.scan(kMeta, "o", "p", [&](std::string_view key, std::string_view value) {
    if (key.size() != 5) return true;
    std::uint32_t bits = 0;
    for (std::size_t i = 1; i < 5; ++i) bits = (bits << 8) | static_cast<unsigned char>(key[i]);
    committed_offsets_[static_cast<std::int32_t>(bits)] = decode_int64(value, "global table offset");
    return true;
  });
  std::string count;
  if (store.get(kMeta, kRowCountKey, count)) rows_ = decode_int64(count, "global table row count");
}

GlobalTableStore::~GlobalTableStore() {
  try {
    close();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw; close() logs nothing itself
  }
}

bool GlobalTableStore::get(std::string_view key, std::string& value) const {
  std::shared_lock lock(mutex_);
  if (!stores_) throw std::logic_error("state: global table used after close()");
  return stores_->store(0).get(kRows, key, value);
}

void GlobalTableStore::put(std::string_view key, std::string_view value) {
  std::unique_lock lock(mutex_);
  Store& store = stores_->store(0);
  std::string existing;
  if (!store.get(kRows, key, existing)) ++rows_;
  store.put(kRows, key, value);
}

void GlobalTableStore::remove(std::string_view key) {
  std::unique_lock lock(mutex_);
  Store& store = stores_->store(0);
  std::string existing;
  if (!store.get(kRows, key, existing)) return;  // nothing to delete: no tombstone needed either
  --rows_;
  store.remove(kRows, key);
}

void GlobalTableStore::set_next_offset(std::int32_t partition, std::int64_t next_offset) {
  pending_offsets_[partition] = next_offset;
}

void GlobalTableStore::commit() {
  std::unique_lock lock(mutex_);
  Store& store = stores_->store(0);
  for (const auto& [partition, offset] : pending_offsets_) store.put(kMeta, offset_key(partition), encode_int64(offset));
  store.put(kMeta, kRowCountKey, encode_int64(rows_));
  stores_->apply({-1}, INT64_MIN);  // rows, offsets and count in one write
  for (const auto& [partition, offset] : pending_offsets_) committed_offsets_[partition] = offset;
  pending_offsets_.clear();
}

void GlobalTableStore::reset() {
  std::unique_lock lock(mutex_);
  stores_->close();
  stores_.reset();
  stores_ = open_(true);
  committed_offsets_.clear();
  pending_offsets_.clear();
  rows_ = 0;
}

std::map<std::int32_t, std::int64_t> GlobalTableStore::next_offsets() const { return committed_offsets_; }

void GlobalTableStore::close() {
  std::unique_lock lock(mutex_);
  if (stores_) stores_->close();
}

std::unique_ptr<GlobalTableStore> open_rocksdb_global_table(const std::shared_ptr<StateResources>& resources,
                                                            const std::string& table_name) {
  if (!resources) throw std::invalid_argument("state: no StateResources (make_state_resources)");
  const std::string directory = "global-" + table_name;
  return std::make_unique<GlobalTableStore>([resources, directory](bool wipe) {
    if (wipe) delete_task_directory(detail::options_of(*resources), directory);
    return open_rocksdb_task_stores(resources, directory, kFamilies);
  });
}

std::unique_ptr<GlobalTableStore> make_memory_global_table() {
  return std::make_unique<GlobalTableStore>([](bool) { return make_memory_task_stores(kFamilies); });
}

}  // namespace sluice::state
