// The typed form of a topology file, and its parser/validator. A Topology is immutable once built; every
// field remembers the JSON pointer it came from so that later checks (e.g. missing topics at start-up) can
// name the offending field. See README.md "Topology reference" and topologies/sluice-topology.schema.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sluice/expr/expression.hpp"

namespace sluice::topology {

enum class KeyFormat : std::uint8_t { string, bytes, json };
enum class ValueFormat : std::uint8_t { json, string, bytes };
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

using OperatorBody = std::variant<FilterSpec, MapSpec, SelectSpec, FlatMapSpec, RekeySpec, RouteSpec, MergeSpec>;

struct OperatorSpec {
  std::string name;
  std::vector<std::string> inputs;  // references: a source, an operator, or "<route>.<branch>"
  OperatorBody body;
  std::string pointer;  // e.g. "/operators/3"

  // "filter", "map", ... (the JSON key that chose the operator type)
  std::string_view type_name() const noexcept;
};

struct SinkSpec {
  std::string name;  // defaults to "<from>-to-<topic>" when not written
  std::string from;
  std::string topic;
  KeyFormat key = KeyFormat::string;
  ValueFormat value = ValueFormat::json;
  std::string pointer;
};

struct Topology {
  std::string application_id;
  std::string description;
  std::vector<SourceSpec> sources;
  std::vector<OperatorSpec> operators;  // in an order where every operator follows its inputs
  std::vector<SinkSpec> sinks;
  std::string dead_letter_topic;  // defaults to "<application_id>-dlq"
};

// One problem in a topology file: the JSON pointer of the field and what is wrong and what would be valid.
struct ValidationError {
  std::string pointer;  // "" is the document root
  std::string message;
  std::string to_string() const;  // "/operators/3/window/size: \"5x\" is not a duration (e.g. 30s, 5m)"
};

// Parses and validates in full; returns the Topology or every error found (never only the first).
std::variant<Topology, std::vector<ValidationError>> parse_topology(const nlohmann::json& document);
// The same for a document that keeps its objects' key order (load_topology_file reads files this way): the
// fields of `map` and `select` then keep the order they were written in, which is the order they are
// computed and written in. nlohmann::json sorts object keys, so the overload above sees them alphabetically.
std::variant<Topology, std::vector<ValidationError>> parse_topology(const nlohmann::ordered_json& document);
// Reads a file, then parse_topology. A file that is not JSON yields one error at pointer "" with the
// line and column of the syntax error.
std::variant<Topology, std::vector<ValidationError>> load_topology_file(const std::string& path);

std::string_view to_string(KeyFormat format) noexcept;
std::string_view to_string(ValueFormat format) noexcept;
std::string_view to_string(TimestampFormat format) noexcept;

}  // namespace sluice::topology
