#include "sluice/runtime/pipeline.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include "sluice/ops/stateful.hpp"

namespace sluice::runtime {

// Where an emitted record goes: an operator node, a sink, or a repartition topic.
struct Pipeline::Target {
  enum class Kind : std::uint8_t { node, sink, repartition } kind;
  std::size_t index;
  std::size_t input = 0;  // node targets: which of the operator's inputs this is (ProcessContext::input)
};

struct Pipeline::Node {
  std::unique_ptr<ops::Operator> op;
  std::vector<std::vector<Target>> ports;  // targets per output port
};

// Everything about the input being processed, passed down the graph.
struct Pipeline::Frame {
  const core::Origin& origin;
  std::int64_t input_timestamp;
  PipelineState& state;
  TaskState& task;
  OutputCollector& out;
  ProcessSummary& summary;
  // The input record's headers (null for records emitted by time or commit): a dead letter carries them.
  const std::vector<core::Header>* input_headers;
};

// Emitter handed to an operator: forwards each emitted record to the port's targets, copying for fan-out.
class Pipeline::Dispatch final : public ops::Emitter {
 public:
  Dispatch(const Pipeline& pipeline, const Node& node, Frame& frame) : pipeline_(pipeline), node_(node), frame_(frame) {}
  void emit(std::size_t port, core::Record&& record) override {
    pipeline_.forward(node_.ports[port], std::move(record), frame_);
  }
  void dead_letter(const core::RecordError& error, const core::Record& record) override {
    // No input record to copy: the dead letter holds the result's key and value as JSON instead.
    std::string key = core::to_json(record.key);
    std::string value = core::to_json(record.value);
    core::Origin origin = frame_.origin;
    origin.has_key = true;
    origin.raw_key = key;
    origin.has_value = true;
    origin.raw_value = value;
    Frame frame{origin, record.timestamp_ms, frame_.state, frame_.task, frame_.out, frame_.summary, frame_.input_headers};
    pipeline_.dead_letter(node_.op->name(), error, frame);
  }

 private:
  const Pipeline& pipeline_;
  const Node& node_;
  Frame& frame_;
};

namespace {

std::string to_text(std::int64_t number) {
  char buffer[24];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, number);
  return std::string(buffer, result.ptr);
}

}  // namespace

void Pipeline::use_registry(const formats::RegistryDecoder* decoder,
                            const std::map<std::size_t, std::shared_ptr<const formats::SinkSchema>>& sinks) {
  for (std::size_t i = 0; i < topology_.sources.size(); ++i) {
    const auto& source = topology_.sources[i];
    if (topology::registry_format(source.value) || topology::registry_format(source.key)) {
      decoders_[i].use_registry(decoder);
    }
  }
  for (const auto& [index, schema] : sinks) encoders_.at(index).use_registry(schema);
}

Pipeline::Pipeline(const topology::Topology& topology) : topology_(topology) {
  const std::size_t subtopologies = std::max<std::size_t>(1, topology.subtopologies.size());
  store_families_.resize(subtopologies);
  store_changelogs_.resize(subtopologies);
  table_backed_.resize(subtopologies);
  subtopology_of_operator_.assign(topology.operators.size(), 0);
  std::vector<int> subtopology_of_source(topology.sources.size(), 0);
  for (const auto& subtopology : topology.subtopologies) {
    for (std::size_t index : subtopology.operators) subtopology_of_operator_[index] = subtopology.id;
    for (std::size_t index : subtopology.sources) subtopology_of_source[index] = subtopology.id;
  }

  std::unordered_map<std::string, std::size_t> source_index;
  for (std::size_t i = 0; i < topology.sources.size(); ++i) {
    sources_.push_back(PipelineSource{topology.sources[i].topic, subtopology_of_source[i], false});
    decoders_.emplace_back(topology.sources[i]);
    source_index.emplace(topology.sources[i].name, i);
  }
  std::unordered_map<std::string, std::pair<std::size_t, std::size_t>> operator_ports;  // ref -> (node, port)
  store_slot_.assign(topology.operators.size(), -1);
  global_table_of_operator_.assign(topology.operators.size(), -1);
  for (std::size_t i = 0; i < topology.operators.size(); ++i) {
    const auto& spec = topology.operators[i];
    if (const auto* join = std::get_if<topology::JoinSpec>(&spec.body); join != nullptr && join->global_table) {
      for (std::size_t t = 0; t < topology.tables.size(); ++t) {
        if (topology.tables[t].name != join->table) continue;
        global_table_of_operator_[i] = static_cast<int>(t);
        if (std::find(global_tables_.begin(), global_tables_.end(), t) == global_tables_.end()) {
          global_tables_.push_back(t);
        }
      }
    }
    auto node = std::make_unique<Node>();
    node->op = ops::make_operator(spec);
    node->ports.resize(node->op->port_count());
    if (std::uint8_t families = node->op->store_families(); families > 0) {
      auto& slots = store_families_[static_cast<std::size_t>(subtopology_of_operator_[i])];
      store_slot_[i] = static_cast<int>(slots.size());
      slots.push_back(families);
      store_changelogs_[static_cast<std::size_t>(subtopology_of_operator_[i])].push_back(
          spec.changelog_topic.value_or(topology.application_id + "-" + spec.name + "-changelog"));
      const auto* join = std::get_if<topology::JoinSpec>(&spec.body);
      table_backed_[static_cast<std::size_t>(subtopology_of_operator_[i])].push_back(join != nullptr);
      slot_table_values_.resize(subtopologies);
      slot_table_values_[static_cast<std::size_t>(subtopology_of_operator_[i])].push_back(
          join != nullptr ? join->table_value : topology::ValueFormat::json);
      slot_versioned_.resize(subtopologies);
      slot_versioned_[static_cast<std::size_t>(subtopology_of_operator_[i])].push_back(
          join != nullptr && join->table_history_ms.has_value());
      int table_index = -1;
      for (std::size_t t = 0; join != nullptr && t < topology.tables.size(); ++t) {
        if (topology.tables[t].name == join->table) table_index = static_cast<int>(t);
      }
      slot_table_.resize(subtopologies);
      slot_table_[static_cast<std::size_t>(subtopology_of_operator_[i])].push_back(table_index);
    }
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
  source_targets_.resize(topology.sources.size());
  auto connect = [&](const std::string& reference, Target target) {
    if (auto it = source_index.find(reference); it != source_index.end()) {
      source_targets_[it->second].push_back(target);
    } else if (auto op = operator_ports.find(reference); op != operator_ports.end()) {
      nodes_[op->second.first]->ports[op->second.second].push_back(target);
    }
    // Unknown references cannot happen: the topology was validated.
  };
  for (std::size_t i = 0; i < topology.operators.size(); ++i) {
    const auto& spec = topology.operators[i];
    // One repartition target (and pipeline source) per repartition topic the operator reads: all its inputs
    // share one, except a stream-stream join's, each of which has its own (or none).
    std::map<std::string, std::size_t> repartition_target;  // topic -> index into repartition_topics_
    for (std::size_t input = 0; input < spec.inputs.size(); ++input) {
      Target target{Target::Kind::node, i, input};
      if (const auto& topic = spec.repartition_of(input)) {
        auto [known, inserted] = repartition_target.try_emplace(*topic, repartition_topics_.size());
        if (inserted) {
          // Inputs write to the repartition topic; a source for that topic feeds the operator in its own task.
          repartition_topics_.push_back(*topic);
          // A join's stream is partitioned like its table: by the key bytes in the table topic's key format, so
          // that Kafka's partitioner puts a stream record where its table row is; a stream-stream join's
          // re-keyed side like its other side. Other keyed operators get JSON keys back exactly as they grouped on.
          topology::KeyFormat key_format = topology::KeyFormat::json;
          if (const auto* join = std::get_if<topology::JoinSpec>(&spec.body)) key_format = join->table_key;
          if (const auto* join = std::get_if<topology::StreamJoinSpec>(&spec.body)) key_format = join->repartition_key;
          repartition_key_formats_.push_back(key_format);
          topology::SourceSpec source;
          source.name = "repartition:" + spec.name;
          source.topic = *topic;
          source.key = key_format;
          source.value = topology::ValueFormat::json;
          source.pointer = spec.pointer;
          repartition_specs_.push_back(std::move(source));
          sources_.push_back(PipelineSource{*topic, subtopology_of_operator_[i], true});
          decoders_.emplace_back(repartition_specs_.back());
          source_targets_.push_back({Target{Target::Kind::node, i, input}});
        }
        target = Target{Target::Kind::repartition, known->second};
      }
      connect(spec.inputs[input], target);
    }
  }
  for (std::size_t i = 0; i < topology.sinks.size(); ++i) {
    encoders_.emplace_back(topology.sinks[i].key, topology.sinks[i].value);
    connect(topology.sinks[i].from, Target{Target::Kind::sink, i});
  }
  // Table topics, after every other source: one pipeline source per table its sub-topology looks up. Their
  // records are never decoded into the graph; update_table writes them into the stores of the joins.
  table_readers_.resize(sources_.size());
  table_of_source_.resize(sources_.size(), nullptr);
  table_index_of_source_.resize(sources_.size(), 0);
  for (const auto& sub : topology.subtopologies) {
    for (const std::size_t table_index : sub.tables) {
      const topology::TableSpec& table = topology.tables[table_index];
      std::vector<std::size_t> readers;
      for (const std::size_t op : sub.operators) {
        const auto* join = std::get_if<topology::JoinSpec>(&topology.operators[op].body);
        if (join != nullptr && join->table == table.name) readers.push_back(op);
      }
      sources_.push_back(PipelineSource{table.topic, sub.id, false, true});
      table_readers_.push_back(std::move(readers));
      topology::SourceSpec spec;
      spec.name = "table:" + table.name;
      spec.topic = table.topic;
      spec.key = table.key;
      spec.value = table.value;
      spec.pointer = table.pointer;
      repartition_specs_.push_back(std::move(spec));
      decoders_.emplace_back(repartition_specs_.back());  // unused for records; keeps decoders_ per source
      source_targets_.emplace_back();
      table_of_source_.push_back(&table);
      table_index_of_source_.push_back(table_index);
    }
  }
  // Decode only what is read: a record of q7 (filter, max of one field) has ten fields and builds two.
  for (std::size_t source = 0; source < source_targets_.size(); ++source) {
    if (table_of_source_[source] != nullptr || source_targets_[source].empty()) continue;
    std::vector<std::string> fields;
    const auto& timestamp = source < topology.sources.size() ? topology.sources[source].timestamp.field
                                                              : std::optional<expr::Expression>();
    if (timestamp && !timestamp->collect_value_fields(fields)) continue;
    if (collect_fields_read(source_targets_[source], fields)) decoders_[source].project(std::move(fields));
  }
}

// Adds the fields the targets' operators read of the value to `fields`, following the value downstream until an
// operator replaces it (select, aggregate, flat_map without `as`). False when the value can reach anything that
// uses it whole: a sink or a repartition topic (which write it), a join (whose output holds it), `$value`.
bool Pipeline::collect_fields_read(const std::vector<Target>& targets, std::vector<std::string>& fields) const {
  for (const Target& target : targets) {
    if (target.kind != Target::Kind::node) return false;
    const topology::OperatorBody& body = topology_.operators[target.index].body;
    const auto reads = [&](const expr::Expression& expression) { return expression.collect_value_fields(fields); };
    const auto reads_all = [&](const std::vector<topology::FieldAssignment>& assignments) {
      return std::all_of(assignments.begin(), assignments.end(),
                         [&](const topology::FieldAssignment& field) { return reads(field.expression); });
    };
    bool passes_on = true;  // the operator's outputs carry the value (possibly changed, as by map)
    if (const auto* filter = std::get_if<topology::FilterSpec>(&body)) {
      if (!reads(filter->predicate)) return false;
    } else if (const auto* map = std::get_if<topology::MapSpec>(&body)) {
      if (!reads_all(map->fields)) return false;
    } else if (const auto* select = std::get_if<topology::SelectSpec>(&body)) {
      if (!reads_all(select->fields)) return false;
      passes_on = false;
    } else if (const auto* flat_map = std::get_if<topology::FlatMapSpec>(&body)) {
      if (!reads(flat_map->elements)) return false;
      passes_on = flat_map->as.has_value();
    } else if (const auto* rekey = std::get_if<topology::RekeySpec>(&body)) {
      if (!reads(rekey->key)) return false;
    } else if (const auto* route = std::get_if<topology::RouteSpec>(&body)) {
      for (const auto& branch : route->branches) {
        if (!reads(branch.when)) return false;
      }
    } else if (const auto* aggregate = std::get_if<topology::AggregateSpec>(&body)) {
      for (const auto& aggregation : aggregate->aggregations) {
        if (aggregation.argument && !reads(*aggregation.argument)) return false;
      }
      passes_on = false;
    } else if (!std::holds_alternative<topology::MergeSpec>(body) &&
               !std::holds_alternative<topology::DedupeSpec>(body)) {
      return false;  // joins, and whatever is added later until it is described here
    }
    if (!passes_on) continue;
    for (const auto& port : nodes_[target.index]->ports) {
      if (!collect_fields_read(port, fields)) return false;
    }
  }
  return true;
}

Pipeline::~Pipeline() = default;

std::optional<std::size_t> Pipeline::source_for_topic(std::string_view topic) const {
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    if (sources_[i].topic == topic) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> Pipeline::global_table_for_topic(std::string_view topic) const {
  for (const std::size_t table : global_tables_) {
    if (topology_.tables[table].topic == topic) return table;
  }
  return std::nullopt;
}

std::vector<std::string> Pipeline::source_topics() const {
  std::vector<std::string> topics;
  for (const auto& source : sources_) topics.push_back(source.topic);
  return topics;
}

std::optional<std::int64_t> Pipeline::idle_timeout_ms(int subtopology, std::int64_t default_ms) const {
  std::optional<std::int64_t> smallest;
  for (std::size_t i = 0; i < topology_.operators.size(); ++i) {
    if (subtopology_of_operator_[i] != subtopology) continue;
    // A stream-stream join closes windows too (its unmatched results, its expiry), on the default timeout.
    const bool stream_join = std::holds_alternative<topology::StreamJoinSpec>(topology_.operators[i].body);
    const auto* aggregate = std::get_if<topology::AggregateSpec>(&topology_.operators[i].body);
    if (!stream_join && (aggregate == nullptr || !aggregate->window)) continue;
    std::int64_t timeout = stream_join ? default_ms : aggregate->idle_timeout_ms.value_or(default_ms);
    if (timeout > 0 && (!smallest || timeout < *smallest)) smallest = timeout;
  }
  return smallest;
}

void Pipeline::init_task(TaskState& task) const {
  task.operator_memory.clear();
  task.operator_memory.resize(nodes_.size());
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (store_slot_[i] >= 0 && subtopology_of_operator_[i] == task.id.subtopology) {
      task.operator_memory[i] = nodes_[i]->op->create_task_state();
    }
  }
  // A table-backed store resumes from the table offset it reflects.
  task.table_offsets.assign(task.stores ? task.stores->size() : 0, -1);
  if (task.stores) {
    const auto& backed = table_backed_.at(static_cast<std::size_t>(task.id.subtopology));
    for (std::size_t slot = 0; slot < backed.size() && slot < task.stores->size(); ++slot) {
      if (backed[slot]) task.table_offsets[slot] = task.stores->changelog_offset(slot);
    }
  }
  // Resume stream time from what the stores reflect, so windows keep closing where they left off.
  if (task.stores) {
    task.observed_stream_time_ms = std::max(task.observed_stream_time_ms, task.stores->stream_time_ms());
    task.time.stream_time_ms = std::max(task.time.stream_time_ms, task.observed_stream_time_ms);
  }
}

void Pipeline::dead_letter(std::string_view operator_name, const core::RecordError& error, Frame& frame) const {
  auto& headers = frame.state.dead_letter_headers;
  const core::Origin& origin = frame.origin;
  headers.clear();
  // The input's own headers first (a replayed record keeps its trace ids and content types), except those
  // sluice sets below: a dead letter replayed and dead-lettered again says once why, this time.
  if (frame.input_headers != nullptr) {
    constexpr std::array<std::string_view, 8> ours = {
        dead_letter_header::error_kind,       dead_letter_header::error_message,    dead_letter_header::operator_name,
        dead_letter_header::source_topic,     dead_letter_header::source_partition, dead_letter_header::source_offset,
        dead_letter_header::source_timestamp, dead_letter_header::application_id};
    for (const core::Header& header : *frame.input_headers) {
      if (std::find(ours.begin(), ours.end(), header.name) == ours.end()) headers.push_back(header);
    }
  }
  headers.push_back({std::string(dead_letter_header::error_kind), std::string(core::to_string(error.kind))});
  headers.push_back({std::string(dead_letter_header::error_message), error.message});
  headers.push_back({std::string(dead_letter_header::operator_name), std::string(operator_name)});
  headers.push_back({std::string(dead_letter_header::source_topic), std::string(origin.topic)});
  headers.push_back({std::string(dead_letter_header::source_partition), to_text(origin.partition)});
  headers.push_back({std::string(dead_letter_header::source_offset), to_text(origin.offset)});
  headers.push_back({std::string(dead_letter_header::source_timestamp), to_text(frame.input_timestamp)});
  headers.push_back({std::string(dead_letter_header::application_id), topology_.application_id});
  OutputRecord record;
  record.topic = topology_.dead_letter_topic;
  // The original bytes, untouched, so the record can be inspected and replayed.
  if (origin.has_key) record.key = origin.raw_key;
  if (origin.has_value) record.value = origin.raw_value;
  // Kept as it was; a dead-letter topic sluice creates replaces it with the time of writing (LogAppendTime), so
  // that retention does not delete an old record's dead letter at once (the header keeps it).
  record.timestamp_ms = frame.input_timestamp;
  record.headers = &headers;
  frame.out.on_dead_letter(operator_name, error.kind);
  frame.out.send(OutputCollector::dead_letter, record);
  ++frame.summary.dead_letters;
}

ops::ProcessContext Pipeline::context_for(std::size_t node_index, Frame& frame, ops::Emitter& emitter) const {
  ops::ProcessContext context{frame.state.eval, emitter};
  context.parser = &frame.state.parser;
  if (store_slot_[node_index] >= 0 && frame.task.stores) {
    context.store = &frame.task.stores->store(static_cast<std::size_t>(store_slot_[node_index]));
    context.task_state = frame.task.operator_memory.empty() ? nullptr : frame.task.operator_memory[node_index].get();
    context.time = &frame.task.time;
    context.commit_soon = &frame.task.commit_soon;
  }
  if (const int table = global_table_of_operator_[node_index]; table >= 0) {
    const auto index = static_cast<std::size_t>(table);
    if (index >= frame.state.global_tables.size() || frame.state.global_tables[index] == nullptr) {
      throw std::logic_error("join '" + topology_.operators[node_index].name + "' runs before global table '" +
                             topology_.tables[index].name + "' is loaded");
    }
    context.global_table = frame.state.global_tables[index];
  }
  if (node_index < frame.state.join_observers.size()) context.join_observer = frame.state.join_observers[node_index];
  if (node_index < frame.state.stream_join_observers.size()) {
    context.stream_join_observer = frame.state.stream_join_observers[node_index];
  }
  return context;
}

void Pipeline::forward(const std::vector<Target>& targets, core::Record&& record, Frame& frame) const {
  for (std::size_t t = 0; t < targets.size(); ++t) {
    const bool last = t + 1 == targets.size();
    core::Record copy;
    if (!last) copy = record;
    core::Record& current = last ? record : copy;
    const Target& target = targets[t];
    switch (target.kind) {
      case Target::Kind::sink: {
        const auto& sink = topology_.sinks[target.index];
        auto encoded = encoders_[target.index].encode(current, frame.state.key_buffer, frame.state.value_buffer);
        if (!encoded.ok()) {
          dead_letter("sink:" + sink.name, encoded.error(), frame);
          continue;
        }
        OutputRecord output{sink.topic, encoded.value().key, encoded.value().value, current.timestamp_ms,
                            &current.headers};
        frame.out.send(target.index, output);
        ++frame.summary.outputs;
        continue;
      }
      case Target::Kind::repartition: {
        // JSON for both key and value, so the keyed sub-topology gets back exactly the Values it grouped on;
        // the producer partitions by the key bytes (murmur2), which is what puts equal keys in one task.
        frame.state.key_buffer.clear();
        frame.state.value_buffer.clear();
        std::optional<std::string_view> key;
        if (!current.key.is_null() || repartition_key_formats_[target.index] == topology::KeyFormat::json) {
          if (core::Status status = ops::encode_key(current.key, repartition_key_formats_[target.index],
                                                    frame.state.key_buffer);
              !status.ok()) {
            dead_letter("repartition:" + repartition_topics_[target.index], status.error(), frame);
            continue;
          }
          key = frame.state.key_buffer;
        }
        core::append_json(current.value, frame.state.value_buffer);
        OutputRecord output{repartition_topics_[target.index], key, std::string_view(frame.state.value_buffer),
                            current.timestamp_ms, &current.headers};
        frame.out.send(OutputCollector::repartition, output);
        continue;
      }
      case Target::Kind::node: {
        const Node& node = *nodes_[target.index];
        Dispatch dispatch(*this, node, frame);
        ops::ProcessContext context = context_for(target.index, frame, dispatch);
        context.input = target.input;
        auto result = node.op->process(std::move(current), context);
        if (!result.ok()) {
          dead_letter(node.op->name(), result.error(), frame);
        } else if (result.value() == ops::Disposition::discarded) {
          frame.out.on_discarded(node.op->name());
        }
        continue;
      }
    }
  }
}

ProcessSummary Pipeline::process(std::size_t source_index, const core::Origin& origin, std::int64_t record_timestamp_ms,
                                 std::vector<core::Header> headers, PipelineState& state, TaskState& task,
                                 OutputCollector& out) const {
  ProcessSummary summary;
  Frame frame{origin, record_timestamp_ms, state, task, out, summary, &headers};
  if (table_of_source_[source_index] != nullptr) {
    update_table(source_index, frame);
    return summary;
  }
  state.eval.set_origin(&origin);
  // The record gets a copy (most inputs have no headers); the originals stay for a dead letter.
  auto decoded = decoders_[source_index].decode(origin, record_timestamp_ms, headers, state.parser, state.eval);
  if (!decoded.ok()) {
    std::string name = source_index < topology_.sources.size() ? "source:" + topology_.sources[source_index].name
                                                               : repartition_specs_[source_index - topology_.sources.size()].name;
    dead_letter(name, decoded.error(), frame);
  } else {
    // Stream time includes the record being processed (as in Kafka Streams): it is the largest event time seen.
    std::int64_t event_time = decoded.value().timestamp_ms;
    task.observed_stream_time_ms = std::max(task.observed_stream_time_ms, event_time);
    task.time.stream_time_ms = std::max(task.time.stream_time_ms, event_time);
    forward(source_targets_[source_index], std::move(decoded).value(), frame);
  }
  state.eval.set_origin(nullptr);
  return summary;
}

bool Pipeline::table_row_storable(int subtopology, std::size_t slot, bool has_key,
                                  std::optional<std::string_view> value, core::JsonParser& parser) const {
  if (!has_key) return false;
  if (!value || slot_table_values_.at(static_cast<std::size_t>(subtopology)).at(slot) != topology::ValueFormat::json) {
    return true;
  }
  return parser.parse(*value).ok();
}

std::pair<std::string, std::optional<std::string>> Pipeline::table_store_entry(int subtopology, std::size_t slot,
                                                                                 std::string_view key,
                                                                                 std::optional<std::string_view> value,
                                                                                 std::int64_t timestamp_ms) const {
  if (slot_versioned_.at(static_cast<std::size_t>(subtopology)).at(slot)) {
    // Every version the topic still holds; what the history no longer needs goes at the key's next update.
    return {std::string(1, static_cast<char>(ops::kTableVersionFamily)) + ops::table_version_key(key, timestamp_ms),
            ops::table_version_value(value)};
  }
  std::optional<std::string> row;
  if (value) row.emplace(*value);
  return {std::string(1, '\0') + std::string(key), std::move(row)};
}

void Pipeline::update_table(std::size_t source_index, Frame& frame) const {
  const topology::TableSpec& table = *table_of_source_[source_index];
  const core::Origin& origin = frame.origin;
  // The dead-letter operator name is built only for a bad row, not for every table record.
  const auto where = [&table] { return "table:" + table.name; };
  if (!origin.has_key) {
    dead_letter(where(), core::RecordError{core::RecordErrorKind::missing_field, "a table row needs a key; this one has none"},
                frame);
    return;
  }
  // A row that could never be read by a join is refused now, where it can be named, and the key keeps the
  // row it had.
  if (origin.has_value && table.value == topology::ValueFormat::json) {
    auto parsed = frame.state.parser.parse(origin.raw_value);
    if (!parsed.ok()) {
      dead_letter(where(), core::RecordError{core::RecordErrorKind::deserialization, "value: " + parsed.error().message},
                  frame);
      return;
    }
  }
  TaskState& task = frame.task;
  if (!task.stores) throw std::logic_error("table record for a task without stores");
  // Table rows count for stream time like any input of the task (as in Kafka Streams).
  task.observed_stream_time_ms = std::max(task.observed_stream_time_ms, frame.input_timestamp);
  task.time.stream_time_ms = std::max(task.time.stream_time_ms, frame.input_timestamp);
  const auto value = origin.has_value ? std::optional<std::string_view>(origin.raw_value) : std::nullopt;
  for (const std::size_t op : table_readers_[source_index]) {
    const auto slot = static_cast<std::size_t>(store_slot_[op]);
    state::Store& store = task.stores->store(slot);
    if (table.history_ms) {
      const std::int64_t stream_time = task.time.stream_time_ms;
      ops::put_table_version(store, origin.raw_key, value, frame.input_timestamp,
                             stream_time == INT64_MIN ? INT64_MIN : stream_time - *table.history_ms);
    } else if (value) {
      store.put(0, origin.raw_key, *value);
    } else {
      store.remove(0, origin.raw_key);  // a tombstone deletes the row
    }
    task.table_offsets.at(slot) = origin.offset;
  }
  if (const std::size_t table_index = table_index_of_source_[source_index];
      table_index < frame.state.table_counters.size()) {
    const TableCounters& counters = frame.state.table_counters[table_index];
    prometheus::Counter* counter = origin.has_value ? counters.updates : counters.deletes;
    if (counter != nullptr) counter->Increment();
  }
}

ProcessSummary Pipeline::process(std::size_t source_index, const core::Origin& origin, std::int64_t record_timestamp_ms,
                                 std::vector<core::Header> headers, PipelineState& state, OutputCollector& out) const {
  TaskState scratch;
  scratch.id = TaskId{sources_[source_index].subtopology, origin.partition};
  return process(source_index, origin, record_timestamp_ms, std::move(headers), state, scratch, out);
}

template <typename Hook>
void Pipeline::run_hooks(PipelineState& state, TaskState& task, OutputCollector& out, Hook hook) const {
  if (!task.stores) return;
  // Records emitted by time or commit have no input record: dead letters of theirs name the task instead.
  std::string topic = "task:" + task.id.name();
  core::Origin origin;
  origin.topic = topic;
  origin.partition = task.id.partition;
  ProcessSummary summary;
  Frame frame{origin, task.time.stream_time_ms, state, task, out, summary, nullptr};
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (store_slot_[i] < 0 || subtopology_of_operator_[i] != task.id.subtopology) continue;
    Dispatch dispatch(*this, *nodes_[i], frame);
    ops::ProcessContext context = context_for(i, frame, dispatch);
    hook(*nodes_[i]->op, context);
  }
}

void Pipeline::on_time(std::int64_t wall_ms, std::int64_t default_idle_timeout_ms, PipelineState& state, TaskState& task,
                       OutputCollector& out) const {
  task.time.wall_ms = wall_ms;
  if (auto idle_timeout = idle_timeout_ms(task.id.subtopology, default_idle_timeout_ms);
      idle_timeout && task.observed_stream_time_ms != INT64_MIN) {
    std::int64_t idle_for = wall_ms - task.last_input_wall_ms;
    // Once idle for the timeout, event time is assumed to keep pace with the wall clock.
    if (idle_for >= *idle_timeout) {
      task.time.stream_time_ms = std::max(task.time.stream_time_ms, task.observed_stream_time_ms + idle_for);
    }
  }
  run_hooks(state, task, out, [](const ops::Operator& op, ops::ProcessContext& context) { op.on_time(context); });
}

void Pipeline::on_commit(PipelineState& state, TaskState& task, OutputCollector& out) const {
  run_hooks(state, task, out, [](const ops::Operator& op, ops::ProcessContext& context) { op.on_commit(context); });
}

}  // namespace sluice::runtime
