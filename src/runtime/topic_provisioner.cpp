#include "sluice/runtime/topic_provisioner.hpp"
#include "sluice/runtime/store_guard.hpp"

#include <algorithm>

#include "sluice/core/backoff.hpp"

namespace sluice::runtime {

using namespace std::chrono_literals;

TopicProvisioner::TopicProvisioner(const Pipeline& pipeline, kafka::Admin& admin, ProvisionerOptions options,
                                   observe::Logger& logger, const core::Clock& clock, std::string component)
    : pipeline_(pipeline),
      admin_(admin),
      options_(std::move(options)),
      logger_(logger),
      clock_(clock),
      component_(std::move(component)) {}

ProvisionOutcome TopicProvisioner::provision(const std::function<bool()>& stop_requested,
                                             const std::function<void()>& heartbeat,
                                             const std::function<void(const std::string&)>& trouble,
                                             const std::function<kafka::KafkaError()>& last_client_error) {
  std::vector<kafka::TopicInfo> topics;
  core::Backoff backoff(clock_, 100, options_.backoff_max_ms);
  int refused = 0;
  for (int attempt = 1;; ++attempt) {
    if (stop_requested()) return ProvisionOutcome::stopped;
    heartbeat();
    kafka::KafkaError error = admin_.list_topics(topics, 5s);
    if (error.ok()) break;
    // A metadata request against a cluster that refuses the client only times out; the client's error
    // callback has the cause.
    kafka::KafkaError cause = last_client_error ? last_client_error() : kafka::KafkaError{};
    if (!error.refusal() && cause.refusal()) error = cause;
    const std::string what = error.refusal() ? "cluster at " + options_.bootstrap_servers + " refuses sluice (" +
                                                   std::string(kafka::to_string(error.code)) + "): " + error.message
                                             : "cluster unreachable at " + options_.bootstrap_servers + ": " +
                                                   error.message;
    trouble(what);
    if (error.refusal() && ++refused >= options_.max_refused_attempts) {
      logger_.error(component_, what + "; gave up after " + std::to_string(refused) +
                                    " attempts (check the kafka.security.protocol, kafka.sasl.* and kafka.ssl.* "
                                    "settings and the principal's ACLs)");
      return ProvisionOutcome::refused;
    }
    if (!error.refusal()) refused = 0;
    logger_.warn(component_, (error.refusal() ? what : "cannot reach the Kafka cluster at " + options_.bootstrap_servers +
                                                           ": " + error.message) +
                                 " (attempt " + std::to_string(attempt) + "); retrying in " +
                                 std::to_string(backoff.next_ms()) + " ms");
    if (!backoff.wait(stop_requested, heartbeat)) return ProvisionOutcome::stopped;
  }
  std::vector<kafka::NewTopic> to_create;
  if (!check_and_plan(topics, to_create)) return ProvisionOutcome::config_error;
  create(to_create);
  return ProvisionOutcome::ready;
}

bool TopicProvisioner::check_and_plan(const std::vector<kafka::TopicInfo>& topics,
                                      std::vector<kafka::NewTopic>& to_create) {
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
  for (const auto& table : topology.tables) {
    if (partitions_of(table.topic) == 0) {
      logger_.error(component_, table.pointer + "/topic: topic \"" + table.topic +
                                    "\" does not exist on the cluster at " + options_.bootstrap_servers +
                                    "; create it (compacted, usually), or fix the table's topic");
      ok = false;
    }
  }
  if (!ok) return false;

  // Partitions per sub-topology: its user sources must agree (co-partitioning: a key must land in the same
  // task whichever topic it came from); a sub-topology fed only by repartition topics gets the count of the
  // largest source (tasks then line up one to one).
  const int subtopologies = std::max(1, pipeline_.subtopology_count());
  subtopology_partitions_.assign(static_cast<std::size_t>(subtopologies), 0);
  for (const auto& subtopology : topology.subtopologies) {
    for (std::size_t index : subtopology.sources) {
      const auto& source = topology.sources[index];
      std::int32_t partitions = partitions_of(source.topic);
      std::int32_t& count = subtopology_partitions_[static_cast<std::size_t>(subtopology.id)];
      if (count != 0 && count != partitions) {
        std::string others;
        for (std::size_t other : subtopology.sources) {
          if (other == index) break;
          others += (others.empty() ? "" : ", ") + topology.sources[other].pointer + "/topic \"" +
                    topology.sources[other].topic + "\"";
        }
        logger_.error(component_, source.pointer + "/topic: topic \"" + source.topic + "\" has " +
                                      std::to_string(partitions) + " partitions but the other sources of sub-topology " +
                                      std::to_string(subtopology.id) + " (" + others + ") have " +
                                      std::to_string(count) +
                                      "; sources joined in one sub-topology (a stream-stream join's two sides, for "
                                      "instance) must have equal partition counts (co-partitioning)");
        ok = false;
      }
      count = partitions;
    }
    // A table is co-partitioned with the streams it is joined with: a key must find its row in its own task.
    for (std::size_t index : subtopology.tables) {
      const auto& table = topology.tables[index];
      const std::int32_t partitions = partitions_of(table.topic);
      std::int32_t& count = subtopology_partitions_[static_cast<std::size_t>(subtopology.id)];
      if (count != 0 && count != partitions) {
        std::string streams;
        for (std::size_t source : subtopology.sources) {
          streams += (streams.empty() ? "" : ", ") + topology.sources[source].pointer + "/topic \"" +
                     topology.sources[source].topic + "\"";
        }
        logger_.error(component_, table.pointer + "/topic: topic \"" + table.topic + "\" has " +
                                      std::to_string(partitions) + " partitions but the stream it is joined with (" +
                                      streams + ") has " + std::to_string(count) +
                                      "; a stream-table join needs equal partition counts (co-partitioning): "
                                      "repartition one of them, or re-key the stream so it is repartitioned to the "
                                      "table's count");
        ok = false;
      }
      count = partitions;
    }
  }
  if (topology.subtopologies.empty()) subtopology_partitions_[0] = largest_source;
  for (const auto& operator_spec : topology.operators) {
    for (const auto& topic : operator_spec.repartition_topics()) {
      for (const auto& internal : topology.internal_topics) {
        if (internal.name != topic) continue;
        std::int32_t& count = subtopology_partitions_[static_cast<std::size_t>(internal.subtopology)];
        // A sub-topology with a table takes the table's count (its repartition topic follows it); one with a
        // stream-stream join and source topics takes theirs, so a re-keyed side is co-partitioned with the
        // side read straight from its topic.
        const auto& sub = topology.subtopologies.at(static_cast<std::size_t>(internal.subtopology));
        const bool stream_join_with_sources =
            !sub.sources.empty() && std::any_of(sub.operators.begin(), sub.operators.end(), [&](std::size_t op) {
              return std::holds_alternative<topology::StreamJoinSpec>(topology.operators[op].body);
            });
        if (sub.tables.empty() && !stream_join_with_sources) count = std::max(count, largest_source);
      }
    }
  }
  for (auto& count : subtopology_partitions_) count = std::max(count, 1);
  if (!ok) return false;

  for (const auto& internal : topology.internal_topics) {
    std::int32_t wanted = subtopology_partitions_[static_cast<std::size_t>(internal.subtopology)];
    std::int32_t existing = partitions_of(internal.name);
    if (existing != 0 && existing != wanted) {
      logger_.error(component_, "internal topic \"" + internal.name + "\" has " + std::to_string(existing) +
                                    " partitions but the topology needs " + std::to_string(wanted) +
                                    " (the partitions of its sub-topology's sources); delete it (its state is "
                                    "rebuilt from the inputs) or restore the source partition counts");
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
  auto want_output = [&](const std::string& topic, const std::string& pointer,
                         std::map<std::string, std::string> configs) {
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
    created.configs = std::move(configs);
    to_create.push_back(std::move(created));
  };
  // The store guard's record of what each store means (store_guard.hpp): one partition, compacted.
  if (!topology::store_fingerprints(topology).empty() && partitions_of(fingerprint_topic(topology.application_id)) == 0) {
    kafka::NewTopic created;
    created.name = fingerprint_topic(topology.application_id);
    created.partitions = 1;
    created.configs = {{"cleanup.policy", "compact"}};
    to_create.push_back(std::move(created));
  }
  for (const auto& sink : topology.sinks) want_output(sink.topic, sink.pointer + "/topic", {});
  // Dead letters keep the input's timestamp, which may be years old in a replay: stamped with the time they are
  // written instead, the topic's retention counts from the failure (the original is in a header).
  want_output(topology.dead_letter_topic, "/dead_letter_topic", {{"message.timestamp.type", "LogAppendTime"}});
  return true;
}

void TopicProvisioner::create(const std::vector<kafka::NewTopic>& to_create) {
  if (to_create.empty()) return;
  kafka::KafkaError error = admin_.create_topics(to_create, 30s);
  std::string names;
  for (const auto& topic : to_create) names += (names.empty() ? "" : ", ") + topic.name;
  if (!error.ok()) {
    // Output topics may be provisioned elsewhere; internal topics are needed, and their absence shows at once.
    logger_.warn(component_, "could not create topics (" + names + "): " + error.message);
    return;
  }
  logger_.info(component_, "created topics: " + names);
  // Creation is asynchronous on the brokers: wait (bounded) until metadata shows every new partition.
  core::Backoff backoff(clock_, 50, 500);
  for (const std::int64_t deadline = clock_.monotonic_ns() / 1'000'000 + 30'000;
       clock_.monotonic_ns() / 1'000'000 < deadline;) {
    std::vector<kafka::TopicInfo> now_known;
    if (admin_.list_topics(now_known, 5s).ok()) {
      std::size_t visible = 0;
      for (const auto& wanted : to_create) {
        for (const auto& topic : now_known) visible += topic.name == wanted.name && topic.partitions == wanted.partitions;
      }
      if (visible == to_create.size()) return;
    }
    backoff.wait();
  }
}

void TopicProvisioner::purge_repartition(const std::vector<kafka::TopicPartition>& committed) {
  const std::int64_t now = clock_.monotonic_ns() / 1'000'000;
  if (now < next_purge_ms_) return;
  next_purge_ms_ = now + kPurgeIntervalMs;
  std::vector<kafka::TopicPartition> before;
  for (const auto& offset : committed) {
    auto source = pipeline_.source_for_topic(offset.topic);
    if (source && pipeline_.sources()[*source].repartition && offset.offset > 0) before.push_back(offset);
  }
  if (before.empty()) return;
  kafka::KafkaError error = admin_.delete_records(before, 5s);
  if (!error.ok()) {
    logger_.warn(component_, "purging consumed repartition records: " + error.message + "; retrying in " +
                                 std::to_string(kPurgeIntervalMs / 1000) + " s");
    return;
  }
  ++purged_batches_;
  logger_.debug(component_, "purged consumed records of " + std::to_string(before.size()) +
                                " repartition partitions");
}

}  // namespace sluice::runtime
