// Semantics of evaluation: operators, precedence, null handling, paths, metadata and every function.
// Results are compared as compact JSON, which also tells integers ("3") from doubles ("3.0").
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "sluice/core/clock.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/json.hpp"
#include "sluice/core/record.hpp"
#include "sluice/expr/expression.hpp"

namespace sluice::expr {
namespace {

using core::Value;

constexpr std::string_view record_json = R"({
  "amount": 12, "price": 2.5, "name": "Ada", "empty": "", "flag": true, "off": false, "nothing": null,
  "user": {"id": 7, "address": {"city": "Paris"}, "tags": ["a", "b", "c"]},
  "items": [{"price": 1}, {"price": 2}, {"price": 3}],
  "nums": [10, 20, 30],
  "odd name": {"x": 1},
  "keywords": {"in": 5, "null": 6},
  "text": "h\u00e9llo w\u00f6rld",
  "big": 9223372036854775807, "small": -9223372036854775808,
  "csv": "a,,b,", "spaced": "  hi  ", "when": "2026-11-21T10:15:30Z"
})";

Value parse_json(std::string_view text) {
  core::JsonParser parser;
  core::Result<Value> result = parser.parse(text);
  EXPECT_TRUE(result.ok()) << text;
  return result.ok() ? std::move(result).value() : Value();
}

struct Case {
  std::string_view expression;
  // Compact JSON of the result; "error(kind)" matches any error of that kind, "error(kind): message" exactly.
  std::string_view expected;
};

class EvaluateTest : public ::testing::Test {
 protected:
  EvaluateTest() : context_(clock_) {
    record_.key = Value::string("k1");
    record_.value = parse_json(record_json);
    record_.timestamp_ms = 1'700'000'000'123;
    record_.headers = {{"trace", "abc"}, {"dup", "first"}, {"dup", "second"}, {"content-type", "json"}};
  }

  std::string eval(std::string_view text) {
    auto parsed = Expression::parse(text);
    if (auto* error = std::get_if<ParseError>(&parsed)) {
      return "parse error at " + std::to_string(error->position) + ": " + error->message;
    }
    core::Result<Value> result = std::get<Expression>(parsed).evaluate(record_, context_);
    if (!result.ok()) {
      return "error(" + std::string(core::to_string(result.error().kind)) + "): " + result.error().message;
    }
    return core::to_json(result.value());
  }

  void check(std::initializer_list<Case> cases) {
    for (const Case& c : cases) {
      std::string actual = eval(c.expression);
      std::string_view expected = c.expected;
      bool kind_only = expected.starts_with("error(") && expected.ends_with(")");
      if (kind_only) {
        EXPECT_TRUE(actual.starts_with(std::string(expected) + ":")) << c.expression << " -> " << actual;
      } else {
        EXPECT_EQ(actual, expected) << c.expression;
      }
    }
  }

  core::ManualClock clock_{1'800'000'000'000};
  EvalContext context_;
  core::Record record_;
};

TEST_F(EvaluateTest, Literals) {
  check({
      {"42", "42"},
      {"-1.5", "-1.5"},
      {"1e3", "1000.0"},
      {"1.5e-1", "0.15"},
      {"2E+2", "200.0"},
      {"'text'", "\"text\""},
      {"\"text\"", "\"text\""},
      {"true", "true"},
      {"false", "false"},
      {"null", "null"},
      {"[1, 2, 'x']", "[1,2,\"x\"]"},
      {"[]", "[]"},
      {"[[1], [amount]]", "[[1],[12]]"},
      {"9223372036854775807", "9223372036854775807"},
      {"-9223372036854775808", "-9223372036854775808"},
      {"007", "7"},
  });
}

TEST_F(EvaluateTest, StringEscapes) {
  check({
      {R"('a\'b')", R"("a'b")"},
      {R"("q\"q")", R"("q\"q")"},
      {R"('back\\slash')", R"("back\\slash")"},
      {R"('tab\there')", R"("tab\there")"},
      {R"('line\nbreak')", R"("line\nbreak")"},
      {R"('\u00e9')", "\"\xC3\xA9\""},
      {R"('\u20AC')", "\"\xE2\x82\xAC\""},
      {R"('\ud83d\ude00')", "\"\xF0\x9F\x98\x80\""},
      {R"("it's")", R"("it's")"},
      {R"('say "hi"')", R"("say \"hi\"")"},
  });
}

TEST_F(EvaluateTest, IntegerArithmetic) {
  check({
      {"1 + 2", "3"},
      {"7 - 10", "-3"},
      {"6 * 7", "42"},
      {"7 % 3", "1"},
      {"-7 % 3", "-1"},
      {"amount + 1", "13"},
      {"amount * amount", "144"},
  });
}

TEST_F(EvaluateTest, DivisionAlwaysYieldsDouble) {
  check({
      {"7 / 2", "3.5"},
      {"6 / 3", "2.0"},
      {"amount / 4", "3.0"},
      {"-9 / 2", "-4.5"},
  });
}

TEST_F(EvaluateTest, MixedArithmeticYieldsDouble) {
  check({
      {"1 + 2.5", "3.5"},
      {"2 * 1.5", "3.0"},
      {"price - 1", "1.5"},
      {"7.5 % 2", "1.5"},
      {"price * amount", "30.0"},
  });
}

TEST_F(EvaluateTest, StringConcatenationWithPlus) {
  check({
      {"'a' + 'b'", "\"ab\""},
      {"name + '!'", "\"Ada!\""},
      {"empty + empty", "\"\""},
      {"'a' - 'b'", "error(type_error): cannot apply '-' to string and string"},
  });
}

TEST_F(EvaluateTest, ArithmeticTypeErrors) {
  check({
      {"'a' * 2", "error(type_error): cannot apply '*' to string and integer"},
      {"2 * 'a'", "error(type_error): cannot apply '*' to integer and string"},
      {"'a' + 1", "error(type_error)"},
      {"true + 1", "error(type_error): cannot apply '+' to boolean and integer"},
      {"[1] + [2]", "error(type_error)"},
      {"user / 2", "error(type_error)"},
      {"-'a'", "error(type_error): cannot apply unary '-' to string"},
      {"-true", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, ArithmeticWithNullYieldsNull) {
  check({
      {"nothing + 1", "null"},
      {"1 - missing", "null"},
      {"missing * 2", "null"},
      {"1 / nothing", "null"},
      {"nothing % 0", "null"},
      {"-nothing", "null"},
      {"nothing + 'a'", "null"},
      {"null * 'a'", "null"},
  });
}

TEST_F(EvaluateTest, IntegerOverflowIsAnArithmeticError) {
  check({
      {"big + 1", "error(arithmetic): integer overflow in '+'"},
      {"small - 1", "error(arithmetic): integer overflow in '-'"},
      {"big * 2", "error(arithmetic): integer overflow in '*'"},
      {"-small", "error(arithmetic): integer overflow in unary '-'"},
      {"-(small)", "error(arithmetic)"},
      {"big - 1", "9223372036854775806"},
      {"small % -1", "0"},
      {"small / -1", "9223372036854775808.0"},
      {"big + 1.0", "9223372036854775808.0"},
  });
}

TEST_F(EvaluateTest, DivisionAndModuloByZero) {
  check({
      {"1 / 0", "error(arithmetic): division by zero"},
      {"1 / 0.0", "error(arithmetic): division by zero"},
      {"1.5 / 0", "error(arithmetic): division by zero"},
      {"1 % 0", "error(arithmetic): modulo by zero"},
      {"1.5 % 0.0", "error(arithmetic): modulo by zero"},
      {"amount / (amount - 12)", "error(arithmetic)"},
  });
}

TEST_F(EvaluateTest, ArithmeticPrecedenceAndAssociativity) {
  check({
      {"1 + 2 * 3", "7"},
      {"(1 + 2) * 3", "9"},
      {"10 - 4 - 3", "3"},
      {"10 - (4 - 3)", "9"},
      {"2 * 3 % 4", "2"},
      {"2 * (3 % 4)", "6"},
      {"100 / 10 / 5", "2.0"},
      {"1 + 10 % 4", "3"},
      {"-2 * 3", "-6"},
      {"- -3", "3"},
      {"-amount", "-12"},
      {"-price", "-2.5"},
      {"-(1 + 2)", "-3"},
      {"2 - -1", "3"},
      {"-nums[0]", "-10"},
      {"-user.id * 2", "-14"},
  });
}

TEST_F(EvaluateTest, Equality) {
  check({
      {"1 == 1", "true"},
      {"1 == 1.0", "true"},
      {"1 != 2", "true"},
      {"1 != 1.0", "false"},
      {"'a' == 'a'", "true"},
      {"'a' == 'b'", "false"},
      {"null == null", "true"},
      {"nothing == null", "true"},
      {"missing == nothing", "true"},
      {"amount == null", "false"},
      {"1 == '1'", "false"},
      {"true == 1", "false"},
      {"true != false", "true"},
      {"[1, 2] == [1, 2]", "true"},
      {"[1, 2] == [2, 1]", "false"},
      {"nums == [10, 20, 30.0]", "true"},
      {"user.address == user.address", "true"},
      {"name == 'Ada'", "true"},
  });
}

TEST_F(EvaluateTest, OrderingComparisons) {
  check({
      {"1 < 2", "true"},
      {"2 < 1", "false"},
      {"2 <= 2", "true"},
      {"3 > 2.5", "true"},
      {"2.5 >= 3", "false"},
      {"2.0 >= 2", "true"},
      {"amount > 10", "true"},
      {"'abc' < 'abd'", "true"},
      {"'b' > 'a'", "true"},
      {"'Z' < 'a'", "true"},
      {"'ab' < 'abc'", "true"},
      {"'\\u00e9' > 'z'", "true"},
      {"9007199254740993 > 9007199254740992.0", "true"},
      {"9007199254740992.0 < 9007199254740993", "true"},
      {"big < 9223372036854775808.0", "true"},
      {"small >= -9223372036854775808.0", "true"},
      {"-1 < -0.5", "true"},
  });
}

TEST_F(EvaluateTest, OrderingWithNullYieldsNull) {
  check({
      {"nothing < 1", "null"},
      {"1 > missing", "null"},
      {"nothing <= nothing", "null"},
      {"'a' >= null", "null"},
  });
}

TEST_F(EvaluateTest, OrderingTypeErrors) {
  check({
      {"'a' < 1", "error(type_error): cannot compare string and integer with '<'"},
      {"true < false", "error(type_error)"},
      {"[1] < [2]", "error(type_error)"},
      {"user >= user", "error(type_error)"},
      {"price > 'x'", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, ThreeValuedAnd) {
  check({
      {"true and true", "true"},
      {"true and false", "false"},
      {"false and true", "false"},
      {"false and false", "false"},
      {"true and nothing", "null"},
      {"nothing and true", "null"},
      {"false and nothing", "false"},
      {"nothing and false", "false"},
      {"nothing and nothing", "null"},
      {"true && true", "true"},
  });
}

TEST_F(EvaluateTest, ThreeValuedOr) {
  check({
      {"true or false", "true"},
      {"false or true", "true"},
      {"false or false", "false"},
      {"true or true", "true"},
      {"true or nothing", "true"},
      {"nothing or true", "true"},
      {"false or nothing", "null"},
      {"nothing or false", "null"},
      {"nothing or nothing", "null"},
      {"false || true", "true"},
  });
}

TEST_F(EvaluateTest, Not) {
  check({
      {"not true", "false"},
      {"not false", "true"},
      {"!false", "true"},
      {"!!true", "true"},
      {"not not flag", "true"},
      {"not nothing", "null"},
      {"not 1", "error(type_error): cannot apply 'not' to integer"},
      {"!'x'", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, LogicTypeErrors) {
  check({
      {"1 and true", "error(type_error): 'and' needs boolean operands, got integer"},
      {"true and 1", "error(type_error)"},
      {"'x' or false", "error(type_error): 'or' needs boolean operands, got string"},
      {"false or 1", "error(type_error)"},
      {"nothing and 'x'", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, LogicShortCircuits) {
  check({
      {"false and (1 / 0 > 1)", "false"},
      {"true or (1 / 0 > 1)", "true"},
      {"false and 1", "false"},
      {"true or 'x'", "true"},
      {"off && 1 % 0 == 0", "false"},
      {"true and (1 / 0 > 1)", "error(arithmetic): division by zero"},
      {"nothing and (1 / 0 > 1)", "error(arithmetic)"},
      {"false or (1 / 0 > 1)", "error(arithmetic)"},
  });
}

TEST_F(EvaluateTest, LogicPrecedence) {
  check({
      {"true or false and false", "true"},
      {"(true or false) and false", "false"},
      {"not false and false", "false"},
      {"not (false and false)", "true"},
      {"not 1 == 2", "true"},
      {"!(1 > 2)", "true"},
      {"true || false && false", "true"},
      {"1 == 1 and 2 == 2", "true"},
      {"amount > 10 and price < 3 or false", "true"},
      {"1 + 1 == 2 and not off", "true"},
  });
}

TEST_F(EvaluateTest, Coalesce) {
  check({
      {"nothing ?? 5", "5"},
      {"amount ?? 5", "12"},
      {"missing ?? nothing ?? 'x'", "\"x\""},
      {"missing ?? 1 + 1", "2"},
      {"2 ?? 1 + 1", "2"},
      {"amount ?? 0 > 5", "true"},
      {"missing ?? 0 > 5", "false"},
      {"amount ?? (1 / 0)", "12"},
      {"nothing ?? (1 / 0)", "error(arithmetic)"},
      {"off ?? true", "false"},
      {"(missing ?? 3) * 2", "6"},
      {"missing ?? 3 * 2", "6"},
  });
}

TEST_F(EvaluateTest, IsNull) {
  check({
      {"nothing is null", "true"},
      {"missing is null", "true"},
      {"amount is null", "false"},
      {"amount is not null", "true"},
      {"nothing is not null", "false"},
      {"user.address.zip is null", "true"},
      {"not amount is null", "true"},
      {"amount ?? 0 is null", "false"},
      {"nothing is null and amount is not null", "true"},
      {"1 / nothing is null", "true"},
  });
}

TEST_F(EvaluateTest, Membership) {
  check({
      {"amount in [1, 12, 3]", "true"},
      {"amount in [1, 2]", "false"},
      {"amount not in [1, 2]", "true"},
      {"amount not in [12]", "false"},
      {"12.0 in [12]", "true"},
      {"amount in []", "false"},
      {"'b' in user.tags", "true"},
      {"'z' in user.tags", "false"},
      {"'z' not in user.tags", "true"},
      {"nothing in [1, null]", "true"},
      {"nothing in [1]", "false"},
      {"1 in missing", "null"},
      {"1 not in missing", "null"},
      {"1 in 'abc'", "error(type_error): 'in' needs an array on its right, got string"},
      {"amount in [12, 1 / 0]", "true"},
      {"amount in [1, 1 / 0]", "error(arithmetic)"},
      {"not amount in [1]", "true"},
      {"amount + 1 in [13]", "true"},
      {"name in ['Bob', 'Ada'] and flag", "true"},
  });
}

TEST_F(EvaluateTest, FieldPathsAndIndexes) {
  check({
      {"amount", "12"},
      {"user.id", "7"},
      {"user.address.city", "\"Paris\""},
      {"user.tags", "[\"a\",\"b\",\"c\"]"},
      {"items[0].price", "1"},
      {"items[2].price", "3"},
      {"items[-1].price", "3"},
      {"items[-3].price", "1"},
      {"nums[1]", "20"},
      {"nums[-1]", "30"},
      {"user['id']", "7"},
      {"user['address']['city']", "\"Paris\""},
      {"user.tags[1]", "\"b\""},
      {"nums[amount - 11]", "20"},
      {"nums[1.0]", "20"},
      {"nums[4 / 2]", "30"},
      {"[5, 6, 7][1]", "6"},
      {"keywords.in", "5"},
      {"keywords.null", "6"},
      {"(user).id", "7"},
  });
}

TEST_F(EvaluateTest, MissingPathsYieldNull) {
  check({
      {"missing", "null"},
      {"items[3]", "null"},
      {"items[-4]", "null"},
      {"items[100].price", "null"},
      {"user.missing.deeper", "null"},
      {"name.first", "null"},
      {"amount[0]", "null"},
      {"nums.x", "null"},
      {"user[0]", "null"},
      {"nums['a']", "null"},
      {"nothing.x[0]", "null"},
      {"nums[nothing]", "null"},
      {"nums[missing]", "null"},
  });
}

TEST_F(EvaluateTest, BadIndexTypes) {
  check({
      {"nums[0.5]", "error(type_error): an array index must be a whole number, got 0.5"},
      {"nums[true]", "error(type_error): an index must be a string or an integer, got boolean"},
      {"nums[[0]]", "error(type_error)"},
      {"nums[1 / 0]", "error(arithmetic)"},
  });
}

TEST_F(EvaluateTest, BackquotedIdentifiers) {
  check({
      {"`odd name`.x", "1"},
      {"`odd name`['x']", "1"},
      {"`amount` + 1", "13"},
      {"user.`id`", "7"},
      {"$value.`odd name`.x", "1"},
      {"`in`", "null"},
  });
}

TEST_F(EvaluateTest, ValueThatIsNotAnObject) {
  record_.value = Value::integer(5);
  check({
      {"amount", "null"},
      {"$value", "5"},
      {"$value + 1", "6"},
      {"$value.x", "null"},
  });
  record_.value = parse_json("[1, 2]");
  check({{"$value[1]", "2"}, {"x", "null"}});
}

TEST_F(EvaluateTest, RecordMetadata) {
  check({
      {"$key", "\"k1\""},
      {"$key == 'k1'", "true"},
      {"$value.amount", "12"},
      {"$value['user'].id", "7"},
      {"$timestamp", "1700000000123"},
      {"$timestamp + 1", "1700000000124"},
      {"$topic", "null"},
      {"$partition", "null"},
      {"$offset", "null"},
  });
  record_.key = Value();
  check({{"$key", "null"}, {"$key ?? 'none'", "\"none\""}});
}

TEST_F(EvaluateTest, OriginMetadata) {
  core::Origin origin;
  origin.topic = "orders";
  origin.partition = 3;
  origin.offset = 42;
  context_.set_origin(&origin);
  check({
      {"$topic", "\"orders\""},
      {"$partition", "3"},
      {"$offset", "42"},
      {"$topic + '-' + to_string($partition)", "\"orders-3\""},
      {"$offset + 1", "43"},
  });
  context_.set_origin(nullptr);
  check({{"$topic", "null"}});
}

TEST_F(EvaluateTest, Headers) {
  check({
      {"$headers.trace", "\"abc\""},
      {"$headers.dup", "\"second\""},
      {"$headers.`content-type`", "\"json\""},
      {"$headers['content-type']", "\"json\""},
      {"$headers.missing", "null"},
      {"$headers.missing is null", "true"},
      {"$headers", R"({"trace":"abc","dup":"second","content-type":"json"})"},
      {"$headers[concat('tr', 'ace')]", "\"abc\""},
      {"length($headers)", "3"},
  });
  record_.headers.clear();
  check({{"$headers.trace", "null"}, {"$headers", "{}"}});
}

// A header whose value is null reads as null, and an empty one as "" (issue 11, item 5).
TEST_F(EvaluateTest, NullAndEmptyHeaderValues) {
  record_.headers = {{"none", std::nullopt}, {"empty", ""}, {"later_null", "x"}, {"later_null", std::nullopt}};
  check({
      {"$headers.none", "null"},
      {"$headers.none is null", "true"},
      {"$headers.empty", "\"\""},
      {"$headers.empty is null", "false"},
      {"$headers.later_null", "null"},
      {"$headers", R"({"none":null,"empty":"","later_null":null})"},
  });
}

TEST_F(EvaluateTest, LowerAndUpper) {
  check({
      {"lower('AbC')", "\"abc\""},
      {"upper('AbC')", "\"ABC\""},
      {"lower(name)", "\"ada\""},
      {"upper('\\u00e9a')", "\"\xC3\xA9" "A\""},  // only ASCII letters change
      {"lower(nothing)", "null"},
      {"upper(missing)", "null"},
      {"lower(1)", "error(type_error): function 'lower' expects a string as argument 1, got integer"},
      {"upper(true)", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, Trim) {
  check({
      {"trim(spaced)", "\"hi\""},
      {"trim('x')", "\"x\""},
      {"trim('\\t a b \\n')", "\"a b\""},
      {"trim('   ')", "\"\""},
      {"trim(nothing)", "null"},
      {"trim(1)", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, Length) {
  check({
      {"length('hello')", "5"},
      {"length(text)", "11"},
      {"length('\\ud83d\\ude00')", "1"},
      {"length('')", "0"},
      {"length(nums)", "3"},
      {"length([])", "0"},
      {"length(user)", "3"},
      {"length(nothing)", "null"},
      {"length(1)", "error(type_error): function 'length' expects a string, array or object as argument 1, got integer"},
      {"length(true)", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, Substr) {
  check({
      {"substr('hello', 1)", "\"ello\""},
      {"substr('hello', 1, 3)", "\"ell\""},
      {"substr('hello', 0, 0)", "\"\""},
      {"substr(text, 1, 4)", "\"\xC3\xA9llo\""},
      {"substr(text, 7)", "\"\xC3\xB6rld\""},
      {"substr('\\ud83d\\ude00x', 1)", "\"x\""},
      {"substr('hello', 10)", "\"\""},
      {"substr('hello', -2)", "\"hello\""},
      {"substr('hello', 2, 100)", "\"llo\""},
      {"substr('hello', 1, -1)", "\"\""},
      {"substr('abc', 1.0)", "\"bc\""},
      {"substr(nothing, 1)", "null"},
      {"substr('a', nothing)", "null"},
      {"substr('abc', 0, nothing)", "null"},
      {"substr(1, 1)", "error(type_error)"},
      {"substr('abc', 'x')", "error(type_error): function 'substr' expects an integer as argument 2, got string"},
      {"substr('abc', 0.5)", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, ContainsStartsWithEndsWith) {
  check({
      {"contains('hello', 'ell')", "true"},
      {"contains('hello', 'z')", "false"},
      {"contains('abc', '')", "true"},
      {"contains(nothing, 'a')", "null"},
      {"contains('a', nothing)", "null"},
      {"contains('a', 1)", "error(type_error): function 'contains' expects a string as argument 2, got integer"},
      {"starts_with(name, 'Ad')", "true"},
      {"starts_with(name, 'da')", "false"},
      {"starts_with(missing, 'a')", "null"},
      {"starts_with(1, 'a')", "error(type_error)"},
      {"ends_with(name, 'da')", "true"},
      {"ends_with(name, 'Ad')", "false"},
      {"ends_with('a', nothing)", "null"},
      {"ends_with('a', [1])", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, Replace) {
  check({
      {"replace('a-b-c', '-', '+')", "\"a+b+c\""},
      {"replace('aaa', 'a', 'bb')", "\"bbbbbb\""},
      {"replace('abc', 'x', 'y')", "\"abc\""},
      {"replace('abc', '', 'x')", "\"abc\""},
      {"replace('abab', 'ab', '')", "\"\""},
      {"replace(nothing, 'a', 'b')", "null"},
      {"replace('a', 'a', nothing)", "null"},
      {"replace('a', 1, 'b')", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, SplitKeepsEmptyParts) {
  check({
      {"split('a,b,c', ',')", R"(["a","b","c"])"},
      {"split(csv, ',')", R"(["a","","b",""])"},
      {"split('', ',')", R"([""])"},
      {"split('a::b', '::')", R"(["a","b"])"},
      {"split('abc', ',')", R"(["abc"])"},
      {"split('a,b', ',')[1]", "\"b\""},
      {"split('a', '')", "error(invalid_value): function 'split': the separator must not be empty"},
      {"split(nothing, ',')", "null"},
      {"split(1, ',')", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, Concat) {
  check({
      {"concat('a', 'b')", "\"ab\""},
      {"concat('a', 1, nothing, true, 2.5, [1], 'z')", "\"a1true2.5[1]z\""},
      {"concat(nothing)", "\"\""},
      {"concat(user.address)", R"("{\"city\":\"Paris\"}")"},
      {"concat(name, '-', user.id)", "\"Ada-7\""},
      {"concat('x', 1 / 0)", "error(arithmetic)"},
  });
}

TEST_F(EvaluateTest, ToString) {
  check({
      {"to_string('x')", "\"x\""},
      {"to_string(1)", "\"1\""},
      {"to_string(2.5)", "\"2.5\""},
      {"to_string(true)", "\"true\""},
      {"to_string(nums)", "\"[10,20,30]\""},
      {"to_string(user.address)", R"("{\"city\":\"Paris\"}")"},
      {"to_string(nothing)", "null"},
  });
}

TEST_F(EvaluateTest, ToNumber) {
  check({
      {"to_number('42')", "42"},
      {"to_number('-3')", "-3"},
      {"to_number('2.5')", "2.5"},
      {"to_number(' 7 ')", "7"},
      {"to_number('+4')", "4"},
      {"to_number('1e3')", "1000.0"},
      {"to_number('99999999999999999999')", "1e+20"},
      {"to_number(5)", "5"},
      {"to_number(2.5)", "2.5"},
      {"to_number('abc')", "error(invalid_value): function 'to_number': \"abc\" is not a number"},
      {"to_number('')", "error(invalid_value)"},
      {"to_number('12abc')", "error(invalid_value)"},
      {"to_number('nan')", "error(invalid_value)"},
      {"to_number('inf')", "error(invalid_value)"},
      {"to_number('1e999')", "error(invalid_value)"},
      {"to_number('+-1')", "error(invalid_value)"},
      {"to_number(nothing)", "null"},
      {"to_number(true)", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, ToInt) {
  check({
      {"to_int(2.9)", "2"},
      {"to_int(-2.9)", "-2"},
      {"to_int('42')", "42"},
      {"to_int('4.7')", "4"},
      {"to_int(7)", "7"},
      {"to_int(7 / 2)", "3"},
      {"to_int('x')", "error(invalid_value)"},
      {"to_int(nothing)", "null"},
      {"to_int(true)", "error(type_error)"},
      {"to_int(1e300)", "error(arithmetic)"},
  });
}

TEST_F(EvaluateTest, Abs) {
  check({
      {"abs(-3)", "3"},
      {"abs(3)", "3"},
      {"abs(-2.5)", "2.5"},
      {"abs(small)", "error(arithmetic): integer overflow in 'abs'"},
      {"abs(nothing)", "null"},
      {"abs('a')", "error(type_error): function 'abs' expects a number as argument 1, got string"},
  });
}

TEST_F(EvaluateTest, Round) {
  check({
      {"round(2.5)", "3"},
      {"round(-2.5)", "-3"},
      {"round(2.4)", "2"},
      {"round(7)", "7"},
      {"round(3.14159, 2)", "3.14"},
      {"round(2.5, 0)", "3.0"},
      {"round(1234, -2)", "1200"},
      {"round(1250, -2)", "1300"},
      {"round(-1250, -2)", "-1300"},
      {"round(5, 2)", "5"},
      {"round(big, -19)", "0"},
      {"round(big, -1)", "error(arithmetic)"},
      {"round(1234.5, -2)", "1200.0"},
      {"round(1.5, 400)", "1.5"},
      {"round(1.5, -400)", "0.0"},
      {"round(1.5, -9223372036854775808)", "0.0"},
      {"round(15, -9223372036854775808)", "0"},
      {"round(1.5, 9223372036854775807)", "1.5"},
      {"round(nothing)", "null"},
      {"round(2.5, nothing)", "null"},
      {"round('a')", "error(type_error)"},
      {"round(1.5, 'x')", "error(type_error)"},
      {"round(1e300)", "error(arithmetic)"},
  });
}

TEST_F(EvaluateTest, FloorAndCeil) {
  check({
      {"floor(2.7)", "2"},
      {"floor(-2.1)", "-3"},
      {"floor(5)", "5"},
      {"floor(nothing)", "null"},
      {"floor('a')", "error(type_error)"},
      {"floor(-1e300)", "error(arithmetic)"},
      {"ceil(2.1)", "3"},
      {"ceil(-2.7)", "-2"},
      {"ceil(5)", "5"},
      {"ceil(missing)", "null"},
      {"ceil([1])", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, If) {
  check({
      {"if(true, 1, 2)", "1"},
      {"if(false, 1, 2)", "2"},
      {"if(nothing, 1, 2)", "2"},
      {"if(amount > 10, 'big', 'small')", "\"big\""},
      {"if(true, 1, 1 / 0)", "1"},
      {"if(false, 1 / 0, 2)", "2"},
      {"if(1, 1, 2)", "error(type_error): function 'if' expects a boolean as argument 1, got integer"},
      {"if(true, nothing, 2)", "null"},
  });
}

TEST_F(EvaluateTest, CoalesceFunction) {
  check({
      {"coalesce(nothing, missing, 3)", "3"},
      {"coalesce(nothing)", "null"},
      {"coalesce(amount)", "12"},
      {"coalesce(1, 1 / 0)", "1"},
      {"coalesce(nothing, 'x', 1 / 0)", "\"x\""},
      {"coalesce(nothing, 1 / 0)", "error(arithmetic)"},
  });
}

TEST_F(EvaluateTest, Now) {
  check({{"now()", "1800000000000"}, {"now() - $timestamp", "99999999877"}});
  clock_.advance_ms(5);
  check({{"now()", "1800000000005"}});
}

TEST_F(EvaluateTest, ParseTime) {
  check({
      {"parse_time('2026-11-21T10:15:30Z')", "1795256130000"},
      {"parse_time('2026-11-21T10:15:30.250+01:00')", "1795252530250"},
      {"parse_time(when)", "1795256130000"},
      {"parse_time('nope')", "error(invalid_value): function 'parse_time': \"nope\" is not an ISO 8601 time"},
      {"parse_time(nothing)", "null"},
      {"parse_time(1)", "error(type_error)"},
  });
}

TEST_F(EvaluateTest, FormatTime) {
  std::string expected = "\"" + core::format_iso8601_ms(1'795'256'130'000) + "\"";
  EXPECT_EQ(eval("format_time(1795256130000)"), expected);
  EXPECT_EQ(eval("format_time(1795256130000.0)"), expected);
  EXPECT_EQ(eval("format_time(parse_time(when))"), expected);
  EXPECT_EQ(eval("parse_time(format_time($timestamp)) == $timestamp"), "true");
  check({
      {"format_time(nothing)", "null"},
      {"format_time('x')", "error(type_error)"},
      {"format_time(big)", "error(invalid_value)"},
      {"format_time(1e300)", "error(arithmetic)"},
  });
}

TEST_F(EvaluateTest, NestedFunctionCalls) {
  check({
      {"upper(substr(trim(spaced), 0, 1)) + substr(trim(spaced), 1)", "\"Hi\""},
      {"length(split(csv, ',')) * 2", "8"},
      {"to_int(to_number('3') * 1.5)", "4"},
      {"lower(concat(name, '_', if(flag, 'ON', 'OFF')))", "\"ada_on\""},
  });
}

TEST_F(EvaluateTest, TestReadsPredicates) {
  auto run = [&](std::string_view text) {
    auto parsed = Expression::parse(text);
    EXPECT_TRUE(std::holds_alternative<Expression>(parsed)) << text;
    return std::get<Expression>(parsed).test(record_, context_);
  };
  core::Result<bool> yes = run("amount > 5");
  ASSERT_TRUE(yes.ok());
  EXPECT_TRUE(yes.value());
  core::Result<bool> no = run("amount < 5");
  ASSERT_TRUE(no.ok());
  EXPECT_FALSE(no.value());
  core::Result<bool> unknown = run("amount > missing");
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown.value());
  core::Result<bool> null_literal = run("nothing");
  ASSERT_TRUE(null_literal.ok());
  EXPECT_FALSE(null_literal.value());
  core::Result<bool> not_boolean = run("amount");
  ASSERT_FALSE(not_boolean.ok());
  EXPECT_EQ(not_boolean.error().kind, core::RecordErrorKind::type_error);
  EXPECT_EQ(not_boolean.error().message, "a condition must be a boolean or null, got integer");
  core::Result<bool> failing = run("1 / 0 > 0");
  ASSERT_FALSE(failing.ok());
  EXPECT_EQ(failing.error().kind, core::RecordErrorKind::arithmetic);
  core::Result<bool> short_circuit = run("false and (1 / 0 > 1)");
  ASSERT_TRUE(short_circuit.ok());
  EXPECT_FALSE(short_circuit.value());
}

TEST_F(EvaluateTest, EvaluateReturnsCopiesAndLeavesTheRecordAlone) {
  Value before = record_.value;
  auto parsed = Expression::parse("user");
  ASSERT_TRUE(std::holds_alternative<Expression>(parsed));
  const Expression& expression = std::get<Expression>(parsed);
  core::Result<Value> first = expression.evaluate(record_, context_);
  ASSERT_TRUE(first.ok());
  first.value().set("id", Value::integer(99));
  EXPECT_TRUE(record_.value == before);
  core::Result<Value> second = expression.evaluate(record_, context_);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(core::to_json(second.value()), R"({"id":7,"address":{"city":"Paris"},"tags":["a","b","c"]})");
}

TEST_F(EvaluateTest, ComputedStringsCanBeEvaluatedRepeatedly) {
  // The result is moved out of its scratch slot; the next evaluation must rebuild it correctly.
  auto parsed = Expression::parse("name + '!' + to_string($timestamp)");
  ASSERT_TRUE(std::holds_alternative<Expression>(parsed));
  const Expression& expression = std::get<Expression>(parsed);
  for (int i = 0; i < 5; ++i) {
    record_.timestamp_ms = i;
    core::Result<Value> result = expression.evaluate(record_, context_);
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result.value().as_string(), "Ada!" + std::to_string(i));
  }
}

TEST_F(EvaluateTest, ExpressionsShareOneContext) {
  auto small = Expression::parse("amount + 1");
  auto large = Expression::parse("concat(name, amount, price, user.id, nums[0], [1, 2, 3])");
  ASSERT_TRUE(std::holds_alternative<Expression>(small));
  ASSERT_TRUE(std::holds_alternative<Expression>(large));
  for (int i = 0; i < 3; ++i) {
    core::Result<Value> a = std::get<Expression>(small).evaluate(record_, context_);
    core::Result<Value> b = std::get<Expression>(large).evaluate(record_, context_);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(core::to_json(a.value()), "13");
    EXPECT_EQ(core::to_json(b.value()), "\"Ada122.5710[1,2,3]\"");
  }
}

}  // namespace
}  // namespace sluice::expr
