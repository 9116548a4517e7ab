#include "sluice/kafka/client.hpp"

#include <cstring>

namespace sluice::kafka {

namespace {

bool looks_secret(std::string_view name) {
  for (std::string_view marker : {"password", "secret", "sasl.oauthbearer.config", "ssl.key.pem", "ssl_key", "token"}) {
    if (name.find(marker) != std::string_view::npos) return true;
  }
  return false;
}

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const noexcept { rd_kafka_topic_partition_list_destroy(list); }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

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
      KafkaError error = KafkaError::from_code(list->elems[i].err);
      error.message = std::string(list->elems[i].topic) + "[" + std::to_string(list->elems[i].partition) + "]: " +
                      error.message;
      return error;
    }
  }
  return {};
}

void log_trampoline(const rd_kafka_t* handle, int level, const char* facility, const char* message) {
  auto* owner = static_cast<detail::CallbackOwner*>(rd_kafka_opaque(handle));
  if (owner != nullptr && owner->callbacks().log) owner->callbacks().log(level, facility, message);
}

void error_trampoline(rd_kafka_t*, int code, const char* reason, void* opaque) {
  auto* owner = static_cast<detail::CallbackOwner*>(opaque);
  if (owner == nullptr || !owner->callbacks().error) return;
  KafkaError error = KafkaError::from_code(static_cast<rd_kafka_resp_err_t>(code));
  error.message = reason;
  owner->callbacks().error(error);
}

}  // namespace

KafkaError KafkaError::from_code(rd_kafka_resp_err_t code) {
  KafkaError error;
  error.code = code;
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

KafkaError KafkaError::from_error(rd_kafka_error_t* raw) {
  KafkaError error;
  if (raw == nullptr) return error;
  error.code = rd_kafka_error_code(raw);
  error.message = rd_kafka_error_string(raw);
  error.retriable = rd_kafka_error_is_retriable(raw) != 0;
  error.fatal = rd_kafka_error_is_fatal(raw) != 0;
  error.requires_abort = rd_kafka_error_txn_requires_abort(raw) != 0;
  rd_kafka_error_destroy(raw);
  return error;
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

rd_kafka_conf_t* detail::make_client_conf(const Config& config, CallbackOwner* owner) {
  rd_kafka_conf_t* conf = make_conf(config);
  rd_kafka_conf_set_opaque(conf, owner);
  rd_kafka_conf_set_log_cb(conf, log_trampoline);
  rd_kafka_conf_set_error_cb(conf, error_trampoline);
  return conf;
}

namespace {

HandlePtr new_handle(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char reason[512];
  rd_kafka_t* handle = rd_kafka_new(type, conf, reason, sizeof reason);
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new takes ownership only on success
    throw ConfigError(std::string("cannot create Kafka client: ") + reason);
  }
  return HandlePtr(handle);
}

}  // namespace

// ---- Message ----

std::string Message::error_message() const {
  if (message_->payload != nullptr && message_->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::string(static_cast<const char*>(message_->payload), message_->len);
  }
  return rd_kafka_err2str(message_->err);
}

std::string_view Message::topic() const noexcept {
  return message_->rkt != nullptr ? std::string_view(rd_kafka_topic_name(message_->rkt)) : std::string_view();
}

std::int64_t Message::timestamp_ms() const noexcept {
  rd_kafka_timestamp_type_t type;
  return rd_kafka_message_timestamp(message_.get(), &type);
}

std::string_view Message::key() const noexcept {
  return message_->key != nullptr ? std::string_view(static_cast<const char*>(message_->key), message_->key_len)
                                  : std::string_view();
}

std::string_view Message::value() const noexcept {
  return message_->payload != nullptr ? std::string_view(static_cast<const char*>(message_->payload), message_->len)
                                      : std::string_view();
}

std::vector<core::Header> Message::headers() const {
  std::vector<core::Header> result;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message_.get(), &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return result;
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    result.push_back(core::Header{name, value != nullptr ? std::string(static_cast<const char*>(value), size) : ""});
  }
  return result;
}

// ---- Consumer ----

Consumer::Consumer(const Config& config, ClientCallbacks callbacks, RebalanceListener* listener)
    : CallbackOwner(std::move(callbacks)), listener_(listener) {
  rd_kafka_conf_t* conf = detail::make_client_conf(config, this);
  rd_kafka_conf_set_rebalance_cb(conf, rebalance_trampoline);
  handle_ = new_handle(RD_KAFKA_CONSUMER, conf);
  // Serve client events (errors, logs) from consumer polls, on the processing thread.
  rd_kafka_poll_set_consumer(handle_.get());
}

Consumer::~Consumer() { close(); }

void Consumer::rebalance_trampoline(rd_kafka_t* handle, rd_kafka_resp_err_t error,
                                    rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* consumer = static_cast<Consumer*>(static_cast<detail::CallbackOwner*>(opaque));
  std::vector<TopicPartition> list = from_list(partitions);
  if (error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    rd_kafka_assign(handle, partitions);
    if (consumer->listener_ != nullptr) consumer->listener_->on_partitions_assigned(list);
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

KafkaError Consumer::subscribe(const std::vector<std::string>& topics) {
  ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (const auto& topic : topics) rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  return KafkaError::from_code(rd_kafka_subscribe(handle_.get(), list.get()));
}

Message Consumer::poll(std::chrono::milliseconds timeout) {
  return Message(rd_kafka_consumer_poll(handle_.get(), static_cast<int>(timeout.count())));
}

KafkaError Consumer::commit(const std::vector<TopicPartition>& offsets) {
  if (offsets.empty()) return {};
  ListPtr list = to_list(offsets);
  KafkaError error = KafkaError::from_code(rd_kafka_commit(handle_.get(), list.get(), 0));
  if (!error.ok()) return error;
  return first_partition_error(list.get());
}

KafkaError Consumer::committed(std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) {
  ListPtr list = to_list(partitions);
  KafkaError error =
      KafkaError::from_code(rd_kafka_committed(handle_.get(), list.get(), static_cast<int>(timeout.count())));
  if (!error.ok()) return error;
  partitions = from_list(list.get());
  return first_partition_error(list.get());
}

KafkaError Consumer::seek(const TopicPartition& position, std::chrono::milliseconds timeout) {
  ListPtr list = to_list({position});
  rd_kafka_error_t* error = rd_kafka_seek_partitions(handle_.get(), list.get(), static_cast<int>(timeout.count()));
  if (error != nullptr) return KafkaError::from_error(error);
  return first_partition_error(list.get());
}

KafkaError Consumer::assign(const std::vector<TopicPartition>& partitions) {
  ListPtr list = to_list(partitions);
  return KafkaError::from_code(rd_kafka_assign(handle_.get(), partitions.empty() ? nullptr : list.get()));
}

KafkaError Consumer::pause(const std::vector<TopicPartition>& partitions) {
  if (partitions.empty()) return {};
  ListPtr list = to_list(partitions);
  KafkaError error = KafkaError::from_code(rd_kafka_pause_partitions(handle_.get(), list.get()));
  return error.ok() ? first_partition_error(list.get()) : error;
}

KafkaError Consumer::resume(const std::vector<TopicPartition>& partitions) {
  if (partitions.empty()) return {};
  ListPtr list = to_list(partitions);
  KafkaError error = KafkaError::from_code(rd_kafka_resume_partitions(handle_.get(), list.get()));
  return error.ok() ? first_partition_error(list.get()) : error;
}

KafkaError Consumer::query_watermarks(const std::string& topic, std::int32_t partition, std::int64_t& low,
                                      std::int64_t& high, std::chrono::milliseconds timeout) {
  return KafkaError::from_code(rd_kafka_query_watermark_offsets(handle_.get(), topic.c_str(), partition, &low, &high,
                                                                static_cast<int>(timeout.count())));
}

std::vector<TopicPartition> Consumer::assignment() const {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(handle_.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  ListPtr list(raw);
  return from_list(list.get());
}

std::optional<std::int64_t> Consumer::cached_high_watermark(const std::string& topic, std::int32_t partition) const {
  std::int64_t low = 0, high = 0;
  if (rd_kafka_get_watermark_offsets(handle_.get(), topic.c_str(), partition, &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      high < 0) {
    return std::nullopt;
  }
  return high;
}

std::optional<std::int64_t> Consumer::position(const std::string& topic, std::int32_t partition) const {
  ListPtr list = to_list({TopicPartition{topic, partition, RD_KAFKA_OFFSET_INVALID}});
  if (rd_kafka_position(handle_.get(), list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR || list->elems[0].offset < 0) {
    return std::nullopt;
  }
  return list->elems[0].offset;
}

std::unique_ptr<rd_kafka_consumer_group_metadata_t, Consumer::GroupMetadataDeleter> Consumer::group_metadata() const {
  return std::unique_ptr<rd_kafka_consumer_group_metadata_t, GroupMetadataDeleter>(
      rd_kafka_consumer_group_metadata(handle_.get()));
}

void Consumer::close() {
  if (closed_ || !handle_) return;
  closed_ = true;
  rd_kafka_consumer_close(handle_.get());
}

// ---- Producer ----

Producer::Producer(const Config& config, ClientCallbacks callbacks, DeliveryCallback on_delivery)
    : CallbackOwner(std::move(callbacks)), on_delivery_(std::move(on_delivery)) {
  rd_kafka_conf_t* conf = detail::make_client_conf(config, this);
  rd_kafka_conf_set_dr_msg_cb(conf, delivery_trampoline);
  handle_ = new_handle(RD_KAFKA_PRODUCER, conf);
}

Producer::~Producer() {
  // Give queued records a last chance; the runtime flushes explicitly before this on a clean shutdown.
  if (handle_) rd_kafka_flush(handle_.get(), 5000);
  for (auto& [name, topic] : topics_) rd_kafka_topic_destroy(topic);
}

rd_kafka_topic_t* Producer::topic_handle(std::string_view topic) {
  if (auto it = topics_.find(topic); it != topics_.end()) return it->second;
  std::string name(topic);
  rd_kafka_topic_t* handle = rd_kafka_topic_new(handle_.get(), name.c_str(), nullptr);
  if (handle == nullptr) return nullptr;
  topics_.emplace(std::move(name), handle);
  return handle;
}

void Producer::delivery_trampoline(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* producer = static_cast<Producer*>(static_cast<detail::CallbackOwner*>(opaque));
  if (!producer->on_delivery_) return;
  KafkaError error = KafkaError::from_code(message->err);
  DeliveryReport report;
  report.topic = message->rkt != nullptr ? rd_kafka_topic_name(message->rkt) : "";
  report.partition = message->partition;
  report.offset = message->offset;
  report.opaque = message->_private;
  producer->on_delivery_(error, report);
}

KafkaError Producer::produce(std::string_view topic, std::optional<std::string_view> key,
                             std::optional<std::string_view> value, std::int64_t timestamp_ms,
                             const std::vector<core::Header>* headers, std::int32_t partition, void* opaque) {
  rd_kafka_headers_t* kafka_headers = nullptr;
  if (headers != nullptr && !headers->empty()) {
    kafka_headers = rd_kafka_headers_new(headers->size());
    for (const auto& header : *headers) {
      rd_kafka_header_add(kafka_headers, header.name.data(), static_cast<ssize_t>(header.name.size()),
                          header.value.data(), static_cast<ssize_t>(header.value.size()));
    }
  }
  rd_kafka_topic_t* handle_for_topic = topic_handle(topic);
  if (handle_for_topic == nullptr) {
    if (kafka_headers != nullptr) rd_kafka_headers_destroy(kafka_headers);
    return KafkaError::from_code(rd_kafka_last_error());
  }
  // Null pointers mean a null key / null value (tombstone) to librdkafka; empty views stay empty byte strings.
  void* key_bytes = key ? const_cast<char*>(key->data() != nullptr ? key->data() : "") : nullptr;
  std::size_t key_size = key ? key->size() : 0;
  void* value_bytes = value ? const_cast<char*>(value->data() != nullptr ? value->data() : "") : nullptr;
  std::size_t value_size = value ? value->size() : 0;
  rd_kafka_resp_err_t error = rd_kafka_producev(
      handle_.get(), RD_KAFKA_V_RKT(handle_for_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(key_bytes, key_size), RD_KAFKA_V_VALUE(value_bytes, value_size),
      RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition), RD_KAFKA_V_OPAQUE(opaque),
      RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_HEADERS(kafka_headers), RD_KAFKA_V_END);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR && kafka_headers != nullptr) {
    rd_kafka_headers_destroy(kafka_headers);  // ownership passes to librdkafka only on success
  }
  return KafkaError::from_code(error);
}

int Producer::poll(std::chrono::milliseconds timeout) {
  return rd_kafka_poll(handle_.get(), static_cast<int>(timeout.count()));
}

KafkaError Producer::flush(std::chrono::milliseconds timeout) {
  return KafkaError::from_code(rd_kafka_flush(handle_.get(), static_cast<int>(timeout.count())));
}

KafkaError Producer::init_transactions(std::chrono::milliseconds timeout) {
  return KafkaError::from_error(rd_kafka_init_transactions(handle_.get(), static_cast<int>(timeout.count())));
}

KafkaError Producer::begin_transaction() { return KafkaError::from_error(rd_kafka_begin_transaction(handle_.get())); }

KafkaError Producer::send_offsets_to_transaction(const std::vector<TopicPartition>& offsets, const Consumer& consumer,
                                                 std::chrono::milliseconds timeout) {
  if (offsets.empty()) return {};
  ListPtr list = to_list(offsets);
  auto metadata = consumer.group_metadata();
  return KafkaError::from_error(rd_kafka_send_offsets_to_transaction(handle_.get(), list.get(), metadata.get(),
                                                                     static_cast<int>(timeout.count())));
}

KafkaError Producer::commit_transaction(std::chrono::milliseconds timeout) {
  return KafkaError::from_error(rd_kafka_commit_transaction(handle_.get(), static_cast<int>(timeout.count())));
}

KafkaError Producer::abort_transaction(std::chrono::milliseconds timeout) {
  return KafkaError::from_error(rd_kafka_abort_transaction(handle_.get(), static_cast<int>(timeout.count())));
}

// ---- Admin ----

Admin::Admin(const Config& config, ClientCallbacks callbacks) : CallbackOwner(std::move(callbacks)) {
  handle_ = new_handle(RD_KAFKA_PRODUCER, detail::make_client_conf(config, this));
}

Admin::~Admin() = default;

KafkaError Admin::list_topics(std::vector<TopicInfo>& topics, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* metadata = nullptr;
  KafkaError error =
      KafkaError::from_code(rd_kafka_metadata(handle_.get(), 1, nullptr, &metadata, static_cast<int>(timeout.count())));
  if (!error.ok()) return error;
  topics.clear();
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const auto& topic = metadata->topics[i];
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    topics.push_back(TopicInfo{topic.topic, topic.partition_cnt});
  }
  rd_kafka_metadata_destroy(metadata);
  return {};
}

KafkaError Admin::create_topics(const std::vector<NewTopic>& topics, std::chrono::milliseconds timeout) {
  if (topics.empty()) return {};
  char reason[512];
  std::vector<rd_kafka_NewTopic_t*> requests;
  auto destroy_requests = [&] {
    rd_kafka_NewTopic_destroy_array(requests.data(), requests.size());
  };
  for (const auto& topic : topics) {
    rd_kafka_NewTopic_t* request = rd_kafka_NewTopic_new(topic.name.c_str(), topic.partitions, topic.replication_factor,
                                                         reason, sizeof reason);
    if (request == nullptr) {
      destroy_requests();
      return KafkaError{RD_KAFKA_RESP_ERR__INVALID_ARG, topic.name + ": " + reason};
    }
    for (const auto& [name, value] : topic.configs) rd_kafka_NewTopic_set_config(request, name.c_str(), value.c_str());
    requests.push_back(request);
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(handle_.get());
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(handle_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(options, static_cast<int>(timeout.count()), reason, sizeof reason);
  rd_kafka_CreateTopics(handle_.get(), requests.data(), requests.size(), options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, static_cast<int>(timeout.count()) + 1000);
  KafkaError result;
  if (event == nullptr) {
    result = KafkaError{RD_KAFKA_RESP_ERR__TIMED_OUT, "CreateTopics timed out", true};
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    result = KafkaError::from_code(rd_kafka_event_error(event));
    result.message = rd_kafka_event_error_string(event);
  } else {
    const rd_kafka_CreateTopics_result_t* created = rd_kafka_event_CreateTopics_result(event);
    std::size_t count = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(created, &count);
    for (std::size_t i = 0; i < count; ++i) {
      rd_kafka_resp_err_t code = rd_kafka_topic_result_error(results[i]);
      if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        result = KafkaError::from_code(code);
        const char* message = rd_kafka_topic_result_error_string(results[i]);
        result.message = std::string(rd_kafka_topic_result_name(results[i])) + ": " + (message ? message : "");
        break;
      }
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  destroy_requests();
  return result;
}

}  // namespace sluice::kafka
