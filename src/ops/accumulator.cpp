#include "accumulator.hpp"

#include <bit>
#include <cstring>
#include <utility>

namespace sluice::ops::detail {

namespace {

using core::RecordErrorKind;
using core::Status;
using core::Value;
using topology::AggregateFunction;


// How an aggregation is named in error messages: as written when known, else rebuilt from the spec.
std::string describe(const topology::AggregationSpec& spec) {
  if (!spec.text.empty()) return spec.text;
  std::string text(topology::to_string(spec.function));
  text += '(';
  if (spec.argument) text += spec.argument->text();
  text += ')';
  return text;
}

std::string type_name(const Value& value) { return std::string(core::to_string(value.type())); }

// min/max order numbers with numbers and strings with strings; anything else cannot be compared.
bool comparable(const Value& a, const Value& b) noexcept {
  return (a.is_number() && b.is_number()) || (a.is_string() && b.is_string());
}

// Requires comparable(a, b). Integers compare exactly with integers; a double involved compares as doubles.
bool less_than(const Value& a, const Value& b) {
  if (a.is_integer() && b.is_integer()) return a.as_integer() < b.as_integer();
  if (a.is_number()) return a.as_double() < b.as_double();
  return a.as_string() < b.as_string();
}

// sum of two non-null numbers: integers stay integers, a double makes the result a double.
bool sum_overflows(const Value& a, const Value& b) noexcept {
  std::int64_t ignored = 0;
  return a.is_integer() && b.is_integer() && __builtin_add_overflow(a.as_integer(), b.as_integer(), &ignored);
}
Value sum_of(const Value& a, const Value& b) {
  if (a.is_integer() && b.is_integer()) return Value::integer(a.as_integer() + b.as_integer());
  return Value::floating(a.as_double() + b.as_double());
}

// Checks that folding `incoming` (non-null) into the current min/max/sum `current` cannot fail.
Status check_combine(const topology::AggregationSpec& spec, const Value& current, const Value& incoming) {
  if (current.is_null() || incoming.is_null()) return Status::success();
  switch (spec.function) {
    case AggregateFunction::sum:
      if (sum_overflows(current, incoming)) {
        return core::make_error(RecordErrorKind::arithmetic, "integer overflow in " + describe(spec));
      }
      break;
    case AggregateFunction::min:
    case AggregateFunction::max:
      if (!comparable(current, incoming)) {
        return core::make_error(RecordErrorKind::type_error, describe(spec) + " cannot compare " + type_name(incoming) +
                                                                 " with " + type_name(current));
      }
      break;
    default: break;
  }
  return Status::success();
}

// Folds the non-null `incoming` into a sum/min/max slot; check_combine has accepted it.
void combine(AggregateFunction function, Value& current, const Value& incoming) {
  if (incoming.is_null()) return;
  if (current.is_null()) {
    current = incoming;
    return;
  }
  switch (function) {
    case AggregateFunction::sum: current = sum_of(current, incoming); break;
    // Strict comparisons: on ties the value already held (the earlier arrival) stays.
    case AggregateFunction::min:
      if (less_than(incoming, current)) current = incoming;
      break;
    case AggregateFunction::max:
      if (less_than(current, incoming)) current = incoming;
      break;
    default: break;
  }
}

// first: the earliest event time wins, ties keep the earlier arrival; last: the latest wins, ties take the later.
bool replaces(AggregateFunction function, const AggregationSlot& current, std::int64_t incoming_time) noexcept {
  if (current.value.is_null()) return true;
  return function == AggregateFunction::first ? incoming_time < current.time : incoming_time >= current.time;
}

// ---- binary encoding ----

enum ValueTag : std::uint8_t {
  tag_null,
  tag_false,
  tag_true,
  tag_integer,
  tag_floating,
  tag_string,
  tag_array,
  tag_object,
};

void append_unsigned(std::uint64_t number, std::string& out) {
  while (number >= 0x80) {
    out.push_back(static_cast<char>((number & 0x7f) | 0x80));
    number >>= 7;
  }
  out.push_back(static_cast<char>(number));
}

bool read_unsigned(std::string_view& bytes, std::uint64_t& number) {
  number = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (bytes.empty()) return false;
    auto byte = static_cast<std::uint8_t>(bytes.front());
    bytes.remove_prefix(1);
    number |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// Doubles as their IEEE bit pattern, little-endian regardless of the host, so changelogs are portable.
void append_double(double number, std::string& out) {
  auto bits = std::bit_cast<std::uint64_t>(number);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

bool read_double(std::string_view& bytes, double& number) {
  if (bytes.size() < 8) return false;
  std::uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(bytes[i])) << (8 * i);
  bytes.remove_prefix(8);
  number = std::bit_cast<double>(bits);
  return true;
}

bool read_length(std::string_view& bytes, std::size_t& length) {
  std::uint64_t raw = 0;
  if (!read_unsigned(bytes, raw) || raw > bytes.size()) return false;  // every element takes at least one byte
  length = static_cast<std::size_t>(raw);
  return true;
}

bool read_string(std::string_view& bytes, std::string& text) {
  std::size_t length = 0;
  if (!read_length(bytes, length)) return false;
  text.assign(bytes.substr(0, length));
  bytes.remove_prefix(length);
  return true;
}

}  // namespace

void append_varint(std::int64_t number, std::string& out) {
  auto bits = static_cast<std::uint64_t>(number);
  append_unsigned((bits << 1) ^ (number < 0 ? ~std::uint64_t{0} : 0), out);
}

bool read_varint(std::string_view& bytes, std::int64_t& number) {
  std::uint64_t raw = 0;
  if (!read_unsigned(bytes, raw)) return false;
  number = static_cast<std::int64_t>((raw >> 1) ^ (~(raw & 1) + 1));
  return true;
}

void append_value(const Value& value, std::string& out) {
  switch (value.type()) {
    case core::ValueType::null: out.push_back(static_cast<char>(tag_null)); break;
    case core::ValueType::boolean: out.push_back(static_cast<char>(value.as_bool() ? tag_true : tag_false)); break;
    case core::ValueType::integer:
      out.push_back(static_cast<char>(tag_integer));
      append_varint(value.as_integer(), out);
      break;
    case core::ValueType::floating:
      out.push_back(static_cast<char>(tag_floating));
      append_double(value.as_double(), out);
      break;
    case core::ValueType::string:
      out.push_back(static_cast<char>(tag_string));
      append_unsigned(value.as_string().size(), out);
      out += value.as_string();
      break;
    case core::ValueType::array:
      out.push_back(static_cast<char>(tag_array));
      append_unsigned(value.as_array().size(), out);
      for (const Value& item : value.as_array()) append_value(item, out);
      break;
    case core::ValueType::object:
      out.push_back(static_cast<char>(tag_object));
      append_unsigned(value.as_object().size(), out);
      for (const core::Member& member : value.as_object()) {
        append_unsigned(member.name.size(), out);
        out += member.name;
        append_value(member.value, out);
      }
      break;
  }
}

bool read_value(std::string_view& bytes, Value& value) {
  if (bytes.empty()) return false;
  auto tag = static_cast<std::uint8_t>(bytes.front());
  bytes.remove_prefix(1);
  switch (tag) {
    case tag_null: value = Value(); return true;
    case tag_false: value = Value::boolean(false); return true;
    case tag_true: value = Value::boolean(true); return true;
    case tag_integer: {
      std::int64_t number = 0;
      if (!read_varint(bytes, number)) return false;
      value = Value::integer(number);
      return true;
    }
    case tag_floating: {
      double number = 0;
      if (!read_double(bytes, number)) return false;
      value = Value::floating(number);
      return true;
    }
    case tag_string: {
      std::string text;
      if (!read_string(bytes, text)) return false;
      value = Value::string(std::move(text));
      return true;
    }
    case tag_array: {
      std::size_t count = 0;
      if (!read_length(bytes, count)) return false;
      core::Array items(count);
      for (Value& item : items) {
        if (!read_value(bytes, item)) return false;
      }
      value = Value::array(std::move(items));
      return true;
    }
    case tag_object: {
      std::size_t count = 0;
      if (!read_length(bytes, count)) return false;
      core::Object members(count);
      for (core::Member& member : members) {
        if (!read_string(bytes, member.name) || !read_value(bytes, member.value)) return false;
      }
      value = Value::object(std::move(members));
      return true;
    }
    default: return false;
  }
}

Aggregations::Aggregations(std::vector<topology::AggregationSpec> specs) : specs_(std::move(specs)) {}

Status Aggregations::evaluate(const core::Record& record, expr::EvalContext& eval,
                              std::vector<Value>& arguments) const {
  arguments.resize(specs_.size());
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    const auto& spec = specs_[i];
    if (!spec.argument) {
      arguments[i] = Value();
      continue;
    }
    auto result = spec.argument->evaluate(record, eval);
    if (!result.ok()) return std::move(result).error();
    Value argument = std::move(result).value();
    if (!argument.is_null()) {
      switch (spec.function) {
        case AggregateFunction::sum:
        case AggregateFunction::avg:
          if (!argument.is_number()) {
            return core::make_error(RecordErrorKind::type_error,
                                    describe(spec) + " needs numbers, got " + type_name(argument));
          }
          break;
        case AggregateFunction::min:
        case AggregateFunction::max:
          if (!argument.is_number() && !argument.is_string()) {
            return core::make_error(RecordErrorKind::type_error,
                                    describe(spec) + " needs numbers or strings, got " + type_name(argument));
          }
          break;
        default: break;
      }
    }
    arguments[i] = std::move(argument);
  }
  return Status::success();
}

Accumulator Aggregations::empty() const {
  Accumulator accumulator;
  accumulator.slots.resize(specs_.size());
  return accumulator;
}

void Aggregations::reset(Accumulator& accumulator) const {
  accumulator.max_time = INT64_MIN;
  accumulator.slots.assign(specs_.size(), AggregationSlot{});
}

Status Aggregations::add(Accumulator& accumulator, const std::vector<Value>& arguments, std::int64_t time) const {
  // Check everything that can fail before changing anything, so a rejected record leaves no partial update.
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    Status status = check_combine(specs_[i], accumulator.slots[i].value, arguments[i]);
    if (!status.ok()) return status;
  }
  if (time > accumulator.max_time) accumulator.max_time = time;
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    const auto& spec = specs_[i];
    AggregationSlot& slot = accumulator.slots[i];
    const Value& argument = arguments[i];
    switch (spec.function) {
      case AggregateFunction::count:
        if (!spec.argument || !argument.is_null()) ++slot.count;
        break;
      case AggregateFunction::sum:
      case AggregateFunction::min:
      case AggregateFunction::max: combine(spec.function, slot.value, argument); break;
      case AggregateFunction::avg:
        if (!argument.is_null()) {
          ++slot.count;
          slot.total += argument.as_double();
        }
        break;
      case AggregateFunction::first:
      case AggregateFunction::last:
        if (!argument.is_null() && replaces(spec.function, slot, time)) {
          slot.value = argument;
          slot.time = time;
        }
        break;
    }
  }
  return Status::success();
}

Status Aggregations::merge(Accumulator& into, const Accumulator& later) const {
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    Status status = check_combine(specs_[i], into.slots[i].value, later.slots[i].value);
    if (!status.ok()) return status;
  }
  if (later.max_time > into.max_time) into.max_time = later.max_time;
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    const auto& spec = specs_[i];
    AggregationSlot& slot = into.slots[i];
    const AggregationSlot& other = later.slots[i];
    switch (spec.function) {
      case AggregateFunction::count: slot.count += other.count; break;
      case AggregateFunction::sum:
      case AggregateFunction::min:
      case AggregateFunction::max: combine(spec.function, slot.value, other.value); break;
      case AggregateFunction::avg:
        slot.count += other.count;
        slot.total += other.total;
        break;
      case AggregateFunction::first:
      case AggregateFunction::last:
        if (!other.value.is_null() && replaces(spec.function, slot, other.time)) {
          slot.value = other.value;
          slot.time = other.time;
        }
        break;
    }
  }
  return Status::success();
}

void Aggregations::append_results(const Accumulator& accumulator, core::Object& out) const {
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    const AggregationSlot& slot = accumulator.slots[i];
    Value result;
    switch (specs_[i].function) {
      case AggregateFunction::count: result = Value::integer(slot.count); break;
      case AggregateFunction::avg:
        if (slot.count > 0) result = Value::floating(slot.total / static_cast<double>(slot.count));
        break;
      default: result = slot.value; break;
    }
    out.push_back(core::Member{specs_[i].name, std::move(result)});
  }
}

// Layout: varint max_time, then per aggregation: count: varint; sum/min/max: value; avg: varint count + double;
// first/last: value (+ varint time when the value is not null).
void Aggregations::encode(const Accumulator& accumulator, std::string& out) const {
  append_varint(accumulator.max_time, out);
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    const AggregationSlot& slot = accumulator.slots[i];
    switch (specs_[i].function) {
      case AggregateFunction::count: append_varint(slot.count, out); break;
      case AggregateFunction::sum:
      case AggregateFunction::min:
      case AggregateFunction::max: append_value(slot.value, out); break;
      case AggregateFunction::avg:
        append_varint(slot.count, out);
        append_double(slot.total, out);
        break;
      case AggregateFunction::first:
      case AggregateFunction::last:
        append_value(slot.value, out);
        if (!slot.value.is_null()) append_varint(slot.time, out);
        break;
    }
  }
}

bool Aggregations::decode(std::string_view bytes, Accumulator& accumulator) const {
  reset(accumulator);
  if (!read_varint(bytes, accumulator.max_time)) return false;
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    AggregationSlot& slot = accumulator.slots[i];
    switch (specs_[i].function) {
      case AggregateFunction::count:
        if (!read_varint(bytes, slot.count)) return false;
        break;
      case AggregateFunction::sum:
      case AggregateFunction::min:
      case AggregateFunction::max:
        if (!read_value(bytes, slot.value)) return false;
        break;
      case AggregateFunction::avg:
        if (!read_varint(bytes, slot.count) || !read_double(bytes, slot.total)) return false;
        break;
      case AggregateFunction::first:
      case AggregateFunction::last:
        if (!read_value(bytes, slot.value)) return false;
        if (!slot.value.is_null() && !read_varint(bytes, slot.time)) return false;
        break;
    }
  }
  return bytes.empty();
}

}  // namespace sluice::ops::detail
