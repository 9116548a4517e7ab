#include "sluice/runtime/record_collector.hpp"

#include <algorithm>
#include <charconv>

namespace sluice::runtime {

using namespace std::chrono_literals;

namespace {

std::string number(std::int64_t value) {
  char buffer[24];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, end);
}

}  // namespace

RecordCollector::RecordCollector(const Pipeline& pipeline, kafka::ClientFactory& clients, kafka::Config producer_config,
                                 kafka::ClientCallbacks callbacks, observe::Metrics& metrics, observe::Logger& logger,
                                 std::string component)
    : pipeline_(pipeline),
      clients_(clients),
      producer_config_(std::move(producer_config)),
      callbacks_(std::move(callbacks)),
      metrics_(metrics),
      logger_(logger),
      component_(std::move(component)) {
  const auto& topology = pipeline_.topology();
  for (const auto& sink : topology.sinks) produced_by_topic_.emplace(sink.topic, &metrics_.produced(sink.topic));
  produced_by_topic_.emplace(topology.dead_letter_topic, &metrics_.produced(topology.dead_letter_topic));
}

RecordCollector::~RecordCollector() = default;

void RecordCollector::create_producer() {
  producer_.reset();
  producer_ = clients_.producer(producer_config_, callbacks_,
                                [this](const kafka::KafkaError& error, const kafka::DeliveryReport& report) {
                                  on_delivery(error, report);
                                });
  ++producers_created_;
}

kafka::KafkaError RecordCollector::enqueue(std::string_view topic, std::optional<std::string_view> key,
                                           std::optional<std::string_view> value, std::int64_t timestamp_ms,
                                           const std::vector<core::Header>* headers, std::int32_t partition,
                                           void* opaque) {
  for (;;) {
    kafka::KafkaError error = producer_->produce(topic, key, value, timestamp_ms, headers, partition, opaque);
    if (error.code != kafka::ErrorCode::queue_full) return error;
    // Back-pressure: the producer queue is bounded (producer_queue_max_records); wait for acknowledgements.
    producer_->poll(10ms);
  }
}

void RecordCollector::send(std::size_t sink_index, const OutputRecord& record) {
  wrote_ = true;
  if (gate_ != nullptr && !gate_->ensure_open()) return;
  void* opaque = nullptr;
  if (origin_ != nullptr) {
    output_inputs_.push_back(InputRef{origin_source_, origin_->partition, origin_->offset});
    opaque = reinterpret_cast<void*>(static_cast<std::uintptr_t>(output_inputs_.size() - 1) | kOutputTag);
  }
  kafka::KafkaError error =
      enqueue(record.topic, record.key, record.value, record.timestamp_ms, record.headers, -1, opaque);
  if (error.ok()) return;
  if (error.record_fault()) {
    dead_letter_rejected(record, sink_index, error);
    return;
  }
  fail(error, record.topic);
}

void RecordCollector::dead_letter_rejected(const OutputRecord& record, std::size_t sink_index,
                                           const kafka::KafkaError& error) {
  const auto& topology = pipeline_.topology();
  const std::size_t size = record.value ? record.value->size() : 0;
  std::string operator_name = "sink";
  if (sink_index == OutputCollector::repartition) operator_name = "repartition";
  if (sink_index < topology.sinks.size()) operator_name = topology.sinks[sink_index].name;
  // A dead letter that is itself too large keeps its own headers (why the record failed in the first place).
  const bool already_dead_letter = sink_index == OutputCollector::dead_letter;
  stub_headers_.clear();
  if (already_dead_letter && record.headers != nullptr) stub_headers_ = *record.headers;
  if (!already_dead_letter) {
    rejection_headers("cannot write " + number(static_cast<std::int64_t>(size)) + " bytes to " +
                          std::string(record.topic) + ": " + error.message,
                      operator_name);
  }
  stub_headers_.push_back({std::string(dead_letter_header::destination_topic), std::string(record.topic)});
  stub_headers_.push_back({std::string(dead_letter_header::original_size), number(static_cast<std::int64_t>(size))});
  std::optional<std::string_view> value;
  if (record.value) value = record.value->substr(0, std::min(size, kStubValueBytes));
  kafka::KafkaError stub_error =
      enqueue(topology.dead_letter_topic, record.key, value, record.timestamp_ms, &stub_headers_, -1, nullptr);
  if (!stub_error.ok()) {
    fail(stub_error, topology.dead_letter_topic);
    return;
  }
  metrics_.dead_lettered(operator_name, core::to_string(core::RecordErrorKind::output_rejected)).Increment();
  logger_.warn(component_, "output of " + std::string(origin_ != nullptr ? origin_->topic : "a timer") +
                               (origin_ != nullptr ? "[" + number(origin_->partition) + "]@" + number(origin_->offset)
                                                   : std::string()) +
                               " to " + std::string(record.topic) + " rejected (" + error.message +
                               "); dead-lettered as a stub of " + number(static_cast<std::int64_t>(value ? value->size() : 0)) +
                               " bytes");
}

void RecordCollector::rejection_headers(const std::string& reason, const std::string& operator_name) {
  stub_headers_.push_back({std::string(dead_letter_header::error_kind),
                           std::string(core::to_string(core::RecordErrorKind::output_rejected))});
  stub_headers_.push_back({std::string(dead_letter_header::error_message), reason});
  stub_headers_.push_back({std::string(dead_letter_header::operator_name), operator_name});
  if (origin_ != nullptr) {
    stub_headers_.push_back({std::string(dead_letter_header::source_topic), std::string(origin_->topic)});
    stub_headers_.push_back({std::string(dead_letter_header::source_partition), number(origin_->partition)});
    stub_headers_.push_back({std::string(dead_letter_header::source_offset), number(origin_->offset)});
  }
  stub_headers_.push_back({std::string(dead_letter_header::application_id), pipeline_.topology().application_id});
}

std::optional<std::string> RecordCollector::take_poisoned(std::size_t source, std::int32_t partition,
                                                          std::int64_t offset) {
  auto it = poisoned_.find(InputRef{static_cast<std::uint32_t>(source), partition, offset});
  if (it == poisoned_.end()) return std::nullopt;
  std::string reason = std::move(it->second);
  poisoned_.erase(it);
  return reason;
}

void RecordCollector::dead_letter_input(std::string_view reason) {
  if (origin_ == nullptr) return;
  wrote_ = true;
  if (gate_ != nullptr && !gate_->ensure_open()) return;
  const auto& topology = pipeline_.topology();
  stub_headers_.clear();
  rejection_headers(std::string(reason), "sink");
  const std::size_t size = origin_->has_value ? origin_->raw_value.size() : 0;
  stub_headers_.push_back({std::string(dead_letter_header::original_size), number(static_cast<std::int64_t>(size))});
  std::optional<std::string_view> key, value;
  if (origin_->has_key) key = origin_->raw_key;
  if (origin_->has_value) value = origin_->raw_value.substr(0, std::min(size, kStubValueBytes));
  kafka::KafkaError error = enqueue(topology.dead_letter_topic, key, value, 0, &stub_headers_, -1, nullptr);
  if (!error.ok()) {
    fail(error, topology.dead_letter_topic);
    return;
  }
  metrics_.dead_lettered("sink", core::to_string(core::RecordErrorKind::output_rejected)).Increment();
  logger_.warn(component_, "input " + std::string(origin_->topic) + "[" + number(origin_->partition) + "]@" +
                               number(origin_->offset) + " dead-lettered: its output was rejected (" +
                               std::string(reason) + ")");
}

void RecordCollector::fail(const kafka::KafkaError& error, std::string_view topic) {
  if (!failure_) {
    logger_.error(component_, "cannot write to " + std::string(topic) + ": " + error.message +
                                  "; nothing since the last commit will be committed");
    failure_ = error;
    failure_->message = std::string(topic) + ": " + error.message;
  }
  metrics_.delivery_failures().Increment();
}

void RecordCollector::on_dead_letter(std::string_view operator_name, core::RecordErrorKind kind) {
  metrics_.dead_lettered(operator_name, core::to_string(kind)).Increment();
}

void RecordCollector::on_discarded(std::string_view operator_name) { metrics_.discarded(operator_name).Increment(); }

void RecordCollector::begin_changelog() {
  changelog_slots_.clear();
  changelog_offsets_.clear();
  slot_index_.clear();
}

void RecordCollector::write_changelog(const TaskId& task, std::size_t slot, std::string_view topic,
                                      std::string_view key, std::optional<std::string_view> value,
                                      std::int64_t timestamp_ms) {
  wrote_ = true;
  if (gate_ != nullptr && !gate_->ensure_open()) return;
  auto [it, inserted] = slot_index_.try_emplace({task, slot}, changelog_slots_.size() + 1);
  if (inserted) changelog_slots_.emplace_back(task, slot);
  void* opaque = reinterpret_cast<void*>(static_cast<std::uintptr_t>(it->second));
  kafka::KafkaError error = enqueue(topic, key, value, timestamp_ms, nullptr, task.partition, opaque);
  // A changelog record that cannot be written is never the record's fault to dead-letter: the store needs it.
  if (!error.ok()) fail(error, topic);
  metrics_.changelog_records().Increment();
}

std::vector<std::int64_t> RecordCollector::changelog_offsets(const TaskId& task, std::size_t slots) const {
  std::vector<std::int64_t> offsets(slots, -1);
  if (auto it = changelog_offsets_.find(task); it != changelog_offsets_.end()) {
    for (std::size_t slot = 0; slot < std::min(slots, it->second.size()); ++slot) offsets[slot] = it->second[slot];
  }
  return offsets;
}

void RecordCollector::on_delivery(const kafka::KafkaError& error, const kafka::DeliveryReport& report) {
  const auto tag = reinterpret_cast<std::uintptr_t>(report.opaque);
  if ((tag & kOutputTag) != 0) {
    const std::size_t index = tag & ~kOutputTag;
    if (!error.ok() && error.record_fault() && index < output_inputs_.size()) {
      // Remember the input: after the rollback it is dead-lettered rather than sent into the same wall again.
      poisoned_.emplace(output_inputs_[index], "output to " + std::string(report.topic) + " rejected: " + error.message);
    }
  }
  if (error.ok()) {
    if (report.opaque != nullptr && (tag & kOutputTag) == 0) {
      // A changelog record: remember the offset its store will reflect once applied.
      auto index = reinterpret_cast<std::uintptr_t>(report.opaque) - 1;
      if (index >= changelog_slots_.size()) return;  // a report of a producer being replaced
      const auto& [task, slot] = changelog_slots_[index];
      auto& offsets = changelog_offsets_[task];
      if (offsets.size() <= slot) offsets.resize(slot + 1, -1);
      offsets[slot] = std::max(offsets[slot], report.offset);
      return;
    }
    if (auto it = produced_by_topic_.find(report.topic); it != produced_by_topic_.end()) it->second->Increment();
    return;
  }
  // Asynchronous failures cannot be dead-lettered here (the input is long gone): the commit rolls back and the
  // inputs are processed again.
  fail(error, report.topic);
}

}  // namespace sluice::runtime
