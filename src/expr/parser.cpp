// Grammar, lowest precedence first:
//   expression     := or
//   or             := and (('or' | '||') and)*
//   and            := not (('and' | '&&') not)*
//   not            := ('not' | '!') not | comparison
//   comparison     := coalesce [ ('==' | '!=' | '<' | '<=' | '>' | '>=') coalesce
//                              | 'is' ['not'] 'null' | ['not'] 'in' coalesce ]
//   coalesce       := additive ('??' additive)*
//   additive       := multiplicative (('+' | '-') multiplicative)*
//   multiplicative := unary (('*' | '/' | '%') unary)*
//   unary          := '-' unary | postfix
//   postfix        := primary ('.' word | '[' expression ']')*
//   primary        := number | string | true | false | null | identifier | `quoted` | $metadata
//                   | identifier '(' [expression (',' expression)*] ')' | '(' expression ')'
//                   | '[' [expression (',' expression)*] ']'
// Comparisons do not chain: `a < b < c` is a parse error rather than a comparison of a boolean with c.
#include "sluice/core/suggest.hpp"
#include "parser.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lexer.hpp"

namespace sluice::expr {
namespace {

using NodePointer = std::unique_ptr<Node>;


// The closest function name to a misspelt one, or empty when nothing is close enough to be a useful hint.
std::string_view suggest_function(std::string_view name) {
  std::vector<std::string_view> names;
  for (const FunctionInfo& info : function_table()) names.push_back(info.name);
  if (auto index = core::closest_match(name, names, 2)) return names[*index];
  for (std::string_view candidate : names) {
    if (name.size() >= 2 && candidate.starts_with(name)) return candidate;
  }
  return {};
}

std::string arity_message(const FunctionInfo& info, std::size_t given) {
  auto count = [](std::size_t n) {
    return std::to_string(n) + (n == 1 ? " argument" : " arguments");
  };
  std::string message = "function '" + std::string(info.name) + "' takes ";
  if (info.maximum_arguments == variadic_arguments) {
    message += "at least " + count(info.minimum_arguments);
  } else if (info.maximum_arguments == 0) {
    message += "no arguments";
  } else if (info.minimum_arguments == info.maximum_arguments) {
    message += count(info.minimum_arguments);
  } else {
    message += std::to_string(info.minimum_arguments) + " or " + count(info.maximum_arguments);
  }
  return message + ", got " + std::to_string(given);
}

std::optional<Operator> comparison_operator(TokenKind kind) noexcept {
  switch (kind) {
    case TokenKind::equal_equal: return Operator::equal;
    case TokenKind::bang_equal: return Operator::not_equal;
    case TokenKind::less: return Operator::less;
    case TokenKind::less_equal: return Operator::less_equal;
    case TokenKind::greater: return Operator::greater;
    case TokenKind::greater_equal: return Operator::greater_equal;
    default: return std::nullopt;
  }
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  std::variant<ParsedTree, ParseError> run() {
    NodePointer root = parse_expression();
    if (root && current().kind != TokenKind::end) {
      const Token& stray = current();
      if (stray.kind == TokenKind::right_paren) {
        fail(stray.position, "unexpected ')' without a matching '('");
      } else if (stray.kind == TokenKind::right_bracket) {
        fail(stray.position, "unexpected ']' without a matching '['");
      } else {
        fail(stray.position, "expected an operator or end of input, got " + describe(stray));
      }
      root = nullptr;
    }
    if (!root) return std::move(*error_);
    return ParsedTree{std::move(root), node_count_};
  }

 private:
  const Token& current() const noexcept { return tokens_[index_]; }
  // The lexer always ends the list with an `end` token, so looking past it stays on it.
  const Token& ahead(std::size_t count) const noexcept { return tokens_[std::min(index_ + count, tokens_.size() - 1)]; }
  bool at(TokenKind kind) const noexcept { return current().kind == kind; }
  const Token& advance() noexcept {
    const Token& token = tokens_[index_];
    if (index_ + 1 < tokens_.size()) ++index_;
    return token;
  }

  NodePointer fail(std::size_t position, std::string message) {
    if (!error_) error_ = ParseError{position, std::move(message)};
    return nullptr;
  }

  NodePointer make_node(NodeKind kind, std::size_t position) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->position = position;
    node->id = static_cast<std::uint32_t>(node_count_++);
    return node;
  }

  // Records the subtree's height once its children are attached, rejecting trees too tall to evaluate safely.
  NodePointer finish(NodePointer node) {
    std::uint32_t depth = 0;
    for (const NodePointer& child : node->children) depth = std::max(depth, child->depth);
    node->depth = depth + 1;
    if (node->depth > max_tree_depth) {
      return fail(node->position,
                  "expression is nested too deeply (more than " + std::to_string(max_tree_depth) + " levels)");
    }
    return node;
  }

  NodePointer make_binary(NodeKind kind, Operator op, std::size_t position, NodePointer left, NodePointer right) {
    NodePointer node = make_node(kind, position);
    node->op = op;
    node->children.push_back(std::move(left));
    node->children.push_back(std::move(right));
    return finish(std::move(node));
  }

  // Guards the recursive entry points so hostile input like "((((..." cannot overflow the stack.
  class NestingGuard {
   public:
    explicit NestingGuard(Parser& parser) : parser_(parser) { ++parser_.nesting_; }
    ~NestingGuard() { --parser_.nesting_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;
    bool exceeded() const noexcept { return parser_.nesting_ > max_nesting; }

   private:
    Parser& parser_;
  };

  NodePointer nesting_error() {
    return fail(current().position, "expression is nested too deeply (more than " + std::to_string(max_nesting) +
                                        " levels of parentheses, brackets or prefix operators)");
  }

  NodePointer parse_expression() {
    NestingGuard guard(*this);
    if (guard.exceeded()) return nesting_error();
    return parse_or();
  }

  NodePointer parse_or() {
    NodePointer left = parse_and();
    while (left && (at(TokenKind::keyword_or) || at(TokenKind::or_or))) {
      std::size_t position = advance().position;
      NodePointer right = parse_and();
      if (!right) return nullptr;
      left = make_binary(NodeKind::logical_or, Operator::add, position, std::move(left), std::move(right));
    }
    return left;
  }

  NodePointer parse_and() {
    NodePointer left = parse_not();
    while (left && (at(TokenKind::keyword_and) || at(TokenKind::and_and))) {
      std::size_t position = advance().position;
      NodePointer right = parse_not();
      if (!right) return nullptr;
      left = make_binary(NodeKind::logical_and, Operator::add, position, std::move(left), std::move(right));
    }
    return left;
  }

  NodePointer parse_not() {
    if (!at(TokenKind::keyword_not) && !at(TokenKind::bang)) return parse_comparison();
    NestingGuard guard(*this);
    if (guard.exceeded()) return nesting_error();
    std::size_t position = advance().position;
    NodePointer operand = parse_not();
    if (!operand) return nullptr;
    NodePointer node = make_node(NodeKind::logical_not, position);
    node->children.push_back(std::move(operand));
    return finish(std::move(node));
  }

  bool at_comparison() const noexcept {
    TokenKind kind = current().kind;
    return comparison_operator(kind).has_value() || kind == TokenKind::keyword_is || kind == TokenKind::keyword_in ||
           (kind == TokenKind::keyword_not && ahead(1).kind == TokenKind::keyword_in);
  }

  NodePointer parse_comparison() {
    NodePointer left = parse_coalesce();
    if (!left || !at_comparison()) return left;
    const Token& operator_token = advance();
    std::size_t position = operator_token.position;
    NodePointer node;
    if (auto op = comparison_operator(operator_token.kind)) {
      NodePointer right = parse_coalesce();
      if (!right) return nullptr;
      node = make_binary(NodeKind::comparison, *op, position, std::move(left), std::move(right));
    } else if (operator_token.kind == TokenKind::keyword_is) {
      bool negated = at(TokenKind::keyword_not);
      if (negated) advance();
      if (!at(TokenKind::keyword_null)) {
        return fail(current().position, std::string("expected 'null' after '") + (negated ? "is not" : "is") +
                                            "', got " + describe(current()));
      }
      advance();
      node = make_node(NodeKind::is_null, position);
      node->negated = negated;
      node->children.push_back(std::move(left));
      node = finish(std::move(node));
    } else {
      bool negated = operator_token.kind == TokenKind::keyword_not;
      if (negated) advance();  // the `in` of `not in`
      NodePointer right = parse_coalesce();
      if (!right) return nullptr;
      node = make_binary(NodeKind::membership, Operator::equal, position, std::move(left), std::move(right));
      if (node) node->negated = negated;
    }
    if (node && at_comparison()) {
      return fail(current().position, "comparisons do not chain; use parentheses or 'and', got " + describe(current()));
    }
    return node;
  }

  NodePointer parse_coalesce() {
    NodePointer left = parse_additive();
    while (left && at(TokenKind::question_question)) {
      std::size_t position = advance().position;
      NodePointer right = parse_additive();
      if (!right) return nullptr;
      left = make_binary(NodeKind::coalesce, Operator::add, position, std::move(left), std::move(right));
    }
    return left;
  }

  NodePointer parse_additive() {
    NodePointer left = parse_multiplicative();
    while (left && (at(TokenKind::plus) || at(TokenKind::minus))) {
      const Token& token = advance();
      Operator op = token.kind == TokenKind::plus ? Operator::add : Operator::subtract;
      NodePointer right = parse_multiplicative();
      if (!right) return nullptr;
      left = make_binary(NodeKind::arithmetic, op, token.position, std::move(left), std::move(right));
    }
    return left;
  }

  NodePointer parse_multiplicative() {
    NodePointer left = parse_unary();
    while (left && (at(TokenKind::star) || at(TokenKind::slash) || at(TokenKind::percent))) {
      const Token& token = advance();
      Operator op = token.kind == TokenKind::star    ? Operator::multiply
                    : token.kind == TokenKind::slash ? Operator::divide
                                                     : Operator::modulo;
      NodePointer right = parse_unary();
      if (!right) return nullptr;
      left = make_binary(NodeKind::arithmetic, op, token.position, std::move(left), std::move(right));
    }
    return left;
  }

  NodePointer parse_unary() {
    if (!at(TokenKind::minus)) return parse_postfix();
    NestingGuard guard(*this);
    if (guard.exceeded()) return nesting_error();
    std::size_t position = advance().position;
    // A negative number literal becomes one constant; this is also the only way to write INT64_MIN, whose
    // magnitude does not fit a positive int64. Postfix operators bind tighter than '-', so only fold when
    // none follows.
    const Token& operand = current();
    TokenKind after = ahead(1).kind;
    bool followed_by_postfix = after == TokenKind::dot || after == TokenKind::left_bracket;
    if (!followed_by_postfix && operand.kind == TokenKind::integer) {
      constexpr auto magnitude_of_minimum = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;
      if (operand.integer > magnitude_of_minimum) {
        return fail(operand.position, "integer -" + std::string(operand.source) + " is out of range");
      }
      NodePointer node = make_node(NodeKind::literal, position);
      node->literal = core::Value::integer(operand.integer == magnitude_of_minimum
                                               ? std::numeric_limits<std::int64_t>::min()
                                               : -static_cast<std::int64_t>(operand.integer));
      advance();
      return node;
    }
    if (!followed_by_postfix && operand.kind == TokenKind::floating) {
      NodePointer node = make_node(NodeKind::literal, position);
      node->literal = core::Value::floating(-operand.floating);
      advance();
      return node;
    }
    NodePointer inner = parse_unary();
    if (!inner) return nullptr;
    NodePointer node = make_node(NodeKind::negate, position);
    node->children.push_back(std::move(inner));
    return finish(std::move(node));
  }

  static bool is_headers(const Node& node) noexcept {
    return node.kind == NodeKind::metadata && node.metadata == Metadata::headers;
  }

  NodePointer make_header(std::size_t position, std::string name) {
    NodePointer node = make_node(NodeKind::header, position);
    node->name = std::move(name);
    return node;
  }

  NodePointer parse_postfix() {
    NodePointer base = parse_primary();
    while (base) {
      if (at(TokenKind::dot)) {
        advance();
        if (!is_word(current().kind)) {
          return fail(current().position, "expected a field name after '.', got " + describe(current()));
        }
        std::string name = advance().text;
        if (is_headers(*base)) {
          base = make_header(base->position, std::move(name));
          continue;
        }
        NodePointer node = make_node(NodeKind::member, base->position);
        node->name = std::move(name);
        node->children.push_back(std::move(base));
        base = finish(std::move(node));
      } else if (at(TokenKind::left_bracket)) {
        std::size_t open = advance().position;
        NodePointer index = parse_expression();
        if (!index) return nullptr;
        if (!at(TokenKind::right_bracket)) {
          return fail(current().position,
                      "expected ']' to close '[' at " + std::to_string(open) + ", got " + describe(current()));
        }
        advance();
        // A constant header name reads the header directly rather than building the whole $headers object.
        if (is_headers(*base) && index->kind == NodeKind::literal && index->literal.is_string()) {
          base = make_header(base->position, index->literal.as_string());
          continue;
        }
        NodePointer node = make_node(NodeKind::index, base->position);
        node->children.push_back(std::move(base));
        node->children.push_back(std::move(index));
        base = finish(std::move(node));
      } else {
        break;
      }
    }
    return base;
  }

  NodePointer make_literal(std::size_t position, core::Value value) {
    NodePointer node = make_node(NodeKind::literal, position);
    node->literal = std::move(value);
    return node;
  }

  NodePointer parse_primary() {
    const Token& token = current();
    switch (token.kind) {
      case TokenKind::integer: {
        if (token.integer > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          return fail(token.position, "integer " + std::string(token.source) + " is out of range");
        }
        advance();
        return make_literal(token.position, core::Value::integer(static_cast<std::int64_t>(token.integer)));
      }
      case TokenKind::floating: advance(); return make_literal(token.position, core::Value::floating(token.floating));
      case TokenKind::string: advance(); return make_literal(token.position, core::Value::string(token.text));
      case TokenKind::keyword_true: advance(); return make_literal(token.position, core::Value::boolean(true));
      case TokenKind::keyword_false: advance(); return make_literal(token.position, core::Value::boolean(false));
      case TokenKind::keyword_null: advance(); return make_literal(token.position, core::Value());
      case TokenKind::identifier:
        if (ahead(1).kind == TokenKind::left_paren) return parse_call();
        [[fallthrough]];
      case TokenKind::quoted_identifier: {
        NodePointer node = make_node(NodeKind::field, token.position);
        node->name = token.text;
        advance();
        return node;
      }
      case TokenKind::metadata: return parse_metadata();
      case TokenKind::left_paren: {
        std::size_t open = advance().position;
        NodePointer inner = parse_expression();
        if (!inner) return nullptr;
        if (!at(TokenKind::right_paren)) {
          return fail(current().position,
                      "expected ')' to close '(' at " + std::to_string(open) + ", got " + describe(current()));
        }
        advance();
        return inner;
      }
      case TokenKind::left_bracket: return parse_array();
      default: return fail(token.position, "expected an expression, got " + describe(token));
    }
  }

  NodePointer parse_metadata() {
    const Token& token = advance();
    NodePointer node = make_node(NodeKind::metadata, token.position);
    constexpr std::pair<std::string_view, Metadata> names[] = {
        {"key", Metadata::key},     {"value", Metadata::value},         {"timestamp", Metadata::timestamp},
        {"topic", Metadata::topic}, {"partition", Metadata::partition}, {"offset", Metadata::offset},
        {"headers", Metadata::headers},
    };
    for (const auto& [name, metadata] : names) {
      if (name == token.text) node->metadata = metadata;
    }
    return node;
  }

  NodePointer parse_array() {
    std::size_t open = advance().position;
    NodePointer node = make_node(NodeKind::array, open);
    if (at(TokenKind::right_bracket)) {
      advance();
      return node;
    }
    while (true) {
      NodePointer element = parse_expression();
      if (!element) return nullptr;
      node->children.push_back(std::move(element));
      if (at(TokenKind::comma)) {
        advance();
        continue;
      }
      if (at(TokenKind::right_bracket)) {
        advance();
        return finish(std::move(node));
      }
      return fail(current().position,
                  "expected ',' or ']' to close '[' at " + std::to_string(open) + ", got " + describe(current()));
    }
  }

  NodePointer parse_call() {
    const Token& name_token = advance();
    const FunctionInfo* info = find_function(name_token.text);
    if (info == nullptr) {
      std::string message = "unknown function '" + name_token.text + "'";
      std::string_view suggestion = suggest_function(name_token.text);
      if (!suggestion.empty()) message += "; did you mean '" + std::string(suggestion) + "'?";
      return fail(name_token.position, std::move(message));
    }
    std::size_t open = advance().position;  // '('
    NodePointer node = make_node(NodeKind::call, name_token.position);
    node->function = info->function;
    if (at(TokenKind::right_paren)) {
      advance();
    } else {
      while (true) {
        NodePointer argument = parse_expression();
        if (!argument) return nullptr;
        node->children.push_back(std::move(argument));
        if (at(TokenKind::comma)) {
          advance();
          continue;
        }
        if (at(TokenKind::right_paren)) {
          advance();
          break;
        }
        return fail(current().position, "expected ',' or ')' to close '(' of '" + std::string(info->name) + "' at " +
                                            std::to_string(open) + ", got " + describe(current()));
      }
    }
    std::size_t count = node->children.size();
    if (count < info->minimum_arguments || count > info->maximum_arguments) {
      return fail(name_token.position, arity_message(*info, count));
    }
    return finish(std::move(node));
  }

  std::vector<Token> tokens_;
  std::size_t index_ = 0;
  std::size_t nesting_ = 0;
  std::size_t node_count_ = 0;
  std::optional<ParseError> error_;
};

}  // namespace

std::variant<ParsedTree, ParseError> parse_tree(std::string_view text) {
  auto tokens = tokenize(text);
  if (auto* error = std::get_if<ParseError>(&tokens)) return std::move(*error);
  return Parser(std::get<std::vector<Token>>(std::move(tokens))).run();
}

}  // namespace sluice::expr
