// `sluice test --bootstrap`: a case run against a real cluster (include/sluice/app/cases.hpp). The topology runs in
// this process on one processing thread that this file steps itself, so that every wait is for something it
// can observe (the group's committed offsets, a commit) and never for a while.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "instance.hpp"
#include "sluice/app/cases.hpp"
#include "sluice/kafka/client_config.hpp"
#include "sluice/kafka/librdkafka.hpp"
#include "sluice/state/store.hpp"

namespace sluice::app {

std::unique_ptr<runtime::GlobalTables> make_global_tables(const topology::Topology& topology,
                                                          const runtime::Pipeline& pipeline,
                                                          runtime::ProcessorOptions& options,
                                                          kafka::ClientFactory& clients, runtime::InstanceHealth& health,
                                                          observe::Metrics& metrics, observe::Logger& logger,
                                                          const core::Clock& clock) {
  if (pipeline.global_tables().empty()) return nullptr;
  kafka::ClientSettings client;
  client.bootstrap_servers = options.bootstrap_servers;
  client.pass_through = options.kafka;
  client.application_id = topology.application_id;
  client.client_id = "sluice-" + topology.application_id;
  client.consumer_queue_max_kbytes = options.consumer_queue_max_kbytes;
  client.producer_queue_max_records = options.producer_queue_max_records;
  runtime::GlobalTablesOptions global_options;
  global_options.batch_records = options.restore_batch_records;
  global_options.backoff_max_ms = options.startup_backoff_max.count();
  global_options.commit_interval = options.commit_interval;
  global_options.health = &health.global_tables();  // an outage after the load shows in /readyz
  auto global_tables = std::make_unique<runtime::GlobalTables>(
      pipeline,
      [resources = options.state_resources](const topology::TableSpec& table) {
        return state::open_rocksdb_global_table(resources, table.name);
      },
      clients, client, global_options, metrics, logger, clock);
  options.global_tables = global_tables.get();
  return global_tables;
}

namespace {

using namespace std::chrono_literals;

// The wall and monotonic clocks of this machine, moved forward by the case's advances (and starting at the case's
// wall_clock_start): idle windows close after an advance without the case waiting for it.
class ShiftedClock final : public core::Clock {
 public:
  explicit ShiftedClock(std::int64_t wall_start_ms)
      : wall_start_ms_(wall_start_ms), started_(std::chrono::steady_clock::now()) {}
  std::int64_t wall_ms() const override {
    return wall_start_ms_ + shift_ms_.load() +
           std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_).count();
  }
  std::int64_t monotonic_ns() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
               .count() +
           shift_ms_.load() * 1'000'000;
  }
  void sleep_ms(std::int64_t ms) const override { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }
  void advance_ms(std::int64_t ms) { shift_ms_ += ms; }

 private:
  std::int64_t wall_start_ms_;
  std::chrono::steady_clock::time_point started_;
  std::atomic<std::int64_t> shift_ms_{0};
};

// The topology under fresh names: the application id and every topic get `prefix` in front, so internal topics
// (named after the application id) are fresh as well.
topology::Topology isolated(const topology::Topology& original, const std::string& prefix) {
  topology::Topology copy = original;
  auto rename = [&](std::string& topic) { topic = prefix + topic; };
  copy.application_id = prefix + copy.application_id;
  for (auto& source : copy.sources) rename(source.topic);
  for (auto& table : copy.tables) rename(table.topic);
  for (auto& sink : copy.sinks) rename(sink.topic);
  rename(copy.dead_letter_topic);
  for (auto& op : copy.operators) {
    if (op.repartition_topic) rename(*op.repartition_topic);
    if (op.changelog_topic) rename(*op.changelog_topic);
    for (auto& topic : op.input_repartition_topics) {
      if (topic) rename(*topic);
    }
  }
  for (auto& internal : copy.internal_topics) {
    rename(internal.name);
    for (auto& topic : internal.partitions_of) rename(topic);
  }
  for (auto& subtopology : copy.subtopologies) {
    for (auto& topic : subtopology.source_topics) rename(topic);
  }
  return copy;
}

struct ReadRecord {
  runtime::DriverRecord record;
  std::int64_t offset = 0;
};

class CaseRun {
 public:
  CaseRun(const TestCase& test_case, const topology::Topology& original, const ClusterCaseOptions& options)
      : test_case_(test_case),
        original_(original),
        options_(options),
        prefix_(random_prefix()),
        topology_(isolated(original, prefix_)),
        pipeline_(topology_),
        clock_(test_case.wall_clock_start_ms),
        logger_(log_, observe::LogLevel::info, clock_),
        metrics_(topology_.application_id),
        health_(1, clock_) {
    client_.bootstrap_servers = options.base.bootstrap_servers;
    client_.pass_through = options.base.kafka;
    client_.application_id = topology_.application_id;
    client_.client_id = "sluice-test-" + topology_.application_id;
    client_.consumer_queue_max_kbytes = options.base.consumer_queue_max_kbytes;
    client_.producer_queue_max_records = options.base.producer_queue_max_records;
  }

  CaseResult run() {
    CaseResult result;
    std::string failure;
    try {
      failure = drive();
    } catch (const std::exception& error) {
      failure = std::string("internal failure: ") + error.what();
    }
    if (failure.empty()) {
      result = check_case_outputs(test_case_, original_, [&](const std::string& topic) { return outputs_[topic]; });
    } else {
      result.passed = false;
      result.report = "  on the cluster: " + failure + "\n" + log_tail();
    }
    clean_up();
    return result;
  }

 private:
  static std::string random_prefix() {
    std::random_device device;
    std::mt19937_64 random((static_cast<std::uint64_t>(device()) << 32) ^ device());
    std::ostringstream out;
    out << "sluice-test-" << std::hex << (random() & 0xffffffffffULL) << "-";
    return out.str();
  }

  std::int32_t partitions_of(const std::string& original_topic) const {
    auto found = test_case_.partitions.find(original_topic);
    return found == test_case_.partitions.end() ? 1 : found->second;
  }

  std::string log_tail() const {
    const std::string text = log_.str();
    std::string tail = text.size() > 4000 ? text.substr(text.size() - 4000) : text;
    std::string out;
    std::istringstream lines(tail);
    for (std::string line; std::getline(lines, line);) out += "    | " + line + "\n";
    return out;
  }

  std::string create_topics() {
    std::vector<kafka::NewTopic> topics;
    std::int32_t largest = 1;
    // Event times may be far in the past: nothing the case writes may be deleted by time retention.
    const std::map<std::string, std::string> keep{{"retention.ms", "-1"}};
    for (const auto& source : original_.sources) largest = std::max(largest, partitions_of(source.topic));
    for (const auto& source : original_.sources) {
      topics.push_back({prefix_ + source.topic, partitions_of(source.topic), -1, keep});
    }
    for (const auto& table : original_.tables) {
      topics.push_back({prefix_ + table.topic, partitions_of(table.topic), -1, keep});
    }
    // Outputs as the provisioner would create them (as many partitions as the largest source), unless the case
    // says how many.
    auto output_partitions = [&](const std::string& topic) {
      return test_case_.partitions.count(topic) != 0 ? partitions_of(topic) : largest;
    };
    for (const auto& sink : original_.sinks) {
      topics.push_back({prefix_ + sink.topic, output_partitions(sink.topic), -1, keep});
    }
    topics.push_back({prefix_ + original_.dead_letter_topic, output_partitions(original_.dead_letter_topic), -1, keep});
    std::set<std::string> seen;
    std::vector<kafka::NewTopic> unique;
    for (auto& topic : topics) {
      if (seen.insert(topic.name).second) unique.push_back(std::move(topic));
    }
    for (const auto& topic : unique) created_.push_back(topic.name);
    if (auto error = admin_->create_topics(unique, 30s); !error.ok()) return "cannot create topics: " + error.message;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    for (;;) {
      std::vector<kafka::TopicInfo> listed;
      std::size_t visible = 0;
      if (admin_->list_topics(listed, 5s).ok()) {
        for (const auto& wanted : unique) {
          visible += std::any_of(listed.begin(), listed.end(), [&](const kafka::TopicInfo& info) {
            return info.name == wanted.name && info.partitions == wanted.partitions;
          });
        }
      }
      if (visible == unique.size()) return "";
      if (std::chrono::steady_clock::now() > deadline) return "created topics did not appear within 30 s";
      std::this_thread::sleep_for(50ms);  // metadata propagation has no notification to wait on
    }
  }

  // Everything a read_committed reader sees in `topic`, up to its end at the call.
  std::vector<ReadRecord> read_all(const std::string& topic, std::string& problem) {
    std::vector<kafka::TopicInfo> listed;
    if (auto error = admin_->list_topics(listed, 10s); !error.ok()) {
      problem = "cannot list topics: " + error.message;
      return {};
    }
    std::int32_t partitions = 0;
    for (const auto& info : listed) {
      if (info.name == topic) partitions = info.partitions;
    }
    std::vector<ReadRecord> records;
    if (partitions == 0) return records;
    auto consumer = clients_->consumer(kafka::restore_consumer_config(client_), {}, nullptr);
    std::vector<kafka::TopicPartition> ends;
    for (std::int32_t partition = 0; partition < partitions; ++partition) ends.push_back({topic, partition, kafka::offset_end});
    // A topic just created can answer "not leader" for a moment: ask again until the timeout.
    const auto ends_deadline = std::chrono::steady_clock::now() + options_.timeout;
    for (kafka::KafkaError error = consumer->end_offsets(ends, 10s); !error.ok(); error = consumer->end_offsets(ends, 10s)) {
      if (std::chrono::steady_clock::now() > ends_deadline) {
        problem = "cannot read the end of " + topic + ": " + error.message;
        return {};
      }
      std::this_thread::sleep_for(100ms);  // a leader election has no notification to wait on
    }
    std::vector<kafka::TopicPartition> assignment;
    for (const auto& end : ends) {
      if (end.offset > 0) assignment.push_back({topic, end.partition, kafka::offset_beginning});
    }
    if (assignment.empty()) return records;
    (void)consumer->assign(assignment);
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    auto done = [&] {
      for (const auto& end : ends) {
        if (end.offset <= 0) continue;
        auto position = consumer->position(topic, end.partition);
        if (!position || *position < end.offset) return false;
      }
      return true;
    };
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) {
        problem = "reading " + topic + " did not reach its end";
        break;
      }
      kafka::Message message = consumer->poll(100ms);
      if (!message || !message.ok()) continue;
      ReadRecord read;
      read.record.topic = std::string(message.topic());
      read.record.partition = message.partition();
      if (message.has_key()) read.record.key = std::string(message.key());
      if (message.has_value()) read.record.value = std::string(message.value());
      read.record.timestamp_ms = message.timestamp_ms();
      read.record.headers = message.headers();
      read.offset = message.offset();
      records.push_back(std::move(read));
    }
    consumer->close();
    return records;
  }

  // Steps the processor until the group has committed past every record of the sub-topologies' input topics,
  // upstream first (a repartition topic is read once what writes it is committed, so it no longer grows).
  std::string drain() {
    std::vector<std::string> topics;
    for (const auto& subtopology : topology_.subtopologies) {
      for (const auto& topic : subtopology.source_topics) topics.push_back(topic);
    }
    if (topology_.subtopologies.empty()) topics = pipeline_.source_topics();
    for (const auto& topic : topics) {
      std::string problem;
      std::map<std::int32_t, std::int64_t> last;
      for (const auto& read : read_all(topic, problem)) last[read.record.partition] = std::max(last[read.record.partition], read.offset);
      if (!problem.empty()) return problem;
      if (last.empty()) continue;
      const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
      for (;;) {
        std::vector<kafka::TopicPartition> asked;
        for (const auto& [partition, offset] : last) asked.push_back({topic, partition, kafka::offset_invalid});
        bool processed = group_->committed(asked, 10s).ok();
        for (const auto& committed : asked) processed = processed && committed.offset > last[committed.partition];
        if (processed) break;
        if (std::chrono::steady_clock::now() > deadline) {
          return "the topology did not process every record of " + topic + " within " +
                 std::to_string(options_.timeout.count() / 1000) + " s";
        }
        if (!processor_->step()) return "the processor stopped";
      }
    }
    return "";
  }

  std::string produce(const std::vector<const CaseInput*>& inputs) {
    if (inputs.empty()) return "";
    kafka::ClientSettings plain = client_;
    plain.exactly_once = false;
    kafka::KafkaError delivery;
    auto producer = clients_->producer(kafka::producer_config(plain), {},
                                       [&delivery](const kafka::KafkaError& error, const kafka::DeliveryReport&) {
                                         if (!error.ok() && delivery.ok()) delivery = error;
                                       });
    std::set<std::string> global_topics;
    for (const auto& table : original_.tables) {
      if (table.global) global_topics.insert(table.topic);
    }
    for (const CaseInput* input : inputs) {
      std::int32_t partition = 0;
      if (input->partition) {
        partition = *input->partition;
      } else if (input->key) {
        partition = runtime::murmur2_partition(*input->key, partitions_of(input->topic));
      }
      std::vector<core::Header> headers;
      for (const auto& [name, value] : input->headers) headers.push_back({name, value});
      const std::string topic = prefix_ + input->topic;
      auto key = input->key ? std::optional<std::string_view>(*input->key) : std::nullopt;
      auto value = input->value ? std::optional<std::string_view>(*input->value) : std::nullopt;
      for (;;) {
        kafka::KafkaError error = producer->produce(topic, key, value, input->time.value_or(clock_.wall_ms()),
                                                    headers.empty() ? nullptr : &headers, partition);
        if (error.ok()) break;
        if (error.code != kafka::ErrorCode::queue_full) return "cannot produce to " + topic + ": " + error.message;
        producer->poll(10ms);
      }
      if (global_topics.count(input->topic) != 0) ++global_records_;
    }
    kafka::KafkaError flushed = producer->flush(30s);
    producer->poll(0ms);
    if (!flushed.ok() || !delivery.ok()) return "producing the inputs failed: " + (flushed.ok() ? delivery : flushed).message;
    // Global tables are read by their own thread: wait until it has read every row produced to them (before the
    // processor opens, open() waits until the tables are loaded).
    if (global_tables_ && opened_) {
      const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
      while (global_tables_->records_read() < global_records_) {
        if (std::chrono::steady_clock::now() > deadline) return "the global tables did not read their rows";
        if (!processor_->step()) return "the processor stopped";
      }
    }
    return "";
  }

  std::string drive() {
    clients_ = kafka::librdkafka_clients();
    admin_ = clients_->admin(kafka::admin_config(client_), {});
    if (std::string problem = create_topics(); !problem.empty()) return problem;
    state_dir_ = (std::filesystem::temp_directory_path() / (prefix_ + "state")).string();

    runtime::ProcessorOptions options = options_.base;
    options.exactly_once = true;
    options.instance_id.clear();
    options.transactional_id = topology_.application_id + "-test";
    options.state_dir = state_dir_;
    options.window_idle_timeout_ms = test_case_.window_idle_timeout_ms;
    options.create_output_topics = true;
    options.store_guard = nullptr;
    state::StateOptions state_options;
    state_options.directory = state_dir_ + "/" + topology_.application_id;
    options.state_resources = state::make_state_resources(state_options);
    global_tables_ = make_global_tables(topology_, pipeline_, options, *clients_, health_, metrics_, logger_, clock_);
    commit_interval_ms_ = options.commit_interval.count();

    kafka::ClientSettings group = client_;
    group.instance_id.clear();
    group_ = clients_->consumer(kafka::consumer_config(group), {}, nullptr);

    // Rows of global tables that come before any other input are there when the processor starts, as they
    // would be for a deployment started on existing topics.
    std::size_t next = 0;
    std::vector<const CaseInput*> leading;
    for (; next < test_case_.steps.size(); ++next) {
      const auto* input = std::get_if<CaseInput>(&test_case_.steps[next]);
      const bool global = input != nullptr && std::any_of(original_.tables.begin(), original_.tables.end(), [&](const auto& t) {
        return t.global && t.topic == input->topic;
      });
      if (!global) break;
      leading.push_back(input);
    }
    processor_ = std::make_unique<runtime::Processor>(pipeline_, options, *clients_, metrics_, logger_, clock_,
                                                      health_.thread(0));
    if (std::string problem = produce(leading); !problem.empty()) return problem;
    if (auto outcome = processor_->open(stop_); outcome) return "the processor did not start (see its log)";
    opened_ = true;

    // One input at a time, each processed and committed before the next is produced: the in-process driver
    // commits after every record too, so updates are not compacted together (emit: update) and a case reads the
    // same on both.
    for (; next < test_case_.steps.size(); ++next) {
      if (const auto* input = std::get_if<CaseInput>(&test_case_.steps[next])) {
        if (std::string problem = produce({input}); !problem.empty()) return problem;
        if (std::string problem = drain(); !problem.empty()) return problem;
        continue;
      }
      // The advance, and one commit interval more so that the next turn of the loop commits: closing idle windows
      // is part of the commit. Then what the closed windows sent through repartition topics.
      clock_.advance_ms(std::get<CaseAdvance>(test_case_.steps[next]).by_ms + commit_interval_ms_);
      if (!processor_->step()) return "the processor stopped";
      if (std::string problem = drain(); !problem.empty()) return problem;
    }
    if (std::string problem = drain(); !problem.empty()) return problem;

    // Dead letters name the topic they came from: under its name in the case, not the test's.
    auto unprefixed = [&](std::string text) {
      if (text.rfind(prefix_, 0) == 0) text.erase(0, prefix_.size());
      return text;
    };
    std::vector<std::pair<std::string, std::string>> outputs;
    for (const auto& sink : original_.sinks) outputs.emplace_back(sink.topic, prefix_ + sink.topic);
    outputs.emplace_back(original_.dead_letter_topic, prefix_ + original_.dead_letter_topic);
    for (const auto& [name, topic] : outputs) {
      if (outputs_.count(name) != 0) continue;
      std::string problem;
      auto& records = outputs_[name];
      for (auto& read : read_all(topic, problem)) {
        read.record.topic = name;
        for (auto& header : read.record.headers) {
          if (header.value) header.value = unprefixed(*header.value);
        }
        records.push_back(std::move(read.record));
      }
      if (!problem.empty()) return problem;
      if (test_case_.order == CaseOrder::exact) records = interleaved(records, name);
    }
    return "";
  }

  // Kafka orders records within a partition only, and they are read partition by partition. For an `exact` case,
  // the records are taken from their partitions in the order the expected records name them, so the comparison
  // checks the order within each partition and the partitions themselves; the rest follow in partition order.
  std::vector<runtime::DriverRecord> interleaved(const std::vector<runtime::DriverRecord>& records,
                                                 const std::string& topic) const {
    std::map<std::int32_t, std::vector<const runtime::DriverRecord*>> queues;
    for (const auto& record : records) queues[record.partition].push_back(&record);
    std::map<std::int32_t, std::size_t> taken;
    std::vector<runtime::DriverRecord> out;
    auto expected = test_case_.expected.find(topic == original_.dead_letter_topic ? "dead_letters" : topic);
    if (expected != test_case_.expected.end()) {
      for (const auto& record : expected->second) {
        if (!record.partition) continue;
        auto& next = taken[*record.partition];
        const auto& queue = queues[*record.partition];
        if (next < queue.size()) out.push_back(*queue[next++]);
      }
    }
    for (const auto& [partition, queue] : queues) {
      for (std::size_t i = taken[partition]; i < queue.size(); ++i) out.push_back(*queue[i]);
    }
    return out;
  }

  void clean_up() {
    if (processor_) processor_->close();
    processor_.reset();
    if (global_tables_) global_tables_->stop();
    global_tables_.reset();
    if (group_) group_->close();
    if (admin_ && !options_.keep_topics) {
      std::vector<std::string> topics = created_;
      for (const auto& internal : topology_.internal_topics) topics.push_back(internal.name);
      topics.push_back(topology_.application_id + "-store-fingerprints");
      (void)admin_->delete_topics(topics, 30s);
    }
    if (!state_dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(state_dir_, ignored);
    }
  }

  const TestCase& test_case_;
  const topology::Topology& original_;
  const ClusterCaseOptions& options_;
  std::string prefix_;
  topology::Topology topology_;
  runtime::Pipeline pipeline_;
  ShiftedClock clock_;
  std::ostringstream log_;
  observe::Logger logger_;
  observe::Metrics metrics_;
  runtime::InstanceHealth health_;
  kafka::ClientSettings client_;
  std::unique_ptr<kafka::ClientFactory> clients_;
  std::unique_ptr<kafka::Admin> admin_;
  std::unique_ptr<kafka::Consumer> group_;
  std::unique_ptr<runtime::GlobalTables> global_tables_;
  std::unique_ptr<runtime::Processor> processor_;
  std::atomic<bool> stop_{false};
  std::vector<std::string> created_;
  std::string state_dir_;
  std::int64_t commit_interval_ms_ = 100;
  std::int64_t global_records_ = 0;
  bool opened_ = false;
  std::map<std::string, std::vector<runtime::DriverRecord>> outputs_;
};

}  // namespace

CaseResult run_test_case_on_cluster(const TestCase& test_case, const topology::Topology& topology,
                                    const ClusterCaseOptions& options) {
  CaseRun run(test_case, topology, options);
  return run.run();
}

}  // namespace sluice::app
