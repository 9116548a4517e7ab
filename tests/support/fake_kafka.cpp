#include "support/fake_kafka.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <stdexcept>

namespace sluice::testing {

using kafka::ErrorCode;
using kafka::KafkaError;
using kafka::TopicPartition;

namespace {

constexpr std::array<std::string_view, 19> known_calls = {
    "producer.produce", "producer.delivery", "producer.init_transactions", "producer.begin_transaction",
    "producer.send_offsets_to_transaction", "producer.commit_transaction", "producer.abort_transaction",
    "producer.flush", "producer.ping", "consumer.poll", "consumer.commit", "consumer.committed", "consumer.seek",
    "consumer.end_offsets", "consumer.high_watermarks", "consumer.assignment_offsets", "admin.list_topics",
    "admin.create_topics", "admin.delete_records"};

std::string config_value(const kafka::Config& config, const std::string& key, std::string fallback = {}) {
  auto found = config.find(key);
  return found == config.end() ? fallback : found->second;
}

// MurmurHash2 (32-bit) with Kafka's seed, as the Java client's default partitioner hashes keys.
std::uint32_t murmur2(std::string_view data) {
  constexpr std::uint32_t multiplier = 0x5bd1e995;
  std::uint32_t hash = 0x9747b28c ^ static_cast<std::uint32_t>(data.size());
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t index = 0;
  for (; index + 4 <= data.size(); index += 4) {
    std::uint32_t block = static_cast<std::uint32_t>(bytes[index]) | static_cast<std::uint32_t>(bytes[index + 1]) << 8 |
                          static_cast<std::uint32_t>(bytes[index + 2]) << 16 |
                          static_cast<std::uint32_t>(bytes[index + 3]) << 24;
    block *= multiplier;
    block ^= block >> 24;
    block *= multiplier;
    hash = (hash * multiplier) ^ block;
  }
  switch (data.size() - index) {
    case 3: hash ^= static_cast<std::uint32_t>(bytes[index + 2]) << 16; [[fallthrough]];
    case 2: hash ^= static_cast<std::uint32_t>(bytes[index + 1]) << 8; [[fallthrough]];
    case 1: hash = (hash ^ bytes[index]) * multiplier;
  }
  hash = (hash ^ (hash >> 13)) * multiplier;
  return hash ^ (hash >> 15);
}

// The bytes a Message's views point into: owned through Message::Native, freed by its release.
struct MessageBody {
  std::string topic;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<core::Header> headers;
};

kafka::Message make_message(MessageBody* body, kafka::Message::Fields fields) {
  fields.topic = body->topic;
  if (body->key) fields.key = std::string_view(*body->key);
  if (body->value) fields.value = std::string_view(*body->value);
  kafka::Message::Native native;
  native.handle = body;
  native.release = [](void* handle) { delete static_cast<MessageBody*>(handle); };
  native.headers = [](void* handle) { return static_cast<MessageBody*>(handle)->headers; };
  return kafka::Message(std::move(fields), native);
}

struct FakeGroupMetadata final : kafka::GroupMetadata {
  FakeGroupMetadata(std::string group, std::int32_t generation) : group(std::move(group)), generation(generation) {}
  std::string group;
  std::int32_t generation;  // -1: not a group member (manual assignment): not checked, as by Kafka
};

// What the group coordinator answers a member with an old generation. The real client maps Kafka's
// ILLEGAL_GENERATION to ErrorCode::other; inside a transaction librdkafka makes it abortable.
KafkaError illegal_generation(const std::string& group) {
  KafkaError error = KafkaError::make(ErrorCode::other, "ILLEGAL_GENERATION: group " + group + " has a newer generation");
  error.raw = 22;
  return error;
}

}  // namespace

KafkaError make_error(ErrorCode code, bool retriable, bool fatal, bool requires_abort) {
  KafkaError error = KafkaError::make(code, "scripted " + std::string(kafka::to_string(code)), retriable);
  error.fatal = fatal;
  error.requires_abort = requires_abort;
  return error;
}

KafkaError timed_out() { return make_error(ErrorCode::timed_out, true); }

// ============================== the clients ==============================

// Lifecycle: subscribe or assign, poll..., close() (revokes through the listener); destruction without close()
// calls no listener.
class FakeConsumer final : public kafka::Consumer {
 public:
  FakeConsumer(FakeCluster& cluster, const kafka::Config& config, kafka::ClientCallbacks callbacks,
               kafka::RebalanceListener* listener)
      : cluster_(cluster),
        id_(++cluster.last_client_id_),
        group_(config_value(config, "group.id")),
        read_committed_(config_value(config, "isolation.level") == "read_committed"),
        reset_latest_(config_value(config, "auto.offset.reset", "earliest") == "latest"),
        callbacks_(std::move(callbacks)),
        listener_(listener) {
    cluster_.consumers_[id_] = this;
  }
  ~FakeConsumer() override {
    cluster_.consumers_.erase(id_);
    cluster_.events_.erase(id_);
    cluster_.client_errors_.erase(id_);
  }
  FakeConsumer(const FakeConsumer&) = delete;
  FakeConsumer& operator=(const FakeConsumer&) = delete;

  KafkaError subscribe(const std::vector<std::string>& topics) override {
    subscribed_ = true;
    if (cluster_.auto_assign_) cluster_.assign(*this, cluster_.partitions(topics));
    return {};
  }

  kafka::Message poll(std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("consumer.poll", id_);
    if (closed_) return {};
    deliver_events();
    for (const auto& error : cluster_.take_client_errors(id_)) {
      if (callbacks_.error) callbacks_.error(error);
    }
    if (auto failure = cluster_.scripted(call)) {
      kafka::Message::Fields fields;
      fields.error = failure->error.code;
      fields.error_message = failure->error.message;
      return make_message(new MessageBody{}, std::move(fields));
    }
    if (cluster_.fetch_stall_records_ > 0 && delivered_since_wake_ >= cluster_.fetch_stall_records_) return {};
    std::vector<const FakeRecord*> ready;
    for (auto& assigned : assignment_) ready.push_back(assigned.paused ? nullptr : advance(assigned));
    // Round-robin: each poll starts at the partition after the one that gave the last record.
    for (std::size_t step = 0; step < assignment_.size(); ++step) {
      const std::size_t index = (next_partition_ + step) % assignment_.size();
      const FakeRecord* record = ready[index];
      if (record == nullptr) continue;
      Assigned& assigned = assignment_[index];
      next_partition_ = index + 1;
      ++*assigned.position;
      assigned.sought = false;
      ++delivered_since_wake_;
      kafka::Message::Fields fields;
      fields.partition = assigned.partition.partition;
      fields.offset = record->offset;
      fields.timestamp_ms = record->timestamp_ms;
      return make_message(new MessageBody{assigned.partition.topic, record->key, record->value, record->headers},
                          std::move(fields));
    }
    return {};
  }

  KafkaError commit(const std::vector<TopicPartition>& offsets) override {
    const std::size_t call = cluster_.begin_call("consumer.commit", id_);
    auto failure = cluster_.scripted(call);
    if (failure && !failure->after_effect) return cluster_.end_call(call, failure->error);
    if (generation_ >= 0 && generation_ != cluster_.generation(group_)) {
      return cluster_.end_call(call, illegal_generation(group_));
    }
    for (const auto& offset : offsets) {
      if (offset.offset >= 0) cluster_.set_committed(group_, offset.topic, offset.partition, offset.offset);
    }
    return cluster_.end_call(call, failure ? failure->error : KafkaError{});
  }

  KafkaError committed(std::vector<TopicPartition>& partitions, std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("consumer.committed", id_);
    if (auto failure = cluster_.scripted(call)) return cluster_.end_call(call, failure->error);
    for (auto& partition : partitions) {
      partition.offset = cluster_.committed(group_, partition.topic, partition.partition).value_or(kafka::offset_invalid);
    }
    return cluster_.end_call(call, {});
  }

  KafkaError seek(const TopicPartition& position, std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("consumer.seek", id_);
    if (auto failure = cluster_.scripted(call)) return cluster_.end_call(call, failure->error);
    Assigned* assigned = find(position.topic, position.partition);
    if (assigned == nullptr) {
      return cluster_.end_call(call, KafkaError::make(ErrorCode::invalid_state, "seek: partition not assigned"));
    }
    assigned->partition.offset = position.offset;  // resolved at the next fetch, like a start offset
    assigned->position.reset();
    assigned->sought = true;
    delivered_since_wake_ = 0;  // librdkafka wakes the fetcher's thread on a seek (set_fetch_stall)
    return cluster_.end_call(call, {});
  }

  KafkaError assign(const std::vector<TopicPartition>& partitions) override {
    set_assignment(partitions);
    return {};
  }
  KafkaError pause(const std::vector<TopicPartition>& partitions) override { return set_paused(partitions, true); }
  KafkaError resume(const std::vector<TopicPartition>& partitions) override { return set_paused(partitions, false); }

  KafkaError end_offsets(std::vector<TopicPartition>& partitions, std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("consumer.end_offsets", id_);
    if (auto failure = cluster_.scripted(call)) return cluster_.end_call(call, failure->error);
    for (auto& partition : partitions) {
      const FakeCluster::Partition* log = cluster_.find(partition.topic, partition.partition);
      if (log == nullptr) {
        return cluster_.end_call(call, KafkaError::make(ErrorCode::unknown_topic, "unknown " + partition.topic, true));
      }
      partition.offset = fetch_limit(*log);
    }
    return cluster_.end_call(call, {});
  }

  KafkaError high_watermarks(std::vector<TopicPartition>& partitions, std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("consumer.high_watermarks", id_);
    if (auto failure = cluster_.scripted(call)) return cluster_.end_call(call, failure->error);
    for (auto& partition : partitions) {
      const FakeCluster::Partition* log = cluster_.find(partition.topic, partition.partition);
      if (log == nullptr) {
        return cluster_.end_call(call, KafkaError::make(ErrorCode::unknown_topic, "unknown " + partition.topic, true));
      }
      partition.offset = static_cast<std::int64_t>(log->log.size());
    }
    return cluster_.end_call(call, {});
  }

  std::optional<std::int64_t> cached_high_watermark(const std::string& topic, std::int32_t partition) const override {
    auto found = cached_high_.find({topic, partition});
    return found == cached_high_.end() ? std::nullopt : std::optional<std::int64_t>(found->second);
  }

  std::optional<std::int64_t> position(const std::string& topic, std::int32_t partition) const override {
    const Assigned* assigned = const_cast<FakeConsumer*>(this)->find(topic, partition);
    // Like librdkafka's: unknown after a seek until a record of the partition was delivered.
    return assigned == nullptr || assigned->sought ? std::nullopt : assigned->position;
  }

  std::unique_ptr<kafka::GroupMetadata> group_metadata() const override {
    return std::make_unique<FakeGroupMetadata>(group_, generation_);
  }

  // rd_kafka_consumer_close: a pending lose or revoke is delivered (a pending assign is not), then what the
  // group assigned is revoked through the listener.
  void close() override {
    if (closed_) return;
    for (auto& event : std::exchange(cluster_.events_[id_], {})) {
      if (event.kind == FakeCluster::EventKind::assign) continue;
      notify(event.kind == FakeCluster::EventKind::lose ? &kafka::RebalanceListener::on_partitions_lost
                                                        : &kafka::RebalanceListener::on_partitions_revoked);
    }
    if (subscribed_) notify(&kafka::RebalanceListener::on_partitions_revoked);
    set_assignment({});
    closed_ = true;
  }

  std::vector<TopicPartition> assignment() const {
    std::vector<TopicPartition> partitions;
    for (const auto& assigned : assignment_) {
      partitions.push_back({assigned.partition.topic, assigned.partition.partition,
                            assigned.position.value_or(kafka::offset_invalid)});
    }
    return partitions;
  }
  bool paused(const std::string& topic, std::int32_t partition) const {
    const Assigned* assigned = const_cast<FakeConsumer*>(this)->find(topic, partition);
    return assigned != nullptr && assigned->paused;
  }
  int id() const { return id_; }

 private:
  std::size_t delivered_since_wake_ = 0;  // see FakeCluster::set_fetch_stall
  struct Assigned {
    TopicPartition partition;  // offset: where to start; resolved into position at the first fetch
    std::optional<std::int64_t> position;
    bool paused = false;
    bool sought = false;  // seek()ed, no record delivered since: position() does not know
  };

  Assigned* find(const std::string& topic, std::int32_t partition) {
    for (auto& assigned : assignment_) {
      if (assigned.partition.topic == topic && assigned.partition.partition == partition) return &assigned;
    }
    return nullptr;
  }

  KafkaError set_paused(const std::vector<TopicPartition>& partitions, bool paused) {
    for (const auto& partition : partitions) {
      if (Assigned* assigned = find(partition.topic, partition.partition)) assigned->paused = paused;
    }
    return {};
  }

  void set_assignment(const std::vector<TopicPartition>& partitions) {
    assignment_.clear();
    next_partition_ = 0;
    for (const auto& partition : partitions) assignment_.push_back({partition, std::nullopt, false});
  }

  // Tells the listener about the whole assignment (if any) and drops it.
  void notify(void (kafka::RebalanceListener::*callback)(const std::vector<TopicPartition>&)) {
    auto held = assignment();
    for (auto& partition : held) partition.offset = kafka::offset_invalid;
    set_assignment({});
    if (listener_ != nullptr && !held.empty()) (listener_->*callback)(held);
  }

  // Invariant (eager protocol): the listener sees revoked(everything) before assigned(new), and the new
  // assignment is in place when on_partitions_assigned runs (so the listener can pause it).
  void deliver_events() {
    auto& queue = cluster_.events_[id_];
    while (!queue.empty()) {
      FakeCluster::RebalanceEvent event = std::move(queue.front());
      queue.pop_front();
      if (event.kind == FakeCluster::EventKind::lose) {
        notify(&kafka::RebalanceListener::on_partitions_lost);
        continue;
      }
      notify(&kafka::RebalanceListener::on_partitions_revoked);
      if (event.kind == FakeCluster::EventKind::revoke) continue;
      if (!assignment_offsets_read(event.partitions)) continue;
      set_assignment(event.partitions);
      generation_ = cluster_.generation(group_);
      if (listener_ != nullptr) listener_->on_partitions_assigned(event.partitions);
    }
  }

  // As the librdkafka adapter does: a new assignment's committed offsets are read before it starts, and while
  // that fails retriably (scripted "consumer.assignment_offsets": a transaction holds them) the listener hears
  // of every attempt and may stop waiting; otherwise nothing of the assignment starts.
  bool assignment_offsets_read(const std::vector<TopicPartition>& partitions) {
    for (;;) {
      const std::size_t call = cluster_.begin_call("consumer.assignment_offsets", id_);
      auto failure = cluster_.scripted(call);
      if (!failure) {
        cluster_.end_call(call, {});
        return true;
      }
      const bool wait = failure->error.retriable || failure->error.unreachable();
      if (!wait || (listener_ != nullptr && !listener_->on_assignment_delayed(failure->error))) {
        if (listener_ != nullptr) listener_->on_assignment_failed(partitions, failure->error);
        return false;
      }
    }
  }

  std::int64_t fetch_limit(const FakeCluster::Partition& partition) const {
    return read_committed_ ? FakeCluster::stable_offset(partition) : static_cast<std::int64_t>(partition.log.size());
  }

  // Resolves the position and, like the fetcher, steps over markers (and, read_committed, aborted records) below
  // the limit, so the position reaches the end even when no record follows. Returns the record to deliver next.
  const FakeRecord* advance(Assigned& assigned) {
    const std::string& topic = assigned.partition.topic;
    const FakeCluster::Partition* partition = cluster_.find(topic, assigned.partition.partition);
    if (partition == nullptr) return nullptr;
    const std::int64_t limit = fetch_limit(*partition);
    if (!assigned.position) {
      std::int64_t start = assigned.partition.offset;
      if (start == kafka::offset_invalid) {
        start = cluster_.committed(group_, topic, assigned.partition.partition).value_or(kafka::offset_invalid);
      }
      assigned.position = start == kafka::offset_beginning ? partition->start_offset
                          : start == kafka::offset_end     ? limit
                                                           : start;
    }
    std::int64_t& position = *assigned.position;
    // auto.offset.reset: nothing committed, or the position fell out of the log (delete_records).
    if (position < partition->start_offset || position > static_cast<std::int64_t>(partition->log.size())) {
      position = reset_latest_ ? limit : partition->start_offset;
    }
    cached_high_[{topic, assigned.partition.partition}] = limit;
    for (; position < limit; ++position) {
      const FakeRecord& record = partition->log[static_cast<std::size_t>(position)];
      if (!record.control && (!read_committed_ || cluster_.visible_committed(record))) return &record;
    }
    return nullptr;
  }

  FakeCluster& cluster_;
  int id_;
  std::string group_;
  bool read_committed_;
  bool reset_latest_;
  kafka::ClientCallbacks callbacks_;
  kafka::RebalanceListener* listener_;
  bool subscribed_ = false;
  std::vector<Assigned> assignment_;
  std::size_t next_partition_ = 0;  // round-robin cursor into assignment_
  std::map<FakeCluster::PartitionKey, std::int64_t> cached_high_;
  std::int32_t generation_ = -1;  // the group's generation when this member was last assigned
  bool closed_ = false;
};

// Records reach the log when their delivery report is served (poll, flush, commit_transaction), so records
// never flushed are lost with the producer. Records without key and partition go round-robin (deterministic,
// unlike librdkafka's random choice).
class FakeProducer final : public kafka::Producer {
 public:
  FakeProducer(FakeCluster& cluster, const kafka::Config& config, kafka::ClientCallbacks callbacks,
               kafka::DeliveryCallback on_delivery)
      : cluster_(cluster),
        id_(++cluster.last_client_id_),
        transactional_id_(config_value(config, "transactional.id")),
        queue_limit_(std::stoul(config_value(config, "queue.buffering.max.messages", "100000"))),
        max_message_bytes_(std::stoul(config_value(config, "message.max.bytes", "1000000"))),
        callbacks_(std::move(callbacks)),
        on_delivery_(std::move(on_delivery)),
        state_(transactional_id_.empty() ? State::ready : State::uninitialized) {
    cluster_.producers_[id_] = this;
  }
  ~FakeProducer() override {  // undelivered records are dropped without a report
    cluster_.producers_.erase(id_);
    cluster_.client_errors_.erase(id_);
  }
  FakeProducer(const FakeProducer&) = delete;
  FakeProducer& operator=(const FakeProducer&) = delete;

  KafkaError produce(std::string_view topic, std::optional<std::string_view> key, std::optional<std::string_view> value,
                     std::int64_t timestamp_ms, const std::vector<core::Header>* headers, std::int32_t partition,
                     void* opaque) override {
    const std::size_t call = cluster_.begin_call("producer.produce", id_, std::string(topic));
    if (KafkaError error = unusable(); !error.ok()) return cluster_.end_call(call, error);
    if (!transactional_id_.empty() && state_ != State::in_transaction) {
      return cluster_.end_call(call, KafkaError::make(ErrorCode::invalid_state, "produce outside a transaction"));
    }
    if (auto failure = cluster_.scripted(call)) return fail_with(call, failure->error);
    const std::int32_t partitions = cluster_.partition_count(std::string(topic));
    if (partitions == 0 || partition >= partitions) {
      return cluster_.end_call(call, KafkaError::make(ErrorCode::unknown_topic, "unknown " + std::string(topic)));
    }
    if (queue_.size() >= queue_limit_) {
      return cluster_.end_call(call, KafkaError::make(ErrorCode::queue_full, "producer queue full", true));
    }
    std::vector<core::Header> copied = headers != nullptr ? *headers : std::vector<core::Header>{};
    std::size_t bytes = key.value_or("").size() + value.value_or("").size();
    for (const auto& header : copied) bytes += header.name.size() + (header.value ? header.value->size() : 0);
    if (bytes > max_message_bytes_) {
      return cluster_.end_call(call, KafkaError::make(ErrorCode::message_too_large, "larger than message.max.bytes"));
    }
    if (partition < 0) {
      partition = key ? static_cast<std::int32_t>((murmur2(*key) & 0x7fffffffU) % static_cast<std::uint32_t>(partitions))
                      : next_partition_++ % partitions;
    }
    FakeRecord record;
    if (key) record.key = std::string(*key);
    if (value) record.value = std::string(*value);
    record.timestamp_ms = timestamp_ms;
    record.headers = std::move(copied);
    record.transaction = transaction_;
    queue_.push_back({std::string(topic), partition, std::move(record), opaque});
    return cluster_.end_call(call, {});
  }

  int poll(std::chrono::milliseconds) override { return deliver_queued(); }

  KafkaError flush(std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("producer.flush", id_);
    auto failure = cluster_.scripted(call);
    if (failure && !failure->after_effect) return cluster_.end_call(call, failure->error);
    deliver_queued();
    return cluster_.end_call(call, failure ? failure->error : KafkaError{});
  }

  int queue_length() const override { return static_cast<int>(queue_.size()); }

  KafkaError ping(std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("producer.ping", id_);
    auto failure = cluster_.scripted(call);
    return cluster_.end_call(call, failure ? failure->error : KafkaError{});
  }

  KafkaError init_transactions(std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("producer.init_transactions", id_);
    if (KafkaError error = unusable(); !error.ok()) return cluster_.end_call(call, error);
    if (transactional_id_.empty() || state_ != State::uninitialized) {
      return cluster_.end_call(call, KafkaError::make(ErrorCode::invalid_state, "init_transactions: not transactional "
                                                                                "or called twice"));
    }
    auto failure = cluster_.scripted(call);
    if (failure && !failure->after_effect) return fail_with(call, failure->error);
    // Fencing: the id's open transaction is aborted, and a producer holding an older epoch is a zombie.
    cluster_.expire_transaction(transactional_id_);
    epoch_ = cluster_.transactional_ids_[transactional_id_].epoch;
    state_ = State::ready;
    return failure ? fail_with(call, failure->error) : cluster_.end_call(call, {});
  }

  KafkaError begin_transaction() override {
    const std::size_t call = cluster_.begin_call("producer.begin_transaction", id_);
    if (KafkaError error = unusable(); !error.ok()) return cluster_.end_call(call, error);
    if (state_ != State::ready || transactional_id_.empty()) {
      return cluster_.end_call(call, KafkaError::make(ErrorCode::invalid_state, "begin_transaction: not ready"));
    }
    if (auto failure = cluster_.scripted(call)) return fail_with(call, failure->error);
    transaction_ = cluster_.transactions_.empty() ? 1 : cluster_.transactions_.rbegin()->first + 1;
    cluster_.transactions_[transaction_].transactional_id = transactional_id_;
    cluster_.transactional_ids_[transactional_id_].open = transaction_;
    state_ = State::in_transaction;
    return cluster_.end_call(call, {});
  }

  KafkaError send_offsets_to_transaction(const std::vector<TopicPartition>& offsets, const kafka::GroupMetadata& group,
                                         std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("producer.send_offsets_to_transaction", id_);
    if (KafkaError error = in_transaction(); !error.ok()) return cluster_.end_call(call, error);
    const auto* metadata = dynamic_cast<const FakeGroupMetadata*>(&group);
    if (metadata == nullptr) throw std::invalid_argument("send_offsets_to_transaction: not a FakeConsumer's metadata");
    auto failure = cluster_.scripted(call);
    if (failure && !failure->after_effect) return fail_with(call, failure->error);
    // KIP-447: the coordinator refuses a zombie's offsets.
    if (metadata->generation >= 0 && metadata->generation != cluster_.generation(metadata->group)) {
      KafkaError error = illegal_generation(metadata->group);
      error.requires_abort = true;
      return fail_with(call, error);
    }
    auto& pending = cluster_.transactions_.at(transaction_).offsets[metadata->group];
    for (const auto& offset : offsets) {
      if (offset.offset >= 0) pending[{offset.topic, offset.partition}] = offset.offset;
    }
    return failure ? fail_with(call, failure->error) : cluster_.end_call(call, {});
  }

  KafkaError commit_transaction(std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("producer.commit_transaction", id_);
    if (state_ == State::committed_unreported && unusable().ok()) {  // a retry after a timeout that had committed
      // ...which may time out again: the outcome stays unknown to the caller for as long as the script says.
      if (auto again = cluster_.scripted(call); again && !again->after_effect) return cluster_.end_call(call, again->error);
      state_ = State::ready;
      return cluster_.end_call(call, {});
    }
    if (KafkaError error = in_transaction(); !error.ok()) return cluster_.end_call(call, error);
    auto failure = cluster_.scripted(call);
    if (failure && !failure->after_effect) return fail_with(call, failure->error);
    deliver_queued();  // like librdkafka, commit flushes first: every record must be acknowledged
    if (KafkaError error = in_transaction(); !error.ok()) return cluster_.end_call(call, error);
    cluster_.end_transaction(transaction_, TransactionState::committed);
    transaction_ = 0;
    state_ = State::ready;
    if (!failure) return cluster_.end_call(call, {});
    state_ = failure->error.fatal ? State::fatal : State::committed_unreported;
    state_error_ = failure->error;
    return cluster_.end_call(call, failure->error);
  }

  KafkaError abort_transaction(std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("producer.abort_transaction", id_);
    if (KafkaError error = unusable(); !error.ok()) return cluster_.end_call(call, error);
    if (state_ != State::in_transaction && state_ != State::abortable) {
      return cluster_.end_call(call, KafkaError::make(ErrorCode::invalid_state, "abort: no open transaction"));
    }
    auto failure = cluster_.scripted(call);
    if (failure && !failure->after_effect) return fail_with(call, failure->error);
    const KafkaError purged = KafkaError::make(ErrorCode::other, "purged: the transaction was aborted");
    for (auto& queued : std::exchange(queue_, {})) {
      if (on_delivery_) on_delivery_(purged, {queued.topic, queued.partition, -1, queued.opaque});
    }
    cluster_.end_transaction(transaction_, TransactionState::aborted);
    transaction_ = 0;
    state_ = State::ready;
    return failure ? fail_with(call, failure->error) : cluster_.end_call(call, {});
  }

  bool fenced() const {
    auto id = cluster_.transactional_ids_.find(transactional_id_);
    return epoch_ >= 0 && id != cluster_.transactional_ids_.end() && epoch_ < id->second.epoch;
  }
  int id() const { return id_; }

 private:
  // librdkafka's transaction states, reduced to what a caller can observe.
  enum class State : std::uint8_t { uninitialized, ready, in_transaction, abortable, committed_unreported, fatal };
  struct Queued {
    std::string topic;
    std::int32_t partition;
    FakeRecord record;
    void* opaque;
  };

  // Invariant (librdkafka): a fatal error (fenced included) is sticky and every call returns it.
  KafkaError unusable() const {
    if (fenced()) {
      KafkaError error = make_error(ErrorCode::fenced, false, true);
      error.message = "fenced: a newer producer has transactional id " + transactional_id_;
      return error;
    }
    return state_ == State::fatal ? state_error_ : KafkaError{};
  }

  // Invariant (librdkafka): in the abortable state only abort_transaction succeeds.
  KafkaError in_transaction() const {
    if (KafkaError error = unusable(); !error.ok()) return error;
    if (state_ == State::abortable) return state_error_;
    if (state_ != State::in_transaction) return KafkaError::make(ErrorCode::invalid_state, "no open transaction");
    return {};
  }

  KafkaError fail_with(std::size_t call, const KafkaError& error) {
    if (error.fatal || (error.requires_abort && state_ == State::in_transaction)) {
      state_ = error.fatal ? State::fatal : State::abortable;
      state_error_ = error;
    }
    return cluster_.end_call(call, error);
  }

  // Serves the delivery report of every record queued so far (not of those a callback produces): a success
  // appends the record to the log, inside its transaction if it has one.
  int deliver_queued() {
    for (const auto& error : cluster_.take_client_errors(id_)) {
      if (callbacks_.error) callbacks_.error(error);
    }
    int served = 0;
    for (std::size_t count = queue_.size(); count > 0 && !queue_.empty(); --count, ++served) {
      Queued queued = std::move(queue_.front());
      queue_.pop_front();
      const std::size_t call = cluster_.begin_call("producer.delivery", id_, queued.topic);
      const std::uint64_t transaction = queued.record.transaction;
      KafkaError error = unusable();
      if (error.ok() && transaction != 0 && cluster_.transaction_state(transaction) != TransactionState::open) {
        error = make_error(ErrorCode::fenced, false, true);  // the broker aborted the transaction meanwhile
      } else if (auto failure = error.ok() ? cluster_.scripted(call) : std::nullopt) {
        error = failure->error;
      }
      kafka::DeliveryReport report{queued.topic, queued.partition, -1, queued.opaque};
      if (error.ok()) {
        report.offset = cluster_.append(queued.topic, queued.partition, std::move(queued.record));
      } else if (transaction != 0 && transaction == transaction_ && state_ == State::in_transaction) {
        state_ = State::abortable;  // librdkafka: a failed delivery makes the transaction abortable
        state_error_ = error;
        state_error_.requires_abort = true;
      }
      cluster_.end_call(call, error);
      if (on_delivery_) on_delivery_(error, report);
    }
    return served;
  }

  FakeCluster& cluster_;
  int id_;
  std::string transactional_id_;
  std::size_t queue_limit_;
  std::size_t max_message_bytes_;
  kafka::ClientCallbacks callbacks_;
  kafka::DeliveryCallback on_delivery_;
  std::deque<Queued> queue_;
  std::int32_t next_partition_ = 0;
  State state_;
  KafkaError state_error_;  // why the state is abortable, fatal or committed_unreported
  std::int32_t epoch_ = -1;
  std::uint64_t transaction_ = 0;  // the open transaction, 0: none
};

// Stateless: every call goes straight to the cluster.
class FakeAdmin final : public kafka::Admin {
 public:
  FakeAdmin(FakeCluster& cluster, kafka::ClientCallbacks callbacks)
      : cluster_(cluster), id_(++cluster.last_client_id_), callbacks_(std::move(callbacks)),
        seen_errors_(0) {}

  KafkaError list_topics(std::vector<kafka::TopicInfo>& topics, std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("admin.list_topics", id_);
    if (auto failure = cluster_.scripted(call)) {
      // Like the librdkafka admin, which serves its error callbacks after a failed metadata request: the
      // client errors broadcast since (e.g. a failed SASL handshake) reach the callback now.
      for (; seen_errors_ < cluster_.broadcast_errors_.size(); ++seen_errors_) {
        if (callbacks_.error) callbacks_.error(cluster_.broadcast_errors_[seen_errors_]);
      }
      return cluster_.end_call(call, failure->error);
    }
    topics = cluster_.list_topics();
    return cluster_.end_call(call, {});
  }

  KafkaError create_topics(const std::vector<kafka::NewTopic>& topics, std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("admin.create_topics", id_);
    auto failure = cluster_.scripted(call);
    if (failure && !failure->after_effect) return cluster_.end_call(call, failure->error);
    for (const auto& topic : topics) {
      if (topic.partitions < 1) return cluster_.end_call(call, KafkaError::make(ErrorCode::other, "no partitions"));
      cluster_.create_topic(topic.name, topic.partitions);
    }
    return cluster_.end_call(call, failure ? failure->error : KafkaError{});
  }

  KafkaError delete_records(const std::vector<TopicPartition>& before, std::chrono::milliseconds) override {
    const std::size_t call = cluster_.begin_call("admin.delete_records", id_);
    auto failure = cluster_.scripted(call);
    if (failure && !failure->after_effect) return cluster_.end_call(call, failure->error);
    KafkaError first;
    for (const auto& offset : before) {
      KafkaError error = cluster_.delete_records(offset.topic, offset.partition, offset.offset);
      if (first.ok()) first = error;
    }
    return cluster_.end_call(call, failure ? failure->error : first);
  }

 private:
  FakeCluster& cluster_;
  int id_;
  kafka::ClientCallbacks callbacks_;
  std::size_t seen_errors_;
};

// ============================== FakeCluster ==============================

void FakeCluster::create_topic(const std::string& topic, std::int32_t partitions) {
  if (partitions < 1) throw std::invalid_argument("create_topic " + topic + ": partitions must be >= 1");
  topics_.try_emplace(topic, static_cast<std::size_t>(partitions));
}

std::int32_t FakeCluster::partition_count(const std::string& topic) const {
  auto found = topics_.find(topic);
  return found == topics_.end() ? 0 : static_cast<std::int32_t>(found->second.size());
}

std::vector<kafka::TopicInfo> FakeCluster::list_topics() const {
  std::vector<kafka::TopicInfo> topics;
  for (const auto& [name, partitions] : topics_) topics.push_back({name, static_cast<std::int32_t>(partitions.size())});
  return topics;
}

std::vector<TopicPartition> FakeCluster::partitions(const std::vector<std::string>& topics) const {
  std::vector<TopicPartition> result;
  for (const auto& topic : topics) {
    for (std::int32_t partition = 0; partition < partition_count(topic); ++partition) {
      result.push_back({topic, partition, kafka::offset_invalid});
    }
  }
  return result;
}

FakeCluster::Partition* FakeCluster::find(const std::string& topic, std::int32_t partition) const {
  auto found = topics_.find(topic);
  if (found == topics_.end() || partition < 0 || partition >= static_cast<std::int32_t>(found->second.size())) {
    return nullptr;
  }
  return &found->second[static_cast<std::size_t>(partition)];
}

FakeCluster::Partition& FakeCluster::at(const std::string& topic, std::int32_t partition) const {
  Partition* found = find(topic, partition);
  if (found == nullptr) throw std::out_of_range("no partition " + topic + "[" + std::to_string(partition) + "]");
  return *found;
}

std::int64_t FakeCluster::append(const std::string& topic, std::int32_t partition, FakeRecord record) {
  Partition& log = at(topic, partition);
  record.offset = static_cast<std::int64_t>(log.log.size());
  if (record.transaction != 0 && !record.control) {
    log.open_transactions.try_emplace(record.transaction, record.offset);
    transactions_.at(record.transaction).partitions.insert({topic, partition});
  }
  log.log.push_back(std::move(record));
  return log.log.back().offset;
}

std::int64_t FakeCluster::produce(const std::string& topic, std::int32_t partition, std::optional<std::string> key,
                                  std::optional<std::string> value, std::int64_t timestamp_ms,
                                  std::vector<core::Header> headers) {
  return append(topic, partition, FakeRecord{0, std::move(key), std::move(value), timestamp_ms, std::move(headers), false, 0});
}

// Invariant (Kafka's LSO): a read_committed reader sees an offset only below the first offset of every
// transaction still open on the partition, and never a marker or a record of an aborted transaction.
std::int64_t FakeCluster::stable_offset(const Partition& partition) {
  std::int64_t stable = static_cast<std::int64_t>(partition.log.size());
  for (const auto& [transaction, first] : partition.open_transactions) stable = std::min(stable, first);
  return stable;
}

std::int64_t FakeCluster::last_stable_offset(const std::string& topic, std::int32_t partition) const {
  return stable_offset(at(topic, partition));
}

bool FakeCluster::visible_committed(const FakeRecord& record) const {
  if (record.control) return false;
  return record.transaction == 0 || transactions_.at(record.transaction).state == TransactionState::committed;
}

std::vector<FakeRecord> FakeCluster::read_committed(const std::string& topic) const {
  std::vector<FakeRecord> result;
  for (std::int32_t partition = 0; partition < partition_count(topic); ++partition) {
    const Partition& log = at(topic, partition);
    for (std::int64_t offset = log.start_offset; offset < stable_offset(log); ++offset) {
      const FakeRecord& record = log.log[static_cast<std::size_t>(offset)];
      if (visible_committed(record)) result.push_back(record);
    }
  }
  return result;
}

std::vector<FakeRecord> FakeCluster::records(const std::string& topic, std::int32_t partition) const {
  const Partition& log = at(topic, partition);
  std::vector<FakeRecord> result;
  std::copy_if(log.log.begin() + log.start_offset, log.log.end(), std::back_inserter(result),
               [](const FakeRecord& record) { return !record.control; });
  return result;
}

std::int64_t FakeCluster::end_offset(const std::string& topic, std::int32_t partition) const {
  return static_cast<std::int64_t>(at(topic, partition).log.size());
}

std::int64_t FakeCluster::start_offset(const std::string& topic, std::int32_t partition) const {
  return at(topic, partition).start_offset;
}

KafkaError FakeCluster::delete_records(const std::string& topic, std::int32_t partition, std::int64_t before) {
  Partition* log = find(topic, partition);
  if (log == nullptr) return KafkaError::make(ErrorCode::unknown_topic, "delete_records: unknown " + topic);
  const auto high = static_cast<std::int64_t>(log->log.size());
  if (before == kafka::offset_end) before = high;
  if (before < 0 || before > high) {
    return KafkaError::make(ErrorCode::offset_out_of_range, "delete_records: " + std::to_string(before) +
                                                                " is beyond the high watermark " + std::to_string(high));
  }
  log->start_offset = std::max(log->start_offset, before);
  return {};
}

TransactionState FakeCluster::transaction_state(std::uint64_t transaction) const {
  return transactions_.at(transaction).state;
}

// Invariant: a transaction's records on a partition become visible when its marker there is written; its offsets
// when it is decided (the marker on __consumer_offsets), which held markers (hold_markers) let come first.
void FakeCluster::end_transaction(std::uint64_t transaction, TransactionState outcome) {
  Transaction& ending = transactions_.at(transaction);
  if (ending.state != TransactionState::open) return;
  ending.state = outcome;
  for (const auto& [topic, partition] : ending.partitions) {
    if (held_partitions_.count({topic, partition}) != 0) {
      held_markers_.push_back({transaction, {topic, partition}});
      continue;
    }
    write_marker(transaction, topic, partition);
  }
  if (outcome == TransactionState::committed) {
    for (const auto& [group, offsets] : ending.offsets) {
      for (const auto& [partition, offset] : offsets) groups_[group].committed[partition] = offset;
    }
  }
  auto id = transactional_ids_.find(ending.transactional_id);
  if (id != transactional_ids_.end() && id->second.open == transaction) id->second.open = 0;
}

void FakeCluster::write_marker(std::uint64_t transaction, const std::string& topic, std::int32_t partition) {
  at(topic, partition).open_transactions.erase(transaction);
  append(topic, partition, FakeRecord{0, {}, {}, 0, {}, true, transaction});
}

void FakeCluster::hold_markers(const std::string& topic, std::int32_t partition) {
  held_partitions_.insert({topic, partition});
}

void FakeCluster::release_markers() {
  held_partitions_.clear();
  for (const auto& [transaction, where] : std::exchange(held_markers_, {})) {
    write_marker(transaction, where.first, where.second);
  }
}

void FakeCluster::expire_transaction(const std::string& transactional_id) {
  TransactionalId& id = transactional_ids_[transactional_id];
  if (id.open != 0) end_transaction(id.open, TransactionState::aborted);
  ++id.epoch;
}

std::optional<std::int64_t> FakeCluster::committed(const std::string& group, const std::string& topic,
                                                   std::int32_t partition) const {
  auto found = groups_.find(group);
  if (found == groups_.end()) return std::nullopt;
  auto offset = found->second.committed.find({topic, partition});
  return offset == found->second.committed.end() ? std::nullopt : std::optional<std::int64_t>(offset->second);
}

void FakeCluster::set_committed(const std::string& group, const std::string& topic, std::int32_t partition,
                                std::int64_t offset) {
  groups_[group].committed[{topic, partition}] = offset;
}

std::int32_t FakeCluster::generation(const std::string& group) const {
  auto found = groups_.find(group);
  return found == groups_.end() ? Group{}.generation : found->second.generation;
}

void FakeCluster::bump_generation(const std::string& group) { ++groups_[group].generation; }

namespace {
template <typename Fake, typename Base>
Fake& fake(const Base& client) {
  const auto* found = dynamic_cast<const Fake*>(&client);
  if (found == nullptr) throw std::invalid_argument("not a client of the fake Kafka");
  return const_cast<Fake&>(*found);
}
}  // namespace

int FakeCluster::client_id(const kafka::Consumer& consumer) const { return fake<FakeConsumer>(consumer).id(); }
int FakeCluster::client_id(const kafka::Producer& producer) const { return fake<FakeProducer>(producer).id(); }
std::vector<TopicPartition> FakeCluster::assignment(const kafka::Consumer& consumer) const {
  return fake<FakeConsumer>(consumer).assignment();
}
bool FakeCluster::paused(const kafka::Consumer& consumer, const std::string& topic, std::int32_t partition) const {
  return fake<FakeConsumer>(consumer).paused(topic, partition);
}
bool FakeCluster::fenced(const kafka::Producer& producer) const { return fake<FakeProducer>(producer).fenced(); }

void FakeCluster::assign(const kafka::Consumer& consumer, std::vector<TopicPartition> partitions) {
  events_[client_id(consumer)].push_back({EventKind::assign, std::move(partitions)});
}

void FakeCluster::revoke(const kafka::Consumer& consumer) { events_[client_id(consumer)].push_back({EventKind::revoke, {}}); }

void FakeCluster::lose(const kafka::Consumer& consumer) {
  events_[client_id(consumer)].push_back({EventKind::lose, {}});
  auto metadata = consumer.group_metadata();
  bump_generation(dynamic_cast<const FakeGroupMetadata&>(*metadata).group);
}

void FakeCluster::client_error(const KafkaError& error) {
  broadcast_errors_.push_back(error);
  for (const auto& [id, consumer] : consumers_) client_errors_[id].push_back(error);
  for (const auto& [id, producer] : producers_) client_errors_[id].push_back(error);
}

std::vector<KafkaError> FakeCluster::take_client_errors(int client) {
  auto found = client_errors_.find(client);
  if (found == client_errors_.end()) return {};
  auto errors = std::move(found->second);
  client_errors_.erase(found);
  return errors;
}

void FakeCluster::fail(const std::string& call, KafkaError error, int count) {
  fail(call, ScriptedFailure{std::move(error), count, {}, false});
}

void FakeCluster::fail(const std::string& call, ScriptedFailure failure) {
  if (std::find(known_calls.begin(), known_calls.end(), call) == known_calls.end()) {
    throw std::invalid_argument("FakeCluster::fail: unknown call '" + call + "'");
  }
  if (failure.error.ok()) throw std::invalid_argument("FakeCluster::fail: the scripted error has code none");
  if (failure.count > 0) script_.emplace_back(call, std::move(failure));
}

void FakeCluster::fail_after_effect(const std::string& call, KafkaError error, int count) {
  fail(call, ScriptedFailure{std::move(error), count, {}, true});
}

std::size_t FakeCluster::scripted_failures_left() const {
  std::size_t left = 0;
  for (const auto& [call, failure] : script_) left += static_cast<std::size_t>(failure.count);
  return left;
}

std::size_t FakeCluster::calls(std::string_view call) const {
  return static_cast<std::size_t>(
      std::count_if(call_log_.begin(), call_log_.end(), [&](const CallRecord& record) { return record.call == call; }));
}

std::size_t FakeCluster::calls(std::string_view call, int client) const {
  return static_cast<std::size_t>(std::count_if(call_log_.begin(), call_log_.end(), [&](const CallRecord& record) {
    return record.call == call && record.client == client;
  }));
}

std::size_t FakeCluster::begin_call(std::string call, int client, std::string topic) {
  call_log_.push_back({std::move(call), client, std::move(topic)});
  return call_log_.size() - 1;
}

KafkaError FakeCluster::end_call(std::size_t call, KafkaError error) {
  call_log_[call].result = error.code;
  return error;
}

std::optional<ScriptedFailure> FakeCluster::scripted(std::size_t call) {
  CallRecord& record = call_log_[call];
  for (auto it = script_.begin(); it != script_.end(); ++it) {
    if (it->first != record.call || (!it->second.topic.empty() && it->second.topic != record.topic)) continue;
    ScriptedFailure failure = it->second;
    if (--it->second.count <= 0) script_.erase(it);
    record.scripted = true;
    record.result = failure.error.code;
    return failure;
  }
  return std::nullopt;
}

// ============================== FakeClientFactory ==============================

void FakeClientFactory::fail_next_creation(std::string kind, std::string message) {
  fail_next_ = std::make_pair(std::move(kind), std::move(message));
}

void FakeClientFactory::maybe_throw(std::string_view kind) {
  if (fail_next_ && (fail_next_->first.empty() || fail_next_->first == kind)) {
    const std::string message = std::exchange(fail_next_, std::nullopt)->second;
    throw kafka::ConfigError(message);
  }
}

std::unique_ptr<kafka::Consumer> FakeClientFactory::consumer(const kafka::Config& config,
                                                              kafka::ClientCallbacks callbacks,
                                                              kafka::RebalanceListener* listener) {
  maybe_throw("consumer");
  auto consumer = std::make_unique<FakeConsumer>(cluster_, config, std::move(callbacks), listener);
  consumer_ids_.push_back(consumer->id());
  consumer_configs_.push_back(config);
  return consumer;
}

std::unique_ptr<kafka::Producer> FakeClientFactory::producer(const kafka::Config& config,
                                                              kafka::ClientCallbacks callbacks,
                                                              kafka::DeliveryCallback on_delivery) {
  maybe_throw("producer");
  auto producer = std::make_unique<FakeProducer>(cluster_, config, std::move(callbacks), std::move(on_delivery));
  producer_ids_.push_back(producer->id());
  producer_configs_.push_back(config);
  return producer;
}

std::unique_ptr<kafka::Admin> FakeClientFactory::admin(const kafka::Config&, kafka::ClientCallbacks callbacks) {
  maybe_throw("admin");
  ++admins_created_;
  return std::make_unique<FakeAdmin>(cluster_, std::move(callbacks));
}

kafka::Consumer* FakeClientFactory::consumer(std::size_t index) const {
  if (index >= consumer_ids_.size()) return nullptr;
  auto found = cluster_.consumers_.find(consumer_ids_[index]);
  return found == cluster_.consumers_.end() ? nullptr : found->second;
}

kafka::Producer* FakeClientFactory::producer(std::size_t index) const {
  if (index >= producer_ids_.size()) return nullptr;
  auto found = cluster_.producers_.find(producer_ids_[index]);
  return found == cluster_.producers_.end() ? nullptr : found->second;
}

}  // namespace sluice::testing
