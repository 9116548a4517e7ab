// Start-up against the cluster: waits until it answers (retrying with backoff, truthfully reported), checks
// that the topology fits it (source topics exist; co-partitioned sources agree), works out the partitions of
// every sub-topology, and creates the internal topics (repartition, changelog) and missing output topics.
// Used by one processing thread: before its clients are built, then to purge what its tasks committed from the
// repartition topics they read.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/kafka/client.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/runtime/pipeline.hpp"

namespace sluice::runtime {

struct ProvisionerOptions {
  std::string bootstrap_servers;  // for messages
  bool create_output_topics = true;
  std::int32_t output_topic_partitions = 0;  // 0: as many as the largest source topic
  std::int64_t backoff_max_ms = 30'000;
  // Consecutive failed attempts, while the cluster refuses the client (authentication, authorization), before
  // giving up: a refusal does not cure itself, unlike an outage, which is waited out.
  int max_refused_attempts = 10;
};

enum class ProvisionOutcome : std::uint8_t { ready, stopped, refused, config_error };

class TopicProvisioner {
 public:
  TopicProvisioner(const Pipeline& pipeline, kafka::Admin& admin, ProvisionerOptions options, observe::Logger& logger,
                   const core::Clock& clock, std::string component);

  // `last_client_error` reads the most recent error the clients reported through their error callbacks (the
  // real cause, e.g. a failed SASL handshake, when a metadata request only says "timed out").
  ProvisionOutcome provision(const std::function<bool()>& stop_requested, const std::function<void()>& heartbeat,
                             const std::function<void(const std::string&)>& trouble,
                             const std::function<kafka::KafkaError()>& last_client_error);
  // Deletes the records of repartition topics below the given committed offsets (what their reader is done
  // with), at most once per kPurgeIntervalMs; failures are logged and retried at the next interval.
  void purge_repartition(const std::vector<kafka::TopicPartition>& committed);
  static constexpr std::int64_t kPurgeIntervalMs = 30'000;
  std::uint64_t purged_batches() const noexcept { return purged_batches_; }

  // Partition count of each sub-topology's tasks (after provision()).
  const std::vector<std::int32_t>& subtopology_partitions() const noexcept { return subtopology_partitions_; }

 private:
  bool check_and_plan(const std::vector<kafka::TopicInfo>& topics, std::vector<kafka::NewTopic>& to_create);
  void create(const std::vector<kafka::NewTopic>& to_create);

  const Pipeline& pipeline_;
  kafka::Admin& admin_;
  ProvisionerOptions options_;
  observe::Logger& logger_;
  const core::Clock& clock_;
  std::string component_;
  std::vector<std::int32_t> subtopology_partitions_;
  std::int64_t next_purge_ms_ = 0;
  std::uint64_t purged_batches_ = 0;
};

}  // namespace sluice::runtime
