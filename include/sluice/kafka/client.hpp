// RAII wrappers over librdkafka's C API: handles and messages are owned by unique_ptrs from the moment they
// exist; destructors never throw. Creating a client with a bad configuration throws ConfigError (start-up
// only); per-operation failures come back as KafkaError values.
//
// Threading: a Consumer and a Producer are each used by one processing thread; librdkafka's own threads call
// the callbacks registered here only from inside poll()/flush() on that thread (rebalance, delivery reports,
// logs and errors are routed to the polling thread's queue).
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
#include <unordered_map>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "sluice/core/record.hpp"

namespace sluice::kafka {

using Config = std::map<std::string, std::string>;

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A librdkafka error with its classification (what the runtime should do about it).
struct KafkaError {
  rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string message;
  bool retriable = false;
  bool fatal = false;
  bool requires_abort = false;  // transactional: abort the transaction and continue

  bool ok() const noexcept { return code == RD_KAFKA_RESP_ERR_NO_ERROR; }
  static KafkaError from_code(rd_kafka_resp_err_t code);
  static KafkaError from_error(rd_kafka_error_t* error);  // takes ownership and destroys it
};

struct HandleDeleter {
  void operator()(rd_kafka_t* handle) const noexcept { rd_kafka_destroy(handle); }
};
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;

struct MessageDeleter {
  void operator()(rd_kafka_message_t* message) const noexcept { rd_kafka_message_destroy(message); }
};

// A consumed message (or a consumer event carrying an error). Move-only.
class Message {
 public:
  Message() = default;
  explicit Message(rd_kafka_message_t* message) : message_(message) {}
  explicit operator bool() const noexcept { return message_ != nullptr; }
  rd_kafka_resp_err_t error() const noexcept { return message_->err; }
  std::string error_message() const;
  std::string_view topic() const noexcept;
  std::int32_t partition() const noexcept { return message_->partition; }
  std::int64_t offset() const noexcept { return message_->offset; }
  std::int64_t timestamp_ms() const noexcept;
  bool has_key() const noexcept { return message_->key != nullptr; }
  std::string_view key() const noexcept;
  bool has_value() const noexcept { return message_->payload != nullptr; }
  std::string_view value() const noexcept;
  std::vector<core::Header> headers() const;

 private:
  std::unique_ptr<rd_kafka_message_t, MessageDeleter> message_;
};

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = RD_KAFKA_OFFSET_INVALID;
  auto operator<=>(const TopicPartition&) const = default;
};

// Log lines and client-level errors from librdkafka go here (e.g. "all brokers down").
struct ClientCallbacks {
  std::function<void(int level, std::string_view facility, std::string_view message)> log;
  std::function<void(const KafkaError& error)> error;
};

namespace detail {
// Every client is the opaque of its librdkafka handle; the static callbacks cast back to it.
class CallbackOwner {
 public:
  explicit CallbackOwner(ClientCallbacks callbacks) : callbacks_(std::move(callbacks)) {}
  virtual ~CallbackOwner() = default;
  const ClientCallbacks& callbacks() const noexcept { return callbacks_; }

 private:
  ClientCallbacks callbacks_;
};
// Builds a conf with `owner` as opaque and the log and error callbacks set; throws ConfigError.
rd_kafka_conf_t* make_client_conf(const Config& config, CallbackOwner* owner);
}  // namespace detail

// Eager (stop-the-world) rebalance: all partitions are revoked, then the new assignment is given. The
// assignment is already in place when on_partitions_assigned runs, so the listener may pause partitions.
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  virtual void on_partitions_revoked(const std::vector<TopicPartition>& partitions) = 0;
  virtual void on_partitions_assigned(const std::vector<TopicPartition>& partitions) = 0;
  // The assignment was lost (session timed out, fenced): do not commit anything for it.
  virtual void on_partitions_lost(const std::vector<TopicPartition>& partitions) = 0;
};

class Consumer : private detail::CallbackOwner {
 public:
  // `config` is passed to librdkafka as is. Throws ConfigError if librdkafka rejects a property.
  Consumer(const Config& config, ClientCallbacks callbacks, RebalanceListener* listener);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  KafkaError subscribe(const std::vector<std::string>& topics);
  // A message, an error event (check error()), or an empty Message on timeout.
  Message poll(std::chrono::milliseconds timeout);
  // Synchronous commit of the given next-offsets to the group.
  KafkaError commit(const std::vector<TopicPartition>& offsets);
  // Committed offsets of the group for `partitions` (offset < 0: none committed).
  KafkaError committed(std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout);
  KafkaError seek(const TopicPartition& position, std::chrono::milliseconds timeout);
  // Manual assignment (no group): reads exactly these partitions from the given offsets.
  KafkaError assign(const std::vector<TopicPartition>& partitions);
  KafkaError pause(const std::vector<TopicPartition>& partitions);
  KafkaError resume(const std::vector<TopicPartition>& partitions);
  // Low and high watermarks, asked of the broker.
  KafkaError query_watermarks(const std::string& topic, std::int32_t partition, std::int64_t& low, std::int64_t& high,
                              std::chrono::milliseconds timeout);
  std::vector<TopicPartition> assignment() const;
  // High watermark from the last fetch response (no broker round trip); nullopt if not known yet.
  std::optional<std::int64_t> cached_high_watermark(const std::string& topic, std::int32_t partition) const;
  std::optional<std::int64_t> position(const std::string& topic, std::int32_t partition) const;
  // The group's generation and member id, for committing offsets inside a transaction (KIP-447): a zombie
  // with a stale generation cannot commit.
  struct GroupMetadataDeleter {
    void operator()(rd_kafka_consumer_group_metadata_t* metadata) const noexcept {
      rd_kafka_consumer_group_metadata_destroy(metadata);
    }
  };
  std::unique_ptr<rd_kafka_consumer_group_metadata_t, GroupMetadataDeleter> group_metadata() const;
  // Leaves the group (triggering a final revoke) and closes; idempotent.
  void close();
  rd_kafka_t* handle() const noexcept { return handle_.get(); }

 private:
  static void rebalance_trampoline(rd_kafka_t* handle, rd_kafka_resp_err_t error,
                                   rd_kafka_topic_partition_list_t* partitions, void* opaque);
  RebalanceListener* listener_;
  HandlePtr handle_;
  bool closed_ = false;
};

// Delivery outcome of one produced record.
struct DeliveryReport {
  std::string_view topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  void* opaque = nullptr;  // what produce() was given
};
using DeliveryCallback = std::function<void(const KafkaError& error, const DeliveryReport& report)>;

class Producer : private detail::CallbackOwner {
 public:
  Producer(const Config& config, ClientCallbacks callbacks, DeliveryCallback on_delivery);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues a record (bytes are copied). RD_KAFKA_RESP_ERR__QUEUE_FULL means: poll and retry.
  // partition -1: the partitioner decides from the key.
  KafkaError produce(std::string_view topic, std::optional<std::string_view> key,
                     std::optional<std::string_view> value, std::int64_t timestamp_ms,
                     const std::vector<core::Header>* headers, std::int32_t partition = -1, void* opaque = nullptr);
  // Serves delivery reports; returns the number of events served.
  int poll(std::chrono::milliseconds timeout);
  // Waits until every enqueued record is acknowledged or failed.
  KafkaError flush(std::chrono::milliseconds timeout);
  int queue_length() const noexcept { return rd_kafka_outq_len(handle_.get()); }

  // Transactions (the producer must have been created with transactional.id). init_transactions fences any
  // earlier producer with the same id and aborts its open transaction.
  KafkaError init_transactions(std::chrono::milliseconds timeout);
  KafkaError begin_transaction();
  KafkaError send_offsets_to_transaction(const std::vector<TopicPartition>& offsets, const Consumer& consumer,
                                         std::chrono::milliseconds timeout);
  KafkaError commit_transaction(std::chrono::milliseconds timeout);
  KafkaError abort_transaction(std::chrono::milliseconds timeout);
  rd_kafka_t* handle() const noexcept { return handle_.get(); }

 private:
  static void delivery_trampoline(rd_kafka_t* handle, const rd_kafka_message_t* message, void* opaque);
  // Topic handle for `topic`, created on first use: producing by handle spares librdkafka a topic lookup (a
  // lock and string compares) per record, and the runtime a string copy.
  rd_kafka_topic_t* topic_handle(std::string_view topic);
  struct TopicHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const noexcept { return std::hash<std::string_view>{}(name); }
  };
  DeliveryCallback on_delivery_;
  HandlePtr handle_;
  std::unordered_map<std::string, rd_kafka_topic_t*, TopicHash, std::equal_to<>> topics_;
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

// Cluster metadata and topic creation (used at start-up).
class Admin : private detail::CallbackOwner {
 public:
  Admin(const Config& config, ClientCallbacks callbacks);
  ~Admin();
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // All topics and their partition counts; an error if the cluster does not answer within `timeout`.
  KafkaError list_topics(std::vector<TopicInfo>& topics, std::chrono::milliseconds timeout);
  // Creates topics; a topic that already exists is not an error.
  KafkaError create_topics(const std::vector<NewTopic>& topics, std::chrono::milliseconds timeout);

 private:
  HandlePtr handle_;
};

// Sets every property on a new rd_kafka_conf_t; throws ConfigError naming the property on failure.
// Property values whose names look secret are never included in the error text.
rd_kafka_conf_t* make_conf(const Config& config);

}  // namespace sluice::kafka
