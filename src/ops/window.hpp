// Private to ops: what the aggregate operators (aggregate.cpp: table; window.cpp: tumbling, hopping, sliding,
// session) and dedupe share — the order-preserving store key encoding, saturating time arithmetic, and the
// base class that owns the aggregations, the output format and the emit-update buffer.
//
// Store keys (see README.md, "Stateful operators"):
//   group key  = compact JSON text of the record key + '\0'   (JSON text never holds a raw NUL, so the
//                terminator makes "every entry of key K" a range scan [K\0, K\1) and no key a prefix of another)
//   time       = 8 bytes big-endian with the sign bit flipped  (byte order = numeric order, negatives first)
//   index key  = [end time][group key][start time]             ("windows ending up to T" = a scan from the start)
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "accumulator.hpp"
#include "sluice/core/json.hpp"
#include "sluice/core/record.hpp"
#include "sluice/ops/operator.hpp"
#include "sluice/state/store.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::ops::detail {

inline constexpr std::size_t time_bytes = 8;

// ---- time arithmetic that cannot overflow (stream time starts at INT64_MIN) ----
[[nodiscard]] std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept;
[[nodiscard]] std::int64_t saturating_sub(std::int64_t a, std::int64_t b) noexcept;
// Floor division for a positive divisor (rounds towards negative infinity, unlike '/').
[[nodiscard]] std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept;

// ---- key encoding ----
void append_time(std::string& out, std::int64_t time);
[[nodiscard]] std::int64_t read_time(std::string_view bytes) noexcept;  // the first time_bytes bytes
// Appends the JSON text of `key` and the '\0' terminator.
void append_group_key(std::string& out, const core::Value& key);
// The exclusive end of the range of every entry of the group key `group_key` (which ends with '\0').
[[nodiscard]] std::string group_key_end(std::string_view group_key);
// Exclusive scan bound for keys that start with a time <= `last`: "" (the end of the family) when last is the
// largest time.
[[nodiscard]] std::string times_up_to(std::int64_t last);

// An index key [time][group key][optional start time], decoded. The views point into the key.
struct IndexKey {
  std::int64_t time = 0;
  std::string_view group_key;  // JSON text + '\0'
  std::int64_t start = 0;      // only when the key has one
};
[[nodiscard]] bool parse_index_key(std::string_view bytes, IndexKey& out);
void append_index_key(std::string& out, std::int64_t time, std::string_view group_key);
void append_index_key(std::string& out, std::int64_t time, std::string_view group_key, std::int64_t start);

// The largest window end that is closed when closing lags stream time by `delay` (end <= stream - delay);
// nullopt when nothing can be closed yet (no record seen, or the subtraction would underflow).
[[nodiscard]] std::optional<std::int64_t> closed_up_to(std::int64_t stream_time, std::int64_t delay);
// What a task knows of an index family (keys lead with a time) between scans: every entry before `floor` was
// collected and removed, and no entry at or after `floor` has a time below `next` (INT64_MIN: not known).
// Every put into the family goes through put_index, which keeps both true. Starts over whenever the task's
// state is rebuilt (an abort discards the removals, and the runtime then creates the task's memory anew).
struct IndexProgress {
  std::int64_t floor = INT64_MIN;
  std::int64_t next = INT64_MIN;
};
// Puts an index entry (its key leads with its time) and keeps `progress` true.
void put_index(state::Store& store, std::uint8_t family, std::string_view key, IndexProgress* progress);
// Collects the keys of an index family whose time is <= `last`, in order. With `progress`, the scan starts at
// its floor, so it does not walk over the deletions of earlier calls (RocksDB tombstones), and is skipped when
// nothing can be due: `last` below the floor, or below the next entry's time (a RocksDB iterator per call cost
// 40 % of a tumbling window's closing time when every small batch of records moved stream time); the scan
// notes where the next entry after `last` is, and the floor moves past `last`. Callers remove every key collected.
void collect_index(state::Store& store, std::uint8_t family, std::int64_t last, std::vector<std::string>& keys,
                   IndexProgress* progress = nullptr);

// Store contents that do not decode are not a property of a record: they mean a bug or a damaged store.
[[noreturn]] void corrupt_state(const std::string& operator_name, std::string_view what);

// Per (task, operator) memory of the aggregates: the compacted updates waiting for the next commit, and
// scratch buffers reused from record to record so the per-record path does not allocate for them.
class AggregateTaskState final : public OperatorTaskState {
 public:
  // emit: update — the latest output per (window, key), keyed by its index key so iteration order is the emit
  // order (window end, then key, then start); tables key it by group key.
  std::map<std::string, core::Record, std::less<>> pending;
  core::JsonParser key_parser;  // group keys back to Values when windows close
  std::vector<core::Value> arguments;
  std::string group_key;
  std::string store_key;
  std::string index_key;
  std::string encoded;
  std::vector<std::string> collected;  // keys gathered during a scan (the store may not change inside one)
  std::vector<std::string> slices;     // sliced hopping windows: the encoded slices of the window closing
  // Per index family: what the task knows of it between scans (see IndexProgress).
  IndexProgress index[4];
  // Sliced hopping windows: whether family 0 may still hold per-window accumulators written before slices
  // (an upgrade); unknown until the first close looks. Slices never put into family 0, so once it is empty it
  // stays empty, and closes take the one-pass path (see SlicedHoppingAggregate::emit_closed).
  std::optional<bool> per_window_accumulators;
  std::vector<IndexKey> entries;        // the parsed index keys of the windows closing
  std::vector<state::KeyRange> ranges;  // the key ranges of their accumulators or slices, read in one pass
};

// What every aggregate shares. Subclasses implement process() and on_time(); on_commit() is here.
class AggregateOperatorBase : public Operator {
 public:
  AggregateOperatorBase(std::string name, const topology::AggregateSpec& spec, std::size_t update_buffer_limit);

  std::unique_ptr<OperatorTaskState> create_task_state() const override;
  // emit: update — emits the compacted updates in order, then forgets them.
  void on_commit(ProcessContext& context) const override;

 protected:
  // The pieces of a stateful context, checked to be present (the runtime always sets them).
  struct TaskView {
    state::Store& store;
    AggregateTaskState& memory;
    std::int64_t stream_time;
  };
  [[nodiscard]] TaskView task(ProcessContext& context) const;
  // Windows closed at an aligned end and their final results emitted: asks the runtime not to hold them until
  // the commit interval (ProcessContext::commit_soon).
  static void commit_soon(ProcessContext& context) noexcept {
    if (context.commit_soon != nullptr) *context.commit_soon = true;
  }

  // Rejects a null key and evaluates the aggregation arguments into memory.arguments; on success the group
  // key is in memory.group_key.
  [[nodiscard]] core::Status prepare(const core::Record& record, ProcessContext& context,
                                     AggregateTaskState& memory) const;

  // The output record of one group: value {"window_start", "window_end", fields...} (no window fields when
  // `window` is empty), timestamp = the largest event time aggregated.
  struct WindowBounds {
    std::int64_t start = 0;
    std::int64_t end = 0;
  };
  [[nodiscard]] core::Record make_output(core::Value key, std::optional<WindowBounds> window,
                                         const Accumulator& accumulator) const;

  // emit: update — keeps `output` as the latest for `order_key` (replacing an earlier one), and emits the whole
  // buffer early once it holds more than the limit.
  void publish_update(ProcessContext& context, AggregateTaskState& memory, std::string_view order_key,
                      core::Record output) const;
  void flush_updates(ProcessContext& context, AggregateTaskState& memory) const;

  // The group key's Value from its stored form (JSON text + '\0').
  [[nodiscard]] core::Value parse_group_key(AggregateTaskState& memory, std::string_view group_key) const;
  void decode_accumulator(std::string_view bytes, Accumulator& accumulator) const;

  bool emit_final() const noexcept { return emit_ == topology::EmitMode::final; }

  Aggregations aggregations_;

 private:
  topology::EmitMode emit_;
  std::size_t update_buffer_limit_;
};

// How hopping windows keep their state: per window (every window a record falls in is updated), or by slices
// (panes of gcd(size, advance): a record updates its one slice, a window combines its slices when it closes).
// automatic: slices where they give the same results byte for byte (emit final, more than one window per
// record, and only count, first and last, whose merge is exact and cannot fail); tests force either.
enum class WindowState : std::uint8_t { automatic, per_window, sliced };

// Windowed aggregates (window.cpp), chosen by spec.window->type.
std::unique_ptr<Operator> make_windowed_aggregate(const std::string& name, const topology::AggregateSpec& spec,
                                                  std::size_t update_buffer_limit,
                                                  WindowState state = WindowState::automatic);

}  // namespace sluice::ops::detail
