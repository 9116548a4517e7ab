// Each example topology in topologies/ runs against the real broker and produces exactly the expected output.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "sluice/runtime/test_driver.hpp"
#include "support/kafka_test_support.hpp"
#include "support/topology_files.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

TestRecord json_record(const json& value, std::optional<std::string> key = std::nullopt, int partition = -1) {
  TestRecord record;
  record.key = std::move(key);
  record.value = value.dump();
  record.partition = partition;
  return record;
}

std::vector<std::string> sorted(std::vector<std::string> items) {
  std::sort(items.begin(), items.end());
  return items;
}

}  // namespace

TEST(ExampleTopologies, WordCountSplitKeysEveryWordAcrossPartitions) {
  auto topology = isolate_example("word-count-split.json");
  const std::string input = topology.topic.at("text-lines");
  const std::string output = topology.topic.at("words-by-key");
  create_topic(input, 4);
  std::vector<TestRecord> lines;
  std::vector<std::string> expected;
  for (int i = 0; i < 40; ++i) {
    std::string text = "  The quick brown fox " + std::to_string(i % 7) + "  jumps over  the lazy DOG ";
    lines.push_back(json_record({{"text", text}}, std::nullopt, i % 4));
    for (const char* word : {"the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"}) expected.push_back(word);
    expected.push_back(std::to_string(i % 7));
  }
  produce(input, lines);

  auto running = start_sluice(topology.path);
  auto records = consume(output, expected.size(), 60s, 1s);
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();

  std::vector<std::string> words;
  for (const auto& record : records) {
    ASSERT_TRUE(record.key && record.value);
    EXPECT_EQ(*record.key, *record.value);
    // The output topic was created with as many partitions as the input (4); the key decides the partition
    // with Kafka's default (murmur2) partitioner, as a Java client would.
    EXPECT_EQ(record.partition, sluice::runtime::murmur2_partition(*record.key, 4)) << *record.key;
    words.push_back(*record.value);
  }
  EXPECT_EQ(sorted(words), sorted(expected));
}

TEST(ExampleTopologies, OrdersEnrichmentFiltersComputesAndDeadLettersPoison) {
  auto topology = isolate_example("orders-enrichment.json");
  const std::string input = topology.topic.at("orders");
  const std::string output = topology.topic.at("orders-enriched");
  create_topic(input, 2);
  std::vector<TestRecord> orders;
  std::map<std::string, json> expected;  // by order id
  for (int i = 0; i < 30; ++i) {
    double amount = i * 47.5;
    std::string status = i % 3 == 0 ? "pending" : "paid";
    json order = {{"id", "o" + std::to_string(i)},
                  {"status", status},
                  {"amount", amount},
                  {"created_at", "2026-11-21T10:00:" + std::string(i < 10 ? "0" : "") + std::to_string(i) + "Z"},
                  {"customer", {{"id", "c" + std::to_string(i % 4)}}}};
    if (i % 5 != 0) order["customer"]["country"] = "de";
    orders.push_back(json_record(order, "o" + std::to_string(i), i % 2));
    if (status == "paid" && amount > 0) {
      std::string tier = amount >= 1000 ? "gold" : amount >= 100 ? "silver" : "bronze";
      expected["o" + std::to_string(i)] = {{"order_id", "o" + std::to_string(i)},
                                           {"customer", "c" + std::to_string(i % 4)},
                                           {"total_cents", static_cast<std::int64_t>(amount * 100 + 0.5)},
                                           {"tier", tier},
                                           {"country", i % 5 != 0 ? "DE" : "UNKNOWN"}};
    }
  }
  // Poison: not JSON, a timestamp that is not ISO 8601, an amount of the wrong type.
  TestRecord not_json;
  not_json.key = "bad-1";
  not_json.value = "{not json";
  not_json.partition = 0;
  orders.push_back(not_json);
  orders.push_back(json_record({{"id", "bad-2"}, {"status", "paid"}, {"amount", 5}, {"created_at", "yesterday"}}, "bad-2", 1));
  orders.push_back(json_record({{"id", "bad-3"}, {"status", "paid"}, {"amount", "lots"}, {"created_at", "2026-11-21T10:00:00Z"}},
                               "bad-3", 0));
  produce(input, orders);

  auto running = start_sluice(topology.path);
  auto records = consume(output, expected.size(), 60s, 1s);
  auto dead = consume(topology.dead_letter_topic, 3, 60s, 500ms);

  ASSERT_EQ(records.size(), expected.size());
  for (const auto& record : records) {
    json value = json::parse(*record.value);
    std::string id = value["order_id"];
    ASSERT_TRUE(expected.count(id)) << value.dump();
    EXPECT_EQ(value, expected[id]);
    EXPECT_EQ(*record.key, expected[id]["customer"]);  // rekeyed by customer
  }
  // Event time came from created_at (10:00:SS on 2026-11-21).
  for (const auto& record : records) {
    json value = json::parse(*record.value);
    int second = std::stoi(value["order_id"].get<std::string>().substr(1));
    EXPECT_EQ(record.timestamp_ms, 1795255200000LL + second * 1000) << value.dump();
  }

  ASSERT_EQ(dead.size(), 3u);
  std::map<std::string, TestRecord> by_key;
  for (const auto& record : dead) by_key[*record.key] = record;
  ASSERT_TRUE(by_key.count("bad-1") && by_key.count("bad-2") && by_key.count("bad-3"));
  EXPECT_EQ(by_key["bad-1"].header("sluice.error.kind"), "deserialization");
  EXPECT_EQ(*by_key["bad-1"].value, "{not json");  // the original bytes, untouched
  EXPECT_EQ(by_key["bad-2"].header("sluice.error.kind"), "invalid_value");
  EXPECT_EQ(by_key["bad-3"].header("sluice.error.kind"), "type_error");
  EXPECT_EQ(by_key["bad-3"].header("sluice.operator"), "paid");
  for (const auto& [key, record] : by_key) {
    EXPECT_EQ(record.header("sluice.source.topic"), input);
    EXPECT_FALSE(record.header("sluice.error.message").empty());
    EXPECT_FALSE(record.header("sluice.source.partition").empty());
    EXPECT_FALSE(record.header("sluice.source.offset").empty());
  }
  EXPECT_EQ(by_key["bad-1"].header("sluice.source.partition"), "0");
  EXPECT_EQ(by_key["bad-1"].header("sluice.source.offset"), "15");  // 15 orders went to partition 0 before it

  // Nothing lost: consumed = (outputs + filtered) + dead-lettered, per the metrics.
  std::string metrics;
  ASSERT_TRUE(eventually(
      [&] {
        metrics = http_get(running.port, "/metrics").body;
        return metric_value(metrics, "sluice_records_consumed_total").value_or(0) == 33;
      },
      10s))
      << metrics;
  EXPECT_EQ(metric_value(metrics, "sluice_records_dead_lettered_total"), 3);
  EXPECT_EQ(metric_value(metrics, "sluice_records_discarded_total", {{"operator", "paid"}}),
            30 - static_cast<double>(expected.size()));
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
}

TEST(ExampleTopologies, EventRouterSendsEachTypeToItsTopic) {
  auto topology = isolate_example("event-router.json");
  const std::string input = topology.topic.at("events");
  create_topic(input, 3);
  std::vector<TestRecord> events;
  std::multiset<std::string> clicks, purchases, other;
  const char* types[] = {"click", "purchase", "view", "purchase", "click", "signup"};
  for (int i = 0; i < 60; ++i) {
    std::string type = types[i % 6];
    json event = {{"id", i}, {"type", type}};
    if (type == "purchase" && i % 4 != 3) event["amount"] = i;
    events.push_back(json_record(event, "user-" + std::to_string(i % 5)));
    std::string id = std::to_string(i);
    if (type == "click") {
      clicks.insert(id);
    } else if (type == "purchase" && event.contains("amount")) {
      purchases.insert(id);
    } else {
      other.insert(id);
    }
  }
  produce(input, events);
  auto running = start_sluice(topology.path);
  auto ids = [](const std::vector<TestRecord>& records) {
    std::multiset<std::string> result;
    for (const auto& record : records) result.insert(std::to_string(json::parse(*record.value)["id"].get<int>()));
    return result;
  };
  EXPECT_EQ(ids(consume(topology.topic.at("events-clicks"), clicks.size(), 60s, 500ms)), clicks);
  EXPECT_EQ(ids(consume(topology.topic.at("events-purchases"), purchases.size(), 60s, 500ms)), purchases);
  EXPECT_EQ(ids(consume(topology.topic.at("events-other"), other.size(), 60s, 500ms)), other);
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
}
