#include "sluice/runtime/global_tables.hpp"

#include <algorithm>
#include <charconv>

#include "sluice/core/backoff.hpp"

namespace sluice::runtime {

using namespace std::chrono_literals;

namespace {

constexpr const char* kComponent = "global-tables";

std::string to_text(std::int64_t number) {
  char buffer[24];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, number);
  return std::string(buffer, result.ptr);
}

}  // namespace

GlobalRow classify_global_row(const topology::TableSpec& table, bool has_key, std::optional<std::string_view> value,
                              core::JsonParser& parser) {
  if (!has_key) return {GlobalRow::Kind::dead_letter, core::RecordErrorKind::missing_field, "a table row needs a key; this one has none"};
  if (!value) return {GlobalRow::Kind::remove, {}, {}};
  if (table.value == topology::ValueFormat::json) {
    if (auto parsed = parser.parse(*value); !parsed.ok()) {
      return {GlobalRow::Kind::dead_letter, core::RecordErrorKind::deserialization, "value: " + parsed.error().message};
    }
  }
  return {GlobalRow::Kind::put, {}, {}};
}

GlobalTables::GlobalTables(const Pipeline& pipeline, StoreOpener open_store, kafka::ClientFactory& clients,
                           kafka::ClientSettings client, GlobalTablesOptions options, observe::Metrics& metrics,
                           observe::Logger& logger, const core::Clock& clock)
    : pipeline_(pipeline),
      open_store_(std::move(open_store)),
      clients_(clients),
      client_(std::move(client)),
      options_(options),
      metrics_(metrics),
      logger_(logger),
      clock_(clock) {
  for (const std::size_t index : pipeline_.global_tables()) {
    Table table;
    table.index = index;
    table.spec = &pipeline_.topology().tables[index];
    table.rows = &metrics_.global_table_rows(table.spec->name);
    table.remaining = &metrics_.global_table_remaining(table.spec->name);
    table.updates = &metrics_.table_updates(table.spec->name);
    table.deletes = &metrics_.table_deletes(table.spec->name);
    tables_.push_back(std::move(table));
  }
}

GlobalTables::~GlobalTables() { stop(); }

void GlobalTables::start() {
  std::call_once(started_, [this] { start_once(); });
}

void GlobalTables::start_once() {
  if (tables_.empty()) {
    std::lock_guard lock(mutex_);
    loaded_ = true;
    return;
  }
  for (Table& table : tables_) {
    table.store = open_store_(*table.spec);
    table.rows->Set(static_cast<double>(table.store->rows()));
  }
  if (options_.health != nullptr) options_.health->set_ready(false, "global tables: loading");
  kafka::ClientCallbacks callbacks;
  callbacks.log = [this](int level, std::string_view facility, std::string_view message) {
    observe::LogLevel mapped = level <= 3 ? observe::LogLevel::error
                               : level == 4 ? observe::LogLevel::warn
                               : level <= 6 ? observe::LogLevel::info
                                            : observe::LogLevel::debug;
    logger_.log(mapped, "kafka", "global-tables " + std::string(facility) + ": " + std::string(message));
  };
  callbacks.error = [this](const kafka::KafkaError& error) {
    if (error.refusal() || error.code == kafka::ErrorCode::all_brokers_down || error.code == kafka::ErrorCode::resolve) {
      enter_outage(error);
    } else {
      // During an outage the client repeats what the outage line said: once is enough at warn.
      logger_.log(outage() ? observe::LogLevel::debug : observe::LogLevel::warn, kComponent,
                  "client error: " + error.message);
    }
  };
  kafka::ClientSettings client = client_;
  client.client_id += "-global";
  admin_ = clients_.admin(kafka::admin_config(client), callbacks);
  consumer_ = clients_.consumer(kafka::restore_consumer_config(client), callbacks, nullptr);
  client.exactly_once = false;  // dead letters only: idempotent, outside the processing transactions
  producer_ = clients_.producer(kafka::producer_config(client), callbacks,
                                [this](const kafka::KafkaError& error, const kafka::DeliveryReport&) {
                                  if (!error.ok()) {
                                    ++delivery_failures_;
                                    logger_.error(kComponent, "a dead letter was not written: " + error.message);
                                  }
                                });
  started_ms_ = now_ms();
  thread_ = std::thread([this] { run(); });
}

void GlobalTables::set_status(std::string status) {
  {
    std::lock_guard lock(mutex_);
    status_ = std::move(status);
  }
  changed_.notify_all();
}

std::optional<std::string> GlobalTables::outage() const {
  std::lock_guard lock(mutex_);
  return outage_;
}

void GlobalTables::enter_outage(const kafka::KafkaError& error) {
  const std::string reason = "global tables: cluster unreachable or refusing: " + error.message;
  bool started = false, was_loaded = false;
  {
    std::lock_guard lock(mutex_);
    started = !outage_;
    if (started) outage_since_ms_ = now_ms();
    outage_ = reason;
    was_loaded = loaded_;
    if (!loaded_) status_ = reason;
  }
  changed_.notify_all();
  if (options_.health != nullptr) options_.health->set_ready(false, reason);
  if (started) {
    logger_.warn(kComponent, reason + (was_loaded ? "; not ready until the reader reads again" : "; retrying"));
  } else {
    logger_.debug(kComponent, reason);
  }
}

void GlobalTables::leave_outage(const char* how) {
  std::string was;
  std::int64_t lasted_ms = 0;
  bool is_loaded = false;
  {
    std::lock_guard lock(mutex_);
    if (!outage_) return;
    was = std::move(*outage_);
    outage_.reset();
    lasted_ms = now_ms() - outage_since_ms_;
    is_loaded = loaded_;
  }
  if (options_.health != nullptr) {
    options_.health->set_ready(is_loaded, is_loaded ? "global tables loaded" : "global tables: loading");
  }
  logger_.info(kComponent, std::string("global tables: ") + how + " after " + to_text(lasted_ms) + " ms (" + was + ")");
}

// Asks the cluster for the offsets of a table partition: an answer means the reader can read again, also when
// the table has nothing new to deliver.
void GlobalTables::probe_outage() {
  if (!outage() || tables_.empty()) return;
  const std::int64_t now = now_ms();
  if (now - last_probe_ms_ < options_.probe_interval.count()) return;
  last_probe_ms_ = now;
  std::int64_t low = 0, high = 0;
  if (consumer_->query_watermarks(tables_.front().spec->topic, 0, low, high, 500ms).ok()) {
    leave_outage("the cluster answers again");
  }
}

std::string GlobalTables::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

bool GlobalTables::loaded() const {
  std::lock_guard lock(mutex_);
  return loaded_;
}

std::vector<const state::GlobalTableStore*> GlobalTables::stores() const {
  std::vector<const state::GlobalTableStore*> stores(pipeline_.topology().tables.size(), nullptr);
  for (const Table& table : tables_) stores[table.index] = table.store.get();
  return stores;
}

GlobalLoadOutcome GlobalTables::wait_loaded(const std::atomic<bool>& stop,
                                            const std::function<void(const std::string&)>& progress,
                                            std::chrono::milliseconds report_every) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (loaded_) return GlobalLoadOutcome::loaded;
    if (failure_) return GlobalLoadOutcome::failed;
    if (stop.load() || stopped_) return GlobalLoadOutcome::stopped;
    const std::string status = status_;
    lock.unlock();
    if (progress) progress(status);
    lock.lock();
    changed_.wait_for(lock, report_every);
  }
}

GlobalTables::Table* GlobalTables::table_for(std::string_view topic) {
  for (Table& table : tables_) {
    if (table.spec->topic == topic) return &table;
  }
  return nullptr;
}

bool GlobalTables::prepare() {
  std::vector<kafka::TopicInfo> topics;
  if (kafka::KafkaError error = admin_->list_topics(topics, 10s); !error.ok()) {
    set_status("global tables: waiting for the cluster: " + error.message);
    return false;
  }
  std::vector<kafka::TopicPartition> assignment;
  for (Table& table : tables_) {
    const auto found = std::find_if(topics.begin(), topics.end(),
                                    [&](const kafka::TopicInfo& info) { return info.name == table.spec->topic; });
    if (found == topics.end() || found->partitions <= 0) {
      set_status("global tables: waiting for topic \"" + table.spec->topic + "\" (" + table.spec->pointer + "/topic)");
      return false;
    }
    const auto partitions = static_cast<std::size_t>(found->partitions);
    std::vector<std::int64_t> lows(partitions, 0), highs(partitions, 0);
    for (std::size_t p = 0; p < partitions; ++p) {
      if (kafka::KafkaError error = consumer_->query_watermarks(table.spec->topic, static_cast<std::int32_t>(p),
                                                                lows[p], highs[p], 10s);
          !error.ok()) {
        set_status("global tables: reading the offsets of \"" + table.spec->topic + "\": " + error.message);
        return false;
      }
    }
    // The store reflects the topic up to its stored offsets; offsets the topic no longer has (recreated with
    // fewer partitions or records, or truncated past them) mean the store reflects another topic: read it again.
    std::map<std::int32_t, std::int64_t> stored = table.store->next_offsets();
    std::string mismatch;
    for (const auto& [partition, offset] : stored) {
      if (partition < 0 || static_cast<std::size_t>(partition) >= partitions) {
        mismatch = "partition " + to_text(partition) + " is gone";
      } else if (offset < lows[static_cast<std::size_t>(partition)] || offset > highs[static_cast<std::size_t>(partition)]) {
        mismatch = "partition " + to_text(partition) + " holds offsets " + to_text(lows[static_cast<std::size_t>(partition)]) +
                   ".." + to_text(highs[static_cast<std::size_t>(partition)]) + ", the store is at " + to_text(offset);
      }
      if (!mismatch.empty()) break;
    }
    if (!mismatch.empty()) {
      logger_.warn(kComponent, "global table " + table.spec->name + ": the local store does not match topic \"" +
                                   table.spec->topic + "\" (" + mismatch +
                                   "; recreated or truncated?): wiping it and reading the topic again from the start");
      table.store->reset();
      stored.clear();
    }
    const bool resumed = !stored.empty();
    table.ends = highs;
    table.positions.assign(partitions, 0);
    table.start_offsets = 0;
    for (std::size_t p = 0; p < partitions; ++p) {
      const auto stored_offset = stored.find(static_cast<std::int32_t>(p));
      table.positions[p] = stored_offset != stored.end() ? stored_offset->second : lows[p];
      table.start_offsets += std::max<std::int64_t>(0, highs[p] - table.positions[p]);
      assignment.push_back({table.spec->topic, static_cast<std::int32_t>(p), table.positions[p]});
    }
    logger_.info(kComponent, "global table " + table.spec->name + ": reading " + to_text(table.start_offsets) +
                                 " offsets of " + to_text(static_cast<std::int64_t>(partitions)) +
                                 " partitions of topic \"" + table.spec->topic + "\" (" +
                                 (resumed ? "resuming from the offsets of the local store" : "local store empty") + ")");
  }
  if (kafka::KafkaError error = consumer_->assign(assignment); !error.ok()) {
    set_status("global tables: cannot assign the table partitions: " + error.message);
    return false;
  }
  return true;
}

void GlobalTables::dead_letter(const Table& table, const kafka::Message& message, core::RecordErrorKind kind,
                               const std::string& why) {
  const std::string where = "table:" + table.spec->name;
  headers_.clear();
  headers_.push_back({std::string(dead_letter_header::error_kind), std::string(core::to_string(kind))});
  headers_.push_back({std::string(dead_letter_header::error_message), why});
  headers_.push_back({std::string(dead_letter_header::operator_name), where});
  headers_.push_back({std::string(dead_letter_header::source_topic), std::string(message.topic())});
  headers_.push_back({std::string(dead_letter_header::source_partition), to_text(message.partition())});
  headers_.push_back({std::string(dead_letter_header::source_offset), to_text(message.offset())});
  headers_.push_back({std::string(dead_letter_header::application_id), pipeline_.topology().application_id});
  const auto key = message.has_key() ? std::optional<std::string_view>(message.key()) : std::nullopt;
  const auto value = message.has_value() ? std::optional<std::string_view>(message.value()) : std::nullopt;
  for (;;) {
    kafka::KafkaError error = producer_->produce(pipeline_.topology().dead_letter_topic, key, value,
                                                 message.timestamp_ms(), &headers_);
    if (error.code != kafka::ErrorCode::queue_full) {
      if (!error.ok()) {
        ++delivery_failures_;
        logger_.error(kComponent, "a dead letter of " + where + " was not written: " + error.message);
      }
      break;
    }
    producer_->poll(10ms);
  }
  metrics_.dead_lettered(where, core::to_string(kind)).Increment();
  dead_letters_sent_ = true;
}

void GlobalTables::apply(const kafka::Message& message) {
  Table* table = table_for(message.topic());
  if (table == nullptr || message.partition() < 0 ||
      static_cast<std::size_t>(message.partition()) >= table->positions.size()) {
    return;
  }
  const auto value = message.has_value() ? std::optional<std::string_view>(message.value()) : std::nullopt;
  const GlobalRow row = classify_global_row(*table->spec, message.has_key(), value, parser_);
  switch (row.kind) {
    case GlobalRow::Kind::dead_letter: dead_letter(*table, message, row.error, row.why); break;
    case GlobalRow::Kind::put:
      table->store->put(message.key(), message.value());
      table->updates->Increment();
      break;
    case GlobalRow::Kind::remove:
      table->store->remove(message.key());  // a tombstone deletes the row
      table->deletes->Increment();
      break;
  }
  auto& position = table->positions[static_cast<std::size_t>(message.partition())];
  position = std::max(position, message.offset() + 1);
  table->store->set_next_offset(message.partition(), position);
  ++table->records;
  ++records_read_;
  dirty_ = true;
}

bool GlobalTables::store_applied() {
  if (!dirty_) return true;
  if (dead_letters_sent_) {
    // The offsets past a bad row are stored only once its dead letter is written.
    kafka::KafkaError error = producer_->flush(30s);
    // A dead letter the cluster refused is lost unless the rows after it are read again: stop without storing
    // the offsets past it (a restart reads them again and dead-letters again).
    if (delivery_failures_.load() > 0) throw std::runtime_error("dead letters of the global tables could not be written");
    if (!error.ok()) {
      logger_.warn(kComponent, "dead letters not acknowledged yet (" + error.message +
                                   "); the table offsets are stored once they are");
      return false;
    }
    dead_letters_sent_ = false;
  }
  for (Table& table : tables_) {
    table.store->commit();
    table.rows->Set(static_cast<double>(table.store->rows()));
  }
  dirty_ = false;
  last_commit_ms_ = now_ms();
  return true;
}

void GlobalTables::update_progress() {
  std::int64_t remaining_all = 0, total_all = 0;
  bool all_loaded = true;
  std::string loading;
  for (Table& table : tables_) {
    // Transaction markers and aborted records take offsets that are never delivered: the consumer's position,
    // not the last record, says how far the read is.
    for (std::size_t p = 0; p < table.positions.size(); ++p) {
      if (auto position = consumer_->position(table.spec->topic, static_cast<std::int32_t>(p));
          position && *position > table.positions[p]) {
        table.positions[p] = *position;
        table.store->set_next_offset(static_cast<std::int32_t>(p), *position);
        dirty_ = true;
      }
    }
    std::int64_t remaining = 0;
    for (std::size_t p = 0; p < table.positions.size(); ++p) {
      remaining += std::max<std::int64_t>(0, table.ends[p] - table.positions[p]);
    }
    table.remaining->Set(static_cast<double>(remaining));
    table.rows->Set(static_cast<double>(table.store->rows()));
    if (!table.loaded && remaining == 0) {
      table.loaded = true;
      const std::int64_t elapsed = std::max<std::int64_t>(1, now_ms() - started_ms_);
      logger_.info(kComponent, "global table " + table.spec->name + " loaded: " + to_text(table.records) +
                                   " records read in " + to_text(elapsed) + " ms, " + to_text(table.store->rows()) +
                                   " rows");
    }
    if (!table.loaded) {
      all_loaded = false;
      loading += (loading.empty() ? "" : ", ") + table.spec->name + " " +
                 to_text(table.start_offsets - remaining) + " of " + to_text(table.start_offsets) + " offsets (" +
                 to_text(table.start_offsets > 0 ? (table.start_offsets - remaining) * 100 / table.start_offsets : 100) +
                 "%)";
    }
    remaining_all += remaining;
    total_all += table.start_offsets;
  }
  const std::optional<std::string> trouble = outage();
  if (all_loaded) {
    bool newly = false;
    {
      std::lock_guard lock(mutex_);
      newly = !loaded_;
      loaded_ = true;
      status_ = "global tables loaded";
    }
    if (newly) {
      (void)store_applied();
      changed_.notify_all();
      if (options_.health != nullptr && !trouble) options_.health->set_ready(true, "global tables loaded");
    }
  } else {
    set_status("loading global tables: " + loading + (trouble ? " (" + *trouble + ")" : ""));
  }
  (void)remaining_all;
  (void)total_all;
}

void GlobalTables::run() {
  core::Backoff backoff(clock_, 100, options_.backoff_max_ms);
  try {
    while (!stop_.load()) {
      if (!prepared_) {
        prepared_ = prepare();
        if (!prepared_) {
          if (now_ms() - last_warning_ms_ >= 5'000) {
            last_warning_ms_ = now_ms();
            logger_.warn(kComponent, status() + "; retrying");
          }
          backoff.wait([this] { return stop_.load(); });
          continue;
        }
        backoff.reset();
        leave_outage("the cluster answers again");
        update_progress();
      }
      std::int64_t applied = 0;
      while (applied < options_.batch_records && !stop_.load()) {
        kafka::Message message = consumer_->poll(applied == 0 ? 100ms : 0ms);
        if (!message) break;
        if (!message.ok()) {
          if (message.error() != kafka::ErrorCode::partition_eof && now_ms() - last_warning_ms_ >= 1'000) {
            last_warning_ms_ = now_ms();
            logger_.log(outage() ? observe::LogLevel::debug : observe::LogLevel::warn, kComponent,
                        "reading the global tables: " + message.error_message());
          }
          continue;
        }
        apply(message);
        ++applied;
      }
      if (applied > 0) {
        leave_outage("reading again");
      } else {
        probe_outage();
      }
      producer_->poll(0ms);
      update_progress();
      // While loading, every batch is stored (a restart resumes from it); then at most every commit_interval.
      if (!loaded() || now_ms() - last_commit_ms_ >= options_.commit_interval.count()) (void)store_applied();
    }
    (void)store_applied();
  } catch (const std::exception& error) {
    logger_.error(kComponent, std::string("global tables failed: ") + error.what());
    {
      std::lock_guard lock(mutex_);
      failure_ = error.what();
      status_ = std::string("global tables failed: ") + error.what();
    }
    failed_ = true;
    changed_.notify_all();
  }
}

void GlobalTables::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  stop_ = true;
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (producer_) (void)producer_->flush(5s);
  if (consumer_) consumer_->close();
  for (Table& table : tables_) {
    if (table.store) table.store->close();
  }
}

}  // namespace sluice::runtime
