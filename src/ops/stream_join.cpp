// Windowed stream-stream join (inner, left, outer). Both sides' records are kept in the operator's store until
// no record that is not late can match them any more; semantics in topology.hpp (StreamJoinSpec) and
// README.md, "Stream-stream joins".
//
// Store families (keys use the encodings of window.hpp):
//   0: the `from` side's records    [group key][time][sequence u32] -> [matched byte][value, binary]
//   1: the `stream` side's records  same layout
//   2: expiry index                 [close time][side byte][group key][time][sequence] -> ""
// A lookup of the other side is one range scan of its family over [group key][t - x, t + y]. A record closes
// when stream time passes its close time (t + after + grace for the from side, t + before + grace for the other):
// then no record that is not late can match it, so an unmatched left/outer result is final and the record is
// dropped; the index makes that a scan from the start of family 2 (collect_index), never a scan of every key.
// The matched byte is kept for both sides (a record is rewritten once, at its first match), so that a record
// closing without a match is known on every side: its unmatched result (left/outer) and the expired count.
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sluice/ops/stateful.hpp"
#include "window.hpp"

namespace sluice::ops {
namespace {

using detail::append_time;
using detail::append_value;
using detail::read_value;
using detail::closed_up_to;
using detail::collect_index;
using detail::IndexProgress;
using detail::put_index;
using detail::corrupt_state;
using detail::read_time;
using detail::saturating_add;
using detail::saturating_sub;
using detail::time_bytes;

constexpr std::size_t kSequenceBytes = 4;
constexpr std::uint8_t kIndexFamily = 2;

// Per (task, operator) scratch and what the task knows of its expiry index (see detail::IndexProgress). Recreated whenever the
// task's state is rebuilt, like the aggregates' memory.
class StreamJoinTaskState final : public OperatorTaskState {
 public:
  core::JsonParser key_parser;
  std::string group_key;
  std::string store_key;
  std::string index_key;
  std::string encoded;
  std::vector<std::string> collected;
  IndexProgress index;
};

// A stored record of one side, decoded.
struct Kept {
  std::string key;  // its store key
  std::int64_t time = 0;
  bool matched = false;
  core::Value value;
};

class StreamJoinOperator final : public Operator {
 public:
  StreamJoinOperator(std::string name, const topology::StreamJoinSpec& spec)
      : Operator(std::move(name)), spec_(spec) {
    if (spec_.before_ms < 0 || spec_.after_ms < 0 || spec_.grace_ms < 0) {
      throw std::invalid_argument("stream join durations must not be negative");
    }
  }

  std::uint8_t store_families() const noexcept override { return 3; }
  std::unique_ptr<OperatorTaskState> create_task_state() const override {
    return std::make_unique<StreamJoinTaskState>();
  }

  core::Result<Disposition> process(core::Record&& record, ProcessContext& context) const override {
    auto [store, memory, stream_time] = task(context);
    const std::size_t side = context.input;
    if (side > 1) throw std::logic_error("stream join '" + name() + "' fed on input " + std::to_string(side));
    if (record.key.is_null()) {
      return core::make_error(core::RecordErrorKind::missing_field,
                              "stream join '" + name() + "' matches records by key; the key of this " +
                                  side_name(side) + " record is null");
    }
    const std::int64_t time = record.timestamp_ms;
    if (saturating_add(time, spec_.grace_ms) < stream_time) {
      return core::make_error(core::RecordErrorKind::late,
                              "late record: event time " + std::to_string(time) + " is more than grace " +
                                  std::to_string(spec_.grace_ms) + " ms behind stream time " +
                                  std::to_string(stream_time) + "; records of the other side it could join may "
                                  "already have been emitted without a match and dropped");
    }
    memory.group_key.clear();
    detail::append_group_key(memory.group_key, record.key);

    // The other side's records of this key within the window: this side at t joins the other at
    // [t - before, t + after]; the other side at t joins this side at [t - after, t + before].
    const std::size_t other = 1 - side;
    const std::int64_t first = saturating_sub(time, side == 0 ? spec_.before_ms : spec_.after_ms);
    const std::int64_t last = saturating_add(time, side == 0 ? spec_.after_ms : spec_.before_ms);
    std::vector<Kept> matches;
    scan_side(store, memory, static_cast<std::uint8_t>(other), first, last, matches);

    // Build every output first: an error leaves nothing emitted and nothing stored.
    std::vector<core::Record> outputs;
    outputs.reserve(matches.size());
    for (const Kept& match : matches) {
      auto output = build(record.key, side == 0 ? &record.value : &match.value, side == 0 ? &match.value : &record.value,
                          std::max(time, match.time), context);
      if (!output.ok()) return std::move(output).error();
      output.value().headers = record.headers;
      outputs.push_back(std::move(output).value());
    }
    if (matches.empty() && emits_unmatched(side)) {
      // Its unmatched result is built when its window closes, from what is stored; one that cannot be built
      // is refused now, where the record can still be dead-lettered whole.
      const core::Value* self = &record.value;
      auto check = build(record.key, side == 0 ? self : nullptr, side == 0 ? nullptr : self, time, context);
      if (!check.ok()) return std::move(check).error();
    }

    // Keep the record, with its close time in the index.
    const std::uint32_t sequence = next_sequence(store, memory, static_cast<std::uint8_t>(side), time);
    record_key(memory.store_key, memory.group_key, time, sequence);
    memory.encoded.assign(1, static_cast<char>(!matches.empty() ? 1 : 0));
    append_value(record.value, memory.encoded);
    store.put(static_cast<std::uint8_t>(side), memory.store_key, memory.encoded);
    memory.index_key.clear();
    append_time(memory.index_key, close_time(side, time));
    memory.index_key.push_back(static_cast<char>(side));
    memory.index_key += memory.store_key;
    put_index(store, kIndexFamily, memory.index_key, &memory.index);
    // The matched records of the other side will not close unmatched.
    for (const Kept& match : matches) {
      if (match.matched) continue;
      memory.encoded.assign(1, static_cast<char>(1));
      append_value(match.value, memory.encoded);
      store.put(static_cast<std::uint8_t>(other), match.key, memory.encoded);
    }
    for (core::Record& output : outputs) context.out.emit(0, std::move(output));
    if (!outputs.empty() && context.stream_join_observer != nullptr) {
      context.stream_join_observer->paired(outputs.size());
    }
    return outputs.empty() ? Disposition::kept : Disposition::forwarded;
  }

  void on_time(ProcessContext& context) const override {
    auto [store, memory, stream_time] = task(context);
    // Closed: close time < stream time.
    const auto last_closed = closed_up_to(stream_time, 1);
    if (!last_closed) return;
    collect_index(store, kIndexFamily, *last_closed, memory.collected, &memory.index);
    std::string value;
    for (const std::string& index_key : memory.collected) {
      if (index_key.size() < time_bytes + 1 + 1 + time_bytes + kSequenceBytes) corrupt_state(name(), "join index key");
      const auto side = static_cast<std::uint8_t>(index_key[time_bytes]);
      if (side > 1) corrupt_state(name(), "join index side");
      const std::string_view key = std::string_view(index_key).substr(time_bytes + 1);
      if (!store.get(side, key, value)) corrupt_state(name(), "indexed join record missing");
      if (value.empty()) corrupt_state(name(), "join record");
      if (value.front() == 0) {  // never matched
        bool emitted = false;
        if (emits_unmatched(side)) {
          std::string_view bytes = std::string_view(value).substr(1);
          core::Value self;
          if (!read_value(bytes, self)) corrupt_state(name(), "join record value");
          emitted = emit_unmatched(side, key, std::move(self), context, memory);
        }
        if (context.stream_join_observer != nullptr) context.stream_join_observer->expired(side, emitted);
      }
      store.remove(side, key);
      store.remove(kIndexFamily, index_key);
    }
  }

 private:
  struct TaskView {
    state::Store& store;
    StreamJoinTaskState& memory;
    std::int64_t stream_time;
  };
  TaskView task(ProcessContext& context) const {
    auto* memory = dynamic_cast<StreamJoinTaskState*>(context.task_state);
    if (context.store == nullptr || memory == nullptr || context.time == nullptr) {
      throw std::logic_error("stream join '" + name() + "' called without its store, memory or time");
    }
    return TaskView{*context.store, *memory, context.time->stream_time_ms};
  }

  bool emits_unmatched(std::size_t side) const noexcept {
    return spec_.type == topology::JoinType::outer || (spec_.type == topology::JoinType::left && side == 0);
  }
  std::int64_t close_time(std::size_t side, std::int64_t time) const noexcept {
    return saturating_add(saturating_add(time, side == 0 ? spec_.after_ms : spec_.before_ms), spec_.grace_ms);
  }
  std::string side_name(std::size_t side) const { return side == 0 ? spec_.this_name : spec_.other_name; }

  static void record_key(std::string& out, std::string_view group_key, std::int64_t time, std::uint32_t sequence) {
    out.assign(group_key);
    append_time(out, time);
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((sequence >> shift) & 0xff));
  }

  // The output {<this>: value or null, <other>: value or null}, through select when there is one.
  core::Result<core::Record> build(const core::Value& key, const core::Value* this_value,
                                   const core::Value* other_value, std::int64_t time, ProcessContext& context) const {
    core::Object sides;
    sides.push_back(core::Member{spec_.this_name, this_value != nullptr ? *this_value : core::Value()});
    sides.push_back(core::Member{spec_.other_name, other_value != nullptr ? *other_value : core::Value()});
    core::Record output{key, core::Value::object(std::move(sides)), time, {}};
    if (!spec_.fields.empty()) {
      auto value = evaluate_fields(spec_.fields, output, context.eval);
      if (!value.ok()) return std::move(value).error();
      output.value = std::move(value).value();
    }
    return output;
  }

  // True if the unmatched result was emitted, false if it was dead-lettered.
  bool emit_unmatched(std::size_t side, std::string_view key, core::Value self, ProcessContext& context,
                      StreamJoinTaskState& memory) const {
    const std::size_t terminator = key.find('\0');
    if (terminator == std::string_view::npos || key.size() != terminator + 1 + time_bytes + kSequenceBytes) {
      corrupt_state(name(), "join record key");
    }
    auto parsed = memory.key_parser.parse(key.substr(0, terminator));
    if (!parsed.ok()) corrupt_state(name(), "join group key is not JSON: " + parsed.error().message);
    const std::int64_t time = read_time(key.substr(terminator + 1));
    auto output = build(parsed.value(), side == 0 ? &self : nullptr, side == 0 ? nullptr : &self, time, context);
    if (!output.ok()) {
      // Checked when the record arrived; only a select that reads the clock can fail now.
      core::Object sides;
      sides.push_back(core::Member{side_name(side), std::move(self)});
      context.out.dead_letter(output.error(), core::Record{std::move(parsed).value(),
                                                          core::Value::object(std::move(sides)), time, {}});
      return false;
    }
    context.out.emit(0, std::move(output).value());
    return true;
  }

  // The records of `family` with the group key in memory.group_key and first <= time <= last, in order.
  void scan_side(state::Store& store, StreamJoinTaskState& memory, std::uint8_t family, std::int64_t first,
                 std::int64_t last, std::vector<Kept>& out) const {
    const std::size_t prefix = memory.group_key.size();
    std::string from(memory.group_key);
    append_time(from, first);
    std::string to;
    if (last == INT64_MAX) {
      to = detail::group_key_end(memory.group_key);
    } else {
      to.assign(memory.group_key);
      append_time(to, last + 1);
    }
    store.scan(family, from, to, [&](std::string_view key, std::string_view value) {
      if (key.size() != prefix + time_bytes + kSequenceBytes || value.empty()) corrupt_state(name(), "join record");
      Kept kept{std::string(key), read_time(key.substr(prefix)), value.front() != 0, {}};
      std::string_view bytes = value.substr(1);
      if (!read_value(bytes, kept.value)) corrupt_state(name(), "join record value");
      out.push_back(std::move(kept));
      return true;
    });
  }

  // One more than the largest sequence of this side's records at (group key, time), so that records with equal
  // keys and times are all kept, in arrival order.
  std::uint32_t next_sequence(state::Store& store, StreamJoinTaskState& memory, std::uint8_t family,
                              std::int64_t time) const {
    std::string from(memory.group_key);
    append_time(from, time);
    std::string to;
    if (time == INT64_MAX) {
      to = detail::group_key_end(memory.group_key);
    } else {
      to.assign(memory.group_key);
      append_time(to, time + 1);
    }
    std::uint32_t next = 0;
    store.scan(family, from, to, [&](std::string_view key, std::string_view) {
      std::uint32_t sequence = 0;
      for (std::size_t i = key.size() - kSequenceBytes; i < key.size(); ++i) {
        sequence = (sequence << 8) | static_cast<std::uint8_t>(key[i]);
      }
      next = sequence + 1;
      return true;
    });
    return next;
  }

  topology::StreamJoinSpec spec_;
};

}  // namespace

std::unique_ptr<Operator> make_stream_join_operator(const std::string& name, const topology::StreamJoinSpec& spec) {
  return std::make_unique<StreamJoinOperator>(name, spec);
}

}  // namespace sluice::ops
