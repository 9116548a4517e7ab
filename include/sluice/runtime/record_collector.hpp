// Writes what the pipeline emits to Kafka: outputs, repartition records, dead letters and changelog records,
// through the thread's producer, with back-pressure (a full producer queue is drained by polling, never
// grown) and delivery reports (changelog offsets for the stores, produced counters, failures).
//
// Failure rules: an output that can never be written because of the record itself (too large, invalid) is
// dead-lettered with headers saying why, and processing goes on; when even the dead letter is too large, a
// stub goes instead (headers, the input's coordinates, the value cut to kStubValueBytes). Any other failure to
// write is remembered in failure() until the next commit decides: no commit may cover it.
//
// Owns the producer, and replaces it on request (after an indefinite transaction outcome). Lifecycle: create,
// create_producer(), use, destroy (the producer goes first; its last delivery reports still find this object).
// Used by one thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "sluice/kafka/client.hpp"
#include "sluice/observe/log.hpp"
#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/pipeline.hpp"
#include "sluice/runtime/task_manager.hpp"

namespace sluice::runtime {

// Exactly-once: a transaction must be open before anything is produced.
class TransactionGate {
 public:
  virtual ~TransactionGate() = default;
  // Begins the transaction if none is open; false if the producer cannot (the failure is recorded).
  virtual bool ensure_open() = 0;
};

class RecordCollector final : public OutputCollector, public ChangelogSink {
 public:
  static constexpr std::size_t kStubValueBytes = 64 * 1024;

  RecordCollector(const Pipeline& pipeline, kafka::ClientFactory& clients, kafka::Config producer_config,
                  kafka::ClientCallbacks callbacks, observe::Metrics& metrics, observe::Logger& logger,
                  std::string component);
  ~RecordCollector() override;
  RecordCollector(const RecordCollector&) = delete;
  RecordCollector& operator=(const RecordCollector&) = delete;

  // Creates the producer, or replaces it (the old one is destroyed first, without waiting for its queue:
  // whatever it still held belongs to a transaction that is being given up). Throws kafka::ConfigError.
  void create_producer();
  kafka::Producer& producer() { return *producer_; }
  std::uint64_t producers_created() const noexcept { return producers_created_; }
  void set_gate(TransactionGate* gate) noexcept { gate_ = gate; }
  // The input record being processed (pipeline source `source`), for the coordinates of dead letters and to
  // know which input an asynchronously rejected output came from; null between records.
  void set_origin(const core::Origin* origin, std::size_t source = 0) noexcept {
    origin_ = origin;
    origin_source_ = static_cast<std::uint32_t>(source);
  }

  // An output of this input was rejected by the broker for its own sake (too large for the topic, invalid)
  // after it had left: the commit rolled back, and when the input comes again it is dead-lettered instead of
  // processed (once). Returns the broker's reason, or nullopt for an input that is not poisoned.
  std::optional<std::string> take_poisoned(std::size_t source, std::int32_t partition, std::int64_t offset);
  // Dead-letters the input being processed (set_origin) as a whole, kind output_rejected.
  void dead_letter_input(std::string_view reason);

  // OutputCollector
  void send(std::size_t sink_index, const OutputRecord& record) override;
  void on_dead_letter(std::string_view operator_name, core::RecordErrorKind kind) override;
  void on_discarded(std::string_view operator_name) override;

  // ChangelogSink
  void begin_changelog() override;
  void write_changelog(const TaskId& task, std::size_t slot, std::string_view topic, std::string_view key,
                       std::optional<std::string_view> value, std::int64_t timestamp_ms) override;
  std::vector<std::int64_t> changelog_offsets(const TaskId& task, std::size_t slots) const override;

  // A write since the last commit failed for a reason that is not the record's own (a refused or missing
  // topic, an unreachable broker past the delivery timeout): the commit must not cover it.
  const std::optional<kafka::KafkaError>& failure() const noexcept { return failure_; }
  // Anything was produced since the last reset() (a transaction has something to commit).
  bool wrote() const noexcept { return wrote_; }
  // A commit (or a rollback) ended: failures and the "wrote" flag start afresh.
  void reset() noexcept {
    failure_.reset();
    wrote_ = false;
    output_inputs_.clear();
  }

 private:
  // Produces with back-pressure; returns the outcome of the enqueue (never queue_full).
  kafka::KafkaError enqueue(std::string_view topic, std::optional<std::string_view> key,
                            std::optional<std::string_view> value, std::int64_t timestamp_ms,
                            const std::vector<core::Header>* headers, std::int32_t partition, void* opaque);
  void dead_letter_rejected(const OutputRecord& record, std::size_t sink_index, const kafka::KafkaError& error);
  // The headers every rejection dead letter carries (kind, reason, operator, input coordinates, application).
  void rejection_headers(const std::string& reason, const std::string& operator_name);
  void fail(const kafka::KafkaError& error, std::string_view topic);
  void on_delivery(const kafka::KafkaError& error, const kafka::DeliveryReport& report);

  const Pipeline& pipeline_;
  kafka::ClientFactory& clients_;
  kafka::Config producer_config_;
  kafka::ClientCallbacks callbacks_;
  observe::Metrics& metrics_;
  observe::Logger& logger_;
  std::string component_;
  TransactionGate* gate_ = nullptr;
  const core::Origin* origin_ = nullptr;
  std::uint32_t origin_source_ = 0;
  // The input behind each output sent since the last reset (delivery opaque = index | kOutputTag).
  struct InputRef {
    std::uint32_t source = 0;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    auto operator<=>(const InputRef&) const = default;
  };
  static constexpr std::uintptr_t kOutputTag = std::uintptr_t{1} << (sizeof(std::uintptr_t) * 8 - 1);
  std::vector<InputRef> output_inputs_;
  std::map<InputRef, std::string> poisoned_;  // bounded: one entry per rejected input, taken on replay
  std::optional<kafka::KafkaError> failure_;
  bool wrote_ = false;
  std::uint64_t producers_created_ = 0;
  std::vector<core::Header> stub_headers_;

  // Changelog records of the current commit: delivery opaque (1-based) -> (task, slot); acknowledged offsets.
  std::vector<std::pair<TaskId, std::size_t>> changelog_slots_;
  std::map<TaskId, std::vector<std::int64_t>> changelog_offsets_;
  std::map<std::pair<TaskId, std::size_t>, std::size_t> slot_index_;

  struct TopicHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view topic) const noexcept { return std::hash<std::string_view>{}(topic); }
  };
  std::unordered_map<std::string, prometheus::Counter*, TopicHash, std::equal_to<>> produced_by_topic_;

  std::unique_ptr<kafka::Producer> producer_;  // last: destroyed first, while the members above still exist
};

}  // namespace sluice::runtime
