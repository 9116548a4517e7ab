#include "sluice/observe/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace sluice::observe {

namespace {

prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& registry, const std::string& name,
                                                 const std::string& help, const std::string& application_id) {
  return prometheus::BuildCounter().Name(name).Help(help).Labels({{"application_id", application_id}}).Register(registry);
}

prometheus::Histogram::BucketBoundaries latency_buckets() {
  // 10 µs .. 10 s, roughly x2.5 per bucket: per-record processing sits at the low end, commits at the high end.
  return {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,     0.1,     0.25,   0.5,     1.0,    2.5,   5.0,    10.0};
}

}  // namespace

Metrics::Metrics(std::string_view application_id)
    : registry_(std::make_shared<prometheus::Registry>()),
      application_id_(application_id),
      consumed_family_(counter(*registry_, "sluice_records_consumed_total", "Input records consumed, per topic.",
                               application_id_)),
      produced_family_(counter(*registry_, "sluice_records_produced_total",
                               "Output records acknowledged by the broker, per topic (sinks and dead-letter topic).",
                               application_id_)),
      dead_lettered_family_(counter(*registry_, "sluice_records_dead_lettered_total",
                                    "Records sent to the dead-letter topic, per operator and reason.", application_id_)),
      discarded_family_(counter(*registry_, "sluice_records_discarded_total",
                                "Records dropped on purpose (filter did not match, no route, empty array), per operator.",
                                application_id_)),
      rebalances_family_(counter(*registry_, "sluice_rebalances_total",
                                 "Consumer group rebalance events, per kind (assigned, revoked, lost).", application_id_)),
      lag_family_(prometheus::BuildGauge()
                      .Name("sluice_consumer_lag_records")
                      .Help("Records between the consumer position and the high watermark, per input partition.")
                      .Labels({{"application_id", application_id_}})
                      .Register(*registry_)),
      restore_family_(prometheus::BuildGauge()
                          .Name("sluice_restore_remaining_records")
                          .Help("Changelog records a restoring task still has to replay before it processes.")
                          .Labels({{"application_id", application_id_}})
                          .Register(*registry_)),
      join_lookups_family_(counter(*registry_, "sluice_join_lookups_total",
                                   "Table rows looked up by a join, per join (hits + misses).", application_id_)),
      join_hits_family_(counter(*registry_, "sluice_join_hits_total",
                                "Join lookups that found a table row, per join.", application_id_)),
      join_misses_family_(counter(*registry_, "sluice_join_misses_total",
                                  "Join lookups that found no table row (an inner join emits nothing, a left join "
                                  "nulls), per join.",
                                  application_id_)),
      stream_join_pairs_family_(counter(*registry_, "sluice_stream_join_pairs_total",
                                        "Matching pairs emitted by a windowed stream-stream join, per join (counted "
                                        "when the commit covering them succeeds).",
                                        application_id_)),
      stream_join_unmatched_family_(counter(
          *registry_, "sluice_stream_join_unmatched_total",
          "Unmatched results emitted by a left or outer stream-stream join when a record's window closed, per join "
          "and side (left: the from side, right: the stream side; counted when the commit covering them succeeds).",
          application_id_)),
      stream_join_expired_family_(counter(
          *registry_, "sluice_stream_join_expired_total",
          "Records of a stream-stream join whose window closed without any match, per join and side (left: from, "
          "right: stream). An inner join emitted nothing for them; for a side that emits unmatched results (left "
          "join: left; outer: both) this equals sluice_stream_join_unmatched_total of that side, less any result "
          "whose select failed at close and was dead-lettered. Counted when the commit covering them succeeds.",
          application_id_)),
      table_updates_family_(counter(*registry_, "sluice_table_updates_total",
                                    "Table records with a value applied to the local table stores since start, per table (a partitioned table's restore not counted).",
                                    application_id_)),
      table_deletes_family_(counter(*registry_, "sluice_table_deletes_total",
                                    "Table tombstones applied to the local table stores since start, per table (a partitioned table's restore not counted).", application_id_)),
      table_rows_family_(prometheus::BuildGauge()
                             .Name("sluice_table_rows")
                             .Help("About how many rows the local stores of a partitioned table hold on this instance "
                                   "(RocksDB's estimate of the committed rows, updated every second; a versioned "
                                   "table counts its versions).")
                             .Labels({{"application_id", application_id_}})
                             .Register(*registry_)),
      global_table_rows_family_(prometheus::BuildGauge()
                                    .Name("sluice_global_table_rows")
                                    .Help("Rows in the local store of a global table (exact).")
                                    .Labels({{"application_id", application_id_}})
                                    .Register(*registry_)),
      global_table_remaining_family_(
          prometheus::BuildGauge()
              .Name("sluice_global_table_restore_remaining_offsets")
              .Help("Offsets of a global table's topic left to read before this instance processes (the ends seen "
                    "at start minus the positions); 0 once loaded.")
              .Labels({{"application_id", application_id_}})
              .Register(*registry_)) {
  auto base = prometheus::Labels{{"application_id", application_id_}};
  processing_latency_ = &prometheus::BuildHistogram()
                             .Name("sluice_processing_latency_seconds")
                             .Help("Time to run one input record through the topology, until its outputs are enqueued (one record in 64 is timed).")
                             .Labels(base)
                             .Register(*registry_)
                             .Add({}, latency_buckets());
  commit_latency_ = &prometheus::BuildHistogram()
                         .Name("sluice_commit_latency_seconds")
                         .Help("Time to commit: wait for outputs to be acknowledged, then commit input offsets.")
                         .Labels(base)
                         .Register(*registry_)
                         .Add({}, latency_buckets());
  commits_ = &counter(*registry_, "sluice_commits_total", "Successful commits.", application_id_).Add({});
  transactions_committed_ = &counter(*registry_, "sluice_transactions_committed_total",
                                     "Kafka transactions committed (exactly_once).", application_id_)
                                 .Add({});
  transactions_aborted_ = &counter(*registry_, "sluice_transactions_aborted_total",
                                   "Kafka transactions aborted; their inputs are processed again (exactly_once).",
                                   application_id_)
                               .Add({});
  commit_failures_ =
      &counter(*registry_, "sluice_commit_failures_total", "Commits that failed (inputs are reprocessed).", application_id_)
           .Add({});
  delivery_failures_ = &counter(*registry_, "sluice_delivery_failures_total",
                                "Output records the broker did not acknowledge (their inputs are reprocessed).",
                                application_id_)
                            .Add({});
  offset_resets_ = &counter(*registry_, "sluice_offset_resets_total",
                            "Input partitions whose position was reset by auto.offset.reset because the committed "
                            "offset is no longer in the log (deleted by retention before it was read).",
                            application_id_)
                        .Add({});
  rewinds_ = &counter(*registry_, "sluice_rewinds_total",
                      "Rollbacks to the last commit: inputs re-read from their committed offsets, state restored.",
                      application_id_)
                  .Add({});
  enforced_processing_ = &counter(*registry_, "sluice_enforced_processing_total",
                                  "Records of a task with several input partitions processed while one of them "
                                  "had nothing buffered and max_task_idle had run out (event-time order across "
                                  "the inputs is not guaranteed for these).",
                                  application_id_)
                              .Add({});
  fetcher_wakeups_ = &counter(*registry_, "sluice_fetcher_wakeups_total",
                              "Times a processing thread, having drained about half its prefetch bound since its "
                              "queue was last empty, woke librdkafka's fetcher (which stops at the bound and "
                              "would decide again only up to a second later).",
                              application_id_)
                          .Add({});
  poll_idle_seconds_ = &counter(*registry_, "sluice_poll_idle_seconds_total",
                                "Seconds the processing threads waited on the consumer with nothing to process (its "
                                "rate is the threads' idle share: near 1 per thread while idle or starved of input).",
                                application_id_)
                            .Add({});
  auto gauge = [&](const std::string& name, const std::string& help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Labels(base).Register(*registry_).Add({});
  };
  restored_records_ = &counter(*registry_, "sluice_restored_records_total",
                               "Changelog records replayed into local state stores.", application_id_)
                           .Add({});
  restore_seconds_ = &counter(*registry_, "sluice_restore_seconds_total",
                              "Time tasks spent restoring their stores, summed over tasks.", application_id_)
                          .Add({});
  changelog_records_ = &counter(*registry_, "sluice_changelog_records_total",
                                "State changes written to changelog topics.", application_id_)
                            .Add({});
  registry_requests_ = &counter(*registry_, "sluice_schema_registry_requests_total",
                                "Requests sent to the schema registry (schemas by id, registrations, lookups).",
                                application_id_)
                           .Add({});
  registry_cache_hits_ = &counter(*registry_, "sluice_schema_registry_cache_hits_total",
                                  "Schemas by id answered from the cache, without a request.", application_id_)
                             .Add({});
  registry_errors_ = &counter(*registry_, "sluice_schema_registry_errors_total",
                              "Requests to the schema registry that failed (no answer, 4xx, 5xx).", application_id_)
                         .Add({});
  active_tasks_ = gauge("sluice_active_tasks", "Tasks (sub-topology, partition) processing on this instance.");
  assigned_partitions_ = gauge("sluice_assigned_partitions", "Input partitions assigned to this instance.");
  producer_queue_ = gauge("sluice_producer_queue_records", "Output records waiting in the producer for acknowledgement.");
  ready_ = gauge("sluice_ready", "1 when the instance has joined the group and is processing (as /readyz).");
}

std::string Metrics::render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

prometheus::Counter& Metrics::cached(CounterFamily& family,
                                     std::map<std::string, prometheus::Counter*, std::less<>>& cache,
                                     const std::string& label_name, std::string_view label) {
  std::lock_guard lock(mutex_);
  if (auto it = cache.find(label); it != cache.end()) return *it->second;
  prometheus::Counter& created = family.Add({{label_name, std::string(label)}});
  cache.emplace(std::string(label), &created);
  return created;
}

prometheus::Gauge& Metrics::cached_gauge(prometheus::Family<prometheus::Gauge>& family,
                                         std::map<std::string, prometheus::Gauge*, std::less<>>& cache,
                                         const std::string& label_name, std::string_view label) {
  std::lock_guard lock(mutex_);
  if (auto it = cache.find(label); it != cache.end()) return *it->second;
  prometheus::Gauge& created = family.Add({{label_name, std::string(label)}});
  cache.emplace(std::string(label), &created);
  return created;
}

prometheus::Counter& Metrics::cached(CounterFamily& family, PairCache& cache, const std::string& first_name,
                                     std::string_view first, const std::string& second_name, std::string_view second) {
  std::lock_guard lock(mutex_);
  auto key = std::make_pair(std::string(first), std::string(second));
  if (auto it = cache.find(key); it != cache.end()) return *it->second;
  prometheus::Counter& created = family.Add({{first_name, key.first}, {second_name, key.second}});
  cache.emplace(std::move(key), &created);
  return created;
}

prometheus::Counter& Metrics::dead_lettered(std::string_view operator_name, std::string_view reason) {
  std::lock_guard lock(mutex_);
  auto key = std::make_pair(std::string(operator_name), std::string(reason));
  if (auto it = dead_lettered_.find(key); it != dead_lettered_.end()) return *it->second;
  prometheus::Counter& created = dead_lettered_family_.Add({{"operator", key.first}, {"reason", key.second}});
  dead_lettered_.emplace(std::move(key), &created);
  return created;
}

void Metrics::set_lag(const std::string& topic, std::int32_t partition, double lag) {
  std::lock_guard lock(mutex_);
  auto key = std::make_pair(topic, partition);
  auto it = lag_.find(key);
  if (it == lag_.end()) {
    it = lag_.emplace(key, &lag_family_.Add({{"topic", topic}, {"partition", std::to_string(partition)}})).first;
  }
  it->second->Set(lag);
}

void Metrics::set_restore_remaining(const std::string& task, double records) {
  std::lock_guard lock(mutex_);
  auto it = restore_remaining_.find(task);
  if (it == restore_remaining_.end()) it = restore_remaining_.emplace(task, &restore_family_.Add({{"task", task}})).first;
  it->second->Set(records);
}

void Metrics::remove_restore_remaining(const std::string& task) {
  std::lock_guard lock(mutex_);
  auto it = restore_remaining_.find(task);
  if (it == restore_remaining_.end()) return;
  restore_family_.Remove(it->second);
  restore_remaining_.erase(it);
}

void Metrics::remove_lag(const std::string& topic, std::int32_t partition) {
  std::lock_guard lock(mutex_);
  auto it = lag_.find(std::make_pair(topic, partition));
  if (it == lag_.end()) return;
  lag_family_.Remove(it->second);
  lag_.erase(it);
}

void Metrics::sync_schema_registry(std::uint64_t requests, std::uint64_t cache_hits, std::uint64_t errors) {
  std::lock_guard lock(registry_mutex_);
  const std::uint64_t now[3] = {requests, cache_hits, errors};
  prometheus::Counter* counters[3] = {registry_requests_, registry_cache_hits_, registry_errors_};
  for (int i = 0; i < 3; ++i) {
    if (now[i] > registry_seen_[i]) counters[i]->Increment(static_cast<double>(now[i] - registry_seen_[i]));
    registry_seen_[i] = std::max(registry_seen_[i], now[i]);
  }
}

}  // namespace sluice::observe
