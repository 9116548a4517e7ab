// Protobuf: a schema (a .proto file's text, as a registry serves it) and the binary encoding read into and written
// from sluice's value model (core::Value), so that expressions, windows and joins work on Protobuf fields as on JSON
// ones. The .proto text is compiled by libprotobuf's own parser (google::protobuf::compiler::Parser, which
// libprotobuf itself holds) into descriptors; the wire format is walked here, straight into core::Value (no
// intermediate message objects).
//
// Type mapping (decoding; encoding takes the same and checks it):
//   double, float -> floating; int32, sint32, sfixed32, uint32, fixed32, int64, sint64, sfixed64 -> integer;
//   uint64, fixed64 -> integer (floating above 2^63-1); bool -> boolean; string -> string; bytes -> string holding
//   the bytes in base64 (standard alphabet, padded); enum -> string (the value's name; a number the enum does not
//   name -> integer); message -> object (fields in declaration order); repeated -> array; map<K, V> -> object
//   (keys as strings, in the order written); oneof -> only the member that is set appears.
//   Fields not on the wire: proto3 scalars take their default (0, "", false, the first enum value), as the
//   protobuf runtime reads them; repeated -> []; map -> {}; message fields and fields with presence (proto2
//   optional, proto3 `optional`) -> null; unset oneof members are left out.
//   Well-known types: google.protobuf.Timestamp -> integer (epoch ms, so a source's `timestamp` with format epoch_ms
//   reads it; nanoseconds below the millisecond dropped); Duration -> integer (ms); the wrappers (Int32Value,
//   StringValue, ...) -> the wrapped value, null when absent; Struct -> object; Value -> the JSON value; ListValue ->
//   array; Empty -> {}; Any and the rest -> their fields, as any message.
// Encoding: fields of the value the message does not declare are not written; null or absent fields are not
// written (a proto2 `required` one is an error); a value of the wrong type names the field ("/price: expected a
// number, got a string").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/core/result.hpp"
#include "sluice/core/value.hpp"

namespace sluice::formats {

// The path of a message type in a .proto file, as the Confluent wire format writes it: the index of a top-level
// message, then of a nested one in it, and so on. [0]: the file's first message.
using MessageIndexes = std::vector<int>;

class ProtobufSchema {
 public:
  // Compiles a .proto file's text (proto2 or proto3). Imports of google/protobuf/*.proto (the well-known types)
  // resolve to libprotobuf's own; any other import, a syntax error or an unresolved type is the reason returned
  // ("3:14: Expected \";\"."). Groups are refused.
  static std::variant<ProtobufSchema, std::string> parse(std::string_view proto_text);

  // Reads one message of the type at `indexes` from `bytes`. An index path naming no message, or bytes that are
  // not a message of that type, are a deserialization error naming the field. With `fields`, top-level fields not
  // listed are skipped and left out.
  core::Result<core::Value> decode(const MessageIndexes& indexes, std::string_view bytes,
                                   const std::vector<std::string>* fields = nullptr) const;
  // Appends the encoding of `value` (an object) as the message at `indexes` to `out`.
  core::Status encode(const MessageIndexes& indexes, const core::Value& value, std::string& out) const;

  // The index path of a message by full name ("shop.Order"); nullopt if the file declares no such message.
  std::optional<MessageIndexes> indexes_of(std::string_view full_name) const;
  // The full name of the message at `indexes` (empty if none).
  std::string message_name(const MessageIndexes& indexes) const;
  // Every message the file declares, nested ones included, by full name in declaration order.
  std::vector<std::string> message_names() const;
  // The .proto text it was compiled from (as given).
  const std::string& text() const noexcept;

  struct Compiled;  // the descriptor pool and its file (libprotobuf), private

 private:
  explicit ProtobufSchema(std::shared_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {}
  std::shared_ptr<const Compiled> compiled_;
};

// Confluent's message-index array, after the 5-byte header of the wire format: a count, then that many indexes,
// each a zig-zag varint; a single 0 byte stands for [0]. Reads it off the front of `body`; false if malformed.
bool read_message_indexes(std::string_view& body, MessageIndexes& indexes);
void write_message_indexes(const MessageIndexes& indexes, std::string& out);

}  // namespace sluice::formats
