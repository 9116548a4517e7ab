// librdkafka 2.0.2 behind the client interfaces. Handles and messages are owned by unique_ptrs from the moment
// they exist; destructors never throw. The C API is used rather than the C++ one for headers,
// rd_kafka_seek_partitions and the admin calls. Every client is the opaque of its librdkafka handle; the
// static trampolines cast back to it and run only inside poll/flush/close on the owning thread.
#include "sluice/kafka/librdkafka.hpp"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstring>
#include <unordered_map>

namespace sluice::kafka {

namespace {

bool looks_secret(std::string_view name) {
  for (std::string_view marker : {"password", "secret", "sasl.jaas.config", "sasl.oauthbearer.config", "ssl.key.pem",
                                  "ssl_key", "ssl.keystore", "token", "credential", "private"}) {
    if (name.find(marker) != std::string_view::npos) return true;
  }
  return false;
}

ErrorCode classify(rd_kafka_resp_err_t code) {
  switch (code) {
    case RD_KAFKA_RESP_ERR_NO_ERROR: return ErrorCode::none;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL: return ErrorCode::queue_full;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT: return ErrorCode::timed_out;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION: return ErrorCode::transport;
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN: return ErrorCode::all_brokers_down;
    case RD_KAFKA_RESP_ERR__RESOLVE: return ErrorCode::resolve;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM: return ErrorCode::authentication;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED: return ErrorCode::authorization;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE: return ErrorCode::message_too_large;
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP: return ErrorCode::invalid_record;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART: return ErrorCode::unknown_topic;
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET: return ErrorCode::offset_out_of_range;
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH: return ErrorCode::fenced;
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR_INVALID_TXN_STATE: return ErrorCode::invalid_state;
    case RD_KAFKA_RESP_ERR__PARTITION_EOF: return ErrorCode::partition_eof;
    default: return ErrorCode::other;
  }
}

KafkaError from_code(rd_kafka_resp_err_t code) {
  KafkaError error;
  error.code = classify(code);
  error.raw = static_cast<int>(code);
  if (code == RD_KAFKA_RESP_ERR_NO_ERROR) return error;
  error.message = rd_kafka_err2str(code);
  switch (code) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
      error.retriable = true;
      break;
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
      error.fatal = true;
      break;
    default: break;
  }
  return error;
}

// Takes ownership of `raw` and destroys it.
KafkaError from_error(rd_kafka_t* handle, rd_kafka_error_t* raw) {
  KafkaError error;
  if (raw == nullptr) return error;
  rd_kafka_resp_err_t code = rd_kafka_error_code(raw);
  error.message = rd_kafka_error_string(raw);
  error.retriable = rd_kafka_error_is_retriable(raw) != 0;
  error.fatal = rd_kafka_error_is_fatal(raw) != 0;
  error.requires_abort = rd_kafka_error_txn_requires_abort(raw) != 0;
  rd_kafka_error_destroy(raw);
  if (code == RD_KAFKA_RESP_ERR__FATAL && handle != nullptr) {
    char reason[512];
    code = rd_kafka_fatal_error(handle, reason, sizeof reason);  // the underlying cause, e.g. PRODUCER_FENCED
  }
  error.code = classify(code);
  if (error.code == ErrorCode::none) error.code = ErrorCode::other;
  error.raw = static_cast<int>(code);
  return error;
}

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const noexcept { rd_kafka_topic_partition_list_destroy(list); }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

struct HandleDeleter {
  void operator()(rd_kafka_t* handle) const noexcept { rd_kafka_destroy(handle); }
};
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;

ListPtr to_list(const std::vector<TopicPartition>& partitions) {
  ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const auto& partition : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), partition.topic.c_str(), partition.partition)->offset = partition.offset;
  }
  return list;
}

std::vector<TopicPartition> from_list(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> partitions;
  if (list == nullptr) return partitions;
  partitions.reserve(static_cast<std::size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    partitions.push_back(TopicPartition{list->elems[i].topic, list->elems[i].partition, list->elems[i].offset});
  }
  return partitions;
}

// First per-partition error of a list operation, if any.
KafkaError first_partition_error(const rd_kafka_topic_partition_list_t* list) {
  for (int i = 0; i < list->cnt; ++i) {
    if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      KafkaError error = from_code(list->elems[i].err);
      error.message = std::string(list->elems[i].topic) + "[" + std::to_string(list->elems[i].partition) + "]: " +
                      error.message;
      return error;
    }
  }
  return {};
}

// Owns a client's callbacks; the handle's opaque points here.
class CallbackOwner {
 public:
  explicit CallbackOwner(ClientCallbacks callbacks) : callbacks_(std::move(callbacks)) {}
  virtual ~CallbackOwner() = default;
  const ClientCallbacks& callbacks() const noexcept { return callbacks_; }

 private:
  ClientCallbacks callbacks_;
};

void log_trampoline(const rd_kafka_t* handle, int level, const char* facility, const char* message) {
  auto* owner = static_cast<CallbackOwner*>(rd_kafka_opaque(handle));
  if (owner != nullptr && owner->callbacks().log) owner->callbacks().log(level, facility, message);
}

void error_trampoline(rd_kafka_t*, int code, const char* reason, void* opaque) {
  auto* owner = static_cast<CallbackOwner*>(opaque);
  if (owner == nullptr || !owner->callbacks().error) return;
  KafkaError error = from_code(static_cast<rd_kafka_resp_err_t>(code));
  error.message = reason;
  owner->callbacks().error(error);
}

rd_kafka_conf_t* make_conf(const Config& config) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char reason[512];
  for (const auto& [name, value] : config) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), reason, sizeof reason) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      std::string shown = looks_secret(name) ? "(secret)" : "\"" + value + "\"";
      throw ConfigError("kafka." + name + " = " + shown + ": " + reason);
    }
  }
  return conf;
}

rd_kafka_conf_t* make_client_conf(const Config& config, CallbackOwner* owner) {
  rd_kafka_conf_t* conf = make_conf(config);
  rd_kafka_conf_set_opaque(conf, owner);
  rd_kafka_conf_set_log_cb(conf, log_trampoline);
  rd_kafka_conf_set_error_cb(conf, error_trampoline);
  return conf;
}

HandlePtr new_handle(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char reason[512];
  rd_kafka_t* handle = rd_kafka_new(type, conf, reason, sizeof reason);
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new takes ownership only on success
    throw ConfigError(std::string("cannot create Kafka client: ") + reason);
  }
  return HandlePtr(handle);
}

std::vector<core::Header> message_headers(void* native) {
  std::vector<core::Header> result;
  rd_kafka_headers_t* headers = nullptr;
  auto* message = static_cast<rd_kafka_message_t*>(native);
  if (rd_kafka_message_headers(message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return result;
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    // librdkafka gives a null value as a null pointer; an empty value has a pointer and size 0.
    result.push_back(core::Header{name, value != nullptr ? std::optional<std::string>(std::in_place,
                                                                                       static_cast<const char*>(value), size)
                                                         : std::nullopt});
  }
  return result;
}

Message wrap(rd_kafka_message_t* raw) {
  if (raw == nullptr) return Message();
  Message::Fields fields;
  fields.error = classify(raw->err);
  if (raw->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fields.error_message = raw->payload != nullptr ? std::string(static_cast<const char*>(raw->payload), raw->len)
                                                    : std::string(rd_kafka_err2str(raw->err));
  }
  if (raw->rkt != nullptr) fields.topic = rd_kafka_topic_name(raw->rkt);
  fields.partition = raw->partition;
  fields.offset = raw->offset;
  rd_kafka_timestamp_type_t type;
  fields.timestamp_ms = rd_kafka_message_timestamp(raw, &type);
  if (raw->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (raw->key != nullptr) fields.key = std::string_view(static_cast<const char*>(raw->key), raw->key_len);
    if (raw->payload != nullptr) fields.value = std::string_view(static_cast<const char*>(raw->payload), raw->len);
  }
  Message::Native native;
  native.handle = raw;
  native.release = [](void* handle) { rd_kafka_message_destroy(static_cast<rd_kafka_message_t*>(handle)); };
  native.headers = message_headers;
  return Message(std::move(fields), native);
}

class LibrdkafkaGroupMetadata final : public GroupMetadata {
 public:
  explicit LibrdkafkaGroupMetadata(rd_kafka_consumer_group_metadata_t* metadata) : metadata_(metadata) {}
  ~LibrdkafkaGroupMetadata() override {
    if (metadata_ != nullptr) rd_kafka_consumer_group_metadata_destroy(metadata_);
  }
  LibrdkafkaGroupMetadata(const LibrdkafkaGroupMetadata&) = delete;
  LibrdkafkaGroupMetadata& operator=(const LibrdkafkaGroupMetadata&) = delete;
  rd_kafka_consumer_group_metadata_t* get() const noexcept { return metadata_; }

 private:
  rd_kafka_consumer_group_metadata_t* metadata_;
};

// ---- Consumer ----

class LibrdkafkaConsumer final : public Consumer, private CallbackOwner {
 public:
  LibrdkafkaConsumer(const Config& config, ClientCallbacks callbacks, RebalanceListener* listener)
      : CallbackOwner(std::move(callbacks)), listener_(listener), config_(config) {
    rd_kafka_conf_t* conf = make_client_conf(config, this);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_trampoline);
    handle_ = new_handle(RD_KAFKA_CONSUMER, conf);
    // Serve client events (errors, logs) from consumer polls, on the processing thread.
    rd_kafka_poll_set_consumer(handle_.get());
  }
  ~LibrdkafkaConsumer() override { close(); }

  KafkaError subscribe(const std::vector<std::string>& topics) override {
    ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
    for (const auto& topic : topics) rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
    return from_code(rd_kafka_subscribe(handle_.get(), list.get()));
  }

  Message poll(std::chrono::milliseconds timeout) override {
    return wrap(rd_kafka_consumer_poll(handle_.get(), static_cast<int>(timeout.count())));
  }

  KafkaError commit(const std::vector<TopicPartition>& offsets) override {
    if (offsets.empty()) return {};
    ListPtr list = to_list(offsets);
    KafkaError error = from_code(rd_kafka_commit(handle_.get(), list.get(), 0));
    if (!error.ok()) return error;
    return first_partition_error(list.get());
  }

  KafkaError committed(std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) override {
    ListPtr list = to_list(partitions);
    KafkaError error = from_code(rd_kafka_committed(handle_.get(), list.get(), static_cast<int>(timeout.count())));
    if (!error.ok()) return error;
    partitions = from_list(list.get());
    return first_partition_error(list.get());
  }

  KafkaError seek(const TopicPartition& position, std::chrono::milliseconds timeout) override {
    ListPtr list = to_list({position});
    rd_kafka_error_t* error = rd_kafka_seek_partitions(handle_.get(), list.get(), static_cast<int>(timeout.count()));
    if (error != nullptr) return from_error(handle_.get(), error);
    // Without a timeout the seek is only started: librdkafka marks the partition "in progress".
    if (timeout.count() == 0 && list->cnt == 1 && list->elems[0].err == RD_KAFKA_RESP_ERR__IN_PROGRESS) return {};
    return first_partition_error(list.get());
  }

  KafkaError assign(const std::vector<TopicPartition>& partitions) override {
    ListPtr list = to_list(partitions);
    return from_code(rd_kafka_assign(handle_.get(), partitions.empty() ? nullptr : list.get()));
  }

  KafkaError pause(const std::vector<TopicPartition>& partitions) override {
    if (partitions.empty()) return {};
    ListPtr list = to_list(partitions);
    KafkaError error = from_code(rd_kafka_pause_partitions(handle_.get(), list.get()));
    return error.ok() ? first_partition_error(list.get()) : error;
  }

  KafkaError resume(const std::vector<TopicPartition>& partitions) override {
    if (partitions.empty()) return {};
    ListPtr list = to_list(partitions);
    KafkaError error = from_code(rd_kafka_resume_partitions(handle_.get(), list.get()));
    return error.ok() ? first_partition_error(list.get()) : error;
  }

  KafkaError end_offsets(std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) override {
    if (partitions.empty()) return {};
    // ListOffsets with the "latest" timestamp for every partition at once (one request per leader), instead of
    // one watermark query per partition. Under read_committed it answers the last stable offset.
    ListPtr list = to_list(partitions);
    for (int i = 0; i < list->cnt; ++i) list->elems[i].offset = RD_KAFKA_OFFSET_END;
    KafkaError error = from_code(rd_kafka_offsets_for_times(handle_.get(), list.get(), static_cast<int>(timeout.count())));
    if (!error.ok()) return error;
    error = first_partition_error(list.get());
    if (!error.ok()) return error;
    partitions = from_list(list.get());
    return {};
  }

  KafkaError high_watermarks(std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) override {
    if (partitions.empty()) return {};
    // ListOffsets answers by the isolation level of the client that asks, and librdkafka 2.0.2 has no admin
    // ListOffsets: a read_uncommitted handle of our own (no group, never fetches) asks, made on first use.
    if (!watermarks_) {
      Config config = config_;
      config.erase("group.id");
      config.erase("group.instance.id");
      config["isolation.level"] = "read_uncommitted";
      if (auto id = config.find("client.id"); id != config.end()) id->second += "-watermarks";
      watermarks_ = new_handle(RD_KAFKA_CONSUMER, make_client_conf(config, this));
    }
    ListPtr list = to_list(partitions);
    for (int i = 0; i < list->cnt; ++i) list->elems[i].offset = RD_KAFKA_OFFSET_END;
    KafkaError error =
        from_code(rd_kafka_offsets_for_times(watermarks_.get(), list.get(), static_cast<int>(timeout.count())));
    rd_kafka_poll(watermarks_.get(), 0);  // its error and log events, on this thread
    if (!error.ok()) return error;
    error = first_partition_error(list.get());
    if (!error.ok()) return error;
    partitions = from_list(list.get());
    return {};
  }

  KafkaError query_watermarks(const std::string& topic, std::int32_t partition, std::int64_t& low, std::int64_t& high,
                              std::chrono::milliseconds timeout) override {
    return from_code(rd_kafka_query_watermark_offsets(handle_.get(), topic.c_str(), partition, &low, &high,
                                                      static_cast<int>(timeout.count())));
  }

  std::optional<std::int64_t> cached_high_watermark(const std::string& topic, std::int32_t partition) const override {
    std::int64_t low = 0, high = 0;
    if (rd_kafka_get_watermark_offsets(handle_.get(), topic.c_str(), partition, &low, &high) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0) {
      return std::nullopt;
    }
    return high;
  }

  std::optional<std::int64_t> position(const std::string& topic, std::int32_t partition) const override {
    ListPtr list = to_list({TopicPartition{topic, partition, RD_KAFKA_OFFSET_INVALID}});
    if (rd_kafka_position(handle_.get(), list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR || list->elems[0].offset < 0) {
      return std::nullopt;
    }
    return list->elems[0].offset;
  }

  std::unique_ptr<GroupMetadata> group_metadata() const override {
    return std::make_unique<LibrdkafkaGroupMetadata>(rd_kafka_consumer_group_metadata(handle_.get()));
  }

  void close() override {
    if (closed_ || !handle_) return;
    closed_ = true;
    rd_kafka_consumer_close(handle_.get());
  }

 private:
  static void rebalance_trampoline(rd_kafka_t* handle, rd_kafka_resp_err_t error,
                                   rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* consumer = static_cast<LibrdkafkaConsumer*>(static_cast<CallbackOwner*>(opaque));
    std::vector<TopicPartition> list = from_list(partitions);
    if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      if (consumer->assign_at_committed(handle, partitions, list) && consumer->listener_ != nullptr) {
        consumer->listener_->on_partitions_assigned(list);
      }
    } else {
      if (consumer->listener_ != nullptr) {
        if (rd_kafka_assignment_lost(handle)) {
          consumer->listener_->on_partitions_lost(list);
        } else {
          consumer->listener_->on_partitions_revoked(list);
        }
      }
      rd_kafka_assign(handle, nullptr);
    }
  }

  // librdkafka 2.0.2 reads the committed offsets of a new assignment itself and gets one case wrong: while a
  // transaction holds a partition's offset commit (UNSTABLE_OFFSET_COMMIT, KIP-447: a crashed previous owner's
  // transaction, until the broker aborts it) it repeats the query, and if the assignment changes meanwhile, the
  // earlier query's answer puts the partition back with no offset, so it starts at auto.offset.reset
  // (rd_kafka_assignment_apply_offsets): everything committed before is processed again. A kill -9 in a
  // scale-out repeated 10,000 records that way. So the offsets are read here, retried until no transaction holds
  // them, and the partitions are assigned at absolute offsets, which librdkafka starts without asking again.
  bool assign_at_committed(rd_kafka_t* handle, const rd_kafka_topic_partition_list_t* partitions,
                           const std::vector<TopicPartition>& list) {
    ListPtr offsets(rd_kafka_topic_partition_list_copy(partitions));
    const auto deadline = std::chrono::steady_clock::now() + max_poll_interval() / 2;
    KafkaError error;
    for (;;) {
      error = from_code(rd_kafka_committed(handle, offsets.get(), 1000));
      if (error.ok()) error = first_partition_error(offsets.get());
      if (error.ok()) break;
      // Under a deadline well inside max.poll.interval.ms: this runs inside poll, and the group would evict a
      // member that does not come back from it.
      const bool wait = (error.retriable || error.unreachable()) && std::chrono::steady_clock::now() < deadline;
      if (!wait || (listener_ != nullptr && !listener_->on_assignment_delayed(error))) {
        rd_kafka_assign(handle, nullptr);
        if (listener_ != nullptr) listener_->on_assignment_failed(list, error);
        return false;
      }
    }
    // No committed offset: where auto.offset.reset says (an INVALID offset would make librdkafka ask again).
    for (int i = 0; i < offsets->cnt; ++i) {
      if (offsets->elems[i].offset < 0) offsets->elems[i].offset = reset_offset();
    }
    rd_kafka_assign(handle, offsets.get());
    return true;
  }

  std::chrono::milliseconds max_poll_interval() const {
    auto found = config_.find("max.poll.interval.ms");
    if (found == config_.end()) return std::chrono::milliseconds(300'000);  // librdkafka's default
    try {
      return std::chrono::milliseconds(std::stoll(found->second));
    } catch (const std::exception&) {
      return std::chrono::milliseconds(300'000);
    }
  }

  std::int64_t reset_offset() const {
    auto found = config_.find("auto.offset.reset");
    const std::string reset = found == config_.end() ? "largest" : found->second;  // librdkafka's default
    if (reset == "smallest" || reset == "earliest" || reset == "beginning") return RD_KAFKA_OFFSET_BEGINNING;
    if (reset == "largest" || reset == "latest" || reset == "end") return RD_KAFKA_OFFSET_END;
    return RD_KAFKA_OFFSET_STORED;  // "error": librdkafka raises it when it finds no offset
  }

  RebalanceListener* listener_;
  Config config_;
  HandlePtr handle_;
  HandlePtr watermarks_;  // read_uncommitted, for high_watermarks(); null until first used
  bool closed_ = false;
};

// ---- Producer ----

class LibrdkafkaProducer final : public Producer, private CallbackOwner {
 public:
  LibrdkafkaProducer(const Config& config, ClientCallbacks callbacks, DeliveryCallback on_delivery)
      : CallbackOwner(std::move(callbacks)), on_delivery_(std::move(on_delivery)) {
    rd_kafka_conf_t* conf = make_client_conf(config, this);
    rd_kafka_conf_set_dr_msg_cb(conf, delivery_trampoline);
    handle_ = new_handle(RD_KAFKA_PRODUCER, conf);
  }
  ~LibrdkafkaProducer() override {
    // Give queued records a last chance; the runtime flushes explicitly before this on a clean shutdown.
    if (handle_) rd_kafka_flush(handle_.get(), 5000);
    for (auto& [name, topic] : topics_) rd_kafka_topic_destroy(topic);
  }

  KafkaError produce(std::string_view topic, std::optional<std::string_view> key, std::optional<std::string_view> value,
                     std::int64_t timestamp_ms, const std::vector<core::Header>* headers, std::int32_t partition,
                     void* opaque) override {
    rd_kafka_headers_t* kafka_headers = nullptr;
    if (headers != nullptr && !headers->empty()) {
      kafka_headers = rd_kafka_headers_new(headers->size());
      for (const auto& header : *headers) {
        // A null pointer makes a null value; an empty string's data() is never null, so "" stays empty.
        const void* value = header.value ? header.value->data() : nullptr;
        const auto value_size = static_cast<ssize_t>(header.value ? header.value->size() : 0);
        rd_kafka_header_add(kafka_headers, header.name.data(), static_cast<ssize_t>(header.name.size()), value,
                            value_size);
      }
    }
    rd_kafka_topic_t* handle_for_topic = topic_handle(topic);
    if (handle_for_topic == nullptr) {
      if (kafka_headers != nullptr) rd_kafka_headers_destroy(kafka_headers);
      return from_code(rd_kafka_last_error());
    }
    // Null pointers mean a null key / null value (tombstone) to librdkafka; empty views stay empty byte strings.
    void* key_bytes = key ? const_cast<char*>(key->data() != nullptr ? key->data() : "") : nullptr;
    std::size_t key_size = key ? key->size() : 0;
    void* value_bytes = value ? const_cast<char*>(value->data() != nullptr ? value->data() : "") : nullptr;
    std::size_t value_size = value ? value->size() : 0;
// librdkafka's RD_KAFKA_V_* macros type-check their arguments with GNU statement expressions, which clang's
// -Wpedantic reports in our code (GCC does not, the macros being from a system header).
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wgnu-statement-expression"
#endif
    rd_kafka_resp_err_t error = rd_kafka_producev(
        handle_.get(), RD_KAFKA_V_RKT(handle_for_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key_bytes, key_size), RD_KAFKA_V_VALUE(value_bytes, value_size),
        RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition), RD_KAFKA_V_OPAQUE(opaque),
        RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_HEADERS(kafka_headers), RD_KAFKA_V_END);
#if defined(__clang__)
#pragma clang diagnostic pop
#endif
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR && kafka_headers != nullptr) {
      rd_kafka_headers_destroy(kafka_headers);  // ownership passes to librdkafka only on success
    }
    return from_code(error);
  }

  int poll(std::chrono::milliseconds timeout) override {
    return rd_kafka_poll(handle_.get(), static_cast<int>(timeout.count()));
  }
  KafkaError flush(std::chrono::milliseconds timeout) override {
    return from_code(rd_kafka_flush(handle_.get(), static_cast<int>(timeout.count())));
  }
  int queue_length() const override { return rd_kafka_outq_len(handle_.get()); }

  KafkaError ping(std::chrono::milliseconds timeout) override {
    const rd_kafka_metadata_t* metadata = nullptr;
    KafkaError error = from_code(rd_kafka_metadata(handle_.get(), 0, nullptr, &metadata, static_cast<int>(timeout.count())));
    if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
    return error;
  }

  KafkaError init_transactions(std::chrono::milliseconds timeout) override {
    return from_error(handle_.get(), rd_kafka_init_transactions(handle_.get(), static_cast<int>(timeout.count())));
  }
  KafkaError begin_transaction() override { return from_error(handle_.get(), rd_kafka_begin_transaction(handle_.get())); }
  KafkaError send_offsets_to_transaction(const std::vector<TopicPartition>& offsets, const GroupMetadata& group,
                                         std::chrono::milliseconds timeout) override {
    if (offsets.empty()) return {};
    ListPtr list = to_list(offsets);
    const auto& metadata = static_cast<const LibrdkafkaGroupMetadata&>(group);
    return from_error(handle_.get(), rd_kafka_send_offsets_to_transaction(handle_.get(), list.get(), metadata.get(),
                                                                          static_cast<int>(timeout.count())));
  }
  KafkaError commit_transaction(std::chrono::milliseconds timeout) override {
    return from_error(handle_.get(), rd_kafka_commit_transaction(handle_.get(), static_cast<int>(timeout.count())));
  }
  KafkaError abort_transaction(std::chrono::milliseconds timeout) override {
    return from_error(handle_.get(), rd_kafka_abort_transaction(handle_.get(), static_cast<int>(timeout.count())));
  }

 private:
  static void delivery_trampoline(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
    auto* producer = static_cast<LibrdkafkaProducer*>(static_cast<CallbackOwner*>(opaque));
    if (!producer->on_delivery_) return;
    KafkaError error = from_code(message->err);
    DeliveryReport report;
    report.topic = message->rkt != nullptr ? rd_kafka_topic_name(message->rkt) : "";
    report.partition = message->partition;
    report.offset = message->offset;
    report.opaque = message->_private;
    producer->on_delivery_(error, report);
  }

  // Topic handle for `topic`, created on first use: producing by handle spares librdkafka a topic lookup (a
  // lock and string compares) per record, and the runtime a string copy.
  rd_kafka_topic_t* topic_handle(std::string_view topic) {
    if (auto it = topics_.find(topic); it != topics_.end()) return it->second;
    std::string name(topic);
    rd_kafka_topic_t* handle = rd_kafka_topic_new(handle_.get(), name.c_str(), nullptr);
    if (handle == nullptr) return nullptr;
    topics_.emplace(std::move(name), handle);
    return handle;
  }
  struct TopicHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const noexcept { return std::hash<std::string_view>{}(name); }
  };

  DeliveryCallback on_delivery_;
  HandlePtr handle_;
  std::unordered_map<std::string, rd_kafka_topic_t*, TopicHash, std::equal_to<>> topics_;
};

// ---- Admin ----

class LibrdkafkaAdmin final : public Admin, private CallbackOwner {
 public:
  LibrdkafkaAdmin(const Config& config, ClientCallbacks callbacks) : CallbackOwner(std::move(callbacks)) {
    handle_ = new_handle(RD_KAFKA_PRODUCER, make_client_conf(config, this));
  }

  KafkaError list_topics(std::vector<TopicInfo>& topics, std::chrono::milliseconds timeout) override {
    const rd_kafka_metadata_t* metadata = nullptr;
    KafkaError error = from_code(rd_kafka_metadata(handle_.get(), 1, nullptr, &metadata, static_cast<int>(timeout.count())));
    if (!error.ok()) {
      // Nothing else polls this handle: serve its queued error callbacks now, so the caller learns the cause
      // (a failed SASL handshake, say) that a metadata timeout does not tell.
      rd_kafka_poll(handle_.get(), 0);
      return error;
    }
    topics.clear();
    for (int i = 0; i < metadata->topic_cnt; ++i) {
      const auto& topic = metadata->topics[i];
      if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      topics.push_back(TopicInfo{topic.topic, topic.partition_cnt});
    }
    rd_kafka_metadata_destroy(metadata);
    return {};
  }

  // The first per-topic error of an admin result, other than `harmless` (the topic already exists, or is gone).
  static KafkaError first_topic_error(const rd_kafka_topic_result_t** results, std::size_t count,
                                      rd_kafka_resp_err_t harmless) {
    for (std::size_t i = 0; i < count; ++i) {
      rd_kafka_resp_err_t code = rd_kafka_topic_result_error(results[i]);
      if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != harmless) {
        KafkaError error = from_code(code);
        const char* message = rd_kafka_topic_result_error_string(results[i]);
        error.message = std::string(rd_kafka_topic_result_name(results[i])) + ": " + (message ? message : "");
        return error;
      }
    }
    return KafkaError{};
  }

  KafkaError create_topics(const std::vector<NewTopic>& topics, std::chrono::milliseconds timeout) override {
    if (topics.empty()) return {};
    char reason[512];
    std::vector<rd_kafka_NewTopic_t*> requests;
    auto destroy_requests = [&] { rd_kafka_NewTopic_destroy_array(requests.data(), requests.size()); };
    for (const auto& topic : topics) {
      rd_kafka_NewTopic_t* request =
          rd_kafka_NewTopic_new(topic.name.c_str(), topic.partitions, topic.replication_factor, reason, sizeof reason);
      if (request == nullptr) {
        destroy_requests();
        return KafkaError::make(ErrorCode::other, topic.name + ": " + reason);
      }
      for (const auto& [name, value] : topic.configs) rd_kafka_NewTopic_set_config(request, name.c_str(), value.c_str());
      requests.push_back(request);
    }
    KafkaError result = run_admin(RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout, [&](rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
      rd_kafka_CreateTopics(handle_.get(), requests.data(), requests.size(), options, queue);
    }, [&](rd_kafka_event_t* event) {
      const rd_kafka_CreateTopics_result_t* created = rd_kafka_event_CreateTopics_result(event);
      std::size_t count = 0;
      const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(created, &count);
      return first_topic_error(results, count, RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS);
    });
    destroy_requests();
    return result;
  }

  KafkaError delete_topics(const std::vector<std::string>& topics, std::chrono::milliseconds timeout) override {
    if (topics.empty()) return {};
    std::vector<rd_kafka_DeleteTopic_t*> requests;
    for (const auto& topic : topics) requests.push_back(rd_kafka_DeleteTopic_new(topic.c_str()));
    KafkaError result = run_admin(RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout, [&](rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
      rd_kafka_DeleteTopics(handle_.get(), requests.data(), requests.size(), options, queue);
    }, [&](rd_kafka_event_t* event) {
      std::size_t count = 0;
      const rd_kafka_topic_result_t** results =
          rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event), &count);
      return first_topic_error(results, count, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    });
    rd_kafka_DeleteTopic_destroy_array(requests.data(), requests.size());
    return result;
  }

  KafkaError delete_records(const std::vector<TopicPartition>& before, std::chrono::milliseconds timeout) override {
    if (before.empty()) return {};
    ListPtr list = to_list(before);
    rd_kafka_DeleteRecords_t* request = rd_kafka_DeleteRecords_new(list.get());
    KafkaError result = run_admin(RD_KAFKA_ADMIN_OP_DELETERECORDS, timeout, [&](rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
      rd_kafka_DeleteRecords(handle_.get(), &request, 1, options, queue);
    }, [&](rd_kafka_event_t* event) {
      const rd_kafka_topic_partition_list_t* offsets =
          rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(event));
      return offsets != nullptr ? first_partition_error(offsets) : KafkaError{};
    });
    rd_kafka_DeleteRecords_destroy(request);
    return result;
  }

 private:
  template <typename Start, typename Read>
  KafkaError run_admin(rd_kafka_admin_op_t operation, std::chrono::milliseconds timeout, Start start, Read read) {
    char reason[512];
    rd_kafka_queue_t* queue = rd_kafka_queue_new(handle_.get());
    rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(handle_.get(), operation);
    rd_kafka_AdminOptions_set_request_timeout(options, static_cast<int>(timeout.count()), reason, sizeof reason);
    if (operation == RD_KAFKA_ADMIN_OP_DELETERECORDS) {
      rd_kafka_AdminOptions_set_operation_timeout(options, static_cast<int>(timeout.count()), reason, sizeof reason);
    }
    start(options, queue);
    rd_kafka_event_t* event = rd_kafka_queue_poll(queue, static_cast<int>(timeout.count()) + 1000);
    KafkaError result;
    if (event == nullptr) {
      result = KafkaError::make(ErrorCode::timed_out, "admin request timed out", true);
    } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      result = from_code(rd_kafka_event_error(event));
      result.message = rd_kafka_event_error_string(event);
    } else {
      result = read(event);
    }
    if (event != nullptr) rd_kafka_event_destroy(event);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_queue_destroy(queue);
    return result;
  }

  HandlePtr handle_;
};

class LibrdkafkaClients final : public ClientFactory {
 public:
  std::unique_ptr<Consumer> consumer(const Config& config, ClientCallbacks callbacks,
                                     RebalanceListener* listener) override {
    return std::make_unique<LibrdkafkaConsumer>(config, std::move(callbacks), listener);
  }
  std::unique_ptr<Producer> producer(const Config& config, ClientCallbacks callbacks,
                                     DeliveryCallback on_delivery) override {
    return std::make_unique<LibrdkafkaProducer>(config, std::move(callbacks), std::move(on_delivery));
  }
  std::unique_ptr<Admin> admin(const Config& config, ClientCallbacks callbacks) override {
    return std::make_unique<LibrdkafkaAdmin>(config, std::move(callbacks));
  }
};

}  // namespace

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::none: return "none";
    case ErrorCode::queue_full: return "queue_full";
    case ErrorCode::timed_out: return "timed_out";
    case ErrorCode::transport: return "transport";
    case ErrorCode::all_brokers_down: return "all_brokers_down";
    case ErrorCode::resolve: return "resolve";
    case ErrorCode::authentication: return "authentication";
    case ErrorCode::authorization: return "authorization";
    case ErrorCode::message_too_large: return "message_too_large";
    case ErrorCode::invalid_record: return "invalid_record";
    case ErrorCode::unknown_topic: return "unknown_topic";
    case ErrorCode::offset_out_of_range: return "offset_out_of_range";
    case ErrorCode::fenced: return "fenced";
    case ErrorCode::invalid_state: return "invalid_state";
    case ErrorCode::partition_eof: return "partition_eof";
    case ErrorCode::other: return "other";
  }
  return "other";
}

std::unique_ptr<ClientFactory> librdkafka_clients() { return std::make_unique<LibrdkafkaClients>(); }

std::unique_ptr<Consumer> make_consumer(const Config& config, ClientCallbacks callbacks, RebalanceListener* listener) {
  return std::make_unique<LibrdkafkaConsumer>(config, std::move(callbacks), listener);
}
std::unique_ptr<Producer> make_producer(const Config& config, ClientCallbacks callbacks, DeliveryCallback on_delivery) {
  return std::make_unique<LibrdkafkaProducer>(config, std::move(callbacks), std::move(on_delivery));
}
std::unique_ptr<Admin> make_admin(const Config& config, ClientCallbacks callbacks) {
  return std::make_unique<LibrdkafkaAdmin>(config, std::move(callbacks));
}

}  // namespace sluice::kafka
