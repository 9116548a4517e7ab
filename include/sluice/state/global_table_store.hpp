// The local copy of a global table: every row of every partition of its topic, and per partition the next
// offset those rows reflect, written together in one atomic write (a kill -9 never leaves rows and offsets
// disagreeing), so a restart resumes reading where the store stands.
//
// Built on one TaskStores store with two families (the same write buffer and backends as task state, so RocksDB
// shares the process's block cache and memtable budget): family 0 holds the rows (key bytes -> value bytes, as
// the topic holds them), family 1 the meta entries ("o" + 4-byte big-endian partition -> next offset, "rows" ->
// the number of rows), both 8-byte big-endian.
//
// Threading: one writer (the global-table reader thread) calls put/remove/set_next_offset/commit/reset; any
// number of processing threads call get() at the same time. Writes are buffered (at most one batch, in memory)
// and visible to get() as soon as they are made; commit() makes them durable.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "sluice/state/store.hpp"

namespace sluice::state {

class GlobalTableStore {
 public:
  // Opens the stores (one store with two families); with `wipe`, empty, after deleting what they held
  // (reset()). Called once by the constructor and once per reset().
  using Opener = std::function<std::unique_ptr<TaskStores>(bool wipe)>;
  explicit GlobalTableStore(Opener open);
  ~GlobalTableStore();
  GlobalTableStore(const GlobalTableStore&) = delete;
  GlobalTableStore& operator=(const GlobalTableStore&) = delete;

  // The row of `key`, if any. Thread-safe against the writer and other readers.
  bool get(std::string_view key, std::string& value) const;

  // ---- the writer ----
  void put(std::string_view key, std::string_view value);
  void remove(std::string_view key);
  // The next offset to read of `partition` once the buffered rows are durable.
  void set_next_offset(std::int32_t partition, std::int64_t next_offset);
  // Makes the buffered rows, next offsets and row count durable in one atomic write.
  void commit();
  // Drops every row and offset (the topic was recreated or truncated: the store is read again from the start).
  void reset();

  // Next offsets per partition as of the last commit() (a partition absent: never read).
  std::map<std::int32_t, std::int64_t> next_offsets() const;
  // Rows in the table, exact (kept with each put and remove), including buffered changes.
  std::int64_t rows() const noexcept { return rows_; }
  void close();

 private:
  Opener open_;
  mutable std::shared_mutex mutex_;  // get() shares it; writes of the buffer and commit() hold it alone
  std::unique_ptr<TaskStores> stores_;
  std::map<std::int32_t, std::int64_t> committed_offsets_;
  std::map<std::int32_t, std::int64_t> pending_offsets_;
  std::int64_t rows_ = 0;  // written by the writer only
};

// Opens (creating if needed) the RocksDB store of global table `table_name` under
// <directory>/global-<table_name>/, within the shared memory budget of `resources`.
std::unique_ptr<GlobalTableStore> open_rocksdb_global_table(const std::shared_ptr<StateResources>& resources,
                                                            const std::string& table_name);
// In memory, for tests and the TestDriver.
std::unique_ptr<GlobalTableStore> make_memory_global_table();

}  // namespace sluice::state
