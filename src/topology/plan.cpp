#include "plan.hpp"

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <queue>
#include <string>
#include <utility>
#include <variant>

namespace sluice::topology::detail {
namespace {

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

// A hand-built Topology is not bounded like a parsed one; retention then stops at the largest value rather
// than overflowing.
std::int64_t saturating_sum(std::initializer_list<std::int64_t> parts) {
  std::int64_t total = 0;
  for (const std::int64_t part : parts) {
    if (part > 0 && total > std::numeric_limits<std::int64_t>::max() - part) {
      return std::numeric_limits<std::int64_t>::max();
    }
    total += part;
  }
  return total;
}

void append_unique(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

std::map<std::string, std::string> changelog_configs(const OperatorBody& body) {
  // A table keeps the latest aggregate per key forever, which compaction alone bounds. Windows and dedupe
  // entries expire: compaction keeps the latest per key and deletion drops what can no longer change.
  std::optional<std::int64_t> retention_ms;
  if (const auto* aggregate = std::get_if<AggregateSpec>(&body)) {
    if (aggregate->window) {
      const WindowSpec& window = *aggregate->window;
      const std::int64_t span = window.type == WindowType::session ? window.gap_ms : window.size_ms;
      retention_ms = saturating_sum({span, window.grace_ms, kChangelogRetentionMarginMs});
    }
  } else if (const auto* dedupe = std::get_if<DedupeSpec>(&body)) {
    retention_ms = saturating_sum({dedupe->within_ms, kChangelogRetentionMarginMs});
  } else if (const auto* join = std::get_if<StreamJoinSpec>(&body)) {
    // A record is kept until stream time passes its time + after (or before) + grace; the sum bounds both.
    retention_ms = saturating_sum({join->before_ms, join->after_ms, join->grace_ms, kChangelogRetentionMarginMs});
  }
  if (!retention_ms) return {{"cleanup.policy", "compact"}};
  return {{"cleanup.policy", "compact,delete"}, {"retention.ms", std::to_string(*retention_ms)}};
}

}  // namespace

KeyUse key_use_of(std::string_view operator_type) {
  if (operator_type == "rekey") return KeyUse::sets;
  if (operator_type == "aggregate" || operator_type == "dedupe" || operator_type == "join") {
    return KeyUse::needs_partitioned_by_key;
  }
  return KeyUse::keeps;
}

std::vector<bool> repartition_needed(const std::vector<KeyUse>& uses,
                                     const std::vector<std::vector<std::size_t>>& operator_inputs,
                                     const std::vector<std::size_t>& order, std::vector<bool>* rekeyed_out) {
  // rekeyed[i]: operator i's output may hold records outside the partition of their key.
  std::vector<bool> rekeyed(uses.size(), false);
  std::vector<bool> needed(uses.size(), false);
  for (const std::size_t index : order) {
    const bool input_rekeyed = std::any_of(operator_inputs[index].begin(), operator_inputs[index].end(),
                                           [&](std::size_t input) { return rekeyed[input]; });
    switch (uses[index]) {
      case KeyUse::keeps: rekeyed[index] = input_rekeyed; break;
      case KeyUse::sets: rekeyed[index] = true; break;
      case KeyUse::needs_partitioned_by_key:
        // Through a repartition topic if need be, its input arrives partitioned by key, and its output keeps
        // that key.
        needed[index] = input_rekeyed;
        rekeyed[index] = false;
        break;
    }
  }
  if (rekeyed_out != nullptr) *rekeyed_out = std::move(rekeyed);
  return needed;
}

std::string repartition_topic_name(std::string_view application_id, std::string_view operator_name) {
  return std::string(application_id) + "-" + std::string(operator_name) + "-repartition";
}

std::string changelog_topic_name(std::string_view application_id, std::string_view operator_name) {
  return std::string(application_id) + "-" + std::string(operator_name) + "-changelog";
}

std::string join_repartition_topic_name(std::string_view application_id, std::string_view operator_name,
                                        std::size_t input) {
  return std::string(application_id) + "-" + std::string(operator_name) + (input == 0 ? "-left" : "-right") +
         "-repartition";
}

NodeGraph build_node_graph(const Topology& topology) {
  NodeGraph graph;
  graph.source_count = topology.sources.size();
  graph.operator_count = topology.operators.size();
  graph.sink_count = topology.sinks.size();
  std::map<std::string, std::size_t, std::less<>> node_by_name;
  for (std::size_t i = 0; i < topology.sources.size(); ++i) node_by_name.emplace(topology.sources[i].name, i);
  for (std::size_t i = 0; i < topology.operators.size(); ++i) {
    node_by_name.emplace(topology.operators[i].name, graph.operator_node(i));
  }
  const auto add_edges = [&](std::size_t to, const std::vector<std::string>& inputs, const OperatorSpec* op) {
    for (std::size_t index = 0; index < inputs.size(); ++index) {
      const std::string& input = inputs[index];
      // A name, or "<route>.<branch>" (names have no dots, so the dot always separates a branch).
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
      if (found == node_by_name.end()) continue;
      graph.edges.push_back(NodeEdge{found->second, to, std::move(branch),
                                     op != nullptr ? op->repartition_of(index) : std::nullopt, index});
    }
  };
  for (std::size_t i = 0; i < topology.operators.size(); ++i) {
    const OperatorSpec& op = topology.operators[i];
    add_edges(graph.operator_node(i), op.inputs, &op);
  }
  for (std::size_t i = 0; i < topology.sinks.size(); ++i) {
    add_edges(graph.sink_node(i), {topology.sinks[i].from}, nullptr);
  }
  return graph;
}

std::vector<Subtopology> split_subtopologies(const Topology& topology) {
  const NodeGraph graph = build_node_graph(topology);
  const std::size_t node_count = graph.node_count();
  Components components(node_count);
  for (const NodeEdge& edge : graph.edges) {
    if (!edge.repartition) components.join(edge.from, edge.to);
  }

  // Components in the order of their first node: sources come first, so this is the order of their first
  // source, and then of their first operator.
  std::vector<std::vector<std::size_t>> members;
  std::vector<std::size_t> component_of(node_count);
  std::map<std::size_t, std::size_t> component_by_root;
  for (std::size_t node = 0; node < node_count; ++node) {
    const auto [entry, inserted] = component_by_root.try_emplace(components.root(node), members.size());
    if (inserted) members.emplace_back();
    members[entry->second].push_back(node);
    component_of[node] = entry->second;
  }

  // Upstream before downstream: Kahn's algorithm over the edges through repartition topics, taking the ready
  // component that comes first. Components can feed each other in a cycle (an aggregate's output joining the
  // flow that feeds it through a rekey); then the first remaining one goes next.
  const std::size_t count = members.size();
  std::vector<std::vector<std::size_t>> downstream(count);
  std::vector<std::size_t> waiting_for(count, 0);
  for (const NodeEdge& edge : graph.edges) {
    const std::size_t from = component_of[edge.from];
    const std::size_t to = component_of[edge.to];
    if (!edge.repartition || from == to) continue;
    downstream[from].push_back(to);
    ++waiting_for[to];
  }
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
  for (std::size_t c = 0; c < count; ++c) {
    if (waiting_for[c] == 0) ready.push(c);
  }
  std::vector<bool> numbered(count, false);
  std::vector<std::size_t> numbering;
  while (numbering.size() < count) {
    if (ready.empty()) {
      const auto next = static_cast<std::size_t>(std::find(numbered.begin(), numbered.end(), false) - numbered.begin());
      waiting_for[next] = 0;
      ready.push(next);
    }
    const std::size_t next = ready.top();
    ready.pop();
    if (numbered[next]) continue;
    numbered[next] = true;
    numbering.push_back(next);
    for (const std::size_t consumer : downstream[next]) {
      if (!numbered[consumer] && waiting_for[consumer] > 0 && --waiting_for[consumer] == 0) ready.push(consumer);
    }
  }

  std::vector<Subtopology> subtopologies;
  for (const std::size_t component : numbering) {
    Subtopology sub;
    sub.id = static_cast<int>(subtopologies.size());
    std::vector<std::string> repartition_topics;
    for (const std::size_t node : members[component]) {
      if (node < graph.source_count) {
        sub.sources.push_back(node);
        append_unique(sub.source_topics, topology.sources[node].topic);
      } else if (node < graph.source_count + graph.operator_count) {
        const std::size_t index = node - graph.source_count;
        sub.operators.push_back(index);
        for (const std::string& topic : topology.operators[index].repartition_topics()) {
          append_unique(repartition_topics, topic);
        }
      } else {
        sub.sinks.push_back(node - graph.source_count - graph.operator_count);
      }
    }
    for (const auto& topic : repartition_topics) append_unique(sub.source_topics, topic);
    // The tables its joins look up: their topics are read by its tasks, co-partitioned with its streams.
    for (const std::size_t index : sub.operators) {
      const auto* join = std::get_if<JoinSpec>(&topology.operators[index].body);
      // A global table is read by every instance whole, outside the tasks.
      if (join == nullptr || join->global_table) continue;
      for (std::size_t t = 0; t < topology.tables.size(); ++t) {
        if (topology.tables[t].name != join->table) continue;
        if (std::find(sub.tables.begin(), sub.tables.end(), t) == sub.tables.end()) sub.tables.push_back(t);
        append_unique(sub.source_topics, topology.tables[t].topic);
      }
    }
    subtopologies.push_back(std::move(sub));
  }
  return subtopologies;
}

std::vector<InternalTopic> list_internal_topics(const Topology& topology,
                                                const std::vector<Subtopology>& subtopologies) {
  const NodeGraph graph = build_node_graph(topology);
  std::vector<int> subtopology_of_node(graph.node_count(), 0);
  for (const Subtopology& sub : subtopologies) {
    for (const std::size_t source : sub.sources) subtopology_of_node[source] = sub.id;
    for (const std::size_t op : sub.operators) subtopology_of_node[graph.operator_node(op)] = sub.id;
    for (const std::size_t sink : sub.sinks) subtopology_of_node[graph.sink_node(sink)] = sub.id;
  }
  const auto source_topics_of = [&](int id) -> const std::vector<std::string>& {
    static const std::vector<std::string> none;
    for (const Subtopology& sub : subtopologies) {
      if (sub.id == id) return sub.source_topics;
    }
    return none;
  };

  std::vector<InternalTopic> topics;
  for (std::size_t i = 0; i < topology.operators.size(); ++i) {
    const OperatorSpec& op = topology.operators[i];
    for (const std::string& name : op.repartition_topics()) {
      InternalTopic topic;
      topic.name = name;
      topic.kind = InternalTopic::Kind::repartition;
      topic.operator_name = op.name;
      topic.subtopology = subtopology_of_node[graph.operator_node(i)];
      topic.configs = {{"cleanup.policy", "delete"}, {"retention.ms", "-1"}, {"segment.ms", std::string(kRepartitionSegmentMs)}};
      // Written by the tasks of the sub-topologies of the operator's inputs through it, in the order of their ids.
      std::vector<int> writers;
      for (const NodeEdge& edge : graph.edges) {
        if (edge.to == graph.operator_node(i) && edge.repartition == name) {
          writers.push_back(subtopology_of_node[edge.from]);
        }
      }
      std::sort(writers.begin(), writers.end());
      if (const auto* join = std::get_if<JoinSpec>(&op.body)) {
        // A join's stream must be partitioned like its table: the table's topic sets the count.
        for (const TableSpec& table : topology.tables) {
          if (table.name == join->table) topic.partitions_of = {table.topic};
        }
        writers.clear();
      } else if (std::holds_alternative<StreamJoinSpec>(op.body)) {
        // Co-partitioned with the other side: when the join's sub-topology reads source topics (a side that was
        // not re-keyed), they set the count.
        for (const Subtopology& sub : subtopologies) {
          if (sub.id != topic.subtopology) continue;
          for (const std::size_t source : sub.sources) append_unique(topic.partitions_of, topology.sources[source].topic);
        }
        if (!topic.partitions_of.empty()) writers.clear();
      }
      for (const int writer : writers) {
        for (const auto& source_topic : source_topics_of(writer)) {
          // A sub-topology may read the repartition topic it writes (a flow merged back after an aggregate);
          // the topic's count then comes from the others it reads.
          if (source_topic != topic.name) append_unique(topic.partitions_of, source_topic);
        }
      }
      topics.push_back(std::move(topic));
    }
  }
  for (std::size_t i = 0; i < topology.operators.size(); ++i) {
    const OperatorSpec& op = topology.operators[i];
    // A join's changelog is its table's topic, which the user owns.
    if (!op.changelog_topic || std::holds_alternative<JoinSpec>(op.body)) continue;
    InternalTopic topic;
    topic.name = *op.changelog_topic;
    topic.kind = InternalTopic::Kind::changelog;
    topic.operator_name = op.name;
    topic.subtopology = subtopology_of_node[graph.operator_node(i)];
    topic.configs = changelog_configs(op.body);
    // One changelog partition per task of its sub-topology.
    topic.partitions_of = source_topics_of(topic.subtopology);
    topics.push_back(std::move(topic));
  }
  return topics;
}

}  // namespace sluice::topology::detail
