// Internal to src/topology: what a topology needs besides its own operators to run on Kafka — which keyed
// operators read through a repartition topic, how the graph splits into sub-topologies (one task per input
// partition each), and the internal topics (repartition and changelog) with their configs. parse_topology
// fills these into the Topology; describe uses the same functions for a Topology built by hand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/topology/topology.hpp"

namespace sluice::topology::detail {

// What an operator does with the partitioning of its records by key.
enum class KeyUse : std::uint8_t {
  keeps,                     // filter, map, select, flat_map, route, merge: the key, and so the partition, stay
  sets,                      // rekey: records are no longer in the partition of their key
  needs_partitioned_by_key,  // aggregate, dedupe: state per key, so all records of a key must reach one task
};

KeyUse key_use_of(std::string_view operator_type);

// For each operator, whether it must read through a repartition topic: true for a keyed operator when some
// path from a source to it has a rekey after the last point where records were partitioned by key (a source,
// or a keyed operator, whose output keeps the key it was partitioned by). `operator_inputs[i]` are the
// operators that operator i reads (sources left out); `order` lists operators so that each follows its inputs
// (operators left out of it, e.g. on a cycle, count as not needing one).
// With `rekeyed`, also tells per operator whether its output may hold records outside the partition of their
// key (for a stream-stream join, which repartitions each of its inputs on its own).
std::vector<bool> repartition_needed(const std::vector<KeyUse>& uses,
                                     const std::vector<std::vector<std::size_t>>& operator_inputs,
                                     const std::vector<std::size_t>& order, std::vector<bool>* rekeyed = nullptr);

// Internal topics are named after names written in the topology (never generated counters), so that a changed
// topology keeps its state.
std::string repartition_topic_name(std::string_view application_id, std::string_view operator_name);
std::string changelog_topic_name(std::string_view application_id, std::string_view operator_name);
// A stream-stream join's per-input repartition topics: input 0 (`from`) "left", input 1 (`stream`) "right".
std::string join_repartition_topic_name(std::string_view application_id, std::string_view operator_name,
                                        std::size_t input);

// The graph of sources, operators and sinks as node indices: sources first (file order), then operators (in
// Topology::operators order), then sinks.
struct NodeEdge {
  std::size_t from = 0;
  std::size_t to = 0;
  std::string branch;                      // the route output this edge carries, "" otherwise
  std::optional<std::string> repartition;  // the repartition topic the edge goes through, if any
  std::size_t input = 0;                   // which input of the consuming node (index into its inputs)
};
struct NodeGraph {
  std::size_t source_count = 0;
  std::size_t operator_count = 0;
  std::size_t sink_count = 0;
  std::vector<NodeEdge> edges;  // grouped by consuming node, in the order of its inputs
  std::size_t node_count() const noexcept { return source_count + operator_count + sink_count; }
  std::size_t operator_node(std::size_t index) const noexcept { return source_count + index; }
  std::size_t sink_node(std::size_t index) const noexcept { return source_count + operator_count + index; }
};
// References that name nothing are left out (parse_topology never builds such a topology).
NodeGraph build_node_graph(const Topology& topology);

// The sub-topologies: the connected components of the graph without the edges through repartition topics,
// numbered upstream before downstream and otherwise in the order of their first source in the file (a
// component without a source of its own, in the order of its first operator).
std::vector<Subtopology> split_subtopologies(const Topology& topology);

// Repartition topics, then changelog topics, each in operator order.
std::vector<InternalTopic> list_internal_topics(const Topology& topology,
                                                const std::vector<Subtopology>& subtopologies);

// Kafka Streams' margin for windowed changelogs (windowstore.changelog.additional.retention.ms): records stay
// in the changelog for a day beyond the time they can still change, so a restore never misses one.
inline constexpr std::int64_t kChangelogRetentionMarginMs = 86'400'000;
// Repartition topics keep records until the downstream sub-topology has committed them, then sluice deletes
// them (DeleteRecords). Time-based retention would be wrong: records carry event time, so a replay of old
// history would be deleted as soon as its segment rolled, before it was read (Kafka Streams does the same).
// Segments roll every ten minutes so purged records leave the disk.
inline constexpr std::string_view kRepartitionSegmentMs = "600000";

}  // namespace sluice::topology::detail
