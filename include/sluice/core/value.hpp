// The data model of a record's key and value: a JSON-like tree (null, bool, 64-bit integer, double, string,
// array, object). Objects keep insertion order and look fields up linearly: records are small and this keeps
// one allocation per object instead of a hash table. Not thread-safe; a Value is owned by one record.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sluice::core {

enum class ValueType : std::uint8_t { null, boolean, integer, floating, string, array, object };

std::string_view to_string(ValueType type) noexcept;

class Value;
struct Member;
using Array = std::vector<Value>;
using Object = std::vector<Member>;

class Value {
 public:
  Value() noexcept = default;  // null

  // Defined below Member, and array() and object() are overloads rather than default arguments: clang (unlike
  // GCC) instantiates the Data constructors and destructors where these are written, and those need Member
  // complete.
  static Value boolean(bool b);
  static Value integer(std::int64_t i);
  static Value floating(double d);
  static Value string(std::string s);
  static Value array();  // empty
  static Value array(Array a);
  static Value object();  // empty
  static Value object(Object o);

  ValueType type() const noexcept { return static_cast<ValueType>(data_.index()); }
  bool is_null() const noexcept { return type() == ValueType::null; }
  bool is_bool() const noexcept { return type() == ValueType::boolean; }
  bool is_integer() const noexcept { return type() == ValueType::integer; }
  bool is_floating() const noexcept { return type() == ValueType::floating; }
  bool is_number() const noexcept { return is_integer() || is_floating(); }
  bool is_string() const noexcept { return type() == ValueType::string; }
  bool is_array() const noexcept { return type() == ValueType::array; }
  bool is_object() const noexcept { return type() == ValueType::object; }

  // Accessors require the matching type (checked with an assertion in debug builds).
  bool as_bool() const { return std::get<bool>(data_); }
  std::int64_t as_integer() const { return std::get<std::int64_t>(data_); }
  double as_double() const;  // integer or floating
  const std::string& as_string() const { return std::get<std::string>(data_); }
  std::string& as_string() { return std::get<std::string>(data_); }
  const Array& as_array() const { return std::get<Array>(data_); }
  Array& as_array() { return std::get<Array>(data_); }
  const Object& as_object() const { return std::get<Object>(data_); }
  Object& as_object() { return std::get<Object>(data_); }

  // Object helpers: nullptr when this is not an object or the field is absent.
  const Value* find(std::string_view field) const noexcept;
  Value* find(std::string_view field) noexcept;
  // Sets a field of an object (replacing an existing one, else appending). Requires is_object().
  Value& set(std::string_view field, Value value);
  // Removes a field of an object; false if it was absent or this is not an object.
  bool erase(std::string_view field);

  // Deep equality; an integer equals a floating value of the same magnitude (1 == 1.0).
  friend bool operator==(const Value& a, const Value& b) noexcept;

 private:
  using Data = std::variant<std::monostate, bool, std::int64_t, double, std::string, Array, Object>;
  explicit Value(Data data);
  Data data_;
};

struct Member {
  std::string name;
  Value value;
};

inline Value::Value(Data data) : data_(std::move(data)) {}
inline Value Value::boolean(bool b) { return Value(Data(std::in_place_type<bool>, b)); }
inline Value Value::integer(std::int64_t i) { return Value(Data(std::in_place_type<std::int64_t>, i)); }
inline Value Value::floating(double d) { return Value(Data(std::in_place_type<double>, d)); }
inline Value Value::string(std::string s) { return Value(Data(std::in_place_type<std::string>, std::move(s))); }
inline Value Value::array() { return array(Array()); }
inline Value Value::object() { return object(Object()); }
inline Value Value::array(Array a) { return Value(Data(std::in_place_type<Array>, std::move(a))); }
inline Value Value::object(Object o) { return Value(Data(std::in_place_type<Object>, std::move(o))); }

}  // namespace sluice::core
