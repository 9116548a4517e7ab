// Text -> Node tree. Recursive descent, one function per precedence level; see parser.cpp for the grammar.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <variant>

#include "node.hpp"
#include "sluice/expr/expression.hpp"

namespace sluice::expr {

struct ParsedTree {
  std::unique_ptr<Node> root;
  std::size_t node_count = 0;  // node ids are 0 .. node_count - 1
};

// Bounds that keep parsing and evaluation recursion far from the stack limit on any thread.
inline constexpr std::size_t max_nesting = 128;     // parentheses, brackets, calls and prefix operators
inline constexpr std::uint32_t max_tree_depth = 256;  // height of the tree, e.g. a chain of 255 `or`s

[[nodiscard]] std::variant<ParsedTree, ParseError> parse_tree(std::string_view text);

}  // namespace sluice::expr
