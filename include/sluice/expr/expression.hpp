// The expression language of filters, computed fields, keys and predicates. An expression is parsed once into
// an immutable tree (thread-safe to share) and evaluated per record with a per-thread EvalContext whose
// scratch slots are reused, so evaluating numbers and booleans does not allocate.
//
// Language (full reference in README.md, "Expressions"):
//   field paths   amount, user.address.city, items[0].price, `odd name`.x, payload["a b"]
//   record meta   $key, $value, $timestamp, $topic, $partition, $offset, $headers.name
//   literals      42, -1.5, 1e3, 'text', "text", true, false, null, [1, 2, 'x']
//   arithmetic    + - * / %   (string + string concatenates; / always yields a double)
//   comparison    == != < <= > >=   (numbers with numbers, strings with strings; == and != on any)
//   logic         and or not   (also && || !)
//   null handling x ?? default, x is null, x is not null, coalesce(a, b, ...)
//   membership    x in [a, b, c], x not in [...]
//   functions     lower upper trim length substr contains starts_with ends_with replace split concat
//                 to_string to_number to_int abs round floor ceil if coalesce now parse_time format_time
// Null semantics: a missing field reads as null; arithmetic and ordering comparisons with a null operand yield
// null; a filter whose predicate is null drops the record (as SQL's WHERE). Wrong types (e.g. 'a' * 2) are
// RecordErrors of kind type_error, which dead-letter the record.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/core/record.hpp"
#include "sluice/core/result.hpp"
#include "sluice/core/value.hpp"

namespace sluice::expr {

struct ParseError {
  std::size_t position = 0;  // 0-based byte offset into the expression text
  std::string message;       // says what was expected, e.g. "expected ')' to close '(' at 4"
};

class Node;  // internal tree node (defined in src/expr)

// Per-thread evaluation state: scratch values reused between records, and the clock for now().
// Not thread-safe; one per processing thread. Holds no per-record state between evaluate() calls.
class EvalContext {
 public:
  explicit EvalContext(const core::Clock& clock);
  ~EvalContext();
  EvalContext(const EvalContext&) = delete;
  EvalContext& operator=(const EvalContext&) = delete;

  const core::Clock& clock() const noexcept { return clock_; }
  // Record metadata for $topic, $partition, $offset; set by the runtime before processing an input record.
  void set_origin(const core::Origin* origin) noexcept { origin_ = origin; }
  const core::Origin* origin() const noexcept { return origin_; }

  // Internal: scratch storage (grows to the largest expression evaluated).
  std::vector<core::Value>& scratch() noexcept { return scratch_; }

 private:
  const core::Clock& clock_;
  const core::Origin* origin_ = nullptr;
  std::vector<core::Value> scratch_;
};

class Expression {
 public:
  // Parses `text`. The result holds either an Expression or a ParseError.
  static std::variant<Expression, ParseError> parse(std::string_view text);

  Expression(const Expression&) = default;
  Expression(Expression&&) noexcept = default;
  Expression& operator=(const Expression&) = default;
  Expression& operator=(Expression&&) noexcept = default;
  ~Expression();

  const std::string& text() const noexcept { return text_; }

  // Evaluates against `record`; the returned Value is owned by the caller.
  core::Result<core::Value> evaluate(const core::Record& record, EvalContext& context) const;
  // Evaluates a predicate: true, false, or null (treated as false by callers that filter). A non-boolean,
  // non-null result is a type_error.
  core::Result<bool> test(const core::Record& record, EvalContext& context) const;

  // True if the expression is a plain field path (e.g. `user.id`), so `select` can name the output field
  // after the path's last segment.
  bool is_field_path() const noexcept;
  // The last segment of a plain field path ("user.id" -> "id"); empty if not a field path.
  std::string field_path_leaf() const;
  // Adds to `fields` the top-level fields of the record's value the expression reads (every bare identifier,
  // which is also the first step of a path such as `user.id`) and returns true; returns false when it reads
  // the value as a whole (`$value`), which no list of fields describes.
  bool collect_value_fields(std::vector<std::string>& fields) const;

 private:
  Expression(std::string text, std::shared_ptr<const Node> root, std::size_t node_count);
  std::string text_;
  std::shared_ptr<const Node> root_;  // immutable tree shared by copies of the same parsed expression
  std::size_t node_count_ = 0;        // scratch slots needed
};

}  // namespace sluice::expr
