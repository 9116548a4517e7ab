// Operator state: an ordered byte-string key/value store per (task, operator), split into a few numbered
// families (e.g. 0 = aggregates by key+window, 1 = an index by window end). Every change is also logged to the
// operator's changelog topic, one record per changed key, keyed by [family byte][key], so the store can be
// rebuilt from the changelog alone.
//
// Writes go to an in-memory write buffer (sorted, compacted per key) that serves reads; commit() hands the
// buffered changes to the runtime (to produce to the changelog), and apply() moves them into the durable
// backend together with the changelog offset they reflect, atomically. The durable backend therefore always
// holds a committed prefix of the changelog. Not thread-safe: one task, one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::state {

// Visits (key, value) pairs; return false to stop.
using Visitor = std::function<bool(std::string_view key, std::string_view value)>;

// Keys in [from, to). For scan_ranges: `to` is never empty.
struct KeyRange {
  std::string from;
  std::string to;
};
// Visits (index of the range, key, value); return false to stop.
using RangeVisitor = std::function<bool(std::size_t range, std::string_view key, std::string_view value)>;

class Store {
 public:
  virtual ~Store() = default;

  // Reads through the write buffer. Returns false if absent (or deleted in the buffer).
  virtual bool get(std::uint8_t family, std::string_view key, std::string& value) = 0;
  virtual void put(std::uint8_t family, std::string_view key, std::string_view value) = 0;
  virtual void remove(std::uint8_t family, std::string_view key) = 0;
  // Visits keys in [from, to) in ascending order, merging the write buffer over the durable contents.
  // An empty `to` means "to the end of the family". The visitor may not modify the store; collect first.
  virtual void scan(std::uint8_t family, std::string_view from, std::string_view to, const Visitor& visitor) = 0;
  // Visits several ranges in one pass, in order: `ranges` ascend and do not overlap (each `to` <= the next
  // `from`; throws std::invalid_argument otherwise). One cursor serves them all, moved forward from range to
  // range, where a scan per range would open (and, in RocksDB, build and seek) a cursor each time. The
  // visitor may not modify the store.
  virtual void scan_ranges(std::uint8_t family, const std::vector<KeyRange>& ranges, const RangeVisitor& visitor) {
    check_ranges(ranges);
    bool stopped = false;
    for (std::size_t range = 0; range < ranges.size() && !stopped; ++range) {
      scan(family, ranges[range].from, ranges[range].to, [&](std::string_view key, std::string_view value) {
        stopped = !visitor(range, key, value);
        return !stopped;
      });
    }
  }

  // Number of buffered (uncommitted) changed keys, for the runtime to commit early when it grows.
  virtual std::size_t buffered_changes() const noexcept = 0;

 protected:
  static void check_ranges(const std::vector<KeyRange>& ranges);
};

// A changed key to write to the changelog: key = [family byte][store key]; value nullopt = deleted.
struct ChangelogRecord {
  std::string key;
  std::optional<std::string> value;
};

// The stores of one task, in one directory (RocksDB) or in memory (tests, the TestDriver).
class TaskStores {
 public:
  virtual ~TaskStores() = default;
  virtual Store& store(std::size_t index) = 0;  // index: the operator's store slot in the task
  virtual std::size_t size() const noexcept = 0;

  // The buffered changes of every store, compacted per key (only the latest value of each key), in key order.
  // Does not clear them: apply() or discard() does.
  virtual void changes(std::size_t index, const std::function<void(const ChangelogRecord&)>& consumer) = 0;
  // Makes the buffered changes durable, with the changelog offset (of the last record produced for each store,
  // -1 if none was produced) and the task's stream time, in one atomic write; then clears the buffers.
  virtual void apply(const std::vector<std::int64_t>& changelog_offsets, std::int64_t stream_time_ms) = 0;
  // Drops the buffered changes (an aborted transaction; reading resumes from committed state).
  virtual void discard() = 0;

  // What the durable contents reflect: the last changelog offset applied per store (-1: none), stream time.
  virtual std::int64_t changelog_offset(std::size_t index) const = 0;
  virtual std::int64_t stream_time_ms() const = 0;
  // About how many keys family `family` of store `index` holds as of the last apply() (buffered changes not
  // included): RocksDB's estimate, exact for the memory backend. For gauges.
  virtual std::uint64_t estimated_keys(std::size_t index, std::uint8_t family) const = 0;

  // Restore: applies changelog records straight to the durable contents (no buffer), recording `offset`.
  // Called in changelog order; call finish_restore() after a batch to make it durable.
  virtual void restore(std::size_t index, std::string_view changelog_key, std::optional<std::string_view> value,
                       std::int64_t offset) = 0;
  virtual void finish_restore() = 0;

  // Flushes to disk and releases the directory lock. Idempotent; the destructor calls it.
  virtual void close() = 0;
};

// Memory shared by every RocksDB store of the process: one block cache and one write-buffer budget.
struct StateResources;

struct StateOptions {
  std::string directory;                    // state_dir/<application_id>
  std::int64_t memory_bytes = 256ll << 20;  // block cache + memtables of all stores together
};

// Creates the process-wide shared resources (block cache, write buffer manager) for `options`.
std::shared_ptr<StateResources> make_state_resources(const StateOptions& options);

// Opens (creating if needed) the stores of one task under <directory>/<task_name>/, one RocksDB column family
// per (store, family). `families[i]` is the number of families of store i. Throws std::runtime_error if the
// directory is locked by another process (RocksDB's LOCK file) or cannot be opened; the message says which.
std::unique_ptr<TaskStores> open_rocksdb_task_stores(const std::shared_ptr<StateResources>& resources,
                                                     const std::string& task_name,
                                                     const std::vector<std::uint8_t>& families);

// In-memory stores with the same semantics (including the write buffer), for tests and the TestDriver.
std::unique_ptr<TaskStores> make_memory_task_stores(const std::vector<std::uint8_t>& families);

// Deletes a task's directory (the state is then rebuilt from the changelog on next assignment).
void delete_task_directory(const StateOptions& options, const std::string& task_name);

}  // namespace sluice::state
