// Parsing: error positions and messages, field-path detection, and robustness against arbitrary input.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/core/record.hpp"
#include "sluice/expr/expression.hpp"

namespace sluice::expr {
namespace {

struct ErrorCase {
  std::string_view text;
  std::size_t position;
  std::string_view message;  // exact message
};

void expect_errors(std::initializer_list<ErrorCase> cases) {
  for (const ErrorCase& c : cases) {
    auto parsed = Expression::parse(c.text);
    const ParseError* error = std::get_if<ParseError>(&parsed);
    if (error == nullptr) {
      ADD_FAILURE() << "expected a parse error for: " << c.text;
      continue;
    }
    EXPECT_EQ(error->position, c.position) << c.text << " -> " << error->message;
    EXPECT_EQ(error->message, c.message) << c.text;
  }
}

ParseError parse_error(std::string_view text) {
  auto parsed = Expression::parse(text);
  if (auto* error = std::get_if<ParseError>(&parsed)) return *error;
  ADD_FAILURE() << "expected a parse error for: " << text;
  return {};
}

Expression parse_ok(std::string_view text) {
  auto parsed = Expression::parse(text);
  if (auto* error = std::get_if<ParseError>(&parsed)) {
    ADD_FAILURE() << text << ": parse error at " << error->position << ": " << error->message;
  }
  return std::get<Expression>(std::move(parsed));
}

TEST(ParseErrorTest, EmptyAndIncompleteInput) {
  expect_errors({
      {"", 0, "expected an expression, got end of input"},
      {"   ", 3, "expected an expression, got end of input"},
      {"1 +", 3, "expected an expression, got end of input"},
      {"not", 3, "expected an expression, got end of input"},
      {"-", 1, "expected an expression, got end of input"},
      {"amount ??", 9, "expected an expression, got end of input"},
      {"a and", 5, "expected an expression, got end of input"},
      {"lower(", 6, "expected an expression, got end of input"},
  });
}

TEST(ParseErrorTest, MissingOperands) {
  expect_errors({
      {"1 +* 2", 3, "expected an expression, got '*'"},
      {"* 2", 0, "expected an expression, got '*'"},
      {"(1 + )", 5, "expected an expression, got ')'"},
      {"a == ", 5, "expected an expression, got end of input"},
      {"[1, , 2]", 4, "expected an expression, got ','"},
      {"f(1,)", 0, "unknown function 'f'"},
      {"lower(1,)", 8, "expected an expression, got ')'"},
      {"x in", 4, "expected an expression, got end of input"},
  });
}

TEST(ParseErrorTest, UnbalancedBrackets) {
  expect_errors({
      {"(1 + 2", 6, "expected ')' to close '(' at 0, got end of input"},
      {"2 * (1 + 2", 10, "expected ')' to close '(' at 4, got end of input"},
      {"(1))", 3, "unexpected ')' without a matching '('"},
      {"1]", 1, "unexpected ']' without a matching '['"},
      {"[1, 2", 5, "expected ',' or ']' to close '[' at 0, got end of input"},
      {"items[0", 7, "expected ']' to close '[' at 5, got end of input"},
      {"items[0)", 7, "expected ']' to close '[' at 5, got ')'"},
      {"(1 + 2]", 6, "expected ')' to close '(' at 0, got ']'"},
      {"lower('a' 'b')", 10, "expected ',' or ')' to close '(' of 'lower' at 5, got string 'b'"},
  });
}

TEST(ParseErrorTest, StrayTokens) {
  expect_errors({
      {"1 2", 2, "expected an operator or end of input, got number 2"},
      {"amount price", 7, "expected an operator or end of input, got identifier 'price'"},
      {"x not 5", 2, "expected an operator or end of input, got 'not'"},
      {"'a' 'b'", 4, "expected an operator or end of input, got string 'b'"},
      {"a.", 2, "expected a field name after '.', got end of input"},
      {"a.1", 2, "expected a field name after '.', got number 1"},
      {"1 < 2 < 3", 6, "comparisons do not chain; use parentheses or 'and', got '<'"},
      {"a == b is null", 7, "comparisons do not chain; use parentheses or 'and', got 'is'"},
      {"x is 5", 5, "expected 'null' after 'is', got number 5"},
      {"x is not", 8, "expected 'null' after 'is not', got end of input"},
  });
}

TEST(ParseErrorTest, UnknownFunctionsAndArity) {
  expect_errors({
      {"lowr(name)", 0, "unknown function 'lowr'; did you mean 'lower'?"},
      {"upper(lowr(x))", 6, "unknown function 'lowr'; did you mean 'lower'?"},
      {"len(x)", 0, "unknown function 'len'; did you mean 'length'?"},
      {"frobnicate(1)", 0, "unknown function 'frobnicate'"},
      {"substr('a')", 0, "function 'substr' takes 2 or 3 arguments, got 1"},
      {"substr('a', 1, 2, 3)", 0, "function 'substr' takes 2 or 3 arguments, got 4"},
      {"lower('a', 'b')", 0, "function 'lower' takes 1 argument, got 2"},
      {"lower()", 0, "function 'lower' takes 1 argument, got 0"},
      {"replace('a', 'b')", 0, "function 'replace' takes 3 arguments, got 2"},
      {"now(1)", 0, "function 'now' takes no arguments, got 1"},
      {"concat()", 0, "function 'concat' takes at least 1 argument, got 0"},
      {"coalesce()", 0, "function 'coalesce' takes at least 1 argument, got 0"},
      {"1 + if(true, 1)", 4, "function 'if' takes 3 arguments, got 2"},
      {"`lower`(x)", 7, "expected an operator or end of input, got '('"},
  });
}

TEST(ParseErrorTest, BadTokens) {
  expect_errors({
      {"'abc", 0, "unterminated string; expected a closing '"},
      {"x == \"abc", 5, "unterminated string; expected a closing \""},
      {"'ab\\", 3, "unterminated string; expected a character after '\\'"},
      {"'\\q'", 1, "invalid escape 'q' in string; expected one of \\\\ \\' \\\" \\n \\r \\t \\uXXXX"},
      {"'\\u12'", 1, "invalid \\u escape: expected 4 hexadecimal digits"},
      {"'\\ude00'", 1, "invalid \\u escape: low surrogate without a preceding high surrogate"},
      {"'\\ud83d'", 1, "invalid \\u escape: high surrogate must be followed by a \\u low surrogate"},
      {"`abc", 0, "unterminated quoted identifier; expected a closing `"},
      {"``", 0, "empty quoted identifier ``"},
      {"$foo", 0, "unknown metadata '$foo'; expected one of $key, $value, $timestamp, $topic, $partition, $offset, $headers"},
      {"$ + 1", 0, "expected a metadata name after '$'; expected one of $key, $value, $timestamp, $topic, $partition, $offset, $headers"},
      {"12abc", 0, "invalid number '12abc'"},
      {"1e", 1, "expected digits in the exponent of the number"},
      {"9223372036854775808", 0, "integer 9223372036854775808 is out of range"},
      {"-9223372036854775809", 1, "integer -9223372036854775809 is out of range"},
      {"99999999999999999999", 0, "integer 99999999999999999999 is out of range"},
      {"1e999", 0, "number 1e999 is out of range"},
      {"a # b", 2, "unexpected character '#'"},
      {"a = 1", 2, "unexpected '='; use '==' to compare"},
      {"a & b", 2, "unexpected '&'; use '&&' or 'and'"},
      {"a | b", 2, "unexpected '|'; use '||' or 'or'"},
      {"a ? b", 2, "unexpected '?'; use '?" "?' for a default value"},
      {"a \x01", 2, "unexpected character byte 0x01"},
  });
}

TEST(ParseErrorTest, NestingIsBounded) {
  std::string deep_parentheses = std::string(1000, '(') + "1" + std::string(1000, ')');
  ParseError nesting = parse_error(deep_parentheses);
  EXPECT_NE(nesting.message.find("nested too deeply"), std::string::npos) << nesting.message;

  std::string deep_negation(100000, '-');
  EXPECT_NE(parse_error(deep_negation + "1").message.find("nested too deeply"), std::string::npos);
  EXPECT_NE(parse_error(std::string(100000, '!') + "x").message.find("nested too deeply"), std::string::npos);

  std::string long_chain = "x";
  for (int i = 0; i < 1000; ++i) long_chain += " or x";
  EXPECT_NE(parse_error(long_chain).message.find("nested too deeply"), std::string::npos);

  // Realistic sizes parse.
  std::string moderate_chain = "x";
  for (int i = 0; i < 100; ++i) moderate_chain += " + 1";
  EXPECT_TRUE(std::holds_alternative<Expression>(Expression::parse(moderate_chain)));
  std::string moderate_parentheses = std::string(50, '(') + "1" + std::string(50, ')');
  EXPECT_TRUE(std::holds_alternative<Expression>(Expression::parse(moderate_parentheses)));
}

TEST(ParseTest, KeepsTextAndCopiesShareTheTree) {
  Expression expression = parse_ok("amount * 2");
  EXPECT_EQ(expression.text(), "amount * 2");
  Expression copy = expression;
  Expression moved = std::move(expression);
  core::ManualClock clock;
  EvalContext context(clock);
  core::Record record;
  record.value = core::Value::object();
  record.value.set("amount", core::Value::integer(21));
  core::Result<core::Value> a = copy.evaluate(record, context);
  core::Result<core::Value> b = moved.evaluate(record, context);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a.value().as_integer(), 42);
  EXPECT_EQ(b.value().as_integer(), 42);
}

TEST(ParseTest, WhitespaceIsFlexible) {
  for (std::string_view text : {"1+2*3", " 1 +\t2 *\n3 ", "1+\r\n2*3"}) {
    Expression expression = parse_ok(text);
    core::ManualClock clock;
    EvalContext context(clock);
    core::Result<core::Value> result = expression.evaluate(core::Record{}, context);
    ASSERT_TRUE(result.ok()) << text;
    EXPECT_EQ(result.value().as_integer(), 7) << text;
  }
}

TEST(FieldPathTest, DottedIdentifiersAreFieldPaths) {
  struct Case {
    std::string_view text;
    bool is_path;
    std::string_view leaf;
  };
  for (const Case& c : {
           Case{"amount", true, "amount"},
           Case{"user.id", true, "id"},
           Case{"user.address.city", true, "city"},
           Case{"`odd name`", true, "odd name"},
           Case{"a.`b c`", true, "b c"},
           Case{"(user.id)", true, "id"},
           Case{"items[0]", false, ""},
           Case{"items[0].price", false, ""},
           Case{"$value.x", false, ""},
           Case{"$key", false, ""},
           Case{"$headers.trace", false, ""},
           Case{"a + b", false, ""},
           Case{"lower(a)", false, ""},
           Case{"'a'", false, ""},
           Case{"a ?? b", false, ""},
       }) {
    Expression expression = parse_ok(c.text);
    EXPECT_EQ(expression.is_field_path(), c.is_path) << c.text;
    EXPECT_EQ(expression.field_path_leaf(), c.leaf) << c.text;
  }
}

TEST(ValueFieldsTest, NamesEveryTopLevelFieldReadAndGivesUpOnTheWholeValue) {
  struct Case {
    std::string_view text;
    bool listed;  // false: reads $value whole
    std::vector<std::string> fields;
  };
  for (const Case& c : {
           Case{"amount > 10", true, {"amount"}},
           Case{"user.address.city == 'x' and amount > user.limit", true, {"user", "amount"}},
           Case{"items[idx].price", true, {"items", "idx"}},
           Case{"if(a is null, lower(b), concat(c, $key, $headers.h))", true, {"a", "b", "c"}},
           Case{"$timestamp + 1", true, {}},
           Case{"`odd name` ?? 0", true, {"odd name"}},
           Case{"$value.amount", false, {}},
           Case{"length(to_string($value))", false, {}},
       }) {
    Expression expression = parse_ok(c.text);
    std::vector<std::string> fields;
    EXPECT_EQ(expression.collect_value_fields(fields), c.listed) << c.text;
    if (c.listed) {
      EXPECT_EQ(fields, c.fields) << c.text;
    }
  }
}

// Evaluates whatever parsed, to exercise the evaluator on odd trees too; only crashes and sanitizer reports fail.
void evaluate_if_parsed(std::string_view text, const core::Record& record, EvalContext& context) {
  auto parsed = Expression::parse(text);
  if (auto* error = std::get_if<ParseError>(&parsed)) {
    EXPECT_LE(error->position, text.size()) << text;
    EXPECT_FALSE(error->message.empty()) << text;
    return;
  }
  const Expression& expression = std::get<Expression>(parsed);
  (void)expression.evaluate(record, context);
  (void)expression.test(record, context);
  (void)expression.is_field_path();
  (void)expression.field_path_leaf();
}

core::Record sample_record() {
  core::Record record;
  record.key = core::Value::string("k");
  record.value = core::Value::object();
  record.value.set("a", core::Value::integer(3));
  record.value.set("b", core::Value::floating(-0.5));
  record.value.set("s", core::Value::string("h\xC3\xA9llo"));
  record.value.set("n", core::Value());
  record.value.set("arr", core::Value::array({core::Value::integer(1), core::Value::string("x")}));
  record.value.set("big", core::Value::integer(INT64_MAX));
  record.headers = {{"h", "v"}};
  return record;
}

TEST(ParseFuzzTest, ArbitraryBytesNeverCrash) {
  std::mt19937 random(20261121);
  const std::string alphabet = "abnsx_019.eE+-*/%()[],'\"`$\\=!<>&|? \tinotrudlfk";
  std::uniform_int_distribution<std::size_t> length_distribution(0, 40);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> percent(0, 99);
  core::ManualClock clock;
  EvalContext context(clock);
  core::Record record = sample_record();
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string text;
    std::size_t length = length_distribution(random);
    for (std::size_t i = 0; i < length; ++i) {
      text.push_back(percent(random) < 10 ? static_cast<char>(byte(random)) : alphabet[pick(random)]);
    }
    evaluate_if_parsed(text, record, context);
  }
}

TEST(ParseFuzzTest, RandomTokenSoupNeverCrashes) {
  const std::vector<std::string_view> tokens = {
      "a",      "b",       "s",         "n",     "arr",      "big",    "missing", ".",     "[",      "]",
      "(",      ")",       ",",         "0",     "1",        "-1",     "2.5",     "1e3",   "'x'",    "''",
      "+",      "-",       "*",         "/",     "%",        "==",     "!=",      "<",     "<=",     ">",
      ">=",     "and",     "or",        "not",   "!",        "&&",     "||",      "??",    "is",     "null",
      "in",     "true",    "false",     "$key",  "$value",   "$headers", "$timestamp", "$topic", "lower(", "substr(",
      "concat(", "split(", "round(",    "if(",   "coalesce(", "to_int(", "length(", "now()", "abs(",  "format_time(",
      "to_number(", "replace(", "parse_time(", "`a`", "[1, 2]", "9223372036854775807",
  };
  std::mt19937 random(7);
  std::uniform_int_distribution<std::size_t> count_distribution(1, 12);
  std::uniform_int_distribution<std::size_t> pick(0, tokens.size() - 1);
  core::ManualClock clock(1'700'000'000'000);
  EvalContext context(clock);
  core::Record record = sample_record();
  int parsed_count = 0;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string text;
    std::size_t count = count_distribution(random);
    for (std::size_t i = 0; i < count; ++i) {
      text += tokens[pick(random)];
      text += ' ';
    }
    if (std::holds_alternative<Expression>(Expression::parse(text))) ++parsed_count;
    evaluate_if_parsed(text, record, context);
  }
  EXPECT_GT(parsed_count, 100);  // the soup must reach the evaluator often enough to mean something
}

}  // namespace
}  // namespace sluice::expr
