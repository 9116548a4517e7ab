// Protobuf through a real Schema Registry (scripts/local-registry: Apicurio 2.1.5, Confluent API v6) and the real
// broker: records framed by an independent client (confluent-kafka's ProtobufSerializer, encoded by the protobuf
// runtime; tests/python/protobuf_interop.py) are read by sluice, and what sluice writes is read back by that
// client's ProtobufDeserializer; and the failure cases (not framed, an unknown id, a value that does not fit, a
// schema that does not compile, a message the schema does not declare).
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "sluice/formats/registry.hpp"
#include "support/interop_support.hpp"
#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The schema of the sink: what tests/python/protobuf_interop.py's paid_file() builds as descriptors.
constexpr const char* kPaidProto = R"~(syntax = "proto3";
package shop;

import "google/protobuf/timestamp.proto";

message Paid {
  int64 id = 1;
  string customer = 2;
  double amount = 3;
  optional string note = 4;
  int32 n = 5;
  google.protobuf.Timestamp at = 6;
  string first_sku = 7;
}
)~";

// Protobuf orders in, the paid ones out as shop.Paid.
json topology(const std::string& app, const std::string& input, const std::string& output,
              const std::string& amount_expression = "amount") {
  return {{"application_id", app},
          {"sources", {{{"name", "orders"}, {"topic", input}, {"value", "protobuf"}}}},
          {"operators",
           {{{"name", "paid"}, {"from", "orders"}, {"filter", "status == 'PAID'"}},
            {{"name", "out"},
             {"from", "paid"},
             {"select", {{"id", "id"}, {"customer", "customer"}, {"amount", amount_expression}, {"note", "note"},
                         {"n", "tags.n"}, {"at", "at"}, {"first_sku", "items[0].sku"}}}}}},
          {"sinks",
           {{{"from", "out"}, {"topic", output}, {"value", "protobuf"},
             {"value_schema", {{"schema", kPaidProto}, {"message", "shop.Paid"}}}}}}};
}

std::string interop(const std::string& arguments) {
  return interop_python() + " " + source_dir() + "/tests/python/protobuf_interop.py " + arguments;
}

class ProtobufInterop : public RegistryInteropTest {};

}  // namespace

TEST_F(ProtobufInterop, AnIndependentClientsRecordsAreReadAndWhatSluiceWritesIsReadBack) {
  const std::string app = unique_name("protobuf");
  const std::string input = app + "-orders";
  const std::string output = app + "-paid";
  create_topic(input, 2);
  auto [produced_ok, produced] = run_command(interop("produce " + bootstrap() + " " + registry_url() + " " + input));
  ASSERT_TRUE(produced_ok) << produced;
  const auto written = json_lines(produced);
  ASSERT_EQ(written.size(), 6U);
  // Not the wire format, and an id the registry has never given (with the message-index byte of [0]).
  TestRecord not_framed;
  not_framed.key = "x";
  not_framed.value = R"({"id": 1})";
  TestRecord unknown_id;
  unknown_id.key = "y";
  unknown_id.value = std::string("\0\0\0\x03\xe7\0\x08\x01", 8);
  produce(input, {not_framed, unknown_id});

  auto running = start_sluice(write_temp_file(app + ".json", topology(app, input, output).dump(2)), registry_settings());
  auto dead = consume(app + "-dlq", 2, 60s);
  auto [read_ok, read] = run_command(interop("consume " + bootstrap() + " " + registry_url() + " " + output + " 4"));
  // Requests: the sink's registration and one per schema id seen (the order schema, 999).
  const std::string metrics = http_get(running.port, "/metrics").body;
  EXPECT_EQ(metric_value(metrics, "sluice_schema_registry_requests_total"), 3.0) << metrics;
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
  ASSERT_TRUE(read_ok) << read << running.process->log();

  // What sluice wrote, as the independent client decodes it, is what the input implies. Proto3 leaves defaults
  // off the wire, and the client's JSON prints them: an unset optional note is absent, an empty sku is "".
  std::set<std::string> expected;
  for (const auto& order : written) {
    if (order["status"] != "PAID") continue;
    json paid = {{"id", order["id"]}, {"customer", order["customer"]}, {"amount", order["amount"]},
                 {"n", order["tags"]["n"]}, {"at", order["at"]},
                 {"first_sku", order["items"].empty() ? json("") : order["items"][0]["sku"]}};
    if (order.contains("note")) paid["note"] = order["note"];
    expected.insert(paid.dump());
  }
  std::set<std::string> got;
  for (const auto& value : json_lines(read)) got.insert(value.dump());
  EXPECT_EQ(got, expected) << read;
  ASSERT_EQ(dead.size(), 2U);
  std::map<std::string, std::string> why;
  for (const auto& letter : dead) why[*letter.key] = letter.header("sluice.error.message");
  EXPECT_EQ(why["x"], "value: not in the schema registry's wire format (expected a 0 byte and a 4-byte schema id, got "
                      "9 bytes)");
  EXPECT_NE(why["y"].find("value: schema id 999 is unknown to the schema registry"), std::string::npos) << why["y"];
  for (const auto& letter : dead) EXPECT_EQ(letter.header("sluice.error.kind"), "deserialization");
}

TEST_F(ProtobufInterop, ARecordThatDoesNotFitTheSinkSchemaIsDeadLetteredWithTheField) {
  const std::string app = unique_name("protobuf-misfit");
  const std::string input = app + "-orders";
  create_topic(input, 1);
  auto [ok, produced] = run_command(interop("produce " + bootstrap() + " " + registry_url() + " " + input));
  ASSERT_TRUE(ok) << produced;
  // amount becomes the customer's name: a string where the schema says double.
  auto running = start_sluice(write_temp_file(app + ".json", topology(app, input, app + "-paid", "customer").dump(2)),
                              registry_settings());
  auto dead = consume(app + "-dlq", 4, 60s);
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
  ASSERT_EQ(dead.size(), 4U) << running.process->log();
  for (const auto& letter : dead) {
    EXPECT_EQ(letter.header("sluice.error.message"),
              "does not fit the Protobuf schema at /amount: expected a number, got a string");
    EXPECT_EQ(letter.header("sluice.error.kind"), "invalid_value");
  }
}

TEST_F(ProtobufInterop, ASinkSchemaThatCannotBeUsedStopsTheStartByPointer) {
  const std::string app = unique_name("protobuf-bad");
  json missing_message = topology(app, app + "-orders", app + "-paid");
  missing_message["sinks"][0]["value_schema"]["message"] = "shop.Refund";
  SluiceProcess validate({"validate", write_temp_file(app + "-a.json", missing_message.dump(2))});
  EXPECT_EQ(validate.wait(30s), 2) << validate.log();
  EXPECT_NE(validate.log().find("/sinks/0/value_schema/message: the schema declares no message \"shop.Refund\" (it "
                                "declares shop.Paid)"),
            std::string::npos)
      << validate.log();

  json not_compiling = topology(app, app + "-orders", app + "-paid");
  not_compiling["sinks"][0]["value_schema"]["schema"] = "syntax = \"proto3\";\nmessage Paid { Money amount = 1; }";
  SluiceProcess run({"run", write_temp_file(app + "-b.json", not_compiling.dump(2)), "--bootstrap", bootstrap(),
                     "--set", "http_port=0", "--set", "schema_registry_url=" + registry_url()});
  EXPECT_EQ(run.wait(60s), 2) << run.log();
  EXPECT_NE(run.log().find("/sinks/0/value_schema/schema: not a Protobuf schema (.proto file): Paid.amount: "
                           "\"Money\" is not defined."),
            std::string::npos)
      << run.log();
}

TEST_F(ProtobufInterop, AnIncompatibleSinkSchemaStopsTheStartWithTheRegistrysReason) {
  const std::string app = unique_name("protobuf-incompatible");
  const std::string input = app + "-orders";
  const std::string output = app + "-paid";
  create_topic(input, 1);
  sluice::formats::SchemaRegistry registry({{registry_url()}, "", "", 10'000ms, 100});
  // The subject holds a Paid whose field 1 is a string, and accepts only backward-compatible changes: field 1
  // becoming an int64 (as in kPaidProto) is not.
  ASSERT_TRUE(registry.register_schema(output + "-value", sluice::formats::SchemaKind::protobuf,
                                       "syntax = \"proto3\";\npackage shop;\n\nmessage Paid {\n  string id = 1;\n}\n")
                  .ok());
  ASSERT_TRUE(registry.set_compatibility(output + "-value", "BACKWARD").ok());
  SluiceProcess process({"run", write_temp_file(app + ".json", topology(app, input, output).dump(2)), "--bootstrap",
                         bootstrap(), "--set", "http_port=0", "--set", "schema_registry_url=" + registry_url()});
  EXPECT_EQ(process.wait(60s), 2) << process.log();
  EXPECT_NE(process.log().find("/sinks/0/value_schema: the schema registry refuses the schema under subject \"" +
                               output + "-value\": HTTP 409"),
            std::string::npos)
      << process.log();
}

// topologies/orders-protobuf.json on records of the independent client: the example as a user runs it.
TEST_F(ProtobufInterop, TheExampleTopologyRunsOnProtobufInput) {
  const std::string app = unique_name("orders-protobuf");
  json document = json::parse(std::ifstream(source_dir() + "/topologies/orders-protobuf.json"));
  document["application_id"] = app;
  document["sources"][0]["topic"] = app + "-orders";
  document["sinks"][0]["topic"] = app + "-revenue";
  document["sinks"][0]["value_schema"]["file"] = source_dir() + "/topologies/schemas/revenue-per-minute.proto";
  const std::string path = write_temp_file(app + ".json", document.dump(2));
  // One partition, and a last (unpaid) order five minutes later: stream time passes the minute and its grace.
  create_topic(app + "-orders", 1);
  const std::int64_t start = 1'795'255'200'000 + 6 * 86'400'000LL;  // 2026-11-27T10:00:00Z
  auto [ok, produced] = run_command(interop("produce " + bootstrap() + " " + registry_url() + " " + app + "-orders " +
                                            std::to_string(start + 300'000)));
  ASSERT_TRUE(ok) << produced;
  auto running = start_sluice(path, registry_settings());
  auto [read_ok, read] = run_command(interop("consume " + bootstrap() + " " + registry_url() + " " + app +
                                             "-revenue 2 shop.RevenuePerMinute"));
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
  ASSERT_TRUE(read_ok) << read << running.process->log();
  // The six orders (10:00:00-10:00:05) are one minute; orders 1, 2, 4 and 5 are paid (id % 3 != 0); order i has
  // i % 3 items: c0 (orders 2, 4) and c1 (orders 1, 5) have 3 each.
  std::set<std::string> got;
  for (const auto& value : json_lines(read)) got.insert(value.dump());
  EXPECT_EQ(got, (std::set<std::string>{
                     json{{"items", 3}, {"largest", 40.25}, {"orders", 2}, {"revenue", 60.5},
                          {"window_end", start + 60'000}, {"window_start", start}}.dump(),
                     json{{"items", 3}, {"largest", 50.25}, {"orders", 2}, {"revenue", 60.5},
                          {"window_end", start + 60'000}, {"window_start", start}}.dump()}))
      << read;
}
