// The global-table reader against the fake Kafka of tests/support/fake_kafka.hpp, and how its outages show in
// /readyz (InstanceHealth): after the first load, a cluster the reader cannot reach makes the instance not ready
// with the reason, until the reader reads again or a probe of the table topic is answered; the log says it once
// per transition. Also the composition of the instance's readiness itself.
//
// The fake is single-threaded and the reader has a thread of its own, so every call into the fake, the reader's
// and the test's, goes through one mutex (Locked* below). Waits are for conditions, with a deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "sluice/core/clock.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/global_tables.hpp"
#include "sluice/runtime/health.hpp"
#include "sluice/state/global_table_store.hpp"
#include "support/fake_kafka.hpp"
#include "support/parsed_topology.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using nlohmann::json;
using sluice::testing::FakeClientFactory;
using sluice::testing::FakeCluster;
using sluice::testing::make_error;

namespace {

// Runs a call with the fake's mutex held.
class Locking {
 protected:
  explicit Locking(std::recursive_mutex& mutex) : mutex_(mutex) {}
  template <typename Call>
  auto locked(Call call) const {
    std::lock_guard lock(mutex_);
    return call();
  }
  std::recursive_mutex& mutex_;
};

class LockedConsumer final : public kafka::Consumer, private Locking {
 public:
  LockedConsumer(std::unique_ptr<kafka::Consumer> inner, std::recursive_mutex& mutex) : Locking(mutex), inner_(std::move(inner)) {}
  kafka::KafkaError subscribe(const std::vector<std::string>& topics) override { return locked([&] { return inner_->subscribe(topics); }); }
  kafka::Message poll(std::chrono::milliseconds timeout) override { return locked([&] { return inner_->poll(timeout); }); }
  kafka::KafkaError commit(const std::vector<kafka::TopicPartition>& offsets) override { return locked([&] { return inner_->commit(offsets); }); }
  kafka::KafkaError committed(std::vector<kafka::TopicPartition>& partitions, std::chrono::milliseconds timeout) override {
    return locked([&] { return inner_->committed(partitions, timeout); });
  }
  kafka::KafkaError seek(const kafka::TopicPartition& position, std::chrono::milliseconds timeout) override {
    return locked([&] { return inner_->seek(position, timeout); });
  }
  kafka::KafkaError assign(const std::vector<kafka::TopicPartition>& partitions) override { return locked([&] { return inner_->assign(partitions); }); }
  kafka::KafkaError pause(const std::vector<kafka::TopicPartition>& partitions) override { return locked([&] { return inner_->pause(partitions); }); }
  kafka::KafkaError resume(const std::vector<kafka::TopicPartition>& partitions) override { return locked([&] { return inner_->resume(partitions); }); }
  kafka::KafkaError end_offsets(std::vector<kafka::TopicPartition>& partitions, std::chrono::milliseconds timeout) override {
    return locked([&] { return inner_->end_offsets(partitions, timeout); });
  }
  kafka::KafkaError high_watermarks(std::vector<kafka::TopicPartition>& partitions, std::chrono::milliseconds timeout) override {
    return locked([&] { return inner_->high_watermarks(partitions, timeout); });
  }
  kafka::KafkaError query_watermarks(const std::string& topic, std::int32_t partition, std::int64_t& low, std::int64_t& high,
                                     std::chrono::milliseconds timeout) override {
    return locked([&] { return inner_->query_watermarks(topic, partition, low, high, timeout); });
  }
  std::optional<std::int64_t> cached_high_watermark(const std::string& topic, std::int32_t partition) const override {
    return locked([&] { return inner_->cached_high_watermark(topic, partition); });
  }
  std::optional<std::int64_t> position(const std::string& topic, std::int32_t partition) const override {
    return locked([&] { return inner_->position(topic, partition); });
  }
  std::unique_ptr<kafka::GroupMetadata> group_metadata() const override { return locked([&] { return inner_->group_metadata(); }); }
  void close() override {
    locked([&] {
      inner_->close();
      return 0;
    });
  }

 private:
  std::unique_ptr<kafka::Consumer> inner_;
};

class LockedProducer final : public kafka::Producer, private Locking {
 public:
  LockedProducer(std::unique_ptr<kafka::Producer> inner, std::recursive_mutex& mutex) : Locking(mutex), inner_(std::move(inner)) {}
  kafka::KafkaError produce(std::string_view topic, std::optional<std::string_view> key, std::optional<std::string_view> value,
                            std::int64_t timestamp_ms, const std::vector<core::Header>* headers, std::int32_t partition,
                            void* opaque) override {
    return locked([&] { return inner_->produce(topic, key, value, timestamp_ms, headers, partition, opaque); });
  }
  int poll(std::chrono::milliseconds timeout) override { return locked([&] { return inner_->poll(timeout); }); }
  kafka::KafkaError flush(std::chrono::milliseconds timeout) override { return locked([&] { return inner_->flush(timeout); }); }
  int queue_length() const override { return locked([&] { return inner_->queue_length(); }); }
  kafka::KafkaError ping(std::chrono::milliseconds timeout) override { return locked([&] { return inner_->ping(timeout); }); }
  kafka::KafkaError init_transactions(std::chrono::milliseconds timeout) override {
    return locked([&] { return inner_->init_transactions(timeout); });
  }
  kafka::KafkaError begin_transaction() override { return locked([&] { return inner_->begin_transaction(); }); }
  kafka::KafkaError send_offsets_to_transaction(const std::vector<kafka::TopicPartition>& offsets, const kafka::GroupMetadata& group,
                                                std::chrono::milliseconds timeout) override {
    return locked([&] { return inner_->send_offsets_to_transaction(offsets, group, timeout); });
  }
  kafka::KafkaError commit_transaction(std::chrono::milliseconds timeout) override {
    return locked([&] { return inner_->commit_transaction(timeout); });
  }
  kafka::KafkaError abort_transaction(std::chrono::milliseconds timeout) override {
    return locked([&] { return inner_->abort_transaction(timeout); });
  }

 private:
  std::unique_ptr<kafka::Producer> inner_;
};

class LockedAdmin final : public kafka::Admin {
 public:
  LockedAdmin(std::unique_ptr<kafka::Admin> inner, std::recursive_mutex& mutex) : inner_(std::move(inner)), mutex_(mutex) {}
  kafka::KafkaError list_topics(std::vector<kafka::TopicInfo>& topics, std::chrono::milliseconds timeout) override {
    std::lock_guard lock(mutex_);
    return inner_->list_topics(topics, timeout);
  }
  kafka::KafkaError create_topics(const std::vector<kafka::NewTopic>& topics, std::chrono::milliseconds timeout) override {
    std::lock_guard lock(mutex_);
    return inner_->create_topics(topics, timeout);
  }
  kafka::KafkaError delete_records(const std::vector<kafka::TopicPartition>& before, std::chrono::milliseconds timeout) override {
    std::lock_guard lock(mutex_);
    return inner_->delete_records(before, timeout);
  }

 private:
  std::unique_ptr<kafka::Admin> inner_;
  std::recursive_mutex& mutex_;
};

class LockedFactory final : public kafka::ClientFactory {
 public:
  LockedFactory(FakeCluster& cluster, std::recursive_mutex& mutex) : inner_(cluster), mutex_(mutex) {}
  std::unique_ptr<kafka::Consumer> consumer(const kafka::Config& config, kafka::ClientCallbacks callbacks,
                                            kafka::RebalanceListener* listener) override {
    std::lock_guard lock(mutex_);
    return std::make_unique<LockedConsumer>(inner_.consumer(config, std::move(callbacks), listener), mutex_);
  }
  std::unique_ptr<kafka::Producer> producer(const kafka::Config& config, kafka::ClientCallbacks callbacks,
                                            kafka::DeliveryCallback on_delivery) override {
    std::lock_guard lock(mutex_);
    return std::make_unique<LockedProducer>(inner_.producer(config, std::move(callbacks), std::move(on_delivery)), mutex_);
  }
  std::unique_ptr<kafka::Admin> admin(const kafka::Config& config, kafka::ClientCallbacks callbacks) override {
    std::lock_guard lock(mutex_);
    return std::make_unique<LockedAdmin>(inner_.admin(config, std::move(callbacks)), mutex_);
  }

 private:
  FakeClientFactory inner_;
  std::recursive_mutex& mutex_;
};

// Thread-safe sink for the reader's log lines.
class LockedLog final : public std::streambuf {
 public:
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 protected:
  int overflow(int c) override {
    std::lock_guard lock(mutex_);
    if (c != EOF) text_.push_back(static_cast<char>(c));
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard lock(mutex_);
    text_.append(s, static_cast<std::size_t>(n));
    return n;
  }

 private:
  std::mutex mutex_;
  std::string text_;
};

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

class GlobalTablesOutage : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster.create_topic("cards", 2);
    cluster.create_topic("payments", 1);
    cluster.create_topic("dlq", 1);
    for (int i = 0; i < 4; ++i) cluster.produce("cards", i % 2, "c" + std::to_string(i), json{{"limit", i}}.dump());
    json document = {{"application_id", "pay"},
                     {"sources", {{{"name", "payments"}, {"topic", "payments"}}}},
                     {"tables", {{{"name", "cards"}, {"topic", "cards"}, {"global", true}}}},
                     {"operators", {{{"name", "checked"},
                                     {"from", "payments"},
                                     {"join", {{"table", "cards"}, {"lookup", "card_id"}, {"as", "payment"},
                                               {"select", {{"id", "payment.id"}}}}}}}},
                     {"sinks", {{{"from", "checked"}, {"topic", "out"}}}},
                     {"dead_letter_topic", "dlq"}};
    topology_ = std::make_unique<topology::Topology>(sluice::testing::parse_valid(document));
    pipeline_ = std::make_unique<runtime::Pipeline>(*topology_);
    runtime::GlobalTablesOptions options;
    options.health = &health.global_tables();
    options.probe_interval = 10ms;
    options.backoff_max_ms = 50;
    kafka::ClientSettings client;
    client.bootstrap_servers = "fake:9092";
    client.application_id = "pay";
    client.client_id = "sluice-pay";
    tables = std::make_unique<runtime::GlobalTables>(
        *pipeline_, [](const topology::TableSpec&) { return state::make_memory_global_table(); }, factory, client,
        options, metrics, logger, clock);
  }
  void TearDown() override { tables->stop(); }

  // Waits (polling, with a deadline) until `condition` holds; false if it never did.
  static bool eventually(const std::function<bool()>& condition) {
    for (const auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
      if (condition()) return true;
      std::this_thread::sleep_for(1ms);
    }
    return condition();
  }
  void locked(const std::function<void()>& script) {
    std::lock_guard lock(mutex);
    script();
  }

  std::recursive_mutex mutex;
  FakeCluster cluster;
  LockedFactory factory{cluster, mutex};
  core::SystemClock clock;
  LockedLog log_buffer;
  std::ostream log{&log_buffer};
  observe::Logger logger{log, observe::LogLevel::info, clock};
  observe::Metrics metrics{"pay"};
  runtime::InstanceHealth health{1, clock};
  std::atomic<bool> stop{false};
  std::unique_ptr<topology::Topology> topology_;
  std::unique_ptr<runtime::Pipeline> pipeline_;
  std::unique_ptr<runtime::GlobalTables> tables;
};

}  // namespace

TEST(InstanceHealthTest, ReadyWhenEveryThreadAndTheGlobalTableReaderAreAndSaysWhyNot) {
  core::ManualClock clock(1'000'000);
  runtime::InstanceHealth health(2, clock);
  EXPECT_FALSE(health.ready());
  EXPECT_EQ(health.reason(), "thread 0: starting");
  health.thread(0).set_ready(true, "processing");
  health.thread(1).set_ready(true, "processing");
  EXPECT_TRUE(health.ready()) << "no global tables: the reader holds nothing back";
  EXPECT_EQ(health.reason(), "processing");

  health.global_tables().set_ready(false, "global tables: cluster unreachable or refusing: 1/1 brokers are down");
  EXPECT_FALSE(health.ready());
  EXPECT_EQ(health.reason(), "global tables: cluster unreachable or refusing: 1/1 brokers are down");
  // A processing thread's own trouble comes first.
  health.thread(1).set_ready(false, "cluster unreachable: 1/1 brokers are down");
  EXPECT_EQ(health.reason(), "thread 1: cluster unreachable: 1/1 brokers are down");
  health.thread(1).set_ready(true, "processing");
  health.global_tables().set_ready(true, "global tables loaded");
  EXPECT_TRUE(health.ready());

  // A thread stalled inside a Kafka call for 5 s is not ready.
  health.thread(0).enter_call("commit_transaction", clock.monotonic_ns() / 1'000'000);
  clock.advance_ms(runtime::Health::kStalledCallMs);
  EXPECT_FALSE(health.ready());
  EXPECT_EQ(health.reason(), "thread 0: waiting for the cluster: commit_transaction has not returned for 5 s");
}

TEST_F(GlobalTablesOutage, AnOutageAfterTheLoadShowsInReadyzUntilTheReaderReadsAgain) {
  // One processing thread that is otherwise ready: /readyz follows the reader alone.
  health.thread(0).set_ready(true, "processing");
  tables->start();
  ASSERT_EQ(tables->wait_loaded(stop, {}), runtime::GlobalLoadOutcome::loaded) << log_buffer.text();
  ASSERT_TRUE(eventually([&] { return health.ready(); })) << health.reason();

  // The cluster goes away: the client reports it, and every probe of the table topic fails.
  locked([&] {
    cluster.fail("consumer.end_offsets", make_error(kafka::ErrorCode::all_brokers_down, true), 1'000'000);
    cluster.client_error(kafka::KafkaError::make(kafka::ErrorCode::all_brokers_down, "1/1 brokers are down", true));
  });
  ASSERT_TRUE(eventually([&] { return !health.ready(); })) << log_buffer.text();
  EXPECT_EQ(health.reason(), "global tables: cluster unreachable or refusing: 1/1 brokers are down");
  // It stays so while the probes fail (each a call to the fake), and the log said it once, not per probe.
  const auto probes = [&] {
    std::lock_guard lock(mutex);
    return cluster.calls("consumer.end_offsets");
  };
  const std::size_t before = probes();
  ASSERT_TRUE(eventually([&] { return probes() >= before + 5; }));
  EXPECT_FALSE(health.ready());
  locked([&] { cluster.client_error(kafka::KafkaError::make(kafka::ErrorCode::all_brokers_down, "1/1 brokers are down", true)); });
  ASSERT_TRUE(eventually([&] { return probes() >= before + 10; }));
  EXPECT_EQ(occurrences(log_buffer.text(), "cluster unreachable or refusing"), 1u) << log_buffer.text();

  // A new row is read: the reader reads again, /readyz is ready, and the log says so once.
  locked([&] { cluster.produce("cards", 0, "c9", json{{"limit", 9}}.dump()); });
  ASSERT_TRUE(eventually([&] { return health.ready(); })) << health.reason() << log_buffer.text();
  EXPECT_EQ(health.reason(), "processing");
  EXPECT_EQ(occurrences(log_buffer.text(), "global tables: reading again after"), 1u) << log_buffer.text();
}

TEST_F(GlobalTablesOutage, AQuietTableRecoversWhenAProbeIsAnswered) {
  health.thread(0).set_ready(true, "processing");
  tables->start();
  ASSERT_EQ(tables->wait_loaded(stop, {}), runtime::GlobalLoadOutcome::loaded) << log_buffer.text();
  locked([&] {
    cluster.fail("consumer.end_offsets", make_error(kafka::ErrorCode::all_brokers_down, true), 3);
    cluster.client_error(kafka::KafkaError::make(kafka::ErrorCode::all_brokers_down, "1/1 brokers are down", true));
  });
  ASSERT_TRUE(eventually([&] { return !health.ready(); })) << log_buffer.text();
  // Nothing new to read: after three failed probes the fourth is answered.
  ASSERT_TRUE(eventually([&] { return health.ready(); })) << health.reason() << log_buffer.text();
  EXPECT_EQ(occurrences(log_buffer.text(), "global tables: the cluster answers again after"), 1u) << log_buffer.text();
  EXPECT_EQ(tables->records_read(), 4);
}
