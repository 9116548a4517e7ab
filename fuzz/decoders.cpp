// The record decoders of a source (key and value as json, string or bytes; event time from a field as epoch
// milliseconds, epoch seconds or ISO 8601) and the encoders of a sink, plus the time and duration parsers.
//
// Input: one option byte, then the key, NUL, the value (one field only: the value, with a null key).
//   option % 3        key format          (option / 3) % 3    value format
//   (option / 9) % 4  timestamp: record's, or a field read as epoch_ms, epoch_s, iso8601
//   (option / 36) % 4 the timestamp field: ts, meta.time, $key, $value     option >= 144: a null value
// Invariants checked beyond "does not crash":
//   - a decoded string or bytes key/value is the input bytes, and a sink of the same format writes them back;
//   - whatever was decoded, a json sink writes JSON that decodes again to the same value (the dead-letter and
//     output paths rely on it);
//   - a decoded event time is not negative;
//   - a time or duration that parses formats to a text that parses to the same number.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "fuzz_support.hpp"
#include "sluice/core/clock.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/json.hpp"
#include "sluice/core/record.hpp"
#include "sluice/expr/expression.hpp"
#include "sluice/ops/serde.hpp"
#include "sluice/topology/topology.hpp"

namespace {

using namespace sluice;

constexpr std::array<std::string_view, 4> kTimestampFields = {"ts", "meta.time", "$key", "$value"};

// A value written by a json sink must read back as the same value.
void check_json_round_trip(const core::Value& value, core::JsonParser& parser) {
  const std::string encoded = core::to_json(value);
  auto decoded = parser.parse(encoded);
  if (!decoded.ok() || core::to_json(decoded.value()) != encoded) std::abort();
}

void check_time_parsers(std::string_view text) {
  if (const auto ms = core::parse_iso8601_ms(text)) {
    const std::string formatted = core::format_iso8601_ms(*ms);
    if (core::parse_iso8601_ms(formatted) != ms) std::abort();
  }
  if (const auto ms = core::parse_duration_ms(text)) {
    if (*ms < 0) std::abort();
    const std::string formatted = core::format_duration_ms(*ms);
    if (core::parse_duration_ms(formatted) != ms) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const core::ManualClock clock(1'800'000'000'000);
  static core::JsonParser parser;
  static core::JsonParser checker;

  const unsigned option = data[0];
  const auto fields = fuzz::split_fields(fuzz::as_text(data + 1, size - 1));
  const std::optional<std::string_view> key = fields.size() > 1 ? std::optional(fields[0]) : std::nullopt;
  const std::optional<std::string_view> value =
      option >= 144 ? std::nullopt : std::optional(fields.size() > 1 ? fields[1] : fields[0]);

  topology::SourceSpec spec;
  spec.name = spec.topic = "input";
  spec.key = static_cast<topology::KeyFormat>(option % 3);
  spec.value = static_cast<topology::ValueFormat>((option / 3) % 3);
  if (const unsigned timestamp = (option / 9) % 4; timestamp > 0) {
    auto field = expr::Expression::parse(kTimestampFields[(option / 36) % 4]);
    spec.timestamp.field = std::get<expr::Expression>(std::move(field));
    spec.timestamp.format = static_cast<topology::TimestampFormat>(timestamp - 1);
  }

  core::Origin origin;
  origin.topic = "input";
  origin.offset = 7;
  if (key) {
    origin.raw_key = *key;
    origin.has_key = true;
  }
  if (value) {
    origin.raw_value = *value;
    origin.has_value = true;
  }
  expr::EvalContext eval(clock);
  eval.set_origin(&origin);

  const ops::SourceDecoder decoder(spec);
  auto decoded = decoder.decode(origin, 1'700'000'000'000, {{"h", "v"}}, parser, eval);
  if (key) check_time_parsers(*key);
  if (!decoded.ok()) return 0;
  const core::Record& record = decoded.value();
  if (record.timestamp_ms < 0) std::abort();

  const bool key_is_text = spec.key != topology::KeyFormat::json;
  const bool value_is_text = spec.value != topology::ValueFormat::json;
  if (key && key_is_text && record.key.as_string() != *key) std::abort();
  if (value && value_is_text && record.value.as_string() != *value) std::abort();

  // The same formats on the way out give the same bytes back for text; json sinks always write valid JSON.
  std::string key_buffer, value_buffer;
  const ops::SinkEncoder same(spec.key, spec.value);
  auto encoded = same.encode(record, key_buffer, value_buffer);
  if (!encoded.ok()) std::abort();  // a string or bytes sink accepts what a string or bytes source decoded
  if (key && key_is_text && encoded.value().key != *key) std::abort();
  if (value && value_is_text && encoded.value().value != *value) std::abort();
  if (!key && encoded.value().key) std::abort();
  if (!value && encoded.value().value) std::abort();
  check_json_round_trip(record.key, checker);
  check_json_round_trip(record.value, checker);
  return 0;
}
