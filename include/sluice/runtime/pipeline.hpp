// The compiled form of a topology: operators wired into a graph, with source decoders and sink encoders.
// A Pipeline is immutable and shared by processing threads; each thread brings a PipelineState (parser and
// expression scratch) and an OutputCollector (where encoded records and dead letters go: Kafka, or the
// in-process TestDriver). Processing one input record runs it through the whole graph synchronously.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/clock.hpp"
#include "sluice/core/json.hpp"
#include "sluice/core/record.hpp"
#include "sluice/expr/expression.hpp"
#include "sluice/ops/operator.hpp"
#include "sluice/ops/serde.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::runtime {

// Dead-letter headers: why a record failed and where it came from.
namespace dead_letter_header {
inline constexpr std::string_view error_kind = "sluice.error.kind";
inline constexpr std::string_view error_message = "sluice.error.message";
inline constexpr std::string_view operator_name = "sluice.operator";
inline constexpr std::string_view source_topic = "sluice.source.topic";
inline constexpr std::string_view source_partition = "sluice.source.partition";
inline constexpr std::string_view source_offset = "sluice.source.offset";
inline constexpr std::string_view application_id = "sluice.application.id";
}  // namespace dead_letter_header

// A record leaving the pipeline, encoded. Views are valid only during the OutputCollector call.
struct OutputRecord {
  std::string_view topic;
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
  std::int64_t timestamp_ms = 0;
  const std::vector<core::Header>* headers = nullptr;
};

// Receives the pipeline's results. Implementations: the Kafka producer path and the TestDriver.
class OutputCollector {
 public:
  virtual ~OutputCollector() = default;
  // A record for a sink topic (sink_index into Topology::sinks) or, with sink_index == npos, the dead-letter topic.
  virtual void send(std::size_t sink_index, const OutputRecord& record) = 0;
  // Observations for metrics; the record itself goes through send().
  virtual void on_dead_letter(std::string_view operator_name, core::RecordErrorKind kind) = 0;
  virtual void on_discarded(std::string_view operator_name) = 0;

  static constexpr std::size_t dead_letter = static_cast<std::size_t>(-1);
};

// Per-thread mutable state for processing. Not thread-safe.
class PipelineState {
 public:
  explicit PipelineState(const core::Clock& clock) : eval(clock) {}
  core::JsonParser parser;
  expr::EvalContext eval;
  std::string key_buffer;
  std::string value_buffer;
  std::vector<core::Header> dead_letter_headers;
};

// What became of one input record.
struct ProcessSummary {
  std::uint32_t outputs = 0;       // records sent to sinks
  std::uint32_t dead_letters = 0;  // records sent to the dead-letter topic
};

class Pipeline {
 public:
  explicit Pipeline(const topology::Topology& topology);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  const topology::Topology& topology() const noexcept { return topology_; }
  // The source reading `topic`, or nullopt if no source does.
  std::optional<std::size_t> source_for_topic(std::string_view topic) const;
  // Every topic the pipeline reads.
  std::vector<std::string> source_topics() const;

  // Runs one consumed record through the graph. `origin` describes the input (bytes, topic, partition,
  // offset); `headers` are the input's headers. Errors never escape: they become dead letters.
  ProcessSummary process(std::size_t source_index, const core::Origin& origin, std::int64_t record_timestamp_ms,
                         std::vector<core::Header> headers, PipelineState& state, OutputCollector& out) const;

 private:
  struct Target;
  struct Node;
  class Dispatch;
  void forward(const std::vector<Target>& targets, core::Record&& record, const core::Origin& origin,
               std::int64_t input_timestamp, PipelineState& state, OutputCollector& out, ProcessSummary& summary) const;
  void dead_letter(std::string_view operator_name, const core::RecordError& error, const core::Origin& origin,
                   std::int64_t input_timestamp, PipelineState& state, OutputCollector& out,
                   ProcessSummary& summary) const;
  const topology::Topology& topology_;
  std::vector<ops::SourceDecoder> decoders_;
  std::vector<ops::SinkEncoder> encoders_;
  std::vector<std::unique_ptr<Node>> nodes_;  // one per operator, in Topology::operators order
  std::vector<std::vector<Target>> source_targets_;
};

}  // namespace sluice::runtime
