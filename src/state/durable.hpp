// Private to the state module: the seam between the write-buffer logic (buffered_stores.cpp), which both
// implementations share, and the durable contents it sits on (RocksDB, or plain std::maps for tests).
//
// A backend only ever sees committed data: the write buffer, the changelog key encoding, the merge of buffer
// and durable contents in scans and the restore decoding all live above it, written once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/state/store.hpp"

namespace sluice::state::detail {

// A forward cursor over the durable contents of one family, positioned on the first key >= `from` and
// exhausted at the first key >= `to` (or at the end of the family when `to` is empty). key() and value() stay
// valid until the next call to next().
class DurableCursor {
 public:
  virtual ~DurableCursor() = default;
  virtual bool valid() const = 0;  // false once exhausted; throws if the backend failed while iterating
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  virtual void next() = 0;
  // Moves to the first key >= `from` within the cursor's range (`from` at or after the range's start): an
  // existing cursor is cheaper to seek than a new one (RocksDB: no iterator to build, no super-version).
  virtual void seek(std::string_view from) = 0;
};

// Changes collected for one atomic write to a backend. Created by the backend it is written to.
class DurableBatch {
 public:
  virtual ~DurableBatch() = default;
  virtual void put(std::size_t store, std::uint8_t family, std::string_view key, std::string_view value) = 0;
  virtual void remove(std::size_t store, std::uint8_t family, std::string_view key) = 0;
  virtual void set_changelog_offset(std::size_t store, std::int64_t offset) = 0;
  virtual void set_stream_time(std::int64_t stream_time_ms) = 0;
};

// The committed contents of one task's stores. Callers check indexes (store < size, family < families[store])
// before calling; a backend does not re-check them.
class DurableBackend {
 public:
  virtual ~DurableBackend() = default;

  // Reads one key into `value` (reusing its capacity). Returns false if absent.
  virtual bool get(std::size_t store, std::uint8_t family, std::string_view key, std::string& value) = 0;
  // A cursor over [from, to); empty `to` = to the end of the family.
  virtual std::unique_ptr<DurableCursor> scan(std::size_t store, std::uint8_t family, std::string_view from,
                                              std::string_view to) = 0;

  virtual std::unique_ptr<DurableBatch> new_batch() = 0;
  // Writes every change of `batch` atomically (all or nothing). `batch` must come from this backend's
  // new_batch(). Throws std::runtime_error on failure.
  virtual void write(DurableBatch& batch) = 0;

  // The last changelog offset recorded for `store` (-1 if none) and the stream time (INT64_MIN if none).
  virtual std::int64_t changelog_offset(std::size_t store) const = 0;
  virtual std::int64_t stream_time_ms() const = 0;
  // About how many keys a family of a store holds (committed contents; RocksDB's estimate, exact in memory).
  virtual std::uint64_t estimated_keys(std::size_t store, std::uint8_t family) const = 0;

  // Makes everything written so far persistent and releases the backend's resources (files, locks). Called
  // once; nothing else is called afterwards.
  virtual void close() = 0;
};

// The TaskStores that every public factory returns: the write buffer over `backend`. `families[i]` is the
// number of families of store i.
std::unique_ptr<TaskStores> make_buffered_task_stores(std::unique_ptr<DurableBackend> backend,
                                                      std::vector<std::uint8_t> families);

// The options the shared resources were made with (the state directory), for stores opened outside
// rocksdb_backend.cpp (global tables).
const StateOptions& options_of(const StateResources& resources);

}  // namespace sluice::state::detail
