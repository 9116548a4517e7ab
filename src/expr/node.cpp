#include "node.hpp"

namespace sluice::expr {
namespace {

constexpr FunctionInfo functions[] = {
    {"lower", Function::lower, 1, 1},
    {"upper", Function::upper, 1, 1},
    {"trim", Function::trim, 1, 1},
    {"length", Function::length, 1, 1},
    {"substr", Function::substr, 2, 3},
    {"contains", Function::contains, 2, 2},
    {"starts_with", Function::starts_with, 2, 2},
    {"ends_with", Function::ends_with, 2, 2},
    {"replace", Function::replace, 3, 3},
    {"split", Function::split, 2, 2},
    {"concat", Function::concat, 1, variadic_arguments},
    {"to_string", Function::to_string, 1, 1},
    {"to_number", Function::to_number, 1, 1},
    {"to_int", Function::to_int, 1, 1},
    {"abs", Function::abs, 1, 1},
    {"round", Function::round, 1, 2},
    {"floor", Function::floor, 1, 1},
    {"ceil", Function::ceil, 1, 1},
    {"if", Function::conditional, 3, 3},
    {"coalesce", Function::coalesce, 1, variadic_arguments},
    {"now", Function::now, 0, 0},
    {"parse_time", Function::parse_time, 1, 1},
    {"format_time", Function::format_time, 1, 1},
};

}  // namespace

std::string_view operator_text(Operator op) noexcept {
  switch (op) {
    case Operator::add: return "+";
    case Operator::subtract: return "-";
    case Operator::multiply: return "*";
    case Operator::divide: return "/";
    case Operator::modulo: return "%";
    case Operator::equal: return "==";
    case Operator::not_equal: return "!=";
    case Operator::less: return "<";
    case Operator::less_equal: return "<=";
    case Operator::greater: return ">";
    case Operator::greater_equal: return ">=";
  }
  return "?";
}

std::span<const FunctionInfo> function_table() noexcept { return functions; }

const FunctionInfo* find_function(std::string_view name) noexcept {
  for (const FunctionInfo& info : functions) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

}  // namespace sluice::expr
