#include "sluice/runtime/pipeline.hpp"

#include <charconv>
#include <unordered_map>

namespace sluice::runtime {

// Where an emitted record goes: an operator node or a sink.
struct Pipeline::Target {
  enum class Kind : std::uint8_t { node, sink } kind;
  std::size_t index;
};

struct Pipeline::Node {
  std::unique_ptr<ops::Operator> op;
  std::vector<std::vector<Target>> ports;  // targets per output port
};

// Emitter handed to an operator: forwards each emitted record to the port's targets, copying for fan-out.
class Pipeline::Dispatch final : public ops::Emitter {
 public:
  Dispatch(const Pipeline& pipeline, const Node& node, const core::Origin& origin, std::int64_t input_timestamp,
           PipelineState& state, OutputCollector& out, ProcessSummary& summary)
      : pipeline_(pipeline), node_(node), origin_(origin), input_timestamp_(input_timestamp), state_(state), out_(out),
        summary_(summary) {}

  void emit(std::size_t port, core::Record&& record) override {
    const auto& targets = node_.ports[port];
    pipeline_.forward(targets, std::move(record), origin_, input_timestamp_, state_, out_, summary_);
  }

 private:
  const Pipeline& pipeline_;
  const Node& node_;
  const core::Origin& origin_;
  std::int64_t input_timestamp_;
  PipelineState& state_;
  OutputCollector& out_;
  ProcessSummary& summary_;
};

namespace {

std::string to_text(std::int64_t number) {
  char buffer[24];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, number);
  return std::string(buffer, result.ptr);
}

}  // namespace

Pipeline::Pipeline(const topology::Topology& topology) : topology_(topology) {
  std::unordered_map<std::string, Target> outputs;  // reference name -> target producing it (filled below)
  std::unordered_map<std::string, std::size_t> source_index;
  for (std::size_t i = 0; i < topology.sources.size(); ++i) {
    decoders_.emplace_back(topology.sources[i]);
    source_index.emplace(topology.sources[i].name, i);
  }
  source_targets_.resize(topology.sources.size());
  std::unordered_map<std::string, std::pair<std::size_t, std::size_t>> operator_ports;  // ref -> (node, port)
  for (std::size_t i = 0; i < topology.operators.size(); ++i) {
    const auto& spec = topology.operators[i];
    auto node = std::make_unique<Node>();
    node->op = ops::make_operator(spec);
    node->ports.resize(node->op->port_count());
    if (const auto* route = std::get_if<topology::RouteSpec>(&spec.body)) {
      for (std::size_t b = 0; b < route->branches.size(); ++b) {
        operator_ports[spec.name + "." + route->branches[b].name] = {i, b};
      }
      if (route->default_branch) operator_ports[spec.name + "." + *route->default_branch] = {i, route->branches.size()};
    } else {
      operator_ports[spec.name] = {i, 0};
    }
    nodes_.push_back(std::move(node));
  }
  auto connect = [&](const std::string& reference, Target target) {
    if (auto it = source_index.find(reference); it != source_index.end()) {
      source_targets_[it->second].push_back(target);
    } else if (auto op = operator_ports.find(reference); op != operator_ports.end()) {
      nodes_[op->second.first]->ports[op->second.second].push_back(target);
    }
    // Unknown references cannot happen: the topology was validated.
  };
  for (std::size_t i = 0; i < topology.operators.size(); ++i) {
    for (const auto& input : topology.operators[i].inputs) connect(input, Target{Target::Kind::node, i});
  }
  for (std::size_t i = 0; i < topology.sinks.size(); ++i) {
    encoders_.emplace_back(topology.sinks[i].key, topology.sinks[i].value);
    connect(topology.sinks[i].from, Target{Target::Kind::sink, i});
  }
}

Pipeline::~Pipeline() = default;

std::optional<std::size_t> Pipeline::source_for_topic(std::string_view topic) const {
  for (std::size_t i = 0; i < topology_.sources.size(); ++i) {
    if (topology_.sources[i].topic == topic) return i;
  }
  return std::nullopt;
}

std::vector<std::string> Pipeline::source_topics() const {
  std::vector<std::string> topics;
  for (const auto& source : topology_.sources) topics.push_back(source.topic);
  return topics;
}

void Pipeline::dead_letter(std::string_view operator_name, const core::RecordError& error, const core::Origin& origin,
                           std::int64_t input_timestamp, PipelineState& state, OutputCollector& out,
                           ProcessSummary& summary) const {
  auto& headers = state.dead_letter_headers;
  headers.clear();
  headers.push_back({std::string(dead_letter_header::error_kind), std::string(core::to_string(error.kind))});
  headers.push_back({std::string(dead_letter_header::error_message), error.message});
  headers.push_back({std::string(dead_letter_header::operator_name), std::string(operator_name)});
  headers.push_back({std::string(dead_letter_header::source_topic), std::string(origin.topic)});
  headers.push_back({std::string(dead_letter_header::source_partition), to_text(origin.partition)});
  headers.push_back({std::string(dead_letter_header::source_offset), to_text(origin.offset)});
  headers.push_back({std::string(dead_letter_header::application_id), topology_.application_id});
  OutputRecord record;
  record.topic = topology_.dead_letter_topic;
  // The original bytes, untouched, so the record can be inspected and replayed.
  if (origin.has_key) record.key = origin.raw_key;
  if (origin.has_value) record.value = origin.raw_value;
  record.timestamp_ms = input_timestamp;
  record.headers = &headers;
  out.on_dead_letter(operator_name, error.kind);
  out.send(OutputCollector::dead_letter, record);
  ++summary.dead_letters;
}

void Pipeline::forward(const std::vector<Target>& targets, core::Record&& record, const core::Origin& origin,
                       std::int64_t input_timestamp, PipelineState& state, OutputCollector& out,
                       ProcessSummary& summary) const {
  for (std::size_t t = 0; t < targets.size(); ++t) {
    const bool last = t + 1 == targets.size();
    core::Record copy;
    if (!last) copy = record;
    core::Record& current = last ? record : copy;
    const Target& target = targets[t];
    if (target.kind == Target::Kind::sink) {
      const auto& sink = topology_.sinks[target.index];
      auto encoded = encoders_[target.index].encode(current, state.key_buffer, state.value_buffer);
      if (!encoded.ok()) {
        dead_letter("sink:" + sink.name, encoded.error(), origin, input_timestamp, state, out, summary);
        continue;
      }
      OutputRecord output;
      output.topic = sink.topic;
      output.key = encoded.value().key;
      output.value = encoded.value().value;
      output.timestamp_ms = current.timestamp_ms;
      output.headers = &current.headers;
      out.send(target.index, output);
      ++summary.outputs;
      continue;
    }
    const Node& node = *nodes_[target.index];
    Dispatch dispatch(*this, node, origin, input_timestamp, state, out, summary);
    ops::ProcessContext context{state.eval, dispatch};
    auto result = node.op->process(std::move(current), context);
    if (!result.ok()) {
      dead_letter(node.op->name(), result.error(), origin, input_timestamp, state, out, summary);
    } else if (result.value() == ops::Disposition::discarded) {
      out.on_discarded(node.op->name());
    }
  }
}

ProcessSummary Pipeline::process(std::size_t source_index, const core::Origin& origin, std::int64_t record_timestamp_ms,
                                 std::vector<core::Header> headers, PipelineState& state, OutputCollector& out) const {
  ProcessSummary summary;
  state.eval.set_origin(&origin);
  auto decoded = decoders_[source_index].decode(origin, record_timestamp_ms, std::move(headers), state.parser, state.eval);
  if (!decoded.ok()) {
    dead_letter("source:" + topology_.sources[source_index].name, decoded.error(), origin, record_timestamp_ms, state,
                out, summary);
  } else {
    forward(source_targets_[source_index], std::move(decoded).value(), origin, record_timestamp_ms, state, out, summary);
  }
  state.eval.set_origin(nullptr);
  return summary;
}

}  // namespace sluice::runtime
