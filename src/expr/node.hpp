// The parsed form of an expression: an immutable tree of Nodes built once by the parser and then only read,
// so one tree can be evaluated from several threads at once. Each node owns one scratch slot (its id) in the
// EvalContext, which is where it writes a computed value that does not already live in the record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/value.hpp"

namespace sluice::expr {

enum class NodeKind : std::uint8_t {
  literal,      // a constant, held in Node::literal
  field,        // a bare identifier: a field of the record's value
  member,       // children[0].name
  index,        // children[0][children[1]]
  metadata,     // $key, $value, $timestamp, $topic, $partition, $offset, $headers
  header,       // $headers.name: the header's value as a string, or null
  array,        // [children...]
  negate,       // -children[0]
  logical_not,  // not children[0]
  arithmetic,   // children[0] op children[1] for + - * / %
  comparison,   // children[0] op children[1] for == != < <= > >=
  logical_and,
  logical_or,
  coalesce,    // children[0] ?? children[1]
  is_null,     // children[0] is null (negated: is not null)
  membership,  // children[0] in children[1] (negated: not in)
  call,        // function(children...)
};

enum class Operator : std::uint8_t {
  add,
  subtract,
  multiply,
  divide,
  modulo,
  equal,
  not_equal,
  less,
  less_equal,
  greater,
  greater_equal,
};

enum class Metadata : std::uint8_t { key, value, timestamp, topic, partition, offset, headers };

enum class Function : std::uint8_t {
  lower,
  upper,
  trim,
  length,
  substr,
  contains,
  starts_with,
  ends_with,
  replace,
  split,
  concat,
  to_string,
  to_number,
  to_int,
  abs,
  round,
  floor,
  ceil,
  conditional,  // if(cond, a, b); `if` is a C++ keyword
  coalesce,
  now,
  parse_time,
  format_time,
};

class Node {
 public:
  NodeKind kind = NodeKind::literal;
  Operator op = Operator::add;
  Metadata metadata = Metadata::key;
  Function function = Function::lower;
  bool negated = false;        // `is not null`, `not in`
  std::uint32_t id = 0;        // scratch slot, unique within one expression
  std::uint32_t depth = 1;     // height of the subtree, bounded so evaluation cannot exhaust the stack
  std::size_t position = 0;    // byte offset of the node's first token in the expression text
  core::Value literal;         // NodeKind::literal
  std::string name;            // field name (field, member) or header name (header)
  std::vector<std::unique_ptr<Node>> children;
};

[[nodiscard]] std::string_view operator_text(Operator op) noexcept;

struct FunctionInfo {
  std::string_view name;
  Function function;
  std::size_t minimum_arguments;
  std::size_t maximum_arguments;  // variadic_arguments for no upper bound
};

inline constexpr std::size_t variadic_arguments = static_cast<std::size_t>(-1);

[[nodiscard]] std::span<const FunctionInfo> function_table() noexcept;
// nullptr if `name` is not a function of the language.
[[nodiscard]] const FunctionInfo* find_function(std::string_view name) noexcept;

}  // namespace sluice::expr
