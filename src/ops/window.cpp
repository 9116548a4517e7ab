// Windowed aggregates: tumbling and hopping (one accumulator per window), session (accumulators merged when a
// record bridges sessions) and sliding (raw inputs kept per record, windows computed by range scans).
// Store layouts and exact semantics: README.md, "Stateful operators".
#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "window.hpp"

namespace sluice::ops::detail {

// ---------------------------------------------------------------------------------------------------------
// Helpers shared with aggregate.cpp and dedupe.cpp

std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t sum = 0;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? INT64_MAX : INT64_MIN;
}

std::int64_t saturating_sub(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t difference = 0;
  if (!__builtin_sub_overflow(a, b, &difference)) return difference;
  return b > 0 ? INT64_MIN : INT64_MAX;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t quotient = a / b;
  if (a % b != 0 && a < 0) --quotient;
  return quotient;
}

void append_time(std::string& out, std::int64_t time) {
  // Flipping the sign bit maps INT64_MIN..INT64_MAX onto 0..UINT64_MAX in order; big-endian keeps that order
  // under byte-wise comparison.
  auto bits = static_cast<std::uint64_t>(time) ^ (std::uint64_t{1} << 63);
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((bits >> shift) & 0xff));
}

std::int64_t read_time(std::string_view bytes) noexcept {
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < time_bytes; ++i) bits = (bits << 8) | static_cast<std::uint8_t>(bytes[i]);
  return static_cast<std::int64_t>(bits ^ (std::uint64_t{1} << 63));
}

void append_group_key(std::string& out, const core::Value& key) {
  core::append_json(key, out);
  out.push_back('\0');
}

std::string group_key_end(std::string_view group_key) {
  std::string end(group_key);
  end.back() = '\1';  // the terminator '\0' bumped: just past every key that starts with the group key
  return end;
}

std::string times_up_to(std::int64_t last) {
  std::string bound;
  if (last == INT64_MAX) return bound;
  append_time(bound, last + 1);
  return bound;
}

bool parse_index_key(std::string_view bytes, IndexKey& out) {
  if (bytes.size() < time_bytes + 1) return false;
  out.time = read_time(bytes);
  std::size_t terminator = bytes.find('\0', time_bytes);
  if (terminator == std::string_view::npos) return false;
  out.group_key = bytes.substr(time_bytes, terminator + 1 - time_bytes);
  std::string_view rest = bytes.substr(terminator + 1);
  if (rest.size() == time_bytes) {
    out.start = read_time(rest);
  } else if (!rest.empty()) {
    return false;
  }
  return true;
}

void append_index_key(std::string& out, std::int64_t time, std::string_view group_key) {
  append_time(out, time);
  out += group_key;
}

void append_index_key(std::string& out, std::int64_t time, std::string_view group_key, std::int64_t start) {
  append_index_key(out, time, group_key);
  append_time(out, start);
}

void corrupt_state(const std::string& operator_name, std::string_view what) {
  throw std::runtime_error("corrupt state in operator '" + operator_name + "': " + std::string(what));
}

// The largest window end that is closed when closing lags stream time by `delay` (end <= stream - delay);
// nullopt when nothing can be closed yet (no record seen, or the subtraction would underflow).
std::optional<std::int64_t> closed_up_to(std::int64_t stream_time, std::int64_t delay) {
  if (stream_time == INT64_MIN) return std::nullopt;
  std::int64_t last = 0;
  if (__builtin_sub_overflow(stream_time, delay, &last)) return std::nullopt;
  return last;
}

// Collects the keys of an index family up to (and including) entries whose leading time is `last`.
void put_index(state::Store& store, std::uint8_t family, std::string_view key, IndexProgress* progress) {
  store.put(family, key, {});
  if (progress == nullptr) return;
  const std::int64_t time = read_time(key);
  // An entry below what was collected already (an out-of-order record of dedupe): scan from it next time.
  if (progress->floor != INT64_MIN && time < progress->floor) progress->floor = time;
  if (progress->next != INT64_MIN && time < progress->next) progress->next = time;
}

void collect_index(state::Store& store, std::uint8_t family, std::int64_t last, std::vector<std::string>& keys,
                   IndexProgress* progress) {
  keys.clear();
  if (progress == nullptr) {
    store.scan(family, {}, times_up_to(last), [&](std::string_view key, std::string_view) {
      keys.emplace_back(key);
      return true;
    });
    return;
  }
  if (progress->floor != INT64_MIN && progress->floor > last) return;  // collected up to `last` already
  if (progress->next != INT64_MIN && progress->next > last) return;    // nothing is due before `next`
  std::string from;
  if (progress->floor != INT64_MIN) append_time(from, progress->floor);
  std::int64_t next = INT64_MAX;  // none after `last`
  store.scan(family, from, {}, [&](std::string_view key, std::string_view) {
    if (key.size() >= time_bytes && read_time(key) > last) {
      next = read_time(key);
      return false;
    }
    keys.emplace_back(key);  // a key too short to hold a time is the caller's to report
    return true;
  });
  progress->floor = last == INT64_MAX ? INT64_MAX : last + 1;
  progress->next = next;
}

namespace {

std::string late_message(std::int64_t time, std::string_view window, std::int64_t end, std::int64_t grace,
                         std::int64_t stream_time) {
  return "late record: event time " + std::to_string(time) + " belongs to " + std::string(window) +
         " that closed at window end " + std::to_string(end) + " + grace " + std::to_string(grace) +
         "; stream time is " + std::to_string(stream_time);
}

// The windows [s, s + size) with s a multiple of advance that hold `time`: starts first, first + advance, ..,
// last (none when first > last: hopping with gaps).
struct WindowStarts {
  std::int64_t first;
  std::int64_t last;
};

WindowStarts window_starts(std::int64_t time, std::int64_t size, std::int64_t advance) noexcept {
  return {(floor_div(saturating_sub(time, size), advance) + 1) * advance, floor_div(time, advance) * advance};
}

// A record whose every window is closed; named by the last of them.
core::RecordError late_for_windows(std::int64_t time, std::int64_t last_start, std::int64_t size, std::int64_t grace,
                             std::int64_t stream_time) {
  return core::make_error(core::RecordErrorKind::late,
                          late_message(time, "window [" + std::to_string(last_start) + ", " +
                                                 std::to_string(last_start + size) + ")",
                                       last_start + size, grace, stream_time));
}

// The windows of memory.collected grouped by window end, for a close that reads their state in one pass per end
// (state::Store::scan_ranges): windows closing at one end belong to distinct groups, and index order is (end,
// group), so state keys that lead with the group ascend. Parses the index keys into memory.entries, then for each
// run [first, last) of one end fills memory.ranges[i - first] with set_range(entries[i], range) and calls
// per_end(first, last).
template <typename SetRange, typename PerEnd>
void for_each_window_end(const std::string& operator_name, AggregateTaskState& memory, SetRange&& set_range,
                         PerEnd&& per_end) {
  std::vector<IndexKey>& entries = memory.entries;
  entries.resize(memory.collected.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (!parse_index_key(memory.collected[i], entries[i])) corrupt_state(operator_name, "window index key");
  }
  for (std::size_t first = 0; first < entries.size();) {
    std::size_t last = first + 1;
    while (last < entries.size() && entries[last].time == entries[first].time) ++last;
    memory.ranges.resize(last - first);
    for (std::size_t i = first; i < last; ++i) set_range(entries[i], memory.ranges[i - first]);
    per_end(first, last);
    first = last;
  }
}

// Removes the index entries of memory.collected (family `index_family`, keys [time][group][start]) and the state
// each names ([group][start] in family `state_family`).
void remove_collected(const std::string& operator_name, state::Store& store, AggregateTaskState& memory,
                      std::uint8_t state_family, std::uint8_t index_family, std::string_view what) {
  for (const std::string& index_key : memory.collected) {
    IndexKey entry;
    if (!parse_index_key(index_key, entry)) corrupt_state(operator_name, what);
    memory.store_key.assign(entry.group_key);
    append_time(memory.store_key, entry.start);
    store.remove(state_family, memory.store_key);
    store.remove(index_family, index_key);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Tumbling and hopping: windows [start, start + size) with start a multiple of advance.
// Family 0: [group key][start] -> accumulator.  Family 1 (index): [end][group key][start] -> "".
// A window is closed once stream time >= end + grace.
class TimeWindowAggregate final : public AggregateOperatorBase {
 public:
  TimeWindowAggregate(std::string name, const topology::AggregateSpec& spec, std::size_t update_buffer_limit)
      : AggregateOperatorBase(std::move(name), spec, update_buffer_limit),
        size_(spec.window->size_ms),
        advance_(spec.window->type == topology::WindowType::tumbling || spec.window->advance_ms <= 0
                     ? spec.window->size_ms
                     : spec.window->advance_ms),
        grace_(spec.window->grace_ms) {
    if (size_ <= 0) throw std::invalid_argument("window size must be positive");
  }

  std::uint8_t store_families() const noexcept override { return 2; }

  core::Result<Disposition> process(core::Record&& record, ProcessContext& context) const override {
    TaskView task = this->task(context);
    AggregateTaskState& memory = task.memory;
    core::Status prepared = prepare(record, context, memory);
    if (!prepared.ok()) return std::move(prepared).error();
    const std::int64_t time = record.timestamp_ms;

    // Windows containing `time`: starts s, multiples of advance, with time - size < s <= time.
    const auto [first_start, last_start] = window_starts(time, size_, advance_);
    if (first_start > last_start) return Disposition::discarded;  // hopping with gaps: in no window at all

    struct Touched {
      std::int64_t start;
      bool existed;
      Accumulator accumulator;
    };
    std::vector<Touched> touched;
    for (std::int64_t start = first_start; start <= last_start; start += advance_) {
      if (is_closed(start + size_, task.stream_time)) continue;  // ignored, not an error (others are open)
      Touched window{start, false, {}};
      state_key(memory, start);
      window.existed = task.store.get(0, memory.store_key, memory.encoded);
      if (window.existed) {
        decode_accumulator(memory.encoded, window.accumulator);
      } else {
        window.accumulator = aggregations_.empty();
      }
      core::Status added = aggregations_.add(window.accumulator, memory.arguments, time);
      if (!added.ok()) return std::move(added).error();  // nothing written yet
      touched.push_back(std::move(window));
    }
    if (touched.empty()) return late_for_windows(time, last_start, size_, grace_, task.stream_time);

    for (Touched& window : touched) {
      state_key(memory, window.start);
      memory.encoded.clear();
      aggregations_.encode(window.accumulator, memory.encoded);
      task.store.put(0, memory.store_key, memory.encoded);
      memory.index_key.clear();
      append_index_key(memory.index_key, window.start + size_, memory.group_key, window.start);
      if (!window.existed) put_index(task.store, 1, memory.index_key, &memory.index[1]);
      if (!emit_final()) {
        publish_update(context, memory, memory.index_key,
                       make_output(record.key, WindowBounds{window.start, window.start + size_}, window.accumulator));
      }
    }
    return Disposition::forwarded;
  }

  void on_time(ProcessContext& context) const override {
    TaskView task = this->task(context);
    AggregateTaskState& memory = task.memory;
    auto last_closed = closed_up_to(task.stream_time, grace_);
    if (!last_closed) return;
    collect_index(task.store, 1, *last_closed, memory.collected, &memory.index[1]);
    if (emit_final() && !memory.collected.empty()) {
      emit_final_results(task, context);
      commit_soon(context);
    }
    remove_collected(name(), task.store, memory, 0, 1, "window index key");
  }

 private:
  // The results of the windows of memory.collected, in index order: their accumulators [group][start] read in
  // one pass per window end (a range of one key per window) instead of a read per window (9,200 instructions
  // of q7's 21,700 per closed window).
  void emit_final_results(TaskView& task, ProcessContext& context) const {
    AggregateTaskState& memory = task.memory;
    const std::vector<IndexKey>& entries = memory.entries;
    Accumulator accumulator;
    auto set_range = [](const IndexKey& entry, state::KeyRange& range) {
      range.from.assign(entry.group_key);
      append_time(range.from, entry.start);
      range.to.assign(range.from);
      range.to.push_back('\0');  // the next key in byte order: the range holds this key only
    };
    for_each_window_end(name(), memory, set_range, [&](std::size_t first, std::size_t last) {
      std::size_t current = first;
      task.store.scan_ranges(0, memory.ranges, [&](std::size_t range, std::string_view, std::string_view value) {
        if (current != first + range) corrupt_state(name(), "indexed window missing");
        const IndexKey& entry = entries[current++];
        decode_accumulator(value, accumulator);
        context.out.emit(0, make_output(parse_group_key(memory, entry.group_key), WindowBounds{entry.start, entry.time},
                                        accumulator));
        return true;
      });
      if (current != last) corrupt_state(name(), "indexed window missing");
    });
  }

  bool is_closed(std::int64_t end, std::int64_t stream_time) const noexcept {
    return stream_time >= saturating_add(end, grace_);
  }
  static void state_key(AggregateTaskState& memory, std::int64_t start) {
    memory.store_key.assign(memory.group_key);
    append_time(memory.store_key, start);
  }

  std::int64_t size_;
  std::int64_t advance_;
  std::int64_t grace_;
};

// ---------------------------------------------------------------------------------------------------------
// Hopping windows by slices: a record updates the one slice (pane of gcd(size, advance)) its time falls in,
// and a window's result merges its slices when it closes, instead of every record updating size / advance
// windows (q5: five reads, decodes, encodes and writes per record).
// Family 2: [group key][slice start] -> accumulator.
// Family 3 (slice index): [end of the slice's last window][group key][slice start] -> "": the slice goes once
//   that window closed.
// Family 1 (window index): [end][group key][start] -> "", as per window: put for every open window of a slice
//   when the slice is created, so every window holding a record has one, emitted in the same order.
// Family 0: per-window accumulators written before slices (an upgrade): merged first, then dropped.
// Late and closed windows exactly as per window: a record is late when every window it falls in is closed; a
// closed window of a slice that still has open windows never sees the records added to it afterwards.
class SlicedHoppingAggregate final : public AggregateOperatorBase {
 public:
  SlicedHoppingAggregate(std::string name, const topology::AggregateSpec& spec, std::size_t update_buffer_limit)
      : AggregateOperatorBase(std::move(name), spec, update_buffer_limit),
        size_(spec.window->size_ms),
        advance_(spec.window->advance_ms),
        pane_(std::gcd(spec.window->size_ms, spec.window->advance_ms)),
        grace_(spec.window->grace_ms) {
    if (size_ <= 0 || advance_ <= 0) throw std::invalid_argument("window size and advance must be positive");
    if (!emit_final()) throw std::invalid_argument("sliced windows emit final results only");
  }

  std::uint8_t store_families() const noexcept override { return 4; }

  core::Result<Disposition> process(core::Record&& record, ProcessContext& context) const override {
    TaskView task = this->task(context);
    AggregateTaskState& memory = task.memory;
    core::Status prepared = prepare(record, context, memory);
    if (!prepared.ok()) return std::move(prepared).error();
    const std::int64_t time = record.timestamp_ms;

    const auto [first_start, last_start] = window_starts(time, size_, advance_);
    std::int64_t first_open = last_start + advance_;
    for (std::int64_t start = first_start; start <= last_start; start += advance_) {
      if (!is_closed(start + size_, task.stream_time)) {
        first_open = start;
        break;
      }
    }
    if (first_open > last_start) return late_for_windows(time, last_start, size_, grace_, task.stream_time);

    // A window that closed but was not emitted yet (the runtime closes windows between batches) must not see
    // this record, which goes into a slice it shares: it is emitted first, as it stands.
    if (first_open > first_start) emit_closed(task, context);

    // Every window of the slice contains the record: slices never straddle a window boundary.
    const std::int64_t slice = floor_div(time, pane_) * pane_;
    memory.store_key.assign(memory.group_key);
    append_time(memory.store_key, slice);
    Accumulator accumulator;
    const bool existed = task.store.get(2, memory.store_key, memory.encoded);
    if (existed) {
      decode_accumulator(memory.encoded, accumulator);
    } else {
      accumulator = aggregations_.empty();
    }
    core::Status added = aggregations_.add(accumulator, memory.arguments, time);
    if (!added.ok()) return std::move(added).error();  // nothing written yet
    memory.encoded.clear();
    aggregations_.encode(accumulator, memory.encoded);
    task.store.put(2, memory.store_key, memory.encoded);
    if (!existed) {
      // Windows that closed already were emitted without this slice, as per window.
      for (std::int64_t start = first_open; start <= last_start; start += advance_) {
        memory.index_key.clear();
        append_index_key(memory.index_key, start + size_, memory.group_key, start);
        put_index(task.store, 1, memory.index_key, &memory.index[1]);
      }
      memory.index_key.clear();
      append_index_key(memory.index_key, last_start + size_, memory.group_key, slice);
      put_index(task.store, 3, memory.index_key, &memory.index[3]);
    }
    return Disposition::forwarded;
  }

  void on_time(ProcessContext& context) const override {
    TaskView task = this->task(context);
    emit_closed(task, context);
  }

 private:
  // Emits every closed window (merging its slices) in index order, then drops the slices no open window needs.
  void emit_closed(TaskView& task, ProcessContext& context) const {
    AggregateTaskState& memory = task.memory;
    auto last_closed = closed_up_to(task.stream_time, grace_);
    if (!last_closed) return;
    collect_index(task.store, 1, *last_closed, memory.collected, &memory.index[1]);
    if (!memory.collected.empty() && !memory.per_window_accumulators) {
      bool any = false;
      task.store.scan(0, {}, {}, [&](std::string_view, std::string_view) {
        any = true;
        return false;
      });
      memory.per_window_accumulators = any;
    }
    if (!memory.collected.empty() && !*memory.per_window_accumulators) {
      emit_in_one_pass(task, context);
    } else {
      emit_window_by_window(task, context);
    }
    if (!memory.collected.empty()) commit_soon(context);
    // Slices whose last window closed (and was emitted above).
    collect_index(task.store, 3, *last_closed, memory.collected, &memory.index[3]);
    remove_collected(name(), task.store, memory, 2, 3, "slice index key");
  }

  // The windows of memory.collected, without per-window accumulators: their slices [group][start, end) read in
  // one pass per window end instead of a RocksDB iterator per window (11,600 instructions of q5's 25,000 per
  // closed window).
  void emit_in_one_pass(TaskView& task, ProcessContext& context) const {
    AggregateTaskState& memory = task.memory;
    const std::vector<IndexKey>& entries = memory.entries;
    Accumulator window, slice;
    auto set_range = [](const IndexKey& entry, state::KeyRange& range) {
      range.from.assign(entry.group_key);
      append_time(range.from, entry.start);
      range.to.assign(entry.group_key);
      append_time(range.to, entry.time);
    };
    for_each_window_end(name(), memory, set_range, [&](std::size_t first, std::size_t last) {
      // The window being merged (an index into entries) and whether it has a slice yet.
      std::size_t current = first;
      bool found = false;
      window = aggregations_.empty();
      auto finish = [&] {
        if (!found) corrupt_state(name(), "indexed window without slices");
        const IndexKey& entry = entries[current];
        context.out.emit(0, make_output(parse_group_key(memory, entry.group_key),
                                        WindowBounds{entry.start, entry.time}, window));
        ++current;
        found = false;
        window = aggregations_.empty();
      };
      task.store.scan_ranges(2, memory.ranges, [&](std::size_t range, std::string_view, std::string_view value) {
        while (current < first + range) finish();  // the windows before this slice's are complete
        decode_accumulator(value, slice);
        if (!aggregations_.merge(window, slice).ok()) corrupt_state(name(), "slices that do not merge");
        found = true;
        return true;
      });
      while (current < last) finish();
    });
    for (const std::string& index_key : memory.collected) task.store.remove(1, index_key);
  }

  // The windows of memory.collected one at a time: an accumulator kept per window before slices (records older
  // than the upgrade) comes first, then the window's slices.
  void emit_window_by_window(TaskView& task, ProcessContext& context) const {
    AggregateTaskState& memory = task.memory;
    Accumulator window, slice;
    for (const std::string& index_key : memory.collected) {
      IndexKey entry;
      if (!parse_index_key(index_key, entry)) corrupt_state(name(), "window index key");
      // An accumulator kept per window before slices (records older than the upgrade) comes first.
      memory.store_key.assign(entry.group_key);
      append_time(memory.store_key, entry.start);
      bool found = task.store.get(0, memory.store_key, memory.encoded);
      if (found) {
        decode_accumulator(memory.encoded, window);
        task.store.remove(0, memory.store_key);
      } else {
        window = aggregations_.empty();
      }
      std::string from(entry.group_key), to(entry.group_key);
      append_time(from, entry.start);
      append_time(to, entry.time);
      std::vector<std::string>& slices = memory.slices;
      slices.clear();
      task.store.scan(2, from, to, [&](std::string_view, std::string_view value) {
        slices.emplace_back(value);
        return true;
      });
      for (const std::string& encoded : slices) {
        decode_accumulator(encoded, slice);
        if (!aggregations_.merge(window, slice).ok()) corrupt_state(name(), "slices that do not merge");
        found = true;
      }
      if (!found) corrupt_state(name(), "indexed window without slices");
      context.out.emit(0, make_output(parse_group_key(memory, entry.group_key), WindowBounds{entry.start, entry.time},
                                      window));
      task.store.remove(1, index_key);
    }
  }

  bool is_closed(std::int64_t end, std::int64_t stream_time) const noexcept {
    return stream_time >= saturating_add(end, grace_);
  }

  std::int64_t size_;
  std::int64_t advance_;
  std::int64_t pane_;
  std::int64_t grace_;
};

// ---------------------------------------------------------------------------------------------------------
// Session: per key, sessions [start, end] (first and last record time) separated by more than gap.
// Family 0: [group key][start] -> [end][accumulator].  Family 1 (index): [end][group key][start] -> "".
// A session is closed once stream time > end + gap + grace; a record is late once t + gap + grace < stream time.
// Keyed by start, a session keeps its key while records extend it, so the write buffer folds a commit's
// records into one put. The index is lazy: an entry keeps the end the session had when it was indexed; when
// that end comes due, on_time finds the session's current end and either closes it or re-indexes it there,
// and drops entries of sessions merged away. (Keying by end, as before, left a RocksDB tombstone and a
// changelog record per extending record, and scans for a hot key walked over all of them.)
class SessionAggregate final : public AggregateOperatorBase {
 public:
  SessionAggregate(std::string name, const topology::AggregateSpec& spec, std::size_t update_buffer_limit)
      : AggregateOperatorBase(std::move(name), spec, update_buffer_limit),
        gap_(spec.window->gap_ms),
        grace_(spec.window->grace_ms) {
    if (gap_ < 0) throw std::invalid_argument("session gap must not be negative");
  }

  std::uint8_t store_families() const noexcept override { return 2; }

  core::Result<Disposition> process(core::Record&& record, ProcessContext& context) const override {
    TaskView task = this->task(context);
    AggregateTaskState& memory = task.memory;
    core::Status prepared = prepare(record, context, memory);
    if (!prepared.ok()) return std::move(prepared).error();
    const std::int64_t time = record.timestamp_ms;
    if (is_closed(time, task.stream_time)) {
      return core::make_error(core::RecordErrorKind::late,
                              late_message(time, "session window [" + std::to_string(time) + ", " +
                                                     std::to_string(time) + "] (gap " + std::to_string(gap_) + ")",
                                           saturating_add(time, gap_), grace_, task.stream_time));
    }

    // Sessions the record joins: start - gap <= time <= end + gap. Sessions of a key never overlap, so in start
    // order they are in end order too: scan the key's (few, open) sessions and stop at the first start > time + gap.
    struct Joined {
      std::int64_t start;
      std::int64_t end;
      std::string encoded;
    };
    std::vector<Joined> joined;
    const std::size_t prefix = memory.group_key.size();
    const std::int64_t latest_start = saturating_add(time, gap_);
    const std::int64_t earliest_end = saturating_sub(time, gap_);
    task.store.scan(0, memory.group_key, group_key_end(memory.group_key),
                    [&](std::string_view key, std::string_view value) {
                      if (key.size() != prefix + time_bytes || value.size() < time_bytes) {
                        corrupt_state(name(), "session key");
                      }
                      const std::int64_t start = read_time(key.substr(prefix));
                      if (start > latest_start) return false;
                      const std::int64_t end = read_time(value);
                      // A closed session is finished (emitted or about to be): a record does not reopen it.
                      if (end >= earliest_end && !is_closed(end, task.stream_time)) {
                        joined.push_back(Joined{start, end, std::string(value.substr(time_bytes))});
                      }
                      return true;
                    });

    // Merge in time order (earlier sessions first, the record last) so first()/last() ties resolve by arrival.
    Accumulator merged = aggregations_.empty();
    Accumulator session;
    std::int64_t start = time;
    std::int64_t end = time;
    for (const Joined& other : joined) {
      decode_accumulator(other.encoded, session);
      core::Status status = aggregations_.merge(merged, session);
      if (!status.ok()) return std::move(status).error();
      start = std::min(start, other.start);
      end = std::max(end, other.end);
    }
    core::Status added = aggregations_.add(merged, memory.arguments, time);
    if (!added.ok()) return std::move(added).error();  // nothing written yet

    bool indexed = false;  // the resulting session keeps the key (and so the index entry) of one it joined
    for (const Joined& other : joined) {
      if (other.start == start) {
        indexed = true;
      } else {
        // Merged away: its state goes (its index entry is dropped when it comes due).
        session_key(memory, other.start);
        task.store.remove(0, memory.store_key);
      }
      if (other.start != start || other.end != end) {
        // A pending update of the old bounds is never emitted.
        memory.index_key.clear();
        append_index_key(memory.index_key, other.end, memory.group_key, other.start);
        if (auto pending = memory.pending.find(memory.index_key); pending != memory.pending.end()) {
          memory.pending.erase(pending);
        }
      }
    }
    session_key(memory, start);
    memory.encoded.clear();
    append_time(memory.encoded, end);
    aggregations_.encode(merged, memory.encoded);
    task.store.put(0, memory.store_key, memory.encoded);
    memory.index_key.clear();
    append_index_key(memory.index_key, end, memory.group_key, start);
    if (!indexed) put_index(task.store, 1, memory.index_key, &memory.index[1]);
    if (!emit_final()) {
      publish_update(context, memory, memory.index_key,
                     make_output(std::move(record.key), WindowBounds{start, end}, merged));
    }
    return Disposition::forwarded;
  }

  void on_time(ProcessContext& context) const override {
    TaskView task = this->task(context);
    AggregateTaskState& memory = task.memory;
    auto last_closed = closed_up_to(task.stream_time, saturating_add(saturating_add(gap_, grace_), 1));
    if (!last_closed) return;
    collect_index(task.store, 1, *last_closed, memory.collected, &memory.index[1]);
    // Sessions that close now, emitted in (end, key, start) order like windows; an entry whose session grew
    // past last_closed moves to the session's current end instead.
    struct Closing {
      std::int64_t end;
      std::string_view group_key;
      std::int64_t start;
      std::string encoded;
    };
    std::vector<Closing> closing;
    for (const std::string& index_key : memory.collected) {
      IndexKey entry;
      if (!parse_index_key(index_key, entry)) corrupt_state(name(), "session index key");
      task.store.remove(1, index_key);
      memory.store_key.assign(entry.group_key);
      append_time(memory.store_key, entry.start);
      if (!task.store.get(0, memory.store_key, memory.encoded)) continue;  // merged into an earlier session
      if (memory.encoded.size() < time_bytes) corrupt_state(name(), "session value");
      const std::int64_t end = read_time(memory.encoded);
      if (end > *last_closed) {
        memory.index_key.clear();
        append_index_key(memory.index_key, end, entry.group_key, entry.start);
        put_index(task.store, 1, memory.index_key, &memory.index[1]);
        continue;
      }
      closing.push_back(Closing{end, entry.group_key, entry.start, memory.encoded});
    }
    std::sort(closing.begin(), closing.end(), [](const Closing& a, const Closing& b) {
      return std::tie(a.end, a.group_key, a.start) < std::tie(b.end, b.group_key, b.start);
    });
    Accumulator accumulator;
    for (const Closing& session : closing) {
      if (emit_final()) {
        decode_accumulator(std::string_view(session.encoded).substr(time_bytes), accumulator);
        context.out.emit(0, make_output(parse_group_key(memory, session.group_key),
                                        WindowBounds{session.start, session.end}, accumulator));
      }
      memory.store_key.assign(session.group_key);
      append_time(memory.store_key, session.start);
      task.store.remove(0, memory.store_key);
    }
  }

 private:
  // Also the lateness rule: a record at t is late iff the session [t, t] would already be closed.
  bool is_closed(std::int64_t end, std::int64_t stream_time) const noexcept {
    return saturating_add(saturating_add(end, gap_), grace_) < stream_time;
  }
  static void session_key(AggregateTaskState& memory, std::int64_t start) {
    memory.store_key.assign(memory.group_key);
    append_time(memory.store_key, start);
  }

  std::int64_t gap_;
  std::int64_t grace_;
};

// ---------------------------------------------------------------------------------------------------------
// Sliding: one window [w - size, w] (both ends inclusive) per distinct record time w of a key, covering every
// record of the key in that range. Aggregates are computed from raw inputs kept per record:
// Family 0 (raw): [group key][time][sequence u32] -> encoded arguments (sequence = arrival order at one time).
// Family 1 (window index): [w][group key] -> "".  Family 2 (raw index): [time][group key] -> "".
// A window is closed once stream time > w + grace; a raw record at s is dropped once s + size + grace < stream
// time (then every window that includes it is closed, and any record whose window could include it is late).
class SlidingAggregate final : public AggregateOperatorBase {
 public:
  SlidingAggregate(std::string name, const topology::AggregateSpec& spec, std::size_t update_buffer_limit)
      : AggregateOperatorBase(std::move(name), spec, update_buffer_limit),
        size_(spec.window->size_ms),
        grace_(spec.window->grace_ms) {
    if (size_ < 0) throw std::invalid_argument("sliding window size must not be negative");
  }

  std::uint8_t store_families() const noexcept override { return 3; }

  core::Result<Disposition> process(core::Record&& record, ProcessContext& context) const override {
    TaskView task = this->task(context);
    AggregateTaskState& memory = task.memory;
    core::Status prepared = prepare(record, context, memory);
    if (!prepared.ok()) return std::move(prepared).error();
    const std::int64_t time = record.timestamp_ms;
    if (is_closed(time, task.stream_time)) {
      return core::make_error(core::RecordErrorKind::late,
                              late_message(time, "sliding window [" + std::to_string(saturating_sub(time, size_)) +
                                                     ", " + std::to_string(time) + "]",
                                           time, grace_, task.stream_time));
    }

    // Every record that shares a window with this one lies in [time - size, time + size].
    std::vector<RawRecord> records;
    scan_raw(task.store, memory, saturating_sub(time, size_), saturating_add(time, size_), records);
    std::uint32_t sequence = 0;
    bool time_known = false;
    auto position = records.begin();
    for (; position != records.end() && position->time <= time; ++position) {
      if (position->time == time) {
        time_known = true;
        sequence = position->sequence + 1;
      }
    }
    records.insert(position, RawRecord{time, sequence, memory.arguments});

    // The windows this record changes: its own, and every existing window ending in [time, time + size].
    // All are open: the record's own window ends first and is open (else the record was late).
    struct Changed {
      std::int64_t end;
      Accumulator accumulator;
    };
    std::vector<Changed> changed;
    std::size_t first_in_window = 0;
    for (std::size_t i = 0; i < records.size(); ++i) {
      const std::int64_t end = records[i].time;
      if (end < time || (i + 1 < records.size() && records[i + 1].time == end)) continue;  // one per distinct time
      const std::int64_t start = saturating_sub(end, size_);
      while (records[first_in_window].time < start) ++first_in_window;
      Changed window{end, aggregations_.empty()};
      for (std::size_t j = first_in_window; j <= i; ++j) {
        core::Status added = aggregations_.add(window.accumulator, records[j].arguments, records[j].time);
        if (!added.ok()) return std::move(added).error();  // nothing written yet
      }
      changed.push_back(std::move(window));
    }

    raw_key(memory, time, sequence);
    memory.encoded.clear();
    for (const core::Value& argument : memory.arguments) append_value(argument, memory.encoded);
    task.store.put(0, memory.store_key, memory.encoded);
    if (!time_known) {
      memory.index_key.clear();
      append_index_key(memory.index_key, time, memory.group_key);
      put_index(task.store, 1, memory.index_key, &memory.index[1]);
      put_index(task.store, 2, memory.index_key, &memory.index[2]);
    }
    if (!emit_final()) {
      for (const Changed& window : changed) {
        const std::int64_t start = saturating_sub(window.end, size_);
        memory.index_key.clear();
        append_index_key(memory.index_key, window.end, memory.group_key, start);
        publish_update(context, memory, memory.index_key,
                       make_output(record.key, WindowBounds{start, window.end}, window.accumulator));
      }
    }
    return Disposition::forwarded;
  }

  void on_time(ProcessContext& context) const override {
    TaskView task = this->task(context);
    AggregateTaskState& memory = task.memory;
    // Close windows first: they read raw records that the expiry below may drop in the same call.
    if (auto last_closed = closed_up_to(task.stream_time, saturating_add(grace_, 1))) {
      collect_index(task.store, 1, *last_closed, memory.collected, &memory.index[1]);
      std::vector<RawRecord> records;
      for (const std::string& index_key : memory.collected) {
        IndexKey entry;
        if (!parse_index_key(index_key, entry)) corrupt_state(name(), "sliding window index key");
        if (emit_final()) {
          memory.group_key.assign(entry.group_key);
          scan_raw(task.store, memory, saturating_sub(entry.time, size_), entry.time, records);
          Accumulator accumulator = aggregations_.empty();
          for (const RawRecord& raw : records) {
            // Validated when each record arrived (a record re-checks every window it joins): cannot fail here.
            core::Status added = aggregations_.add(accumulator, raw.arguments, raw.time);
            if (!added.ok()) corrupt_state(name(), "closed window no longer aggregates: " + added.error().message);
          }
          context.out.emit(0, make_output(parse_group_key(memory, entry.group_key),
                                          WindowBounds{saturating_sub(entry.time, size_), entry.time}, accumulator));
        }
        task.store.remove(1, index_key);
      }
    }
    if (auto last_expired = closed_up_to(task.stream_time, saturating_add(saturating_add(size_, grace_), 1))) {
      collect_index(task.store, 2, *last_expired, memory.collected, &memory.index[2]);
      std::vector<std::string> raw_keys;
      for (const std::string& index_key : memory.collected) {
        IndexKey entry;
        if (!parse_index_key(index_key, entry)) corrupt_state(name(), "sliding raw index key");
        memory.store_key.assign(entry.group_key);
        append_time(memory.store_key, entry.time);
        std::string to(entry.group_key);
        append_time(to, saturating_add(entry.time, 1));
        raw_keys.clear();
        task.store.scan(0, memory.store_key, to, [&](std::string_view key, std::string_view) {
          raw_keys.emplace_back(key);
          return true;
        });
        for (const std::string& key : raw_keys) task.store.remove(0, key);
        task.store.remove(2, index_key);
      }
    }
  }

 private:
  struct RawRecord {
    std::int64_t time;
    std::uint32_t sequence;
    std::vector<core::Value> arguments;
  };

  bool is_closed(std::int64_t end, std::int64_t stream_time) const noexcept {
    return saturating_add(end, grace_) < stream_time;
  }

  void raw_key(AggregateTaskState& memory, std::int64_t time, std::uint32_t sequence) const {
    memory.store_key.assign(memory.group_key);
    append_time(memory.store_key, time);
    for (int shift = 24; shift >= 0; shift -= 8) {
      memory.store_key.push_back(static_cast<char>((sequence >> shift) & 0xff));
    }
  }

  // The raw records of memory.group_key with first <= time <= last, in (time, arrival) order.
  void scan_raw(state::Store& store, AggregateTaskState& memory, std::int64_t first, std::int64_t last,
                std::vector<RawRecord>& records) const {
    records.clear();
    const std::size_t prefix = memory.group_key.size();
    memory.store_key.assign(memory.group_key);
    append_time(memory.store_key, first);
    std::string to;
    if (last == INT64_MAX) {
      to = group_key_end(memory.group_key);
    } else {
      to.assign(memory.group_key);
      append_time(to, last + 1);
    }
    store.scan(0, memory.store_key, to, [&](std::string_view key, std::string_view value) {
      if (key.size() != prefix + time_bytes + 4) corrupt_state(name(), "sliding raw key");
      RawRecord raw{read_time(key.substr(prefix)), 0, {}};
      for (std::size_t i = prefix + time_bytes; i < key.size(); ++i) {
        raw.sequence = (raw.sequence << 8) | static_cast<std::uint8_t>(key[i]);
      }
      raw.arguments.resize(aggregations_.size());
      for (core::Value& argument : raw.arguments) {
        if (!read_value(value, argument)) corrupt_state(name(), "sliding raw record");
      }
      records.push_back(std::move(raw));
      return true;
    });
  }

  std::int64_t size_;
  std::int64_t grace_;
};

}  // namespace

namespace {

// Slices give the same results as windows, byte for byte, only where merging is exact and cannot fail: a sum
// or average of doubles would add in another order, and min/max mixing numbers with strings or an integer sum
// overflowing would show only when a window's slices are merged, not with the record that caused it.
bool slices_fit(const topology::AggregateSpec& spec) {
  if (spec.window->type != topology::WindowType::hopping || spec.emit != topology::EmitMode::final) return false;
  if (spec.window->advance_ms <= 0 || spec.window->advance_ms >= spec.window->size_ms) return false;
  return std::all_of(spec.aggregations.begin(), spec.aggregations.end(), [](const topology::AggregationSpec& a) {
    return a.function == topology::AggregateFunction::count || a.function == topology::AggregateFunction::first ||
           a.function == topology::AggregateFunction::last;
  });
}

}  // namespace

std::unique_ptr<Operator> make_windowed_aggregate(const std::string& name, const topology::AggregateSpec& spec,
                                                  std::size_t update_buffer_limit, WindowState state) {
  const bool sliced = state == WindowState::sliced || (state == WindowState::automatic && slices_fit(spec));
  switch (spec.window->type) {
    case topology::WindowType::tumbling:
    case topology::WindowType::hopping:
      if (sliced) return std::make_unique<SlicedHoppingAggregate>(name, spec, update_buffer_limit);
      return std::make_unique<TimeWindowAggregate>(name, spec, update_buffer_limit);
    case topology::WindowType::session: return std::make_unique<SessionAggregate>(name, spec, update_buffer_limit);
    case topology::WindowType::sliding: return std::make_unique<SlidingAggregate>(name, spec, update_buffer_limit);
  }
  throw std::invalid_argument("unknown window type");
}

}  // namespace sluice::ops::detail
