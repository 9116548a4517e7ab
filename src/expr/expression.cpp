#include "sluice/expr/expression.hpp"

#include <algorithm>
#include <functional>
#include <utility>

#include "evaluator.hpp"
#include "node.hpp"
#include "parser.hpp"

namespace sluice::expr {
namespace {

// A field path is a chain of `.name` steps over a bare identifier; indexes and metadata are not.
bool is_plain_path(const Node& node) noexcept {
  if (node.kind == NodeKind::field) return true;
  return node.kind == NodeKind::member && is_plain_path(*node.children[0]);
}

bool collect_fields(const Node& node, std::vector<std::string>& fields) {
  if (node.kind == NodeKind::metadata && node.metadata == Metadata::value) return false;
  if (node.kind == NodeKind::field &&
      std::find(fields.begin(), fields.end(), node.name) == fields.end()) {
    fields.push_back(node.name);
  }
  for (const auto& child : node.children) {
    if (!collect_fields(*child, fields)) return false;
  }
  return true;
}

}  // namespace

EvalContext::EvalContext(const core::Clock& clock) : clock_(clock) {}

EvalContext::~EvalContext() = default;

Expression::Expression(std::string text, std::shared_ptr<const Node> root, std::size_t node_count)
    : text_(std::move(text)), root_(std::move(root)), node_count_(node_count) {}

Expression::~Expression() = default;

std::variant<Expression, ParseError> Expression::parse(std::string_view text) {
  std::variant<ParsedTree, ParseError> parsed = parse_tree(text);
  if (auto* error = std::get_if<ParseError>(&parsed)) return std::move(*error);
  ParsedTree& tree = std::get<ParsedTree>(parsed);
  return Expression(std::string(text), std::shared_ptr<const Node>(std::move(tree.root)), tree.node_count);
}

core::Result<core::Value> Expression::evaluate(const core::Record& record, EvalContext& context) const {
  std::vector<core::Value>& scratch = context.scratch();
  if (scratch.size() < node_count_) scratch.resize(node_count_);
  Evaluator evaluator(record, context, scratch.data());
  Evaluation result = evaluator.evaluate(*root_);
  if (!result.ok()) return std::move(result).error();
  const core::Value* value = result.value();
  // A result in a scratch slot is overwritten by the next evaluation anyway, so it can be moved out rather than
  // copied; anything else (record fields, literals, constants) must be copied. std::less orders unrelated pointers.
  std::less<const core::Value*> before;
  bool in_scratch = !before(value, scratch.data()) && before(value, scratch.data() + scratch.size());
  if (in_scratch) return std::move(scratch[static_cast<std::size_t>(value - scratch.data())]);
  return *value;
}

core::Result<bool> Expression::test(const core::Record& record, EvalContext& context) const {
  std::vector<core::Value>& scratch = context.scratch();
  if (scratch.size() < node_count_) scratch.resize(node_count_);
  Evaluator evaluator(record, context, scratch.data());
  Evaluation result = evaluator.evaluate(*root_);
  if (!result.ok()) return std::move(result).error();
  const core::Value& value = *result.value();
  if (value.is_bool()) return value.as_bool();
  if (value.is_null()) return false;
  return type_error("a condition must be a boolean or null, got " + std::string(core::to_string(value.type())));
}

bool Expression::is_field_path() const noexcept { return is_plain_path(*root_); }

bool Expression::collect_value_fields(std::vector<std::string>& fields) const {
  return collect_fields(*root_, fields);
}

std::string Expression::field_path_leaf() const {
  if (!is_plain_path(*root_)) return {};
  return root_->name;
}

}  // namespace sluice::expr
