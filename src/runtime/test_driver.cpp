#include "sluice/runtime/test_driver.hpp"

#include <stdexcept>

namespace sluice::runtime {

std::uint32_t murmur2(std::string_view data) {
  // MurmurHash2 (32-bit) with the seed Kafka uses; reads little-endian 4-byte blocks.
  constexpr std::uint32_t seed = 0x9747b28c;
  constexpr std::uint32_t multiplier = 0x5bd1e995;
  constexpr int shift = 24;
  const auto length = static_cast<std::uint32_t>(data.size());
  std::uint32_t hash = seed ^ length;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t index = 0;
  for (; index + 4 <= data.size(); index += 4) {
    std::uint32_t block = static_cast<std::uint32_t>(bytes[index]) | static_cast<std::uint32_t>(bytes[index + 1]) << 8 |
                          static_cast<std::uint32_t>(bytes[index + 2]) << 16 |
                          static_cast<std::uint32_t>(bytes[index + 3]) << 24;
    block *= multiplier;
    block ^= block >> shift;
    block *= multiplier;
    hash *= multiplier;
    hash ^= block;
  }
  switch (data.size() - index) {
    case 3: hash ^= static_cast<std::uint32_t>(bytes[index + 2]) << 16; [[fallthrough]];
    case 2: hash ^= static_cast<std::uint32_t>(bytes[index + 1]) << 8; [[fallthrough]];
    case 1:
      hash ^= bytes[index];
      hash *= multiplier;
  }
  hash ^= hash >> 13;
  hash *= multiplier;
  hash ^= hash >> 15;
  return hash;
}

std::int32_t murmur2_partition(std::string_view key, std::int32_t partition_count) {
  return static_cast<std::int32_t>((murmur2(key) & 0x7fffffffU) % static_cast<std::uint32_t>(partition_count));
}

const core::Header* DriverRecord::find_header(std::string_view name) const {
  for (const auto& header : headers) {
    if (header.name == name) return &header;
  }
  return nullptr;
}

std::optional<std::string> DriverRecord::header(std::string_view name) const {
  for (const auto& header : headers) {
    if (header.name == name) return header.value;
  }
  return std::nullopt;
}

class TestDriver::Collector final : public OutputCollector {
 public:
  explicit Collector(TestDriver& driver) : driver_(driver) {}
  void send(std::size_t destination, const OutputRecord& record) override {
    DriverRecord out;
    out.topic = std::string(record.topic);
    if (record.key) out.key = std::string(*record.key);
    if (record.value) out.value = std::string(*record.value);
    out.timestamp_ms = record.timestamp_ms;
    if (record.headers != nullptr) out.headers = *record.headers;
    // Null keys: the real producer spreads them at random; the driver puts them on partition 0 to stay
    // deterministic.
    out.partition = out.key ? murmur2_partition(*out.key, driver_.partition_count(out.topic)) : 0;
    if (destination == OutputCollector::repartition) {
      driver_.repartition_queue_.push_back(std::move(out));
    } else {
      driver_.outputs_[out.topic].push_back(std::move(out));
    }
  }
  void on_dead_letter(std::string_view, core::RecordErrorKind) override { ++driver_.dead_lettered_; }
  void on_discarded(std::string_view) override { ++driver_.discarded_; }

 private:
  TestDriver& driver_;
};

// The driver's commits always succeed: its changelog is the memory stores themselves, and there is nothing to
// make durable.
class TestDriver::Durable final : public ChangelogSink, public Committer {
 public:
  void begin_changelog() override {}
  void write_changelog(const TaskId&, std::size_t, std::string_view, std::string_view, std::optional<std::string_view>,
                       std::int64_t) override {}
  std::vector<std::int64_t> changelog_offsets(const TaskId&, std::size_t slots) const override {
    return std::vector<std::int64_t>(slots, -1);
  }
  CommitResult commit(const std::vector<kafka::TopicPartition>&, const char*) override { return CommitResult::committed; }
};

TestDriver::TestDriver(const topology::Topology& topology, const core::Clock& clock,
                       std::map<std::string, std::int32_t> partitions)
    : TestDriver(topology, clock, std::move(partitions), Options{}) {}

TestDriver::TestDriver(const topology::Topology& topology, const core::Clock& clock,
                       std::map<std::string, std::int32_t> partitions, Options options)
    : clock_(clock),
      options_(options),
      pipeline_(topology),
      metrics_(topology.application_id),
      pipeline_metrics_(pipeline_, metrics_),
      state_(clock),
      tasks_(pipeline_, state_,
             [](const TaskId&, const std::vector<std::uint8_t>& families) { return state::make_memory_task_stores(families); },
             options.default_idle_timeout_ms),
      partitions_(std::move(partitions)) {
  pipeline_metrics_.bind(state_);
  global_tables_.resize(topology.tables.size());
  for (const std::size_t table : pipeline_.global_tables()) global_tables_[table] = state::make_memory_global_table();
  for (const auto& store : global_tables_) state_.global_tables.push_back(store.get());
}

TestDriver::~TestDriver() = default;

std::int32_t TestDriver::partition_count(const std::string& topic) const {
  auto count = partitions_.find(topic);
  return count == partitions_.end() ? 1 : count->second;
}

TaskState& TestDriver::task(int subtopology, std::int32_t partition) {
  return tasks_.open(TaskId{subtopology, partition}, clock_.wall_ms());
}

void TestDriver::run(std::size_t source, const std::string& topic, std::int32_t partition,
                     std::optional<std::string> key, std::optional<std::string> value, std::int64_t timestamp_ms,
                     std::vector<core::Header> headers, ProcessSummary& summary) {
  core::Origin origin;
  origin.topic = topic;
  origin.partition = partition;
  origin.offset = next_offset_[{topic, partition}]++;
  origin.has_key = key.has_value();
  if (key) origin.raw_key = *key;
  origin.has_value = value.has_value();
  if (value) origin.raw_value = *value;
  TaskState& target = task(pipeline_.sources()[source].subtopology, partition);
  target.last_input_wall_ms = clock_.wall_ms();
  Collector collector(*this);
  ProcessSummary one = pipeline_.process(source, origin, timestamp_ms, std::move(headers), state_, target, collector);
  summary.outputs += one.outputs;
  summary.dead_letters += one.dead_letters;
}

void TestDriver::drain_repartitions(ProcessSummary& summary) {
  while (!repartition_queue_.empty()) {
    std::vector<DriverRecord> queued = std::move(repartition_queue_);
    repartition_queue_.clear();
    for (auto& record : queued) {
      auto source = pipeline_.source_for_topic(record.topic);
      if (!source) continue;  // cannot happen: every repartition topic has a source
      run(*source, record.topic, record.partition, std::move(record.key), std::move(record.value), record.timestamp_ms,
          std::move(record.headers), summary);
    }
  }
}

ProcessSummary TestDriver::pipe(const std::string& topic, std::optional<std::string> key,
                                std::optional<std::string> value, std::int64_t timestamp_ms, std::int32_t partition,
                                std::vector<core::Header> headers) {
  if (auto table = pipeline_.global_table_for_topic(topic)) {
    ProcessSummary summary;
    pipe_global(*table, topic, partition, std::move(key), std::move(value), timestamp_ms, summary);
    return summary;
  }
  auto source = pipeline_.source_for_topic(topic);
  if (!source || pipeline_.sources()[*source].repartition) {
    throw std::invalid_argument("topic '" + topic + "' is not read by any source of the topology");
  }
  ProcessSummary summary;
  run(*source, topic, partition, std::move(key), std::move(value), timestamp_ms, std::move(headers), summary);
  drain_repartitions(summary);
  punctuate();
  if (options_.auto_commit) commit();
  return summary;
}

void TestDriver::pipe_global(std::size_t table_index, const std::string& topic, std::int32_t partition,
                             std::optional<std::string> key, std::optional<std::string> value, std::int64_t timestamp_ms,
                             ProcessSummary& summary) {
  const topology::TableSpec& table = pipeline_.topology().tables[table_index];
  state::GlobalTableStore& store = *global_tables_[table_index];
  const std::int64_t offset = next_offset_[{topic, partition}]++;
  const auto value_view = value ? std::optional<std::string_view>(*value) : std::nullopt;
  const GlobalRow row = classify_global_row(table, key.has_value(), value_view, state_.parser);
  switch (row.kind) {
    case GlobalRow::Kind::put: store.put(*key, *value); break;
    case GlobalRow::Kind::remove: store.remove(*key); break;
    case GlobalRow::Kind::dead_letter: {
      DriverRecord letter;
      letter.topic = pipeline_.topology().dead_letter_topic;
      letter.key = std::move(key);
      letter.value = std::move(value);
      letter.timestamp_ms = timestamp_ms;
      letter.headers = {{std::string(dead_letter_header::error_kind), std::string(core::to_string(row.error))},
                        {std::string(dead_letter_header::error_message), row.why},
                        {std::string(dead_letter_header::operator_name), "table:" + table.name},
                        {std::string(dead_letter_header::source_topic), topic},
                        {std::string(dead_letter_header::source_partition), std::to_string(partition)},
                        {std::string(dead_letter_header::source_offset), std::to_string(offset)},
                        {std::string(dead_letter_header::application_id), pipeline_.topology().application_id}};
      outputs_[letter.topic].push_back(std::move(letter));
      ++dead_lettered_;
      ++summary.dead_letters;
      return;
    }
  }
  store.set_next_offset(partition, offset + 1);
  store.commit();
}

void TestDriver::punctuate() {
  Collector collector(*this);
  ProcessSummary summary;
  // Upstream sub-topologies first, so what they emit reaches downstream tasks before those act on time.
  for (auto& [id, task] : tasks_.tasks()) {
    pipeline_.on_time(clock_.wall_ms(), options_.default_idle_timeout_ms, state_, task, collector);
    drain_repartitions(summary);
  }
}

void TestDriver::commit() {
  // The production commit order (TaskManager::commit), with a commit that always succeeds.
  Collector collector(*this);
  Durable durable;
  ProcessSummary summary;
  (void)tasks_.commit(clock_.wall_ms(), collector, durable, durable, "test", [&] { drain_repartitions(summary); });
}

std::size_t TestDriver::state_keys(int subtopology, std::int32_t partition, std::size_t slot, std::uint8_t family) {
  TaskState& target = task(subtopology, partition);
  if (!target.stores) return 0;
  std::size_t count = 0;
  target.stores->store(slot).scan(family, "", "", [&](std::string_view, std::string_view) {
    ++count;
    return true;
  });
  return count;
}

std::vector<DriverRecord> TestDriver::read(const std::string& topic) {
  auto it = outputs_.find(topic);
  if (it == outputs_.end()) return {};
  std::vector<DriverRecord> records = std::move(it->second);
  it->second.clear();
  return records;
}

std::size_t TestDriver::pending(const std::string& topic) const {
  auto it = outputs_.find(topic);
  return it == outputs_.end() ? 0 : it->second.size();
}

}  // namespace sluice::runtime
