// Evaluation of a Node tree against one record. Every node yields a pointer to its value: into the record for
// field paths (no copy), into the tree for literals, to a shared constant for booleans and null, or into the
// node's own scratch slot for computed values. A slot is written only by its node and pointers flow only from
// children to parents, so a node never reads a slot it is overwriting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "node.hpp"
#include "sluice/core/record.hpp"
#include "sluice/core/result.hpp"
#include "sluice/core/value.hpp"
#include "sluice/expr/expression.hpp"

namespace sluice::expr {

using Evaluation = core::Result<const core::Value*>;

// Immutable values the evaluator points at instead of writing booleans and null into scratch slots.
struct Constants {
  core::Value null;
  core::Value true_value = core::Value::boolean(true);
  core::Value false_value = core::Value::boolean(false);
};
[[nodiscard]] const Constants& constants() noexcept;

[[nodiscard]] inline const core::Value* boolean_constant(bool value) noexcept {
  return value ? &constants().true_value : &constants().false_value;
}

[[nodiscard]] inline core::RecordError type_error(std::string message) {
  return core::make_error(core::RecordErrorKind::type_error, std::move(message));
}

// Converts a finite double that has no fractional part to int64; nullopt if it does not fit.
[[nodiscard]] std::optional<std::int64_t> integral_double_to_integer(double value) noexcept;

class Evaluator {
 public:
  // `slots` must hold at least as many values as the tree has nodes.
  Evaluator(const core::Record& record, EvalContext& context, core::Value* slots) noexcept
      : record_(record), context_(context), slots_(slots) {}

  [[nodiscard]] Evaluation evaluate(const Node& node);

 private:
  core::Value& slot(const Node& node) noexcept { return slots_[node.id]; }
  // The node's slot as a string (reusing its buffer when it already holds one), cleared.
  std::string& string_slot(const Node& node);

  Evaluation evaluate_member(const Node& node);
  Evaluation evaluate_index(const Node& node);
  Evaluation evaluate_metadata(const Node& node);
  Evaluation evaluate_header(const Node& node);
  Evaluation evaluate_array(const Node& node);
  Evaluation evaluate_negate(const Node& node);
  Evaluation evaluate_not(const Node& node);
  Evaluation evaluate_arithmetic(const Node& node);
  Evaluation evaluate_comparison(const Node& node);
  Evaluation evaluate_and(const Node& node);
  Evaluation evaluate_or(const Node& node);
  Evaluation evaluate_coalesce(const Node& node);
  Evaluation evaluate_membership(const Node& node);

  // Function calls (functions.cpp).
  Evaluation call(const Node& node);
  Evaluation call_conditional(const Node& node);
  Evaluation call_coalesce(const Node& node);
  Evaluation call_concat(const Node& node);
  Evaluation call_strict(const Node& node, const core::Value* const* arguments);
  Evaluation call_string_function(const Node& node, const core::Value* const* arguments);
  Evaluation call_numeric_function(const Node& node, const core::Value* const* arguments);

  const core::Record& record_;
  EvalContext& context_;
  core::Value* slots_;
};

}  // namespace sluice::expr
