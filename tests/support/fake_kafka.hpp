// An in-memory Kafka behind the interfaces of sluice/kafka/client.hpp, for unit tests of the runtime: topics
// with partitioned logs, transactions with read_committed visibility (the LSO), consumer groups with committed
// offsets and generations, rebalances the test drives by hand, and a failure script that makes any call fail.
//
// Threading: single-threaded and deterministic. The cluster, its clients and the test all run on the test's
// thread; no call blocks and every timeout argument is ignored.
// Lifecycle: the FakeCluster outlives every client built on it. Clients (FakeConsumer, FakeProducer, FakeAdmin,
// defined in fake_kafka.cpp) register with the cluster when created and unregister when destroyed, so a test
// can reach a client that the code under test owns (FakeClientFactory::last_consumer()...).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/kafka/client.hpp"

namespace sluice::testing {

// An error classified like librdkafka's (is_retriable, is_fatal, txn_requires_abort), for failure scripts.
kafka::KafkaError make_error(kafka::ErrorCode code, bool retriable = false, bool fatal = false,
                             bool requires_abort = false);
kafka::KafkaError timed_out();  // retriable; the outcome of the call is unknown

// One log entry. Offsets are dense: every entry, data record or transaction marker, takes one offset.
struct FakeRecord {
  std::int64_t offset = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int64_t timestamp_ms = 0;
  std::vector<core::Header> headers;
  bool control = false;           // a commit/abort marker: never delivered to a consumer
  std::uint64_t transaction = 0;  // the transaction that wrote it; 0: written outside any transaction
};

enum class TransactionState : std::uint8_t { open, committed, aborted };

struct ScriptedFailure {
  kafka::KafkaError error;
  int count = 1;              // how many matching calls fail
  std::string topic;          // producer.produce / producer.delivery only: records for this topic ("": any)
  bool after_effect = false;  // the call takes effect, then reports the error: an indefinite outcome
};

// A call a client made (FakeCluster::call_log, in order). client: FakeCluster::client_id of the caller.
struct CallRecord {
  std::string call;   // e.g. "producer.commit_transaction"; "producer.delivery" is one delivery report
  int client = 0;
  std::string topic;  // produce and delivery only
  kafka::ErrorCode result = kafka::ErrorCode::none;
  bool scripted = false;  // the failure script decided the result
};

class FakeConsumer;
class FakeProducer;

class FakeCluster {
 public:
  // ---- topics and logs ----
  void create_topic(const std::string& topic, std::int32_t partitions);  // an existing topic is kept as it is
  std::int32_t partition_count(const std::string& topic) const;         // 0: no such topic
  std::vector<kafka::TopicInfo> list_topics() const;
  // All partitions of the existing topics among `topics` (offset_invalid: start from the committed offset).
  std::vector<kafka::TopicPartition> partitions(const std::vector<std::string>& topics) const;
  // A non-transactional append, visible at once; returns its offset.
  std::int64_t produce(const std::string& topic, std::int32_t partition, std::optional<std::string> key,
                       std::optional<std::string> value, std::int64_t timestamp_ms = 0,
                       std::vector<core::Header> headers = {});
  // What a read_committed consumer can see now: all partitions, each in offset order.
  std::vector<FakeRecord> read_committed(const std::string& topic) const;
  // The data records from the low watermark on, whatever their transaction's state (no markers).
  std::vector<FakeRecord> records(const std::string& topic, std::int32_t partition) const;
  std::int64_t end_offset(const std::string& topic, std::int32_t partition) const;    // high watermark
  std::int64_t start_offset(const std::string& topic, std::int32_t partition) const;  // low watermark
  std::int64_t last_stable_offset(const std::string& topic, std::int32_t partition) const;
  // DeleteRecords: the low watermark moves up to `before` (offset_end: the high watermark).
  kafka::KafkaError delete_records(const std::string& topic, std::int32_t partition, std::int64_t before);

  // ---- transactions, broker side ----
  TransactionState transaction_state(std::uint64_t transaction) const;  // ids count from 1 in begin order
  // transaction.timeout.ms passed: the broker aborts the id's open transaction and bumps its epoch, so the
  // producer holding the id is fenced at its next call.
  void expire_transaction(const std::string& transactional_id);
  // Kafka writes a decided transaction's markers partition by partition after commit_transaction (or
  // abort_transaction) has returned. From now on, the markers of transactions that end are held back on this
  // partition (its last stable offset stays below their records, which read_committed readers do not see yet),
  // while the offsets they commit take effect at once; release_markers() writes every held marker.
  void hold_markers(const std::string& topic, std::int32_t partition);
  void release_markers();

  // ---- consumer groups ----
  std::optional<std::int64_t> committed(const std::string& group, const std::string& topic,
                                        std::int32_t partition) const;
  void set_committed(const std::string& group, const std::string& topic, std::int32_t partition,
                     std::int64_t offset);
  std::int32_t generation(const std::string& group) const;
  void bump_generation(const std::string& group);  // every member's GroupMetadata goes stale
  // Rebalance events, delivered at the start of the consumer's next poll(). Eager: an assign to a consumer that
  // still holds partitions revokes them first. The test decides who owns what: assigning a partition to one
  // consumer does not take it from another.
  void assign(const kafka::Consumer& consumer, std::vector<kafka::TopicPartition> partitions);
  void revoke(const kafka::Consumer& consumer);
  // The session expired: on_partitions_lost at the next poll, and the group's generation moves on now, so the
  // zombie's offset commits are refused from now on (so are the other members', until their next assign).
  void lose(const kafka::Consumer& consumer);
  // Automatic mode: a consumer that subscribes gets all partitions of its topics at its next poll.
  void set_auto_assign(bool on) { auto_assign_ = on; }
  // librdkafka 2.0.2's fetcher at its prefetch bound: a consumer delivers at most `records` records after it was
  // last woken (a seek; a pause or resume does not wake it), then nothing until the next one. 0: no limit.
  void set_fetch_stall(std::size_t records) { fetch_stall_records_ = records; }
  // Delivered to every live client's ClientCallbacks::error inside its next poll() (producer: or flush()).
  void client_error(const kafka::KafkaError& error);

  // ---- what a fake client holds ----
  int client_id(const kafka::Consumer& consumer) const;
  int client_id(const kafka::Producer& producer) const;
  // offset: the position (offset_invalid until the first fetch)
  std::vector<kafka::TopicPartition> assignment(const kafka::Consumer& consumer) const;
  bool paused(const kafka::Consumer& consumer, const std::string& topic, std::int32_t partition) const;
  bool fenced(const kafka::Producer& producer) const;

  // ---- failure script ----
  // call: "producer.produce", "producer.delivery", "producer.init_transactions", "producer.begin_transaction",
  // "producer.send_offsets_to_transaction", "producer.commit_transaction", "producer.abort_transaction",
  // "producer.flush", "producer.ping", "consumer.poll", "consumer.commit", "consumer.committed",
  // "consumer.seek", "consumer.end_offsets", "consumer.high_watermarks", "consumer.assignment_offsets" (reading
  // a new assignment's committed offsets; a retriable failure is waited out, see the adapter), "admin.list_topics",
  // "admin.create_topics", "admin.delete_records".
  // An unknown name throws std::invalid_argument. Failures of one call fire in the order they were scripted.
  void fail(const std::string& call, kafka::KafkaError error, int count = 1);
  void fail(const std::string& call, ScriptedFailure failure);
  // The call takes effect, then reports `error` (commit_transaction: committed, but the caller sees a timeout).
  void fail_after_effect(const std::string& call, kafka::KafkaError error, int count = 1);
  std::size_t scripted_failures_left() const;

  // ---- what the clients did ----
  std::size_t calls(std::string_view call) const;
  std::size_t calls(std::string_view call, int client) const;
  const std::vector<CallRecord>& call_log() const { return call_log_; }

 private:
  friend class FakeConsumer;
  friend class FakeProducer;
  friend class FakeAdmin;
  friend class FakeClientFactory;
  using PartitionKey = std::pair<std::string, std::int32_t>;

  struct Partition {
    std::vector<FakeRecord> log;  // log[i].offset == i; entries below start_offset are deleted
    std::int64_t start_offset = 0;
    std::map<std::uint64_t, std::int64_t> open_transactions;  // transaction -> its first offset here
  };
  struct Transaction {
    std::string transactional_id;
    TransactionState state = TransactionState::open;
    std::set<PartitionKey> partitions;  // written to: each gets a marker when the transaction ends
    std::map<std::string, std::map<PartitionKey, std::int64_t>> offsets;  // group -> offsets, applied on commit
  };
  struct TransactionalId {
    std::int32_t epoch = -1;  // of the producer holding the id; an older epoch is fenced
    std::uint64_t open = 0;   // its open transaction, 0: none
  };
  struct Group {
    std::int32_t generation = 1;
    std::map<PartitionKey, std::int64_t> committed;
  };
  enum class EventKind : std::uint8_t { assign, revoke, lose };
  struct RebalanceEvent {
    EventKind kind;
    std::vector<kafka::TopicPartition> partitions;
  };

  Partition* find(const std::string& topic, std::int32_t partition) const;
  Partition& at(const std::string& topic, std::int32_t partition) const;  // throws std::out_of_range
  static std::int64_t stable_offset(const Partition& partition);           // the LSO
  bool visible_committed(const FakeRecord& record) const;                  // below the LSO
  std::int64_t append(const std::string& topic, std::int32_t partition, FakeRecord record);
  void end_transaction(std::uint64_t transaction, TransactionState outcome);
  void write_marker(std::uint64_t transaction, const std::string& topic, std::int32_t partition);
  std::vector<kafka::KafkaError> take_client_errors(int client);

  std::size_t begin_call(std::string call, int client, std::string topic = {});
  kafka::KafkaError end_call(std::size_t call, kafka::KafkaError error);
  std::optional<ScriptedFailure> scripted(std::size_t call);  // the matching failure, if any (uses one up)

  mutable std::map<std::string, std::vector<Partition>> topics_;
  std::map<std::uint64_t, Transaction> transactions_;
  std::set<PartitionKey> held_partitions_;                            // hold_markers()
  std::vector<std::pair<std::uint64_t, PartitionKey>> held_markers_;  // transaction, where; in decision order
  std::map<std::string, TransactionalId> transactional_ids_;
  std::map<std::string, Group> groups_;
  std::map<int, std::deque<RebalanceEvent>> events_;  // consumer id -> events not delivered yet
  std::map<int, std::vector<kafka::KafkaError>> client_errors_;
  // Every client_error(): each admin, whenever created, serves them all after a failed metadata request.
  std::vector<kafka::KafkaError> broadcast_errors_;
  std::vector<std::pair<std::string, ScriptedFailure>> script_;
  std::vector<CallRecord> call_log_;
  std::map<int, FakeConsumer*> consumers_;  // live clients
  std::map<int, FakeProducer*> producers_;
  int last_client_id_ = 0;
  bool auto_assign_ = false;
  std::size_t fetch_stall_records_ = 0;
};

// Builds fake clients on one cluster and remembers every client it built, in creation order.
// Consumer config: "group.id", "isolation.level" (read_committed / read_uncommitted, the default),
// "auto.offset.reset" (earliest, the default here, / latest). Producer config: "transactional.id",
// "queue.buffering.max.messages" (100000), "message.max.bytes" (1000000).
class FakeClientFactory final : public kafka::ClientFactory {
 public:
  explicit FakeClientFactory(FakeCluster& cluster) : cluster_(cluster) {}

  std::unique_ptr<kafka::Consumer> consumer(const kafka::Config& config, kafka::ClientCallbacks callbacks,
                                            kafka::RebalanceListener* listener) override;
  std::unique_ptr<kafka::Producer> producer(const kafka::Config& config, kafka::ClientCallbacks callbacks,
                                            kafka::DeliveryCallback on_delivery) override;
  std::unique_ptr<kafka::Admin> admin(const kafka::Config& config, kafka::ClientCallbacks callbacks) override;

  // The next creation of this kind ("consumer", "producer", "admin"; "": any) throws kafka::ConfigError.
  void fail_next_creation(std::string kind = {}, std::string message = "scripted configuration error");

  std::size_t consumers_created() const { return consumer_ids_.size(); }
  std::size_t producers_created() const { return producer_ids_.size(); }
  std::size_t admins_created() const { return admins_created_; }
  // The index-th client created (0-based); nullptr once destroyed or out of range.
  kafka::Consumer* consumer(std::size_t index) const;
  kafka::Producer* producer(std::size_t index) const;
  kafka::Consumer* last_consumer() const { return consumer(consumer_ids_.size() - 1); }
  kafka::Producer* last_producer() const { return producer(producer_ids_.size() - 1); }
  const std::vector<kafka::Config>& consumer_configs() const { return consumer_configs_; }
  const std::vector<kafka::Config>& producer_configs() const { return producer_configs_; }

 private:
  void maybe_throw(std::string_view kind);

  FakeCluster& cluster_;
  std::vector<int> consumer_ids_;
  std::vector<int> producer_ids_;
  std::vector<kafka::Config> consumer_configs_;
  std::vector<kafka::Config> producer_configs_;
  std::size_t admins_created_ = 0;
  std::optional<std::pair<std::string, std::string>> fail_next_;  // kind, message
};

}  // namespace sluice::testing
