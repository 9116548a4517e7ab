// Where a changelog restore ends under exactly-once (issue 12 review): a task moves from instance A to instance B
// (another transactional id, empty stores) against the fake Kafka of tests/support/fake_kafka.hpp, and B must
// restore every change of every transaction whose input offsets the group committed, and nothing aborted.
//
// Kafka writes a decided transaction's markers partition by partition after commit_transaction has returned, so
// for a moment the group's committed offsets already include A's last transaction while the changelog's last
// stable offset is still below its records. An end taken as that last stable offset is stale: B would stop
// before A's last changes and count on from an older state. The end is the high watermark; a read_committed
// reader reaches it once every transaction below it is decided and marked (markers and aborted records take
// offsets, and the position steps over them).
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "sluice/core/clock.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/processor.hpp"
#include "sluice/topology/topology.hpp"
#include "support/fake_kafka.hpp"
#include "support/parsed_topology.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;
using sluice::testing::FakeClientFactory;
using sluice::testing::FakeCluster;
using sluice::testing::FakeRecord;

namespace {

constexpr const char* kChangelog = "app-per_key-changelog";

// One processing thread of one instance, with its own clients, stores and transactional id.
struct Instance {
  Instance(FakeCluster& cluster, const runtime::Pipeline& pipeline, const std::string& name, core::ManualClock& clock,
           std::ostringstream& log)
      : factory(cluster), logger(log, observe::LogLevel::debug, clock), metrics("app") {
    options.bootstrap_servers = "fake:9092";
    options.transactional_id = "app-" + name;
    options.commit_interval = 100ms;
    options.transaction_timeout = 1000ms;
    options.open_stores = [](const runtime::TaskId&, const std::vector<std::uint8_t>& families) {
      return state::make_memory_task_stores(families);
    };
    processor = std::make_unique<runtime::Processor>(pipeline, options, factory, metrics, logger, clock, health);
  }
  kafka::Consumer& consumer() { return *factory.consumer(0); }

  FakeClientFactory factory;
  observe::Logger logger;
  observe::Metrics metrics;
  runtime::Health health;
  runtime::ProcessorOptions options;
  std::unique_ptr<runtime::Processor> processor;
};

class RestoreEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster.create_topic("in", 1);
    json document = {{"application_id", "app"},
                     {"sources", {{{"name", "in"}, {"topic", "in"}}}},
                     {"operators", {{{"name", "per_key"}, {"from", "in"}, {"aggregate", {{"n", "count()"}}}}}},
                     {"sinks", {{{"from", "per_key"}, {"topic", "out"}}}},
                     {"dead_letter_topic", "dlq"}};
    topology_ = std::make_unique<topology::Topology>(sluice::testing::parse_valid(document));
    pipeline_ = std::make_unique<runtime::Pipeline>(*topology_);
    cluster.set_auto_assign(true);  // A subscribes and gets the partition; B gets it by hand
    a = std::make_unique<Instance>(cluster, *pipeline_, "a", clock, log);
    ASSERT_FALSE(a->processor->open(stop).has_value()) << log.str();
    cluster.set_auto_assign(false);
  }

  static void steps(Instance& instance, int count) {
    for (int i = 0; i < count; ++i) {
      if (!instance.processor->step()) return;
    }
  }
  void tick(int count) {
    for (int i = 0; i < count; ++i) {
      clock.advance_ms(50);
      steps(*a, 1);
      if (b) steps(*b, 1);
    }
  }
  void input(int count) {
    for (int i = 0; i < count; ++i) cluster.produce("in", 0, "k", json{{"k", "k"}}.dump(), clock.wall_ms());
  }
  std::int64_t committed() { return cluster.committed("app", "in", 0).value_or(-1); }
  // The counts of key "k" in what a read_committed reader of "out" sees, in order (emit update: the last of each
  // commit).
  std::vector<std::int64_t> counts() {
    std::vector<std::int64_t> seen;
    for (const auto& record : cluster.read_committed("out")) seen.push_back(json::parse(*record.value)["n"].get<std::int64_t>());
    return seen;
  }
  // The task leaves A (a revoke, which commits) and goes to a new instance B with empty stores.
  void move_the_task_to_b() {
    cluster.revoke(a->consumer());
    tick(1);
    b = std::make_unique<Instance>(cluster, *pipeline_, "b", clock, log);
    ASSERT_FALSE(b->processor->open(stop).has_value()) << log.str();
    cluster.assign(b->consumer(), {{"in", 0, kafka::offset_invalid}});
  }

  FakeCluster cluster;
  core::ManualClock clock{1'795'255'200'000};
  std::ostringstream log;
  std::atomic<bool> stop{false};
  std::unique_ptr<topology::Topology> topology_;
  std::unique_ptr<runtime::Pipeline> pipeline_;
  std::unique_ptr<Instance> a;
  std::unique_ptr<Instance> b;
};

}  // namespace

// The bug this pins (it failed before the end became the high watermark): B restored up to the last stable
// offset, took count 3 for the state of offset 5 and counted the next input as 4.
TEST_F(RestoreEnd, ATransactionWhoseChangelogMarkerIsNotWrittenYetIsWaitedForNotSkipped) {
  input(3);
  tick(4);
  ASSERT_EQ(committed(), 3) << log.str();
  // A's next transaction is decided (its offsets committed, its output visible), but its changelog marker is
  // still on the way.
  cluster.hold_markers(kChangelog, 0);
  input(2);
  tick(4);
  ASSERT_EQ(committed(), 5) << log.str();
  ASSERT_EQ(counts(), (std::vector<std::int64_t>{3, 5}));
  ASSERT_LT(cluster.last_stable_offset(kChangelog, 0), cluster.end_offset(kChangelog, 0));

  move_the_task_to_b();
  input(1);
  tick(10);
  // B cannot know the state of offset 5 until the marker is written: it waits, restoring, and says so.
  EXPECT_EQ(counts(), (std::vector<std::int64_t>{3, 5})) << log.str();
  EXPECT_FALSE(b->health.ready());
  EXPECT_EQ(b->health.reason(), "restoring state");

  cluster.release_markers();
  tick(10);
  EXPECT_EQ(counts(), (std::vector<std::int64_t>{3, 5, 6})) << log.str();
  EXPECT_EQ(committed(), 6);
  EXPECT_TRUE(b->health.ready()) << b->health.reason();
}

// A changelog that ends with a commit marker: the restore reaches its end (the position steps over the marker,
// which holds no record) and B goes on from A's last state.
TEST_F(RestoreEnd, AChangelogEndingInACommitMarkerIsRestoredToItsEnd) {
  input(3);
  tick(4);
  ASSERT_EQ(committed(), 3) << log.str();
  ASSERT_EQ(cluster.records(kChangelog, 0).back().offset, cluster.end_offset(kChangelog, 0) - 2)
      << "the last entry is the commit marker";

  move_the_task_to_b();
  tick(4);
  EXPECT_TRUE(b->health.ready()) << b->health.reason() << log.str();
  input(1);
  tick(4);
  EXPECT_EQ(counts(), (std::vector<std::int64_t>{3, 4})) << log.str();
}

// A changelog that ends with an aborted transaction (its records, then the abort marker; here a zombie's, which
// rewrote the count of 3): the restore reaches the end without applying it, and B counts on from A's 5.
TEST_F(RestoreEnd, AChangelogEndingInAnAbortedTransactionIsRestoredWithoutIt) {
  input(3);
  tick(4);
  const FakeRecord three = cluster.records(kChangelog, 0).back();
  input(2);
  tick(4);
  ASSERT_EQ(committed(), 5) << log.str();
  FakeClientFactory zombies(cluster);
  auto zombie = zombies.producer({{"transactional.id", "zombie"}}, {}, {});
  ASSERT_TRUE(zombie->init_transactions(1s).ok());
  ASSERT_TRUE(zombie->begin_transaction().ok());
  ASSERT_TRUE(zombie->produce(kChangelog, three.key, three.value, 0, &three.headers, 0).ok());
  zombie->poll(0ms);
  ASSERT_TRUE(zombie->abort_transaction(1s).ok());
  const auto changelog = cluster.records(kChangelog, 0);
  ASSERT_EQ(cluster.transaction_state(changelog.back().transaction), sluice::testing::TransactionState::aborted);
  ASSERT_EQ(cluster.last_stable_offset(kChangelog, 0), cluster.end_offset(kChangelog, 0));

  move_the_task_to_b();
  tick(4);
  EXPECT_TRUE(b->health.ready()) << b->health.reason() << log.str();
  input(1);
  tick(4);
  EXPECT_EQ(counts(), (std::vector<std::int64_t>{3, 5, 6})) << log.str();
  EXPECT_EQ(committed(), 6);
}
