#include "sluice/core/json.hpp"

#include <algorithm>

#include <charconv>
#include <cmath>

#include <nlohmann/json.hpp>
#include <simdjson.h>

namespace sluice::core {

struct JsonParser::Impl {
  simdjson::dom::parser parser;
};

JsonParser::JsonParser() : impl_(std::make_unique<Impl>()) {}
JsonParser::~JsonParser() = default;

namespace {

Value convert(simdjson::dom::element element) {
  using simdjson::dom::element_type;
  switch (element.type()) {
    case element_type::OBJECT: {
      simdjson::dom::object object = element.get_object().value_unsafe();
      Object members;
      members.reserve(object.size());
      for (auto field : object) {
        members.push_back(Member{std::string(field.key), convert(field.value)});
      }
      return Value::object(std::move(members));
    }
    case element_type::ARRAY: {
      simdjson::dom::array array = element.get_array().value_unsafe();
      Array items;
      items.reserve(array.size());
      for (auto item : array) items.push_back(convert(item));
      return Value::array(std::move(items));
    }
    case element_type::STRING: return Value::string(std::string(element.get_string().value_unsafe()));
    case element_type::INT64: return Value::integer(element.get_int64().value_unsafe());
    case element_type::UINT64: {
      // Beyond int64: keep the magnitude as a double rather than wrapping.
      return Value::floating(static_cast<double>(element.get_uint64().value_unsafe()));
    }
    case element_type::DOUBLE: return Value::floating(element.get_double().value_unsafe());
    case element_type::BOOL: return Value::boolean(element.get_bool().value_unsafe());
    case element_type::NULL_VALUE: return Value();
  }
  return Value();
}

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF) that starts text[at] with a byte >= 0x80, or 0 if there is none.
std::size_t utf8_sequence_length(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte; later ones are always 0x80..0xBF
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() - at < length) return 0;
  if (byte(at + 1) < low || byte(at + 1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(at + i) < 0x80 || byte(at + i) > 0xBF) return 0;
  }
  return length;
}

// A JSON string. Text that is not UTF-8 (a string- or bytes-format input, a substr() cutting a character in two)
// has each invalid byte replaced by U+FFFD: JSON must be UTF-8, and readers (simdjson among them) reject it
// otherwise, so a sink or the dead-letter topic would carry records nobody can parse.
void append_escaped(std::string_view text, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  static constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD
  out.push_back('"');
  for (std::size_t i = 0; i < text.size(); ++i) {
    // A run of printable ASCII other than '"' and '\\' (field names, most strings) is copied in one append.
    std::size_t run = i;
    while (run < text.size()) {
      const auto plain = static_cast<unsigned char>(text[run]);
      if (plain < 0x20 || plain >= 0x80 || plain == '"' || plain == '\\') break;
      ++run;
    }
    if (run > i) {
      out.append(text.data() + i, run - i);
      i = run;
      if (i == text.size()) break;
    }
    const char c = text[i];
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80) {
      if (const std::size_t length = utf8_sequence_length(text, i); length > 0) {
        out.append(text.substr(i, length));
        i += length - 1;
      } else {
        out += replacement;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (byte < 0x20) {
          out += "\\u00";
          out.push_back(hex[byte >> 4]);
          out.push_back(hex[byte & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

}  // namespace

namespace {

// `keep`: nullptr for the whole document, else the members of a top-level object to build.
Result<Value> parse_with(simdjson::dom::parser& parser, std::string_view text, const std::vector<std::string>* keep) {
  simdjson::dom::element element;
  auto error = parser.parse(text.data(), text.size()).get(element);
  if (error) {
    return make_error(RecordErrorKind::deserialization, std::string("invalid JSON: ") + simdjson::error_message(error));
  }
  if (keep == nullptr || element.type() != simdjson::dom::element_type::OBJECT) return convert(element);
  Object members;
  members.reserve(keep->size());
  simdjson::dom::object object = element.get_object().value_unsafe();
  for (auto field : object) {
    if (std::find(keep->begin(), keep->end(), field.key) == keep->end()) continue;
    members.push_back(Member{std::string(field.key), convert(field.value)});
  }
  return Value::object(std::move(members));
}

}  // namespace

Result<Value> JsonParser::parse(std::string_view text) { return parse_with(impl_->parser, text, nullptr); }

Result<Value> JsonParser::parse(std::string_view text, const std::vector<std::string>& keep) {
  return parse_with(impl_->parser, text, &keep);
}

void append_json(const Value& value, std::string& out) {
  switch (value.type()) {
    case ValueType::null: out += "null"; return;
    case ValueType::boolean: out += value.as_bool() ? "true" : "false"; return;
    case ValueType::integer: {
      char buffer[24];
      auto result = std::to_chars(buffer, buffer + sizeof buffer, value.as_integer());
      out.append(buffer, result.ptr);
      return;
    }
    case ValueType::floating: {
      double number = value.as_double();
      if (!std::isfinite(number)) {
        out += "null";
        return;
      }
      char buffer[32];
      auto result = std::to_chars(buffer, buffer + sizeof buffer, number);
      std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
      out += text;
      // Keep a double recognisable as one after a round trip ("2" would read back as an integer).
      if (text.find_first_of(".eEn") == std::string_view::npos) out += ".0";
      return;
    }
    case ValueType::string: append_escaped(value.as_string(), out); return;
    case ValueType::array: {
      out.push_back('[');
      bool first = true;
      for (const Value& item : value.as_array()) {
        if (!first) out.push_back(',');
        first = false;
        append_json(item, out);
      }
      out.push_back(']');
      return;
    }
    case ValueType::object: {
      out.push_back('{');
      bool first = true;
      for (const Member& member : value.as_object()) {
        if (!first) out.push_back(',');
        first = false;
        append_escaped(member.name, out);
        out.push_back(':');
        append_json(member.value, out);
      }
      out.push_back('}');
      return;
    }
  }
}

std::string to_json(const Value& value) {
  std::string out;
  append_json(value, out);
  return out;
}

Value from_nlohmann(const nlohmann::json& json) {
  switch (json.type()) {
    case nlohmann::json::value_t::null: return Value();
    case nlohmann::json::value_t::boolean: return Value::boolean(json.get<bool>());
    case nlohmann::json::value_t::number_integer: return Value::integer(json.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      auto number = json.get<std::uint64_t>();
      if (number <= static_cast<std::uint64_t>(INT64_MAX)) return Value::integer(static_cast<std::int64_t>(number));
      return Value::floating(static_cast<double>(number));
    }
    case nlohmann::json::value_t::number_float: return Value::floating(json.get<double>());
    case nlohmann::json::value_t::string: return Value::string(json.get<std::string>());
    case nlohmann::json::value_t::array: {
      Array items;
      for (const auto& item : json) items.push_back(from_nlohmann(item));
      return Value::array(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Object members;
      for (const auto& [name, item] : json.items()) members.push_back(Member{name, from_nlohmann(item)});
      return Value::object(std::move(members));
    }
    default: return Value();
  }
}

nlohmann::json to_nlohmann(const Value& value) {
  switch (value.type()) {
    case ValueType::null: return nullptr;
    case ValueType::boolean: return value.as_bool();
    case ValueType::integer: return value.as_integer();
    case ValueType::floating: return value.as_double();
    case ValueType::string: return value.as_string();
    case ValueType::array: {
      nlohmann::json array = nlohmann::json::array();
      for (const Value& item : value.as_array()) array.push_back(to_nlohmann(item));
      return array;
    }
    case ValueType::object: {
      nlohmann::json object = nlohmann::json::object();
      for (const Member& member : value.as_object()) object[member.name] = to_nlohmann(member.value);
      return object;
    }
  }
  return nullptr;
}

std::size_t json_nesting_depth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::string json_pointer_child(std::string_view parent, std::string_view key) {
  std::string pointer;
  pointer.reserve(parent.size() + key.size() + 1);
  pointer.append(parent);
  pointer.push_back('/');
  for (const char c : key) {
    if (c == '~') {
      pointer.append("~0");
    } else if (c == '/') {
      pointer.append("~1");
    } else {
      pointer.push_back(c);
    }
  }
  return pointer;
}

std::string json_pointer_child(std::string_view parent, std::size_t index) {
  std::string pointer(parent);
  pointer.push_back('/');
  pointer.append(std::to_string(index));
  return pointer;
}

std::pair<std::size_t, std::size_t> json_error_position(std::string_view text, std::size_t bytes_read) {
  const std::size_t offset = std::min(bytes_read > 0 ? bytes_read - 1 : 0, text.size());
  std::size_t line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line, offset - line_start + 1};
}

}  // namespace sluice::core
