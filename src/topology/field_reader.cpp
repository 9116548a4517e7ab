#include "field_reader.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <variant>

#include "sluice/core/duration.hpp"

namespace sluice::topology::detail {
namespace {

bool is_name_char(char c, bool allow_dot) {
  const auto byte = static_cast<unsigned char>(c);
  return std::isalnum(byte) != 0 || c == '_' || c == '-' || (allow_dot && c == '.');
}

bool matches_charset(std::string_view text, std::size_t max_length, bool allow_dot) {
  if (text.empty() || text.size() > max_length) return false;
  for (const char c : text) {
    if (!is_name_char(c, allow_dot)) return false;
  }
  return true;
}

bool is_blank(std::string_view text) {
  for (const char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

// Reads a string that must be one of `options` (the enum's spellings, from to_string).
template <typename Enum, std::size_t N>
std::optional<Enum> read_choice(FieldReader& reader, const Json& value, const std::string& pointer,
                                std::string_view what, const std::array<Enum, N>& options) {
  const auto text = reader.string(value, pointer);
  if (!text) return std::nullopt;
  std::vector<std::string> spellings;
  for (const Enum option : options) {
    if (to_string(option) == *text) return option;
    spellings.emplace_back(to_string(option));
  }
  reader.error(pointer, in_quotes(*text) + " is not " + std::string(what) + "; expected one of " + join(spellings) +
                            did_you_mean(*text, spellings));
  return std::nullopt;
}

}  // namespace

const Json* FieldReader::find(const Json& object, std::string_view field) {
  const auto member = object.find(field);
  return member == object.end() ? nullptr : &*member;
}

const Json* FieldReader::require(const Json& object, const std::string& pointer, std::string_view field) {
  const Json* member = find(object, field);
  if (member == nullptr) error(pointer, "missing required field " + in_quotes(field));
  return member;
}

void FieldReader::reject_unknown_fields(const Json& object, const std::string& pointer,
                                        const std::vector<std::string>& valid) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(valid.begin(), valid.end(), key) != valid.end()) continue;
    error(pointer_child(pointer, key),
          "unknown field; valid fields here are " + join(valid) + did_you_mean(key, valid));
  }
}

bool FieldReader::expect_object(const Json& value, const std::string& pointer) {
  if (value.is_object()) return true;
  error(pointer, std::string("expected an object, got ") + value.type_name());
  return false;
}

bool FieldReader::expect_array(const Json& value, const std::string& pointer) {
  if (value.is_array()) return true;
  error(pointer, std::string("expected an array, got ") + value.type_name());
  return false;
}

std::optional<std::string> FieldReader::string(const Json& value, const std::string& pointer) {
  if (value.is_string()) return value.get<std::string>();
  error(pointer, std::string("expected a string, got ") + value.type_name());
  return std::nullopt;
}

std::optional<std::string> FieldReader::field_name(const Json& value, const std::string& pointer) {
  auto text = string(value, pointer);
  if (text && text->empty()) {
    error(pointer, "expected a field name, got an empty string");
    return std::nullopt;
  }
  return text;
}

std::optional<std::string> FieldReader::name(const Json& value, const std::string& pointer) {
  auto text = string(value, pointer);
  if (!text) return std::nullopt;
  if (!matches_charset(*text, 100, false)) {
    error(pointer, in_quotes(*text) + " is not a valid name; expected 1 to 100 characters from A-Z a-z 0-9 _ -");
    return std::nullopt;
  }
  return text;
}

std::optional<std::string> FieldReader::topic(const Json& value, const std::string& pointer) {
  auto text = string(value, pointer);
  if (!text) return std::nullopt;
  if (!matches_charset(*text, 249, true) || *text == "." || *text == "..") {
    error(pointer, in_quotes(*text) +
                       " is not a valid Kafka topic name; expected 1 to 249 characters from A-Z a-z 0-9 . _ -, "
                       "other than \".\" and \"..\"");
    return std::nullopt;
  }
  return text;
}

std::optional<std::string> FieldReader::application_id(const Json& value, const std::string& pointer) {
  auto text = string(value, pointer);
  if (!text) return std::nullopt;
  if (!matches_charset(*text, 200, true)) {
    error(pointer,
          in_quotes(*text) + " is not a valid application_id; expected 1 to 200 characters from A-Z a-z 0-9 . _ -");
    return std::nullopt;
  }
  return text;
}

std::optional<expr::Expression> FieldReader::expression(const Json& value, const std::string& pointer) {
  const auto text = string(value, pointer);
  if (!text) return std::nullopt;
  if (is_blank(*text)) {
    error(pointer, "expected an expression (e.g. amount > 100), got an empty string");
    return std::nullopt;
  }
  auto parsed = expr::Expression::parse(*text);
  if (auto* failure = std::get_if<expr::ParseError>(&parsed)) {
    error(pointer, "expression does not parse: " + failure->message + " at column " +
                       std::to_string(failure->position + 1));
    return std::nullopt;
  }
  return std::get<expr::Expression>(std::move(parsed));
}

std::optional<KeyFormat> FieldReader::key_format(const Json& value, const std::string& pointer) {
  return read_choice(*this, value, pointer, "a key format",
                     std::array{KeyFormat::string, KeyFormat::bytes, KeyFormat::json, KeyFormat::avro,
                                KeyFormat::protobuf});
}

std::optional<ValueFormat> FieldReader::value_format(const Json& value, const std::string& pointer) {
  return read_choice(*this, value, pointer, "a value format",
                     std::array{ValueFormat::json, ValueFormat::string, ValueFormat::bytes, ValueFormat::avro,
                                ValueFormat::protobuf});
}

std::optional<TimestampFormat> FieldReader::timestamp_format(const Json& value, const std::string& pointer) {
  return read_choice(*this, value, pointer, "a timestamp format",
                     std::array{TimestampFormat::epoch_ms, TimestampFormat::epoch_s, TimestampFormat::iso8601});
}

std::optional<WindowType> FieldReader::window_type(const Json& value, const std::string& pointer) {
  return read_choice(*this, value, pointer, "a window type",
                     std::array{WindowType::tumbling, WindowType::hopping, WindowType::sliding, WindowType::session});
}

std::optional<EmitMode> FieldReader::emit_mode(const Json& value, const std::string& pointer) {
  return read_choice(*this, value, pointer, "an emit mode", std::array{EmitMode::update, EmitMode::final});
}

std::optional<std::int64_t> FieldReader::duration_ms(const Json& value, const std::string& pointer) {
  const auto text = string(value, pointer);
  if (!text) return std::nullopt;
  const auto milliseconds = core::parse_duration_ms(*text);
  if (!milliseconds || *milliseconds < 0) {
    error(pointer, in_quotes(*text) + " is not a duration (e.g. 30s, 5m, 1h)");
    return std::nullopt;
  }
  return milliseconds;
}

}  // namespace sluice::topology::detail
