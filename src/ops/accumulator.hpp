// Private to ops: the aggregation functions of aggregate operators (count, sum, min, max, avg, first, last) as
// mergeable accumulators, and a compact binary encoding for keeping them (and raw aggregation inputs) in a
// state::Store. One Aggregations object per operator, immutable and shared by every task.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/record.hpp"
#include "sluice/core/result.hpp"
#include "sluice/core/value.hpp"
#include "sluice/expr/expression.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::ops::detail {

// The running state of one aggregation. Which fields mean something depends on the function.
struct AggregationSlot {
  std::int64_t count = 0;  // count: records (or non-null values) counted; avg: values summed
  double total = 0;        // avg: running sum as a double
  std::int64_t time = 0;   // first/last: event time of `value` (meaningful when value is not null)
  core::Value value;       // sum: running sum (null until the first value); min/max/first/last: the chosen value
};

// The aggregations of one group (a window of a key, or a table entry).
struct Accumulator {
  std::int64_t max_time = INT64_MIN;  // largest event time aggregated: the output record's timestamp
  std::vector<AggregationSlot> slots;  // one per aggregation, in the order written
};

class Aggregations {
 public:
  explicit Aggregations(std::vector<topology::AggregationSpec> specs);

  std::size_t size() const noexcept { return specs_.size(); }
  const std::vector<topology::AggregationSpec>& specs() const noexcept { return specs_; }

  // Evaluates each aggregation's argument for `record` (null for count()) into `arguments`, and rejects types
  // no state could accept (sum/avg of a non-number, min/max of something neither number nor string).
  [[nodiscard]] core::Status evaluate(const core::Record& record, expr::EvalContext& eval,
                                      std::vector<core::Value>& arguments) const;

  // An accumulator over no records.
  [[nodiscard]] Accumulator empty() const;
  void reset(Accumulator& accumulator) const;

  // Adds one record (its evaluated arguments and event time). All or nothing: on error (min/max mixing
  // numbers and strings, integer sum overflow) `accumulator` is unchanged. A record is the latest arrival:
  // it wins ties of last() and loses ties of first().
  [[nodiscard]] core::Status add(Accumulator& accumulator, const std::vector<core::Value>& arguments,
                                 std::int64_t time) const;
  // Merges `later` (records that arrived after those of `into`, for tie-breaking) into `into`. All or nothing.
  [[nodiscard]] core::Status merge(Accumulator& into, const Accumulator& later) const;

  // Appends one member per aggregation (name: result) to `out`.
  void append_results(const Accumulator& accumulator, core::Object& out) const;

  // Compact binary form of an accumulator; decode returns false on malformed input.
  void encode(const Accumulator& accumulator, std::string& out) const;
  [[nodiscard]] bool decode(std::string_view bytes, Accumulator& accumulator) const;

 private:
  std::vector<topology::AggregationSpec> specs_;
};

// Binary encoding of Values (raw aggregation inputs of sliding windows): tag byte + payload, varints.
void append_value(const core::Value& value, std::string& out);
// Reads one value from the front of `bytes`, advancing it; false on malformed input.
[[nodiscard]] bool read_value(std::string_view& bytes, core::Value& value);

// Zig-zag varints for signed integers (times, counts).
void append_varint(std::int64_t number, std::string& out);
[[nodiscard]] bool read_varint(std::string_view& bytes, std::int64_t& number);

}  // namespace sluice::ops::detail
