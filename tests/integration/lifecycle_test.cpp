// Start-up, probes, metrics and shutdown of the sluice process against the real broker.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string passthrough_topology(const std::string& application_id, const std::string& input, const std::string& output) {
  json document = {{"application_id", application_id},
                   {"sources", {{{"name", "in"}, {"topic", input}}}},
                   {"operators", {{{"name", "positive"}, {"from", "in"}, {"filter", "n > 0"}}}},
                   {"sinks", {{{"from", "positive"}, {"topic", output}}}}};
  return write_temp_file(application_id + ".json", document.dump(2));
}

}  // namespace

TEST(Lifecycle, UnreachableBrokerIsRetriedAndShownInReadyz) {
  std::string path = passthrough_topology(unique_name("unreachable"), "in", "out");
  int port = free_port();
  int dead_broker = free_port();  // nothing listens there
  SluiceProcess process({"run", path, "--bootstrap", "127.0.0.1:" + std::to_string(dead_broker), "--set",
                         "http_address=127.0.0.1", "--set", "http_port=" + std::to_string(port), "--set",
                         "startup_backoff_max=500ms"});
  HttpResult ready;
  ASSERT_TRUE(eventually([&] { return (ready = http_get(port, "/readyz")).status != 0; }, 20s)) << process.log();
  EXPECT_EQ(ready.status, 503);
  // Several attempts are logged, and the process stays up (no crash loop) with a live /healthz.
  ASSERT_TRUE(eventually([&] {
    std::string log = process.log();
    std::size_t attempts = 0;
    for (std::size_t at = log.find("cannot reach the Kafka cluster"); at != std::string::npos;
         at = log.find("cannot reach the Kafka cluster", at + 1)) {
      ++attempts;
    }
    return attempts >= 3;
  }, 30s)) << process.log();
  EXPECT_TRUE(process.running());
  EXPECT_EQ(http_get(port, "/healthz").status, 200);
  ready = http_get(port, "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(json::parse(ready.body)["reason"].get<std::string>().find("unreachable"), std::string::npos) << ready.body;
  process.signal(SIGTERM);
  EXPECT_EQ(process.wait(20s), 0) << process.log();
}

// Issue 11, finding 6: /metrics and /topology can be protected; the probes stay open for kubelets; the token
// (from the environment, as the chart gives it) never appears in the log.
TEST(Lifecycle, HttpCredentialsGuardMetricsAndTopologyButNotTheProbes) {
  std::string path = passthrough_topology(unique_name("guarded"), "in", "out");
  int port = free_port();
  const std::string token = "tok-" + unique_name("secret");
  SluiceProcess process({"run", path, "--bootstrap", "127.0.0.1:" + std::to_string(free_port()), "--set",
                         "http_address=127.0.0.1", "--set", "http_port=" + std::to_string(port), "--set",
                         "startup_backoff_max=500ms"},
                        {{"SLUICE_HTTP_BEARER_TOKEN", token}});
  ASSERT_TRUE(eventually([&] { return http_get(port, "/healthz").status != 0; }, 20s)) << process.log();
  EXPECT_EQ(http_get(port, "/healthz").status, 200);
  EXPECT_EQ(http_get(port, "/readyz").status, 503);  // no broker: unready, but answered without credentials
  EXPECT_EQ(http_get(port, "/metrics").status, 401);
  EXPECT_EQ(http_get(port, "/topology").status, 401);
  EXPECT_EQ(http_get(port, "/metrics", "Authorization: Bearer wrong\r\n").status, 401);
  const HttpResult metrics = http_get(port, "/metrics", "Authorization: Bearer " + token + "\r\n");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("sluice_"), std::string::npos);
  EXPECT_EQ(http_get(port, "/topology", "Authorization: Bearer " + token + "\r\n").status, 200);
  process.signal(SIGTERM);
  EXPECT_EQ(process.wait(20s), 0) << process.log();
  EXPECT_NE(process.log().find("/metrics and /topology require credentials"), std::string::npos) << process.log();
  EXPECT_EQ(process.log().find(token), std::string::npos) << process.log();
}

TEST(Lifecycle, MissingSourceTopicExitsWithCode2AndNamesTheField) {
  std::string missing = unique_name("never-created");
  std::string path = passthrough_topology(unique_name("missing"), missing, "out");
  SluiceProcess process({"run", path, "--bootstrap", bootstrap(), "--set", "http_address=127.0.0.1", "--set",
                         "http_port=" + std::to_string(free_port())});
  EXPECT_EQ(process.wait(60s), 2) << process.log();
  EXPECT_NE(process.log().find("/sources/0/topic: topic \"" + missing + "\" does not exist"), std::string::npos)
      << process.log();
}

TEST(Lifecycle, ProbesTopologyAndMetricsAnswer) {
  std::string input = unique_name("probe-in");
  std::string output = unique_name("probe-out");
  create_topic(input, 2);
  std::string application_id = unique_name("probes");
  std::string path = passthrough_topology(application_id, input, output);
  std::vector<TestRecord> records;
  for (int i = 0; i < 100; ++i) {
    TestRecord record;
    record.key = "k" + std::to_string(i);
    record.value = json{{"n", i % 10}}.dump();
    records.push_back(record);
  }
  produce(input, records);
  auto running = start_sluice(path);  // waits for /readyz 200
  auto ready = http_get(running.port, "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_TRUE(json::parse(ready.body)["ready"].get<bool>());
  EXPECT_EQ(http_get(running.port, "/healthz").status, 200);
  auto description = json::parse(http_get(running.port, "/topology").body);
  EXPECT_EQ(description["application_id"], application_id);

  auto out = consume(output, 90, 60s, 500ms);
  EXPECT_EQ(out.size(), 90u);
  std::string metrics;
  ASSERT_TRUE(eventually([&] {
    metrics = http_get(running.port, "/metrics").body;
    return metric_value(metrics, "sluice_records_consumed_total", {{"topic", input}}).value_or(0) == 100 &&
           metric_value(metrics, "sluice_records_produced_total", {{"topic", output}}).value_or(0) == 90 &&
           metric_value(metrics, "sluice_commits_total").value_or(0) >= 1;
  }, 20s)) << metrics;
  EXPECT_EQ(metric_value(metrics, "sluice_records_discarded_total", {{"operator", "positive"}}), 10);
  EXPECT_EQ(metric_value(metrics, "sluice_assigned_partitions"), 2);
  EXPECT_EQ(metric_value(metrics, "sluice_rebalances_total", {{"kind", "assigned"}}), 1);
  // The processing-time histogram samples one record in 64 (clock reads cost on the per-record path).
  EXPECT_EQ(metric_value(metrics, "sluice_processing_latency_seconds_count").value_or(0), 100 / 64);
  EXPECT_GE(metric_value(metrics, "sluice_commit_latency_seconds_count").value_or(0), 1);
  // Lag is reported per assigned partition and drains to zero once everything is consumed.
  ASSERT_TRUE(eventually([&] {
    metrics = http_get(running.port, "/metrics").body;
    auto lag0 = metric_value(metrics, "sluice_consumer_lag_records", {{"topic", input}, {"partition", "0"}});
    auto lag1 = metric_value(metrics, "sluice_consumer_lag_records", {{"topic", input}, {"partition", "1"}});
    return lag0 == 0 && lag1 == 0;
  }, 20s)) << metrics;
  EXPECT_EQ(metrics.find("# TYPE sluice_records_consumed_total counter") != std::string::npos, true);

  running.process->signal(SIGTERM);
  EXPECT_EQ(running.process->wait(30s), 0) << running.process->log();
  EXPECT_NE(running.process->log().find("stopped"), std::string::npos);
}

TEST(Lifecycle, InternalTopicWithWrongPartitionCountIsAStartupError) {
  std::string input = unique_name("wrong-in");
  std::string application_id = unique_name("wrong");
  create_topic(input, 2);
  create_topic(application_id + "-counts-changelog", 3);  // the topology needs 2, like its source
  json document = {{"application_id", application_id},
                   {"sources", {{{"name", "in"}, {"topic", input}}}},
                   {"operators", {{{"name", "counts"}, {"from", "in"}, {"aggregate", {{"n", "count()"}}}}}},
                   {"sinks", {{{"from", "counts"}, {"topic", unique_name("wrong-out")}}}}};
  std::string path = write_temp_file("wrong.json", document.dump());
  SluiceProcess process({"run", path, "--bootstrap", bootstrap(), "--set", "http_address=127.0.0.1", "--set",
                         "http_port=" + std::to_string(free_port()), "--set", "state_dir=/tmp/" + unique_name("state")});
  EXPECT_EQ(process.wait(60s), 2) << process.log();
  EXPECT_NE(process.log().find("\"" + application_id + "-counts-changelog\" has 3 partitions but the topology needs 2"),
            std::string::npos)
      << process.log();
}
