// The global tables of one instance (issue 12, item 5): every partition of each global table's topic, read by
// manual assignment (no consumer group, read_committed) into one local store per table, first fully up to the
// ends seen at start — processing threads wait for that (wait_loaded) and /readyz says how far it is — then
// followed in the background, each update visible to lookups at once. A store keeps per partition the next
// offset it reflects, written atomically with the rows, so a restart reads only what was added since; stored
// offsets outside the topic (recreated, truncated) wipe the store, which is read again from the start.
//
// Global-table updates are not ordered with stream time (as in Kafka Streams): a lookup sees whatever the
// reader has applied when it runs. A row without a key or with a value that is not in the table's format goes
// to the dead-letter topic (operator "table:<name>"), flushed before the offsets past it are stored (so it is
// written at least once), and the reader goes on. An unreachable cluster is retried with backoff and reported.
// Once loaded, a reader that cannot reach the cluster (or is refused) makes the instance not ready (its Health,
// part of /readyz, says why) until it reads again or a probe of the table topic is answered; the log says so
// once when the outage starts and once when it ends.
//
// Lifecycle: construct, start() (the reader thread), wait_loaded() from each processing thread, stop() (or the
// destructor) joins the thread, stores what was applied, closes the clients and the stores. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/core/json.hpp"
#include "sluice/kafka/client.hpp"
#include "sluice/kafka/client_config.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/health.hpp"
#include "sluice/runtime/pipeline.hpp"
#include "sluice/state/global_table_store.hpp"

namespace sluice::runtime {

struct GlobalTablesOptions {
  std::int64_t batch_records = 10'000;  // records applied between two store commits (at most, while loading)
  std::int64_t backoff_max_ms = 30'000;
  std::chrono::milliseconds commit_interval{100};  // while following: how long applied rows wait to be stored
  // Where the reader's readiness goes (InstanceHealth::global_tables); null: nowhere.
  Health* health = nullptr;
  std::chrono::milliseconds probe_interval{1000};  // during an outage: how often the cluster is asked again
};

// What a global table makes of one record of its topic: a row to put, a tombstone, or a dead letter (a record
// without a key, or a value not in the table's format). Shared by the reader and the TestDriver.
struct GlobalRow {
  enum class Kind : std::uint8_t { put, remove, dead_letter } kind = Kind::put;
  core::RecordErrorKind error = core::RecordErrorKind::missing_field;
  std::string why;
};
GlobalRow classify_global_row(const topology::TableSpec& table, bool has_key, std::optional<std::string_view> value,
                              core::JsonParser& parser);

enum class GlobalLoadOutcome : std::uint8_t { loaded, stopped, failed };

class GlobalTables {
 public:
  // Opens the store of one global table (RocksDB under the state directory; memory in tests).
  using StoreOpener = std::function<std::unique_ptr<state::GlobalTableStore>(const topology::TableSpec& table)>;

  GlobalTables(const Pipeline& pipeline, StoreOpener open_store, kafka::ClientFactory& clients,
               kafka::ClientSettings client, GlobalTablesOptions options, observe::Metrics& metrics,
               observe::Logger& logger, const core::Clock& clock);
  ~GlobalTables();
  GlobalTables(const GlobalTables&) = delete;
  GlobalTables& operator=(const GlobalTables&) = delete;

  bool empty() const noexcept { return tables_.empty(); }
  // Opens the stores and starts the reader thread, once (later calls return at once; every processing thread
  // calls it once the topics are provisioned, so the dead-letter topic exists). Throws if a store cannot be opened.
  void start();
  // The reader failed (a store that cannot be written, dead letters the cluster refused): the instance stops.
  bool failed() const noexcept { return failed_.load(); }
  // Blocks until every global table is loaded, `stop` is set, or the reader failed; calls `progress` with the
  // status (what is loading and how far, or why it waits) about every `report_every`.
  GlobalLoadOutcome wait_loaded(const std::atomic<bool>& stop, const std::function<void(const std::string&)>& progress,
                                std::chrono::milliseconds report_every = std::chrono::milliseconds(250));
  bool loaded() const;
  std::string status() const;
  // Why the reader cannot read now (an unreachable or refusing cluster), if it cannot.
  std::optional<std::string> outage() const;
  // Per Topology::tables index: the store of a global table, null for the others (PipelineState::global_tables).
  std::vector<const state::GlobalTableStore*> stores() const;
  // Records read from the topics since start() (all tables), and those of one table.
  std::int64_t records_read() const noexcept { return records_read_.load(); }
  // Stops the reader (storing what it applied) and closes clients and stores; idempotent.
  void stop();

 private:
  struct Table {
    std::size_t index = 0;  // into Topology::tables
    const topology::TableSpec* spec = nullptr;
    std::unique_ptr<state::GlobalTableStore> store;
    std::vector<std::int64_t> ends;       // per partition: the end seen at start
    std::vector<std::int64_t> positions;  // per partition: next offset to read
    std::int64_t start_offsets = 0;       // offsets to read at start (sum of end - start)
    bool loaded = false;
    std::int64_t records = 0;  // read since start()
    prometheus::Gauge* rows = nullptr;
    prometheus::Gauge* remaining = nullptr;
    prometheus::Counter* updates = nullptr;
    prometheus::Counter* deletes = nullptr;
  };
  void start_once();
  void run();
  bool prepare();  // partitions, ends, where to start; assigns. False: not yet (retry later)
  void apply(const kafka::Message& message);
  void dead_letter(const Table& table, const kafka::Message& message, core::RecordErrorKind kind,
                   const std::string& why);
  bool store_applied();  // flushes dead letters, then commits every store; false if the flush failed
  void update_progress();
  void set_status(std::string status);
  void enter_outage(const kafka::KafkaError& error);  // from the client error callbacks
  void leave_outage(const char* how);                 // the reader read again, or a probe was answered
  void probe_outage();
  Table* table_for(std::string_view topic);
  std::int64_t now_ms() const { return clock_.monotonic_ns() / 1'000'000; }

  const Pipeline& pipeline_;
  StoreOpener open_store_;
  kafka::ClientFactory& clients_;
  kafka::ClientSettings client_;
  GlobalTablesOptions options_;
  observe::Metrics& metrics_;
  observe::Logger& logger_;
  const core::Clock& clock_;
  std::vector<Table> tables_;

  std::unique_ptr<kafka::Admin> admin_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::unique_ptr<kafka::Producer> producer_;  // dead letters (idempotent, not transactional)
  core::JsonParser parser_;
  std::vector<core::Header> headers_;
  bool prepared_ = false;
  bool dirty_ = false;            // rows applied since the last store commit
  bool dead_letters_sent_ = false;  // dead letters produced since the last store commit
  std::atomic<int> delivery_failures_{0};
  std::int64_t started_ms_ = 0;
  std::int64_t last_commit_ms_ = 0;
  std::int64_t last_warning_ms_ = 0;

  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::once_flag started_;
  std::atomic<std::int64_t> records_read_{0};
  mutable std::mutex mutex_;  // guards status_, loaded_, failure_, outage_
  std::condition_variable changed_;
  std::string status_ = "global tables: starting";
  bool loaded_ = false;
  std::optional<std::string> failure_;
  std::optional<std::string> outage_;  // guarded by mutex_
  std::int64_t outage_since_ms_ = 0;   // guarded by mutex_
  std::int64_t last_probe_ms_ = 0;     // reader thread
  bool stopped_ = false;
};

}  // namespace sluice::runtime
