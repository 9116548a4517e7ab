// Every stateless operator through the in-process TestDriver: outputs, dead letters with their headers,
// formats, timestamps, and partition placement across several partitions. Route, merge and fan-out, map, select
// and flat_map are case files now: tests/cases/stateless-operators.cases/ (run by `sluice test`).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sluice/core/clock.hpp"
#include "sluice/runtime/pipeline.hpp"
#include "sluice/runtime/test_driver.hpp"
#include "sluice/topology/topology.hpp"
#include "support/parsed_topology.hpp"

using namespace sluice;
using nlohmann::json;

namespace {

json single(const json& source, const json& op, const json& sink_extra = json::object()) {
  json sink = {{"from", op["name"]}, {"topic", "out"}};
  sink.update(sink_extra);
  return {{"application_id", "test"}, {"sources", {source}}, {"operators", {op}}, {"sinks", {sink}}};
}

const json in_source = {{"name", "in"}, {"topic", "in"}};

std::vector<json> values(const std::vector<runtime::DriverRecord>& records) {
  std::vector<json> out;
  for (const auto& record : records) out.push_back(json::parse(*record.value));
  return out;
}

}  // namespace

class DriverTest : public ::testing::Test {
 protected:
  core::ManualClock clock{1'000'000};
};

TEST_F(DriverTest, FilterKeepsMatchesAndCountsDiscards) {
  auto topology = sluice::testing::parse_valid(single(in_source, {{"name", "big"}, {"from", "in"}, {"filter", "amount > 10"}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("in", "a", R"({"amount": 5})");
  driver.pipe("in", "b", R"({"amount": 50})");
  driver.pipe("in", "c", R"({"other": 1})");  // null predicate: dropped, not an error
  auto out = driver.read("out");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(*out[0].key, "b");
  EXPECT_EQ(driver.discarded(), 2u);
  EXPECT_EQ(driver.dead_lettered(), 0u);
}

TEST_F(DriverTest, FilterTypeErrorIsDeadLetteredWithHeaders) {
  auto topology = sluice::testing::parse_valid(single(in_source, {{"name", "big"}, {"from", "in"}, {"filter", "amount * 2 > 10"}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("in", "k1", R"({"amount": 1})", 0, 0);
  driver.pipe("in", "k2", R"({"amount": "many"})", 0, 3);
  EXPECT_EQ(driver.read("out").size(), 0u);
  auto dead = driver.read("test-dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(*dead[0].key, "k2");
  EXPECT_EQ(*dead[0].value, R"({"amount": "many"})");  // original bytes
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "type_error");
  EXPECT_EQ(dead[0].header("sluice.operator"), "big");
  EXPECT_EQ(dead[0].header("sluice.source.topic"), "in");
  EXPECT_EQ(dead[0].header("sluice.source.partition"), "3");
  EXPECT_EQ(dead[0].header("sluice.source.offset"), "0");
  EXPECT_NE(dead[0].header("sluice.error.message")->find("string"), std::string::npos);
}

TEST_F(DriverTest, UnparseableValueIsDeadLetteredAndProcessingContinues) {
  auto topology = sluice::testing::parse_valid(single(in_source, {{"name", "all"}, {"from", "in"}, {"filter", "true"}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("in", "a", "{broken");
  driver.pipe("in", "b", R"({"ok": true})");
  EXPECT_EQ(driver.read("out").size(), 1u);
  auto dead = driver.read("test-dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "deserialization");
  EXPECT_EQ(dead[0].header("sluice.operator"), "source:in");
  EXPECT_EQ(dead[0].header("sluice.source.offset"), "0");
}

TEST_F(DriverTest, MapOnNonObjectIsTypeError) {
  auto topology = sluice::testing::parse_valid(single({{"name", "in"}, {"topic", "in"}, {"value", "string"}},
                               {{"name", "m"}, {"from", "in"}, {"map", {{"x", "1"}}}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("in", "k", "plain text");
  auto dead = driver.read("test-dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "type_error");
}

TEST_F(DriverTest, RekeyPlacesRecordsByMurmur2AcrossPartitions) {
  auto topology = sluice::testing::parse_valid(single(in_source, {{"name", "by_user"}, {"from", "in"}, {"rekey", "user"}}));
  runtime::TestDriver driver(topology, clock, {{"out", 6}});
  for (int i = 0; i < 60; ++i) driver.pipe("in", std::nullopt, json{{"user", "u" + std::to_string(i % 12)}}.dump(), 0, i % 3);
  auto out = driver.read("out");
  ASSERT_EQ(out.size(), 60u);
  std::map<std::string, int> partition_of;
  for (const auto& record : out) {
    EXPECT_EQ(record.partition, runtime::murmur2_partition(*record.key, 6));
    auto [it, inserted] = partition_of.emplace(*record.key, record.partition);
    EXPECT_EQ(it->second, record.partition);  // a key always lands on one partition
  }
  std::set<int> used;
  for (const auto& [key, partition] : partition_of) used.insert(partition);
  EXPECT_GT(used.size(), 2u);
  driver.pipe("in", "k", R"({"no_user": 1})");
  auto dead = driver.read("test-dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "missing_field");
}

TEST_F(DriverTest, RekeyWithNumberAndJsonKeyFormats) {
  auto topology = sluice::testing::parse_valid(single(in_source, {{"name", "r"}, {"from", "in"}, {"rekey", "id"}}, {{"key", "json"}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("in", std::nullopt, R"({"id": 42})");
  driver.pipe("in", std::nullopt, R"({"id": "x"})");
  auto out = driver.read("out");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(*out[0].key, "42");
  EXPECT_EQ(*out[1].key, "\"x\"");
}

TEST_F(DriverTest, RouteWithoutDefaultDiscardsUnmatched) {
  json document = {{"application_id", "test"},
                   {"sources", {in_source}},
                   {"operators", {{{"name", "r"}, {"from", "in"}, {"route", {{{"name", "a"}, {"when", "t == 'a'"}}}}}}},
                   {"sinks", {{{"from", "r.a"}, {"topic", "a"}}}}};
  auto topology = sluice::testing::parse_valid(document);
  runtime::TestDriver driver(topology, clock);
  driver.pipe("in", "k", R"({"t": "a"})");
  driver.pipe("in", "k", R"({"t": "b"})");
  EXPECT_EQ(driver.read("a").size(), 1u);
  EXPECT_EQ(driver.discarded(), 1u);
}

TEST_F(DriverTest, TimestampsFromFieldsInEveryFormat) {
  auto run = [&](const json& timestamp, const std::string& value) {
    json source = {{"name", "in"}, {"topic", "in"}, {"timestamp", timestamp}};
    auto topology = sluice::testing::parse_valid(single(source, {{"name", "f"}, {"from", "in"}, {"filter", "true"}}));
    runtime::TestDriver driver(topology, clock);
    driver.pipe("in", "k", value, 5);
    auto out = driver.read("out");
    auto dead = driver.read("test-dlq");
    return std::make_pair(out.empty() ? std::int64_t{-1} : out[0].timestamp_ms,
                          dead.empty() ? std::string() : *dead[0].header("sluice.error.kind"));
  };
  EXPECT_EQ(run("record", R"({"t": 1})"), std::make_pair(std::int64_t{5}, std::string()));
  EXPECT_EQ(run({{"field", "t"}}, R"({"t": 1700000000123})"), std::make_pair(std::int64_t{1700000000123}, std::string()));
  EXPECT_EQ(run({{"field", "t"}, {"format", "epoch_s"}}, R"({"t": 1700000000.5})"),
            std::make_pair(std::int64_t{1700000000500}, std::string()));
  EXPECT_EQ(run({{"field", "meta.t"}, {"format", "iso8601"}}, R"({"meta": {"t": "2026-11-21T10:00:00.5Z"}})"),
            std::make_pair(std::int64_t{1795255200500}, std::string()));
  EXPECT_EQ(run({{"field", "t"}}, R"({"x": 1})"), std::make_pair(std::int64_t{-1}, std::string("missing_field")));
  EXPECT_EQ(run({{"field", "t"}}, R"({"t": "soon"})"), std::make_pair(std::int64_t{-1}, std::string("type_error")));
  EXPECT_EQ(run({{"field", "t"}, {"format", "iso8601"}}, R"({"t": "21/11/2026"})"),
            std::make_pair(std::int64_t{-1}, std::string("invalid_value")));
  EXPECT_EQ(run({{"field", "t"}}, R"({"t": -5})"), std::make_pair(std::int64_t{-1}, std::string("invalid_value")));
}

TEST_F(DriverTest, StringAndBytesFormatsPassTextThrough) {
  json source = {{"name", "in"}, {"topic", "in"}, {"key", "bytes"}, {"value", "string"}};
  auto topology = sluice::testing::parse_valid(single(source, {{"name", "u"}, {"from", "in"}, {"filter", "length($value) > 2"}},
                               {{"value", "string"}, {"key", "bytes"}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("in", std::string("\x00\x01", 2), "hello");
  driver.pipe("in", std::nullopt, "hi");
  auto out = driver.read("out");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(*out[0].key, std::string("\x00\x01", 2));
  EXPECT_EQ(*out[0].value, "hello");
}

TEST_F(DriverTest, HeadersAreKeptOnOutputs) {
  auto topology = sluice::testing::parse_valid(single(in_source, {{"name", "f"}, {"from", "in"}, {"filter", "$headers.trace != null"}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("in", "k", "{}", 0, 0, {{"trace", "abc"}});
  driver.pipe("in", "k", "{}", 0, 0, {});
  auto out = driver.read("out");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header("trace"), "abc");
}

TEST_F(DriverTest, KeyJsonFormatParsesAndRejects) {
  json source = {{"name", "in"}, {"topic", "in"}, {"key", "json"}};
  auto topology = sluice::testing::parse_valid(single(source, {{"name", "f"}, {"from", "in"}, {"filter", "$key.region == 'eu'"}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("in", R"({"region": "eu"})", "{}");
  driver.pipe("in", "not json", "{}");
  EXPECT_EQ(driver.read("out").size(), 1u);
  auto dead = driver.read("test-dlq");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "deserialization");
}

TEST_F(DriverTest, EveryInputIsAccountedFor) {
  // in = outputs + discarded + dead-lettered, for a mix of good, filtered and bad records.
  auto topology = sluice::testing::parse_valid(single(in_source, {{"name", "f"}, {"from", "in"}, {"filter", "n / d > 1"}}));
  runtime::TestDriver driver(topology, clock);
  int inputs = 0;
  for (int i = 0; i < 100; ++i, ++inputs) {
    std::string value = i % 10 == 0 ? "{" : json{{"n", i}, {"d", i % 7}}.dump();
    driver.pipe("in", "k", value);
  }
  std::size_t outputs = driver.read("out").size();
  EXPECT_EQ(outputs + driver.discarded() + driver.dead_lettered(), static_cast<std::size_t>(inputs));
  EXPECT_GT(driver.dead_lettered(), 10u);  // unparseable and division by zero
}

TEST(Murmur2, MatchesKafkaJavaClientVectors) {
  // Expected values from Apache Kafka's UtilsTest for Utils.murmur2 (signed 32-bit).
  EXPECT_EQ(static_cast<std::int32_t>(runtime::murmur2("21")), -973932308);
  EXPECT_EQ(static_cast<std::int32_t>(runtime::murmur2("foobar")), -790332482);
  EXPECT_EQ(static_cast<std::int32_t>(runtime::murmur2("a-little-bit-long-string")), -985981536);
  EXPECT_EQ(static_cast<std::int32_t>(runtime::murmur2("a-little-bit-longer-string")), -1486304829);
  EXPECT_EQ(static_cast<std::int32_t>(runtime::murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")), -58897971);
  EXPECT_EQ(static_cast<std::int32_t>(runtime::murmur2("abc")), 479470107);
}

TEST_F(DriverTest, NullAndEmptyHeaderValuesReachTheSinkAndExpressionsAsTheyCame) {
  auto topology = sluice::testing::parse_valid(single(in_source, {{"name", "m"},
                                           {"from", "in"},
                                           {"map",
                                            {{"none_is_null", "$headers.none is null"},
                                             {"empty_is_null", "$headers.empty is null"},
                                             {"empty", "$headers.empty"}}}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("in", "k", R"({"a": 1})", 0, 0, {{"none", std::nullopt}, {"empty", ""}});
  auto out = driver.read("out");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(json::parse(*out[0].value), (json{{"a", 1}, {"none_is_null", true}, {"empty_is_null", false}, {"empty", ""}}));
  const core::Header* none = out[0].find_header("none");
  ASSERT_NE(none, nullptr);
  EXPECT_FALSE(none->value.has_value());
  ASSERT_NE(out[0].find_header("empty"), nullptr);
  EXPECT_EQ(out[0].find_header("empty")->value, std::optional<std::string>(""));
  EXPECT_EQ(out[0].find_header("absent"), nullptr);
}

// Decoding builds only the fields downstream reads (Pipeline::collect_fields_read): what each shape of
// topology projects, and that the results stay those of the whole value.
TEST(DecodeProjection, NamesTheFieldsReadUntilTheValueIsReplacedAndNothingWhenItIsWrittenWhole) {
  const auto projection_of = [](const json& operators, const json& sinks, const json& source = in_source) {
    json document = {{"application_id", "test"}, {"sources", {source}}, {"operators", operators}, {"sinks", sinks}};
    auto topology = sluice::testing::parse_valid(document);
    runtime::Pipeline pipeline(topology);
    return pipeline.source_projection(0);
  };
  using Fields = std::optional<std::vector<std::string>>;
  const json window = {{"type", "tumbling"}, {"size", "10s"}};
  // filter -> windowed max -> select -> sink: the aggregate replaces the value.
  EXPECT_EQ(projection_of({{{"name", "bids"}, {"from", "in"}, {"filter", "type == 'bid'"}},
                           {{"name", "top"}, {"from", "bids"}, {"window", window}, {"aggregate", {{"m", "max(price)"}}}},
                           {{"name", "out"}, {"from", "top"}, {"select", {{"m", "m"}, {"extra", "window_start"}}}}},
                          {{{"from", "out"}, {"topic", "out"}}}),
            Fields(std::vector<std::string>{"type", "price"}));
  // The event-time field counts, and a route's predicates, a map's expressions, a flat_map with `as`.
  EXPECT_EQ(projection_of({{{"name", "r"}, {"from", "in"},
                            {"route", {{{"name", "big"}, {"when", "amount > 10"}}}}},
                           {{"name", "m"}, {"from", "r.big"}, {"map", {{"x", "lower(user.name)"}}}},
                           {{"name", "f"}, {"from", "m"}, {"flat_map", "items"}, {"as", "item"}},
                           {{"name", "s"}, {"from", "f"}, {"select", {{"x", "x"}, {"p", "item.price"}}}}},
                          {{{"from", "s"}, {"topic", "out"}}},
                          {{"name", "in"}, {"topic", "in"}, {"timestamp", {{"field", "ts"}}}}),
            Fields(std::vector<std::string>{"ts", "amount", "user", "items", "item", "x"}));
  // Written whole by a sink: no projection, nor after a map (it keeps the other fields), nor with $value.
  EXPECT_EQ(projection_of({{{"name", "f"}, {"from", "in"}, {"filter", "a > 1"}}}, {{{"from", "f"}, {"topic", "out"}}}),
            Fields());
  EXPECT_EQ(projection_of({{{"name", "m"}, {"from", "in"}, {"map", {{"b", "a + 1"}}}}},
                          {{{"from", "m"}, {"topic", "out"}}}),
            Fields());
  EXPECT_EQ(projection_of({{{"name", "s"}, {"from", "in"}, {"select", {{"all", "$value"}}}}},
                          {{{"from", "s"}, {"topic", "out"}}}),
            Fields());
  // Fan-out: one branch writing the value whole is enough to keep it whole.
  EXPECT_EQ(projection_of({{{"name", "s"}, {"from", "in"}, {"select", {{"a", "a"}}}}},
                          {{{"from", "s"}, {"topic", "out"}}, {{"from", "in"}, {"topic", "copy"}}}),
            Fields());
  // A rekey writes the value whole to the repartition topic; the repartition topic's reader needs nothing for
  // count() (an empty object) and only `price` for sum(price).
  {
    json document = {{"application_id", "test"},
                     {"sources", {in_source}},
                     {"operators",
                      {{{"name", "k"}, {"from", "in"}, {"rekey", "to_string(bidder)"}},
                       {{"name", "c"}, {"from", "k"}, {"aggregate", {{"n", "count()"}, {"p", "sum(price)"}}}}}},
                     {"sinks", {{{"from", "c"}, {"topic", "out"}}}}};
    auto topology = sluice::testing::parse_valid(document);
    runtime::Pipeline pipeline(topology);
    ASSERT_EQ(pipeline.sources().size(), 2u);
    EXPECT_EQ(pipeline.source_projection(0), Fields());
    EXPECT_EQ(pipeline.source_projection(1), Fields(std::vector<std::string>{"price"}));
  }
}

TEST(DecodeProjection, ResultsAndDeadLettersAreThoseOfTheWholeValue) {
  core::ManualClock clock{1'000'000};
  json document = {{"application_id", "test"},
                   {"sources", {in_source}},
                   {"operators",
                    {{{"name", "f"}, {"from", "in"}, {"filter", "kind == 'x'"}},
                     {{"name", "agg"}, {"from", "f"}, {"aggregate", {{"total", "sum(amount)"}, {"n", "count()"}}}}}},
                   {"sinks", {{{"from", "agg"}, {"topic", "out"}}}}};
  auto topology = sluice::testing::parse_valid(document);
  runtime::TestDriver driver(topology, clock);
  driver.pipe("in", "a", R"({"pad":"0123456789","kind":"x","amount":2,"nested":{"deep":[1,2,3]}})");
  driver.pipe("in", "a", R"({"kind":"y","amount":100})");
  driver.pipe("in", "a", R"({"amount":3,"kind":"x","other":null})");
  driver.pipe("in", "a", R"({"kind":"x","amount":"three"})");        // a type error in a field read
  driver.pipe("in", "a", R"({"kind":"x","amount":1,"unread":[1,}])");  // invalid in a field not read
  driver.commit();
  auto out = values(driver.read("out"));
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), json({{"total", 5}, {"n", 2}}));
  auto dead = driver.read("test-dlq");
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_EQ(*dead[0].header("sluice.error.kind"), "type_error");
  EXPECT_EQ(*dead[0].value, R"({"kind":"x","amount":"three"})");  // the input's bytes, not the projection
  EXPECT_EQ(*dead[1].header("sluice.error.kind"), "deserialization");
}

// Found by the event-router example's case: dead letters dropped the input's own headers, so a record replayed
// from the dead-letter topic lost its trace ids. They are kept, ahead of sluice's, which replace any of the same
// name (a dead letter replayed and failing again says once why).
TEST(DeadLetters, KeepTheInputsHeadersAndReplaceOnlySluicesOwn) {
  core::ManualClock clock{1'000'000};
  auto topology = sluice::testing::parse_valid(
      single(in_source, {{"name", "big"}, {"from", "in"}, {"filter", "amount > 10"}}));
  runtime::TestDriver driver(topology, clock);
  driver.pipe("in", "a", "{oops", 5, 0, {{"trace", "t-1"}, {"sluice.error.kind", "late"}, {"empty", std::nullopt}});
  driver.pipe("in", "b", R"({"amount": "x"})", 6, 0, {{"trace", "t-2"}});
  auto dead = driver.read("test-dlq");
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_EQ(dead[0].header("trace"), "t-1");
  ASSERT_NE(dead[0].find_header("empty"), nullptr);
  EXPECT_EQ(dead[0].find_header("empty")->value, std::nullopt);
  std::size_t kinds = 0;
  for (const auto& header : dead[0].headers) kinds += header.name == "sluice.error.kind" ? 1 : 0;
  EXPECT_EQ(kinds, 1u);
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "deserialization");
  EXPECT_EQ(dead[0].headers.front().name, "trace");
  EXPECT_EQ(dead[1].header("trace"), "t-2");  // a dead letter of an operator, after decoding
  EXPECT_EQ(dead[1].header("sluice.error.kind"), "type_error");
}
