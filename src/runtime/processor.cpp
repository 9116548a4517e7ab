#include "sluice/runtime/processor.hpp"

#include <algorithm>
#include <cstdint>
#include <set>
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
      state_(clock),
      component_(options_.thread_index > 0 ? "runtime-" + std::to_string(options_.thread_index) : "runtime") {
  const auto& topology = pipeline_.topology();
  for (const auto& source : pipeline_.sources()) consumed_by_source_.push_back(&metrics_.consumed(source.topic));
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
    logger_.warn(component_, "cannot reach the Kafka cluster at " + options_.bootstrap_servers + " (attempt " +
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
  bool ok = true;
  std::int32_t largest_source = 1;
  for (const auto& source : topology.sources) {
    std::int32_t partitions = partitions_of(source.topic);
    if (partitions == 0) {
      logger_.error(component_, source.pointer + "/topic: topic \"" + source.topic +
                                   "\" does not exist on the cluster at " + options_.bootstrap_servers +
                                   "; create it, or fix the source's topic");
      ok = false;
    }
    largest_source = std::max(largest_source, partitions);
  }
  if (!ok) return false;

  // Partitions per sub-topology: its user sources must agree (co-partitioning: a key must land in the same
  // task whichever topic it came from); a sub-topology fed only by repartition topics gets the count of the
  // sub-topology writing them (tasks then line up one to one).
  const int subtopologies = std::max(1, pipeline_.subtopology_count());
  subtopology_partitions_.assign(static_cast<std::size_t>(subtopologies), 0);
  for (const auto& subtopology : topology.subtopologies) {
    for (std::size_t index : subtopology.sources) {
      const auto& source = topology.sources[index];
      std::int32_t partitions = partitions_of(source.topic);
      std::int32_t& count = subtopology_partitions_[static_cast<std::size_t>(subtopology.id)];
      if (count != 0 && count != partitions) {
        logger_.error(component_, source.pointer + "/topic: topic \"" + source.topic + "\" has " +
                                     std::to_string(partitions) + " partitions but the other sources of sub-topology " +
                                     std::to_string(subtopology.id) + " have " + std::to_string(count) +
                                     "; sources joined in one sub-topology must have equal partition counts");
        ok = false;
      }
      count = partitions;
    }
  }
  if (topology.subtopologies.empty()) subtopology_partitions_[0] = largest_source;
  for (const auto& operator_spec : topology.operators) {
    if (!operator_spec.repartition_topic) continue;
    for (const auto& internal : topology.internal_topics) {
      if (internal.name != *operator_spec.repartition_topic) continue;
      std::int32_t& count = subtopology_partitions_[static_cast<std::size_t>(internal.subtopology)];
      count = std::max(count, largest_source);
    }
  }
  for (auto& count : subtopology_partitions_) count = std::max(count, 1);
  if (!ok) return false;

  std::vector<kafka::NewTopic> to_create;
  for (const auto& internal : topology.internal_topics) {
    std::int32_t wanted = subtopology_partitions_[static_cast<std::size_t>(internal.subtopology)];
    std::int32_t existing = partitions_of(internal.name);
    if (existing != 0 && existing != wanted) {
      logger_.error(component_, "internal topic \"" + internal.name + "\" has " + std::to_string(existing) +
                                   " partitions but the topology needs " + std::to_string(wanted) +
                                   " (the partitions of its sub-topology's sources); delete it (its state is rebuilt "
                                   "from the inputs) or restore the source partition counts");
      ok = false;
      continue;
    }
    if (existing == 0) {
      kafka::NewTopic created;
      created.name = internal.name;
      created.partitions = wanted;
      created.configs = internal.configs;
      to_create.push_back(std::move(created));
    }
  }
  if (!ok) return false;
  auto want_output = [&](const std::string& topic, const std::string& pointer) {
    if (partitions_of(topic) > 0) return;
    for (const auto& pending : to_create) {
      if (pending.name == topic) return;
    }
    if (!options_.create_output_topics) {
      logger_.warn(component_, pointer + ": topic \"" + topic +
                                  "\" does not exist and create_output_topics is false; writes to it will fail");
      return;
    }
    kafka::NewTopic created;
    created.name = topic;
    created.partitions = options_.output_topic_partitions > 0 ? options_.output_topic_partitions : largest_source;
    to_create.push_back(std::move(created));
  };
  for (const auto& sink : topology.sinks) want_output(sink.topic, sink.pointer + "/topic");
  want_output(topology.dead_letter_topic, "/dead_letter_topic");
  if (to_create.empty()) return true;
  kafka::Config config = options_.kafka;
  config["bootstrap.servers"] = options_.bootstrap_servers;
  kafka::Admin admin(config, client_callbacks("admin"));
  kafka::KafkaError error = admin.create_topics(to_create, 30s);
  std::string names;
  for (const auto& topic : to_create) names += (names.empty() ? "" : ", ") + topic.name;
  if (!error.ok()) {
    // Output topics may be provisioned elsewhere; internal topics are needed, and their absence shows at once.
    logger_.warn(component_, "could not create topics (" + names + "): " + error.message);
    return true;
  }
  logger_.info(component_, "created topics: " + names);
  // Creation is asynchronous on the brokers: wait (bounded) until metadata shows every new partition.
  for (auto deadline = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < deadline;) {
    std::vector<kafka::TopicInfo> now_known;
    if (admin.list_topics(now_known, 5s).ok()) {
      std::size_t visible = 0;
      for (const auto& wanted : to_create) {
        for (const auto& topic : now_known) visible += topic.name == wanted.name && topic.partitions == wanted.partitions;
      }
      if (visible == to_create.size()) break;
    }
    std::this_thread::sleep_for(100ms);  // polling the brokers' metadata with a deadline
  }
  return true;
}

void Processor::create_clients() {
  const auto& topology = pipeline_.topology();
  const std::string client_id = "sluice-" + topology.application_id +
                                (options_.thread_index > 0 ? "-" + std::to_string(options_.thread_index) : "");
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
  consumer_config.try_emplace("client.id", client_id);
  if (!options_.instance_id.empty()) consumer_config["group.instance.id"] = options_.instance_id;
  consumer_ = std::make_unique<kafka::Consumer>(consumer_config, client_callbacks("consumer"), this);

  kafka::Config producer_config = options_.kafka;
  producer_config["bootstrap.servers"] = options_.bootstrap_servers;
  producer_config.try_emplace("enable.idempotence", "true");  // no duplicates from producer retries
  producer_config.try_emplace("acks", "all");
  // The Java client's partitioner, so keys land where Kafka Streams and other clients put them.
  producer_config.try_emplace("partitioner", "murmur2_random");
  producer_config.try_emplace("linger.ms", "5");
  producer_config.try_emplace("client.id", client_id);
  producer_config["queue.buffering.max.messages"] = std::to_string(options_.producer_queue_max_records);
  if (options_.exactly_once) {
    producer_config["transactional.id"] = options_.transactional_id;
    producer_config["transaction.timeout.ms"] = std::to_string(options_.transaction_timeout.count());
  }
  bool stateful = false;
  for (int subtopology = 0; subtopology < std::max(1, pipeline_.subtopology_count()); ++subtopology) {
    stateful = stateful || !pipeline_.store_families(subtopology).empty();
  }
  if (stateful) {
    state_resources_ = options_.state_resources;
    if (!state_resources_) {
      state::StateOptions state_options;
      state_options.directory = options_.state_dir + "/" + topology.application_id;
      state_options.memory_bytes = options_.state_memory_bytes;
      state_resources_ = state::make_state_resources(state_options);
    }
    kafka::Config restore_config = options_.kafka;
    restore_config["bootstrap.servers"] = options_.bootstrap_servers;
    restore_config["group.id"] = topology.application_id + "-restore";  // never joins: partitions are assigned
    restore_config["enable.auto.commit"] = "false";
    restore_config["isolation.level"] = "read_committed";  // aborted writes never enter a store
    restore_config["enable.partition.eof"] = "false";
    restore_config["queued.max.messages.kbytes"] = std::to_string(options_.consumer_queue_max_kbytes);
    restore_config.try_emplace("client.id", client_id + "-restore");
    restore_consumer_ = std::make_unique<kafka::Consumer>(restore_config, client_callbacks("restore"), nullptr);
  }
  producer_ = std::make_unique<kafka::Producer>(
      producer_config, client_callbacks("producer"), [this](const kafka::KafkaError& error, const kafka::DeliveryReport& report) {
        std::string_view topic = report.topic;
        if (error.ok()) {
          if (report.opaque != nullptr) {
            // A changelog record: remember the offset its store will reflect once applied.
            auto slot = reinterpret_cast<std::uintptr_t>(report.opaque) - 1;
            const auto& [task, store] = changelog_slots_[slot];
            auto& offsets = changelog_offsets_[task];
            if (offsets.size() > store) offsets[store] = std::max(offsets[store], report.offset);
            return;
          }
          if (auto it = produced_by_topic_.find(topic); it != produced_by_topic_.end()) {
            it->second->Increment();
          }
          return;
        }
        // The inputs behind this output must be processed again: rewind at the next commit point.
        if (!delivery_failed_) {
          logger_.error(component_, "output to " + std::string(topic) + " failed: " + error.message +
                                       "; the inputs since the last commit will be processed again");
        }
        delivery_failed_ = true;
        metrics_.delivery_failures().Increment();
      });
  if (options_.exactly_once) {
    // Fences an earlier incarnation with the same transactional id and aborts its open transaction, so its
    // uncommitted outputs never become visible and read_committed consumers are not held up.
    for (auto backoff = 200ms;; backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s)) {
      kafka::KafkaError error = producer_->init_transactions(options_.transaction_timeout);
      if (error.ok()) break;
      if (!error.retriable) {
        logger_.error(component_, "cannot initialise transactions for " + options_.transactional_id + ": " + error.message);
        fatal_error_ = true;
        break;
      }
      logger_.warn(component_, "initialising transactions: " + error.message + "; retrying");
      std::this_thread::sleep_for(backoff);  // a backoff between retries, not synchronisation
    }
    logger_.info(component_, "exactly-once with transactional id " + options_.transactional_id);
  }
}

RunOutcome Processor::run(const std::atomic<bool>& stop_requested) {
  health_.beat(monotonic_ms(clock_));
  health_.set_ready(false, "connecting to " + options_.bootstrap_servers);
  std::vector<kafka::TopicInfo> topics;
  if (!wait_for_cluster(stop_requested, topics)) return RunOutcome::stopped;
  if (!prepare_topics(topics)) return RunOutcome::config_error;
  create_clients();
  if (fatal_error_) return RunOutcome::fatal;
  kafka::KafkaError error = consumer_->subscribe(pipeline_.source_topics());
  if (!error.ok()) {
    logger_.error(component_, "cannot subscribe: " + error.message);
    return RunOutcome::fatal;
  }
  health_.set_ready(false, "joining consumer group " + pipeline_.topology().application_id);
  logger_.info(component_, "joining consumer group " + pipeline_.topology().application_id + " at " +
                              options_.bootstrap_servers);

  std::int64_t next_commit_ms = monotonic_ms(clock_) + options_.commit_interval.count();
  std::int64_t next_gauges_ms = 0;
  while (!stop_requested && !fatal_error_) {
    std::int64_t now = monotonic_ms(clock_);
    health_.beat(now);
    if (!restoring_.empty()) restore_step();
    auto wait = restoring_.empty() ? std::chrono::milliseconds(std::clamp<std::int64_t>(next_commit_ms - now, 0, 100))
                                   : 0ms;
    kafka::Message message = consumer_->poll(wait);
    // Serve what the consumer has already fetched as one batch, without the loop's housekeeping (clock reads,
    // producer poll, commit check) between records; the batch is small enough to keep commits on time.
    batch_wall_ms_ = clock_.wall_ms();
    bool state_full = false;
    int served = 0;
    while (message) {
      if (message.error() == RD_KAFKA_RESP_ERR_NO_ERROR) {
        process(message);
      } else if (message.error() != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        logger_.warn(component_, "consumer: " + message.error_message());
      }
      // Commit early when state changes pile up (bounded memory).
      if (++records_since_buffer_check_ >= kBufferCheckRecords) {
        records_since_buffer_check_ = 0;
        state_full = buffered_state_changes() >= static_cast<std::size_t>(options_.state_buffer_max_records);
      }
      ++served;
      if (state_full || served >= kMaxBatch || stop_requested || fatal_error_ || !restoring_.empty()) break;
      message = consumer_->poll(0ms);
    }
    // Windows close as soon as stream time passes them, not only at commits: their results go into the open
    // transaction (or the producer queue) at once, and the commit does not carry the whole burst of a
    // window boundary. on_time is cheap when nothing is due (it skips index scans below what it collected).
    if (served > 0) close_due_windows();
    producer_->poll(0ms);
    now = monotonic_ms(clock_);
    if (now >= next_commit_ms || state_full) {
      commit(state_full ? "state buffer full" : "interval");
      next_commit_ms = now + options_.commit_interval.count();
    }
    if (now >= next_gauges_ms) {
      update_gauges();
      next_gauges_ms = now + 1000;
    }
  }

  bool fatal = fatal_error_.load();
  logger_.info(component_, fatal ? "stopping after a fatal client error" : "stopping: committing and leaving the group");
  health_.set_ready(false, "shutting down");
  if (!fatal) commit("shutdown");
  if (in_transaction_) abort_transaction("shutdown");
  consumer_->close();  // revokes the assignment through on_partitions_revoked (which commits nothing new)
  close_tasks(false);
  error = producer_->flush(options_.shutdown_timeout);
  if (!error.ok()) logger_.error(component_, "outputs not acknowledged at shutdown: " + error.message);
  set_share(metrics_.producer_queue(), producer_queue_share_, 0);
  logger_.info(component_, "stopped");
  return fatal ? RunOutcome::fatal : RunOutcome::stopped;
}

std::vector<kafka::TopicPartition> Processor::input_partitions(const TaskId& id) const {
  std::vector<kafka::TopicPartition> partitions;
  for (const auto& source : pipeline_.sources()) {
    if (source.subtopology == id.subtopology) partitions.push_back({source.topic, id.partition, RD_KAFKA_OFFSET_INVALID});
  }
  return partitions;
}

TaskState* Processor::open_task(const TaskId& id) {
  auto [it, inserted] = tasks_.try_emplace(id);
  TaskState& task = it->second;
  if (!inserted) return &task;
  task.id = id;
  task.last_input_wall_ms = clock_.wall_ms();
  const auto& families = pipeline_.store_families(id.subtopology);
  if (!families.empty()) {
    try {
      task.stores = state::open_rocksdb_task_stores(state_resources_, id.name(), families);
    } catch (const std::exception& failure) {
      logger_.error(component_, "task " + id.name() + ": cannot open its state stores: " + failure.what());
      fatal_error_ = true;
      tasks_.erase(it);
      return nullptr;
    }
  }
  pipeline_.init_task(task);
  set_share(metrics_.active_tasks(), active_tasks_share_, static_cast<double>(tasks_.size()));
  return &task;
}

void Processor::close_tasks(bool commit_state) {
  for (auto& [id, task] : tasks_) {
    if (!task.stores) continue;
    if (!commit_state) task.stores->discard();
    task.stores->close();
    metrics_.remove_restore_remaining(id.name());
  }
  tasks_.clear();
  restoring_.clear();
  if (restore_consumer_) (void)restore_consumer_->assign({});
  set_share(metrics_.active_tasks(), active_tasks_share_, 0);
}

void Processor::start_restore(TaskState& task) {
  const auto& changelogs = pipeline_.store_changelogs(task.id.subtopology);
  Restore restore;
  restore.started_ms = monotonic_ms(clock_);
  for (std::size_t slot = 0; slot < changelogs.size(); ++slot) {
    std::int64_t low = 0, high = 0;
    kafka::KafkaError error = restore_consumer_->query_watermarks(changelogs[slot], task.id.partition, low, high, 30s);
    // A topic created moments ago may not have a leader yet: retriable errors are retried with a backoff.
    auto backoff = 100ms;
    for (auto deadline = std::chrono::steady_clock::now() + 60s;
         !error.ok() && error.retriable && std::chrono::steady_clock::now() < deadline;
         backoff = std::min<std::chrono::milliseconds>(backoff * 2, 2s)) {
      logger_.warn(component_, "task " + task.id.name() + ": reading the end of " + changelogs[slot] + ": " +
                                  error.message + "; retrying");
      std::this_thread::sleep_for(backoff);  // a retry backoff against the broker, not synchronisation
      error = restore_consumer_->query_watermarks(changelogs[slot], task.id.partition, low, high, 30s);
    }
    if (!error.ok()) {
      logger_.error(component_, "task " + task.id.name() + ": cannot read the end of " + changelogs[slot] + ": " +
                                   error.message);
      fatal_error_ = true;
      return;
    }
    // The local store reflects the changelog up to its recorded offset: replay only what follows.
    std::int64_t from = std::max(low, task.stores->changelog_offset(slot) + 1);
    // Exactly-once: only this task's transactional producer writes the partition, so after the store applied a
    // committed transaction the one offset left is that transaction's commit marker, which holds no record.
    if (options_.exactly_once && task.stores->changelog_offset(slot) >= 0 && from == high - 1) from = high;
    if (from < high) restore.targets.push_back(RestoreTarget{slot, changelogs[slot], high, from, from});
  }
  if (restore.targets.empty()) return;
  std::int64_t total = 0;
  for (const auto& target : restore.targets) total += target.end - target.start;
  logger_.info(component_, "task " + task.id.name() + ": restoring " + std::to_string(total) +
                              " changelog records (local store " +
                              (task.stores->changelog_offset(0) < 0 ? "empty" : "behind") + ")");
  metrics_.set_restore_remaining(task.id.name(), static_cast<double>(total));
  (void)consumer_->pause(input_partitions(task.id));
  restoring_.emplace(task.id, std::move(restore));
  update_restore_assignment();
}

void Processor::update_restore_assignment() {
  std::vector<kafka::TopicPartition> partitions;
  for (const auto& [id, restore] : restoring_) {
    for (const auto& target : restore.targets) {
      if (target.position < target.end) partitions.push_back({target.topic, id.partition, target.position});
    }
  }
  kafka::KafkaError error = restore_consumer_->assign(partitions);
  if (!error.ok()) logger_.error(component_, "restore consumer: cannot assign: " + error.message);
}

void Processor::restore_step() {
  std::int64_t applied = 0;
  std::set<TaskId> touched;
  while (applied < options_.restore_batch_records) {
    kafka::Message message = restore_consumer_->poll(applied == 0 ? 10ms : 0ms);
    if (!message) break;
    if (message.error() != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (message.error() != RD_KAFKA_RESP_ERR__PARTITION_EOF) logger_.warn(component_, "restore: " + message.error_message());
      continue;
    }
    // Find the restoring task and store slot this changelog partition belongs to.
    for (auto& [id, restore] : restoring_) {
      if (id.partition != message.partition()) continue;
      for (auto& target : restore.targets) {
        if (target.topic != message.topic() || message.offset() < target.position) continue;
        auto value = message.has_value() ? std::optional<std::string_view>(message.value()) : std::nullopt;
        tasks_.at(id).stores->restore(target.slot, message.key(), value, message.offset());
        target.position = message.offset() + 1;
        ++restore.restored;
        touched.insert(id);
        ++applied;
      }
    }
  }
  metrics_.restored_records().Increment(static_cast<double>(applied));
  std::int64_t now = monotonic_ms(clock_);
  std::vector<TaskId> done;
  for (auto& [id, restore] : restoring_) {
    // Transaction markers and aborted records occupy offsets that are never delivered: the consumer position,
    // not the last record, tells when the end is reached.
    for (auto& target : restore.targets) {
      if (auto position = restore_consumer_->position(target.topic, id.partition)) {
        target.position = std::max(target.position, *position);
      }
    }
    std::int64_t total = 0, remaining = 0;
    for (const auto& target : restore.targets) {
      total += target.end - target.start;
      remaining += std::max<std::int64_t>(0, target.end - target.position);
    }
    if (touched.count(id) != 0) tasks_.at(id).stores->finish_restore();
    metrics_.set_restore_remaining(id.name(), static_cast<double>(remaining));
    if (remaining == 0) {
      done.push_back(id);
    } else if (now - restore.last_log_ms >= 1000) {
      restore.last_log_ms = now;
      logger_.info(component_, "task " + id.name() + ": restoring " +
                                  std::to_string(total > 0 ? (total - remaining) * 100 / total : 100) + "% (" +
                                  std::to_string(total - remaining) + "/" + std::to_string(total) + " records)");
    }
  }
  for (const auto& id : done) {
    auto it = restoring_.find(id);
    finish_restore(id, it->second);
    restoring_.erase(it);
  }
  if (!done.empty()) update_restore_assignment();
  if (restoring_.empty() && in_group_) health_.set_ready(true, "processing");
}

void Processor::finish_restore(const TaskId& id, Restore& restore) {
  TaskState& task = tasks_.at(id);
  task.stores->finish_restore();
  pipeline_.init_task(task);  // stream time from the restored stores
  std::int64_t elapsed = std::max<std::int64_t>(1, monotonic_ms(clock_) - restore.started_ms);
  logger_.info(component_, "task " + id.name() + ": restored " + std::to_string(restore.restored) + " records in " +
                              std::to_string(elapsed) + " ms (" + std::to_string(restore.restored * 1000 / elapsed) +
                              " records/s); processing");
  metrics_.remove_restore_remaining(id.name());
  metrics_.restore_seconds().Increment(static_cast<double>(elapsed) / 1000.0);
  (void)consumer_->resume(input_partitions(id));
}

void Processor::process(const kafka::Message& message) {
  // The processing-time histogram samples one record in kLatencySample: clock reads are not free here.
  const bool timed = ++records_since_latency_sample_ >= kLatencySample;
  const std::int64_t started = timed ? clock_.monotonic_ns() : 0;
  std::string_view topic = message.topic();
  auto source = pipeline_.source_for_topic(topic);
  if (!source) return;  // cannot happen: we subscribe to source topics only
  TaskId id{pipeline_.sources()[*source].subtopology, message.partition()};
  auto task = tasks_.find(id);
  if (task == tasks_.end() || restoring_.count(id) != 0) {
    // Fetched before the partition was paused: read it again once the task is ready.
    (void)consumer_->seek({std::string(topic), message.partition(), message.offset()}, 1s);
    return;
  }
  core::Origin origin;
  origin.topic = topic;
  origin.partition = message.partition();
  origin.offset = message.offset();
  origin.has_key = message.has_key();
  origin.raw_key = message.key();
  origin.has_value = message.has_value();
  origin.raw_value = message.value();
  task->second.last_input_wall_ms = batch_wall_ms_;
  // The pipeline runs synchronously: the message (and so the Origin's views) outlives it.
  (void)pipeline_.process(*source, origin, message.timestamp_ms(), message.headers(), state_, task->second, *this);
  auto pending = pending_offsets_.find(topic);
  if (pending == pending_offsets_.end()) pending = pending_offsets_.try_emplace(std::string(topic)).first;
  pending->second[message.partition()] = message.offset() + 1;
  consumed_by_source_[*source]->Increment();
  if (timed) {
    records_since_latency_sample_ = 0;
    metrics_.processing_latency().Observe(static_cast<double>(clock_.monotonic_ns() - started) / 1e9);
  }
}

void Processor::send(std::size_t, const OutputRecord& record) {
  outputs_since_commit_ = true;
  if (!ensure_transaction()) return;
  for (;;) {
    kafka::KafkaError error = producer_->produce(record.topic, record.key, record.value, record.timestamp_ms,
                                                 record.headers);
    if (error.ok()) return;
    if (error.code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // Back-pressure: the producer queue is bounded (producer_queue_max_records); wait for acknowledgements.
      producer_->poll(10ms);
      continue;
    }
    logger_.error(component_, "cannot produce to " + std::string(record.topic) + ": " + error.message);
    delivery_failed_ = true;
    metrics_.delivery_failures().Increment();
    return;
  }
}

void Processor::on_dead_letter(std::string_view operator_name, core::RecordErrorKind kind) {
  metrics_.dead_lettered(operator_name, core::to_string(kind)).Increment();
}

void Processor::on_discarded(std::string_view operator_name) { metrics_.discarded(operator_name).Increment(); }

std::size_t Processor::buffered_state_changes() const {
  std::size_t total = 0;
  for (const auto& [id, task] : tasks_) {
    if (!task.stores) continue;
    for (std::size_t slot = 0; slot < task.stores->size(); ++slot) total += task.stores->store(slot).buffered_changes();
  }
  return total;
}

void Processor::close_due_windows() {
  for (auto& [id, task] : tasks_) {
    if (!task.stores || restoring_.count(id) != 0) continue;
    if (task.time.stream_time_ms == task.timed_stream_time_ms) continue;
    task.timed_stream_time_ms = task.time.stream_time_ms;
    pipeline_.on_time(batch_wall_ms_, options_.window_idle_timeout_ms, state_, task, *this);
  }
}

bool Processor::commit(const char* why) {
  // Keyed operators first: what time closed and the compacted updates go out with this commit.
  std::int64_t wall = clock_.wall_ms();
  for (auto& [id, task] : tasks_) {
    if (!task.stores || restoring_.count(id) != 0) continue;
    pipeline_.on_time(wall, options_.window_idle_timeout_ms, state_, task, *this);
    pipeline_.on_commit(state_, task, *this);
  }
  // State changes to the changelogs, each record tagged with its (task, slot) to learn its offset.
  changelog_slots_.clear();
  changelog_offsets_.clear();
  bool state_changed = false;
  for (auto& [id, task] : tasks_) {
    if (!task.stores || restoring_.count(id) != 0) continue;
    const auto& changelogs = pipeline_.store_changelogs(id.subtopology);
    changelog_offsets_[id].assign(task.stores->size(), -1);
    for (std::size_t slot = 0; slot < task.stores->size(); ++slot) {
      changelog_slots_.emplace_back(id, slot);
      void* opaque = reinterpret_cast<void*>(static_cast<std::uintptr_t>(changelog_slots_.size()));
      task.stores->changes(slot, [&](const state::ChangelogRecord& change) {
        state_changed = true;
        if (!ensure_transaction()) return;
        std::optional<std::string_view> value;
        if (change.value) value = *change.value;
        for (;;) {
          kafka::KafkaError error = producer_->produce(changelogs[slot], std::string_view(change.key), value,
                                                       wall, nullptr,
                                                       id.partition, opaque);
          if (error.code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            producer_->poll(10ms);
            continue;
          }
          if (!error.ok()) {
            logger_.error(component_, "cannot produce to " + changelogs[slot] + ": " + error.message);
            delivery_failed_ = true;
          }
          break;
        }
        metrics_.changelog_records().Increment();
      });
    }
  }
  if (pending_offsets_.empty() && !delivery_failed_ && !state_changed && !outputs_since_commit_ && !in_transaction_) {
    return true;
  }
  std::int64_t started = clock_.monotonic_ns();
  if (options_.exactly_once) {
    std::vector<kafka::TopicPartition> offsets;
    for (const auto& [topic, partitions] : pending_offsets_) {
      for (const auto& [partition, offset] : partitions) offsets.push_back({topic, partition, offset});
    }
    if (!commit_transaction(offsets, why)) return false;
    return finish_commit(offsets, started);
  }
  // Outputs first: an input offset may be committed only once everything it produced is acknowledged.
  kafka::KafkaError error = producer_->flush(options_.max_poll_interval / 2);
  if (!error.ok()) {
    logger_.warn(component_, std::string("commit (") + why + ") waits for outputs: " + error.message);
    metrics_.commit_failures().Increment();
    return false;  // offsets and state stay pending; retried at the next commit point
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
    logger_.warn(component_, std::string("offset commit (") + why + ") failed: " + error.message +
                                (error.retriable ? "; will retry" : ""));
    metrics_.commit_failures().Increment();
    return false;
  }
  return finish_commit(offsets, started);
}

bool Processor::finish_commit(const std::vector<kafka::TopicPartition>& offsets, std::int64_t started) {
  // Inputs are committed: the stores may now reflect the changes, with the changelog offsets they match.
  for (auto& [id, task] : tasks_) {
    if (!task.stores || restoring_.count(id) != 0) continue;
    try {
      task.stores->apply(changelog_offsets_[id], task.observed_stream_time_ms);
    } catch (const std::exception& failure) {
      logger_.error(component_, "task " + id.name() + ": cannot write its state: " + failure.what());
      fatal_error_ = true;
      return false;
    }
  }
  for (const auto& offset : offsets) committed_offsets_[{offset.topic, offset.partition}] = offset.offset;
  pending_offsets_.clear();
  outputs_since_commit_ = false;
  metrics_.commits().Increment();
  metrics_.commit_latency().Observe(static_cast<double>(clock_.monotonic_ns() - started) / 1e9);
  if (cluster_unreachable_ && in_group_) {
    cluster_unreachable_ = false;
    health_.set_ready(true, "processing");
  }
  return true;
}

bool Processor::ensure_transaction() {
  if (!options_.exactly_once || in_transaction_) return true;
  kafka::KafkaError error = producer_->begin_transaction();
  if (!error.ok()) {
    logger_.error(component_, "cannot begin a transaction: " + error.message);
    fatal_error_ = true;  // only a producer in a fatal state refuses to begin
    return false;
  }
  in_transaction_ = true;
  return true;
}

bool Processor::commit_transaction(const std::vector<kafka::TopicPartition>& offsets, const char* why) {
  if (!ensure_transaction()) return false;
  // The offsets join the transaction with the group's generation: a zombie from an older generation is refused.
  kafka::KafkaError error = producer_->send_offsets_to_transaction(offsets, *consumer_, options_.max_poll_interval / 2);
  for (int attempt = 0; error.ok() && attempt < 3; ++attempt) {
    error = producer_->commit_transaction(options_.max_poll_interval / 2);
    if (error.ok() || !error.retriable || error.requires_abort) break;
    logger_.warn(component_, std::string("transaction commit (") + why + ") will be retried: " + error.message);
  }
  if (error.ok()) {
    in_transaction_ = false;
    delivery_failed_ = false;
    metrics_.transactions_committed().Increment();
    return true;
  }
  metrics_.commit_failures().Increment();
  if (error.fatal) {
    // Fenced: an instance with the same transactional id started; this one is the zombie and must stop.
    logger_.error(component_, std::string("transaction commit (") + why + ") failed fatally: " + error.message +
                                 "; stopping (another instance with transactional id " + options_.transactional_id +
                                 " may have taken over)");
    fatal_error_ = true;
    return false;
  }
  logger_.warn(component_, std::string("transaction commit (") + why + ") failed: " + error.message + "; aborting");
  abort_transaction(why);
  return false;
}

void Processor::abort_transaction(const char* why) {
  kafka::KafkaError error = producer_->abort_transaction(options_.max_poll_interval / 2);
  in_transaction_ = false;
  metrics_.transactions_aborted().Increment();
  if (!error.ok()) {
    logger_.error(component_, std::string("transaction abort (") + why + ") failed: " + error.message);
    fatal_error_ = true;
    return;
  }
  // Everything since the last commit is undone: outputs aborted, state buffers dropped, inputs read again.
  rewind_to_committed();
}

void Processor::rewind_to_committed() {
  // At-least-once after a failed output: re-read every partition from its last committed offset, with the
  // state as it was at that commit.
  std::vector<kafka::TopicPartition> positions;
  for (const auto& partition : assignment_) positions.push_back({partition.topic, partition.partition, RD_KAFKA_OFFSET_INVALID});
  kafka::KafkaError error = consumer_->committed(positions, 10s);
  for (auto deadline = std::chrono::steady_clock::now() + options_.max_poll_interval / 2;
       !error.ok() && error.retriable && std::chrono::steady_clock::now() < deadline;) {
    logger_.warn(component_, "reading committed offsets to rewind: " + error.message + "; retrying");
    std::this_thread::sleep_for(500ms);  // a retry backoff while the group coordinator is unavailable
    error = consumer_->committed(positions, 10s);
  }
  if (!error.ok()) {
    logger_.error(component_, "cannot read committed offsets to rewind: " + error.message);
    fatal_error_ = true;  // continuing could skip inputs whose outputs were lost
    return;
  }
  for (auto& position : positions) {
    if (position.offset < 0) position.offset = RD_KAFKA_OFFSET_BEGINNING;
    kafka::KafkaError seek_error = consumer_->seek(position, 10s);
    if (!seek_error.ok()) {
      logger_.error(component_, "cannot rewind " + position.topic + "[" + std::to_string(position.partition) +
                                   "]: " + seek_error.message);
      fatal_error_ = true;
      return;
    }
  }
  for (auto& [id, task] : tasks_) {
    if (!task.stores) continue;
    task.stores->discard();
    pipeline_.init_task(task);
  }
  pending_offsets_.clear();
  delivery_failed_ = false;
  outputs_since_commit_ = false;
  logger_.warn(component_, "rewound " + std::to_string(positions.size()) + " partitions to their committed offsets");
}

void Processor::on_partitions_revoked(const std::vector<kafka::TopicPartition>& partitions) {
  metrics_.rebalances("revoked").Increment();
  in_group_ = false;
  health_.set_ready(false, "rebalancing");
  logger_.info(component_, "partitions revoked: " + std::to_string(partitions.size()));
  commit("revoke");
  pending_offsets_.clear();  // a failed commit here means redelivery to the next owner: at-least-once
  close_tasks(false);        // what was committed is applied; anything else is dropped with the buffers
  for (const auto& partition : assignment_) metrics_.remove_lag(partition.topic, partition.partition);
  assignment_.clear();
  committed_offsets_.clear();
  set_share(metrics_.assigned_partitions(), assigned_partitions_share_, 0);
}

void Processor::on_partitions_lost(const std::vector<kafka::TopicPartition>& partitions) {
  metrics_.rebalances("lost").Increment();
  in_group_ = false;
  health_.set_ready(false, "assignment lost");
  logger_.warn(component_, "assignment lost (" + std::to_string(partitions.size()) +
                              " partitions); uncommitted inputs will be processed again by their new owner");
  if (in_transaction_) {
    (void)producer_->abort_transaction(10s);
    in_transaction_ = false;
    metrics_.transactions_aborted().Increment();
  } else {
    (void)producer_->flush(5s);
  }
  pending_offsets_.clear();
  delivery_failed_ = false;
  close_tasks(false);
  for (const auto& partition : assignment_) metrics_.remove_lag(partition.topic, partition.partition);
  assignment_.clear();
  committed_offsets_.clear();
  set_share(metrics_.assigned_partitions(), assigned_partitions_share_, 0);
}

void Processor::on_partitions_assigned(const std::vector<kafka::TopicPartition>& partitions) {
  metrics_.rebalances("assigned").Increment();
  assignment_ = partitions;
  set_share(metrics_.assigned_partitions(), assigned_partitions_share_, static_cast<double>(partitions.size()));
  std::string list;
  std::set<TaskId> ids;
  for (const auto& partition : partitions) {
    list += (list.empty() ? "" : ", ") + partition.topic + "[" + std::to_string(partition.partition) + "]";
    if (auto source = pipeline_.source_for_topic(partition.topic)) {
      ids.insert(TaskId{pipeline_.sources()[*source].subtopology, partition.partition});
    }
  }
  logger_.info(component_, "partitions assigned (" + std::to_string(partitions.size()) + "): " + list);
  for (const auto& id : ids) {
    TaskState* task = open_task(id);
    if (task != nullptr && task->stores) start_restore(*task);
  }
  cluster_unreachable_ = false;
  in_group_ = true;
  // Ready once every assigned task has restored its state (tasks that are ready process meanwhile).
  if (!fatal_error_) health_.set_ready(restoring_.empty(), restoring_.empty() ? "processing" : "restoring state");
}

void Processor::update_gauges() {
  set_share(metrics_.producer_queue(), producer_queue_share_, static_cast<double>(producer_->queue_length()));
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
        if (in_group_ && restoring_.empty()) health_.set_ready(true, "processing");
        logger_.info(component_, "cluster reachable again");
      }
    }
  }
}

}  // namespace sluice::runtime
