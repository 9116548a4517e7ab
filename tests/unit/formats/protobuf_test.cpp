// Protobuf schemas and the wire format. libprotobuf's own runtime (DynamicMessage and reflection) is the independent
// side: messages it serializes are decoded here, and what is encoded here is parsed back by it.
#include <gtest/gtest.h>

#include <google/protobuf/compiler/parser.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include <random>
#include <string>

#include "sluice/core/json.hpp"
#include "sluice/formats/protobuf.hpp"
#include "sluice/formats/registry_codec.hpp"

namespace sluice::formats {
namespace {

namespace pb = google::protobuf;

constexpr std::string_view kShop = R"~(
syntax = "proto3";
package shop;

import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/struct.proto";

enum Status { UNKNOWN = 0; PAID = 1; SHIPPED = 2; }

message Order {
  message Item {
    string sku = 1;
    int32 qty = 2;
  }
  string id = 1;
  int64 amount_cents = 2;
  double price = 3;
  repeated string tags = 4;
  map<string, int32> counts = 5;
  Status status = 6;
  Item item = 7;
  google.protobuf.Timestamp at = 8;
  oneof payment {
    string card = 9;
    int64 voucher = 10;
  }
  optional string note = 11;
  bytes blob = 12;
  sint64 delta = 13;
  repeated int32 sizes = 14;
  google.protobuf.Int32Value maybe = 15;
  uint64 big = 16;
  fixed32 f32 = 17;
  sfixed64 sf64 = 18;
  float ratio = 19;
  bool flag = 20;
  google.protobuf.Struct extra = 21;
  repeated Item items = 22;
}

message Refund {
  string order_id = 1;
  int64 cents = 2;
}
)~";

ProtobufSchema compile(std::string_view text) {
  auto parsed = ProtobufSchema::parse(text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << *error;
    return std::get<ProtobufSchema>(ProtobufSchema::parse("syntax = \"proto3\"; message Empty {}"));
  }
  return std::get<ProtobufSchema>(std::move(parsed));
}

std::string parse_error(std::string_view text) {
  auto parsed = ProtobufSchema::parse(text);
  if (auto* error = std::get_if<std::string>(&parsed)) return *error;
  return "(compiled)";
}

std::string json_of(const core::Value& value) {
  std::string out;
  core::append_json(value, out);
  return out;
}

core::Value value_of(std::string_view json) {
  core::JsonParser parser;
  auto parsed = parser.parse(json);
  EXPECT_TRUE(parsed.ok()) << json;
  return parsed.ok() ? std::move(parsed).value() : core::Value();
}

// The oracle: the same .proto compiled by libprotobuf directly, its messages built and read by reflection.
class Oracle {
 public:
  explicit Oracle(std::string_view text) : pool_(pb::DescriptorPool::generated_pool()) {
    pb::io::ArrayInputStream stream(text.data(), static_cast<int>(text.size()));
    pb::io::Tokenizer tokenizer(&stream, nullptr);
    pb::FileDescriptorProto proto;
    pb::compiler::Parser parser;
    EXPECT_TRUE(parser.Parse(&tokenizer, &proto));
    proto.set_name("oracle.proto");
    file_ = pool_.BuildFile(proto);
    EXPECT_NE(file_, nullptr);
  }
  std::unique_ptr<pb::Message> make(const std::string& name) {
    return std::unique_ptr<pb::Message>(factory_.GetPrototype(pool_.FindMessageTypeByName(name))->New());
  }

 private:
  pb::DescriptorPool pool_;
  const pb::FileDescriptor* file_ = nullptr;
  pb::DynamicMessageFactory factory_;
};

TEST(ProtobufSchema, DecodesWhatLibprotobufWritesWithTheDocumentedMapping) {
  ProtobufSchema schema = compile(kShop);
  Oracle oracle(kShop);
  auto order = oracle.make("shop.Order");
  const pb::Descriptor* d = order->GetDescriptor();
  const pb::Reflection* r = order->GetReflection();
  r->SetString(order.get(), d->FindFieldByName("id"), "o-1");
  r->SetInt64(order.get(), d->FindFieldByName("amount_cents"), -1250);
  r->SetDouble(order.get(), d->FindFieldByName("price"), 12.5);
  r->AddString(order.get(), d->FindFieldByName("tags"), "a");
  r->AddString(order.get(), d->FindFieldByName("tags"), "b");
  {
    pb::Message* entry = r->AddMessage(order.get(), d->FindFieldByName("counts"));
    entry->GetReflection()->SetString(entry, entry->GetDescriptor()->FindFieldByName("key"), "x");
    entry->GetReflection()->SetInt32(entry, entry->GetDescriptor()->FindFieldByName("value"), 3);
  }
  r->SetEnumValue(order.get(), d->FindFieldByName("status"), 2);
  {
    pb::Message* item = r->MutableMessage(order.get(), d->FindFieldByName("item"));
    item->GetReflection()->SetString(item, item->GetDescriptor()->FindFieldByName("sku"), "sku-9");
    item->GetReflection()->SetInt32(item, item->GetDescriptor()->FindFieldByName("qty"), 4);
  }
  {
    pb::Message* at = r->MutableMessage(order.get(), d->FindFieldByName("at"));
    at->GetReflection()->SetInt64(at, at->GetDescriptor()->FindFieldByName("seconds"), 1'700'000'000);
    at->GetReflection()->SetInt32(at, at->GetDescriptor()->FindFieldByName("nanos"), 123'456'789);
  }
  r->SetInt64(order.get(), d->FindFieldByName("voucher"), 77);
  r->SetString(order.get(), d->FindFieldByName("blob"), std::string("\x00\xff", 2));
  r->SetInt64(order.get(), d->FindFieldByName("delta"), -3);
  r->AddInt32(order.get(), d->FindFieldByName("sizes"), 1);
  r->AddInt32(order.get(), d->FindFieldByName("sizes"), -2);
  {
    pb::Message* maybe = r->MutableMessage(order.get(), d->FindFieldByName("maybe"));
    maybe->GetReflection()->SetInt32(maybe, maybe->GetDescriptor()->FindFieldByName("value"), 5);
  }
  r->SetUInt64(order.get(), d->FindFieldByName("big"), 18'446'744'073'709'551'615ULL);
  r->SetUInt32(order.get(), d->FindFieldByName("f32"), 4'000'000'000U);
  r->SetInt64(order.get(), d->FindFieldByName("sf64"), -9);
  r->SetFloat(order.get(), d->FindFieldByName("ratio"), 0.5F);
  r->SetBool(order.get(), d->FindFieldByName("flag"), true);
  {
    // Struct {"k": [1, "two", null, {"t": true}]} through the generated well-known types.
    pb::Struct extra;
    pb::ListValue* list = (*extra.mutable_fields())["k"].mutable_list_value();
    list->add_values()->set_number_value(1);
    list->add_values()->set_string_value("two");
    list->add_values()->set_null_value(pb::NULL_VALUE);
    (*list->add_values()->mutable_struct_value()->mutable_fields())["t"].set_bool_value(true);
    r->MutableMessage(order.get(), d->FindFieldByName("extra"))->ParseFromString(extra.SerializeAsString());
  }
  std::string wire;
  ASSERT_TRUE(order->SerializeToString(&wire));

  auto decoded = schema.decode({0}, wire);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(json_of(decoded.value()),
            R"({"id":"o-1","amount_cents":-1250,"price":12.5,"tags":["a","b"],"counts":{"x":3},"status":"SHIPPED",)"
            R"("item":{"sku":"sku-9","qty":4},"at":1700000000123,"voucher":77,"note":null,"blob":"AP8=","delta":-3,)"
            R"("sizes":[1,-2],"maybe":5,"big":18446744073709551616.0,"f32":4000000000,"sf64":-9,"ratio":0.5,)"
            R"("flag":true,"extra":{"k":[1.0,"two",null,{"t":true}]},"items":[]})");

  // Nothing on the wire: proto3 defaults, null for messages and fields with presence, no oneof member.
  auto empty = schema.decode({0}, "");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(json_of(empty.value()),
            R"({"id":"","amount_cents":0,"price":0.0,"tags":[],"counts":{},"status":"UNKNOWN","item":null,"at":null,)"
            R"("note":null,"blob":"","delta":0,"sizes":[],"maybe":null,"big":0,"f32":0,"sf64":0,"ratio":0.0,)"
            R"("flag":false,"extra":null,"items":[]})");

  // The second top-level message, as message indexes [1] name it.
  auto refund = oracle.make("shop.Refund");
  refund->GetReflection()->SetString(refund.get(), refund->GetDescriptor()->FindFieldByName("order_id"), "o-1");
  auto refund_value = schema.decode({1}, refund->SerializeAsString());
  ASSERT_TRUE(refund_value.ok());
  EXPECT_EQ(json_of(refund_value.value()), R"({"order_id":"o-1","cents":0})");
  // The nested message, [0, 0].
  EXPECT_EQ(json_of(schema.decode({0, 0}, std::string("\x0a\x01z", 3)).value()), R"({"sku":"z","qty":0})");
  auto nowhere = schema.decode({5}, "");
  ASSERT_FALSE(nowhere.ok());
  EXPECT_EQ(nowhere.error().message, "Protobuf: message indexes [5] name no message of the schema");
}

TEST(ProtobufSchema, WhatItEncodesLibprotobufReadsBackFieldByField) {
  ProtobufSchema schema = compile(kShop);
  Oracle oracle(kShop);
  const core::Value value = value_of(
      R"({"id":"o-2","amount_cents":-5,"price":3,"tags":["x"],"counts":{"a":1,"b":2},"status":"PAID",)"
      R"("item":{"sku":"s","qty":-7,"ignored":true},"at":-1500,"card":"visa","note":"","blob":"AP8=","delta":-300,)"
      R"("sizes":[3,4,-5],"maybe":0,"big":12,"f32":7,"sf64":-1,"ratio":0.25,"flag":false,)"
      R"("extra":{"n":null,"s":"t","l":[1.5,false]},"items":[{"sku":"i1"},{"qty":2}],"not_in_schema":1})");
  std::string wire;
  ASSERT_TRUE(schema.encode({0}, value, wire).ok());
  auto order = oracle.make("shop.Order");
  ASSERT_TRUE(order->ParseFromString(wire));
  const pb::Descriptor* d = order->GetDescriptor();
  const pb::Reflection* r = order->GetReflection();
  EXPECT_EQ(r->GetString(*order, d->FindFieldByName("id")), "o-2");
  EXPECT_EQ(r->GetInt64(*order, d->FindFieldByName("amount_cents")), -5);
  EXPECT_EQ(r->GetDouble(*order, d->FindFieldByName("price")), 3.0);
  EXPECT_EQ(r->GetRepeatedString(*order, d->FindFieldByName("tags"), 0), "x");
  EXPECT_EQ(r->FieldSize(*order, d->FindFieldByName("counts")), 2);
  EXPECT_EQ(r->GetEnumValue(*order, d->FindFieldByName("status")), 1);
  const pb::Message& item = r->GetMessage(*order, d->FindFieldByName("item"));
  EXPECT_EQ(item.GetReflection()->GetInt32(item, item.GetDescriptor()->FindFieldByName("qty")), -7);
  const pb::Message& at = r->GetMessage(*order, d->FindFieldByName("at"));
  EXPECT_EQ(at.GetReflection()->GetInt64(at, at.GetDescriptor()->FindFieldByName("seconds")), -2);
  EXPECT_EQ(at.GetReflection()->GetInt32(at, at.GetDescriptor()->FindFieldByName("nanos")), 500'000'000);
  EXPECT_EQ(r->GetString(*order, d->FindFieldByName("card")), "visa");
  EXPECT_TRUE(r->HasField(*order, d->FindFieldByName("note")));  // optional: present though empty
  EXPECT_EQ(r->GetString(*order, d->FindFieldByName("blob")), std::string("\x00\xff", 2));
  EXPECT_EQ(r->GetInt64(*order, d->FindFieldByName("delta")), -300);
  EXPECT_EQ(r->GetRepeatedInt32(*order, d->FindFieldByName("sizes"), 2), -5);
  EXPECT_TRUE(r->HasField(*order, d->FindFieldByName("maybe")));
  EXPECT_EQ(r->GetUInt64(*order, d->FindFieldByName("big")), 12U);
  EXPECT_EQ(r->GetUInt32(*order, d->FindFieldByName("f32")), 7U);
  EXPECT_EQ(r->GetInt64(*order, d->FindFieldByName("sf64")), -1);
  EXPECT_EQ(r->GetFloat(*order, d->FindFieldByName("ratio")), 0.25F);
  EXPECT_EQ(r->FieldSize(*order, d->FindFieldByName("items")), 2);
  pb::Struct extra;
  ASSERT_TRUE(extra.ParseFromString(r->GetMessage(*order, d->FindFieldByName("extra")).SerializeAsString()));
  EXPECT_EQ(extra.fields().at("n").kind_case(), pb::Value::kNullValue);
  EXPECT_EQ(extra.fields().at("s").string_value(), "t");
  EXPECT_EQ(extra.fields().at("l").list_value().values(1).bool_value(), false);

  // And back: the value read again is the value written (less what the schema does not hold).
  auto again = schema.decode({0}, order->SerializeAsString());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(json_of(*again.value().find("item")), R"({"sku":"s","qty":-7})");
  EXPECT_EQ(json_of(*again.value().find("at")), "-1500");
  EXPECT_EQ(json_of(*again.value().find("extra")), R"({"n":null,"s":"t","l":[1.5,false]})");
  EXPECT_EQ(again.value().find("not_in_schema"), nullptr);
  EXPECT_EQ(again.value().find("voucher"), nullptr);
}

TEST(ProtobufSchema, AValueThatDoesNotFitNamesTheField) {
  ProtobufSchema schema = compile(kShop);
  const auto misfit = [&](std::string_view json) {
    std::string out;
    auto status = schema.encode({0}, value_of(json), out);
    return status.ok() ? std::string("(fits)") : status.error().message;
  };
  EXPECT_EQ(misfit(R"({"price":"cheap"})"), "does not fit the Protobuf schema at /price: expected a number, got a string");
  EXPECT_EQ(misfit(R"({"item":{"qty":2.5}})"),
            "does not fit the Protobuf schema at /item/qty: expected a 32-bit integer, got a number");
  EXPECT_EQ(misfit(R"({"status":"LOST"})"), "does not fit the Protobuf schema at /status: \"LOST\" is not a value of shop.Status");
  EXPECT_EQ(misfit(R"({"sizes":[1,"2"]})"),
            "does not fit the Protobuf schema at /sizes/1: expected a 32-bit integer, got a string");
  EXPECT_EQ(misfit(R"({"f32":-1})"),
            "does not fit the Protobuf schema at /f32: expected an unsigned 32-bit integer, got an integer");
  EXPECT_EQ(misfit(R"({"blob":"not base64!"})"), "does not fit the Protobuf schema at /blob: expected bytes in base64, got a string");
  EXPECT_EQ(misfit(R"({"at":"2024-01-01"})"),
            "does not fit the Protobuf schema at /at: expected an integer (epoch milliseconds), got a string");
  EXPECT_EQ(misfit(R"([1])"), "does not fit the Protobuf schema at /: expected an object (shop.Order), got an array");
  EXPECT_EQ(misfit(R"({"counts":{"a":"b"}})"), "does not fit the Protobuf schema at /counts/a: expected a 32-bit integer, got a string");

  ProtobufSchema proto2 = compile("syntax = \"proto2\"; message P { required string id = 1; optional int32 n = 2 [default = 7]; }");
  std::string out;
  auto missing = proto2.encode({0}, value_of(R"({"n":1})"), out);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "does not fit the Protobuf schema at /id: required field missing");
  EXPECT_EQ(json_of(proto2.decode({0}, "").value()), R"({"id":null,"n":null})");  // proto2 fields have presence
}

TEST(ProtobufSchema, SchemasThatCannotBeUsedSayWhy) {
  EXPECT_EQ(parse_error("syntax = \"proto3\";\nmessage A { string a = 1 }"), "2:26: Expected \";\".");
  EXPECT_EQ(parse_error("syntax = \"proto3\"; import \"other.proto\"; message A {}"),
            "import \"other.proto\": only the well-known types (google/protobuf/*.proto) can be imported; schema "
            "references are not supported");
  EXPECT_EQ(parse_error("syntax = \"proto3\"; message A { Missing m = 1; }"), "A.m: \"Missing\" is not defined.");
  EXPECT_EQ(parse_error("syntax = \"proto3\"; enum E { Z = 0; }"), "declares no message");
  EXPECT_EQ(parse_error("syntax = \"proto2\"; message A { optional group G = 1 { optional int32 x = 2; } }"),
            "A.g: groups are not supported (use a message field)");
  ProtobufSchema schema = compile(kShop);
  EXPECT_EQ(schema.indexes_of("shop.Refund"), MessageIndexes({1}));
  EXPECT_EQ(schema.indexes_of("shop.Order.Item"), MessageIndexes({0, 0}));
  EXPECT_EQ(schema.indexes_of("google.protobuf.Timestamp"), std::nullopt);  // not declared by this file
  EXPECT_EQ(schema.message_names(), (std::vector<std::string>{"shop.Order", "shop.Order.Item", "shop.Refund"}));
}

TEST(ProtobufSchema, AProjectionBuildsOnlyTheFieldsRead) {
  ProtobufSchema schema = compile(kShop);
  std::string wire;
  ASSERT_TRUE(schema.encode({0}, value_of(R"({"id":"o","price":2.5,"tags":["a"],"item":{"sku":"s"},"card":"x"})"), wire)
                  .ok());
  const std::vector<std::string> fields = {"price", "item", "voucher"};
  auto projected = schema.decode({0}, wire, &fields);
  ASSERT_TRUE(projected.ok()) << projected.error().message;
  EXPECT_EQ(json_of(projected.value()), R"({"price":2.5,"item":{"sku":"s","qty":0}})");
}

TEST(ProtobufSchema, MessageIndexesAreConfluentsZigZagArray) {
  const auto written = [](const MessageIndexes& indexes) {
    std::string out;
    write_message_indexes(indexes, out);
    return out;
  };
  EXPECT_EQ(written({0}), std::string(1, '\0'));
  EXPECT_EQ(written({1}), std::string("\x02\x02", 2));
  EXPECT_EQ(written({1, 0}), std::string("\x04\x02\x00", 3));
  for (const MessageIndexes& indexes : {MessageIndexes{0}, MessageIndexes{3}, MessageIndexes{2, 70, 1}}) {
    std::string framed = written(indexes) + "body";
    std::string_view rest = framed;
    MessageIndexes read;
    ASSERT_TRUE(read_message_indexes(rest, read));
    EXPECT_EQ(read, indexes);
    EXPECT_EQ(rest, "body");
  }
  MessageIndexes read;
  std::string_view truncated("\x04\x02", 2);
  EXPECT_FALSE(read_message_indexes(truncated, read));
  std::string_view negative("\x01", 1);  // zig-zag -1
  EXPECT_FALSE(read_message_indexes(negative, read));
}

TEST(ProtobufSchema, HostileBytesAreErrorsNeverCrashes) {
  ProtobufSchema schema = compile(kShop);
  const auto error_of = [&](std::string_view bytes) {
    auto value = schema.decode({0}, bytes);
    return value.ok() ? std::string("(decoded)") : value.error().message;
  };
  EXPECT_EQ(error_of(std::string("\x0a\x05o", 3)), "Protobuf /id: length past the end");
  EXPECT_EQ(error_of(std::string("\x11\x01", 2)), "Protobuf /amount_cents: 64-bit value for a int64 field");
  EXPECT_EQ(error_of(std::string("\x00", 1)), "Protobuf /: bad field tag");
  EXPECT_EQ(error_of(std::string("\x3a\x02\x10", 3)), "Protobuf /item: length past the end");
  EXPECT_EQ(error_of(std::string("\x3a\x02\x10\xff", 4)), "Protobuf /item/qty: bad int32");
  // An unknown field is skipped (a newer writer); an unknown group is not read.
  EXPECT_EQ(error_of(std::string("\xf8\x07\x01", 3)), "(decoded)");
  EXPECT_EQ(error_of(std::string("\xfb\x07", 2)), "Protobuf /: bad unknown field 127");
  // Nesting past the limit.
  ProtobufSchema nested = compile("syntax = \"proto3\"; message N { N next = 1; }");
  std::string deep;
  for (int i = 0; i < 100; ++i) deep = std::string("\x0a") + static_cast<char>(deep.size()) + deep;
  auto too_deep = nested.decode({0}, deep.substr(0, 200));
  EXPECT_FALSE(too_deep.ok());
  // Random bytes: any result, no crash, and within the time of a unit test.
  std::mt19937 random(42);
  for (int round = 0; round < 20'000; ++round) {
    std::string bytes(random() % 40, '\0');
    for (char& c : bytes) c = static_cast<char>(random());
    (void)schema.decode({0}, bytes);
    (void)nested.decode({0}, bytes);
  }
}

TEST(SinkSchema, ProtobufValuesAreFramedWithTheIdAndTheMessageIndexes) {
  SinkSchema sink;
  sink.id = 42;
  sink.kind = SchemaKind::protobuf;
  sink.protobuf = std::make_shared<const ProtobufSchema>(compile(kShop));
  sink.message = {1};
  std::string out;
  ASSERT_TRUE(sink.encode(value_of(R"({"order_id":"o","cents":5})"), out).ok());
  EXPECT_EQ(out, std::string("\x00\x00\x00\x00\x2a\x02\x02\x0a\x01o\x10\x05", 12));
}

}  // namespace
}  // namespace sluice::formats
