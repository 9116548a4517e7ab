// Record headers through the real broker and the sluice binary (issue 11, item 5): a header whose value is null
// comes out null and an empty one empty, and expressions see the null as null. Also the librdkafka seam on its
// own: what the producer wrapper writes is what the consumer wrapper reads.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/kafka_test_support.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::vector<core::Header> kHeaders = {{"none", std::nullopt}, {"empty", ""}, {"text", "v"}};

TestRecord with_headers(const std::string& key) {
  TestRecord record;
  record.key = key;
  record.value = json{{"id", key}}.dump();
  record.headers = kHeaders;
  return record;
}

}  // namespace

TEST(Headers, NullAndEmptyValuesRoundTripThroughTheBroker) {
  const std::string topic = unique_name("headers-raw");
  create_topic(topic, 1);
  produce(topic, {with_headers("a")});
  const auto records = consume(topic, 1, 30s);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].headers, kHeaders);
  ASSERT_NE(records[0].find_header("none"), nullptr);
  EXPECT_FALSE(records[0].find_header("none")->value.has_value());
  ASSERT_NE(records[0].find_header("empty"), nullptr);
  EXPECT_EQ(records[0].find_header("empty")->value, std::optional<std::string>(""));
}

TEST(Headers, SluiceForwardsNullAndEmptyValuesAndExpressionsSeeNullAsNull) {
  const std::string input = unique_name("headers-in");
  const std::string output = unique_name("headers-out");
  create_topic(input, 1);
  json document = {{"application_id", unique_name("headers")},
                   {"sources", {{{"name", "in"}, {"topic", input}}}},
                   {"operators",
                    {{{"name", "m"},
                      {"from", "in"},
                      {"map",
                       {{"none_is_null", "$headers.none is null"},
                        {"empty_is_null", "$headers.empty is null"},
                        {"empty", "$headers.empty"}}}}}},
                   {"sinks", {{{"from", "m"}, {"topic", output}}}}};
  const std::string path = write_temp_file("headers.json", document.dump(2));
  produce(input, {with_headers("a"), with_headers("b")});
  auto running = start_sluice(path);
  const auto records = consume(output, 2, 60s, 500ms);
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
  ASSERT_EQ(records.size(), 2u) << running.process->log();
  for (const auto& record : records) {
    EXPECT_EQ(record.headers, kHeaders);
    const json value = json::parse(*record.value);
    EXPECT_EQ(value["none_is_null"], true) << value.dump();
    EXPECT_EQ(value["empty_is_null"], false) << value.dump();
    EXPECT_EQ(value["empty"], "") << value.dump();
  }
}
