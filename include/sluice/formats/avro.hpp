// Avro: a schema (parsed from its JSON form, as a registry serves it), and the binary encoding read into and
// written from sluice's value model (core::Value), so that expressions, windows and joins work on Avro fields as
// on JSON ones. The Confluent wire format (magic byte, schema id) is framing.hpp's; this file is the body.
//
// Type mapping (decoding; encoding takes the same and checks it):
//   null -> null; boolean -> boolean; int, long -> integer; float, double -> floating; string -> string;
//   bytes, fixed -> string holding the bytes in base64 (standard alphabet, padded), as Kafka Connect's JSON does;
//   enum -> string (the symbol); array -> array; map -> object (keys in the order written);
//   record -> object (fields in schema order); union -> the value of the branch written (no wrapper object:
//   ["null", "string"] reads as null or a string).
//   Logical types: decimal (bytes or fixed) -> floating (the unscaled integer / 10^scale: exact up to about 15
//   significant digits); uuid -> string; date -> integer (days since 1970-01-01); time-millis, time-micros ->
//   integer; timestamp-millis, local-timestamp-millis -> integer (epoch ms, so a source's `timestamp` with
//   format epoch_ms reads it); timestamp-micros, local-timestamp-micros -> integer (epoch µs, as written).
//   Unknown logical types are read as their underlying type (the Avro specification says so).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/core/result.hpp"
#include "sluice/core/value.hpp"

namespace sluice::formats {

class AvroNode;

// A parsed Avro schema. Immutable, shareable between threads.
class AvroSchema {
 public:
  // Parses the schema's JSON text; on failure, the reason (with the JSON path of the offending part).
  static std::variant<AvroSchema, std::string> parse(std::string_view json_text);

  // Reads one datum of this schema from `bytes` (all of them: bytes left over are an error). With `fields`, a
  // record's top-level fields not listed are skipped, not built (they are still checked).
  core::Result<core::Value> decode(std::string_view bytes, const std::vector<std::string>* fields = nullptr) const;
  // Appends the encoding of `value` to `out`; an error names the field that does not fit ("/price: expected a
  // number, got a string").
  core::Status encode(const core::Value& value, std::string& out) const;

  // The full name of a named top-level type ("com.example.Order"), else the type name ("string").
  const std::string& name() const noexcept { return name_; }
  // Whether the top-level type is named (a record, an enum or a fixed): what the record subject naming needs.
  bool named() const noexcept { return named_; }
  // The canonical JSON text it was parsed from (as given).
  const std::string& text() const noexcept { return text_; }

 private:
  AvroSchema(std::shared_ptr<const std::vector<std::unique_ptr<AvroNode>>> nodes, const AvroNode* root,
             std::string text);
  std::shared_ptr<const std::vector<std::unique_ptr<AvroNode>>> nodes_;  // owns every node (named types shared)
  const AvroNode* root_ = nullptr;
  std::string text_;
  std::string name_;
  bool named_ = false;
};

// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);
// Decodes standard base64 with padding into `out`; false for anything else (whitespace included).
bool base64_decode(std::string_view text, std::string& out);

}  // namespace sluice::formats
