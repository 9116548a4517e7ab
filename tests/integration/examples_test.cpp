// Each example topology in topologies/ runs against the real broker and produces exactly the expected output.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
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
  // All input processed: the processing thread now waits on the consumer, and the idle counter says so (about
  // one second per second).
  ASSERT_TRUE(eventually(
      [&] {
        metrics = http_get(running.port, "/metrics").body;
        return metric_value(metrics, "sluice_poll_idle_seconds_total").value_or(0) >= 1.0;
      },
      10s))
      << metrics;
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

// Issue 12: orders re-keyed by customer and joined with the customers table (a left join), against the real
// broker; then a restart with the local state gone restores the table from its own topic up to the committed
// offset, and updates made while sluice was down are seen by the orders that follow.
// Run as the example is, and with the table versioned (`history`): the rows and versions are restored from the
// table topic alike, and with every update older than the orders an as-of lookup gives the same answers.
class OrdersWithCustomers : public ::testing::TestWithParam<std::optional<std::string>> {};
INSTANTIATE_TEST_SUITE_P(ExampleTopologies, OrdersWithCustomers,
                         ::testing::Values(std::nullopt, std::optional<std::string>("1h")),
                         [](const auto& info) { return info.param ? std::string("Versioned") : std::string("Latest"); });

TEST_P(OrdersWithCustomers, JoinsTheTableAndRestoresItFromItsTopic) {
  auto topology = isolate_example("orders-with-customers.json");
  if (GetParam()) {
    std::ifstream in(topology.path);
    json document = json::parse(in);
    document["tables"][0]["history"] = *GetParam();
    std::ofstream(topology.path) << document.dump(2);
  }
  const std::string orders = topology.topic.at("orders");
  const std::string customers = topology.topic.at("customers");
  const std::string output = topology.topic.at("orders-with-customers");
  create_topic(orders, 2);
  create_topic(customers, 3);
  // The table topic is partitioned by murmur2 of the key, as a Java producer (and sluice) would.
  auto customer_row = [](int id, const std::string& tier) {
    const std::string key = "c" + std::to_string(id);
    return json_record({{"tier", tier}, {"country", id % 2 == 0 ? "de" : "fr"}}, key,
                       sluice::runtime::murmur2_partition(key, 3));
  };
  std::vector<TestRecord> rows;
  for (int id = 0; id < 10; ++id) rows.push_back(customer_row(id, id < 5 ? "gold" : "silver"));
  produce(customers, rows);
  const std::string state_dir = "/tmp/" + unique_name("join-state");

  auto running = start_sluice(topology.path, {"--set", "state_dir=" + state_dir});
  std::string metrics;
  ASSERT_TRUE(eventually([&] {
    metrics = http_get(running.port, "/metrics").body;
    return metric_value(metrics, "sluice_records_consumed_total", {{"topic", customers}}).value_or(0) == 10;
  }, 60s)) << metrics;
  // The table's rows in the local stores once committed (RocksDB's estimate: exact for 10 distinct keys).
  ASSERT_TRUE(eventually([&] {
    metrics = http_get(running.port, "/metrics").body;
    return metric_value(metrics, "sluice_table_rows", {{"table", "customers"}}).value_or(0) == 10;
  }, 30s)) << metrics;
  std::vector<TestRecord> batch;
  for (int i = 0; i < 24; ++i) {
    // Customers c0..c11: c10 and c11 have no row.
    batch.push_back(json_record({{"id", "o" + std::to_string(i)}, {"customer_id", "c" + std::to_string(i % 12)}, {"amount", i}},
                                "o" + std::to_string(i), i % 2));
  }
  produce(orders, batch);
  auto first = consume(output, 24, 60s, 1s);
  ASSERT_EQ(first.size(), 24u);
  for (const auto& record : first) {
    const json value = json::parse(*record.value);
    const int customer = std::stoi(value["customer_id"].get<std::string>().substr(1));
    EXPECT_EQ(*record.key, "c" + std::to_string(customer));
    EXPECT_EQ(value["tier"], customer >= 10 ? "unknown" : customer < 5 ? "gold" : "silver") << value.dump();
    EXPECT_EQ(value["country"], customer >= 10 ? json() : json(customer % 2 == 0 ? "de" : "fr")) << value.dump();
  }
  running.process->signal(SIGTERM);
  ASSERT_EQ(running.process->wait(30s), 0) << running.process->log();

  // While it is down: c0 becomes platinum, c1 is deleted (tombstone), c10 appears.
  TestRecord tombstone;
  tombstone.key = "c1";
  tombstone.partition = sluice::runtime::murmur2_partition("c1", 3);
  produce(customers, {customer_row(0, "platinum"), tombstone, customer_row(10, "bronze")});
  std::filesystem::remove_all(state_dir);  // the local store is gone: the table comes back from its topic

  auto restarted = start_sluice(topology.path, {"--set", "state_dir=" + state_dir});
  ASSERT_TRUE(eventually([&] {
    metrics = http_get(restarted.port, "/metrics").body;
    return metric_value(metrics, "sluice_records_consumed_total", {{"topic", customers}}).value_or(0) == 3;
  }, 60s)) << metrics;
  produce(orders, {json_record({{"id", "p0"}, {"customer_id", "c0"}}, "p0", 0),
                   json_record({{"id", "p1"}, {"customer_id", "c1"}}, "p1", 1),
                   json_record({{"id", "p2"}, {"customer_id", "c2"}}, "p2", 0),
                   json_record({{"id", "p10"}, {"customer_id", "c10"}}, "p10", 1)});
  auto all = consume(output, 28, 60s, 1s);
  restarted.process->signal(SIGTERM);
  EXPECT_EQ(restarted.process->wait(30s), 0) << restarted.process->log();
  ASSERT_EQ(all.size(), 28u);
  std::map<std::string, std::string> tier_of;
  for (const auto& record : all) {
    const json value = json::parse(*record.value);
    tier_of[value["order_id"]] = value["tier"];
  }
  EXPECT_EQ(tier_of["p0"], "platinum");
  EXPECT_EQ(tier_of["p1"], "unknown");
  EXPECT_EQ(tier_of["p2"], "gold");  // restored from the table topic
  EXPECT_EQ(tier_of["p10"], "bronze");
  // The 10 rows consumed before the stop were restored (to the committed offset, not beyond: the 3 rows
  // produced while it was down were consumed as input), and none was consumed again.
  const std::string log = restarted.process->log();
  int restored = 0;
  for (std::size_t at = log.find(": restored "); at != std::string::npos; at = log.find(": restored ", at + 1)) {
    restored += std::stoi(log.substr(at + 11));
  }
  EXPECT_EQ(restored, 10) << log;
  EXPECT_EQ(metric_value(metrics, "sluice_records_consumed_total", {{"topic", customers}}), 3);
}

TEST(ExampleTopologies, AStreamAndATableWithDifferentPartitionCountsAreAStartupError) {
  const std::string orders = unique_name("cp-orders");
  const std::string customers = unique_name("cp-customers");
  create_topic(orders, 2);
  create_topic(customers, 3);
  json document = {{"application_id", unique_name("copartition")},
                   {"sources", {{{"name", "orders"}, {"topic", orders}}}},
                   {"tables", {{{"name", "customers"}, {"topic", customers}}}},
                   {"operators", {{{"name", "joined"}, {"from", "orders"}, {"join", {{"table", "customers"}}}}}},
                   {"sinks", {{{"from", "joined"}, {"topic", unique_name("cp-out")}}}}};
  SluiceProcess process({"run", write_temp_file("copartition.json", document.dump()), "--bootstrap", bootstrap(), "--set",
                         "http_address=127.0.0.1", "--set", "http_port=" + std::to_string(free_port())});
  EXPECT_EQ(process.wait(60s), 2) << process.log();
  const std::string log = process.log();
  EXPECT_NE(log.find("/tables/0/topic: topic \"" + customers + "\" has 3 partitions"), std::string::npos) << log;
  EXPECT_NE(log.find("/sources/0/topic \"" + orders + "\") has 2"), std::string::npos) << log;
}

// Issue 12, windowed stream-stream join: clicks re-keyed by impression id (through a repartition topic that takes
// the impressions topic's 2 partitions, not the 3 of the clicks topic) and left-joined with the impressions shown
// up to 10 minutes before them, against the real broker. Attributed clicks come out as pairs; unattributed ones
// come out exactly once with null impression fields, only after later records move stream time past their window
// and grace (no sleeps: the test waits on the consumed-records metric, then sends those later records).
TEST(ExampleTopologies, ClicksAttributedJoinsImpressionsWithinTenMinutesAndEmitsUnattributedClicksOnce) {
  auto topology = isolate_example("clicks-attributed.json");
  const std::string impressions = topology.topic.at("ad-impressions");
  const std::string clicks = topology.topic.at("ad-clicks");
  const std::string output = topology.topic.at("clicks-attributed");
  const std::string repartition = topology.application_id + "-attributed-left-repartition";
  create_topic(impressions, 2);
  create_topic(clicks, 3);
  constexpr std::int64_t t0 = 1'795'255'200'000;  // 2026-11-21T10:00:00Z
  constexpr std::int64_t minute = 60'000;
  // Impressions are keyed by their id and partitioned by murmur2, as a Java producer (and sluice) would.
  auto impression = [&](const std::string& id, std::int64_t ts) {
    return json_record({{"id", id}, {"campaign", "camp-" + id}, {"ts", ts}}, id,
                       sluice::runtime::murmur2_partition(id, 2));
  };
  auto click = [&](const std::string& id, const std::string& impression_id, std::int64_t ts, int partition) {
    return json_record({{"id", id}, {"impression_id", impression_id}, {"ts", ts}}, id, partition);
  };
  produce(impressions, {impression("i0", t0), impression("i1", t0 + minute), impression("i2", t0 + 2 * minute),
                        impression("i4", t0 + 4 * minute)});
  produce(clicks, {click("c0", "i0", t0 + 5 * minute, 0),            // 5 minutes after i0: attributed
                   click("c1", "i1", t0 + 11 * minute, 1),           // exactly 10 minutes after i1: attributed
                   click("c2", "i2", t0 + 12 * minute + 1, 2),       // 10 minutes and 1 ms after i2: not
                   click("c3", "i-unknown", t0 + 6 * minute, 0),     // no such impression: not
                   click("c4", "i4", t0 + 3 * minute, 1),            // before i4 was shown: not
                   click("c5", "i0", t0 + 7 * minute, 2)});          // a second click on i0: attributed
  auto running = start_sluice(topology.path);
  auto pairs = consume(output, 3, 60s);
  ASSERT_EQ(pairs.size(), 3u) << running.process->log();
  std::map<std::string, json> by_click;
  for (const auto& record : pairs) {
    const json value = json::parse(*record.value);
    by_click[value["click_id"]] = value;
    EXPECT_EQ(*record.key, value["impression_id"]);
    EXPECT_EQ(record.timestamp_ms, value["clicked_at"].get<std::int64_t>());  // the later of the pair
  }
  EXPECT_EQ(by_click["c0"], json({{"click_id", "c0"}, {"impression_id", "i0"}, {"clicked_at", t0 + 5 * minute},
                                  {"shown_at", t0}, {"campaign", "camp-i0"}, {"attributed", true}}));
  EXPECT_EQ(by_click["c1"]["shown_at"], t0 + minute);
  EXPECT_EQ(by_click["c5"]["impression_id"], "i0");

  // Every click has reached the join (through the repartition topic): now move stream time of both join tasks
  // past every click + grace (15m) with an impression on each partition.
  std::string metrics;
  ASSERT_TRUE(eventually([&] {
    metrics = http_get(running.port, "/metrics").body;
    return metric_value(metrics, "sluice_records_consumed_total", {{"topic", repartition}}).value_or(0) == 6 &&
           metric_value(metrics, "sluice_records_consumed_total", {{"topic", impressions}}).value_or(0) == 4;
  }, 60s)) << metrics;
  EXPECT_EQ(consume(output, 4, 2s).size(), 3u) << "no unattributed click before its window closed";
  produce(impressions, {json_record({{"id", "tick-0"}, {"ts", t0 + 60 * minute}}, "tick-0", 0),
                        json_record({{"id", "tick-1"}, {"ts", t0 + 60 * minute}}, "tick-1", 1)});
  auto all = consume(output, 6, 60s, 2s);
  // The join's counters move just after the transaction covering its outputs commits: wait for them. Closed by
  // the ticks: clicks c2, c3, c4 (unmatched, emitted) and impressions i2, i4 (never matched; a left join emits
  // nothing for them); i0 and i1 matched.
  const std::map<std::string, std::string> left = {{"join", "attributed"}, {"side", "left"}};
  const std::map<std::string, std::string> right = {{"join", "attributed"}, {"side", "right"}};
  EXPECT_TRUE(eventually([&] {
    metrics = http_get(running.port, "/metrics").body;
    return metric_value(metrics, "sluice_stream_join_unmatched_total", left).value_or(0) == 3 &&
           metric_value(metrics, "sluice_stream_join_expired_total", right).value_or(0) == 2;
  }, 30s)) << metrics;
  EXPECT_EQ(metric_value(metrics, "sluice_stream_join_pairs_total", {{"join", "attributed"}}), 3) << metrics;
  EXPECT_EQ(metric_value(metrics, "sluice_stream_join_unmatched_total", left), 3);
  EXPECT_EQ(metric_value(metrics, "sluice_stream_join_unmatched_total", right), 0);
  EXPECT_EQ(metric_value(metrics, "sluice_stream_join_expired_total", left), 3);
  EXPECT_EQ(metric_value(metrics, "sluice_stream_join_expired_total", right), 2);
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
  ASSERT_EQ(all.size(), 6u) << "each unattributed click exactly once";
  std::set<std::string> unattributed;
  for (const auto& record : all) {
    const json value = json::parse(*record.value);
    if (value["attributed"].get<bool>()) continue;
    unattributed.insert(value["click_id"].get<std::string>());
    EXPECT_TRUE(value["shown_at"].is_null() && value["campaign"].is_null()) << value.dump();
    EXPECT_EQ(*record.key, value["impression_id"]);
    EXPECT_EQ(record.timestamp_ms, value["clicked_at"].get<std::int64_t>());  // the click's own time
  }
  EXPECT_EQ(unattributed, (std::set<std::string>{"c2", "c3", "c4"}));
  EXPECT_EQ(consume(topology.dead_letter_topic, 1, 2s).size(), 0u);
}

TEST(ExampleTopologies, TwoJoinedStreamsWithDifferentPartitionCountsAreAStartupError) {
  const std::string clicks = unique_name("cp-clicks");
  const std::string impressions = unique_name("cp-impressions");
  create_topic(clicks, 2);
  create_topic(impressions, 3);
  json document = {{"application_id", unique_name("copartition-streams")},
                   {"sources", {{{"name", "clicks"}, {"topic", clicks}}, {{"name", "impressions"}, {"topic", impressions}}}},
                   {"operators", {{{"name", "joined"}, {"from", "clicks"},
                                   {"join", {{"stream", "impressions"}, {"within", "10m"}}}}}},
                   {"sinks", {{{"from", "joined"}, {"topic", unique_name("cp-out")}}}}};
  SluiceProcess process({"run", write_temp_file("copartition-streams.json", document.dump()), "--bootstrap", bootstrap(),
                         "--set", "http_address=127.0.0.1", "--set", "http_port=" + std::to_string(free_port())});
  EXPECT_EQ(process.wait(60s), 2) << process.log();
  const std::string log = process.log();
  EXPECT_NE(log.find("/sources/1/topic: topic \"" + impressions + "\" has 3 partitions"), std::string::npos) << log;
  EXPECT_NE(log.find("(/sources/0/topic \"" + clicks + "\") have 2"), std::string::npos) << log;
}

TEST(ExampleTopologies, PaymentsCheckedLooksUpCardsInAGlobalTableAndResumesFromItsStoredOffsets) {
  auto topology = isolate_example("payments-checked.json");
  const std::string payments = topology.topic.at("payments");
  const std::string cards = topology.topic.at("cards");
  const std::string checked = topology.topic.at("payments-checked");
  const std::string alerts = topology.topic.at("payment-alerts");
  // Different partition counts, and card rows in partitions unrelated to their keys: a global table needs no
  // co-partitioning.
  create_topic(payments, 3);
  create_topic(cards, 2);
  auto card_row = [](int id, int limit, int partition) {
    return json_record({{"limit", limit}}, "c" + std::to_string(id), partition);
  };
  std::vector<TestRecord> rows;
  for (int id = 0; id < 10; ++id) rows.push_back(card_row(id, id * 10, id % 2));
  TestRecord keyless = json_record({{"limit", 1}}, std::nullopt, 0);  // a bad row: dead-lettered, no stop
  rows.push_back(keyless);
  produce(cards, rows);
  const std::string state_dir = "/tmp/" + unique_name("global-state");

  auto running = start_sluice(topology.path, {"--set", "state_dir=" + state_dir});
  std::string metrics = http_get(running.port, "/metrics").body;
  EXPECT_EQ(metric_value(metrics, "sluice_global_table_rows", {{"table", "cards"}}), 10) << running.process->log();
  EXPECT_EQ(metric_value(metrics, "sluice_global_table_restore_remaining_offsets", {{"table", "cards"}}), 0);
  // Payments keyed by account; cards c10 and c11 have no row.
  std::vector<TestRecord> batch;
  int expected_alerts = 0;
  for (int i = 0; i < 30; ++i) {
    const int card = i % 12;
    const int amount = i * 4;
    if (card >= 10 || amount > card * 10) ++expected_alerts;
    batch.push_back(json_record({{"id", "p" + std::to_string(i)}, {"card_id", "c" + std::to_string(card)}, {"amount", amount}},
                                "a" + std::to_string(i % 4), i % 3));
  }
  produce(payments, batch);
  auto first = consume(checked, 30, 60s, 1s);
  ASSERT_EQ(first.size(), 30u) << http_get(running.port, "/metrics").body << running.process->log();
  for (const auto& record : first) {
    const json value = json::parse(*record.value);
    const int card = std::stoi(value["card_id"].get<std::string>().substr(1));
    const int amount = value["amount"];
    EXPECT_EQ(value["account"], *record.key);
    EXPECT_EQ(value["known_card"], card < 10) << value.dump();
    EXPECT_EQ(value["limit"], card < 10 ? json(card * 10) : json()) << value.dump();
    EXPECT_EQ(value["over_limit"], card >= 10 || amount > card * 10) << value.dump();
  }
  auto alert_records = consume(alerts, static_cast<std::size_t>(expected_alerts), 60s, 1s);
  EXPECT_EQ(alert_records.size(), static_cast<std::size_t>(expected_alerts));
  auto dead = consume(topology.dead_letter_topic, 1, 60s, 1s);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].header("sluice.operator"), "table:cards");
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "missing_field");
  metrics = http_get(running.port, "/metrics").body;
  EXPECT_EQ(metric_value(metrics, "sluice_join_lookups_total", {{"join", "checked"}}), 30) << metrics;
  EXPECT_EQ(metric_value(metrics, "sluice_join_hits_total", {{"join", "checked"}}), 26);
  EXPECT_EQ(metric_value(metrics, "sluice_join_misses_total", {{"join", "checked"}}), 4);
  EXPECT_EQ(metric_value(metrics, "sluice_table_updates_total", {{"table", "cards"}}), 10);
  running.process->signal(SIGTERM);
  ASSERT_EQ(running.process->wait(30s), 0) << running.process->log();

  // While it is down: c0's limit rises, c1 is deleted (tombstone), c10 appears.
  TestRecord tombstone;
  tombstone.key = "c1";
  tombstone.partition = 1;
  produce(cards, {card_row(0, 1000, 0), tombstone, card_row(10, 5, 1)});
  auto restarted = start_sluice(topology.path, {"--set", "state_dir=" + state_dir});
  metrics = http_get(restarted.port, "/metrics").body;
  // Only the tail was read: the 3 records written while it was down, not the 11 before them.
  EXPECT_EQ(metric_value(metrics, "sluice_table_updates_total", {{"table", "cards"}}), 2) << metrics;
  EXPECT_EQ(metric_value(metrics, "sluice_table_deletes_total", {{"table", "cards"}}), 1) << metrics;
  EXPECT_EQ(metric_value(metrics, "sluice_global_table_rows", {{"table", "cards"}}), 10) << metrics;
  produce(payments, {json_record({{"id", "q0"}, {"card_id", "c0"}, {"amount", 500}}, "a0", 0),
                     json_record({{"id", "q1"}, {"card_id", "c1"}, {"amount", 1}}, "a1", 1),
                     json_record({{"id", "q2"}, {"card_id", "c2"}, {"amount", 1}}, "a2", 2),
                     json_record({{"id", "q10"}, {"card_id", "c10"}, {"amount", 1}}, "a3", 0)});
  auto all = consume(checked, 34, 60s, 1s);
  restarted.process->signal(SIGTERM);
  EXPECT_EQ(restarted.process->wait(30s), 0) << restarted.process->log();
  ASSERT_EQ(all.size(), 34u);
  std::map<std::string, json> by_id;
  for (const auto& record : all) {
    const json value = json::parse(*record.value);
    by_id[value["payment_id"]] = value;
  }
  EXPECT_EQ(by_id["q0"]["over_limit"], false);  // the new limit
  EXPECT_EQ(by_id["q1"]["known_card"], false);  // deleted
  EXPECT_EQ(by_id["q2"]["limit"], 20);          // from the local store, not read again
  EXPECT_EQ(by_id["q10"]["limit"], 5);
  const std::string log = restarted.process->log();
  EXPECT_NE(log.find("resuming from the offsets of the local store"), std::string::npos) << log;
  EXPECT_NE(log.find("global table cards loaded: 3 records read"), std::string::npos) << log;
}
