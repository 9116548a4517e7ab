#include "sluice/kafka/client_config.hpp"

#include <algorithm>

namespace sluice::kafka {

const std::vector<ControlledProperty>& controlled_properties() {
  static const std::vector<ControlledProperty> properties = {
      {"bootstrap.servers", "use bootstrap_servers (or --bootstrap) instead"},
      {"metadata.broker.list", "use bootstrap_servers (or --bootstrap) instead"},
      {"group.id", "the consumer group is always the topology's application_id"},
      {"group.instance.id", "use instance_id instead"},
      {"enable.auto.commit", "sluice commits offsets itself, only after records are fully processed"},
      {"enable.auto.offset.store", "sluice stores offsets itself, only after records are fully processed"},
      {"enable.partition.eof", "sluice's loop relies on not receiving end-of-partition events"},
      {"isolation.level", "sluice reads committed data only, so aborted writes never enter a result or a store"},
      {"transactional.id", "sluice derives transactional ids itself to keep them unique per processing thread"},
      {"transaction.timeout.ms", "use transaction_timeout instead"},
      {"partition.assignment.strategy", "sluice chooses the assignor its task and state handling relies on"},
      {"max.poll.interval.ms", "use max_poll_interval instead"},
      {"session.timeout.ms", "use session_timeout instead"},
      {"queue.buffering.max.messages", "use producer_queue_max_records instead"},
      {"queued.max.messages.kbytes", "use consumer_queue_max_kbytes instead"},
  };
  return properties;
}

const ControlledProperty* find_controlled_property(std::string_view property) {
  for (const auto& controlled : controlled_properties()) {
    if (controlled.property == property) return &controlled;
  }
  return nullptr;
}

namespace {

Config base(const ClientSettings& settings) {
  Config config = settings.pass_through;
  config["bootstrap.servers"] = settings.bootstrap_servers;
  return config;
}

// How much a consumer fetches ahead of processing: bounded in bytes by consumer_queue_max_kbytes only.
// librdkafka 2.0.2 compares the length of the consumer's one forwarded queue (every partition's messages) with
// queued.min.messages (default 100,000) for each partition, stops fetching when it is above, and decides again
// only when its broker thread next wakes, up to a second later (2.1 made that fetch.queue.backoff.ms). At a few
// hundred thousand records per second the 100,000 records are gone in well under that second and the thread
// waits with nothing to process (issue 13: 0.2-0.4 of a core used). With the count out of the way the byte
// bound alone stops the fetcher, and it holds about a second of input at these rates.
void prefetch_bounds(Config& config, const ClientSettings& settings) {
  config["queued.max.messages.kbytes"] = std::to_string(settings.consumer_queue_max_kbytes);
  config.try_emplace("queued.min.messages", "10000000");  // librdkafka's largest
}

}  // namespace

Config consumer_config(const ClientSettings& settings) {
  Config config = base(settings);
  config["group.id"] = settings.application_id;
  // Eager assignor: librdkafka 2.0.2's cooperative-sticky has known bugs (fixed in 2.3-2.6).
  config["partition.assignment.strategy"] = "range";
  config["enable.auto.commit"] = "false";
  config["enable.auto.offset.store"] = "false";
  config.try_emplace("auto.offset.reset", "earliest");
  config["isolation.level"] = "read_committed";
  config["enable.partition.eof"] = "false";
  prefetch_bounds(config, settings);
  config["max.poll.interval.ms"] = std::to_string(settings.max_poll_interval.count());
  config["session.timeout.ms"] = std::to_string(settings.session_timeout.count());
  config.try_emplace("client.id", settings.client_id);
  if (!settings.instance_id.empty()) config["group.instance.id"] = settings.instance_id;
  return config;
}

Config producer_config(const ClientSettings& settings) {
  Config config = base(settings);
  config.try_emplace("enable.idempotence", "true");  // no duplicates from producer retries
  config.try_emplace("acks", "all");
  // The Java client's partitioner, so keys land where Kafka Streams and other clients put them.
  config.try_emplace("partitioner", "murmur2_random");
  config.try_emplace("linger.ms", "5");
  config.try_emplace("client.id", settings.client_id);
  config["queue.buffering.max.messages"] = std::to_string(settings.producer_queue_max_records);
  if (settings.exactly_once) {
    config["transactional.id"] = settings.transactional_id;
    config["transaction.timeout.ms"] = std::to_string(settings.transaction_timeout.count());
  }
  return config;
}

Config restore_consumer_config(const ClientSettings& settings) {
  Config config = base(settings);
  config["group.id"] = settings.application_id + "-restore";  // never joins: partitions are assigned
  config["enable.auto.commit"] = "false";
  config["isolation.level"] = "read_committed";  // aborted writes never enter a store
  config["enable.partition.eof"] = "false";
  // A changelog whose head was deleted (retention of a windowed store) starts where it now starts.
  config["auto.offset.reset"] = "earliest";
  // Nothing wakes this consumer's fetcher when it stops at its bound (the processing thread wakes its input
  // consumer's: Processor::on_queue_dry), so a restore keeps the larger bound the input had before: at most one
  // stop of up to a second per 64 MiB of changelog, and the memory only while a restore runs.
  ClientSettings restoring = settings;
  restoring.consumer_queue_max_kbytes = std::max<std::int64_t>(settings.consumer_queue_max_kbytes, 65'536);
  prefetch_bounds(config, restoring);
  config.try_emplace("client.id", settings.client_id + "-restore");
  return config;
}

Config admin_config(const ClientSettings& settings) {
  Config config = base(settings);
  config.try_emplace("client.id", settings.client_id + "-admin");
  return config;
}

}  // namespace sluice::kafka
