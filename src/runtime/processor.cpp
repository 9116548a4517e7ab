#include "sluice/runtime/processor.hpp"
#include "sluice/runtime/store_guard.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "sluice/core/backoff.hpp"
#include "sluice/kafka/client_config.hpp"

namespace sluice::runtime {

using namespace std::chrono_literals;

std::string_view to_string(ThreadState state) {
  switch (state) {
    case ThreadState::created: return "created";
    case ThreadState::starting: return "starting";
    case ThreadState::joining: return "joining";
    case ThreadState::running: return "running";
    case ThreadState::closing: return "closing";
    case ThreadState::failed: return "failed";
    case ThreadState::closed: return "closed";
  }
  return "unknown";
}

Processor::Processor(const Pipeline& pipeline, ProcessorOptions options, kafka::ClientFactory& clients,
                     observe::Metrics& metrics, observe::Logger& logger, const core::Clock& clock, Health& health)
    : pipeline_(pipeline),
      options_(std::move(options)),
      clients_(clients),
      metrics_(metrics),
      logger_(logger),
      clock_(clock),
      health_(health),
      component_(options_.thread_index > 0 ? "runtime-" + std::to_string(options_.thread_index) : "runtime"),
      state_data_(clock),
      pipeline_metrics_(pipeline, metrics) {
  pipeline_metrics_.bind(state_data_);
  for (const auto& source : pipeline_.sources()) consumed_by_source_.push_back(&metrics_.consumed(source.topic));
  inputs_of_subtopology_.resize(static_cast<std::size_t>(std::max(1, pipeline_.subtopology_count())));
  input_index_.resize(pipeline_.sources().size());
  for (std::size_t source = 0; source < pipeline_.sources().size(); ++source) {
    auto& inputs = inputs_of_subtopology_.at(static_cast<std::size_t>(pipeline_.sources()[source].subtopology));
    input_index_[source] = inputs.size();
    inputs.push_back(source);
  }
  for (auto& inputs : inputs_of_subtopology_) {
    if (inputs.size() < 2) inputs.clear();  // a single input needs no ordering
  }
  // A join's max_task_idle overrides the setting for its sub-topology (the longest, if several joins say).
  task_idle_ms_.assign(inputs_of_subtopology_.size(), options_.max_task_idle_ms);
  std::vector<bool> overridden(task_idle_ms_.size(), false);
  for (const auto& sub : pipeline_.topology().subtopologies) {
    for (const std::size_t op : sub.operators) {
      const auto& body = pipeline_.topology().operators[op].body;
      std::optional<std::int64_t> join_idle;
      if (const auto* join = std::get_if<topology::JoinSpec>(&body)) join_idle = join->max_task_idle_ms;
      if (const auto* join = std::get_if<topology::StreamJoinSpec>(&body)) join_idle = join->max_task_idle_ms;
      if (!join_idle) continue;
      auto& idle = task_idle_ms_.at(static_cast<std::size_t>(sub.id));
      idle = overridden[static_cast<std::size_t>(sub.id)] ? std::max(idle, *join_idle) : *join_idle;
      overridden[static_cast<std::size_t>(sub.id)] = true;
    }
  }
}

Processor::~Processor() { close(); }

kafka::ClientCallbacks Processor::client_callbacks(const std::string& name) {
  kafka::ClientCallbacks callbacks;
  callbacks.log = [this, name](int level, std::string_view facility, std::string_view message) {
    // librdkafka syslog levels: 0-3 error, 4 warning, 5-6 info/notice, 7 debug.
    observe::LogLevel mapped = level <= 3 ? observe::LogLevel::error
                               : level == 4 ? observe::LogLevel::warn
                               : level <= 6 ? observe::LogLevel::info
                                            : observe::LogLevel::debug;
    logger_.log(mapped, "kafka", name + " " + std::string(facility) + ": " + std::string(message));
    // librdkafka 2.0.2 reports an auto.offset.reset of a consumed partition only in this log line. A reset away
    // from a committed offset that is no longer in the log skips the records retention deleted: say so, count it.
    if (name == "consumer" && facility == "OFFSET" && message.find("offset reset") != std::string_view::npos) {
      metrics_.offset_resets().Increment();
      logger_.warn(component_, "an input partition's committed offset is no longer in its log (retention deleted "
                               "records sluice had not read); continuing where the log now starts or ends, as "
                               "auto.offset.reset says: " + std::string(message));
    }
  };
  callbacks.error = [this, name](const kafka::KafkaError& error) {
    last_client_error_ = error;
    if (error.refusal()) {
      set_trouble(std::string(kafka::to_string(error.code)) + " failed: " + error.message);
    } else if (error.code == kafka::ErrorCode::all_brokers_down || error.code == kafka::ErrorCode::resolve) {
      set_trouble("cluster unreachable: " + error.message);
    }
    // Under exactly-once the committer replaces a producer that failed fatally; at-least-once has no
    // transaction to give up, but an idempotent producer in a fatal state cannot go on.
    if (error.fatal && !options_.exactly_once) fail(name + ": " + error.message);
    logger_.log(error.fatal ? observe::LogLevel::error : observe::LogLevel::warn, "kafka",
                name + " error: " + error.message);
  };
  return callbacks;
}

void Processor::set_trouble(const std::string& reason) {
  trouble_ = reason;
  health_.set_ready(false, reason);
}

void Processor::clear_trouble() {
  if (!trouble_) return;
  logger_.info(component_, "recovered (" + *trouble_ + ")");
  trouble_.reset();
  update_readiness();
}

void Processor::update_readiness() {
  if (trouble_ || state_ == ThreadState::failed) return;
  if (state_ != ThreadState::running) return;
  const bool restoring = restorer_ && restorer_->active();
  health_.set_ready(!restoring, restoring ? "restoring state" : "processing");
}

void Processor::fail(const std::string& message) {
  if (state_ == ThreadState::failed) return;
  logger_.error(component_, message);
  state_ = ThreadState::failed;
  failed_ = true;
  health_.set_ready(false, "failed: " + message);
}

// A task's RocksDB stores, dropped first when the marker in their directory (the fingerprints and generations of
// its stores when they were written) is not the one the store guard has now: a store reset since, or redefined.
// A directory without a marker (new, or written before markers) is taken as it is.
std::unique_ptr<state::TaskStores> Processor::open_marked_stores(const StoreGuard& guard,
                                                                 const std::shared_ptr<state::StateResources>& resources,
                                                                 const state::StateOptions& directory, const TaskId& id,
                                                                 const std::vector<std::uint8_t>& families) {
  namespace fs = std::filesystem;
  const std::string marker = guard.marker(pipeline_.store_changelogs(id.subtopology));
  const fs::path path = fs::path(directory.directory) / id.name() / "sluice-fingerprints.json";
  std::optional<std::string> existing;
  if (std::ifstream in(path, std::ios::binary); in) {
    existing = std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (existing && *existing != marker) {
    logger_.warn(component_, "task " + id.name() + ": dropping its local stores, written under other store "
                             "fingerprints (a store was reset or redefined); they are rebuilt from the changelogs");
    state::delete_task_directory(directory, id.name());
  }
  auto stores = state::open_rocksdb_task_stores(resources, id.name(), families);
  if (!existing || *existing != marker) {
    const fs::path temporary = fs::path(path).concat(".tmp");
    {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      out << marker;
      out.flush();
      if (!out) throw std::runtime_error("cannot write " + temporary.string());
    }
    fs::rename(temporary, path);
  }
  return stores;
}

std::optional<RunOutcome> Processor::open(const std::atomic<bool>& stop_requested) {
  stop_requested_ = &stop_requested;
  state_ = ThreadState::starting;
  health_.beat(now_ms());
  health_.set_ready(false, "connecting to " + options_.bootstrap_servers);
  const auto& topology = pipeline_.topology();
  kafka::ClientSettings client;
  client.bootstrap_servers = options_.bootstrap_servers;
  client.pass_through = options_.kafka;
  client.application_id = topology.application_id;
  client.client_id = "sluice-" + topology.application_id +
                     (options_.thread_index > 0 ? "-" + std::to_string(options_.thread_index) : "");
  client.instance_id = options_.instance_id;
  client.exactly_once = options_.exactly_once;
  client.transactional_id = options_.transactional_id;
  client.transaction_timeout = options_.transaction_timeout;
  client.max_poll_interval = options_.max_poll_interval;
  client.session_timeout = options_.session_timeout;
  client.producer_queue_max_records = options_.producer_queue_max_records;
  client.consumer_queue_max_kbytes = options_.consumer_queue_max_kbytes;

  auto stop = [this] { return stop_requested_->load(); };
  auto heartbeat = [this] { health_.beat(now_ms()); };
  {
    admin_ = clients_.admin(kafka::admin_config(client), client_callbacks("admin"));
    ProvisionerOptions provisioning;
    provisioning.bootstrap_servers = options_.bootstrap_servers;
    provisioning.create_output_topics = options_.create_output_topics;
    provisioning.output_topic_partitions = options_.output_topic_partitions;
    provisioning.backoff_max_ms = options_.startup_backoff_max.count();
    topics_ = std::make_unique<TopicProvisioner>(pipeline_, *admin_, provisioning, logger_, clock_, component_);
    switch (topics_->provision(stop, heartbeat, [this](const std::string& why) { set_trouble(why); },
                                  [this] { return last_client_error_; })) {
      case ProvisionOutcome::ready: break;
      case ProvisionOutcome::stopped: return RunOutcome::stopped;
      case ProvisionOutcome::refused: return RunOutcome::fatal;
      case ProvisionOutcome::config_error: return RunOutcome::config_error;
    }
    trouble_.reset();
  }
  if (options_.store_guard != nullptr) {
    switch (options_.store_guard->check(clients_, client, *admin_, stop, [this](const std::string& why) { set_trouble(why); },
                                        logger_, clock_, component_)) {
      case GuardOutcome::ready: break;
      case GuardOutcome::stopped: return RunOutcome::stopped;
      case GuardOutcome::mismatch: return RunOutcome::config_error;
    }
    trouble_.reset();
  }
  // Every global table is read whole before any task processes; lookups then read the instance's stores.
  if (!pipeline_.global_tables().empty()) {
    if (options_.global_tables == nullptr) throw std::logic_error("the topology has global tables but no reader");
    options_.global_tables->start();
    switch (options_.global_tables->wait_loaded(stop_requested, [this](const std::string& status) {
      health_.beat(now_ms());
      health_.set_ready(false, status);
    })) {
      case GlobalLoadOutcome::loaded: break;
      case GlobalLoadOutcome::stopped: return RunOutcome::stopped;
      case GlobalLoadOutcome::failed:
        logger_.error(component_, options_.global_tables->status());
        return RunOutcome::fatal;
    }
    state_data_.global_tables = options_.global_tables->stores();
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
  }
  StoreOpener open_stores = options_.open_stores;
  if (!open_stores) {
    state::StateOptions directory;
    directory.directory = options_.state_dir + "/" + topology.application_id;
    open_stores = [this, resources = state_resources_, directory](const TaskId& id,
                                                                   const std::vector<std::uint8_t>& families) {
      if (options_.store_guard == nullptr) return state::open_rocksdb_task_stores(resources, id.name(), families);
      return open_marked_stores(*options_.store_guard, resources, directory, id, families);
    };
  }
  tasks_ = std::make_unique<TaskManager>(pipeline_, state_data_, std::move(open_stores), options_.window_idle_timeout_ms);
  collector_ = std::make_unique<RecordCollector>(pipeline_, clients_, kafka::producer_config(client),
                                                 client_callbacks("producer"), metrics_, logger_, component_);
  collector_->create_producer();
  consumer_ = clients_.consumer(kafka::consumer_config(client), client_callbacks("consumer"), this);

  CommitterOptions committing;
  committing.transactional_id = options_.transactional_id;
  committing.transaction_timeout = options_.transaction_timeout;
  committing.max_failed_commits = options_.max_failed_commits;
  CommitObserver observer;
  observer.heartbeat = heartbeat;
  observer.trouble = [this](const std::string& why) { set_trouble(why); };
  observer.recovered = [this] { clear_trouble(); };
  observer.stop_requested = stop;
  observer.health = &health_;
  if (options_.exactly_once) {
    auto transactions = std::make_unique<ExactlyOnceCommitter>(*collector_, *consumer_, committing, observer, metrics_,
                                                               logger_, clock_, component_);
    transactions_ = transactions.get();
    committer_ = std::move(transactions);
    if (!transactions_->initialize()) return stop() ? RunOutcome::stopped : RunOutcome::fatal;
    logger_.info(component_, "exactly-once with transactional id " + options_.transactional_id);
  } else {
    committer_ = std::make_unique<AtLeastOnceCommitter>(*collector_, *consumer_, committing, observer, metrics_,
                                                        logger_, clock_, component_);
  }
  if (stateful) {
    restore_consumer_ = clients_.consumer(kafka::restore_consumer_config(client), client_callbacks("restore"), nullptr);
    restorer_ = std::make_unique<ChangelogRestorer>(pipeline_, *tasks_, *restore_consumer_, *consumer_,
                                                    options_.exactly_once, options_.restore_batch_records, metrics_,
                                                    logger_, clock_, component_);
  }
  kafka::KafkaError error = consumer_->subscribe(pipeline_.source_topics());
  if (!error.ok()) {
    logger_.error(component_, "cannot subscribe: " + error.message);
    return RunOutcome::fatal;
  }
  state_ = ThreadState::joining;
  last_commit_ms_ = now_ms();
  next_commit_ms_ = last_commit_ms_ + options_.commit_interval.count();
  rollback_backoff_ = std::make_unique<core::Backoff>(clock_, 100, 5'000);
  health_.set_ready(false, "joining consumer group " + topology.application_id);
  logger_.info(component_, "joining consumer group " + topology.application_id + " at " + options_.bootstrap_servers);
  return std::nullopt;
}

RunOutcome Processor::run(const std::atomic<bool>& stop_requested) {
  std::optional<RunOutcome> early;
  try {
    early = open(stop_requested);
    if (!early) {
      while (step()) {
      }
    }
  } catch (const kafka::ConfigError&) {
    close();
    throw;  // a bad kafka.* property: app reports it as a configuration error (exit code 2)
  } catch (const std::exception& failure) {
    fail(std::string("internal failure: ") + failure.what());
  }
  if (early && *early == RunOutcome::fatal) failed_ = true;
  close();
  if (early && *early != RunOutcome::fatal) return *early;
  return outcome();
}

bool Processor::step() {
  if (stop_requested_->load() || state_ == ThreadState::failed) return false;
  if (options_.global_tables != nullptr && options_.global_tables->failed()) {
    fail(options_.global_tables->status());
    return false;
  }
  {
    std::int64_t now = now_ms();
    health_.beat(now);
    const bool restoring = restorer_ && restorer_->active();
    if (restoring) {
      restorer_->step();
      if (!restorer_->active()) update_readiness();
    }
    auto wait = restoring ? 0ms : std::chrono::milliseconds(std::clamp<std::int64_t>(next_commit_ms_ - now, 0, 100));
    if (!queues_.empty()) wait = queue_wait(clock_.wall_ms(), wait);
    // Time blocked on an empty consumer queue is the thread's idle share (sluice_poll_idle_seconds_total): two
    // clock reads per loop turn, not per record.
    kafka::Message message = consumer_->poll(0ms);
    if (!message) {
      on_queue_dry();
      if (wait > 0ms) {
        const std::int64_t poll_started_ns = clock_.monotonic_ns();
        message = consumer_->poll(wait);
        metrics_.poll_idle_seconds().Increment(static_cast<double>(clock_.monotonic_ns() - poll_started_ns) / 1e9);
      }
    }
    // Serve what the consumer has already fetched as one batch, without the loop's housekeeping (clock reads,
    // producer poll, commit check) between records; the batch is small enough to keep commits on time.
    batch_wall_ms_ = clock_.wall_ms();
    bool state_full = false;
    int served = 0;
    bool dry = false;  // the batch ended because the consumer's queue was empty
    while (message) {
      if (message.ok()) {
        drained_bytes_ += static_cast<std::int64_t>(message.key().size() + message.value().size());
        consume(std::move(message));
      } else if (message.error() != kafka::ErrorCode::partition_eof) {
        logger_.warn(component_, "consumer: " + message.error_message());
      }
      // Commit early when state changes pile up (bounded memory).
      if (++records_since_buffer_check_ >= kBufferCheckRecords) {
        records_since_buffer_check_ = 0;
        state_full = tasks_->buffered_state_changes() >= static_cast<std::size_t>(options_.state_buffer_max_records);
      }
      ++served;
      if (state_full || served >= kMaxBatch || stop_requested_->load() || state_ == ThreadState::failed ||
          (restorer_ && restorer_->active())) {
        break;
      }
      message = consumer_->poll(0ms);
      dry = !message;
    }
    if (dry) on_queue_dry();
    // Multi-input tasks process what their queues let through (also when nothing new came: a wait may be over).
    const int drained = queues_.empty() || state_ == ThreadState::failed ? 0 : drain_queues(batch_wall_ms_);
    if (drained > 0) {
      state_full = state_full ||
                   tasks_->buffered_state_changes() >= static_cast<std::size_t>(options_.state_buffer_max_records);
    }
    // Windows close as soon as stream time passes them, not only at commits. Under exactly-once their final
    // results are invisible until committed: when windows closed at an aligned end (ops::ProcessContext::
    // commit_soon), the commit comes as soon as every task of that sub-topology has closed them too (its stream
    // time is there; a task without records does not hold it up, one that went quiet does, until the interval),
    // rather than at the interval: one commit for all tasks, not one per task, each blocking the next task's
    // close. At most one such commit per kCommitSoonSpacingMs, and only for live windows: while catching up
    // (stream time more than kCommitSoonMaxLagMs behind the wall clock) windows close faster than real time and
    // wait for the interval.
    if (served + drained > 0) {
      auto requested = tasks_->close_due_windows(batch_wall_ms_, *collector_);
      if (requested && options_.exactly_once && !commit_soon_ &&
          batch_wall_ms_ - requested->stream_time_ms <= kCommitSoonMaxLagMs) {
        commit_soon_ = requested;
      }
    }
    if (commit_soon_ && !commit_brought_forward_ &&
        tasks_->stream_time_reached(commit_soon_->subtopology, commit_soon_->stream_time_ms)) {
      next_commit_ms_ = std::min(next_commit_ms_, last_commit_ms_ + kCommitSoonSpacingMs);
      commit_brought_forward_ = true;
    }
    collector_->producer().poll(0ms);
    now = now_ms();
    if (now >= next_commit_ms_ || state_full) {
      commit(state_full ? "state buffer full" : commit_brought_forward_ ? "windows closed" : "interval");
      commit_soon_.reset();
      commit_brought_forward_ = false;
      last_commit_ms_ = now_ms();
      next_commit_ms_ = last_commit_ms_ + options_.commit_interval.count();
      // Failing commits are retried with a growing pause, not at the commit interval.
      if (rollbacks_in_a_row_ > 0 && state_ != ThreadState::failed) {
        rollback_backoff_->wait([this] { return stop_requested_->load(); }, [this] { health_.beat(now_ms()); });
      } else {
        rollback_backoff_->reset();
      }
    }
    if (now >= next_gauges_ms_) {
      update_gauges();
      next_gauges_ms_ = now + 1000;
    }
  }
  return !stop_requested_->load() && state_ != ThreadState::failed;
}

void Processor::on_queue_dry() {
  const std::int64_t drained = drained_bytes_;
  drained_bytes_ = 0;
  // librdkafka 2.0.2 stops fetching once the prefetched bytes reach the bound, and decides again only when its
  // broker thread next wakes: on its socket, an operation sent to it, or a second later (a pause or resume is
  // handled by the main thread and does not wake it). Having drained half a bound since the queue was last
  // empty, the fetcher has most likely stopped: a seek of each partition to the position the application reached
  // wakes the partition's broker thread ("seek done"), which fetches again at once from there. The seek sets a
  // version barrier before it returns, so anything fetched before it is dropped unseen and read again from that
  // position: nothing is skipped or read twice. Not during a restore (its partitions are paused), nor for a
  // partition paused for a full input buffer. librdkafka forgets the position at a seek until the next record:
  // the multi-input tasks, which compare it with the high watermark, use the one sought (sought_positions_).
  if (drained < options_.consumer_queue_max_kbytes * 1024 / 2 || assignment_.empty()) return;
  if (restorer_ && restorer_->active()) return;
  std::set<std::pair<std::string_view, std::int32_t>> paused;
  for (const auto& [id, queued] : queues_) {
    const auto& inputs = inputs_of_subtopology_[static_cast<std::size_t>(id.subtopology)];
    for (std::size_t input = 0; input < inputs.size(); ++input) {
      if (queued.paused[input]) paused.insert({pipeline_.sources()[inputs[input]].topic, id.partition});
    }
  }
  bool woken = false;
  for (const auto& partition : assignment_) {
    if (paused.count({partition.topic, partition.partition}) != 0) continue;
    auto position = consumer_->position(partition.topic, partition.partition);
    if (!position || *position < 0) continue;  // nothing read since the assignment or the last seek
    if (consumer_->seek({partition.topic, partition.partition, *position}, 0ms).ok()) {
      sought_positions_[{partition.topic, partition.partition}] = *position;
      woken = true;
    }
  }
  if (woken) metrics_.fetcher_wakeups().Increment();
}

void Processor::consume(kafka::Message&& message) {
  std::string_view topic = message.topic();
  auto source = pipeline_.source_for_topic(topic);
  if (!source) return;  // cannot happen: the consumer subscribes to source topics only
  TaskState* task = tasks_->task_for_input(*source, message.partition());
  if (task == nullptr || !task->running()) {
    // Fetched before the partition was paused: read it again once the task is ready.
    (void)consumer_->seek({std::string(topic), message.partition(), message.offset()}, 1s);
    return;
  }
  const auto& inputs = inputs_of_subtopology_[static_cast<std::size_t>(task->id.subtopology)];
  if (inputs.empty()) {
    process(*source, *task, message);
    return;
  }
  auto [found, created] = queues_.try_emplace(
      task->id, InputQueue{TaskInputQueue(inputs.size(), InputQueueOptions{.max_task_idle_ms = task_idle_ms_[static_cast<std::size_t>(task->id.subtopology)]}),
                           std::vector<bool>(inputs.size(), false)});
  InputQueue& queued = found->second;
  const std::size_t input = input_index_[*source];
  queued.queue.push(input, std::move(message));
  // Bounded memory: a partition that is far ahead of the others stops fetching until the task catches up.
  if (!queued.paused[input] &&
      queued.queue.buffered(input) >= static_cast<std::size_t>(options_.buffered_records_per_partition)) {
    kafka::KafkaError error = consumer_->pause({{std::string(topic), task->id.partition, kafka::offset_invalid}});
    if (error.ok()) {
      queued.paused[input] = true;
    } else {
      logger_.warn(component_, "cannot pause " + std::string(topic) + "[" + std::to_string(task->id.partition) +
                                   "] whose input buffer is full: " + error.message);
    }
  }
}

int Processor::drain_queues(std::int64_t wall_ms) {
  int processed = 0;
  for (auto& [id, queued] : queues_) {
    TaskState* task = tasks_->find(id);
    if (task == nullptr || !task->running()) continue;
    const auto& inputs = inputs_of_subtopology_[static_cast<std::size_t>(id.subtopology)];
    const auto& sources = pipeline_.sources();
    auto caught_up = [&](std::size_t input) {
      const std::string& topic = sources[inputs[input]].topic;
      auto position = consumer_->position(topic, id.partition);
      if (!position) {  // none since a seek (a wake-up's, a rewind's): where it sought
        auto sought = sought_positions_.find({topic, id.partition});
        if (sought != sought_positions_.end()) position = sought->second;
      }
      auto high = consumer_->cached_high_watermark(topic, id.partition);
      return position && high && *position >= *high;
    };
    while (auto next = queued.queue.next(wall_ms, caught_up)) {
      if (next->enforced) metrics_.enforced_processing().Increment();
      process(inputs[next->input], *task, next->message);
      ++processed;
      if (state_ == ThreadState::failed) return processed;
    }
    const auto resume_below = static_cast<std::size_t>(options_.buffered_records_per_partition / 2);
    for (std::size_t input = 0; input < inputs.size(); ++input) {
      if (!queued.paused[input] || queued.queue.buffered(input) > resume_below) continue;
      kafka::KafkaError error = consumer_->resume({{sources[inputs[input]].topic, id.partition, kafka::offset_invalid}});
      if (error.ok()) queued.paused[input] = false;
    }
  }
  return processed;
}

std::chrono::milliseconds Processor::queue_wait(std::int64_t wall_ms, std::chrono::milliseconds wait) const {
  for (const auto& [id, queued] : queues_) {
    if (auto left = queued.queue.wait_left_ms(wall_ms)) wait = std::min(wait, std::chrono::milliseconds(*left));
  }
  return wait;
}

void Processor::clear_queues() {
  // Buffered records were never processed: their offsets are not committed, so they are read again (after a
  // rewind, from the committed offsets; after a revoke, by the next owner).
  for (auto& [id, queued] : queues_) {
    const auto& inputs = inputs_of_subtopology_[static_cast<std::size_t>(id.subtopology)];
    for (std::size_t input = 0; input < inputs.size(); ++input) {
      if (!queued.paused[input]) continue;
      (void)consumer_->resume({{pipeline_.sources()[inputs[input]].topic, id.partition, kafka::offset_invalid}});
    }
  }
  queues_.clear();
}

void Processor::process(std::size_t source, TaskState& task, const kafka::Message& message) {
  // The processing-time histogram samples one record in kLatencySample: clock reads are not free here.
  const bool timed = ++records_since_latency_sample_ >= kLatencySample;
  const std::int64_t started = timed ? clock_.monotonic_ns() : 0;
  std::string_view topic = message.topic();
  core::Origin origin;
  origin.topic = topic;
  origin.partition = message.partition();
  origin.offset = message.offset();
  origin.has_key = message.has_key();
  origin.raw_key = message.key();
  origin.has_value = message.has_value();
  origin.raw_value = message.value();
  task.last_input_wall_ms = batch_wall_ms_;
  collector_->set_origin(&origin, source);
  if (auto rejected = collector_->take_poisoned(source, origin.partition, origin.offset)) {
    collector_->dead_letter_input(*rejected);
  } else {
    // The pipeline runs synchronously: the message (and so the Origin's views) outlives it.
    (void)pipeline_.process(source, origin, message.timestamp_ms(), message.headers(), state_data_, task, *collector_);
  }
  collector_->set_origin(nullptr);
  tasks_->record_consumed(topic, message.partition(), message.offset() + 1);
  consumed_by_source_[source]->Increment();
  if (timed) {
    records_since_latency_sample_ = 0;
    metrics_.processing_latency().Observe(static_cast<double>(clock_.monotonic_ns() - started) / 1e9);
  }
}

void Processor::commit(const char* why) {
  if (!tasks_ || !committer_) return;
  switch (tasks_->commit(clock_.wall_ms(), *collector_, *collector_, *committer_, why)) {
    case CommitResult::retry_later: break;
    case CommitResult::nothing: rollbacks_in_a_row_ = 0; break;
    case CommitResult::committed:
      rollbacks_in_a_row_ = 0;
      topics_->purge_repartition(tasks_->committed_offsets());
      break;
    case CommitResult::rolled_back:
      ++rollbacks_in_a_row_;
      rewind();
      break;
    case CommitResult::fatal: fail(std::string("commit (") + why + ") failed; stopping"); break;
  }
}

void Processor::rewind() {
  // Re-read every partition from its last committed offset, with the state as it was at that commit.
  sought_positions_.clear();
  std::vector<kafka::TopicPartition> positions;
  for (const auto& partition : assignment_) positions.push_back({partition.topic, partition.partition, kafka::offset_invalid});
  kafka::KafkaError error;
  core::Backoff backoff(clock_, 100, 2'000);
  for (const std::int64_t deadline = now_ms() + options_.max_poll_interval.count() / 2;;) {
    {
      BlockingCall call(&health_, "reading committed offsets", now_ms());
      error = consumer_->committed(positions, 10s);
    }
    if (error.ok() || !(error.retriable || error.unreachable()) || now_ms() >= deadline) break;
    logger_.warn(component_, "reading committed offsets to rewind: " + error.message + "; retrying");
    if (!backoff.wait([this] { return stop_requested_->load(); }, [this] { health_.beat(now_ms()); })) break;
  }
  if (!error.ok()) {
    fail("cannot read committed offsets to rewind: " + error.message);  // going on could skip inputs
    return;
  }
  for (auto& position : positions) {
    if (position.offset < 0) position.offset = kafka::offset_beginning;
    kafka::KafkaError seek_error = consumer_->seek(position, 10s);
    if (!seek_error.ok()) {
      fail("cannot rewind " + position.topic + "[" + std::to_string(position.partition) + "]: " + seek_error.message);
      return;
    }
    if (position.offset >= 0) sought_positions_[{position.topic, position.partition}] = position.offset;
  }
  clear_queues();
  tasks_->discard_uncommitted();
  collector_->reset();
  // Exactly-once: a transaction whose outcome was unknown may have committed its changelog records; restoring
  // the changelog tails brings the stores to exactly what is committed (after an abort the tail is empty).
  if (options_.exactly_once && restorer_) {
    std::vector<TaskId> ids;
    for (const auto& [id, task] : tasks_->tasks()) ids.push_back(id);
    kafka::KafkaError restore_error = restorer_->start(ids);
    if (!restore_error.ok()) fail("cannot restore state after a rollback: " + restore_error.message);
  }
  metrics_.rewinds().Increment();
  logger_.warn(component_, "rewound " + std::to_string(positions.size()) + " partitions to their committed offsets");
  update_readiness();
}

void Processor::forget_assignment() {
  if (consumer_) clear_queues();
  if (restorer_) restorer_->clear();
  if (tasks_) tasks_->close_all();
  for (const auto& partition : assignment_) metrics_.remove_lag(partition.topic, partition.partition);
  assignment_.clear();
  sought_positions_.clear();
  set_share(metrics_.assigned_partitions(), assigned_partitions_share_, 0);
  set_share(metrics_.active_tasks(), active_tasks_share_, 0);
}

void Processor::on_partitions_revoked(const std::vector<kafka::TopicPartition>& partitions) {
  metrics_.rebalances("revoked").Increment();
  logger_.info(component_, "partitions revoked: " + std::to_string(partitions.size()));
  if (state_ == ThreadState::running || state_ == ThreadState::joining) {
    health_.set_ready(false, "rebalancing");
    // What was processed is committed before the partitions go; a failed commit here means redelivery to
    // the next owner (rolled back under exactly-once).
    commit("revoke");
    if (transactions_ != nullptr && transactions_->in_transaction()) (void)transactions_->abort("revoke");
    state_ = ThreadState::joining;
  }
  forget_assignment();
}

void Processor::on_partitions_lost(const std::vector<kafka::TopicPartition>& partitions) {
  metrics_.rebalances("lost").Increment();
  logger_.warn(component_, "assignment lost (" + std::to_string(partitions.size()) +
                               " partitions); uncommitted inputs will be processed again by their new owner");
  if (state_ == ThreadState::running || state_ == ThreadState::joining) {
    health_.set_ready(false, "assignment lost");
    // Nothing is committed for partitions that are no longer ours; the open transaction is given up.
    if (transactions_ != nullptr) {
      if (!transactions_->abort("assignment lost")) fail("cannot give up the transaction of a lost assignment");
    }
    if (collector_) collector_->reset();
    if (state_ != ThreadState::failed) state_ = ThreadState::joining;
  }
  forget_assignment();
}

bool Processor::on_assignment_delayed(const kafka::KafkaError& error) {
  // Inside the consumer's poll: the loop does not turn meanwhile, so the heartbeat and readiness are kept here.
  const std::int64_t now = now_ms();
  health_.beat(now);
  const bool first = assignment_delayed_since_ms_ < 0;
  if (first) {
    assignment_delayed_since_ms_ = now;
    health_.set_ready(false, "waiting for the committed offsets of the new assignment (" + error.message + ")");
  }
  if (first || now - assignment_delay_logged_ms_ >= 5'000) {
    assignment_delay_logged_ms_ = now;
    logger_.warn(component_, "waiting " + std::to_string((now - assignment_delayed_since_ms_) / 1000) +
                                 " s for the committed offsets of the new assignment: " + error.message +
                                 " (an open transaction of a previous owner holds them until it ends or the broker "
                                 "aborts it after its transaction timeout)");
  }
  return !stop_requested_->load();
}

void Processor::on_assignment_failed(const std::vector<kafka::TopicPartition>& partitions,
                                     const kafka::KafkaError& error) {
  assignment_delayed_since_ms_ = -1;
  metrics_.rebalances("assigned").Increment();
  if (stop_requested_->load()) {
    logger_.info(component_, "stopping while the committed offsets of the new assignment were unreadable");
    return;
  }
  // Starting elsewhere than the committed offsets would skip or repeat records: this instance stops instead
  // (a restart rejoins the group and tries again).
  fail("cannot read the committed offsets of the " + std::to_string(partitions.size()) +
       " partitions assigned: " + error.message);
}

void Processor::on_partitions_assigned(const std::vector<kafka::TopicPartition>& partitions) {
  assignment_delayed_since_ms_ = -1;
  metrics_.rebalances("assigned").Increment();
  if (state_ != ThreadState::joining && state_ != ThreadState::running) return;
  assignment_ = partitions;
  sought_positions_.clear();
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
  const std::int64_t wall = clock_.wall_ms();
  try {
    for (const auto& id : ids) tasks_->open(id, wall);
  } catch (const std::exception& failure) {
    fail(std::string("cannot open the state stores of a task: ") + failure.what());
    return;
  }
  set_share(metrics_.active_tasks(), active_tasks_share_, static_cast<double>(tasks_->tasks().size()));
  state_ = ThreadState::running;
  if (restorer_) {
    kafka::KafkaError error = restorer_->start(std::vector<TaskId>(ids.begin(), ids.end()));
    if (!error.ok()) {
      fail("cannot read the ends of the changelogs to restore: " + error.message);
      return;
    }
  }
  trouble_.reset();
  update_readiness();
}

void Processor::update_gauges() {
  set_share(metrics_.producer_queue(), producer_queue_share_, static_cast<double>(collector_->producer().queue_length()));
  update_table_rows();
  for (const auto& partition : assignment_) {
    auto high = consumer_->cached_high_watermark(partition.topic, partition.partition);
    if (!high) continue;
    auto position = consumer_->position(partition.topic, partition.partition);
    std::int64_t consumed = position ? *position : tasks_->committed_offset(partition.topic, partition.partition).value_or(0);
    metrics_.set_lag(partition.topic, partition.partition, static_cast<double>(std::max<std::int64_t>(0, *high - consumed)));
  }
  // While the cluster is unreachable, probe it once a second so /readyz recovers even without traffic.
  if (trouble_ && rollbacks_in_a_row_ == 0) {
    const std::int64_t now = now_ms();
    if (now - last_probe_ms_ >= 1000) {
      last_probe_ms_ = now;
      if (collector_->producer().ping(500ms).ok() && !last_client_error_.refusal()) clear_trouble();
    }
  }
}

void Processor::update_table_rows() {
  const auto& tables = pipeline_.topology().tables;
  if (tables.empty()) return;
  std::vector<double> rows(tables.size(), 0);
  std::vector<bool> counted(tables.size());
  for (auto& [id, task] : tasks_->tasks()) {
    if (!task.stores || !task.running()) continue;
    std::fill(counted.begin(), counted.end(), false);
    for (std::size_t slot = 0; slot < task.stores->size(); ++slot) {
      const int table = pipeline_.slot_table(id.subtopology, slot);
      // Two joins of one table in a task each hold a copy: count the table once.
      if (table < 0 || counted[static_cast<std::size_t>(table)]) continue;
      counted[static_cast<std::size_t>(table)] = true;
      rows[static_cast<std::size_t>(table)] +=
          static_cast<double>(task.stores->estimated_keys(slot, pipeline_.slot_table_family(id.subtopology, slot)));
    }
  }
  table_rows_share_.resize(tables.size(), 0);
  for (std::size_t table = 0; table < tables.size(); ++table) {
    if (tables[table].global) continue;  // sluice_global_table_rows
    set_share(metrics_.table_rows(tables[table].name), table_rows_share_[table], rows[table]);
  }
}

void Processor::close() noexcept {
  if (state_ == ThreadState::closed || state_ == ThreadState::closing) return;
  try {
    const bool clean = state_ == ThreadState::running || state_ == ThreadState::joining;
    logger_.info(component_, clean     ? "stopping: committing and leaving the group"
                             : failed_ ? "stopping after a failure"
                                       : "stopping");
    health_.set_ready(false, "shutting down");
    if (clean) commit("shutdown");
    if (transactions_ != nullptr && transactions_->in_transaction()) (void)transactions_->abort("shutdown");
    state_ = ThreadState::closing;  // the final revoke below commits nothing
    if (consumer_) consumer_->close();
    forget_assignment();
    if (restore_consumer_) restore_consumer_->close();
    if (collector_ && clean) {
      kafka::KafkaError error = collector_->producer().flush(options_.shutdown_timeout);
      if (!error.ok()) logger_.error(component_, "outputs not acknowledged at shutdown: " + error.message);
    }
    set_share(metrics_.producer_queue(), producer_queue_share_, 0);
    logger_.info(component_, "stopped");
  } catch (const std::exception& failure) {
    logger_.error(component_, std::string("error while stopping: ") + failure.what());
  }
  state_ = ThreadState::closed;
}

}  // namespace sluice::runtime
