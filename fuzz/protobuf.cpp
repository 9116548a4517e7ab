// Protobuf messages of one schema that uses every field type (scalars, enums, nested and recursive messages, maps,
// oneofs, packed and unpacked repeated fields, the well-known types): the input is Confluent's message-index array
// then the message's bytes, as a Protobuf value follows the schema id in the wire format. Invariants beyond "does
// not crash": a refused input says why; a value that decodes and encodes again decodes to the same value.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

#include "fuzz_support.hpp"
#include "sluice/core/json.hpp"
#include "sluice/formats/protobuf.hpp"

namespace {

constexpr std::string_view kSchema = R"~(
syntax = "proto3";
package fuzz;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/wrappers.proto";
enum Color { RED = 0; GREEN = 1; }
message All {
  message Inner { string s = 1; repeated int64 packed = 2; All loop = 3; }
  double d = 1; float f = 2; int32 i32 = 3; int64 i64 = 4; uint32 u32 = 5; uint64 u64 = 6; sint32 s32 = 7;
  sint64 s64 = 8; fixed32 f32 = 9; fixed64 f64 = 10; sfixed32 sf32 = 11; sfixed64 sf64 = 12; bool b = 13;
  string s = 14; bytes by = 15; Color c = 16; Inner inner = 17; repeated Inner inners = 18;
  map<string, Inner> by_name = 19; map<int64, string> by_number = 20; map<bool, Color> by_flag = 21;
  oneof choice { string text = 22; int32 number = 23; Inner nested = 24; }
  optional int32 maybe = 25; repeated double ds = 26; repeated Color cs = 27; repeated string ss = 28;
  google.protobuf.Timestamp at = 29; google.protobuf.Duration took = 30; google.protobuf.Struct extra = 31;
  google.protobuf.Value any_json = 32; google.protobuf.Int64Value wrapped = 33; google.protobuf.ListValue list = 34;
}
message Other { All all = 1; }
)~";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sluice;
  static const formats::ProtobufSchema schema =
      std::get<formats::ProtobufSchema>(formats::ProtobufSchema::parse(kSchema));
  std::string_view body = fuzz::as_text(data, size);
  formats::MessageIndexes indexes;
  if (!formats::read_message_indexes(body, indexes)) return 0;
  auto value = schema.decode(indexes, body);
  if (!value.ok()) {
    if (value.error().message.empty()) std::abort();
    return 0;
  }
  std::string encoded;
  if (!schema.encode(indexes, value.value(), encoded).ok()) return 0;  // e.g. a Timestamp past epoch-ms range
  auto again = schema.decode(indexes, encoded);
  if (!again.ok()) std::abort();
  // Compared as JSON text: NaN (a float's bits can be one) is not equal to itself.
  std::string first;
  std::string second;
  core::append_json(value.value(), first);
  core::append_json(again.value(), second);
  if (first != second) std::abort();
  return 0;
}
