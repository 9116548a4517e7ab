// The private encodings of the stateful operators: order-preserving time keys, group keys, index keys, and the
// binary form of values and accumulators (round trips at the extremes; malformed bytes are rejected).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "../../../src/ops/accumulator.hpp"
#include "../../../src/ops/window.hpp"
#include "stateful_harness.hpp"

using namespace sluice;
using namespace sluice::ops::detail;
using sluice::ops::testing::aggregation;
using sluice::ops::testing::json_value;
using topology::AggregateFunction;

TEST(StateCodec, TimeKeysSortLikeTheNumbers) {
  const std::int64_t times[] = {INT64_MIN, INT64_MIN + 1, -1'000'000, -256, -1, 0, 1, 255, 256, 1'000'000,
                                INT64_MAX - 1, INT64_MAX};
  for (std::size_t i = 0; i < std::size(times); ++i) {
    std::string a;
    append_time(a, times[i]);
    ASSERT_EQ(a.size(), time_bytes);
    EXPECT_EQ(read_time(a), times[i]);
    if (i + 1 < std::size(times)) {
      std::string b;
      append_time(b, times[i + 1]);
      EXPECT_LT(a, b) << times[i] << " vs " << times[i + 1];
    }
  }
}

TEST(StateCodec, FloorDivisionAndSaturation) {
  EXPECT_EQ(floor_div(-1, 10), -1);
  EXPECT_EQ(floor_div(-10, 10), -1);
  EXPECT_EQ(floor_div(-11, 10), -2);
  EXPECT_EQ(floor_div(9, 10), 0);
  EXPECT_EQ(saturating_add(INT64_MAX, 1), INT64_MAX);
  EXPECT_EQ(saturating_sub(INT64_MIN, 1), INT64_MIN);
  EXPECT_EQ(closed_up_to(INT64_MIN, 0), std::nullopt);  // no record seen yet
  EXPECT_EQ(closed_up_to(INT64_MIN + 5, 10), std::nullopt);
  EXPECT_EQ(closed_up_to(100, 10), std::optional<std::int64_t>(90));
  EXPECT_EQ(times_up_to(INT64_MAX), "");
}

TEST(StateCodec, GroupKeysAreTerminatedJsonAndNeverPrefixesOfOneAnother) {
  std::string one, twelve;
  append_group_key(one, core::Value::integer(1));
  append_group_key(twelve, core::Value::integer(12));
  EXPECT_EQ(one, std::string("1\0", 2));
  EXPECT_NE(twelve.rfind(one, 0), 0u);  // "12\0" does not start with "1\0"
  const std::string end = group_key_end(one);
  std::string entry = one;
  append_time(entry, INT64_MAX);
  EXPECT_LT(entry, end);
  EXPECT_FALSE(twelve >= one && twelve < end);  // the range of key 1 excludes key 12

  std::string index;
  append_index_key(index, -5, one, 7);
  IndexKey parsed;
  ASSERT_TRUE(parse_index_key(index, parsed));
  EXPECT_EQ(parsed.time, -5);
  EXPECT_EQ(parsed.group_key, one);
  EXPECT_EQ(parsed.start, 7);
  EXPECT_FALSE(parse_index_key("short", parsed));
}

TEST(StateCodec, ValuesRoundTrip) {
  const core::Value values[] = {
      core::Value(),
      core::Value::boolean(true),
      core::Value::boolean(false),
      core::Value::integer(INT64_MIN),
      core::Value::integer(INT64_MAX),
      core::Value::integer(-1),
      core::Value::floating(-0.0),
      core::Value::floating(std::numeric_limits<double>::infinity()),
      core::Value::floating(1e-300),
      core::Value::string(""),
      core::Value::string(std::string("nul\0inside", 10)),
      json_value(R"({"a": [1, {"b": null}, "\u00e9"], "": 2.5})"),
  };
  for (const core::Value& value : values) {
    std::string bytes;
    append_value(value, bytes);
    std::string_view view = bytes;
    core::Value decoded;
    ASSERT_TRUE(read_value(view, decoded)) << core::to_json(value);
    EXPECT_TRUE(view.empty());
    EXPECT_EQ(decoded.type(), value.type());
    EXPECT_EQ(core::to_json(decoded), core::to_json(value));
    // The encoding is prefix-free: every truncation is malformed.
    for (std::size_t length = 0; length < bytes.size(); ++length) {
      std::string_view prefix(bytes.data(), length);
      core::Value ignored;
      EXPECT_FALSE(read_value(prefix, ignored)) << core::to_json(value) << " cut at " << length;
    }
  }
  std::string nan_encoded;
  append_value(core::Value::floating(std::nan("")), nan_encoded);
  std::string_view nan_bytes = nan_encoded;
  core::Value nan;
  ASSERT_TRUE(read_value(nan_bytes, nan));
  EXPECT_TRUE(std::isnan(nan.as_double()));
}

TEST(StateCodec, AccumulatorsRoundTripAndRejectMalformedBytes) {
  Aggregations aggregations({aggregation("n", AggregateFunction::count), aggregation("s", AggregateFunction::sum, "x"),
                             aggregation("lo", AggregateFunction::min, "x"),
                             aggregation("m", AggregateFunction::avg, "x"),
                             aggregation("f", AggregateFunction::first, "x"),
                             aggregation("l", AggregateFunction::last, "x")});
  Accumulator accumulator = aggregations.empty();
  ASSERT_TRUE(aggregations.add(accumulator, std::vector<core::Value>(6, core::Value::integer(-3)), -20).ok());
  ASSERT_TRUE(aggregations.add(accumulator, std::vector<core::Value>(6, core::Value::floating(0.25)), 40).ok());
  std::string bytes;
  aggregations.encode(accumulator, bytes);
  Accumulator decoded;
  ASSERT_TRUE(aggregations.decode(bytes, decoded));
  core::Object expected, actual;
  aggregations.append_results(accumulator, expected);
  aggregations.append_results(decoded, actual);
  EXPECT_EQ(core::to_json(core::Value::object(actual)), core::to_json(core::Value::object(expected)));
  EXPECT_EQ(core::to_json(core::Value::object(actual)), R"({"n":2,"s":-2.75,"lo":-3,"m":-1.375,"f":-3,"l":0.25})");
  EXPECT_EQ(decoded.max_time, 40);
  EXPECT_EQ(decoded.slots[4].time, -20);
  EXPECT_FALSE(aggregations.decode(bytes.substr(0, bytes.size() - 1), decoded));
  EXPECT_FALSE(aggregations.decode(bytes + "x", decoded));
}
