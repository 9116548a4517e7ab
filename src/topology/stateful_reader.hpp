// Internal to src/topology: the fields of the keyed, stateful operators — aggregate (with its optional window,
// emit and idle_timeout) and dedupe. Like FieldReader, every read reports what is wrong at the value's JSON
// pointer and carries on, so that one pass finds every error of an operator.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "diagnostics.hpp"
#include "field_reader.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::topology::detail {

// Window durations longer than this are rejected: nobody means a window of more than a century, and the bound
// keeps window arithmetic on epoch milliseconds (start + size + grace, retention) far from overflow.
inline constexpr std::int64_t kMaxDurationMs = 36'500LL * 86'400'000LL;

class StatefulReader {
 public:
  StatefulReader(FieldReader& reader, ErrorList& errors) : reader_(reader), errors_(errors) {}

  // `op` is the operator object, which has an "aggregate" member; window, emit and idle_timeout are its
  // siblings. nullopt when anything of it has an error.
  std::optional<OperatorBody> aggregate(const Json& op, const std::string& pointer);
  // `dedupe` is the value of the operator's "dedupe" member, at `pointer`.
  std::optional<OperatorBody> dedupe(const Json& dedupe, const std::string& pointer);

  // One aggregation as written, "fn(expression)", for the output field `name`.
  std::optional<AggregationSpec> aggregation(const std::string& name, const Json& value, const std::string& pointer);
  std::optional<WindowSpec> window(const Json& window, const std::string& pointer);

  // A duration in (0, kMaxDurationMs], or [0, kMaxDurationMs] when `allow_zero` (also a join's within and grace).
  std::optional<std::int64_t> bounded_duration(const Json& value, const std::string& pointer, bool allow_zero);

 private:

  FieldReader& reader_;
  ErrorList& errors_;
};

}  // namespace sluice::topology::detail
