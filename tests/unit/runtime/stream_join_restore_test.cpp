// A windowed stream-stream join's store is rebuilt from its changelog (issue 12, item 6): a Processor against the
// fake Kafka of tests/support/fake_kafka.hpp loses its task (and with it the in-memory stores) and gets it back;
// the restored records still pair, and their matched flags come back too, so an unmatched result is emitted
// exactly once and a matched record never as unmatched.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "sluice/core/clock.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/processor.hpp"
#include "sluice/topology/topology.hpp"
#include "support/fake_kafka.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;
using sluice::testing::FakeClientFactory;
using sluice::testing::FakeCluster;

namespace {

constexpr std::int64_t kMinute = 60'000;

class StreamJoinRestore : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster.create_topic("clicks", 1);
    cluster.create_topic("impressions", 1);
    cluster.set_auto_assign(true);
    options.bootstrap_servers = "fake:9092";
    options.transactional_id = "ads-instance";
    options.commit_interval = 100ms;
    options.transaction_timeout = 1000ms;
    options.open_stores = [this](const runtime::TaskId&, const std::vector<std::uint8_t>& families) {
      ++stores_opened;
      return state::make_memory_task_stores(families);
    };
    json document = {{"application_id", "ads"},
                     {"sources", {{{"name", "clicks"}, {"topic", "clicks"}}, {{"name", "impressions"}, {"topic", "impressions"}}}},
                     {"operators", {{{"name", "attributed"},
                                     {"from", "clicks"},
                                     {"join", {{"stream", "impressions"},
                                               {"type", "left"},
                                               {"within", {{"before", "10m"}, {"after", "0s"}}},
                                               {"grace", "1m"}}}}}},
                     {"sinks", {{{"from", "attributed"}, {"topic", "out"}}}},
                     {"dead_letter_topic", "dlq"}};
    topology_ = std::make_unique<topology::Topology>(std::get<topology::Topology>(topology::parse_topology(document)));
    pipeline_ = std::make_unique<runtime::Pipeline>(*topology_);
    processor = std::make_unique<runtime::Processor>(*pipeline_, options, factory, metrics, logger, clock, health);
    ASSERT_FALSE(processor->open(stop).has_value()) << log.str();
  }

  void steps(int count) {
    for (int i = 0; i < count; ++i) {
      clock.advance_ms(50);
      if (!processor->step()) return;
    }
  }

  void produce(const std::string& topic, const std::string& key, const std::string& id, std::int64_t time) {
    cluster.produce(topic, 0, key, json{{"id", id}}.dump(), time);
  }

  // The task goes away (its stores with it) and comes back: its store is restored from the changelog.
  void lose_and_regain_the_task() {
    const int opened = stores_opened;
    cluster.revoke(*factory.consumer(0));
    steps(1);
    cluster.assign(*factory.consumer(0),
                   {{"clicks", 0, kafka::offset_invalid}, {"impressions", 0, kafka::offset_invalid}});
    steps(4);
    ASSERT_GT(stores_opened, opened) << "the task's stores were not opened anew";
  }

  // What a read_committed reader of "out" sees, as "click|impression" ids ("-" for null).
  std::vector<std::string> outputs() {
    std::vector<std::string> seen;
    for (const auto& record : cluster.read_committed("out")) {
      const json value = json::parse(*record.value);
      const auto id = [](const json& side) { return side.is_null() ? std::string("-") : side["id"].get<std::string>(); };
      seen.push_back(id(value["clicks"]) + "|" + id(value["impressions"]));
    }
    return seen;
  }

  FakeCluster cluster;
  FakeClientFactory factory{cluster};
  core::ManualClock clock{1'795'255'200'000};
  std::ostringstream log;
  observe::Logger logger{log, observe::LogLevel::debug, clock};
  observe::Metrics metrics{"ads"};
  runtime::Health health;
  runtime::ProcessorOptions options;
  std::atomic<bool> stop{false};
  int stores_opened = 0;
  std::unique_ptr<topology::Topology> topology_;
  std::unique_ptr<runtime::Pipeline> pipeline_;
  std::unique_ptr<runtime::Processor> processor;
};

}  // namespace

TEST_F(StreamJoinRestore, RestoredRecordsStillPairAndTheirMatchedFlagsSurvive) {
  const std::int64_t t = clock.wall_ms();
  produce("clicks", "u1", "c1", t);
  produce("clicks", "u2", "c2", t);
  steps(4);
  EXPECT_TRUE(outputs().empty());
  ASSERT_EQ(cluster.read_committed("ads-attributed-changelog").size(), 4u) << "two records, two index entries";

  lose_and_regain_the_task();
  // Within grace of stream time: pairs with the restored click c1.
  produce("impressions", "u1", "i1", t - kMinute);
  steps(4);
  EXPECT_EQ(outputs(), std::vector<std::string>{"c1|i1"}) << log.str();

  lose_and_regain_the_task();
  // Stream time far past both windows: c2 (never matched) comes out once; c1's matched flag was restored, so it
  // does not.
  produce("impressions", "u9", "i9", t + 60 * kMinute);
  steps(4);
  lose_and_regain_the_task();
  produce("impressions", "u9", "i10", t + 61 * kMinute);
  steps(4);
  EXPECT_EQ(outputs(), (std::vector<std::string>{"c1|i1", "c2|-"})) << log.str();
}
