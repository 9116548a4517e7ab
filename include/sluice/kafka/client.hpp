// The runtime's view of Kafka: small interfaces for a consumer, a producer and an admin client, and a factory
// that builds them. The librdkafka implementation lives in src/kafka (sluice/kafka/librdkafka.hpp builds it);
// tests/support/fake_kafka.hpp has an in-memory one that scripts failures at any call. Nothing here names a
// librdkafka type, so the runtime cannot reach around the seam.
//
// Errors: every operation returns a KafkaError classified by what the caller should do (retry, abort the
// transaction, stop, or dead-letter the record that caused it). Creating a client with a bad configuration
// throws ConfigError (start-up only).
//
// Threading: a Consumer and a Producer are each used by one processing thread; callbacks (rebalance, delivery
// reports, logs, errors) run only from inside that thread's poll()/flush()/close() calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/record.hpp"

namespace sluice::kafka {

using Config = std::map<std::string, std::string>;

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Special offsets (Kafka's logical offsets).
inline constexpr std::int64_t offset_beginning = -2;
inline constexpr std::int64_t offset_end = -1;
inline constexpr std::int64_t offset_invalid = -1001;  // none / unknown / use the committed one

// What went wrong, in the terms the runtime acts on. `other` keeps the client's own code in KafkaError::raw.
enum class ErrorCode : std::uint8_t {
  none,
  queue_full,          // producer queue bounded: poll and retry
  timed_out,           // the call's timeout passed; the outcome may be unknown
  transport,           // a broker connection failed
  all_brokers_down,    // no broker reachable
  resolve,             // a bootstrap address does not resolve
  authentication,      // SASL/SSL handshake refused: wrong credentials
  authorization,       // ACLs refuse the principal (topic, group, transactional id, cluster)
  message_too_large,   // the record is larger than the producer or the topic allows
  invalid_record,      // the broker refused the record itself (corrupt, invalid timestamp, ...)
  unknown_topic,       // topic or partition does not exist
  offset_out_of_range,
  fenced,              // another producer with this transactional id took over; this one is a zombie
  invalid_state,       // a transactional call in the wrong state
  partition_eof,
  other,
};
std::string_view to_string(ErrorCode code);

struct KafkaError {
  ErrorCode code = ErrorCode::none;
  std::string message;
  bool retriable = false;
  bool fatal = false;           // the client is unusable (fenced, idempotence broken): stop
  bool requires_abort = false;  // transactional: abort the transaction and continue
  int raw = 0;                  // the client's own error code, for logs

  bool ok() const noexcept { return code == ErrorCode::none; }
  // The record itself can never be written, whatever is retried: dead-letter it and go on.
  bool record_fault() const noexcept { return code == ErrorCode::message_too_large || code == ErrorCode::invalid_record; }
  // A refusal by the cluster that retrying will not cure by itself (credentials, ACLs, missing topics).
  bool refusal() const noexcept {
    return code == ErrorCode::authentication || code == ErrorCode::authorization || code == ErrorCode::unknown_topic;
  }
  // The cluster could not be reached or did not answer in time (an outage, not a refusal).
  bool unreachable() const noexcept {
    return code == ErrorCode::all_brokers_down || code == ErrorCode::resolve || code == ErrorCode::transport ||
           code == ErrorCode::timed_out;
  }
  static KafkaError make(ErrorCode code, std::string message, bool retriable = false) {
    KafkaError error;
    error.code = code;
    error.message = std::move(message);
    error.retriable = retriable;
    return error;
  }
};

// A consumed record or a consumer event carrying an error (check ok()). Move-only; its views are valid while it
// lives. Implementations keep their native message alive in `native` and free it with `release`.
class Message {
 public:
  struct Fields {
    ErrorCode error = ErrorCode::none;
    std::string error_message;  // only for errors
    std::string_view topic;
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    std::int64_t timestamp_ms = -1;
    std::optional<std::string_view> key;
    std::optional<std::string_view> value;
  };
  struct Native {
    void* handle = nullptr;
    void (*release)(void* handle) = nullptr;
    std::vector<core::Header> (*headers)(void* handle) = nullptr;
  };

  Message() = default;
  Message(Fields fields, Native native) : fields_(std::move(fields)), native_(native) {}
  ~Message() { reset(); }
  Message(Message&& other) noexcept : fields_(std::move(other.fields_)), native_(other.native_) { other.native_ = {}; }
  Message& operator=(Message&& other) noexcept {
    if (this != &other) {
      reset();
      fields_ = std::move(other.fields_);
      native_ = other.native_;
      other.native_ = {};
    }
    return *this;
  }
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  explicit operator bool() const noexcept { return native_.handle != nullptr; }
  bool ok() const noexcept { return fields_.error == ErrorCode::none; }
  ErrorCode error() const noexcept { return fields_.error; }
  const std::string& error_message() const noexcept { return fields_.error_message; }
  std::string_view topic() const noexcept { return fields_.topic; }
  std::int32_t partition() const noexcept { return fields_.partition; }
  std::int64_t offset() const noexcept { return fields_.offset; }
  std::int64_t timestamp_ms() const noexcept { return fields_.timestamp_ms; }
  bool has_key() const noexcept { return fields_.key.has_value(); }
  std::string_view key() const noexcept { return fields_.key.value_or(std::string_view()); }
  bool has_value() const noexcept { return fields_.value.has_value(); }
  std::string_view value() const noexcept { return fields_.value.value_or(std::string_view()); }
  std::vector<core::Header> headers() const {
    return native_.headers != nullptr ? native_.headers(native_.handle) : std::vector<core::Header>{};
  }

 private:
  void reset() noexcept {
    if (native_.handle != nullptr && native_.release != nullptr) native_.release(native_.handle);
    native_ = {};
  }
  Fields fields_;
  Native native_;
};

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = offset_invalid;
  auto operator<=>(const TopicPartition&) const = default;
};

// Log lines and client-level errors from a client (e.g. "all brokers down", "authentication failed").
struct ClientCallbacks {
  // level: syslog levels (0-3 error, 4 warning, 5-6 info, 7 debug)
  std::function<void(int level, std::string_view facility, std::string_view message)> log;
  std::function<void(const KafkaError& error)> error;
};

// Eager (stop-the-world) rebalance: all partitions are revoked, then the new assignment is given. The
// assignment is already in place when on_partitions_assigned runs, so the listener may pause partitions.
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  virtual void on_partitions_revoked(const std::vector<TopicPartition>& partitions) = 0;
  virtual void on_partitions_assigned(const std::vector<TopicPartition>& partitions) = 0;
  // The assignment was lost (session timed out, fenced): do not commit anything for it.
  virtual void on_partitions_lost(const std::vector<TopicPartition>& partitions) = 0;
  // A new assignment starts at its committed offsets, and reading them can take a while: while an open
  // transaction (a crashed previous owner's, until the broker aborts it) holds a partition's offset commit, the
  // group coordinator answers UNSTABLE_OFFSET_COMMIT. Called on the polling thread between attempts, with what
  // held them up; return false to stop waiting (shutdown). The partitions start only once their offsets are read.
  virtual bool on_assignment_delayed(const KafkaError& /*error*/) { return true; }
  // Waiting ended without the offsets (stopped, or longer than half of max.poll.interval.ms, or a refusal):
  // nothing of this assignment was started.
  virtual void on_assignment_failed(const std::vector<TopicPartition>& /*partitions*/, const KafkaError& /*error*/) {}
};

// The group's generation and member id, for committing offsets inside a transaction (KIP-447): a zombie with
// a stale generation cannot commit. Opaque: only the producer of the same implementation reads it.
class GroupMetadata {
 public:
  virtual ~GroupMetadata() = default;
};

class Consumer {
 public:
  virtual ~Consumer() = default;
  virtual KafkaError subscribe(const std::vector<std::string>& topics) = 0;
  // A message, an error event (check ok()), or an empty Message on timeout. Rebalance callbacks run inside.
  virtual Message poll(std::chrono::milliseconds timeout) = 0;
  // Synchronous commit of the given next-offsets to the group.
  virtual KafkaError commit(const std::vector<TopicPartition>& offsets) = 0;
  // Committed offsets of the group for `partitions` (offset < 0: none committed).
  virtual KafkaError committed(std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) = 0;
  // timeout 0: starts the seek and returns at once (errors then show at the next poll, if at all).
  virtual KafkaError seek(const TopicPartition& position, std::chrono::milliseconds timeout) = 0;
  // Manual assignment (no group): reads exactly these partitions from the given offsets.
  virtual KafkaError assign(const std::vector<TopicPartition>& partitions) = 0;
  virtual KafkaError pause(const std::vector<TopicPartition>& partitions) = 0;
  virtual KafkaError resume(const std::vector<TopicPartition>& partitions) = 0;
  // End offsets of several partitions, asked of the brokers in as few requests as the client can: the high
  // watermark, or under read_committed the last stable offset (below the first undecided transaction).
  virtual KafkaError end_offsets(std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) = 0;
  // High watermarks of several partitions whatever this consumer's isolation level: one past the last entry,
  // records of transactions not yet decided (or decided, with markers not yet written) included.
  virtual KafkaError high_watermarks(std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) = 0;
  // Low and high watermarks of one partition, asked of the broker. The default asks end_offsets for the high
  // one and reports 0 as the low one (implementations that know better override it).
  virtual KafkaError query_watermarks(const std::string& topic, std::int32_t partition, std::int64_t& low,
                                      std::int64_t& high, std::chrono::milliseconds timeout) {
    std::vector<TopicPartition> partitions{{topic, partition, offset_end}};
    KafkaError error = end_offsets(partitions, timeout);
    if (error.ok()) {
      low = 0;
      high = partitions.front().offset;
    }
    return error;
  }
  // High watermark from the last fetch response (no broker round trip); nullopt if not known yet.
  virtual std::optional<std::int64_t> cached_high_watermark(const std::string& topic, std::int32_t partition) const = 0;
  virtual std::optional<std::int64_t> position(const std::string& topic, std::int32_t partition) const = 0;
  virtual std::unique_ptr<GroupMetadata> group_metadata() const = 0;
  // Leaves the group (triggering a final revoke through the listener) and closes; idempotent.
  virtual void close() = 0;
};

// Delivery outcome of one produced record.
struct DeliveryReport {
  std::string_view topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  void* opaque = nullptr;  // what produce() was given
};
using DeliveryCallback = std::function<void(const KafkaError& error, const DeliveryReport& report)>;

class Producer {
 public:
  virtual ~Producer() = default;
  // Enqueues a record (bytes are copied). ErrorCode::queue_full means: poll and retry. A record-fault error
  // (message_too_large) means this record can never be written. partition -1: the partitioner decides.
  virtual KafkaError produce(std::string_view topic, std::optional<std::string_view> key,
                             std::optional<std::string_view> value, std::int64_t timestamp_ms,
                             const std::vector<core::Header>* headers, std::int32_t partition = -1,
                             void* opaque = nullptr) = 0;
  // Serves delivery reports; returns the number of events served.
  virtual int poll(std::chrono::milliseconds timeout) = 0;
  // Waits until every enqueued record is acknowledged or failed.
  virtual KafkaError flush(std::chrono::milliseconds timeout) = 0;
  virtual int queue_length() const = 0;
  // Asks the cluster for metadata: ok when a broker answers.
  virtual KafkaError ping(std::chrono::milliseconds timeout) = 0;

  // Transactions (the producer must have been created with a transactional.id). init_transactions fences any
  // earlier producer with the same id and aborts its open transaction.
  virtual KafkaError init_transactions(std::chrono::milliseconds timeout) = 0;
  virtual KafkaError begin_transaction() = 0;
  virtual KafkaError send_offsets_to_transaction(const std::vector<TopicPartition>& offsets,
                                                 const GroupMetadata& group, std::chrono::milliseconds timeout) = 0;
  virtual KafkaError commit_transaction(std::chrono::milliseconds timeout) = 0;
  virtual KafkaError abort_transaction(std::chrono::milliseconds timeout) = 0;
};

struct TopicInfo {
  std::string name;
  std::int32_t partitions = 0;
};

struct NewTopic {
  std::string name;
  std::int32_t partitions = 1;
  std::int32_t replication_factor = -1;  // broker default
  std::map<std::string, std::string> configs;
};

class Admin {
 public:
  virtual ~Admin() = default;
  // All topics and their partition counts; an error if the cluster does not answer within `timeout`.
  virtual KafkaError list_topics(std::vector<TopicInfo>& topics, std::chrono::milliseconds timeout) = 0;
  // Creates topics; a topic that already exists is not an error.
  virtual KafkaError create_topics(const std::vector<NewTopic>& topics, std::chrono::milliseconds timeout) = 0;
  // Deletes the records below each given offset (DeleteRecords), e.g. repartition records every reader has
  // committed.
  virtual KafkaError delete_records(const std::vector<TopicPartition>& before, std::chrono::milliseconds timeout) = 0;
  // Deletes topics (`sluice test --bootstrap` removes the topics of a case); a topic that does not exist is not
  // an error. Clients that cannot say so.
  virtual KafkaError delete_topics(const std::vector<std::string>& topics, std::chrono::milliseconds /*timeout*/) {
    return topics.empty() ? KafkaError{} : KafkaError::make(ErrorCode::other, "deleting topics is not supported");
  }
};

// Builds clients. The production factory (librdkafka) is made once in app and handed to the runtime, which
// also uses it to replace a producer whose transaction ended in an unknown state.
class ClientFactory {
 public:
  virtual ~ClientFactory() = default;
  virtual std::unique_ptr<Consumer> consumer(const Config& config, ClientCallbacks callbacks,
                                             RebalanceListener* listener) = 0;
  virtual std::unique_ptr<Producer> producer(const Config& config, ClientCallbacks callbacks,
                                             DeliveryCallback on_delivery) = 0;
  virtual std::unique_ptr<Admin> admin(const Config& config, ClientCallbacks callbacks) = 0;
};

}  // namespace sluice::kafka
