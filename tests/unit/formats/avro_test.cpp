// Avro schemas and the binary encoding against the specification's own examples and hand-written bytes, the
// type mapping, round trips, and hostile input.
#include <gtest/gtest.h>

#include <string>

#include "sluice/core/json.hpp"
#include "sluice/formats/avro.hpp"

namespace sluice::formats {
namespace {

AvroSchema schema(std::string_view text) {
  auto parsed = AvroSchema::parse(text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << *error;
    return std::get<AvroSchema>(AvroSchema::parse(R"("null")"));
  }
  return std::get<AvroSchema>(std::move(parsed));
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int value : values) out.push_back(static_cast<char>(value));
  return out;
}

std::string json_of(const core::Value& value) {
  std::string out;
  core::append_json(value, out);
  return out;
}

std::string decoded(const AvroSchema& avro, const std::string& data) {
  auto value = avro.decode(data);
  if (!value.ok()) return "error: " + value.error().message;
  return json_of(value.value());
}

std::string encoded(const AvroSchema& avro, const core::Value& value) {
  std::string out;
  auto status = avro.encode(value, out);
  return status.ok() ? out : "error: " + status.error().message;
}

core::Value parsed_json(std::string_view text) {
  core::JsonParser parser;
  auto value = parser.parse(text);
  EXPECT_TRUE(value.ok()) << text;
  return value.ok() ? value.value() : core::Value();
}

TEST(Avro, TheSpecificationsExamples) {
  // Zig-zag longs: 0 -> 00, -1 -> 01, 1 -> 02, -2 -> 03, 2 -> 04, -64 -> 7f, 64 -> 80 01.
  const auto longs = schema(R"("long")");
  EXPECT_EQ(decoded(longs, bytes({0x00})), "0");
  EXPECT_EQ(decoded(longs, bytes({0x01})), "-1");
  EXPECT_EQ(decoded(longs, bytes({0x7f})), "-64");
  EXPECT_EQ(decoded(longs, bytes({0x80, 0x01})), "64");
  EXPECT_EQ(encoded(longs, core::Value::integer(64)), bytes({0x80, 0x01}));
  EXPECT_EQ(encoded(longs, core::Value::integer(-64)), bytes({0x7f}));
  // "foo" -> 06 66 6f 6f; a record {a: 27, b: "foo"} -> 36 06 66 6f 6f.
  EXPECT_EQ(decoded(schema(R"("string")"), bytes({0x06, 0x66, 0x6f, 0x6f})), R"("foo")");
  const auto record = schema(R"({"type": "record", "name": "test", "fields": [
      {"name": "a", "type": "long"}, {"name": "b", "type": "string"}]})");
  EXPECT_EQ(decoded(record, bytes({0x36, 0x06, 0x66, 0x6f, 0x6f})), R"({"a":27,"b":"foo"})");
  EXPECT_EQ(encoded(record, parsed_json(R"({"b": "foo", "a": 27})")), bytes({0x36, 0x06, 0x66, 0x6f, 0x6f}));
  // An array of longs [3, 27] -> 04 06 36 00; a union ["null", "string"]: null -> 00, "a" -> 02 02 61.
  EXPECT_EQ(decoded(schema(R"({"type": "array", "items": "long"})"), bytes({0x04, 0x06, 0x36, 0x00})), "[3,27]");
  const auto optional = schema(R"(["null", "string"])");
  EXPECT_EQ(decoded(optional, bytes({0x00})), "null");
  EXPECT_EQ(decoded(optional, bytes({0x02, 0x02, 0x61})), R"("a")");
  EXPECT_EQ(encoded(optional, core::Value::string("a")), bytes({0x02, 0x02, 0x61}));
  EXPECT_EQ(encoded(optional, core::Value()), bytes({0x00}));
}

TEST(Avro, EveryTypeMapsAndRoundTrips) {
  const auto avro = schema(R"({"type": "record", "name": "Order", "namespace": "shop", "fields": [
    {"name": "ok", "type": "boolean"},
    {"name": "qty", "type": "int"},
    {"name": "ratio", "type": "float"},
    {"name": "price", "type": "double"},
    {"name": "raw", "type": "bytes"},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
    {"name": "tags", "type": {"type": "map", "values": "long"}},
    {"name": "id", "type": {"type": "fixed", "name": "Id", "size": 2}},
    {"name": "again", "type": "Status"},
    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
    {"name": "note", "type": ["null", "string"]}
  ]})");
  EXPECT_EQ(avro.name(), "shop.Order");
  const std::string text = R"({"ok":true,"qty":-3,"ratio":0.5,"price":12.25,"raw":"AAH/","status":"PAID",)"
                           R"("tags":{"x":1,"y":-2},"id":"aGk=","again":"NEW","at":1763719200000,"day":20413,)"
                           R"("amount":-123.45,"note":null})";
  const std::string data = encoded(avro, parsed_json(text));
  ASSERT_EQ(data.rfind("error", 0), std::string::npos) << data;
  EXPECT_EQ(decoded(avro, data), text);
  // The decimal's bytes are the minimal two's complement of -12345: cf c7.
  EXPECT_NE(data.find(bytes({0x04, 0xcf, 0xc7})), std::string::npos);
}

TEST(Avro, NamedTypesAreSharedAndMayRecurse) {
  const auto list = schema(R"({"type": "record", "name": "Node", "fields": [
    {"name": "value", "type": "long"}, {"name": "next", "type": ["null", "Node"]}]})");
  const std::string text = R"({"value":1,"next":{"value":2,"next":null}})";
  EXPECT_EQ(decoded(list, encoded(list, parsed_json(text))), text);
}

TEST(Avro, SchemaErrorsSayWhere) {
  auto error = [](std::string_view text) {
    auto parsed = AvroSchema::parse(text);
    return std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : std::string("parsed");
  };
  EXPECT_EQ(error(R"({"type": "record", "name": "R", "fields": [{"name": "a", "type": "nope"}]})"),
            R"(/fields/0/type: unknown type "nope")");
  EXPECT_EQ(error(R"(["null", "null"])"), ": the union holds null twice");
  EXPECT_EQ(error(R"({"type": "enum", "name": "E", "symbols": []})"), ": an enum needs at least one symbol");
  EXPECT_EQ(error("{"), "the schema is not valid JSON");
}

TEST(Avro, HostileBytesAreErrorsNotAllocations) {
  const auto longs = schema(R"({"type": "array", "items": "long"})");
  // A block claiming 2^62 items in 10 bytes.
  EXPECT_EQ(decoded(longs, bytes({0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})).rfind("error: Avro /", 0), 0U);
  // Items that take no bytes (nulls, records without fields) are bounded too: blocks of 50,000 nulls, three
  // bytes each, stop at the datum's budget instead of growing with every block.
  const auto nulls = schema(R"({"type": "array", "items": "null"})");
  std::string blocks;
  for (int i = 0; i < 3; ++i) blocks += bytes({0xa0, 0x8d, 0x06});  // 50,000
  EXPECT_EQ(decoded(nulls, blocks + bytes({0x00})).rfind("error: Avro /: block of 50000 items: more than", 0), 0U);
  EXPECT_EQ(decoded(nulls, bytes({0xa0, 0x8d, 0x06, 0x00})).substr(0, 10), "[null,null");
  EXPECT_EQ(decoded(schema(R"("string")"), bytes({0x80, 0x80, 0x80, 0x80, 0x10})),
            "error: Avro /: length 2147483648 past the end");
  EXPECT_EQ(decoded(schema(R"("long")"), bytes({0x80})), "error: Avro /: bad long");
  EXPECT_EQ(decoded(schema(R"("int")"), bytes({0xfe, 0xff, 0xff, 0xff, 0x7f})), "error: Avro /: bad int");
  EXPECT_EQ(decoded(schema(R"("boolean")"), bytes({0x02})), "error: Avro /: bad boolean");
  EXPECT_EQ(decoded(schema(R"("long")"), bytes({0x02, 0x00})), "error: Avro /: 1 bytes left after the datum");
  const auto record = schema(R"({"type": "record", "name": "R", "fields": [{"name": "e",
      "type": {"type": "enum", "name": "E", "symbols": ["A"]}}]})");
  EXPECT_EQ(decoded(record, bytes({0x02})), "error: Avro /e: bad enum index");
}

TEST(Avro, AValueThatDoesNotFitNamesTheField) {
  const auto avro = schema(R"({"type": "record", "name": "R", "fields": [
    {"name": "price", "type": "double"}, {"name": "items", "type": {"type": "array", "items": "int"}},
    {"name": "status", "type": {"type": "enum", "name": "S", "symbols": ["NEW"]}}]})");
  EXPECT_EQ(encoded(avro, parsed_json(R"({"price": "12", "items": [], "status": "NEW"})")),
            "error: does not fit the Avro schema at /price: expected double, got string");
  EXPECT_EQ(encoded(avro, parsed_json(R"({"price": 1, "items": [1, 3000000000], "status": "NEW"})")),
            "error: does not fit the Avro schema at /items/1: expected int, got integer");
  EXPECT_EQ(encoded(avro, parsed_json(R"({"price": 1, "items": [], "status": "OLD"})")),
            R"(error: does not fit the Avro schema at /status: expected S, got "OLD")");
  EXPECT_EQ(encoded(avro, parsed_json(R"({"items": []})")),
            "error: does not fit the Avro schema at /price: expected double, got null");
}

TEST(Avro, AProjectionBuildsOnlyTheFieldsReadAndStillChecksTheRest) {
  const AvroSchema avro = schema(R"({"type": "record", "name": "R", "fields": [
      {"name": "a", "type": "string"}, {"name": "big", "type": {"type": "array", "items": {"type": "map", "values": "long"}}},
      {"name": "u", "type": ["null", {"type": "record", "name": "In", "fields": [{"name": "x", "type": "double"}]}]},
      {"name": "b", "type": "long"}, {"name": "f", "type": {"type": "fixed", "name": "F", "size": 2}}]})");
  const core::Value value = parsed_json(R"({"a": "skip me", "big": [{"k": 1, "l": 2}, {}], "u": {"x": 1.5}, "b": 7, "f": "AAE="})");
  const std::string data = encoded(avro, value);
  const std::vector<std::string> fields = {"b", "u", "missing"};
  auto projected = avro.decode(data, &fields);
  ASSERT_TRUE(projected.ok()) << projected.error().message;
  EXPECT_EQ(json_of(projected.value()), R"({"u":{"x":1.5},"b":7})");
  EXPECT_EQ(json_of(avro.decode(data).value()), json_of(value));
  // Bytes that do not fit are refused whether the field is built or skipped.
  const std::vector<std::string> only_b = {"b"};
  auto truncated = avro.decode(data.substr(0, data.size() - 1), &only_b);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().message, "Avro /f: does not fit its type");
  // A block with its size in bytes (negative count) is skipped whole.
  const AvroSchema list = schema(R"({"type": "record", "name": "L", "fields": [{"name": "xs", "type": {"type": "array", "items": "long"}}, {"name": "n", "type": "int"}]})");
  const std::vector<std::string> only_n = {"n"};
  auto blocked = list.decode(bytes({3, 4, 2, 4, 0, 6}), &only_n);  // -2 items in 4 bytes... then n = 3
  ASSERT_TRUE(blocked.ok()) << blocked.error().message;
  EXPECT_EQ(json_of(blocked.value()), R"({"n":3})");
}

TEST(Base64, KnownVectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  std::string out;
  EXPECT_TRUE(base64_decode("Zm9vYg==", out));
  EXPECT_EQ(out, "foob");
  EXPECT_FALSE(base64_decode("Zm9", out));
  EXPECT_FALSE(base64_decode("Zm=v", out));
  EXPECT_FALSE(base64_decode("Zm 9", out));
}

}  // namespace
}  // namespace sluice::formats
