#include "sluice/runtime/processor.hpp"

#include <algorithm>
#include <thread>

namespace sluice::runtime {

using namespace std::chrono_literals;

void Health::set_ready(bool ready, std::string reason) {
  std::lock_guard lock(mutex_);
  ready_.store(ready);
  reason_ = std::move(reason);
}

std::string Health::reason() const {
  std::lock_guard lock(mutex_);
  return reason_;
}

namespace {

constexpr std::string_view component = "runtime";

std::int64_t monotonic_ms(const core::Clock& clock) { return clock.monotonic_ns() / 1'000'000; }

}  // namespace

Processor::Processor(const Pipeline& pipeline, ProcessorOptions options, observe::Metrics& metrics,
                     observe::Logger& logger, const core::Clock& clock, Health& health)
    : pipeline_(pipeline),
      options_(std::move(options)),
      metrics_(metrics),
      logger_(logger),
      clock_(clock),
      health_(health),
      state_(clock) {
  const auto& topology = pipeline_.topology();
  for (const auto& source : topology.sources) consumed_by_source_.push_back(&metrics_.consumed(source.topic));
  for (const auto& sink : topology.sinks) produced_by_topic_.emplace(sink.topic, &metrics_.produced(sink.topic));
  produced_by_topic_.emplace(topology.dead_letter_topic, &metrics_.produced(topology.dead_letter_topic));
}

Processor::~Processor() = default;

kafka::ClientCallbacks Processor::client_callbacks(std::string name) {
  kafka::ClientCallbacks callbacks;
  callbacks.log = [this, name](int level, std::string_view facility, std::string_view message) {
    // librdkafka syslog levels: 0-3 error, 4 warning, 5-6 info/notice, 7 debug.
    observe::LogLevel mapped = level <= 3 ? observe::LogLevel::error
                               : level == 4 ? observe::LogLevel::warn
                               : level <= 6 ? observe::LogLevel::info
                                            : observe::LogLevel::debug;
    logger_.log(mapped, "kafka", name + " " + std::string(facility) + ": " + std::string(message));
  };
  callbacks.error = [this, name](const kafka::KafkaError& error) {
    if (error.code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || error.code == RD_KAFKA_RESP_ERR__RESOLVE) {
      cluster_unreachable_ = true;
      health_.set_ready(false, "cluster unreachable: " + error.message);
    }
    if (error.fatal) fatal_error_ = true;
    logger_.log(error.fatal ? observe::LogLevel::error : observe::LogLevel::warn, "kafka",
                name + " error: " + error.message);
  };
  return callbacks;
}

bool Processor::wait_for_cluster(const std::atomic<bool>& stop_requested, std::vector<kafka::TopicInfo>& topics) {
  kafka::Config config = options_.kafka;
  config["bootstrap.servers"] = options_.bootstrap_servers;
  kafka::Admin admin(config, client_callbacks("admin"));
  auto backoff = 100ms;
  for (int attempt = 1;; ++attempt) {
    if (stop_requested) return false;
    health_.beat(monotonic_ms(clock_));
    kafka::KafkaError error = admin.list_topics(topics, 5s);
    if (error.ok()) return true;
    health_.set_ready(false, "cluster unreachable at " + options_.bootstrap_servers + ": " + error.message);
    logger_.warn(component, "cannot reach the Kafka cluster at " + options_.bootstrap_servers + " (attempt " +
                                 std::to_string(attempt) + "): " + error.message + "; retrying in " +
                                 std::to_string(backoff.count()) + " ms");
    // Sleep in short slices so SIGTERM is honoured promptly while backing off.
    auto until = std::chrono::steady_clock::now() + backoff;
    while (!stop_requested && std::chrono::steady_clock::now() < until) {
      health_.beat(monotonic_ms(clock_));
      std::this_thread::sleep_for(50ms);
    }
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, options_.startup_backoff_max);
  }
}

bool Processor::prepare_topics(const std::vector<kafka::TopicInfo>& topics) {
  const auto& topology = pipeline_.topology();
  auto partitions_of = [&](const std::string& name) -> std::int32_t {
    for (const auto& topic : topics) {
      if (topic.name == name) return topic.partitions;
    }
    return 0;
  };
  bool missing_source = false;
  std::int32_t largest_source = 1;
  for (const auto& source : topology.sources) {
    std::int32_t partitions = partitions_of(source.topic);
    if (partitions == 0) {
      logger_.error(component, source.pointer + "/topic: topic \"" + source.topic +
                                   "\" does not exist on the cluster at " + options_.bootstrap_servers +
                                   "; create it, or fix the source's topic");
      missing_source = true;
    }
    largest_source = std::max(largest_source, partitions);
  }
  if (missing_source) return false;

  std::vector<kafka::NewTopic> to_create;
  auto want = [&](const std::string& topic, const std::string& pointer) {
    if (partitions_of(topic) > 0) return;
    for (const auto& pending : to_create) {
      if (pending.name == topic) return;
    }
    if (!options_.create_output_topics) {
      logger_.warn(component, pointer + ": topic \"" + topic +
                                  "\" does not exist and create_output_topics is false; writes to it will fail");
      return;
    }
    kafka::NewTopic created;
    created.name = topic;
    created.partitions = options_.output_topic_partitions > 0 ? options_.output_topic_partitions : largest_source;
    to_create.push_back(std::move(created));
  };
  for (const auto& sink : topology.sinks) want(sink.topic, sink.pointer + "/topic");
  want(topology.dead_letter_topic, "/dead_letter_topic");
  if (to_create.empty()) return true;
  kafka::Config config = options_.kafka;
  config["bootstrap.servers"] = options_.bootstrap_servers;
  kafka::Admin admin(config, client_callbacks("admin"));
  kafka::KafkaError error = admin.create_topics(to_create, 30s);
  std::string names;
  for (const auto& topic : to_create) names += (names.empty() ? "" : ", ") + topic.name;
  if (!error.ok()) {
    // Not fatal: the cluster may forbid creation while the topics are provisioned elsewhere.
    logger_.warn(component, "could not create output topics (" + names + "): " + error.message);
  } else {
    logger_.info(component, "created output topics: " + names);
  }
  return true;
}

void Processor::create_clients() {
  const auto& topology = pipeline_.topology();
  kafka::Config consumer_config = options_.kafka;
  consumer_config["bootstrap.servers"] = options_.bootstrap_servers;
  consumer_config["group.id"] = topology.application_id;
  // Eager assignor: librdkafka 2.0.2's cooperative-sticky has known bugs (fixed in 2.3-2.6).
  consumer_config["partition.assignment.strategy"] = "range";
  consumer_config["enable.auto.commit"] = "false";
  consumer_config["enable.auto.offset.store"] = "false";
  consumer_config.try_emplace("auto.offset.reset", "earliest");
  consumer_config["isolation.level"] = "read_committed";
  consumer_config["enable.partition.eof"] = "false";
  consumer_config["queued.max.messages.kbytes"] = std::to_string(options_.consumer_queue_max_kbytes);
  consumer_config["max.poll.interval.ms"] = std::to_string(options_.max_poll_interval.count());
  consumer_config["session.timeout.ms"] = std::to_string(options_.session_timeout.count());
  consumer_config.try_emplace("client.id", "sluice-" + topology.application_id);
  if (!options_.instance_id.empty()) consumer_config["group.instance.id"] = options_.instance_id;
  consumer_ = std::make_unique<kafka::Consumer>(consumer_config, client_callbacks("consumer"), this);

  kafka::Config producer_config = options_.kafka;
  producer_config["bootstrap.servers"] = options_.bootstrap_servers;
  producer_config.try_emplace("enable.idempotence", "true");  // no duplicates from producer retries
  producer_config.try_emplace("acks", "all");
  // The Java client's partitioner, so keys land where Kafka Streams and other clients put them.
  producer_config.try_emplace("partitioner", "murmur2_random");
  producer_config.try_emplace("linger.ms", "5");
  producer_config.try_emplace("client.id", "sluice-" + topology.application_id);
  producer_config["queue.buffering.max.messages"] = std::to_string(options_.producer_queue_max_records);
  producer_ = std::make_unique<kafka::Producer>(
      producer_config, client_callbacks("producer"), [this](const kafka::KafkaError& error, std::string_view topic) {
        if (error.ok()) {
          if (auto it = produced_by_topic_.find(topic); it != produced_by_topic_.end()) {
            it->second->Increment();
          }
          return;
        }
        // The inputs behind this output must be processed again: rewind at the next commit point.
        if (!delivery_failed_) {
          logger_.error(component, "output to " + std::string(topic) + " failed: " + error.message +
                                       "; the inputs since the last commit will be processed again");
        }
        delivery_failed_ = true;
        metrics_.delivery_failures().Increment();
      });
}

RunOutcome Processor::run(const std::atomic<bool>& stop_requested) {
  health_.beat(monotonic_ms(clock_));
  health_.set_ready(false, "connecting to " + options_.bootstrap_servers);
  std::vector<kafka::TopicInfo> topics;
  if (!wait_for_cluster(stop_requested, topics)) return RunOutcome::stopped;
  if (!prepare_topics(topics)) return RunOutcome::config_error;
  create_clients();
  kafka::KafkaError error = consumer_->subscribe(pipeline_.source_topics());
  if (!error.ok()) {
    logger_.error(component, "cannot subscribe: " + error.message);
    return RunOutcome::fatal;
  }
  health_.set_ready(false, "joining consumer group " + pipeline_.topology().application_id);
  logger_.info(component, "joining consumer group " + pipeline_.topology().application_id + " at " +
                              options_.bootstrap_servers);

  std::int64_t next_commit_ms = monotonic_ms(clock_) + options_.commit_interval.count();
  std::int64_t next_gauges_ms = 0;
  while (!stop_requested && !fatal_error_) {
    std::int64_t now = monotonic_ms(clock_);
    health_.beat(now);
    auto wait = std::chrono::milliseconds(std::clamp<std::int64_t>(next_commit_ms - now, 0, 100));
    kafka::Message message = consumer_->poll(wait);
    if (message) {
      if (message.error() == RD_KAFKA_RESP_ERR_NO_ERROR) {
        process(message);
      } else if (message.error() != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        logger_.warn(component, "consumer: " + message.error_message());
      }
    }
    producer_->poll(0ms);
    now = monotonic_ms(clock_);
    if (now >= next_commit_ms) {
      commit("interval");
      next_commit_ms = now + options_.commit_interval.count();
    }
    if (now >= next_gauges_ms) {
      update_gauges();
      next_gauges_ms = now + 1000;
    }
  }

  bool fatal = fatal_error_.load();
  logger_.info(component, fatal ? "stopping after a fatal client error" : "stopping: committing and leaving the group");
  health_.set_ready(false, "shutting down");
  if (!fatal) commit("shutdown");
  consumer_->close();  // revokes the assignment through on_partitions_revoked (which commits nothing new)
  error = producer_->flush(options_.shutdown_timeout);
  if (!error.ok()) logger_.error(component, "outputs not acknowledged at shutdown: " + error.message);
  logger_.info(component, "stopped");
  return fatal ? RunOutcome::fatal : RunOutcome::stopped;
}

void Processor::process(const kafka::Message& message) {
  std::int64_t started = clock_.monotonic_ns();
  std::string_view topic = message.topic();
  auto source = pipeline_.source_for_topic(topic);
  if (!source) return;  // cannot happen: we subscribe to source topics only
  core::Origin origin;
  origin.topic = topic;
  origin.partition = message.partition();
  origin.offset = message.offset();
  origin.has_key = message.has_key();
  origin.raw_key = message.key();
  origin.has_value = message.has_value();
  origin.raw_value = message.value();
  // The pipeline runs synchronously: the message (and so the Origin's views) outlives it.
  (void)pipeline_.process(*source, origin, message.timestamp_ms(), message.headers(), state_, *this);
  auto pending = pending_offsets_.find(topic);
  if (pending == pending_offsets_.end()) pending = pending_offsets_.try_emplace(std::string(topic)).first;
  pending->second[message.partition()] = message.offset() + 1;
  consumed_by_source_[*source]->Increment();
  metrics_.processing_latency().Observe(static_cast<double>(clock_.monotonic_ns() - started) / 1e9);
}

void Processor::send(std::size_t, const OutputRecord& record) {
  for (;;) {
    kafka::KafkaError error = producer_->produce(record.topic, record.key, record.value, record.timestamp_ms,
                                                 record.headers);
    if (error.ok()) return;
    if (error.code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // Back-pressure: the producer queue is bounded (producer_queue_max_records); wait for acknowledgements.
      producer_->poll(10ms);
      continue;
    }
    logger_.error(component, "cannot produce to " + std::string(record.topic) + ": " + error.message);
    delivery_failed_ = true;
    metrics_.delivery_failures().Increment();
    return;
  }
}

void Processor::on_dead_letter(std::string_view operator_name, core::RecordErrorKind kind) {
  metrics_.dead_lettered(operator_name, core::to_string(kind)).Increment();
}

void Processor::on_discarded(std::string_view operator_name) { metrics_.discarded(operator_name).Increment(); }

bool Processor::commit(const char* why) {
  if (pending_offsets_.empty() && !delivery_failed_) return true;
  std::int64_t started = clock_.monotonic_ns();
  // Outputs first: an input offset may be committed only once everything it produced is acknowledged.
  kafka::KafkaError error = producer_->flush(options_.max_poll_interval / 2);
  if (!error.ok()) {
    logger_.warn(component, std::string("commit (") + why + ") waits for outputs: " + error.message);
    metrics_.commit_failures().Increment();
    return false;  // offsets stay pending; retried at the next commit point
  }
  if (delivery_failed_) {
    rewind_to_committed();
    metrics_.commit_failures().Increment();
    return false;
  }
  std::vector<kafka::TopicPartition> offsets;
  for (const auto& [topic, partitions] : pending_offsets_) {
    for (const auto& [partition, offset] : partitions) offsets.push_back({topic, partition, offset});
  }
  error = consumer_->commit(offsets);
  if (!error.ok()) {
    logger_.warn(component, std::string("offset commit (") + why + ") failed: " + error.message +
                                (error.retriable ? "; will retry" : ""));
    metrics_.commit_failures().Increment();
    return false;
  }
  for (const auto& offset : offsets) committed_offsets_[{offset.topic, offset.partition}] = offset.offset;
  pending_offsets_.clear();
  metrics_.commits().Increment();
  metrics_.commit_latency().Observe(static_cast<double>(clock_.monotonic_ns() - started) / 1e9);
  if (cluster_unreachable_ && in_group_) {
    cluster_unreachable_ = false;
    health_.set_ready(true, "processing");
  }
  return true;
}

void Processor::rewind_to_committed() {
  // At-least-once after a failed output: re-read every partition from its last committed offset.
  std::vector<kafka::TopicPartition> positions;
  for (const auto& partition : assignment_) positions.push_back({partition.topic, partition.partition, RD_KAFKA_OFFSET_INVALID});
  kafka::KafkaError error = consumer_->committed(positions, 10s);
  if (!error.ok()) {
    logger_.error(component, "cannot read committed offsets to rewind: " + error.message);
    fatal_error_ = true;  // continuing could skip inputs whose outputs were lost
    return;
  }
  for (auto& position : positions) {
    if (position.offset < 0) position.offset = RD_KAFKA_OFFSET_BEGINNING;
    kafka::KafkaError seek_error = consumer_->seek(position, 10s);
    if (!seek_error.ok()) {
      logger_.error(component, "cannot rewind " + position.topic + "[" + std::to_string(position.partition) +
                                   "]: " + seek_error.message);
      fatal_error_ = true;
      return;
    }
  }
  pending_offsets_.clear();
  delivery_failed_ = false;
  logger_.warn(component, "rewound " + std::to_string(positions.size()) + " partitions to their committed offsets");
}

void Processor::on_partitions_revoked(const std::vector<kafka::TopicPartition>& partitions) {
  metrics_.rebalances("revoked").Increment();
  in_group_ = false;
  health_.set_ready(false, "rebalancing");
  logger_.info(component, "partitions revoked: " + std::to_string(partitions.size()));
  commit("revoke");
  pending_offsets_.clear();  // a failed commit here means redelivery to the next owner: at-least-once
  for (const auto& partition : assignment_) metrics_.remove_lag(partition.topic, partition.partition);
  assignment_.clear();
  committed_offsets_.clear();
  metrics_.assigned_partitions().Set(0);
}

void Processor::on_partitions_lost(const std::vector<kafka::TopicPartition>& partitions) {
  metrics_.rebalances("lost").Increment();
  in_group_ = false;
  health_.set_ready(false, "assignment lost");
  logger_.warn(component, "assignment lost (" + std::to_string(partitions.size()) +
                              " partitions); uncommitted inputs will be processed again by their new owner");
  (void)producer_->flush(5s);
  pending_offsets_.clear();
  delivery_failed_ = false;
  for (const auto& partition : assignment_) metrics_.remove_lag(partition.topic, partition.partition);
  assignment_.clear();
  committed_offsets_.clear();
  metrics_.assigned_partitions().Set(0);
}

void Processor::on_partitions_assigned(const std::vector<kafka::TopicPartition>& partitions) {
  metrics_.rebalances("assigned").Increment();
  assignment_ = partitions;
  metrics_.assigned_partitions().Set(static_cast<double>(partitions.size()));
  std::string list;
  for (const auto& partition : partitions) {
    list += (list.empty() ? "" : ", ") + partition.topic + "[" + std::to_string(partition.partition) + "]";
  }
  logger_.info(component, "partitions assigned (" + std::to_string(partitions.size()) + "): " + list);
  cluster_unreachable_ = false;
  in_group_ = true;
  health_.set_ready(true, "processing");
}

void Processor::update_gauges() {
  metrics_.producer_queue().Set(producer_->queue_length());
  for (const auto& partition : assignment_) {
    auto high = consumer_->cached_high_watermark(partition.topic, partition.partition);
    if (!high) continue;
    auto position = consumer_->position(partition.topic, partition.partition);
    std::int64_t consumed = position ? *position : 0;
    if (!position) {
      if (auto it = committed_offsets_.find({partition.topic, partition.partition}); it != committed_offsets_.end()) {
        consumed = it->second;
      }
    }
    metrics_.set_lag(partition.topic, partition.partition, static_cast<double>(std::max<std::int64_t>(0, *high - consumed)));
  }
  // While the cluster is unreachable, probe it once a second so /readyz recovers even without traffic.
  if (cluster_unreachable_) {
    std::int64_t now = monotonic_ms(clock_);
    if (now - last_unreachable_probe_ms_ >= 1000) {
      last_unreachable_probe_ms_ = now;
      const rd_kafka_metadata_t* metadata = nullptr;
      if (rd_kafka_metadata(producer_->handle(), 0, nullptr, &metadata, 500) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(metadata);
        cluster_unreachable_ = false;
        if (in_group_) health_.set_ready(true, "processing");
        logger_.info(component, "cluster reachable again");
      }
    }
  }
}

}  // namespace sluice::runtime
