// The process's Prometheus metrics (prometheus-cpp registry), with the handles the runtime updates. Created
// once in main and passed by reference. Label lookups (per topic, per operator) go through small caches so
// the per-record path touches only atomics after the first record of each label set. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace sluice::observe {

class Metrics {
 public:
  explicit Metrics(std::string_view application_id);

  // Prometheus text exposition format of everything registered.
  std::string render() const;

  prometheus::Counter& consumed(std::string_view topic) { return cached(consumed_family_, consumed_, "topic", topic); }
  prometheus::Counter& produced(std::string_view topic) { return cached(produced_family_, produced_, "topic", topic); }
  prometheus::Counter& dead_lettered(std::string_view operator_name, std::string_view reason);
  prometheus::Counter& discarded(std::string_view operator_name) {
    return cached(discarded_family_, discarded_, "operator", operator_name);
  }
  prometheus::Counter& rebalances(std::string_view kind) { return cached(rebalances_family_, rebalances_, "kind", kind); }
  void set_lag(const std::string& topic, std::int32_t partition, double lag);
  void remove_lag(const std::string& topic, std::int32_t partition);

  // Changelog records left to replay per restoring task (removed when the task is ready).
  void set_restore_remaining(const std::string& task, double records);
  void remove_restore_remaining(const std::string& task);
  prometheus::Counter& restored_records() { return *restored_records_; }
  prometheus::Counter& restore_seconds() { return *restore_seconds_; }
  prometheus::Counter& changelog_records() { return *changelog_records_; }
  // The schema registry client's running totals (requests sent, schema lookups the cache answered, failed
  // requests), brought into the sluice_schema_registry_* counters before each scrape.
  void sync_schema_registry(std::uint64_t requests, std::uint64_t cache_hits, std::uint64_t errors);
  prometheus::Gauge& active_tasks() { return *active_tasks_; }

  // Joins, per join operator: rows looked up, found, not found (lookups = hits + misses).
  prometheus::Counter& join_lookups(std::string_view join) { return cached(join_lookups_family_, join_lookups_, "join", join); }
  prometheus::Counter& join_hits(std::string_view join) { return cached(join_hits_family_, join_hits_, "join", join); }
  prometheus::Counter& join_misses(std::string_view join) { return cached(join_misses_family_, join_misses_, "join", join); }
  // Windowed stream-stream joins, per join operator (side: "left" for `from`, "right" for `stream`): matching
  // pairs emitted; unmatched results emitted at window close (left/outer); records whose window closed without a
  // match (all join types). Counted when the commit covering them succeeds (see PipelineMetrics).
  prometheus::Counter& stream_join_pairs(std::string_view join) {
    return cached(stream_join_pairs_family_, stream_join_pairs_, "join", join);
  }
  prometheus::Counter& stream_join_unmatched(std::string_view join, std::string_view side) {
    return cached(stream_join_unmatched_family_, stream_join_unmatched_, "join", join, "side", side);
  }
  prometheus::Counter& stream_join_expired(std::string_view join, std::string_view side) {
    return cached(stream_join_expired_family_, stream_join_expired_, "join", join, "side", side);
  }
  // Tables, per table: records applied to the local stores since start (updates, and tombstones as deletes): by
  // the tasks of a partitioned table (its store's restore not counted) or by a global table's reader.
  prometheus::Counter& table_updates(std::string_view table) {
    return cached(table_updates_family_, table_updates_, "table", table);
  }
  prometheus::Counter& table_deletes(std::string_view table) {
    return cached(table_deletes_family_, table_deletes_, "table", table);
  }
  // Global tables, per table: rows in the local store (exact), and the offsets left to read before the
  // instance may process (the ends seen at start minus the positions; 0 once loaded).
  // Partitioned tables, per table: about how many rows the local stores of this instance hold (RocksDB's
  // estimate of the committed rows; a versioned table counts its versions).
  prometheus::Gauge& table_rows(std::string_view table) { return cached_gauge(table_rows_family_, table_rows_, "table", table); }
  prometheus::Gauge& global_table_rows(std::string_view table) {
    return cached_gauge(global_table_rows_family_, global_table_rows_, "table", table);
  }
  prometheus::Gauge& global_table_remaining(std::string_view table) {
    return cached_gauge(global_table_remaining_family_, global_table_remaining_, "table", table);
  }

  prometheus::Histogram& processing_latency() { return *processing_latency_; }
  prometheus::Histogram& commit_latency() { return *commit_latency_; }
  prometheus::Counter& commits() { return *commits_; }
  prometheus::Counter& transactions_committed() { return *transactions_committed_; }
  prometheus::Counter& transactions_aborted() { return *transactions_aborted_; }
  prometheus::Counter& commit_failures() { return *commit_failures_; }
  prometheus::Counter& delivery_failures() { return *delivery_failures_; }
  prometheus::Counter& rewinds() { return *rewinds_; }
  prometheus::Counter& enforced_processing() { return *enforced_processing_; }
  prometheus::Counter& poll_idle_seconds() { return *poll_idle_seconds_; }
  prometheus::Counter& fetcher_wakeups() { return *fetcher_wakeups_; }
  prometheus::Counter& offset_resets() { return *offset_resets_; }
  prometheus::Gauge& assigned_partitions() { return *assigned_partitions_; }
  prometheus::Gauge& producer_queue() { return *producer_queue_; }
  prometheus::Gauge& ready() { return *ready_; }

 private:
  using CounterFamily = prometheus::Family<prometheus::Counter>;
  prometheus::Counter& cached(CounterFamily& family, std::map<std::string, prometheus::Counter*, std::less<>>& cache,
                              const std::string& label_name, std::string_view label);
  using PairCache = std::map<std::pair<std::string, std::string>, prometheus::Counter*>;
  prometheus::Counter& cached(CounterFamily& family, PairCache& cache, const std::string& first_name,
                              std::string_view first, const std::string& second_name, std::string_view second);
  prometheus::Gauge& cached_gauge(prometheus::Family<prometheus::Gauge>& family,
                                  std::map<std::string, prometheus::Gauge*, std::less<>>& cache,
                                  const std::string& label_name, std::string_view label);

  std::shared_ptr<prometheus::Registry> registry_;
  std::string application_id_;
  std::mutex mutex_;  // guards the caches below (the counters themselves are atomic)
  CounterFamily& consumed_family_;
  CounterFamily& produced_family_;
  CounterFamily& dead_lettered_family_;
  CounterFamily& discarded_family_;
  CounterFamily& rebalances_family_;
  prometheus::Family<prometheus::Gauge>& lag_family_;
  prometheus::Family<prometheus::Gauge>& restore_family_;
  std::map<std::string, prometheus::Gauge*, std::less<>> restore_remaining_;
  prometheus::Counter* restored_records_;
  prometheus::Counter* restore_seconds_;
  prometheus::Counter* changelog_records_;
  prometheus::Counter* registry_requests_ = nullptr;
  prometheus::Counter* registry_cache_hits_ = nullptr;
  prometheus::Counter* registry_errors_ = nullptr;
  std::mutex registry_mutex_;
  std::uint64_t registry_seen_[3] = {0, 0, 0};
  prometheus::Gauge* active_tasks_;
  std::map<std::string, prometheus::Counter*, std::less<>> consumed_, produced_, discarded_, rebalances_;
  std::map<std::pair<std::string, std::string>, prometheus::Counter*> dead_lettered_;
  std::map<std::pair<std::string, std::int32_t>, prometheus::Gauge*> lag_;
  prometheus::Histogram* processing_latency_;
  prometheus::Histogram* commit_latency_;
  prometheus::Counter* commits_;
  prometheus::Counter* transactions_committed_;
  prometheus::Counter* transactions_aborted_;
  prometheus::Counter* commit_failures_;
  prometheus::Counter* delivery_failures_;
  prometheus::Counter* rewinds_;
  prometheus::Counter* enforced_processing_;
  prometheus::Counter* poll_idle_seconds_;
  prometheus::Counter* fetcher_wakeups_;
  prometheus::Counter* offset_resets_;
  prometheus::Gauge* assigned_partitions_;
  prometheus::Gauge* producer_queue_;
  prometheus::Gauge* ready_;
  CounterFamily& join_lookups_family_;
  CounterFamily& join_hits_family_;
  CounterFamily& join_misses_family_;
  CounterFamily& stream_join_pairs_family_;
  CounterFamily& stream_join_unmatched_family_;
  CounterFamily& stream_join_expired_family_;
  CounterFamily& table_updates_family_;
  CounterFamily& table_deletes_family_;
  prometheus::Family<prometheus::Gauge>& table_rows_family_;
  prometheus::Family<prometheus::Gauge>& global_table_rows_family_;
  prometheus::Family<prometheus::Gauge>& global_table_remaining_family_;
  std::map<std::string, prometheus::Counter*, std::less<>> join_lookups_, join_hits_, join_misses_, table_updates_,
      table_deletes_, stream_join_pairs_;
  PairCache stream_join_unmatched_, stream_join_expired_;
  std::map<std::string, prometheus::Gauge*, std::less<>> table_rows_, global_table_rows_, global_table_remaining_;
};

}  // namespace sluice::observe
