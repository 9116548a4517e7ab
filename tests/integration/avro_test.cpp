// Avro through a real Schema Registry (scripts/local-registry: Apicurio 2.1.5, Confluent API v6) and the real
// broker: records written by an independent client (confluent-kafka's AvroSerializer, tests/python) are read by
// sluice, and what sluice writes is read back by that client's AvroDeserializer; and the failure cases.
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

// Runs a shell command; its stdout, and whether it exited 0.
std::pair<bool, std::string> run(const std::string& command) { return run_command(command); }
std::string python() { return interop_python(); }

// A topology reading Avro orders and writing the paid ones as Avro `Paid` records.
std::string topology(const std::string& app, const std::string& input, const std::string& output,
                     const json& amount_expression = "amount", const json& paid_fields = json()) {
  json fields = paid_fields.is_null()
                    ? json::array({{{"name", "id"}, {"type", "long"}},
                                   {{"name", "customer"}, {"type", "string"}},
                                   {{"name", "amount"}, {"type", "double"}},
                                   {{"name", "note"}, {"type", {"null", "string"}}},
                                   {{"name", "n"}, {"type", "int"}},
                                   {{"name", "at"}, {"type", {{"type", "long"}, {"logicalType", "timestamp-millis"}}}}})
                    : paid_fields;
  json document = {
      {"application_id", app},
      {"sources", {{{"name", "orders"}, {"topic", input}, {"value", "avro"}}}},
      {"operators",
       {{{"name", "paid"}, {"from", "orders"}, {"filter", "status == 'PAID'"}},
        {{"name", "out"},
         {"from", "paid"},
         {"select", {{"id", "id"}, {"customer", "customer"}, {"amount", amount_expression}, {"note", "note"},
                     {"n", "tags.n"}, {"at", "at"}}}}}},
      {"sinks",
       {{{"from", "out"},
         {"topic", output},
         {"value", "avro"},
         {"value_schema", {{"schema", {{"type", "record"}, {"name", "Paid"}, {"namespace", "shop"}, {"fields", fields}}}}}}}}};
  return write_temp_file(app + ".json", document.dump(2));
}

class AvroInterop : public RegistryInteropTest {};

}  // namespace

TEST_F(AvroInterop, AnIndependentClientsRecordsAreReadAndWhatSluiceWritesIsReadBack) {
  const std::string app = unique_name("avro");
  const std::string input = app + "-orders";
  const std::string output = app + "-paid";
  create_topic(input, 2);
  auto [produced_ok, produced] =
      run(python() + " " + source_dir() + "/tests/python/avro_interop.py produce " + bootstrap() + " " + registry_url() +
          " " + input);
  ASSERT_TRUE(produced_ok) << produced;
  const auto written = json_lines(produced);
  ASSERT_EQ(written.size(), 6U);
  // Not Avro, and an id the registry has never given.
  TestRecord not_framed;
  not_framed.key = "x";
  not_framed.value = R"({"id": 1})";
  TestRecord unknown_id;
  unknown_id.key = "y";
  unknown_id.value = std::string("\0\0\0\x03\xe7\x02", 6);
  produce(input, {not_framed, unknown_id});

  auto running = start_sluice(topology(app, input, output), registry_settings());
  auto dead = consume(app + "-dlq", 2, 60s);
  auto [read_ok, read] = run(python() + " " + source_dir() + "/tests/python/avro_interop.py consume " + bootstrap() +
                             " " + registry_url() + " " + output + " 4");
  // Requests: the sink's registration and one per schema id seen (the order schema, 999); every other record's
  // schema came from the cache.
  const std::string metrics = http_get(running.port, "/metrics").body;
  EXPECT_EQ(metric_value(metrics, "sluice_schema_registry_requests_total"), 3.0) << metrics;
  EXPECT_EQ(metric_value(metrics, "sluice_schema_registry_cache_hits_total"), 5.0) << metrics;
  EXPECT_EQ(metric_value(metrics, "sluice_schema_registry_errors_total"), 1.0) << metrics;  // the 404 of id 999
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
  ASSERT_TRUE(read_ok) << read << running.process->log();

  // What sluice wrote, as the independent client decodes it, is what the input implies.
  std::set<std::string> expected;
  for (const auto& order : written) {
    if (order["status"] != "PAID") continue;
    expected.insert(json{{"id", order["id"]}, {"customer", order["customer"]}, {"amount", order["amount"]},
                         {"note", order["note"]}, {"n", order["tags"]["n"]}, {"at", order["at"]}}
                        .dump());
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

TEST_F(AvroInterop, ARecordThatDoesNotFitTheSinkSchemaIsDeadLetteredWithTheField) {
  const std::string app = unique_name("avro-misfit");
  const std::string input = app + "-orders";
  const std::string output = app + "-paid";
  create_topic(input, 1);
  auto [ok, produced] = run(python() + " " + source_dir() + "/tests/python/avro_interop.py produce " + bootstrap() +
                            " " + registry_url() + " " + input);
  ASSERT_TRUE(ok) << produced;
  // amount becomes the customer's name: a string where the schema says double.
  auto running = start_sluice(topology(app, input, output, "customer"), registry_settings());
  auto dead = consume(app + "-dlq", 4, 60s);
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
  ASSERT_EQ(dead.size(), 4U) << running.process->log();
  for (const auto& letter : dead) {
    EXPECT_EQ(letter.header("sluice.error.message"),
              "does not fit the Avro schema at /amount: expected double, got string");
  }
}

TEST_F(AvroInterop, AnIncompatibleSinkSchemaStopsTheStartWithTheRegistrysReason) {
  const std::string app = unique_name("avro-incompatible");
  const std::string input = app + "-orders";
  const std::string output = app + "-paid";
  create_topic(input, 1);
  sluice::formats::SchemaRegistry registry({{registry_url()}, "", "", 10'000ms, 100});
  // The subject holds a record with only an id, and accepts only backward-compatible changes: a new field without
  // a default is not.
  ASSERT_TRUE(registry.register_schema(output + "-value", sluice::formats::SchemaKind::avro,
                                       R"({"type": "record", "name": "Paid", "namespace": "shop", "fields": [{"name": "id", "type": "long"}]})")
                  .ok());
  ASSERT_TRUE(registry.set_compatibility(output + "-value", "BACKWARD").ok());
  SluiceProcess process({"run", topology(app, input, output), "--bootstrap", bootstrap(), "--set", "http_port=0",
                         "--set", "schema_registry_url=" + registry_url()});
  EXPECT_EQ(process.wait(60s), 2) << process.log();
  EXPECT_NE(process.log().find("/sinks/0/value_schema: the schema registry refuses the schema under subject \"" + output +
                               "-value\": HTTP 409: Incompatible"),
            std::string::npos)
      << process.log();
}

TEST(AvroRegistryDown, AnUnreachableRegistryAtStartIsRetriedAndShownInReadyz) {
  const std::string app = unique_name("avro-down");
  create_topic(app + "-orders", 1);
  const int dead_port = free_port();
  auto running = start_sluice(topology(app, app + "-orders", app + "-paid"),
                              {"--set", "schema_registry_url=http://127.0.0.1:" + std::to_string(dead_port),
                               "--set", "startup_backoff_max=500ms"},
                              false);
  HttpResult ready;
  ASSERT_TRUE(eventually([&] {
    ready = http_get(running.port, "/readyz");
    return ready.status == 503 && ready.body.find("waiting for the schema registry") != std::string::npos;
  }, 30s)) << ready.body << running.process->log();
  ASSERT_TRUE(eventually([&] {
    const std::string log = running.process->log();
    std::size_t retries = 0;
    for (std::size_t at = log.find("waiting for the schema registry"); at != std::string::npos;
         at = log.find("waiting for the schema registry", at + 1)) {
      ++retries;
    }
    return retries >= 3;
  }, 30s)) << running.process->log();
  EXPECT_TRUE(running.process->running());
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
}

// topologies/orders-avro.json on records of the independent client: the example as a user runs it.
TEST_F(AvroInterop, TheExampleTopologyRunsOnAvroInput) {
  const std::string app = unique_name("orders-avro");
  json document = json::parse(std::ifstream(source_dir() + "/topologies/orders-avro.json"));
  document["application_id"] = app;
  document["sources"][0]["topic"] = app + "-orders";
  document["sinks"][0]["topic"] = app + "-revenue";
  document["sinks"][0]["value_schema"]["file"] = source_dir() + "/topologies/schemas/revenue-per-minute.avsc";
  const std::string path = write_temp_file(app + ".json", document.dump(2));
  // One partition, and a last (unpaid) order five minutes later: stream time passes the minute and its grace.
  create_topic(app + "-orders", 1);
  const std::int64_t start = 1'795'255'200'000 + 6 * 86'400'000LL;  // 2026-11-27T10:00:00Z
  auto [ok, produced] = run(python() + " " + source_dir() + "/tests/python/avro_interop.py produce " + bootstrap() +
                            " " + registry_url() + " " + app + "-orders " + std::to_string(start + 300'000));
  ASSERT_TRUE(ok) << produced;
  auto running = start_sluice(path, registry_settings());
  auto [read_ok, read] = run(python() + " " + source_dir() + "/tests/python/avro_interop.py consume " + bootstrap() +
                             " " + registry_url() + " " + app + "-revenue 2");
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
  ASSERT_TRUE(read_ok) << read << running.process->log();
  // The six orders (10:00:00-10:00:05) are one minute; orders 1, 2, 4 and 5 are paid (id % 3 != 0).
  std::set<std::string> got;
  for (const auto& value : json_lines(read)) got.insert(value.dump());
  EXPECT_EQ(got, (std::set<std::string>{
                     json{{"largest", 40.25}, {"orders", 2}, {"revenue", 60.5}, {"window_end", start + 60'000},
                          {"window_start", start}}.dump(),
                     json{{"largest", 50.25}, {"orders", 2}, {"revenue", 60.5}, {"window_end", start + 60'000},
                          {"window_start", start}}.dump()}))
      << read;
}

// bench/nexmark/q1-avro.json (the Avro side of `make bench`'s Avro vs JSON comparison) computes what q1 does:
// sluice-nexmark writes the events as Avro, and what sluice writes, read by the independent client, is the
// currency conversion of every bid.
TEST_F(AvroInterop, TheAvroVariantOfNexmarkQ1ComputesWhatQ1Does) {
  const std::string app = unique_name("nexmark-q1-avro");
  const std::string events = app + "-events";
  const std::string nexmark = std::string(SLUICE_BINARY_DIR) + "/sluice-nexmark";
  auto [loaded, load_output] = run(nexmark + " load --bootstrap " + bootstrap() + " --topic " + events +
                                   " --events 2000 --partitions 2 --avro-registry " + registry_url() + " 2>&1");
  ASSERT_TRUE(loaded) << load_output;
  std::multiset<std::string> expected;
  auto [printed, lines] = run(nexmark + " print --events 2000");
  ASSERT_TRUE(printed);
  for (std::size_t start = 0, end; (end = lines.find('\n', start)) != std::string::npos; start = end + 1) {
    const std::string line = lines.substr(start, end - start);
    const json event = json::parse(line.substr(line.rfind('\t') + 1));
    if (event["type"] != "bid") continue;
    expected.insert(json{{"auction", event["auction"]}, {"bidder", event["bidder"]},
                         {"price", event["price"].get<std::int64_t>() * 89 / 100}, {"date_time", event["date_time"]}}
                        .dump());
  }
  ASSERT_EQ(expected.size(), 1840U);

  json document = json::parse(std::ifstream(source_dir() + "/bench/nexmark/q1-avro.json"));
  document["application_id"] = app;
  document["sources"][0]["topic"] = events;
  document["sinks"][0]["topic"] = app + "-out";
  auto running = start_sluice(write_temp_file(app + ".json", document.dump(2)), registry_settings());
  auto [read_ok, read] = run(python() + " " + source_dir() + "/tests/python/avro_interop.py consume " + bootstrap() +
                             " " + registry_url() + " " + app + "-out 1840");
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
  ASSERT_TRUE(read_ok) << running.process->log();
  std::multiset<std::string> got;
  for (const auto& value : json_lines(read)) got.insert(value.dump());
  EXPECT_TRUE(got == expected) << "the Avro q1 output differs from q1's reference";
}

// Keys in Avro too: the independent client writes each order's key as an OrderKey record ({"customer"}) under
// <topic>-key; sluice reads the key's fields like a value's, and a key that is not Avro is dead-lettered as a key.
TEST_F(AvroInterop, AvroKeysAreReadWithTheirOwnSchema) {
  const std::string app = unique_name("avro-keys");
  const std::string input = app + "-orders";
  const std::string output = app + "-paid";
  create_topic(input, 1);
  auto [ok, produced] = run(python() + " " + source_dir() + "/tests/python/avro_interop.py produce-keyed " +
                            bootstrap() + " " + registry_url() + " " + input);
  ASSERT_TRUE(ok) << produced;
  TestRecord plain_key;
  plain_key.key = "c9";  // not the wire format
  plain_key.value = std::string("\0\0\0\x03\xe7\x02", 6);
  produce(input, {plain_key});
  json document = {
      {"application_id", app},
      {"sources", {{{"name", "orders"}, {"topic", input}, {"key", "avro"}, {"value", "avro"}}}},
      {"operators",
       {{{"name", "paid"}, {"from", "orders"}, {"filter", "status == 'PAID'"}},
        {{"name", "out"}, {"from", "paid"}, {"select", {{"id", "id"}, {"customer", "$key.customer"}}}}}},
      {"sinks", {{{"from", "out"}, {"topic", output}, {"key", "json"}}}}};
  auto running = start_sluice(write_temp_file(app + ".json", document.dump(2)), registry_settings());
  auto outputs = consume(output, 4, 60s);
  auto dead = consume(app + "-dlq", 1, 60s);
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
  ASSERT_EQ(outputs.size(), 4U) << running.process->log();
  for (const auto& record : outputs) {
    const json value = json::parse(*record.value);
    const std::string customer = "c" + std::to_string(value["id"].get<int>() % 2);
    EXPECT_EQ(json::parse(*record.key), json({{"customer", customer}})) << *record.key;
    EXPECT_EQ(value["customer"], customer) << *record.value;
  }
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_EQ(dead[0].header("sluice.error.message"),
            "key: not in the schema registry's wire format (expected a 0 byte and a 4-byte schema id, got 2 bytes)");
}

// The registry goes away while records flow. Schemas already fetched keep records flowing (the cache hides the
// outage); a record whose schema id was never fetched makes its partition wait, /readyz says why, nothing past it
// is committed and nothing is dead-lettered while the registry cannot answer; once it answers, processing goes on
// in order. The registry is a private one (its own port and directory), stopped and started by the test.
TEST(AvroRegistryOutage, AWarmCacheHidesItAndAnUnfetchedIdWaitsWithoutLosingTheRecord) {
  if (interop_python().empty()) GTEST_FAIL() << "scripts/python-env failed";
  const std::string app = unique_name("avro-outage");
  const std::string input = app + "-orders";
  const std::string output = app + "-paid";
  const std::string environment = "SLUICE_REGISTRY_PORT=18091 SLUICE_REGISTRY_DIR=/tmp/" + app + "-registry ";
  const std::string url = "http://127.0.0.1:18091/apis/ccompat/v6";
  const auto registry = [&](const std::string& command) {
    auto [ok, out] = run(environment + source_dir() + "/scripts/local-registry " + command + " 2>&1");
    EXPECT_TRUE(ok) << out;
  };
  registry("start");
  create_topic(input, 1);
  auto [ok, produced] = run(python() + " " + source_dir() + "/tests/python/avro_interop.py produce " + bootstrap() +
                            " " + url + " " + input);
  ASSERT_TRUE(ok) << produced;
  auto running = start_sluice(topology(app, input, output), {"--set", "schema_registry_url=" + url});
  ASSERT_EQ(consume(output, 4, 60s).size(), 4U) << running.process->log();

  // The registry stops; the same records again (the schema id sluice has fetched) are processed all the same.
  registry("stop");
  std::vector<TestRecord> again = consume(input, 6, 30s);
  for (auto& record : again) record.partition = -1;
  produce(input, again);
  ASSERT_EQ(consume(output, 8, 60s).size(), 8U) << running.process->log();
  EXPECT_EQ(http_get(running.port, "/readyz").status, 200);

  // A schema id sluice never fetched: it waits for the registry, and says so.
  TestRecord unfetched;
  unfetched.key = "u";
  unfetched.value = std::string("\0\0\0\x03\xe7\x02", 6);
  produce(input, {unfetched, again[1]});  // then a paid order it may not pass while waiting
  const std::int64_t unfetched_offset = 12;
  HttpResult ready;
  ASSERT_TRUE(eventually([&] {
    ready = http_get(running.port, "/readyz");
    return ready.status == 503 && ready.body.find("waiting for the schema registry") != std::string::npos;
  }, 30s)) << ready.body << running.process->log();
  EXPECT_LE(committed_offsets(app, input, 1)[0], unfetched_offset);
  EXPECT_EQ(end_offsets(app + "-dlq", 1)[0], 0);

  // The registry is back (empty: in-memory storage): the id is unknown, so the record is dead-lettered, and the
  // paid order after it comes out.
  registry("start");
  auto dead = consume(app + "-dlq", 1, 60s);
  ASSERT_EQ(dead.size(), 1U) << running.process->log();
  EXPECT_NE(dead[0].header("sluice.error.message").find("schema id 999 is unknown to the schema registry"),
            std::string::npos);
  EXPECT_EQ(consume(output, 9, 60s).size(), 9U) << running.process->log();
  EXPECT_TRUE(eventually([&] { return http_get(running.port, "/readyz").status == 200; }, 30s));
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
  registry("stop");
}
