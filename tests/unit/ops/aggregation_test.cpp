// The aggregation functions (count, sum, min, max, avg, first, last) through the table aggregate, and through
// windows where accumulators merge (sessions) or are recomputed (sliding): types, nulls, errors that must leave
// no partial update, ties, overflow.
#include <gtest/gtest.h>

#include "stateful_harness.hpp"

using namespace sluice;
using namespace sluice::ops;
using namespace sluice::ops::testing;
using topology::AggregateFunction;
using topology::EmitMode;

namespace {

std::vector<topology::AggregationSpec> all_functions() {
  return {aggregation("n", AggregateFunction::count),     aggregation("c", AggregateFunction::count, "x"),
          aggregation("s", AggregateFunction::sum, "x"),  aggregation("lo", AggregateFunction::min, "x"),
          aggregation("hi", AggregateFunction::max, "x"), aggregation("m", AggregateFunction::avg, "x"),
          aggregation("f", AggregateFunction::first, "x"), aggregation("l", AggregateFunction::last, "x")};
}

StatefulHarness table(std::vector<topology::AggregationSpec> aggregations = all_functions()) {
  return StatefulHarness(make_aggregate(std::nullopt, std::move(aggregations), EmitMode::update));
}

core::Value with_x(core::Value x) {
  core::Value value = core::Value::object();
  value.set("x", std::move(x));
  return value;
}

}  // namespace

TEST(Aggregations, EveryFunctionOverIntegersDoublesAndNulls) {
  auto h = table();
  EXPECT_TRUE(h.feed("k", 5, R"({"x": 1})").ok());
  EXPECT_TRUE(h.feed("k", 3, R"({"x": 2.5})").ok());
  EXPECT_TRUE(h.feed("k", 7, R"({})").ok());  // missing: null, counted by count() only
  EXPECT_TRUE(h.feed("k", 4, R"({"x": null})").ok());
  h.commit();
  // first: the non-null value with the smallest event time (t=3); last: the largest (t=5; t=7 has no x).
  // Timestamp: the largest event time aggregated (7), even though that record had no x.
  EXPECT_EQ(h.take(),
            std::vector<std::string>{R"("k"|{"n":4,"c":2,"s":3.5,"lo":1,"hi":2.5,"m":1.75,"f":2.5,"l":1}|7)"});
}

TEST(Aggregations, IntegersStayIntegersAvgIsDouble) {
  auto h = table();
  EXPECT_TRUE(h.feed("k", 1, R"({"x": 1})").ok());
  EXPECT_TRUE(h.feed("k", 2, R"({"x": 2})").ok());
  h.commit();
  EXPECT_EQ(h.take(), std::vector<std::string>{R"("k"|{"n":2,"c":2,"s":3,"lo":1,"hi":2,"m":1.5,"f":1,"l":2}|2)"});
  EXPECT_TRUE(h.feed("k", 3, R"({"x": 3.0})").ok());  // one double makes the sum a double
  h.commit();
  EXPECT_EQ(h.take(), std::vector<std::string>{R"("k"|{"n":3,"c":3,"s":6.0,"lo":1,"hi":3.0,"m":2.0,"f":1,"l":3.0}|3)"});
}

TEST(Aggregations, NoNonNullInputGivesNullAndZeroCount) {
  auto h = table();
  EXPECT_TRUE(h.feed("k", 1, R"({"x": null})").ok());
  h.commit();
  EXPECT_EQ(h.take(), std::vector<std::string>{
                          R"("k"|{"n":1,"c":0,"s":null,"lo":null,"hi":null,"m":null,"f":null,"l":null}|1)"});
}

TEST(Aggregations, MinMaxOfStringsAreLexicographic) {
  auto h = table({aggregation("lo", AggregateFunction::min, "x"), aggregation("hi", AggregateFunction::max, "x")});
  for (const char* text : {"pear", "apple", "plum", "Zebra"}) {
    EXPECT_TRUE(h.feed(str("k"), 1, with_x(str(text))).ok());
  }
  h.commit();
  EXPECT_EQ(h.take(), std::vector<std::string>{R"("k"|{"lo":"Zebra","hi":"plum"}|1)"});
}

TEST(Aggregations, WrongTypesAreTypeErrorsWithoutPartialUpdate) {
  auto h = table();
  EXPECT_TRUE(h.feed("k", 1, R"({"x": 5})").ok());
  h.commit();
  h.take();

  // sum/avg of a string: rejected before any state is read.
  auto sum_of_string = h.feed("k", 2, R"({"x": "7"})");
  ASSERT_FALSE(sum_of_string.ok());
  EXPECT_EQ(sum_of_string.error().kind, core::RecordErrorKind::type_error);
  EXPECT_NE(sum_of_string.error().message.find("sum(x)"), std::string::npos) << sum_of_string.error().message;

  // min/max of a boolean: neither number nor string.
  auto min_of_bool = table({aggregation("lo", AggregateFunction::min, "x")}).feed("k", 1, R"({"x": true})");
  ASSERT_FALSE(min_of_bool.ok());
  EXPECT_EQ(min_of_bool.error().kind, core::RecordErrorKind::type_error);

  // The failed record changed nothing: not count(), not the timestamp, and no update is pending for it.
  h.commit();
  EXPECT_TRUE(h.take().empty());
  EXPECT_TRUE(h.feed("k", 3, R"({"x": 1})").ok());
  h.commit();
  EXPECT_EQ(h.take(), std::vector<std::string>{R"("k"|{"n":2,"c":2,"s":6,"lo":1,"hi":5,"m":3.0,"f":5,"l":1}|3)"});
}

TEST(Aggregations, MinMaxMixingNumbersAndStringsIsATypeErrorWithoutPartialUpdate) {
  // count() first, so a partial update would show in n.
  auto h = table({aggregation("n", AggregateFunction::count), aggregation("lo", AggregateFunction::min, "x"),
                  aggregation("hi", AggregateFunction::max, "y")});
  EXPECT_TRUE(h.feed("k", 1, R"({"x": 1, "y": "b"})").ok());
  auto mixed = h.feed("k", 2, R"({"x": 0, "y": 3})");  // x fine (and smaller), y mixes a number into strings
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.error().kind, core::RecordErrorKind::type_error);
  EXPECT_EQ(mixed.error().message, "max(y) cannot compare integer with string");
  h.commit();
  EXPECT_EQ(h.take(), std::vector<std::string>{R"("k"|{"n":1,"lo":1,"hi":"b"}|1)"});
}

TEST(Aggregations, IntegerSumOverflowIsArithmeticErrorWithoutPartialUpdate) {
  auto h = table({aggregation("n", AggregateFunction::count), aggregation("s", AggregateFunction::sum, "x")});
  EXPECT_TRUE(h.feed(str("k"), 1, with_x(core::Value::integer(INT64_MAX))).ok());
  auto overflow = h.feed(str("k"), 2, with_x(core::Value::integer(1)));
  ASSERT_FALSE(overflow.ok());
  EXPECT_EQ(overflow.error().kind, core::RecordErrorKind::arithmetic);
  EXPECT_EQ(overflow.error().message, "integer overflow in sum(x)");
  EXPECT_TRUE(h.feed(str("k"), 3, with_x(core::Value::integer(-1))).ok());
  h.commit();
  EXPECT_EQ(h.take(), std::vector<std::string>{R"("k"|{"n":2,"s":9223372036854775806}|3)"});
  // A double involved: no integer overflow, the sum becomes a double.
  EXPECT_TRUE(h.feed(str("k"), 4, with_x(core::Value::floating(1.0))).ok());
  h.commit();
  EXPECT_EQ(h.take(), std::vector<std::string>{R"("k"|{"n":3,"s":9223372036854775808.0}|4)"});
}

TEST(Aggregations, FirstAndLastTiesGoToFirstAndLastArrival) {
  auto h = table({aggregation("f", AggregateFunction::first, "x"), aggregation("l", AggregateFunction::last, "x")});
  EXPECT_TRUE(h.feed("k", 5, R"({"x": "one"})").ok());
  EXPECT_TRUE(h.feed("k", 5, R"({"x": "two"})").ok());
  EXPECT_TRUE(h.feed("k", 5, R"({"x": "three"})").ok());
  h.commit();
  EXPECT_EQ(h.take(), std::vector<std::string>{R"("k"|{"f":"one","l":"three"}|5)"});
  // Out of order: event time decides, not arrival.
  EXPECT_TRUE(h.feed("k", 9, R"({"x": "late-time"})").ok());
  EXPECT_TRUE(h.feed("k", 1, R"({"x": "early-time"})").ok());
  EXPECT_TRUE(h.feed("k", 6, R"({"x": null})").ok());
  h.commit();
  EXPECT_EQ(h.take(), std::vector<std::string>{R"("k"|{"f":"early-time","l":"late-time"}|9)"});
}

TEST(Aggregations, FirstAndLastKeepAnyValueType) {
  auto h = table({aggregation("f", AggregateFunction::first, "x"), aggregation("l", AggregateFunction::last, "x")});
  EXPECT_TRUE(h.feed("k", 1, R"({"x": {"a": [1, 2.5, "s", true, null]}})").ok());
  EXPECT_TRUE(h.feed("k", 2, R"({"x": [false]})").ok());
  h.commit();
  EXPECT_EQ(h.take(), std::vector<std::string>{R"("k"|{"f":{"a":[1,2.5,"s",true,null]},"l":[false]}|2)"});
}

TEST(Aggregations, TableKeepsOneEntryPerKeyAndEmitsInKeyOrder) {
  auto h = table({aggregation("n", AggregateFunction::count)});
  EXPECT_TRUE(h.feed(str("b"), 1, core::Value::object()).ok());
  EXPECT_TRUE(h.feed(core::Value::integer(7), 2, core::Value::object()).ok());
  EXPECT_TRUE(h.feed(str("7"), 3, core::Value::object()).ok());  // a string "7" is another key than the number 7
  EXPECT_TRUE(h.feed(str("b"), 4, core::Value::object()).ok());
  h.commit();
  // Keys in the byte order of their JSON text: "\"7\"" < "\"b\"" < "7".
  EXPECT_EQ(h.take(), (std::vector<std::string>{R"("7"|{"n":1}|3)", R"("b"|{"n":2}|4)", R"(7|{"n":1}|2)"}));
  EXPECT_EQ(h.entries(0), 3u);
  h.advance_to(1'000'000'000);  // tables never expire
  EXPECT_EQ(h.entries(0), 3u);
}

TEST(Aggregations, NullKeyIsMissingField) {
  auto h = table();
  auto result = h.feed(core::Value(), 1, core::Value::object());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind, core::RecordErrorKind::missing_field);
  EXPECT_EQ(h.total_entries(), 0u);
}

TEST(Aggregations, ExpressionErrorsDeadLetterTheRecord) {
  auto h = table({aggregation("s", AggregateFunction::sum, "x * 2")});
  auto result = h.feed("k", 1, R"({"x": "a"})");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind, core::RecordErrorKind::type_error);
  EXPECT_EQ(h.total_entries(), 0u);
}

TEST(Aggregations, HoppingTypeErrorInOneWindowUpdatesNoWindow) {
  auto h = StatefulHarness(make_aggregate(hopping(10, 5, 100), {aggregation("lo", AggregateFunction::min, "x")},
                                          EmitMode::final));
  EXPECT_TRUE(h.feed("k", 1, R"({"x": "s"})").ok());  // windows [-5, 5) and [0, 10)
  ASSERT_EQ(h.entries(0), 2u);
  // Windows [0, 10) (holds a string: error) and [5, 15) (empty: would accept). Neither may change.
  auto mixed = h.feed("k", 6, R"({"x": 2})");
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.error().kind, core::RecordErrorKind::type_error);
  EXPECT_EQ(h.entries(0), 2u);
  EXPECT_EQ(h.entries(1), 2u);
  h.advance_to(1000);
  EXPECT_EQ(h.take(), (std::vector<std::string>{R"("k"|{"window_start":-5,"window_end":5,"lo":"s"}|1)",
                                                R"("k"|{"window_start":0,"window_end":10,"lo":"s"}|1)"}));
}

TEST(Aggregations, SessionMergeCombinesAccumulators) {
  auto h = StatefulHarness(make_aggregate(session(10, 100), all_functions(), EmitMode::final));
  EXPECT_TRUE(h.feed("k", 0, R"({"x": 4})").ok());
  EXPECT_TRUE(h.feed("k", 20, R"({"x": 1.5})").ok());
  EXPECT_TRUE(h.feed("k", 20, R"({"x": 8})").ok());  // tie at 20: last() takes the later arrival
  EXPECT_TRUE(h.feed("k", 10, R"({"x": null})").ok());  // bridges [0,0] and [20,20]
  EXPECT_EQ(h.entries(0), 1u);
  h.advance_to(1000);
  EXPECT_EQ(h.take(),
            std::vector<std::string>{R"("k"|{"window_start":0,"window_end":20,)"
                                     R"("n":4,"c":3,"s":13.5,"lo":1.5,"hi":8,"m":4.5,"f":4,"l":8}|20)"});
}

TEST(Aggregations, SessionMergeTypeErrorLeavesBothSessions) {
  auto h = StatefulHarness(make_aggregate(session(10, 100), {aggregation("n", AggregateFunction::count),
                                                             aggregation("lo", AggregateFunction::min, "x")},
                                          EmitMode::final));
  EXPECT_TRUE(h.feed("k", 0, R"({"x": "s"})").ok());
  EXPECT_TRUE(h.feed("k", 20, R"({"x": 1})").ok());
  auto bridge = h.feed("k", 10, R"({})");  // merging a string min with a number min
  ASSERT_FALSE(bridge.ok());
  EXPECT_EQ(bridge.error().kind, core::RecordErrorKind::type_error);
  EXPECT_EQ(h.entries(0), 2u);
  EXPECT_EQ(h.entries(1), 2u);
  h.advance_to(1000);
  EXPECT_EQ(h.take(), (std::vector<std::string>{R"("k"|{"window_start":0,"window_end":0,"n":1,"lo":"s"}|0)",
                                                R"("k"|{"window_start":20,"window_end":20,"n":1,"lo":1}|20)"}));
}

TEST(Aggregations, SlidingTypeErrorStoresNothing) {
  auto h = StatefulHarness(make_aggregate(sliding(10, 100), {aggregation("lo", AggregateFunction::min, "x")},
                                          EmitMode::final));
  EXPECT_TRUE(h.feed("k", 0, R"({"x": "s"})").ok());
  auto mixed = h.feed("k", 5, R"({"x": 1})");  // window [-5, 5] holds both
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.error().kind, core::RecordErrorKind::type_error);
  EXPECT_EQ(h.entries(0), 1u);  // raw records
  EXPECT_EQ(h.entries(1), 1u);  // window index
  // A number far enough away shares no window with the string: accepted.
  EXPECT_TRUE(h.feed("k", 11, R"({"x": 1})").ok());
}
