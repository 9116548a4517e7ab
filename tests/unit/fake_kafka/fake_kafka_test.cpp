// Tests of the in-memory Kafka itself: the guarantees runtime tests rely on (transaction visibility, fencing,
// offsets committed with the transaction, rebalances delivered in poll, the failure script).
#include "support/fake_kafka.hpp"

#include <gtest/gtest.h>

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;
using kafka::ErrorCode;
using kafka::TopicPartition;

struct Delivered {
  ErrorCode code;
  std::string topic;
  std::int32_t partition;
  std::int64_t offset;
};

struct Listener final : kafka::RebalanceListener {
  void on_partitions_revoked(const std::vector<TopicPartition>& partitions) override {
    events.push_back("revoked:" + std::to_string(partitions.size()));
  }
  void on_partitions_assigned(const std::vector<TopicPartition>& partitions) override {
    events.push_back("assigned:" + std::to_string(partitions.size()));
    if (consumer != nullptr && pause_on_assign) (void)consumer->pause(partitions);
  }
  void on_partitions_lost(const std::vector<TopicPartition>& partitions) override {
    events.push_back("lost:" + std::to_string(partitions.size()));
  }
  std::vector<std::string> events;
  kafka::Consumer* consumer = nullptr;
  bool pause_on_assign = false;
};

class FakeKafkaTest : public ::testing::Test {
 protected:
  FakeKafkaTest() {
    cluster.create_topic("in", 2);
    cluster.create_topic("out", 1);
  }

  std::unique_ptr<kafka::Producer> producer(const std::string& transactional_id = {}) {
    kafka::Config config;
    if (!transactional_id.empty()) config["transactional.id"] = transactional_id;
    return factory.producer(config, {}, [this](const kafka::KafkaError& error, const kafka::DeliveryReport& report) {
      delivered.push_back({error.code, std::string(report.topic), report.partition, report.offset});
    });
  }

  std::unique_ptr<kafka::Consumer> consumer(const std::string& isolation = "read_committed",
                                            kafka::RebalanceListener* listener = nullptr) {
    return factory.consumer({{"group.id", "app"}, {"isolation.level", isolation}}, {}, listener);
  }

  static kafka::KafkaError produce(kafka::Producer& producer, const std::string& topic, const std::string& value,
                                   std::int32_t partition = 0) {
    return producer.produce(topic, std::nullopt, std::string_view(value), 1, nullptr, partition);
  }

  static std::vector<std::string> values(const std::vector<FakeRecord>& records) {
    std::vector<std::string> result;
    for (const auto& record : records) result.push_back(record.value.value_or("<null>"));
    return result;
  }

  static std::vector<std::string> drain(kafka::Consumer& consumer) {
    std::vector<std::string> result;
    for (int i = 0; i < 100; ++i) {
      kafka::Message message = consumer.poll(0ms);
      if (!message) break;
      result.push_back(std::string(message.value()));
    }
    return result;
  }

  FakeCluster cluster;
  FakeClientFactory factory{cluster};
  std::vector<Delivered> delivered;
};

TEST_F(FakeKafkaTest, ConsumerReadsRoundRobinFromTheCommittedOffsetAndNeverBlocks) {
  for (int i = 0; i < 3; ++i) cluster.produce("in", 0, std::nullopt, "a" + std::to_string(i), 10 + i);
  for (int i = 0; i < 3; ++i) cluster.produce("in", 1, "k", "b" + std::to_string(i), 20 + i, {{"h", "v"}});
  cluster.set_committed("app", "in", 0, 1);
  auto reader = consumer();
  (void)reader->subscribe({"in"});
  cluster.assign(*reader, cluster.partitions({"in"}));

  kafka::Message first = reader->poll(0ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(first.topic(), "in");
  EXPECT_EQ(first.offset(), 1);
  EXPECT_FALSE(first.has_key());
  EXPECT_EQ(first.timestamp_ms(), 11);
  kafka::Message second = reader->poll(0ms);
  EXPECT_EQ(second.partition(), 1);
  EXPECT_EQ(second.key(), "k");
  ASSERT_EQ(second.headers().size(), 1U);
  EXPECT_EQ(second.headers()[0].value, "v");
  EXPECT_EQ(drain(*reader), (std::vector<std::string>{"a2", "b1", "b2"}));
  EXPECT_FALSE(reader->poll(0ms));
  EXPECT_EQ(reader->position("in", 0), 3);
  EXPECT_EQ(reader->cached_high_watermark("in", 1), 3);
}

TEST_F(FakeKafkaTest, CommittedTransactionBecomesVisibleAtOnceWithItsOffsets) {
  auto reader = consumer();
  (void)reader->subscribe({"in"});
  cluster.assign(*reader, cluster.partitions({"in"}));
  (void)reader->poll(0ms);
  auto writer = producer("tx");
  ASSERT_TRUE(writer->init_transactions(1s).ok());
  ASSERT_TRUE(writer->begin_transaction().ok());
  ASSERT_TRUE(produce(*writer, "out", "x").ok());
  ASSERT_TRUE(produce(*writer, "out", "y").ok());
  EXPECT_EQ(writer->queue_length(), 2);
  EXPECT_EQ(writer->poll(0ms), 2);  // delivered: in the log, but the transaction is open
  EXPECT_EQ(delivered.size(), 2U);
  EXPECT_EQ(delivered[1].offset, 1);
  EXPECT_EQ(cluster.records("out", 0).size(), 2U);
  EXPECT_TRUE(cluster.read_committed("out").empty());
  EXPECT_EQ(cluster.last_stable_offset("out", 0), 0);

  ASSERT_TRUE(writer->send_offsets_to_transaction({{"in", 0, 5}}, *reader->group_metadata(), 1s).ok());
  EXPECT_EQ(cluster.committed("app", "in", 0), std::nullopt);
  ASSERT_TRUE(writer->commit_transaction(1s).ok());
  EXPECT_EQ(values(cluster.read_committed("out")), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(cluster.committed("app", "in", 0), 5);
  EXPECT_EQ(cluster.end_offset("out", 0), 3);  // the commit marker takes an offset
  EXPECT_EQ(cluster.last_stable_offset("out", 0), 3);
}

TEST_F(FakeKafkaTest, ReadCommittedStopsAtTheOpenTransactionAndSkipsAbortedRecords) {
  auto writer = producer("tx");
  ASSERT_TRUE(writer->init_transactions(1s).ok());
  ASSERT_TRUE(writer->begin_transaction().ok());
  ASSERT_TRUE(produce(*writer, "out", "aborted").ok());
  ASSERT_TRUE(writer->flush(1s).ok());
  cluster.produce("out", 0, std::nullopt, "plain");  // after the open transaction's first offset

  auto committed_reader = consumer("read_committed");
  auto uncommitted_reader = consumer("read_uncommitted");
  (void)committed_reader->assign({{"out", 0, kafka::offset_beginning}});
  (void)uncommitted_reader->assign({{"out", 0, kafka::offset_beginning}});
  EXPECT_TRUE(drain(*committed_reader).empty());
  std::vector<TopicPartition> ends{{"out", 0}};
  ASSERT_TRUE(committed_reader->end_offsets(ends, 1s).ok());
  EXPECT_EQ(ends[0].offset, 0);  // the LSO
  EXPECT_EQ(drain(*uncommitted_reader), (std::vector<std::string>{"aborted", "plain"}));

  ASSERT_TRUE(writer->abort_transaction(1s).ok());
  EXPECT_EQ(drain(*committed_reader), (std::vector<std::string>{"plain"}));
  EXPECT_EQ(values(cluster.read_committed("out")), (std::vector<std::string>{"plain"}));
  // The abort marker at offset 2 is stepped over: the position reaches the end.
  EXPECT_FALSE(committed_reader->poll(0ms));
  ASSERT_TRUE(committed_reader->end_offsets(ends, 1s).ok());
  EXPECT_EQ(ends[0].offset, 3);
  EXPECT_EQ(committed_reader->position("out", 0), 3);
}

TEST_F(FakeKafkaTest, InitTransactionsFencesTheOlderProducerAndAbortsItsTransaction) {
  auto zombie = producer("tx");
  ASSERT_TRUE(zombie->init_transactions(1s).ok());
  ASSERT_TRUE(zombie->begin_transaction().ok());
  ASSERT_TRUE(produce(*zombie, "out", "zombie").ok());
  ASSERT_TRUE(zombie->flush(1s).ok());

  auto successor = producer("tx");
  ASSERT_TRUE(successor->init_transactions(1s).ok());
  EXPECT_EQ(factory.producers_created(), 2U);
  EXPECT_TRUE(cluster.fenced(*factory.producer(0)));
  kafka::KafkaError error = zombie->commit_transaction(1s);
  EXPECT_EQ(error.code, ErrorCode::fenced);
  EXPECT_TRUE(error.fatal);
  EXPECT_EQ(produce(*zombie, "out", "late").code, ErrorCode::fenced);
  EXPECT_TRUE(cluster.read_committed("out").empty());
  EXPECT_EQ(cluster.transaction_state(1), TransactionState::aborted);

  ASSERT_TRUE(successor->begin_transaction().ok());
  ASSERT_TRUE(produce(*successor, "out", "fresh").ok());
  ASSERT_TRUE(successor->commit_transaction(1s).ok());
  EXPECT_EQ(values(cluster.read_committed("out")), (std::vector<std::string>{"fresh"}));
}

TEST_F(FakeKafkaTest, ExpiredTransactionFencesItsProducer) {
  auto writer = producer("tx");
  ASSERT_TRUE(writer->init_transactions(1s).ok());
  ASSERT_TRUE(writer->begin_transaction().ok());
  ASSERT_TRUE(produce(*writer, "out", "x").ok());
  cluster.expire_transaction("tx");
  EXPECT_EQ(writer->commit_transaction(1s).code, ErrorCode::fenced);
  EXPECT_TRUE(cluster.read_committed("out").empty());
}

TEST_F(FakeKafkaTest, AbortDiscardsTheTransactionsOffsetsAndPurgesQueuedRecords) {
  auto reader = consumer();
  auto writer = producer("tx");
  ASSERT_TRUE(writer->init_transactions(1s).ok());
  ASSERT_TRUE(writer->begin_transaction().ok());
  ASSERT_TRUE(produce(*writer, "out", "x").ok());
  ASSERT_TRUE(writer->send_offsets_to_transaction({{"in", 0, 7}}, *reader->group_metadata(), 1s).ok());
  ASSERT_TRUE(writer->abort_transaction(1s).ok());
  ASSERT_EQ(delivered.size(), 1U);
  EXPECT_NE(delivered[0].code, ErrorCode::none);
  EXPECT_EQ(cluster.committed("app", "in", 0), std::nullopt);
  EXPECT_EQ(cluster.end_offset("out", 0), 0);  // never written: nothing to mark
}

TEST_F(FakeKafkaTest, TransactionalStateRules) {
  auto writer = producer("tx");
  EXPECT_EQ(writer->begin_transaction().code, ErrorCode::invalid_state);  // before init_transactions
  ASSERT_TRUE(writer->init_transactions(1s).ok());
  EXPECT_EQ(produce(*writer, "out", "x").code, ErrorCode::invalid_state);  // outside a transaction
  EXPECT_EQ(writer->commit_transaction(1s).code, ErrorCode::invalid_state);
  EXPECT_EQ(writer->abort_transaction(1s).code, ErrorCode::invalid_state);
  ASSERT_TRUE(writer->begin_transaction().ok());
  EXPECT_EQ(writer->begin_transaction().code, ErrorCode::invalid_state);

  auto plain = producer();
  EXPECT_EQ(plain->init_transactions(1s).code, ErrorCode::invalid_state);
  EXPECT_TRUE(produce(*plain, "out", "x").ok());
  EXPECT_EQ(produce(*plain, "missing", "x").code, ErrorCode::unknown_topic);
}

TEST_F(FakeKafkaTest, NullAndEmptyHeaderValuesSurviveProduceAndConsume) {
  auto writer = producer();
  const std::vector<core::Header> headers = {{"null", std::nullopt}, {"empty", ""}, {"text", "v"}};
  ASSERT_TRUE(writer->produce("in", std::nullopt, std::string_view("x"), 1, &headers, 0).ok());
  ASSERT_TRUE(writer->flush(1s).ok());
  ASSERT_EQ(cluster.records("in", 0).size(), 1u);
  EXPECT_EQ(cluster.records("in", 0)[0].headers, headers);
  auto reader = consumer("read_uncommitted");
  (void)reader->subscribe({"in"});
  cluster.assign(*reader, cluster.partitions({"in"}));
  kafka::Message message = reader->poll(0ms);
  ASSERT_TRUE(message);
  const std::vector<core::Header> read = message.headers();
  EXPECT_EQ(read, headers);
  ASSERT_EQ(read.size(), 3u);
  EXPECT_FALSE(read[0].value.has_value());
  EXPECT_EQ(read[1].value, std::optional<std::string>(""));
}

TEST_F(FakeKafkaTest, FailedDeliveryInsideATransactionRequiresAbort) {
  auto writer = producer("tx");
  ASSERT_TRUE(writer->init_transactions(1s).ok());
  ASSERT_TRUE(writer->begin_transaction().ok());
  cluster.fail("producer.delivery", {make_error(ErrorCode::message_too_large), 1, "out", false});
  ASSERT_TRUE(produce(*writer, "in", "ok").ok());
  ASSERT_TRUE(produce(*writer, "out", "too large").ok());
  kafka::KafkaError error = writer->commit_transaction(1s);
  EXPECT_TRUE(error.requires_abort);
  EXPECT_EQ(error.code, ErrorCode::message_too_large);
  ASSERT_EQ(delivered.size(), 2U);
  EXPECT_EQ(delivered[0].code, ErrorCode::none);
  EXPECT_EQ(delivered[1].code, ErrorCode::message_too_large);
  ASSERT_TRUE(writer->abort_transaction(1s).ok());
  EXPECT_TRUE(cluster.read_committed("in").empty());
  ASSERT_TRUE(writer->begin_transaction().ok());  // usable again
}

TEST_F(FakeKafkaTest, StaleGenerationIsRefusedAfterTheAssignmentWasLost) {
  Listener listener;
  auto reader = consumer("read_committed", &listener);
  (void)reader->subscribe({"in"});
  cluster.assign(*reader, cluster.partitions({"in"}));
  (void)reader->poll(0ms);
  auto before_loss = reader->group_metadata();
  cluster.lose(*reader);  // the group moves on at once; the consumer hears of it at its next poll

  auto writer = producer("tx");
  ASSERT_TRUE(writer->init_transactions(1s).ok());
  ASSERT_TRUE(writer->begin_transaction().ok());
  kafka::KafkaError error = writer->send_offsets_to_transaction({{"in", 0, 3}}, *before_loss, 1s);
  EXPECT_FALSE(error.ok());
  EXPECT_FALSE(error.retriable);
  EXPECT_TRUE(error.requires_abort);
  EXPECT_EQ(writer->commit_transaction(1s).code, error.code);
  ASSERT_TRUE(writer->abort_transaction(1s).ok());
  EXPECT_FALSE(reader->commit({{"in", 0, 3}}).ok());
  EXPECT_EQ(cluster.committed("app", "in", 0), std::nullopt);

  (void)reader->poll(0ms);
  EXPECT_EQ(listener.events, (std::vector<std::string>{"assigned:2", "lost:2"}));
  EXPECT_TRUE(cluster.assignment(*reader).empty());
  cluster.assign(*reader, cluster.partitions({"in"}));  // rejoins with the new generation
  (void)reader->poll(0ms);
  EXPECT_TRUE(reader->commit({{"in", 0, 3}}).ok());
  EXPECT_EQ(cluster.committed("app", "in", 0), 3);
}

TEST_F(FakeKafkaTest, RebalanceEventsArriveInPollAndCloseRevokes) {
  cluster.produce("in", 0, std::nullopt, "a");
  Listener listener;
  auto reader = consumer("read_committed", &listener);
  listener.consumer = reader.get();
  listener.pause_on_assign = true;
  (void)reader->subscribe({"in"});
  cluster.assign(*reader, {{"in", 0}});
  EXPECT_TRUE(listener.events.empty());
  EXPECT_FALSE(reader->poll(0ms));  // assigned, then paused by the listener before any fetch
  EXPECT_EQ(listener.events, (std::vector<std::string>{"assigned:1"}));
  EXPECT_TRUE(cluster.paused(*factory.last_consumer(), "in", 0));
  (void)reader->resume({{"in", 0}});
  EXPECT_TRUE(reader->poll(0ms));

  cluster.assign(*reader, cluster.partitions({"in"}));  // eager: revokes what it holds first
  (void)reader->poll(0ms);
  cluster.revoke(*reader);
  (void)reader->poll(0ms);
  cluster.assign(*reader, {{"in", 1}});
  reader->close();
  reader->close();
  EXPECT_EQ(listener.events, (std::vector<std::string>{"assigned:1", "revoked:1", "assigned:2", "revoked:2"}));
}

TEST_F(FakeKafkaTest, AutoAssignGivesEverySubscriberAllPartitions) {
  cluster.set_auto_assign(true);
  Listener listener;
  auto reader = consumer("read_committed", &listener);
  (void)reader->subscribe({"in", "out"});
  (void)reader->poll(0ms);
  EXPECT_EQ(cluster.assignment(*reader).size(), 3U);
  reader->close();
  EXPECT_EQ(listener.events, (std::vector<std::string>{"assigned:3", "revoked:3"}));
}

TEST_F(FakeKafkaTest, ScriptedFailuresFireCountTimesInOrder) {
  auto reader = consumer();
  cluster.fail("consumer.commit", make_error(ErrorCode::transport, true), 2);
  cluster.fail("consumer.commit", make_error(ErrorCode::authorization));
  EXPECT_EQ(reader->commit({{"in", 0, 1}}).code, ErrorCode::transport);
  EXPECT_EQ(reader->commit({{"in", 0, 1}}).code, ErrorCode::transport);
  EXPECT_EQ(reader->commit({{"in", 0, 1}}).code, ErrorCode::authorization);
  EXPECT_TRUE(reader->commit({{"in", 0, 1}}).ok());
  EXPECT_EQ(cluster.calls("consumer.commit"), 4U);
  EXPECT_EQ(cluster.scripted_failures_left(), 0U);

  cluster.fail("consumer.poll", make_error(ErrorCode::all_brokers_down));
  kafka::Message event = reader->poll(0ms);
  ASSERT_TRUE(event);
  EXPECT_FALSE(event.ok());
  EXPECT_EQ(event.error(), ErrorCode::all_brokers_down);

  cluster.fail("producer.produce", {make_error(ErrorCode::queue_full, true), 1, "out", false});
  auto writer = producer();
  EXPECT_TRUE(produce(*writer, "in", "x").ok());  // another topic: not matched
  EXPECT_EQ(produce(*writer, "out", "x").code, ErrorCode::queue_full);
  EXPECT_TRUE(produce(*writer, "out", "x").ok());
  EXPECT_THROW(cluster.fail("producer.typo", timed_out()), std::invalid_argument);
}

TEST_F(FakeKafkaTest, CommitThatTimesOutAfterCommittingIsAnIndefiniteOutcome) {
  auto reader = consumer();
  auto writer = producer("tx");
  ASSERT_TRUE(writer->init_transactions(1s).ok());
  ASSERT_TRUE(writer->begin_transaction().ok());
  ASSERT_TRUE(produce(*writer, "out", "x").ok());
  ASSERT_TRUE(writer->send_offsets_to_transaction({{"in", 1, 4}}, *reader->group_metadata(), 1s).ok());
  cluster.fail_after_effect("producer.commit_transaction", timed_out());
  EXPECT_EQ(writer->commit_transaction(1s).code, ErrorCode::timed_out);
  EXPECT_EQ(values(cluster.read_committed("out")), (std::vector<std::string>{"x"}));
  EXPECT_EQ(cluster.committed("app", "in", 1), 4);
  EXPECT_TRUE(writer->commit_transaction(1s).ok());  // librdkafka: the retry learns it had committed

  // The plain variant: nothing committed; a new producer with the id aborts the leftover transaction.
  ASSERT_TRUE(writer->begin_transaction().ok());
  ASSERT_TRUE(produce(*writer, "out", "y").ok());
  cluster.fail("producer.commit_transaction", timed_out());
  EXPECT_EQ(writer->commit_transaction(1s).code, ErrorCode::timed_out);
  auto replacement = producer("tx");
  ASSERT_TRUE(replacement->init_transactions(1s).ok());
  EXPECT_EQ(values(cluster.read_committed("out")), (std::vector<std::string>{"x"}));

  // The call log tells the order, per producer instance.
  const int first = cluster.client_id(*factory.producer(0));
  std::vector<std::string> sequence;
  for (const auto& call : cluster.call_log()) {
    if (call.client == first && call.call != "producer.delivery") sequence.push_back(call.call);
  }
  EXPECT_EQ(sequence.back(), "producer.commit_transaction");
  EXPECT_EQ(cluster.calls("producer.send_offsets_to_transaction", first), 1U);
  EXPECT_EQ(factory.producers_created(), 2U);
}

TEST_F(FakeKafkaTest, DeleteRecordsMovesTheLowWatermark) {
  for (int i = 0; i < 4; ++i) cluster.produce("out", 0, std::nullopt, std::to_string(i));
  auto admin = factory.admin({}, {});
  ASSERT_TRUE(admin->delete_records({{"out", 0, 2}}, 1s).ok());
  EXPECT_EQ(cluster.start_offset("out", 0), 2);
  EXPECT_EQ(values(cluster.read_committed("out")), (std::vector<std::string>{"2", "3"}));
  EXPECT_EQ(admin->delete_records({{"out", 0, 9}}, 1s).code, ErrorCode::offset_out_of_range);

  auto reader = consumer();
  (void)reader->assign({{"out", 0, 1}});  // below the low watermark: auto.offset.reset=earliest
  EXPECT_EQ(drain(*reader), (std::vector<std::string>{"2", "3"}));

  kafka::NewTopic topic;
  topic.name = "new";
  topic.partitions = 3;
  ASSERT_TRUE(admin->create_topics({topic}, 1s).ok());
  topic.partitions = 5;
  ASSERT_TRUE(admin->create_topics({topic}, 1s).ok());  // exists: not an error
  std::vector<kafka::TopicInfo> topics;
  ASSERT_TRUE(admin->list_topics(topics, 1s).ok());
  EXPECT_EQ(topics.size(), 3U);
  EXPECT_EQ(cluster.partition_count("new"), 3);
}

TEST_F(FakeKafkaTest, LatestResetAndClientErrorsInPoll) {
  cluster.produce("out", 0, std::nullopt, "old");
  std::vector<ErrorCode> errors;
  kafka::ClientCallbacks callbacks;
  callbacks.error = [&](const kafka::KafkaError& error) { errors.push_back(error.code); };
  auto reader = factory.consumer({{"group.id", "g"}, {"auto.offset.reset", "latest"}}, callbacks, nullptr);
  (void)reader->assign({{"out", 0}});
  cluster.client_error(make_error(ErrorCode::all_brokers_down));
  EXPECT_FALSE(reader->poll(0ms));
  EXPECT_EQ(errors, (std::vector<ErrorCode>{ErrorCode::all_brokers_down}));
  cluster.produce("out", 0, std::nullopt, "new");
  EXPECT_EQ(drain(*reader), (std::vector<std::string>{"new"}));
  std::vector<TopicPartition> committed{{"out", 0}};
  ASSERT_TRUE(reader->commit({{"out", 0, 2}}).ok());  // a manual assignment commits unchecked
  ASSERT_TRUE(reader->committed(committed, 1s).ok());
  EXPECT_EQ(committed[0].offset, 2);
}

TEST_F(FakeKafkaTest, KeysArePartitionedWithKafkasMurmur2) {
  cluster.create_topic("four", 4);
  auto writer = producer();
  // Kafka's UtilsTest: murmur2("foobar") = -790332482, murmur2("abc") = 479470107.
  ASSERT_TRUE(writer->produce("four", std::string_view("foobar"), std::string_view("v"), 0, nullptr).ok());
  ASSERT_TRUE(writer->produce("four", std::string_view("abc"), std::string_view("v"), 0, nullptr).ok());
  EXPECT_EQ(writer->poll(0ms), 2);
  ASSERT_EQ(delivered.size(), 2U);
  EXPECT_EQ(delivered[0].partition, (2147483648 - 790332482) % 4);
  EXPECT_EQ(delivered[1].partition, 479470107 % 4);
}

TEST_F(FakeKafkaTest, FactoryTracksClientsAndThrowsConfigErrorWhenTold) {
  factory.fail_next_creation("producer");
  EXPECT_NO_THROW((void)consumer());
  EXPECT_THROW((void)producer(), kafka::ConfigError);
  auto writer = producer();
  EXPECT_EQ(factory.producers_created(), 1U);
  EXPECT_EQ(factory.last_producer(), writer.get());
  writer.reset();
  EXPECT_EQ(factory.last_producer(), nullptr);
  EXPECT_EQ(factory.consumers_created(), 1U);
}

TEST_F(FakeKafkaTest, HeldMarkersKeepADecidedTransactionInvisibleWhileItsOffsetsAreCommitted) {
  cluster.hold_markers("out", 0);
  auto writer = producer("tx");
  auto reader = consumer("read_committed");
  ASSERT_TRUE(writer->init_transactions(1s).ok());
  ASSERT_TRUE(writer->begin_transaction().ok());
  ASSERT_TRUE(produce(*writer, "out", "a").ok());
  ASSERT_TRUE(writer->send_offsets_to_transaction({{"in", 0, 7}}, *reader->group_metadata(), 1s).ok());
  ASSERT_TRUE(writer->commit_transaction(1s).ok());
  // Decided: the offsets count, but the marker on out[0] is not written, so the record is not visible yet.
  EXPECT_EQ(cluster.committed("app", "in", 0), 7);
  EXPECT_EQ(cluster.last_stable_offset("out", 0), 0);
  std::vector<TopicPartition> ends{{"out", 0}};
  ASSERT_TRUE(reader->end_offsets(ends, 1s).ok());
  EXPECT_EQ(ends[0].offset, 0);
  ASSERT_TRUE(reader->high_watermarks(ends, 1s).ok());
  EXPECT_EQ(ends[0].offset, 1);
  (void)reader->assign({{"out", 0, kafka::offset_beginning}});
  EXPECT_TRUE(drain(*reader).empty());

  cluster.release_markers();
  EXPECT_EQ(drain(*reader), (std::vector<std::string>{"a"}));
  EXPECT_FALSE(reader->poll(0ms));
  EXPECT_EQ(reader->position("out", 0), 2) << "past the marker, now written";
  EXPECT_EQ(cluster.last_stable_offset("out", 0), 2);
}

}  // namespace
}  // namespace sluice::testing
