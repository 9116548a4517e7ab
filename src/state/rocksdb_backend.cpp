// The RocksDB durable contents: one database per task, one column family per (store, family) plus "meta".
//
// The changelog topic is the durability; the database only has to hold a committed prefix of it. Every write
// is one WriteBatch over all column families (the data and the meta offsets it reflects), and atomic_flush
// persists the memtables of all column families together, so the database is always a consistent prefix.
// The WAL is on but never synced: it costs a sequential write to the page cache per commit and makes a process
// crash (kill -9) lose nothing already applied, so a restart replays only the changelog records of the last
// commit (a machine crash may lose the unsynced tail, which the changelog then replays). close() flushes.
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "durable.hpp"
#include "meta_codec.hpp"

namespace sluice::state {

// The memory every task database of the process shares, so that the total stays within memory_bytes however
// many tasks are assigned: one block cache, and one memtable budget charged to that same cache.
struct StateResources {
  StateOptions options;
  std::shared_ptr<rocksdb::Cache> block_cache;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffer_manager;
  std::shared_ptr<rocksdb::TableFactory> table_factory;  // block-based tables reading through block_cache
};

namespace detail {
namespace {

// Per column family. Small, because a process holds many column families (tasks x stores x families) and
// the shared write buffer manager, not this size, is what bounds memtable memory overall.
constexpr std::size_t kWriteBufferBytes = 4u << 20;
// File descriptors per task database; RocksDB keeps the rest of its table readers closed.
constexpr int kMaxOpenFilesPerDb = 64;
// The process shares two cores with everything else: one flush thread and one compaction thread in total.
constexpr int kFlushThreads = 1;
constexpr int kCompactionThreads = 1;

constexpr const char* kMetaFamily = "meta";
constexpr std::string_view kStreamTimeKey = "stream_time";
constexpr std::string_view kOffsetKeyPrefix = "changelog_offset/";

std::string family_name(std::size_t store, std::size_t family) {
  return "s" + std::to_string(store) + "f" + std::to_string(family);
}

std::string offset_key(std::size_t store) { return std::string(kOffsetKeyPrefix) + std::to_string(store); }

using detail::decode_int64;
using detail::encode_int64;

rocksdb::Slice to_slice(std::string_view text) { return {text.data(), text.size()}; }

void check(const rocksdb::Status& status, const std::string& what) {
  if (!status.ok()) throw std::runtime_error("state: " + what + ": " + status.ToString());
}

// RocksDB reports a held LOCK file in two ways: another process holds it (fcntl fails: "While lock file:
// <dir>/LOCK: Resource temporarily unavailable"), or this process already has the database open ("lock hold
// by current process ...: <dir>/LOCK: No locks available"). Other IO errors on the LOCK file (permissions) are
// not lock conflicts and keep their own message.
bool is_lock_conflict(const rocksdb::Status& status) {
  if (!status.IsIOError()) return false;
  const std::string text = status.ToString();
  return text.find("/LOCK") != std::string::npos &&
         (text.find("While lock file") != std::string::npos ||
          text.find("lock hold by current process") != std::string::npos);
}

void check_task_name(const std::string& task_name) {
  // The name becomes a directory under state_dir that delete_task_directory removes recursively: it must not
  // be able to name anything else.
  if (task_name.empty() || task_name == "." || task_name == ".." ||
      task_name.find_first_of(std::string_view("/\0", 2)) != std::string::npos) {
    throw std::invalid_argument("state: invalid task name \"" + task_name +
                                "\" (it must be a single, non-empty path component)");
  }
}

class RocksDbCursor final : public DurableCursor {
 public:
  RocksDbCursor(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* family, std::string_view from, std::string_view to)
      : upper_bound_(to), upper_bound_slice_(upper_bound_) {
    rocksdb::ReadOptions options;
    // The bound lets RocksDB stop at `to` itself, skipping tombstones and files beyond it.
    if (!upper_bound_.empty()) options.iterate_upper_bound = &upper_bound_slice_;
    iterator_.reset(db.NewIterator(options, family));
    iterator_->Seek(to_slice(from));
  }

  bool valid() const override {
    if (iterator_->Valid()) return true;
    check(iterator_->status(), "scanning a store");  // exhausted, or stopped by an error
    return false;
  }
  std::string_view key() const override { return iterator_->key().ToStringView(); }
  std::string_view value() const override { return iterator_->value().ToStringView(); }
  void next() override { iterator_->Next(); }
  void seek(std::string_view from) override { iterator_->Seek(to_slice(from)); }

 private:
  // Declared before the iterator, which refers to them and must be destroyed first.
  std::string upper_bound_;
  rocksdb::Slice upper_bound_slice_;
  std::unique_ptr<rocksdb::Iterator> iterator_;
};

class RocksDbBatch final : public DurableBatch {
 public:
  RocksDbBatch(const std::vector<std::vector<rocksdb::ColumnFamilyHandle*>>& families,
               rocksdb::ColumnFamilyHandle* meta)
      : families_(&families), meta_(meta) {}

  void put(std::size_t store, std::uint8_t family, std::string_view key, std::string_view value) override {
    check(batch_.Put((*families_)[store][family], to_slice(key), to_slice(value)), "adding to a write batch");
  }
  void remove(std::size_t store, std::uint8_t family, std::string_view key) override {
    check(batch_.Delete((*families_)[store][family], to_slice(key)), "adding to a write batch");
  }
  void set_changelog_offset(std::size_t store, std::int64_t offset) override {
    check(batch_.Put(meta_, offset_key(store), encode_int64(offset)), "adding to a write batch");
  }
  void set_stream_time(std::int64_t stream_time_ms) override {
    check(batch_.Put(meta_, to_slice(kStreamTimeKey), encode_int64(stream_time_ms)), "adding to a write batch");
  }

  rocksdb::WriteBatch& batch() noexcept { return batch_; }

 private:
  const std::vector<std::vector<rocksdb::ColumnFamilyHandle*>>* families_;  // owned by the backend
  rocksdb::ColumnFamilyHandle* meta_;
  rocksdb::WriteBatch batch_;
};

class RocksDbBackend final : public DurableBackend {
 public:
  RocksDbBackend(const StateResources& resources, const std::string& task_name,
                 const std::vector<std::uint8_t>& families)
      : path_((std::filesystem::path(resources.options.directory) / task_name).string()) {
    // RocksDB creates the database directory itself, but not its parents (state_dir/<application_id>).
    std::filesystem::create_directories(resources.options.directory);

    rocksdb::DBOptions db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    db_options.atomic_flush = true;  // see the top of this file: no WAL, so flushes must cover every family
    db_options.write_buffer_manager = resources.write_buffer_manager;
    db_options.max_open_files = kMaxOpenFilesPerDb;
    db_options.max_background_jobs = kFlushThreads + kCompactionThreads;
    // The informational LOG stays small: many tasks, each with its own directory.
    db_options.max_log_file_size = 1u << 20;
    db_options.keep_log_file_num = 2;
    // One writer per database (the task's thread), so no concurrent memtable inserts, which would also make
    // RocksDB ignore the insert hints below.
    db_options.allow_concurrent_memtable_write = false;

    rocksdb::ColumnFamilyOptions family_options;
    family_options.write_buffer_size = kWriteBufferBytes;
    family_options.table_factory = resources.table_factory;
    family_options.level_compaction_dynamic_level_bytes = true;  // less space amplification for small stores
    // apply() writes each family's changes in key order (the write buffer is sorted), so each memtable insert
    // lands just after the previous one: with one insert hint per memtable (an empty prefix for every key) the
    // skip list continues from there instead of searching from its top for every key.
    family_options.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(0));

    // Every existing column family must be opened, including ones this version no longer uses (a topology
    // with fewer stores): they are kept, untouched.
    std::vector<std::string> names{rocksdb::kDefaultColumnFamilyName, kMetaFamily};
    for (std::size_t store = 0; store < families.size(); ++store) {
      for (std::size_t family = 0; family < families[store]; ++family) names.push_back(family_name(store, family));
    }
    std::vector<std::string> existing;
    // Fails for a database that does not exist yet; a real problem shows up again in Open below.
    if (rocksdb::DB::ListColumnFamilies(db_options, path_, &existing).ok()) {
      for (const std::string& name : existing) {
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      }
    }
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    descriptors.reserve(names.size());
    for (const std::string& name : names) descriptors.emplace_back(name, family_options);

    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    const rocksdb::Status opened = rocksdb::DB::Open(db_options, path_, descriptors, &handles, &db);
    if (is_lock_conflict(opened)) {
      throw std::runtime_error("state: another sluice process holds the task directory " + path_ +
                               " (or this process has it open already): " + opened.ToString());
    }
    check(opened, "cannot open the stores of task " + task_name + " in " + path_);
    db_.reset(db);
    for (rocksdb::ColumnFamilyHandle* handle : handles) handles_.emplace_back(handle);

    // descriptors (and so handles) are in `names` order: default, meta, then every sNfM in store order.
    meta_ = handles[1];
    std::size_t next = 2;
    family_handles_.resize(families.size());
    for (std::size_t store = 0; store < families.size(); ++store) {
      for (std::size_t family = 0; family < families[store]; ++family) {
        family_handles_[store].push_back(handles[next++]);
      }
    }
    write_options_.disableWAL = false;
    write_options_.sync = false;
  }

  RocksDbBackend(const RocksDbBackend&) = delete;
  RocksDbBackend& operator=(const RocksDbBackend&) = delete;
  ~RocksDbBackend() override = default;  // handles_ before db_ (declaration order), without a flush

  bool get(std::size_t store, std::uint8_t family, std::string_view key, std::string& value) override {
    // Reads into the caller's string when RocksDB has to copy; when it can pin the value (a block-cache
    // block), one copy out of the pinned block follows.
    rocksdb::PinnableSlice result(&value);
    const rocksdb::Status status = db_->Get(read_options_, family_handles_[store][family], to_slice(key), &result);
    if (status.IsNotFound()) return false;
    check(status, "reading a store of " + path_);
    if (result.IsPinned()) value.assign(result.data(), result.size());
    return true;
  }

  std::unique_ptr<DurableCursor> scan(std::size_t store, std::uint8_t family, std::string_view from,
                                      std::string_view to) override {
    return std::make_unique<RocksDbCursor>(*db_, family_handles_[store][family], from, to);
  }

  std::unique_ptr<DurableBatch> new_batch() override {
    return std::make_unique<RocksDbBatch>(family_handles_, meta_);
  }

  void write(DurableBatch& batch) override {
    auto* rocksdb_batch = dynamic_cast<RocksDbBatch*>(&batch);
    if (rocksdb_batch == nullptr) throw std::logic_error("state: a batch written to the wrong backend");
    check(db_->Write(write_options_, &rocksdb_batch->batch()), "writing to " + path_);
    rocksdb_batch->batch().Clear();
  }

  std::int64_t changelog_offset(std::size_t store) const override {
    return read_meta(offset_key(store)).value_or(-1);
  }

  std::int64_t stream_time_ms() const override {
    return read_meta(kStreamTimeKey).value_or(std::numeric_limits<std::int64_t>::min());
  }

  std::uint64_t estimated_keys(std::size_t store, std::uint8_t family) const override {
    std::uint64_t keys = 0;
    if (!db_ || !db_->GetIntProperty(family_handles_[store][family], "rocksdb.estimate-num-keys", &keys)) return 0;
    return keys;
  }

  void close() override {
    if (!db_) return;
    std::vector<rocksdb::ColumnFamilyHandle*> all;
    all.reserve(handles_.size());
    for (const auto& handle : handles_) all.push_back(handle.get());
    rocksdb::FlushOptions flush_options;
    flush_options.wait = true;
    flush_options.allow_write_stall = true;  // shutting down: waiting for compactions is fine
    // With atomic_flush, one call persists the memtables of all column families together.
    const rocksdb::Status flushed = db_->Flush(flush_options, all);
    // Released whatever the flush did: handles first, then the database (which releases the LOCK).
    family_handles_.clear();
    meta_ = nullptr;
    handles_.clear();
    const rocksdb::Status closed = db_->Close();
    db_.reset();
    check(flushed, "flushing " + path_ + " on close");
    check(closed, "closing " + path_);
  }

 private:
  std::optional<std::int64_t> read_meta(std::string_view key) const {
    rocksdb::PinnableSlice value;
    const rocksdb::Status status = db_->Get(read_options_, meta_, to_slice(key), &value);
    if (status.IsNotFound()) return std::nullopt;
    check(status, "reading the meta of " + path_);
    return decode_int64(value.ToStringView(), key);
  }

  std::string path_;
  rocksdb::ReadOptions read_options_;
  rocksdb::WriteOptions write_options_;
  // Declared before the handles so that the handles are destroyed first, as RocksDB requires.
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<std::unique_ptr<rocksdb::ColumnFamilyHandle>> handles_;  // all open column families
  std::vector<std::vector<rocksdb::ColumnFamilyHandle*>> family_handles_;  // [store][family], into handles_
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
};

}  // namespace
}  // namespace detail

std::shared_ptr<StateResources> make_state_resources(const StateOptions& options) {
  if (options.directory.empty()) throw std::invalid_argument("state: the state directory is empty");
  if (options.memory_bytes <= 0) {
    throw std::invalid_argument("state: memory_bytes must be positive, got " + std::to_string(options.memory_bytes));
  }
  const auto memory = static_cast<std::size_t>(options.memory_bytes);

  auto resources = std::make_shared<StateResources>();
  resources->options = options;

  // One cache bounds everything: data blocks, index and filter blocks (cached, not held per table reader) and,
  // through the write buffer manager's dummy entries, the memtables.
  rocksdb::LRUCacheOptions cache_options;
  cache_options.capacity = memory;
  cache_options.high_pri_pool_ratio = 0.1;  // index and filter blocks, so data blocks cannot evict them
  resources->block_cache = rocksdb::NewLRUCache(cache_options);
  // Memtables may take up to half of the budget; beyond that the largest memtables are flushed.
  resources->write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(memory / 2, resources->block_cache);

  rocksdb::BlockBasedTableOptions table_options;
  table_options.block_cache = resources->block_cache;
  table_options.cache_index_and_filter_blocks = true;
  table_options.cache_index_and_filter_blocks_with_high_priority = true;
  table_options.pin_l0_filter_and_index_blocks_in_cache = true;
  // Point reads (get) dominate for aggregates: a bloom filter skips the files that lack the key.
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  resources->table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));

  // RocksDB's background threads are per process (Env::Default), not per database: every task database
  // shares these. Setting the same counts again is harmless.
  rocksdb::Env* env = rocksdb::Env::Default();
  env->SetBackgroundThreads(detail::kFlushThreads, rocksdb::Env::Priority::HIGH);
  env->SetBackgroundThreads(detail::kCompactionThreads, rocksdb::Env::Priority::LOW);
  return resources;
}

std::unique_ptr<TaskStores> open_rocksdb_task_stores(const std::shared_ptr<StateResources>& resources,
                                                     const std::string& task_name,
                                                     const std::vector<std::uint8_t>& families) {
  if (!resources) throw std::invalid_argument("state: no StateResources (make_state_resources)");
  detail::check_task_name(task_name);
  return detail::make_buffered_task_stores(std::make_unique<detail::RocksDbBackend>(*resources, task_name, families),
                                           families);
}

void delete_task_directory(const StateOptions& options, const std::string& task_name) {
  if (options.directory.empty()) throw std::invalid_argument("state: the state directory is empty");
  detail::check_task_name(task_name);
  // remove_all of a missing path removes nothing and reports no error.
  std::filesystem::remove_all(std::filesystem::path(options.directory) / task_name);
}

}  // namespace sluice::state

namespace sluice::state::detail {

const StateOptions& options_of(const StateResources& resources) { return resources.options; }

}  // namespace sluice::state::detail
