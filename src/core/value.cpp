#include "sluice/core/value.hpp"

#include <cmath>

#include "sluice/core/result.hpp"

namespace sluice::core {

std::string_view to_string(ValueType type) noexcept {
  switch (type) {
    case ValueType::null: return "null";
    case ValueType::boolean: return "boolean";
    case ValueType::integer: return "integer";
    case ValueType::floating: return "number";
    case ValueType::string: return "string";
    case ValueType::array: return "array";
    case ValueType::object: return "object";
  }
  return "unknown";
}

std::string_view to_string(RecordErrorKind kind) noexcept {
  switch (kind) {
    case RecordErrorKind::deserialization: return "deserialization";
    case RecordErrorKind::missing_field: return "missing_field";
    case RecordErrorKind::type_error: return "type_error";
    case RecordErrorKind::arithmetic: return "arithmetic";
    case RecordErrorKind::invalid_value: return "invalid_value";
    case RecordErrorKind::late: return "late";
    case RecordErrorKind::output_rejected: return "output_rejected";
  }
  return "unknown";
}

double Value::as_double() const {
  if (is_integer()) return static_cast<double>(as_integer());
  return std::get<double>(data_);
}

const Value* Value::find(std::string_view field) const noexcept {
  if (!is_object()) return nullptr;
  for (const Member& member : as_object()) {
    if (member.name == field) return &member.value;
  }
  return nullptr;
}

Value* Value::find(std::string_view field) noexcept {
  return const_cast<Value*>(static_cast<const Value*>(this)->find(field));
}

Value& Value::set(std::string_view field, Value value) {
  if (Value* existing = find(field)) {
    *existing = std::move(value);
    return *existing;
  }
  Object& members = as_object();
  members.push_back(Member{std::string(field), std::move(value)});
  return members.back().value;
}

bool Value::erase(std::string_view field) {
  if (!is_object()) return false;
  Object& members = as_object();
  for (auto it = members.begin(); it != members.end(); ++it) {
    if (it->name == field) {
      members.erase(it);
      return true;
    }
  }
  return false;
}

bool operator==(const Value& a, const Value& b) noexcept {
  if (a.is_number() && b.is_number()) {
    if (a.is_integer() && b.is_integer()) return a.as_integer() == b.as_integer();
    return a.as_double() == b.as_double();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case ValueType::null: return true;
    case ValueType::boolean: return a.as_bool() == b.as_bool();
    case ValueType::string: return a.as_string() == b.as_string();
    case ValueType::array: return a.as_array() == b.as_array();
    case ValueType::object: {
      // Field order does not matter for equality; objects are small, so quadratic is fine.
      const Object& left = a.as_object();
      const Object& right = b.as_object();
      if (left.size() != right.size()) return false;
      for (const Member& member : left) {
        const Value* other = b.find(member.name);
        if (other == nullptr || !(member.value == *other)) return false;
      }
      return true;
    }
    default: return false;
  }
}

}  // namespace sluice::core
