#include "evaluator.hpp"

#include <cmath>
#include <compare>
#include <limits>
#include <utility>

#include "sluice/core/json.hpp"

namespace sluice::expr {
namespace {

using core::Value;

constexpr double two_to_the_63 = 9223372036854775808.0;

// Exact comparison of an int64 with a double: converting the integer to double would round above 2^53.
std::partial_ordering compare_integer_with_double(std::int64_t integer, double floating) noexcept {
  if (std::isnan(floating)) return std::partial_ordering::unordered;
  if (floating >= two_to_the_63) return std::partial_ordering::less;
  if (floating < -two_to_the_63) return std::partial_ordering::greater;
  double whole_part = std::trunc(floating);
  auto whole = static_cast<std::int64_t>(whole_part);
  if (integer != whole) return integer <=> whole;
  return 0.0 <=> (floating - whole_part);
}

std::partial_ordering compare_numbers(const Value& a, const Value& b) noexcept {
  if (a.is_integer() && b.is_integer()) return a.as_integer() <=> b.as_integer();
  if (a.is_integer()) return compare_integer_with_double(a.as_integer(), b.as_double());
  if (b.is_integer()) return 0 <=> compare_integer_with_double(b.as_integer(), a.as_double());
  return a.as_double() <=> b.as_double();
}

core::RecordError arithmetic_error(std::string message) {
  return core::make_error(core::RecordErrorKind::arithmetic, std::move(message));
}

core::RecordError overflow_error(Operator op) {
  return arithmetic_error("integer overflow in '" + std::string(operator_text(op)) + "'");
}

std::string operand_types(const Value& a, const Value& b) {
  return std::string(core::to_string(a.type())) + " and " + std::string(core::to_string(b.type()));
}

}  // namespace

const Constants& constants() noexcept {
  static const Constants instance;
  return instance;
}

std::optional<std::int64_t> integral_double_to_integer(double value) noexcept {
  // Written so that NaN fails both comparisons.
  if (!(value >= -two_to_the_63 && value < two_to_the_63)) return std::nullopt;
  return static_cast<std::int64_t>(value);
}

std::string& Evaluator::string_slot(const Node& node) {
  Value& target = slot(node);
  if (!target.is_string()) target = Value::string({});
  std::string& text = target.as_string();
  text.clear();
  return text;
}

Evaluation Evaluator::evaluate(const Node& node) {
  switch (node.kind) {
    case NodeKind::literal: return &node.literal;
    case NodeKind::field: {
      const Value* found = record_.value.find(node.name);
      return found != nullptr ? found : &constants().null;
    }
    case NodeKind::member: return evaluate_member(node);
    case NodeKind::index: return evaluate_index(node);
    case NodeKind::metadata: return evaluate_metadata(node);
    case NodeKind::header: return evaluate_header(node);
    case NodeKind::array: return evaluate_array(node);
    case NodeKind::negate: return evaluate_negate(node);
    case NodeKind::logical_not: return evaluate_not(node);
    case NodeKind::arithmetic: return evaluate_arithmetic(node);
    case NodeKind::comparison: return evaluate_comparison(node);
    case NodeKind::logical_and: return evaluate_and(node);
    case NodeKind::logical_or: return evaluate_or(node);
    case NodeKind::coalesce: return evaluate_coalesce(node);
    case NodeKind::is_null: {
      Evaluation operand = evaluate(*node.children[0]);
      if (!operand.ok()) return operand;
      return boolean_constant(operand.value()->is_null() != node.negated);
    }
    case NodeKind::membership: return evaluate_membership(node);
    case NodeKind::call: return call(node);
  }
  return &constants().null;
}

Evaluation Evaluator::evaluate_member(const Node& node) {
  Evaluation base = evaluate(*node.children[0]);
  if (!base.ok()) return base;
  const Value* found = base.value()->find(node.name);  // nullptr also when the base is not an object
  return found != nullptr ? found : &constants().null;
}

Evaluation Evaluator::evaluate_index(const Node& node) {
  Evaluation base = evaluate(*node.children[0]);
  if (!base.ok()) return base;
  Evaluation index = evaluate(*node.children[1]);
  if (!index.ok()) return index;
  const Value& container = *base.value();
  const Value& key = *index.value();
  if (key.is_null()) return &constants().null;
  if (key.is_string()) {
    const Value* found = container.find(key.as_string());
    return found != nullptr ? found : &constants().null;
  }
  if (!key.is_number()) {
    return type_error("an index must be a string or an integer, got " + std::string(core::to_string(key.type())));
  }
  std::int64_t position = 0;
  if (key.is_integer()) {
    position = key.as_integer();
  } else {
    // Accepted because '/' always yields a double: items[length(items) / 2] should work when it divides evenly.
    double number = key.as_double();
    std::optional<std::int64_t> whole = integral_double_to_integer(number);
    if (!whole || static_cast<double>(*whole) != number) {
      return type_error("an array index must be a whole number, got " + core::to_json(key));
    }
    position = *whole;
  }
  if (!container.is_array()) return &constants().null;
  const core::Array& items = container.as_array();
  auto size = static_cast<std::int64_t>(items.size());
  if (position < 0) position += size;
  if (position < 0 || position >= size) return &constants().null;
  return &items[static_cast<std::size_t>(position)];
}

Evaluation Evaluator::evaluate_metadata(const Node& node) {
  const core::Origin* origin = context_.origin();
  switch (node.metadata) {
    case Metadata::key: return &record_.key;
    case Metadata::value: return &record_.value;
    case Metadata::timestamp: slot(node) = Value::integer(record_.timestamp_ms); return &slot(node);
    case Metadata::topic: {
      if (origin == nullptr) return &constants().null;
      string_slot(node).assign(origin->topic);
      return &slot(node);
    }
    case Metadata::partition:
      if (origin == nullptr) return &constants().null;
      slot(node) = Value::integer(origin->partition);
      return &slot(node);
    case Metadata::offset:
      if (origin == nullptr) return &constants().null;
      slot(node) = Value::integer(origin->offset);
      return &slot(node);
    case Metadata::headers: {
      Value headers = Value::object();
      // set() replaces, so a repeated header name reads as its last value, like $headers.name.
      for (const core::Header& header : record_.headers) {
        headers.set(header.name, header.value ? Value::string(*header.value) : Value());
      }
      slot(node) = std::move(headers);
      return &slot(node);
    }
  }
  return &constants().null;
}

Evaluation Evaluator::evaluate_header(const Node& node) {
  // Kafka allows repeated header names; the last one wins, as later headers usually override earlier ones.
  for (auto header = record_.headers.rbegin(); header != record_.headers.rend(); ++header) {
    if (header->name == node.name) {
      if (!header->value) return &constants().null;  // a null header value reads as null, not as ""
      string_slot(node).assign(*header->value);
      return &slot(node);
    }
  }
  return &constants().null;
}

Evaluation Evaluator::evaluate_array(const Node& node) {
  Value& target = slot(node);
  if (!target.is_array()) target = Value::array();
  core::Array& items = target.as_array();
  items.clear();  // keeps the capacity from the previous record
  for (const auto& child : node.children) {
    Evaluation element = evaluate(*child);
    if (!element.ok()) return element;
    items.push_back(*element.value());
  }
  return &target;
}

Evaluation Evaluator::evaluate_negate(const Node& node) {
  Evaluation operand = evaluate(*node.children[0]);
  if (!operand.ok()) return operand;
  const Value& value = *operand.value();
  if (value.is_null()) return &constants().null;
  if (value.is_integer()) {
    std::int64_t negated = 0;
    if (__builtin_sub_overflow(std::int64_t{0}, value.as_integer(), &negated)) {
      return arithmetic_error("integer overflow in unary '-'");
    }
    slot(node) = Value::integer(negated);
    return &slot(node);
  }
  if (value.is_floating()) {
    slot(node) = Value::floating(-value.as_double());
    return &slot(node);
  }
  return type_error("cannot apply unary '-' to " + std::string(core::to_string(value.type())));
}

Evaluation Evaluator::evaluate_not(const Node& node) {
  Evaluation operand = evaluate(*node.children[0]);
  if (!operand.ok()) return operand;
  const Value& value = *operand.value();
  if (value.is_null()) return &constants().null;
  if (!value.is_bool()) return type_error("cannot apply 'not' to " + std::string(core::to_string(value.type())));
  return boolean_constant(!value.as_bool());
}

Evaluation Evaluator::evaluate_arithmetic(const Node& node) {
  Evaluation left_result = evaluate(*node.children[0]);
  if (!left_result.ok()) return left_result;
  Evaluation right_result = evaluate(*node.children[1]);
  if (!right_result.ok()) return right_result;
  const Value& left = *left_result.value();
  const Value& right = *right_result.value();
  if (left.is_null() || right.is_null()) return &constants().null;
  Value& target = slot(node);

  if (left.is_integer() && right.is_integer() && node.op != Operator::divide) {
    std::int64_t a = left.as_integer();
    std::int64_t b = right.as_integer();
    std::int64_t result = 0;
    switch (node.op) {
      case Operator::add:
        if (__builtin_add_overflow(a, b, &result)) return overflow_error(node.op);
        break;
      case Operator::subtract:
        if (__builtin_sub_overflow(a, b, &result)) return overflow_error(node.op);
        break;
      case Operator::multiply:
        if (__builtin_mul_overflow(a, b, &result)) return overflow_error(node.op);
        break;
      case Operator::modulo:
        if (b == 0) return arithmetic_error("modulo by zero");
        // INT64_MIN % -1 is undefined behaviour in C++ although the mathematical result is 0.
        result = b == -1 ? 0 : a % b;
        break;
      default: break;
    }
    target = Value::integer(result);
    return &target;
  }

  if (left.is_number() && right.is_number()) {
    double a = left.as_double();
    double b = right.as_double();
    double result = 0.0;
    switch (node.op) {
      case Operator::add: result = a + b; break;
      case Operator::subtract: result = a - b; break;
      case Operator::multiply: result = a * b; break;
      case Operator::divide:
        if (b == 0.0) return arithmetic_error("division by zero");
        result = a / b;
        break;
      case Operator::modulo:
        if (b == 0.0) return arithmetic_error("modulo by zero");
        result = std::fmod(a, b);
        break;
      default: break;
    }
    target = Value::floating(result);
    return &target;
  }

  if (node.op == Operator::add && left.is_string() && right.is_string()) {
    std::string& text = string_slot(node);
    text.reserve(left.as_string().size() + right.as_string().size());
    text.append(left.as_string()).append(right.as_string());
    return &target;
  }
  return type_error("cannot apply '" + std::string(operator_text(node.op)) + "' to " + operand_types(left, right));
}

Evaluation Evaluator::evaluate_comparison(const Node& node) {
  Evaluation left_result = evaluate(*node.children[0]);
  if (!left_result.ok()) return left_result;
  Evaluation right_result = evaluate(*node.children[1]);
  if (!right_result.ok()) return right_result;
  const Value& left = *left_result.value();
  const Value& right = *right_result.value();
  if (node.op == Operator::equal) return boolean_constant(left == right);
  if (node.op == Operator::not_equal) return boolean_constant(!(left == right));
  if (left.is_null() || right.is_null()) return &constants().null;

  std::partial_ordering order = std::partial_ordering::unordered;
  if (left.is_number() && right.is_number()) {
    order = compare_numbers(left, right);
  } else if (left.is_string() && right.is_string()) {
    // std::string compares as unsigned bytes, which for UTF-8 is also code point order.
    order = left.as_string().compare(right.as_string()) <=> 0;
  } else {
    return type_error("cannot compare " + operand_types(left, right) + " with '" +
                      std::string(operator_text(node.op)) + "'");
  }
  switch (node.op) {
    case Operator::less: return boolean_constant(order < 0);
    case Operator::less_equal: return boolean_constant(order <= 0);
    case Operator::greater: return boolean_constant(order > 0);
    case Operator::greater_equal: return boolean_constant(order >= 0);
    default: return &constants().null;
  }
}

namespace {

// Three-valued logic operands: true, false, or null (unknown).
enum class Truth : std::uint8_t { false_value, true_value, unknown };

std::optional<Truth> to_truth(const Value& value) noexcept {
  if (value.is_null()) return Truth::unknown;
  if (value.is_bool()) return value.as_bool() ? Truth::true_value : Truth::false_value;
  return std::nullopt;
}

core::RecordError logic_type_error(std::string_view keyword, const Value& value) {
  return type_error("'" + std::string(keyword) + "' needs boolean operands, got " +
                    std::string(core::to_string(value.type())));
}

}  // namespace

Evaluation Evaluator::evaluate_and(const Node& node) {
  Evaluation left_result = evaluate(*node.children[0]);
  if (!left_result.ok()) return left_result;
  std::optional<Truth> left = to_truth(*left_result.value());
  if (!left) return logic_type_error("and", *left_result.value());
  if (*left == Truth::false_value) return boolean_constant(false);
  Evaluation right_result = evaluate(*node.children[1]);
  if (!right_result.ok()) return right_result;
  std::optional<Truth> right = to_truth(*right_result.value());
  if (!right) return logic_type_error("and", *right_result.value());
  if (*right == Truth::false_value) return boolean_constant(false);
  if (*left == Truth::unknown || *right == Truth::unknown) return &constants().null;
  return boolean_constant(true);
}

Evaluation Evaluator::evaluate_or(const Node& node) {
  Evaluation left_result = evaluate(*node.children[0]);
  if (!left_result.ok()) return left_result;
  std::optional<Truth> left = to_truth(*left_result.value());
  if (!left) return logic_type_error("or", *left_result.value());
  if (*left == Truth::true_value) return boolean_constant(true);
  Evaluation right_result = evaluate(*node.children[1]);
  if (!right_result.ok()) return right_result;
  std::optional<Truth> right = to_truth(*right_result.value());
  if (!right) return logic_type_error("or", *right_result.value());
  if (*right == Truth::true_value) return boolean_constant(true);
  if (*left == Truth::unknown || *right == Truth::unknown) return &constants().null;
  return boolean_constant(false);
}

Evaluation Evaluator::evaluate_coalesce(const Node& node) {
  Evaluation left = evaluate(*node.children[0]);
  if (!left.ok() || !left.value()->is_null()) return left;
  return evaluate(*node.children[1]);
}

Evaluation Evaluator::evaluate_membership(const Node& node) {
  Evaluation needle_result = evaluate(*node.children[0]);
  if (!needle_result.ok()) return needle_result;
  const Value& needle = *needle_result.value();
  const Node& list = *node.children[1];
  bool found = false;
  if (list.kind == NodeKind::array) {
    // An array literal is searched element by element without building the array, stopping at the first match.
    for (const auto& child : list.children) {
      Evaluation element = evaluate(*child);
      if (!element.ok()) return element;
      if (needle == *element.value()) {
        found = true;
        break;
      }
    }
  } else {
    Evaluation haystack_result = evaluate(list);
    if (!haystack_result.ok()) return haystack_result;
    const Value& haystack = *haystack_result.value();
    if (haystack.is_null()) return &constants().null;
    if (!haystack.is_array()) {
      return type_error("'in' needs an array on its right, got " + std::string(core::to_string(haystack.type())));
    }
    for (const Value& element : haystack.as_array()) {
      if (needle == element) {
        found = true;
        break;
      }
    }
  }
  return boolean_constant(found != node.negated);
}

}  // namespace sluice::expr
