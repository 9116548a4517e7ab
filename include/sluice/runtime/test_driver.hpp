// An in-process driver that runs a topology without Kafka: pipe records into source topics (any partition),
// read what the sinks and the dead-letter topic received. Output partitions follow Kafka's default
// partitioner (murmur2 of the key bytes), so tests can check partition placement across several partitions.
// Keyed operators run per task (sub-topology, partition) with in-memory stores; records sent to repartition
// topics are partitioned the same way and processed by the downstream task at once. By default every pipe()
// ends with a commit (updates are emitted at once); with auto_commit off, call commit() to emit compacted
// updates. Time: stream time comes from the records; call punctuate() after advancing the clock to let idle
// tasks close windows. For unit tests and for users testing their topologies; single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/global_tables.hpp"
#include "sluice/runtime/pipeline.hpp"
#include "sluice/runtime/pipeline_metrics.hpp"
#include "sluice/runtime/task_manager.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::runtime {

struct DriverRecord {
  std::string topic;
  std::int32_t partition = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int64_t timestamp_ms = 0;
  std::vector<core::Header> headers;

  // Header value by name; nullopt when there is no such header or its value is null (find_header tells which).
  std::optional<std::string> header(std::string_view name) const;
  const core::Header* find_header(std::string_view name) const;
};

class TestDriver {
 public:
  struct Options {
    bool auto_commit = true;                // commit after every pipe()
    std::int64_t default_idle_timeout_ms = 0;  // the window_idle_timeout setting (0: disabled)
  };

  // `partitions` gives the partition count of output and repartition topics (default 1 for topics not listed).
  explicit TestDriver(const topology::Topology& topology, const core::Clock& clock,
                      std::map<std::string, std::int32_t> partitions = {});
  TestDriver(const topology::Topology& topology, const core::Clock& clock, std::map<std::string, std::int32_t> partitions,
             Options options);
  ~TestDriver();

  // Emits the compacted updates of every task and makes their state changes durable (as a Kafka commit would).
  void commit();
  // Lets every task's keyed operators act on the clock's current wall time (idle closing) and stream time.
  void punctuate();
  // The state of a task's store slot, for assertions: the number of keys per family.
  std::size_t state_keys(int subtopology, std::int32_t partition, std::size_t slot, std::uint8_t family);

  // Feeds one record into `topic` (a source topic, or a table's). Offsets count up per topic-partition. A record of a
  // global table's topic updates the driver's store of that table at once (or is dead-lettered), as the
  // instance's reader would.

  ProcessSummary pipe(const std::string& topic, std::optional<std::string> key, std::optional<std::string> value,
                      std::int64_t timestamp_ms = 0, std::int32_t partition = 0, std::vector<core::Header> headers = {});

  // Everything written to `topic` so far (sink or dead-letter topic), in order, and drains it.
  std::vector<DriverRecord> read(const std::string& topic);
  std::size_t pending(const std::string& topic) const;

  std::uint64_t dead_lettered() const noexcept { return dead_lettered_; }
  std::uint64_t discarded() const noexcept { return discarded_; }
  // The driver's metrics (join lookups, hits, misses; table rows), as an instance would expose them.
  observe::Metrics& metrics() noexcept { return metrics_; }
  // The store of a global table (by Topology::tables index), for assertions.
  const state::GlobalTableStore& global_table(std::size_t table) const { return *global_tables_.at(table); }

 private:
  class Collector;
  class Durable;
  TaskState& task(int subtopology, std::int32_t partition);
  void run(std::size_t source, const std::string& topic, std::int32_t partition, std::optional<std::string> key,
           std::optional<std::string> value, std::int64_t timestamp_ms, std::vector<core::Header> headers,
           ProcessSummary& summary);
  void drain_repartitions(ProcessSummary& summary);
  std::int32_t partition_count(const std::string& topic) const;

  void pipe_global(std::size_t table, const std::string& topic, std::int32_t partition, std::optional<std::string> key,
                   std::optional<std::string> value, std::int64_t timestamp_ms, ProcessSummary& summary);

  const core::Clock& clock_;
  Options options_;
  Pipeline pipeline_;
  observe::Metrics metrics_;
  PipelineMetrics pipeline_metrics_;
  std::vector<std::unique_ptr<state::GlobalTableStore>> global_tables_;  // per Topology::tables index, or null
  PipelineState state_;
  TaskManager tasks_;
  std::vector<DriverRecord> repartition_queue_;
  std::map<std::string, std::int32_t> partitions_;
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> next_offset_;
  std::map<std::string, std::vector<DriverRecord>, std::less<>> outputs_;
  std::uint64_t dead_lettered_ = 0;
  std::uint64_t discarded_ = 0;
};

// Kafka's default partitioner for keyed records: murmur2 of the key bytes, sign bit cleared, modulo the
// partition count (the Java client's behaviour; librdkafka's "murmur2_random" partitioner matches it).
std::int32_t murmur2_partition(std::string_view key, std::int32_t partition_count);
std::uint32_t murmur2(std::string_view data);

}  // namespace sluice::runtime
