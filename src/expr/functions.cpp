// Built-in functions. if, coalesce and concat see their arguments one at a time (if and coalesce lazily);
// all other functions evaluate every argument and return null when any argument is null.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

#include "evaluator.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/json.hpp"
#include "sluice/core/printable.hpp"

namespace sluice::expr {
namespace {

using core::Value;

constexpr std::size_t max_strict_arguments = 3;

std::string_view function_name(Function function) noexcept {
  for (const FunctionInfo& info : function_table()) {
    if (info.function == function) return info.name;
  }
  return "?";
}

core::RecordError argument_error(const Node& node, std::size_t argument, std::string_view expected,
                                 const Value& got) {
  return type_error("function '" + std::string(function_name(node.function)) + "' expects " + std::string(expected) +
                    " as argument " + std::to_string(argument + 1) + ", got " +
                    std::string(core::to_string(got.type())));
}

core::RecordError invalid_value(const Node& node, std::string message) {
  return core::make_error(core::RecordErrorKind::invalid_value,
                          "function '" + std::string(function_name(node.function)) + "': " + std::move(message));
}

// A value for an error message: JSON text, shortened so a huge field does not end up in every dead letter.
std::string show(const Value& value) {
  constexpr std::size_t limit = 64;
  // JSON escapes C0 controls only; the dead-letter reason is read on terminals too.
  std::string text = core::escape_json_invisibles(core::to_json(value));
  if (text.size() <= limit) return text;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text + "...";
}

core::RecordError out_of_integer_range(const Node& node, double value) {
  // JSON has no text for infinities and NaN, so they are named here.
  std::string shown = std::isnan(value) ? "nan" : std::isinf(value) ? (value < 0 ? "-inf" : "inf")
                                                                    : show(Value::floating(value));
  return core::make_error(core::RecordErrorKind::arithmetic, "function '" + std::string(function_name(node.function)) +
                                                                 "': " + shown + " is out of the integer range");
}

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim_spaces(std::string_view text) noexcept {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

bool is_continuation_byte(char c) noexcept { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::int64_t count_code_points(std::string_view text) noexcept {
  std::int64_t count = 0;
  for (char c : text) count += is_continuation_byte(c) ? 0 : 1;
  return count;
}

// Byte offset of code point number `index` (clamped to the end of the text).
std::size_t code_point_offset(std::string_view text, std::int64_t index) noexcept {
  std::size_t offset = 0;
  while (offset < text.size() && index > 0) {
    ++offset;
    while (offset < text.size() && is_continuation_byte(text[offset])) ++offset;
    --index;
  }
  return offset;
}

// Strict number syntax of to_number and to_int: surrounding whitespace and a leading '+' are allowed; an integer
// that does not fit int64 reads as a double; inf and nan are rejected.
std::optional<Value> parse_number(std::string_view text) noexcept {
  text = trim_spaces(text);
  if (text.size() >= 2 && text[0] == '+' && text[1] != '-' && text[1] != '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  std::int64_t integer = 0;
  auto [integer_end, integer_error] = std::from_chars(first, last, integer);
  if (integer_error == std::errc() && integer_end == last) return Value::integer(integer);
  double floating = 0.0;
  auto [floating_end, floating_error] = std::from_chars(first, last, floating);
  if (floating_error != std::errc() || floating_end != last || !std::isfinite(floating)) return std::nullopt;
  return Value::floating(floating);
}

// Reads an integer argument (substr positions, round digits); a double is accepted when it is whole.
std::optional<std::int64_t> integer_argument(const Value& value) noexcept {
  if (value.is_integer()) return value.as_integer();
  if (!value.is_floating()) return std::nullopt;
  double number = value.as_double();
  std::optional<std::int64_t> whole = integral_double_to_integer(number);
  if (!whole || static_cast<double>(*whole) != number) return std::nullopt;
  return whole;
}

std::int64_t power_of_ten(std::int64_t exponent) noexcept {
  std::int64_t result = 1;
  for (std::int64_t i = 0; i < exponent; ++i) result *= 10;
  return result;
}

}  // namespace

Evaluation Evaluator::call(const Node& node) {
  switch (node.function) {
    case Function::conditional: return call_conditional(node);
    case Function::coalesce: return call_coalesce(node);
    case Function::concat: return call_concat(node);
    case Function::now: slot(node) = Value::integer(context_.clock().wall_ms()); return &slot(node);
    default: break;
  }
  // The parser checked the arity, so at most max_strict_arguments arguments reach here.
  const Value* arguments[max_strict_arguments] = {};
  bool any_null = false;
  std::size_t count = std::min(node.children.size(), max_strict_arguments);
  for (std::size_t i = 0; i < count; ++i) {
    Evaluation argument = evaluate(*node.children[i]);
    if (!argument.ok()) return argument;
    arguments[i] = argument.value();
    any_null = any_null || arguments[i]->is_null();
  }
  if (any_null) return &constants().null;
  return call_strict(node, arguments);
}

Evaluation Evaluator::call_conditional(const Node& node) {
  Evaluation condition = evaluate(*node.children[0]);
  if (!condition.ok()) return condition;
  const Value& value = *condition.value();
  if (value.is_null()) return evaluate(*node.children[2]);
  if (!value.is_bool()) return argument_error(node, 0, "a boolean", value);
  return evaluate(*node.children[value.as_bool() ? 1 : 2]);
}

Evaluation Evaluator::call_coalesce(const Node& node) {
  for (const auto& child : node.children) {
    Evaluation argument = evaluate(*child);
    if (!argument.ok() || !argument.value()->is_null()) return argument;
  }
  return &constants().null;
}

Evaluation Evaluator::call_concat(const Node& node) {
  std::string& text = string_slot(node);
  for (const auto& child : node.children) {
    Evaluation argument = evaluate(*child);
    if (!argument.ok()) return argument;
    const Value& value = *argument.value();
    if (value.is_string()) {
      text.append(value.as_string());
    } else if (!value.is_null()) {
      core::append_json(value, text);
    }
  }
  return &slot(node);
}

Evaluation Evaluator::call_strict(const Node& node, const Value* const* arguments) {
  switch (node.function) {
    case Function::abs:
    case Function::round:
    case Function::floor:
    case Function::ceil:
    case Function::to_number:
    case Function::to_int:
    case Function::parse_time:
    case Function::format_time: return call_numeric_function(node, arguments);
    default: return call_string_function(node, arguments);
  }
}

Evaluation Evaluator::call_string_function(const Node& node, const Value* const* arguments) {
  const Value& first = *arguments[0];

  if (node.function == Function::length) {
    if (first.is_string()) slot(node) = Value::integer(count_code_points(first.as_string()));
    else if (first.is_array()) slot(node) = Value::integer(static_cast<std::int64_t>(first.as_array().size()));
    else if (first.is_object()) slot(node) = Value::integer(static_cast<std::int64_t>(first.as_object().size()));
    else return argument_error(node, 0, "a string, array or object", first);
    return &slot(node);
  }
  if (node.function == Function::to_string) {
    if (first.is_string()) return &first;
    std::string& text = string_slot(node);
    core::append_json(first, text);
    return &slot(node);
  }

  if (!first.is_string()) return argument_error(node, 0, "a string", first);
  const std::string& text = first.as_string();
  std::size_t count = node.children.size();
  for (std::size_t i = 1; i < count; ++i) {
    bool is_position = node.function == Function::substr;
    if (is_position && !integer_argument(*arguments[i])) return argument_error(node, i, "an integer", *arguments[i]);
    if (!is_position && !arguments[i]->is_string()) return argument_error(node, i, "a string", *arguments[i]);
  }

  switch (node.function) {
    case Function::lower:
    case Function::upper: {
      bool to_lower = node.function == Function::lower;
      std::string& out = string_slot(node);
      out.reserve(text.size());
      // ASCII only: full Unicode case mapping needs tables this module does not carry.
      for (char c : text) {
        if (to_lower && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (!to_lower && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        out.push_back(c);
      }
      return &slot(node);
    }
    case Function::trim: {
      std::string_view trimmed = trim_spaces(text);
      if (trimmed.size() == text.size()) return &first;
      string_slot(node).assign(trimmed);
      return &slot(node);
    }
    case Function::substr: {
      std::int64_t start = std::max<std::int64_t>(0, *integer_argument(*arguments[1]));
      std::size_t begin = code_point_offset(text, start);
      std::size_t end = text.size();
      if (count == 3) {
        std::int64_t length = std::max<std::int64_t>(0, *integer_argument(*arguments[2]));
        end = begin + code_point_offset(std::string_view(text).substr(begin), length);
      }
      string_slot(node).assign(text, begin, end - begin);
      return &slot(node);
    }
    case Function::contains:
      return boolean_constant(text.find(arguments[1]->as_string()) != std::string::npos);
    case Function::starts_with: return boolean_constant(text.starts_with(arguments[1]->as_string()));
    case Function::ends_with: return boolean_constant(text.ends_with(arguments[1]->as_string()));
    case Function::replace: {
      const std::string& from = arguments[1]->as_string();
      const std::string& to = arguments[2]->as_string();
      // An empty pattern matches nowhere in particular; returning the text unchanged beats dead-lettering.
      if (from.empty()) return &first;
      std::string& out = string_slot(node);
      std::size_t done = 0;
      for (std::size_t found = text.find(from); found != std::string::npos; found = text.find(from, done)) {
        out.append(text, done, found - done).append(to);
        done = found + from.size();
      }
      out.append(text, done);
      return &slot(node);
    }
    case Function::split: {
      const std::string& separator = arguments[1]->as_string();
      if (separator.empty()) return invalid_value(node, "the separator must not be empty");
      Value& target = slot(node);
      if (!target.is_array()) target = Value::array();
      core::Array& parts = target.as_array();
      parts.clear();
      std::size_t done = 0;
      for (std::size_t found = text.find(separator); found != std::string::npos;
           found = text.find(separator, done)) {
        parts.push_back(Value::string(text.substr(done, found - done)));
        done = found + separator.size();
      }
      parts.push_back(Value::string(text.substr(done)));
      return &target;
    }
    default: return &constants().null;
  }
}

Evaluation Evaluator::call_numeric_function(const Node& node, const Value* const* arguments) {
  const Value& first = *arguments[0];
  Value& target = slot(node);

  switch (node.function) {
    case Function::to_number: {
      if (first.is_number()) return &first;
      if (!first.is_string()) return argument_error(node, 0, "a string or a number", first);
      std::optional<Value> number = parse_number(first.as_string());
      if (!number) return invalid_value(node, show(first) + " is not a number");
      target = std::move(*number);
      return &target;
    }
    case Function::to_int: {
      if (first.is_integer()) return &first;
      double number = 0.0;
      if (first.is_floating()) {
        number = first.as_double();
      } else if (first.is_string()) {
        std::optional<Value> parsed = parse_number(first.as_string());
        if (!parsed) return invalid_value(node, show(first) + " is not a number");
        if (parsed->is_integer()) {
          target = std::move(*parsed);
          return &target;
        }
        number = parsed->as_double();
      } else {
        return argument_error(node, 0, "a string or a number", first);
      }
      std::optional<std::int64_t> whole = integral_double_to_integer(std::trunc(number));
      if (!whole) return out_of_integer_range(node, number);
      target = Value::integer(*whole);
      return &target;
    }
    case Function::parse_time: {
      if (!first.is_string()) return argument_error(node, 0, "a string", first);
      std::optional<std::int64_t> epoch_ms = core::parse_iso8601_ms(first.as_string());
      if (!epoch_ms) return invalid_value(node, show(first) + " is not an ISO 8601 time");
      target = Value::integer(*epoch_ms);
      return &target;
    }
    case Function::format_time: {
      if (!first.is_number()) return argument_error(node, 0, "a number of epoch milliseconds", first);
      std::int64_t epoch_ms = 0;
      if (first.is_integer()) {
        epoch_ms = first.as_integer();
      } else {
        std::optional<std::int64_t> whole = integral_double_to_integer(std::trunc(first.as_double()));
        if (!whole) return out_of_integer_range(node, first.as_double());
        epoch_ms = *whole;
      }
      // ISO 8601 writes four-digit years; outside them the text would not parse back.
      constexpr std::int64_t first_ms = -62'167'219'200'000;  // 0000-01-01T00:00:00.000Z
      constexpr std::int64_t last_ms = 253'402'300'799'999;   // 9999-12-31T23:59:59.999Z
      if (epoch_ms < first_ms || epoch_ms > last_ms) {
        return invalid_value(node, std::to_string(epoch_ms) + " is outside the years 0000 to 9999");
      }
      string_slot(node).assign(core::format_iso8601_ms(epoch_ms));
      return &target;
    }
    default: break;
  }

  if (!first.is_number()) return argument_error(node, 0, "a number", first);
  if (node.function == Function::abs) {
    if (first.is_integer()) {
      std::int64_t value = first.as_integer();
      if (value == std::numeric_limits<std::int64_t>::min()) {
        return core::make_error(core::RecordErrorKind::arithmetic, "integer overflow in 'abs'");
      }
      target = Value::integer(value < 0 ? -value : value);
    } else {
      target = Value::floating(std::fabs(first.as_double()));
    }
    return &target;
  }

  bool has_digits = node.function == Function::round && node.children.size() == 2;
  if (has_digits) {
    std::optional<std::int64_t> digits = integer_argument(*arguments[1]);
    if (!digits) return argument_error(node, 1, "an integer", *arguments[1]);
    if (first.is_integer()) {
      if (*digits >= 0) return &first;
      std::int64_t value = first.as_integer();
      // 10^19 does not fit int64, and every int64 is closer to 0 than to any multiple of 10^19.
      if (*digits < -18) {
        target = Value::integer(0);
        return &target;
      }
      std::int64_t factor = power_of_ten(-*digits);
      std::int64_t remainder = value % factor;
      std::int64_t rounded = value - remainder;
      if ((remainder < 0 ? -remainder : remainder) * 2 >= factor) {
        if (__builtin_add_overflow(rounded, value < 0 ? -factor : factor, &rounded)) {
          return core::make_error(core::RecordErrorKind::arithmetic, "integer overflow in 'round'");
        }
      }
      target = Value::integer(rounded);
      return &target;
    }
    double value = first.as_double();
    // Negating the digits in double arithmetic: -INT64_MIN does not exist as an integer.
    double scale = std::pow(10.0, std::fabs(static_cast<double>(*digits)));
    double rounded = 0.0;
    if (*digits >= 0) {
      // Too many digits to matter: scaling would overflow, and the double is already that precise.
      if (!std::isfinite(value * scale)) return &first;
      rounded = std::round(value * scale) / scale;
    } else {
      rounded = std::isfinite(scale) ? std::round(value / scale) * scale : 0.0;
    }
    target = Value::floating(rounded);
    return &target;
  }

  if (first.is_integer()) return &first;
  double value = first.as_double();
  double whole_value = node.function == Function::floor  ? std::floor(value)
                       : node.function == Function::ceil ? std::ceil(value)
                                                         : std::round(value);
  std::optional<std::int64_t> whole = integral_double_to_integer(whole_value);
  if (!whole) return out_of_integer_range(node, value);
  target = Value::integer(*whole);
  return &target;
}

}  // namespace sluice::expr
