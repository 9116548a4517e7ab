// JSON text <-> core::Value. Record values are parsed with simdjson (fast, per record); files (topologies,
// settings) are read with nlohmann::json and converted where a Value is needed.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sluice/core/result.hpp"
#include "sluice/core/value.hpp"

namespace sluice::core {

// Reusable parser: keeps simdjson's buffers between records. One per thread; not thread-safe.
class JsonParser {
 public:
  JsonParser();
  ~JsonParser();
  JsonParser(const JsonParser&) = delete;
  JsonParser& operator=(const JsonParser&) = delete;

  // Parses one JSON document. Errors are RecordErrorKind::deserialization with simdjson's message.
  Result<Value> parse(std::string_view text);
  // The same, keeping of a top-level object only the members named in `keep` (in their order in the text,
  // duplicates included); any other document is returned whole. The whole text is still parsed and
  // validated: only building the Values of the members nobody reads is skipped.
  Result<Value> parse(std::string_view text, const std::vector<std::string>& keep);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Appends the compact JSON text of `value` to `out` (no whitespace; shortest round-trip doubles;
// non-finite doubles are written as null since JSON has no representation for them).
void append_json(const Value& value, std::string& out);
std::string to_json(const Value& value);

// Conversions used for files and tests.
Value from_nlohmann(const nlohmann::json& json);
nlohmann::json to_nlohmann(const Value& value);

// How deeply arrays and objects nest in a JSON text (strings skipped), counting up to `limit` + 1 at most, so a
// hostile file is rejected before a recursive parser or destructor meets it (100,000 levels overflowed the stack
// of `sluice validate`). Configuration files are checked against kMaxFileNesting.
std::size_t json_nesting_depth(std::string_view text, std::size_t limit);

// RFC 6901: the JSON pointer of member `key` of the value at `parent` ("~" and "/" escaped), or of its element
// `index`.
std::string json_pointer_child(std::string_view parent, std::string_view key);
std::string json_pointer_child(std::string_view parent, std::size_t index);

// The 1-based line and column of a JSON syntax error in `text`, from the byte count nlohmann's parse_error
// reports (the offending byte is the last one read).
std::pair<std::size_t, std::size_t> json_error_position(std::string_view text, std::size_t bytes_read);
inline constexpr std::size_t kMaxFileNesting = 256;

}  // namespace sluice::core
