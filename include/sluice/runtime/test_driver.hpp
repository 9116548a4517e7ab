// An in-process driver that runs a topology without Kafka: pipe records into source topics (any partition),
// read what the sinks and the dead-letter topic received. Output partitions follow Kafka's default
// partitioner (murmur2 of the key bytes), so tests can check partition placement across several partitions.
// For unit tests and for users testing their topologies; single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/runtime/pipeline.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::runtime {

struct DriverRecord {
  std::string topic;
  std::int32_t partition = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int64_t timestamp_ms = 0;
  std::vector<core::Header> headers;

  // Header value by name, or nullopt.
  std::optional<std::string> header(std::string_view name) const;
};

class TestDriver {
 public:
  // `partitions` gives the partition count of output topics (default 1 for topics not listed).
  explicit TestDriver(const topology::Topology& topology, const core::Clock& clock,
                      std::map<std::string, std::int32_t> partitions = {});
  ~TestDriver();

  // Feeds one record into `topic` (must be a source topic). Offsets count up per topic-partition.
  ProcessSummary pipe(const std::string& topic, std::optional<std::string> key, std::optional<std::string> value,
                      std::int64_t timestamp_ms = 0, std::int32_t partition = 0, std::vector<core::Header> headers = {});

  // Everything written to `topic` so far (sink or dead-letter topic), in order, and drains it.
  std::vector<DriverRecord> read(const std::string& topic);
  std::size_t pending(const std::string& topic) const;

  std::uint64_t dead_lettered() const noexcept { return dead_lettered_; }
  std::uint64_t discarded() const noexcept { return discarded_; }

 private:
  class Collector;
  const topology::Topology& topology_;
  Pipeline pipeline_;
  PipelineState state_;
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
