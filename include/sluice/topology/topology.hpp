// The typed form of a topology file, and its parser/validator. A Topology is immutable once built; every
// field remembers the JSON pointer it came from so that later checks (e.g. missing topics at start-up) can
// name the offending field. See README.md "Topology reference" and topologies/sluice-topology.schema.json.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sluice/expr/expression.hpp"

namespace sluice::topology {

// avro, protobuf: keys in the schema registry's wire format, read by sources only (sinks and tables: string, bytes,
// json).
enum class KeyFormat : std::uint8_t { string, bytes, json, avro, protobuf };
constexpr bool registry_format(KeyFormat format) noexcept {
  return format == KeyFormat::avro || format == KeyFormat::protobuf;
}
// avro, protobuf: the schema registry's wire format (a schema id before each value; formats/registry_codec.hpp).
// Values of sources and sinks only (tables: json, string, bytes).
enum class ValueFormat : std::uint8_t { json, string, bytes, avro, protobuf };
// Whether values in `format` are written with a schema from a registry (avro, protobuf).
constexpr bool registry_format(ValueFormat format) noexcept {
  return format == ValueFormat::avro || format == ValueFormat::protobuf;
}
enum class TimestampFormat : std::uint8_t { epoch_ms, epoch_s, iso8601 };

struct TimestampSpec {
  // nullopt: the Kafka record's timestamp. Otherwise an expression (usually a field path) on the value.
  std::optional<expr::Expression> field;
  TimestampFormat format = TimestampFormat::epoch_ms;
};

struct SourceSpec {
  std::string name;
  std::string topic;
  KeyFormat key = KeyFormat::string;
  ValueFormat value = ValueFormat::json;
  TimestampSpec timestamp;
  std::string pointer;  // e.g. "/sources/0"
};

struct FilterSpec {
  expr::Expression predicate;
};
struct FieldAssignment {
  std::string name;
  expr::Expression expression;
};
// Adds or replaces top-level fields of an object value, then removes the `drop` fields.
struct MapSpec {
  std::vector<FieldAssignment> fields;
  std::vector<std::string> drop;
};
// Builds a new object holding only the listed fields.
struct SelectSpec {
  std::vector<FieldAssignment> fields;
};
// Evaluates an array; each element becomes a record (the element itself, or the input object with the
// element stored under `as`).
struct FlatMapSpec {
  expr::Expression elements;
  std::optional<std::string> as;
};
// Replaces the key with the expression's result.
struct RekeySpec {
  expr::Expression key;
};
struct RouteBranch {
  std::string name;
  expr::Expression when;
};
// Sends each record to the first branch whose predicate holds, else to `default_branch` (if given; otherwise
// the record is dropped and counted as unrouted). Outputs are referenced as "<operator>.<branch>".
struct RouteSpec {
  std::vector<RouteBranch> branches;
  std::optional<std::string> default_branch;
};
// Passes records of all its inputs through unchanged.
struct MergeSpec {};

// ---- Stateful, keyed operators (state per record key, kept in a store backed by a changelog topic) ----

enum class WindowType : std::uint8_t { tumbling, hopping, sliding, session };

// Times in milliseconds. tumbling: size (advance = size); hopping: size, advance; sliding: size (the time
// difference: the window of a record at t is [t - size, t], both ends inclusive); session: gap (inactivity).
// Window [start, end) for tumbling and hopping: start inclusive, end exclusive.
struct WindowSpec {
  WindowType type = WindowType::tumbling;
  std::int64_t size_ms = 0;
  std::int64_t advance_ms = 0;
  std::int64_t gap_ms = 0;
  std::int64_t grace_ms = 0;  // how long after a window's end records may still update it (default 0)
};

enum class AggregateFunction : std::uint8_t { count, sum, min, max, avg, first, last };

// One output field of an aggregate: "total": "sum(amount)". count() has no argument (counts records);
// count(x) counts records where x is not null. The others ignore null arguments.
struct AggregationSpec {
  std::string name;
  AggregateFunction function = AggregateFunction::count;
  std::optional<expr::Expression> argument;
  std::string text;  // as written, for describe
};

enum class EmitMode : std::uint8_t {
  update,  // a result for every change, compacted per key (and window) within a commit interval
  final,   // one result per window, when stream time passes its end + grace (windowed aggregates only)
};

// Aggregates records per key: over windows when `window` is set, else a table (latest aggregate per key).
struct AggregateSpec {
  std::optional<WindowSpec> window;
  std::vector<AggregationSpec> aggregations;
  EmitMode emit = EmitMode::update;
  // Close windows after this much wall-clock time without input on a partition (stream time then advances
  // with the wall clock); nullopt: the `window_idle_timeout` setting decides; 0: never for this operator.
  std::optional<std::int64_t> idle_timeout_ms;
};

// Drops a record whose key was already seen less than `within_ms` before or after it (by event time).
struct DedupeSpec {
  std::int64_t within_ms = 0;
};

// ---- Tables and joins ----

// A table: a topic read as a changelog (the latest value per key; a null value, a tombstone, deletes the key).
// The topic itself is the table's changelog: sluice writes no copy of it. Tables are not operator inputs;
// join operators look them up.
struct TableSpec {
  std::string name;
  std::string topic;
  KeyFormat key = KeyFormat::string;
  ValueFormat value = ValueFormat::json;
  std::string pointer;  // e.g. "/tables/0"
  // A versioned table keeps each key's past values for this long (in event time, behind the task's stream
  // time), and a join looks up the value current at the stream record's time (an as-of join); nullopt: only
  // the latest value.
  std::optional<std::int64_t> history_ms;
  // A global table: every instance reads all partitions of the topic into one local store before any task
  // processes, and keeps following it; joins look it up by any expression of the record (`lookup`), so it
  // needs no co-partitioning and no repartition. Its updates are not ordered with stream time.
  bool global = false;
};

enum class JoinType : std::uint8_t {
  inner,  // a stream record without a table row (a record without a match) gives no output (counted as discarded)
  left,   // a stream record without a table row joins null (stream-stream: once its window has closed)
  outer,  // stream-stream only: a record of either side without a match joins null, once its window has closed
};

// Stream-table join: each stream record looks up the table row with the same key (the key bytes as the table
// topic's key format writes them, like Kafka Streams compares serialized keys). The stream and the table are
// co-partitioned: the same partition count, and keys partitioned alike (a rekey upstream goes through a
// repartition topic with the table's partition count).
struct JoinSpec {
  std::string table;  // a TableSpec name
  JoinType type = JoinType::inner;
  // Expressions read the record {<stream>: stream value, <table>: table row (null when absent)}; the stream
  // side is named by `stream_name` (the `as` field, default the `from` reference without a route prefix).
  std::string stream_name;
  std::vector<FieldAssignment> fields;  // the output object; empty: {<stream>: value, <table>: row}
  // How long the join's task waits for an input partition with nothing buffered, so that stream and table
  // records are processed in event-time order (nullopt: the max_task_idle setting).
  std::optional<std::int64_t> max_task_idle_ms;
  // The table topic's formats (copied from its TableSpec when the topology is assembled).
  KeyFormat table_key = KeyFormat::string;
  ValueFormat table_value = ValueFormat::json;
  std::optional<std::int64_t> table_history_ms;  // the table's history (a versioned table: an as-of join)
  // Whether the table is global (copied from its TableSpec): the join is then stateless for its task and reads
  // the instance's store of the whole table.
  bool global_table = false;
  // Global tables only: the expression, evaluated on the stream record (its value's fields and `key`), whose
  // result written in the table's key format is the key looked up; nullopt: the record key.
  std::optional<expr::Expression> lookup;
};

// Windowed stream-stream join: the operator's inputs are [from, stream] (this side, the other side); a record of
// one side joins every record of the other side with an equal key whose event time is in [t - before_ms,
// t + after_ms] for this side's record at t (so a record of the other side at t' joins this side's records in
// [t' - after_ms, t' + before_ms]). Records are kept in the operator's store (changelogged) until no record that
// is not late can match them any more: a record at t is late once stream time > t + grace_ms. Output: a pair
// when its second record arrives; left (this side) and outer (both sides): a record that never matched, once,
// with the other side null, when stream time passes t + after_ms + grace_ms (this side) or
// t + before_ms + grace_ms (other side). See src/ops/README.md, "Stream-stream joins".
struct StreamJoinSpec {
  JoinType type = JoinType::inner;
  std::int64_t before_ms = 0;
  std::int64_t after_ms = 0;
  std::int64_t grace_ms = 0;
  // Expressions read {<this_name>: this side's value, <other_name>: the other side's value}; a side without a
  // match is null. this_name: `as`, default the `from` reference without a route prefix; other_name:
  // `other_as`, default the `stream` reference without a route prefix.
  std::string this_name;
  std::string other_name;
  std::vector<FieldAssignment> fields;  // the output object; empty: {<this_name>: value, <other_name>: value}
  // Key format of the repartition topics of re-keyed sides: that of the other side's partitioning (the source
  // topic it comes from unchanged), so that equal keys of both sides land in one partition; json when both
  // sides are re-keyed. Set when the topology is assembled.
  KeyFormat repartition_key = KeyFormat::json;
  // As JoinSpec::max_task_idle_ms: how long the task waits for a side with nothing buffered.
  std::optional<std::int64_t> max_task_idle_ms;
};

using OperatorBody = std::variant<FilterSpec, MapSpec, SelectSpec, FlatMapSpec, RekeySpec, RouteSpec, MergeSpec,
                                  AggregateSpec, DedupeSpec, JoinSpec, StreamJoinSpec>;

struct OperatorSpec {
  std::string name;
  std::vector<std::string> inputs;  // references: a source, an operator, or "<route>.<branch>"
  OperatorBody body;
  std::string pointer;  // e.g. "/operators/3"
  // Keyed operators whose input may not be partitioned by the current key (a rekey upstream) read through an
  // internal repartition topic "<application_id>-<name>-repartition": their inputs write to it, they read it.
  std::optional<std::string> repartition_topic;
  // Keyed operators keep state in a store named after the operator, logged to "<application_id>-<name>-changelog";
  // a join's store is its table, whose changelog is the table's own topic.
  std::optional<std::string> changelog_topic;
  // A stream-stream join reads each input through a repartition topic of its own when that input was re-keyed
  // ("<application_id>-<name>-left-repartition" for `from`, "-right-repartition" for `stream`): per input,
  // in the order of `inputs`. Empty for every other operator (repartition_topic then covers all inputs).
  std::vector<std::optional<std::string>> input_repartition_topics;

  // "filter", "map", ... (the JSON key that chose the operator type; "join" for both kinds of join)
  std::string_view type_name() const noexcept;
  // The repartition topic that input `input` (an index into `inputs`) is read through, if any.
  const std::optional<std::string>& repartition_of(std::size_t input) const noexcept {
    return input < input_repartition_topics.size() ? input_repartition_topics[input] : repartition_topic;
  }
  // Every repartition topic the operator reads, in input order, each once.
  std::vector<std::string> repartition_topics() const;
};

// The schema an avro sink writes its values with: in the topology (`schema`: the schema's JSON), in a file
// (`file`: a path relative to the topology file), or one already registered (`subject` and `version`). It is
// registered (or looked up) at start under the sink's subject: "<topic>-value" (naming "topic", the registry's
// TopicNameStrategy) or the record's full name (naming "record").
struct SinkSchemaSpec {
  enum class Naming : std::uint8_t { topic, record };
  std::optional<std::string> text;  // `schema`, as compact JSON
  std::optional<std::string> file;
  std::optional<std::string> subject;
  std::string version = "latest";   // with `subject`: a version number or "latest"
  Naming naming = Naming::topic;
  std::optional<std::string> message;  // protobuf: the message written (full name); nullopt: the file's first
  std::string pointer;              // e.g. "/sinks/0/value_schema"
};

struct SinkSpec {
  std::string name;  // defaults to "<from>-to-<topic>" when not written
  std::string from;
  std::string topic;
  KeyFormat key = KeyFormat::string;
  ValueFormat value = ValueFormat::json;
  std::string pointer;
  std::optional<SinkSchemaSpec> value_schema;  // required by (and only allowed with) value avro or protobuf
};

// A topic sluice creates and owns. Partitions are decided at start-up: the partition count of the sources of
// the sub-topology that writes it (repartition) or reads it (changelog).
struct InternalTopic {
  enum class Kind : std::uint8_t { repartition, changelog };
  std::string name;
  Kind kind = Kind::changelog;
  std::string operator_name;
  int subtopology = 0;                        // the sub-topology whose tasks own its partitions
  std::map<std::string, std::string> configs;  // e.g. cleanup.policy, retention.ms
  // Its partition count is the largest partition count among these topics (looked up at start-up): the source
  // topics of the sub-topologies that write it (repartition) or of its own sub-topology (changelog). They may
  // be repartition topics themselves, whose counts follow the same rule.
  std::vector<std::string> partitions_of;
};

// A part of the graph that runs as tasks (one per partition of its source topics). Sub-topologies are split
// at repartition topics; the sources of one sub-topology must have equal partition counts (co-partitioned).
struct Subtopology {
  int id = 0;
  std::vector<std::string> source_topics;  // user source topics and repartition topics it reads
  std::vector<std::size_t> sources;        // indexes into Topology::sources
  std::vector<std::size_t> operators;      // indexes into Topology::operators (in their topological order)
  std::vector<std::size_t> sinks;          // indexes into Topology::sinks
  std::vector<std::size_t> tables;         // indexes into Topology::tables (their topics are in source_topics)
};

struct Topology {
  std::string application_id;
  std::string description;
  std::vector<SourceSpec> sources;
  std::vector<TableSpec> tables;
  std::vector<OperatorSpec> operators;  // in an order where every operator follows its inputs
  std::vector<SinkSpec> sinks;
  std::string dead_letter_topic;  // defaults to "<application_id>-dlq"
  std::vector<Subtopology> subtopologies;      // computed by parse_topology
  std::vector<InternalTopic> internal_topics;  // computed by parse_topology: repartition then changelog topics
};

// One problem in a topology file: the JSON pointer of the field and what is wrong and what would be valid.
// `pointer` is exact (RFC 6901, the file's own keys); values quoted in `message` are escaped and cut at
// core::kDisplayMaxBytes. to_string() is the form to print: control and bidi characters escaped in the pointer
// (each reference token cut at 128 bytes) and in the message (cut at 4 KiB), on one line.
struct ValidationError {
  std::string pointer;  // "" is the document root
  std::string message;
  std::string to_string() const;  // "/operators/3/window/size: \"5x\" is not a duration (e.g. 30s, 5m, 1h)"
};

// Parses and validates in full; returns the Topology or every error found (never only the first).
std::variant<Topology, std::vector<ValidationError>> parse_topology(const nlohmann::json& document);
// The same for a document that keeps its objects' key order (load_topology_file reads files this way): the
// fields of `map` and `select` then keep the order they were written in, which is the order they are
// computed and written in. nlohmann::json sorts object keys, so the overload above sees them alphabetically.
std::variant<Topology, std::vector<ValidationError>> parse_topology(const nlohmann::ordered_json& document);
// Reads a file, then parse_topology. A file named *.yaml or *.yml is read as YAML (core/yaml.hpp) into the same
// document, and each error's message ends with the YAML line of its node. A file that does not parse yields one
// error at pointer "" with the line and column of the syntax error.
std::variant<Topology, std::vector<ValidationError>> load_topology_file(const std::string& path);

std::string_view to_string(KeyFormat format) noexcept;
std::string_view to_string(ValueFormat format) noexcept;
std::string_view to_string(TimestampFormat format) noexcept;
std::string_view to_string(WindowType type) noexcept;
std::string_view to_string(AggregateFunction function) noexcept;
std::string_view to_string(EmitMode mode) noexcept;
std::string_view to_string(JoinType type) noexcept;
std::string_view to_string(InternalTopic::Kind kind) noexcept;

}  // namespace sluice::topology
