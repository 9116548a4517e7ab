// `sluice describe`: one graph model of the topology (nodes, edges, sub-topologies, state stores, internal
// topics) rendered four ways.
//
// Sub-topologies, repartition and changelog topics come from the Topology (parse_topology computes them, see
// plan.hpp); for a Topology built by hand without them, describe computes them the same way, so that what it
// shows is always what would run.
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "plan.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/printable.hpp"
#include "sluice/topology/describe.hpp"

namespace sluice::topology {
namespace {

enum class NodeKind { source, processor, sink, table };

struct Node {
  NodeKind kind = NodeKind::processor;
  std::string id;    // safe identifier for dot and mermaid: source_0, processor_2, sink_1
  std::string name;  // as written in the topology
  std::string type;  // "source", "filter", ..., "sink"
  std::vector<std::string> inputs;  // references as written
  std::string detail;               // expression text, field list or topic
  std::size_t subtopology = 0;
  const OperatorSpec* op = nullptr;           // processors only
  std::optional<std::string> changelog_topic;  // the store's changelog, for operators that have one
  const TableSpec* table = nullptr;            // tables only
  bool global = false;  // a global table: in no sub-topology (every instance reads it whole)
};


struct Edge {
  std::size_t from = 0;  // node indices
  std::size_t to = 0;
  std::string branch;                      // the route output this edge carries, "" otherwise
  std::optional<std::string> repartition;  // the repartition topic records cross on this edge
  bool lookup = false;                     // a table looked up by a join (no records flow along it)
  std::string join_side;                   // into a stream-stream join: the name of the side it feeds
};

struct Graph {
  std::vector<Node> nodes;  // sources, then operators in processing order, then sinks, then tables
  std::vector<Edge> edges;  // in the order of the consuming node's inputs
  std::vector<Subtopology> subtopologies;
  std::vector<InternalTopic> internal_topics;
  std::vector<std::vector<std::size_t>> predecessors;  // edge indices into each node
  std::vector<std::vector<std::size_t>> successors;    // edge indices out of each node
};

std::string join_strings(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.append(separator);
    out.append(items[i]);
  }
  return out;
}

std::string duration_text(std::int64_t ms) { return ms == 0 ? "0s" : core::format_duration_ms(ms); }

// ", history 1h" for a versioned table.
std::string history_text(const Node& node) {
  return node.table != nullptr && node.table->history_ms ? ", history " + duration_text(*node.table->history_ms) : "";
}

std::string assignments(const std::vector<FieldAssignment>& fields, bool shorten_field_paths) {
  std::vector<std::string> parts;
  for (const auto& field : fields) {
    // select ["customer.id"] reads better as written than as "id = customer.id".
    if (shorten_field_paths && field.expression.is_field_path() && field.expression.field_path_leaf() == field.name) {
      parts.push_back(field.expression.text());
    } else {
      parts.push_back(field.name + " = " + field.expression.text());
    }
  }
  return join_strings(parts, ", ");
}

std::string window_text(const WindowSpec& window) {
  const std::string grace = ", grace " + duration_text(window.grace_ms);
  switch (window.type) {
    case WindowType::tumbling: return "tumbling window " + duration_text(window.size_ms) + grace;
    case WindowType::hopping:
      return "hopping window " + duration_text(window.size_ms) + " advancing by " + duration_text(window.advance_ms) +
             grace;
    case WindowType::sliding: return "sliding window " + duration_text(window.size_ms) + grace;
    case WindowType::session: return "session window with gap " + duration_text(window.gap_ms) + grace;
  }
  return {};
}

std::string operator_detail(const OperatorSpec& op) {
  struct Detail {
    const OperatorSpec& op;
    std::string operator()(const FilterSpec& spec) const { return spec.predicate.text(); }
    std::string operator()(const MapSpec& spec) const {
      std::string text = assignments(spec.fields, false);
      if (!spec.drop.empty()) text += (text.empty() ? "drop " : "; drop ") + join_strings(spec.drop, ", ");
      return text;
    }
    std::string operator()(const SelectSpec& spec) const { return assignments(spec.fields, true); }
    std::string operator()(const FlatMapSpec& spec) const {
      return spec.elements.text() + (spec.as ? " as " + *spec.as : "");
    }
    std::string operator()(const RekeySpec& spec) const { return spec.key.text(); }
    std::string operator()(const RouteSpec& spec) const {
      std::vector<std::string> parts;
      for (const auto& branch : spec.branches) parts.push_back(branch.name + ": " + branch.when.text());
      if (spec.default_branch) parts.push_back("default: " + *spec.default_branch);
      return join_strings(parts, "; ");
    }
    std::string operator()(const MergeSpec&) const { return join_strings(op.inputs, ", "); }
    std::string operator()(const AggregateSpec& spec) const {
      std::vector<std::string> aggregations;
      for (const auto& aggregation : spec.aggregations) {
        aggregations.push_back(aggregation.name + " = " + aggregation.text);
      }
      std::vector<std::string> parts{join_strings(aggregations, ", ")};
      parts.push_back(spec.window ? window_text(*spec.window) : "table (no window)");
      parts.push_back("emit " + std::string(to_string(spec.emit)));
      if (spec.idle_timeout_ms) parts.push_back("idle timeout " + duration_text(*spec.idle_timeout_ms));
      return join_strings(parts, "; ");
    }
    std::string operator()(const DedupeSpec& spec) const { return "within " + duration_text(spec.within_ms); }
    std::string operator()(const JoinSpec& spec) const {
      std::string text = std::string(to_string(spec.type)) + " join with " +
                         (spec.global_table ? "global table " : "table ") + spec.table +
                         (spec.table_history_ms ? " as of the stream record's time" : "") + ", stream as " +
                         spec.stream_name;
      if (spec.global_table) text += "; lookup " + (spec.lookup ? spec.lookup->text() : std::string("key"));
      text += "; select " + (spec.fields.empty() ? "{" + spec.stream_name + ", " + spec.table + "}"
                                                 : assignments(spec.fields, false));
      if (spec.max_task_idle_ms) text += "; max task idle " + duration_text(*spec.max_task_idle_ms);
      return text;
    }
    std::string operator()(const StreamJoinSpec& spec) const {
      const std::string stream = op.inputs.size() > 1 ? op.inputs[1] : spec.other_name;
      std::string text = std::string(to_string(spec.type)) + " join with stream " + stream + " within " +
                         duration_text(spec.before_ms) + " before and " + duration_text(spec.after_ms) +
                         " after, grace " + duration_text(spec.grace_ms) + "; sides " + spec.this_name + " (from), " +
                         spec.other_name + " (stream)";
      text += "; select " + (spec.fields.empty() ? "{" + spec.this_name + ", " + spec.other_name + "}"
                                                 : assignments(spec.fields, false));
      if (spec.max_task_idle_ms) text += "; max task idle " + duration_text(*spec.max_task_idle_ms);
      return text;
    }
  };
  return std::visit(Detail{op}, op.body);
}

Graph build_graph(const Topology& topology) {
  Graph graph;
  // A parsed Topology always has a sub-topology (it has a source); one built by hand may have none yet.
  if (topology.subtopologies.empty()) {
    graph.subtopologies = detail::split_subtopologies(topology);
    graph.internal_topics = detail::list_internal_topics(topology, graph.subtopologies);
  } else {
    graph.subtopologies = topology.subtopologies;
    graph.internal_topics = topology.internal_topics;
  }

  for (std::size_t i = 0; i < topology.sources.size(); ++i) {
    const SourceSpec& source = topology.sources[i];
    graph.nodes.push_back(Node{NodeKind::source, "source_" + std::to_string(i), source.name, "source", {},
                               source.topic, 0, nullptr, std::nullopt});
  }
  for (std::size_t i = 0; i < topology.operators.size(); ++i) {
    const OperatorSpec& op = topology.operators[i];
    graph.nodes.push_back(Node{NodeKind::processor, "processor_" + std::to_string(i), op.name,
                               std::string(op.type_name()), op.inputs, operator_detail(op), 0, &op,
                               op.changelog_topic});
  }
  for (std::size_t i = 0; i < topology.sinks.size(); ++i) {
    const SinkSpec& sink = topology.sinks[i];
    graph.nodes.push_back(
        Node{NodeKind::sink, "sink_" + std::to_string(i), sink.name, "sink", {sink.from}, sink.topic, 0, nullptr,
             std::nullopt});
  }
  const detail::NodeGraph node_graph = detail::build_node_graph(topology);
  for (const Subtopology& sub : graph.subtopologies) {
    const auto id = static_cast<std::size_t>(sub.id);
    for (const std::size_t source : sub.sources) graph.nodes[source].subtopology = id;
    for (const std::size_t op : sub.operators) graph.nodes[node_graph.operator_node(op)].subtopology = id;
    for (const std::size_t sink : sub.sinks) graph.nodes[node_graph.sink_node(sink)].subtopology = id;
  }

  const std::size_t first_table = graph.nodes.size();
  for (std::size_t i = 0; i < topology.tables.size(); ++i) {
    const TableSpec& table = topology.tables[i];
    graph.nodes.push_back(
        Node{NodeKind::table, "table_" + std::to_string(i), table.name, "table", {}, table.topic, 0, nullptr,
             std::nullopt, &table, table.global});
  }
  for (const Subtopology& sub : graph.subtopologies) {
    for (const std::size_t table : sub.tables) graph.nodes[first_table + table].subtopology = static_cast<std::size_t>(sub.id);
  }

  graph.predecessors.resize(graph.nodes.size());
  graph.successors.resize(graph.nodes.size());
  const auto add_edge = [&](Edge edge) {
    graph.successors[edge.from].push_back(graph.edges.size());
    graph.predecessors[edge.to].push_back(graph.edges.size());
    graph.edges.push_back(std::move(edge));
  };
  for (const detail::NodeEdge& edge : node_graph.edges) {
    Edge drawn{edge.from, edge.to, edge.branch, edge.repartition, false, ""};
    if (graph.nodes[edge.to].op != nullptr) {
      if (const auto* join = std::get_if<StreamJoinSpec>(&graph.nodes[edge.to].op->body)) {
        drawn.join_side = edge.input == 0 ? join->this_name : join->other_name;
      }
    }
    add_edge(std::move(drawn));
  }
  for (std::size_t i = 0; i < topology.operators.size(); ++i) {
    const auto* join = std::get_if<JoinSpec>(&topology.operators[i].body);
    if (join == nullptr) continue;
    for (std::size_t t = 0; t < topology.tables.size(); ++t) {
      if (topology.tables[t].name == join->table) {
        add_edge(Edge{first_table + t, node_graph.operator_node(i), "", std::nullopt, true, ""});
      }
    }
  }
  return graph;
}

// Names, expressions and topics in the text forms (text, dot, mermaid) are escaped like every other message
// (core::printable: control and bidi characters, invalid UTF-8) and cut at this length, so that a raw '\n' in
// a label can only be a line break that describe itself put there.
constexpr std::size_t kShownValueMaxBytes = 4096;

std::string shown(std::string_view text) { return core::printable(text, kShownValueMaxBytes); }

void show_all(std::vector<std::string>& texts) {
  for (auto& text : texts) text = shown(text);
}

// The graph with every text from the topology file escaped. Lookups between its parts (internal topic names
// and the edges or stores that refer to them) still match: each is escaped the same way.
Graph printable_graph(Graph graph) {
  for (Node& node : graph.nodes) {
    node.name = shown(node.name);
    node.detail = shown(node.detail);
    show_all(node.inputs);
    if (node.changelog_topic) node.changelog_topic = shown(*node.changelog_topic);
  }
  for (Edge& edge : graph.edges) {
    edge.branch = shown(edge.branch);
    edge.join_side = shown(edge.join_side);
    if (edge.repartition) edge.repartition = shown(*edge.repartition);
  }
  for (Subtopology& sub : graph.subtopologies) show_all(sub.source_topics);
  for (InternalTopic& topic : graph.internal_topics) {
    topic.name = shown(topic.name);
    topic.operator_name = shown(topic.operator_name);
    show_all(topic.partitions_of);
    std::map<std::string, std::string> configs;
    for (const auto& [key, value] : topic.configs) configs.emplace(shown(key), shown(value));
    topic.configs = std::move(configs);
  }
  return graph;
}

std::vector<std::string> unique_in_order(std::vector<std::string> items) {
  std::vector<std::string> unique;
  for (auto& item : items) {
    if (std::find(unique.begin(), unique.end(), item) == unique.end()) unique.push_back(std::move(item));
  }
  return unique;
}

std::vector<std::string> output_topics(const Topology& topology) {
  std::vector<std::string> topics;
  for (const SinkSpec& sink : topology.sinks) topics.push_back(sink.topic);
  topics.push_back(topology.dead_letter_topic);
  return unique_in_order(std::move(topics));
}

// Partition counts are decided at start-up, from the topics' actual counts; describe says which.
std::string partitions_text(const InternalTopic& topic) {
  if (topic.partitions_of.empty()) return "decided at start-up";
  if (topic.partitions_of.size() == 1) return "= partitions of " + topic.partitions_of.front();
  return "= max partitions of " + join_strings(topic.partitions_of, ", ");
}

std::string configs_text(const InternalTopic& topic, std::string_view separator) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : topic.configs) parts.push_back(key + "=" + value);
  return join_strings(parts, separator);
}

std::string subtopology_title(const Subtopology& sub) {
  return "Sub-topology " + std::to_string(sub.id) + " (source topics: " + join_strings(sub.source_topics, ", ") + ")";
}

// ---- text ----

// The index of a source or sink node in the topology's sources or sinks (node ids are "source_<i>", "sink_<i>").
std::size_t spec_index(const Node& node) { return std::stoul(node.id.substr(node.id.rfind('_') + 1)); }

// How a source or sink with a registry format gets its schema, for describe; empty for the other formats.
std::string schema_note(const Topology& topology, const Node& node) {
  if (node.kind == NodeKind::source) {
    const SourceSpec& source = topology.sources[spec_index(node)];
    if (!registry_format(source.value)) return {};
    return std::string(", value: ") + std::string(to_string(source.value)) +
           ", each record's writer schema by its id from the schema registry";
  }
  if (node.kind != NodeKind::sink) return {};
  const SinkSpec& sink = topology.sinks[spec_index(node)];
  if (!registry_format(sink.value) || !sink.value_schema) return {};
  const SinkSchemaSpec& schema = *sink.value_schema;
  std::string note = std::string(", value: ") + std::string(to_string(sink.value)) + ", schema: ";
  if (schema.subject) {
    note += "subject " + shown(*schema.subject) + " version " + schema.version;
  } else {
    note += (schema.file ? "file " + shown(*schema.file) : std::string("inline")) + ", registered under " +
            (schema.naming == SinkSchemaSpec::Naming::topic
                 ? shown(sink.topic + "-value")
                 : std::string(sink.value == ValueFormat::protobuf ? "the message's" : "the record's") + " full name");
  }
  if (schema.message) note += ", message " + shown(*schema.message);
  return note;
}

nlohmann::json schema_json(const Topology& topology, const Node& node) {
  nlohmann::json json = nlohmann::json::object();
  if (node.kind == NodeKind::source) {
    const SourceSpec& source = topology.sources[spec_index(node)];
    json["key"] = to_string(source.key);
    json["value"] = to_string(source.value);
  } else if (node.kind == NodeKind::sink) {
    const SinkSpec& sink = topology.sinks[spec_index(node)];
    json["key"] = to_string(sink.key);
    json["value"] = to_string(sink.value);
    if (sink.value_schema) {
      const SinkSchemaSpec& schema = *sink.value_schema;
      nlohmann::json spec = nlohmann::json::object();
      if (schema.text) spec["schema"] = *schema.text;
      if (schema.file) spec["file"] = *schema.file;
      if (schema.subject) {
        spec["subject"] = *schema.subject;
        spec["version"] = schema.version;
      } else {
        spec["subject_naming"] = schema.naming == SinkSchemaSpec::Naming::topic ? "topic" : "record";
      }
      if (schema.message) spec["message"] = *schema.message;
      json["value_schema"] = std::move(spec);
    }
  }
  return json;
}

std::string describe_text(const Topology& topology, const Graph& graph) {
  std::ostringstream out;
  out << "Topology: " << shown(topology.application_id) << '\n';
  for (const Subtopology& sub : graph.subtopologies) {
    out << subtopology_title(sub) << '\n';
    for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
      const Node& node = graph.nodes[n];
      if (node.subtopology != static_cast<std::size_t>(sub.id) || node.global) continue;
      switch (node.kind) {
        case NodeKind::source:
          out << "  Source: " << node.name << " (topic: " << node.detail << schema_note(topology, node) << ")\n";
          break;
        case NodeKind::processor:
          out << "  Processor: " << node.name << " (" << node.type << ": " << node.detail << ")\n";
          if (node.changelog_topic) {
            out << "    store: " << node.name << " (changelog topic: " << *node.changelog_topic << ")\n";
          }
          break;
        case NodeKind::sink:
          out << "  Sink: " << node.name << " (topic: " << node.detail << schema_note(topology, node) << ")\n";
          break;
        case NodeKind::table:
          out << "  Table: " << node.name << " (topic: " << node.detail << history_text(node) << ")\n";
          break;
      }
      for (const std::size_t e : graph.successors[n]) {
        const Edge& edge = graph.edges[e];
        out << "    --> " << graph.nodes[edge.to].name;
        if (edge.lookup) out << " (looked up)";
        if (!edge.branch.empty()) out << " (via " << edge.branch << ")";
        if (!edge.join_side.empty()) out << " (joined as " << edge.join_side << ")";
        if (edge.repartition) out << " (through repartition topic " << *edge.repartition << ")";
        out << '\n';
      }
      for (const std::size_t e : graph.predecessors[n]) {
        const Edge& edge = graph.edges[e];
        out << "    <-- " << graph.nodes[edge.from].name;
        if (edge.lookup) out << " (table looked up)";
        if (!edge.join_side.empty()) out << " (joined as " << edge.join_side << ")";
        if (edge.repartition) out << " (through repartition topic " << *edge.repartition << ")";
        out << '\n';
      }
    }
  }
  bool globals_listed = false;
  for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    if (!node.global) continue;
    if (!globals_listed) out << "Global tables (every instance reads all partitions before processing):\n";
    globals_listed = true;
    out << "  Table: " << node.name << " (topic: " << node.detail << ", global)\n";
    for (const std::size_t e : graph.successors[n]) out << "    --> " << graph.nodes[graph.edges[e].to].name << " (looked up)\n";
  }
  bool stores_listed = false;
  for (const Node& node : graph.nodes) {
    if (!node.changelog_topic) continue;
    if (!stores_listed) out << "State stores:\n";
    stores_listed = true;
    out << "  " << node.name << ": operator " << node.name << ", sub-topology " << node.subtopology
        << ", changelog topic " << *node.changelog_topic
        << (std::holds_alternative<JoinSpec>(node.op->body) ? " (the table's own topic)" : "") << '\n';
  }
  if (!graph.internal_topics.empty()) out << "Internal topics:\n";
  for (const InternalTopic& topic : graph.internal_topics) {
    out << "  " << topic.name << " (" << to_string(topic.kind) << " topic of " << topic.operator_name
        << ", sub-topology " << topic.subtopology << ")\n";
    out << "    partitions " << partitions_text(topic) << '\n';
    out << "    configs: " << configs_text(topic, "; ") << '\n';
  }
  out << "Dead-letter topic: " << shown(topology.dead_letter_topic) << '\n';
  return out.str();
}

// ---- dot ----

std::string dot_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::string node_label(const Node& node, std::string_view line_break) {
  switch (node.kind) {
    case NodeKind::source:
    case NodeKind::sink: return node.name + std::string(line_break) + "topic: " + node.detail;
    case NodeKind::table:
      return node.name + std::string(line_break) + (node.global ? "global table, topic: " : "table, topic: ") +
             node.detail + history_text(node);
    case NodeKind::processor: break;
  }
  std::string label = node.name + std::string(line_break) + node.type + ": " + node.detail;
  if (node.changelog_topic) label += std::string(line_break) + "store: " + node.name;
  return label;
}

std::string internal_topic_label(const InternalTopic& topic, std::string_view line_break) {
  return topic.name + std::string(line_break) + std::string(to_string(topic.kind)) + " topic" +
         std::string(line_break) + "partitions " + partitions_text(topic) + std::string(line_break) +
         configs_text(topic, line_break);
}

// The internal topics as nodes between the sub-topologies: "internal_<index into internal_topics>".
std::map<std::string, std::string, std::less<>> internal_topic_ids(const Graph& graph) {
  std::map<std::string, std::string, std::less<>> ids;
  for (std::size_t i = 0; i < graph.internal_topics.size(); ++i) {
    ids.emplace(graph.internal_topics[i].name, "internal_" + std::to_string(i));
  }
  return ids;
}

// Edges as drawn: through a repartition topic, an edge becomes producer -> topic, and the topic -> its reader
// once; a store's operator writes its changelog topic.
struct DrawnEdge {
  std::string from;
  std::string to;
  std::string label;
  bool changelog = false;
};

std::vector<DrawnEdge> drawn_edges(const Graph& graph) {
  const auto ids = internal_topic_ids(graph);
  const auto id_of = [&](const std::string& topic) {
    const auto found = ids.find(topic);
    return found == ids.end() ? std::string() : found->second;
  };
  std::vector<DrawnEdge> edges;
  std::vector<std::string> repartition_readers;
  for (const Edge& edge : graph.edges) {
    const std::string& from = graph.nodes[edge.from].id;
    const std::string& to = graph.nodes[edge.to].id;
    const std::string topic = edge.repartition ? id_of(*edge.repartition) : std::string();
    // An input of a stream-stream join is labelled with the side it is joined as.
    const std::string side = edge.join_side.empty() ? std::string() : "join as " + edge.join_side;
    const std::string label = edge.branch.empty() ? side : side.empty() ? edge.branch : edge.branch + ", " + side;
    if (topic.empty()) {
      edges.push_back(DrawnEdge{from, to, edge.lookup ? "lookup" : label, edge.lookup});
      continue;
    }
    edges.push_back(DrawnEdge{from, topic, edge.branch, false});
    const std::string reader_edge = topic + " " + to;
    if (std::find(repartition_readers.begin(), repartition_readers.end(), reader_edge) == repartition_readers.end()) {
      repartition_readers.push_back(reader_edge);
      edges.push_back(DrawnEdge{topic, to, side, false});
    }
  }
  for (const Node& node : graph.nodes) {
    if (!node.changelog_topic) continue;
    const std::string topic = id_of(*node.changelog_topic);
    if (!topic.empty()) edges.push_back(DrawnEdge{node.id, topic, "", true});
  }
  return edges;
}

std::string describe_dot(const Topology& topology, const Graph& graph) {
  std::ostringstream out;
  out << "digraph " << dot_string(shown(topology.application_id)) << " {\n";
  out << "  rankdir=LR;\n";
  out << "  node [shape=box];\n";
  for (const Subtopology& sub : graph.subtopologies) {
    out << "  subgraph cluster_" << sub.id << " {\n";
    out << "    label=" << dot_string("Sub-topology " + std::to_string(sub.id) + "\nsource topics: " +
                                      join_strings(sub.source_topics, ", "))
        << ";\n";
    for (const Node& node : graph.nodes) {
      if (node.subtopology != static_cast<std::size_t>(sub.id) || node.global) continue;
      out << "    " << node.id << " [label=" << dot_string(node_label(node, "\n"));
      if (node.kind == NodeKind::table) {
        out << ", shape=cylinder";
      } else if (node.kind != NodeKind::processor) {
        out << ", shape=cds";
      }
      out << "];\n";
    }
    out << "  }\n";
  }
  // Global tables outside the sub-topologies: every task of every sub-topology may look them up.
  for (const Node& node : graph.nodes) {
    if (node.global) out << "  " << node.id << " [label=" << dot_string(node_label(node, "\n")) << ", shape=cylinder];\n";
  }
  for (std::size_t i = 0; i < graph.internal_topics.size(); ++i) {
    out << "  internal_" << i << " [label=" << dot_string(internal_topic_label(graph.internal_topics[i], "\n"))
        << ", shape=cylinder];\n";
  }
  for (const DrawnEdge& edge : drawn_edges(graph)) {
    out << "  " << edge.from << " -> " << edge.to;
    if (!edge.label.empty()) out << " [label=" << dot_string(edge.label) << "]";
    if (edge.changelog) out << " [style=dashed]";
    out << ";\n";
  }
  out << "}\n";
  return out.str();
}

// ---- mermaid ----

// Mermaid labels are quoted; quotes, '#' (its escape character) and HTML-significant characters are written
// as entity codes, and line breaks as <br/>.
std::string mermaid_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out.append("#quot;"); break;
      case '#': out.append("#35;"); break;
      case '<': out.append("#lt;"); break;
      case '>': out.append("#gt;"); break;
      case '&': out.append("#amp;"); break;
      case '\n': out.append("<br/>"); break;
      default: out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::string describe_mermaid(const Graph& graph) {
  std::ostringstream out;
  out << "flowchart LR\n";
  for (const Subtopology& sub : graph.subtopologies) {
    out << "  subgraph subtopology_" << sub.id << '['
        << mermaid_string("Sub-topology " + std::to_string(sub.id) + "\nsource topics: " +
                          join_strings(sub.source_topics, ", "))
        << "]\n";
    for (const Node& node : graph.nodes) {
      if (node.subtopology != static_cast<std::size_t>(sub.id) || node.global) continue;
      // Topics (sources and sinks) as stadiums, processors as boxes.
      const bool is_topic = node.kind != NodeKind::processor;
      const bool is_table = node.kind == NodeKind::table;
      out << "    " << node.id << (is_table ? "[(" : is_topic ? "([" : "[") << mermaid_string(node_label(node, "\n"))
          << (is_table ? ")]" : is_topic ? "])" : "]") << '\n';
    }
    out << "  end\n";
  }
  // Global tables outside the sub-topologies too: every task may look them up.
  for (const Node& node : graph.nodes) {
    if (node.global) out << "  " << node.id << "[(" << mermaid_string(node_label(node, "\n")) << ")]\n";
  }
  // Internal topics as cylinders, outside the sub-topologies: they connect them.
  for (std::size_t i = 0; i < graph.internal_topics.size(); ++i) {
    out << "  internal_" << i << "[(" << mermaid_string(internal_topic_label(graph.internal_topics[i], "\n"))
        << ")]\n";
  }
  for (const DrawnEdge& edge : drawn_edges(graph)) {
    out << "  " << edge.from << (edge.changelog ? " -.->" : " -->");
    if (!edge.label.empty()) out << '|' << mermaid_string(edge.label) << '|';
    out << ' ' << edge.to << '\n';
  }
  return out.str();
}

// ---- json ----

nlohmann::json operator_json(const Node& node) {
  nlohmann::json json{{"name", node.name}, {"type", node.type}, {"inputs", node.inputs}, {"detail", node.detail}};
  if (node.op == nullptr) return json;
  const OperatorSpec& op = *node.op;
  if (op.repartition_topic) json["repartition_topic"] = *op.repartition_topic;
  if (!op.input_repartition_topics.empty()) {
    nlohmann::json per_input = nlohmann::json::array();
    for (const auto& topic : op.input_repartition_topics) per_input.push_back(topic ? nlohmann::json(*topic) : nlohmann::json());
    json["input_repartition_topics"] = std::move(per_input);
  }
  if (op.changelog_topic) {
    json["store"] = op.name;
    json["changelog_topic"] = *op.changelog_topic;
  }
  if (const auto* aggregate = std::get_if<AggregateSpec>(&op.body)) {
    nlohmann::json aggregations = nlohmann::json::array();
    for (const auto& aggregation : aggregate->aggregations) {
      nlohmann::json entry{{"name", aggregation.name}, {"function", to_string(aggregation.function)}};
      if (aggregation.argument) entry["argument"] = aggregation.argument->text();
      aggregations.push_back(std::move(entry));
    }
    json["aggregations"] = std::move(aggregations);
    if (aggregate->window) {
      const WindowSpec& window = *aggregate->window;
      nlohmann::json window_json{{"type", to_string(window.type)}};
      if (window.type == WindowType::session) {
        window_json["gap"] = duration_text(window.gap_ms);
      } else {
        window_json["size"] = duration_text(window.size_ms);
      }
      if (window.type == WindowType::hopping) window_json["advance"] = duration_text(window.advance_ms);
      window_json["grace"] = duration_text(window.grace_ms);
      json["window"] = std::move(window_json);
    }
    json["emit"] = to_string(aggregate->emit);
    if (aggregate->idle_timeout_ms) json["idle_timeout"] = duration_text(*aggregate->idle_timeout_ms);
  } else if (const auto* dedupe = std::get_if<DedupeSpec>(&op.body)) {
    json["within"] = duration_text(dedupe->within_ms);
  } else if (const auto* join = std::get_if<JoinSpec>(&op.body)) {
    json["table"] = join->table;
    json["join_type"] = to_string(join->type);
    if (join->global_table) {
      json["global_table"] = true;
      json["lookup"] = join->lookup ? nlohmann::json(join->lookup->text()) : nlohmann::json(nullptr);
    }
    json["stream_name"] = join->stream_name;
    nlohmann::json fields = nlohmann::json::object();
    for (const auto& field : join->fields) fields[field.name] = field.expression.text();
    json["select"] = std::move(fields);
    if (join->max_task_idle_ms) json["max_task_idle"] = duration_text(*join->max_task_idle_ms);
  } else if (const auto* stream_join = std::get_if<StreamJoinSpec>(&op.body)) {
    if (op.inputs.size() > 1) json["stream"] = op.inputs[1];
    json["join_type"] = to_string(stream_join->type);
    json["within"] = {{"before", duration_text(stream_join->before_ms)}, {"after", duration_text(stream_join->after_ms)}};
    json["grace"] = duration_text(stream_join->grace_ms);
    json["as"] = stream_join->this_name;
    json["other_as"] = stream_join->other_name;
    if (stream_join->max_task_idle_ms) json["max_task_idle"] = duration_text(*stream_join->max_task_idle_ms);
    nlohmann::json fields = nlohmann::json::object();
    for (const auto& field : stream_join->fields) fields[field.name] = field.expression.text();
    json["select"] = std::move(fields);
  }
  return json;
}

}  // namespace

nlohmann::json describe_json(const Topology& topology) {
  const Graph graph = build_graph(topology);
  nlohmann::json subtopologies = nlohmann::json::array();
  for (const Subtopology& sub : graph.subtopologies) {
    std::vector<std::string> sink_topics;
    std::vector<std::string> repartition_topics;  // written by this sub-topology's tasks
    nlohmann::json nodes = nlohmann::json::array();
    for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
      const Node& node = graph.nodes[n];
      if (node.subtopology != static_cast<std::size_t>(sub.id)) continue;
      if (node.kind == NodeKind::sink) sink_topics.push_back(node.detail);
      for (const std::size_t e : graph.successors[n]) {
        if (graph.edges[e].repartition) repartition_topics.push_back(*graph.edges[e].repartition);
      }
      nlohmann::json entry = operator_json(node);
      if (node.kind == NodeKind::source || node.kind == NodeKind::sink) entry.update(schema_json(topology, node));
      nodes.push_back(std::move(entry));
    }
    sink_topics.insert(sink_topics.end(), repartition_topics.begin(), repartition_topics.end());
    subtopologies.push_back({{"id", sub.id},
                             {"source_topics", sub.source_topics},
                             {"nodes", std::move(nodes)},
                             {"sink_topics", unique_in_order(std::move(sink_topics))}});
  }
  nlohmann::json stores = nlohmann::json::array();
  for (const Node& node : graph.nodes) {
    if (node.op == nullptr || !node.op->changelog_topic) continue;
    stores.push_back({{"name", node.name},
                      {"operator", node.name},
                      {"changelog_topic", *node.op->changelog_topic},
                      {"subtopology", node.subtopology}});
  }
  nlohmann::json tables = nlohmann::json::array();
  for (const Node& node : graph.nodes) {
    if (node.kind != NodeKind::table) continue;
    tables.push_back({{"name", node.name},
                      {"topic", node.detail},
                      {"global", node.global},
                      {"subtopology", node.global ? nlohmann::json(nullptr) : nlohmann::json(node.subtopology)}});
    if (node.table != nullptr && node.table->history_ms) tables.back()["history"] = duration_text(*node.table->history_ms);
  }
  nlohmann::json internal_topics = nlohmann::json::array();
  for (const InternalTopic& topic : graph.internal_topics) {
    internal_topics.push_back({{"name", topic.name},
                               {"kind", to_string(topic.kind)},
                               {"operator", topic.operator_name},
                               {"subtopology", topic.subtopology},
                               {"partitions", partitions_text(topic)},
                               {"partitions_of", topic.partitions_of},
                               {"configs", topic.configs}});
  }
  return nlohmann::json{{"application_id", topology.application_id},
                        {"dead_letter_topic", topology.dead_letter_topic},
                        {"subtopologies", std::move(subtopologies)},
                        {"tables", std::move(tables)},
                        {"state_stores", std::move(stores)},
                        {"internal_topics", std::move(internal_topics)},
                        {"output_topics", output_topics(topology)}};
}

std::string describe(const Topology& topology, DescribeFormat format) {
  switch (format) {
    case DescribeFormat::text: return describe_text(topology, printable_graph(build_graph(topology)));
    // Replace rather than throw on invalid UTF-8: a hand-built Topology is not checked like a parsed one. The
    // JSON library escapes U+0000..U+001F; DEL, C1 and the bidi marks are escaped here, so that the body of
    // /topology or a `describe --format json` on a terminal shows them as \u escapes too.
    case DescribeFormat::json:
      return core::escape_json_invisibles(
                 describe_json(topology).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)) +
             "\n";
    case DescribeFormat::dot: return describe_dot(topology, printable_graph(build_graph(topology)));
    case DescribeFormat::mermaid: return describe_mermaid(printable_graph(build_graph(topology)));
  }
  return {};
}

}  // namespace sluice::topology
