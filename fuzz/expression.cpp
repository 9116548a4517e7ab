// The expression language: parse a text, then evaluate it (as a value and as a predicate) against a record.
// Input: the expression, optionally followed by NUL and the record's value as JSON (a fixed record with nested
// objects, arrays, headers and metadata otherwise, or when that JSON does not parse).
// Invariants checked beyond "does not crash": a parse error points inside the text (or just past its end), and
// evaluating the same expression twice with the same context gives the same result (the scratch slots that
// evaluation reuses carry nothing over from one evaluation to the next).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "fuzz_support.hpp"
#include "sluice/core/clock.hpp"
#include "sluice/core/json.hpp"
#include "sluice/core/record.hpp"
#include "sluice/expr/expression.hpp"

namespace {

using sluice::core::Value;

constexpr std::string_view kDefaultValue = R"({
  "amount": 1200, "price": 2.5, "name": "Ada", "empty": "", "flag": true, "nothing": null,
  "user": {"id": 7, "address": {"city": "Paris"}, "tags": ["a", "b"]},
  "items": [{"price": 1}, {"price": 2.25}], "nums": [10, -20, 30],
  "odd name": {"x": 1}, "text": "h\u00e9llo", "big": 9223372036854775807, "small": -9223372036854775808,
  "when": "2026-11-21T10:15:30.250+01:00", "csv": "a,,b,"
})";

// A result as comparable text: the compact JSON of a value (or true/false), or the error's kind and message.
template <typename T>
std::string outcome(const sluice::core::Result<T>& result) {
  if (!result.ok()) {
    return "error " + std::string(sluice::core::to_string(result.error().kind)) + ": " + result.error().message;
  }
  if constexpr (std::is_same_v<T, bool>) {
    return result.value() ? "true" : "false";
  } else {
    return sluice::core::to_json(result.value());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sluice;
  static const core::ManualClock clock(1'800'000'000'000);
  static core::JsonParser parser;

  const auto fields = fuzz::split_fields(fuzz::as_text(data, size));
  const std::string_view text = fields[0];
  auto parsed = expr::Expression::parse(text);
  if (const auto* error = std::get_if<expr::ParseError>(&parsed)) {
    if (error->position > text.size() || error->message.empty()) std::abort();
    return 0;
  }
  const auto& expression = std::get<expr::Expression>(parsed);
  (void)expression.field_path_leaf();

  core::Record record;
  record.key = Value::string("card-42");
  record.timestamp_ms = 1'700'000'000'123;
  record.headers = {{"trace", "abc"}, {"dup", "first"}, {"dup", "second"}};
  auto value = parser.parse(fields.size() > 1 ? fields[1] : kDefaultValue);
  if (!value.ok()) value = parser.parse(kDefaultValue);
  record.value = std::move(value).value();
  core::Origin origin;
  origin.topic = "payments";
  origin.partition = 3;
  origin.offset = 12345;

  expr::EvalContext context(clock);
  context.set_origin(&origin);
  const std::string first = outcome(expression.evaluate(record, context));
  const std::string predicate = outcome(expression.test(record, context));
  const std::string second = outcome(expression.evaluate(record, context));
  if (first != second) std::abort();
  (void)predicate;
  return 0;
}
