// `sluice describe`: one graph model of the topology (nodes, edges, sub-topologies) rendered four ways.
//
// Sub-topologies are the connected components of the graph, as in Kafka Streams, where each one becomes a
// task per input partition. Once stateful operators exist, a repartition topic will split the component it
// sits in (the edge across it does not join the two sides), and stores and changelog topics will fill
// state_stores and internal_topics; the model below is where those belong.
#include <algorithm>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/topology/describe.hpp"

namespace sluice::topology {
namespace {

enum class NodeKind { source, processor, sink };

struct Node {
  NodeKind kind = NodeKind::processor;
  std::string id;    // safe identifier for dot and mermaid: source_0, processor_2, sink_1
  std::string name;  // as written in the topology
  std::string type;  // "source", "filter", ..., "sink"
  std::vector<std::string> inputs;  // references as written
  std::string detail;               // expression text, field list or topic
  std::size_t subtopology = 0;
};

struct Edge {
  std::size_t from = 0;  // node indices
  std::size_t to = 0;
  std::string branch;  // the route output this edge carries, "" otherwise
};

struct Graph {
  std::vector<Node> nodes;  // sources, then operators in processing order, then sinks
  std::vector<Edge> edges;  // in the order of the consuming node's inputs
  std::size_t subtopology_count = 0;
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
  };
  return std::visit(Detail{op}, op.body);
}

// Disjoint sets over node indices, for the connected components.
class Components {
 public:
  explicit Components(std::size_t count) : parent_(count) { std::iota(parent_.begin(), parent_.end(), 0); }
  std::size_t root(std::size_t node) {
    while (parent_[node] != node) {
      parent_[node] = parent_[parent_[node]];
      node = parent_[node];
    }
    return node;
  }
  void join(std::size_t a, std::size_t b) { parent_[root(a)] = root(b); }

 private:
  std::vector<std::size_t> parent_;
};

Graph build_graph(const Topology& topology) {
  Graph graph;
  std::map<std::string, std::size_t, std::less<>> node_by_name;  // sources and operators
  for (std::size_t i = 0; i < topology.sources.size(); ++i) {
    const SourceSpec& source = topology.sources[i];
    node_by_name.emplace(source.name, graph.nodes.size());
    graph.nodes.push_back(Node{NodeKind::source, "source_" + std::to_string(i), source.name, "source", {},
                               source.topic, 0});
  }
  for (std::size_t i = 0; i < topology.operators.size(); ++i) {
    const OperatorSpec& op = topology.operators[i];
    node_by_name.emplace(op.name, graph.nodes.size());
    graph.nodes.push_back(Node{NodeKind::processor, "processor_" + std::to_string(i), op.name,
                               std::string(op.type_name()), op.inputs, operator_detail(op), 0});
  }
  for (std::size_t i = 0; i < topology.sinks.size(); ++i) {
    const SinkSpec& sink = topology.sinks[i];
    graph.nodes.push_back(
        Node{NodeKind::sink, "sink_" + std::to_string(i), sink.name, "sink", {sink.from}, sink.topic, 0});
  }

  // Edges from each input reference: a name, or "<route>.<branch>".
  for (std::size_t to = 0; to < graph.nodes.size(); ++to) {
    for (const std::string& input : graph.nodes[to].inputs) {
      std::string_view producer = input;
      std::string branch;
      if (!node_by_name.contains(input)) {
        const std::size_t dot = input.find('.');
        if (dot != std::string::npos) {
          producer = std::string_view(input).substr(0, dot);
          branch = input.substr(dot + 1);
        }
      }
      const auto found = node_by_name.find(producer);
      if (found == node_by_name.end()) continue;  // parse_topology never builds such a topology
      graph.edges.push_back(Edge{found->second, to, std::move(branch)});
    }
  }
  graph.predecessors.resize(graph.nodes.size());
  graph.successors.resize(graph.nodes.size());
  Components components(graph.nodes.size());
  for (std::size_t e = 0; e < graph.edges.size(); ++e) {
    graph.successors[graph.edges[e].from].push_back(e);
    graph.predecessors[graph.edges[e].to].push_back(e);
    components.join(graph.edges[e].from, graph.edges[e].to);
  }

  // Numbered in the order of their first source; nodes are listed sources first, so this is node order.
  std::map<std::size_t, std::size_t> number_by_root;
  for (Node& node : graph.nodes) {
    const std::size_t root = components.root(static_cast<std::size_t>(&node - graph.nodes.data()));
    const auto [entry, inserted] = number_by_root.try_emplace(root, number_by_root.size());
    node.subtopology = entry->second;
  }
  graph.subtopology_count = number_by_root.size();
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

// ---- text ----

std::string describe_text(const Topology& topology, const Graph& graph) {
  std::ostringstream out;
  out << "Topology: " << topology.application_id << '\n';
  for (std::size_t sub = 0; sub < graph.subtopology_count; ++sub) {
    out << "Sub-topology " << sub << '\n';
    for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
      const Node& node = graph.nodes[n];
      if (node.subtopology != sub) continue;
      switch (node.kind) {
        case NodeKind::source: out << "  Source: " << node.name << " (topic: " << node.detail << ")\n"; break;
        case NodeKind::processor:
          out << "  Processor: " << node.name << " (" << node.type << ": " << node.detail << ")\n";
          break;
        case NodeKind::sink: out << "  Sink: " << node.name << " (topic: " << node.detail << ")\n"; break;
      }
      for (const std::size_t e : graph.successors[n]) {
        const Edge& edge = graph.edges[e];
        out << "    --> " << graph.nodes[edge.to].name;
        if (!edge.branch.empty()) out << " (via " << edge.branch << ")";
        out << '\n';
      }
      for (const std::size_t e : graph.predecessors[n]) {
        out << "    <-- " << graph.nodes[graph.edges[e].from].name << '\n';
      }
    }
  }
  out << "Dead-letter topic: " << topology.dead_letter_topic << '\n';
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
    case NodeKind::processor: break;
  }
  return node.name + std::string(line_break) + node.type + ": " + node.detail;
}

std::string describe_dot(const Topology& topology, const Graph& graph) {
  std::ostringstream out;
  out << "digraph " << dot_string(topology.application_id) << " {\n";
  out << "  rankdir=LR;\n";
  out << "  node [shape=box];\n";
  for (std::size_t sub = 0; sub < graph.subtopology_count; ++sub) {
    out << "  subgraph cluster_" << sub << " {\n";
    out << "    label=" << dot_string("Sub-topology " + std::to_string(sub)) << ";\n";
    for (const Node& node : graph.nodes) {
      if (node.subtopology != sub) continue;
      out << "    " << node.id << " [label=" << dot_string(node_label(node, "\n"));
      if (node.kind != NodeKind::processor) out << ", shape=cds";
      out << "];\n";
    }
    out << "  }\n";
  }
  for (const Edge& edge : graph.edges) {
    out << "  " << graph.nodes[edge.from].id << " -> " << graph.nodes[edge.to].id;
    if (!edge.branch.empty()) out << " [label=" << dot_string(edge.branch) << "]";
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
  for (std::size_t sub = 0; sub < graph.subtopology_count; ++sub) {
    out << "  subgraph subtopology_" << sub << '[' << mermaid_string("Sub-topology " + std::to_string(sub))
        << "]\n";
    for (const Node& node : graph.nodes) {
      if (node.subtopology != sub) continue;
      // Topics (sources and sinks) as stadiums, processors as boxes.
      const bool is_topic = node.kind != NodeKind::processor;
      out << "    " << node.id << (is_topic ? "([" : "[") << mermaid_string(node_label(node, "\n"))
          << (is_topic ? "])" : "]") << '\n';
    }
    out << "  end\n";
  }
  for (const Edge& edge : graph.edges) {
    out << "  " << graph.nodes[edge.from].id << " -->";
    if (!edge.branch.empty()) out << '|' << mermaid_string(edge.branch) << '|';
    out << ' ' << graph.nodes[edge.to].id << '\n';
  }
  return out.str();
}

}  // namespace

nlohmann::json describe_json(const Topology& topology) {
  const Graph graph = build_graph(topology);
  nlohmann::json subtopologies = nlohmann::json::array();
  for (std::size_t sub = 0; sub < graph.subtopology_count; ++sub) {
    std::vector<std::string> source_topics;
    std::vector<std::string> sink_topics;
    nlohmann::json nodes = nlohmann::json::array();
    for (const Node& node : graph.nodes) {
      if (node.subtopology != sub) continue;
      if (node.kind == NodeKind::source) source_topics.push_back(node.detail);
      if (node.kind == NodeKind::sink) sink_topics.push_back(node.detail);
      nodes.push_back({{"name", node.name}, {"type", node.type}, {"inputs", node.inputs}, {"detail", node.detail}});
    }
    subtopologies.push_back({{"id", sub},
                             {"source_topics", unique_in_order(std::move(source_topics))},
                             {"nodes", std::move(nodes)},
                             {"sink_topics", unique_in_order(std::move(sink_topics))}});
  }
  return nlohmann::json{{"application_id", topology.application_id},
                        {"dead_letter_topic", topology.dead_letter_topic},
                        {"subtopologies", std::move(subtopologies)},
                        {"state_stores", nlohmann::json::array()},
                        {"internal_topics", nlohmann::json::array()},
                        {"output_topics", output_topics(topology)}};
}

std::string describe(const Topology& topology, DescribeFormat format) {
  switch (format) {
    case DescribeFormat::text: return describe_text(topology, build_graph(topology));
    // Replace rather than throw on invalid UTF-8: a hand-built Topology is not checked like a parsed one.
    case DescribeFormat::json:
      return describe_json(topology).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    case DescribeFormat::dot: return describe_dot(topology, build_graph(topology));
    case DescribeFormat::mermaid: return describe_mermaid(build_graph(topology));
  }
  return {};
}

}  // namespace sluice::topology
