// Internal to src/topology: typed reads of the fields of a topology document. Each read checks one value,
// reports what is wrong (at the value's JSON pointer) to the shared ErrorList and returns nullopt, so the
// parser can carry on and find the next error instead of stopping at the first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "diagnostics.hpp"
#include "sluice/expr/expression.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::topology::detail {

// Files are read keeping key order (see parse_topology), so all parsing works on ordered_json.
using Json = nlohmann::ordered_json;

class FieldReader {
 public:
  explicit FieldReader(ErrorList& errors) : errors_(errors) {}

  void error(std::string pointer, std::string message) { errors_.add(std::move(pointer), std::move(message)); }

  // The member `field` of `object`, or nullptr. `object` must be an object.
  static const Json* find(const Json& object, std::string_view field);
  // Like find, but reports `<pointer>: missing required field "<field>"` when absent.
  const Json* require(const Json& object, const std::string& pointer, std::string_view field);
  // Reports every member of `object` that is not in `valid`, listing the valid ones and, for a likely typo,
  // the closest one.
  void reject_unknown_fields(const Json& object, const std::string& pointer, const std::vector<std::string>& valid);

  bool expect_object(const Json& value, const std::string& pointer);
  bool expect_array(const Json& value, const std::string& pointer);
  std::optional<std::string> string(const Json& value, const std::string& pointer);
  // A non-empty string: field names of map and select, the `as` field of flat_map.
  std::optional<std::string> field_name(const Json& value, const std::string& pointer);

  // Names of sources, operators, route branches and sinks: [A-Za-z0-9_-]{1,100}. The dot is kept out of
  // names because "<route>.<branch>" references an output of a route operator.
  std::optional<std::string> name(const Json& value, const std::string& pointer);
  // Kafka topic names: [A-Za-z0-9._-]{1,249}, not "." or "..".
  std::optional<std::string> topic(const Json& value, const std::string& pointer);
  // The consumer group id and internal-topic prefix: [A-Za-z0-9._-]{1,200}.
  std::optional<std::string> application_id(const Json& value, const std::string& pointer);

  std::optional<expr::Expression> expression(const Json& value, const std::string& pointer);

  std::optional<KeyFormat> key_format(const Json& value, const std::string& pointer);
  std::optional<ValueFormat> value_format(const Json& value, const std::string& pointer);
  std::optional<TimestampFormat> timestamp_format(const Json& value, const std::string& pointer);

  std::optional<WindowType> window_type(const Json& value, const std::string& pointer);
  std::optional<EmitMode> emit_mode(const Json& value, const std::string& pointer);

  // Durations of stateful operators (window sizes, grace periods, dedupe intervals), e.g. "30s", "5m",
  // "1h30m": milliseconds, or nullopt after reporting `"5x" is not a duration (e.g. 30s, 5m, 1h)`.
  std::optional<std::int64_t> duration_ms(const Json& value, const std::string& pointer);

 private:
  ErrorList& errors_;
};

}  // namespace sluice::topology::detail
