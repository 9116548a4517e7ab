// Window boundaries, grace and lateness, emit modes (final once per window; update compacted per commit, with
// the early flush), idle closing and state expiry, for tumbling, hopping, sliding and session windows.
#include <gtest/gtest.h>

#include "stateful_harness.hpp"

using namespace sluice;
using namespace sluice::ops;
using namespace sluice::ops::testing;
using topology::AggregateFunction;
using topology::EmitMode;
using Outputs = std::vector<std::string>;

namespace {

StatefulHarness windowed(topology::WindowSpec window, EmitMode emit = EmitMode::final, std::size_t limit = 10'000) {
  return StatefulHarness(make_aggregate(window, count_only(), emit, limit));
}

std::string out(const std::string& key, std::int64_t start, std::int64_t end, std::int64_t count,
                std::int64_t timestamp) {
  return "\"" + key + "\"|{\"window_start\":" + std::to_string(start) + ",\"window_end\":" + std::to_string(end) +
         ",\"n\":" + std::to_string(count) + "}|" + std::to_string(timestamp);
}

void expect_late(const core::Result<Disposition>& result) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind, core::RecordErrorKind::late);
}

}  // namespace

// ---- tumbling ----

TEST(Tumbling, StartInclusiveEndExclusive) {
  auto h = windowed(tumbling(10));
  EXPECT_TRUE(h.feed("a", 0).ok());  // start
  EXPECT_TRUE(h.feed("a", 9).ok());  // end - 1
  EXPECT_TRUE(h.take().empty());
  EXPECT_TRUE(h.feed("a", 10).ok());  // end: the next window; stream time 10 closes [0, 10)
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 10, 2, 9)});
  h.advance_to(19);
  EXPECT_TRUE(h.take().empty());
  h.advance_to(20);
  EXPECT_EQ(h.take(), Outputs{out("a", 10, 20, 1, 10)});
  EXPECT_EQ(h.total_entries(), 0u);
}

TEST(Tumbling, NegativeTimesUseFloorDivision) {
  auto h = windowed(tumbling(10));
  EXPECT_TRUE(h.feed("a", -11).ok());  // [-20, -10)
  EXPECT_TRUE(h.feed("a", -10).ok());  // [-10, 0); closes [-20, -10)
  EXPECT_EQ(h.take(), Outputs{out("a", -20, -10, 1, -11)});
  EXPECT_TRUE(h.feed("a", -1).ok());  // [-10, 0)
  h.advance_to(0);
  EXPECT_EQ(h.take(), Outputs{out("a", -10, 0, 2, -1)});
}

TEST(Tumbling, OutputFormatKeyTypesAndTimestamp) {
  auto h = StatefulHarness(make_aggregate(
      tumbling(10),
      {aggregation("total", AggregateFunction::sum, "amount"), aggregation("n", AggregateFunction::count)},
      EmitMode::final));
  EXPECT_TRUE(h.feed(core::Value::integer(7), 5, json_value(R"({"amount": 2})")).ok());
  EXPECT_TRUE(h.feed(core::Value::integer(7), 3, json_value(R"({"amount": 3})")).ok());
  EXPECT_TRUE(h.feed(json_value(R"({"id": [1, "x"]})"), 1, json_value(R"({"amount": 1.5})")).ok());
  EXPECT_TRUE(h.feed(core::Value::floating(2.0), 1, json_value(R"({})")).ok());
  h.advance_to(10);
  auto records = h.take_records();
  ASSERT_EQ(records.size(), 3u);
  // Keys come back with their types (ordered by the key's JSON text: "2.0" < "7" < "{...}").
  EXPECT_EQ(describe(records[0]), R"(2.0|{"window_start":0,"window_end":10,"total":null,"n":1}|1)");
  EXPECT_EQ(describe(records[1]), R"(7|{"window_start":0,"window_end":10,"total":5,"n":2}|5)");
  EXPECT_EQ(describe(records[2]), R"({"id":[1,"x"]}|{"window_start":0,"window_end":10,"total":1.5,"n":1}|1)");
  EXPECT_TRUE(records[0].key.is_floating());
  EXPECT_TRUE(records[0].headers.empty());
}

TEST(Tumbling, GraceJustInsideUpdatesJustBeyondIsLate) {
  auto h = windowed(tumbling(10, 5));
  EXPECT_TRUE(h.feed("a", 1).ok());
  EXPECT_TRUE(h.feed("a", 14).ok());  // stream time 14 < 10 + 5: [0, 10) still open
  EXPECT_TRUE(h.feed("a", 9).ok());   // just inside grace: updates [0, 10)
  EXPECT_TRUE(h.take().empty());
  EXPECT_TRUE(h.feed("a", 15).ok());  // stream time 15 = end + grace: [0, 10) closes
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 10, 2, 9)});
  auto late = h.feed("a", 9);  // just beyond grace
  expect_late(late);
  EXPECT_EQ(late.error().message,
            "late record: event time 9 belongs to window [0, 10) that closed at window end 10 + grace 5; "
            "stream time is 15");
  EXPECT_EQ(h.entries(0), 1u);  // only [10, 20): the late record did not recreate [0, 10)
  h.advance_to(100);
  EXPECT_EQ(h.take(), Outputs{out("a", 10, 20, 2, 15)});
}

TEST(Tumbling, FinalEmitsExactlyOnceWhenStreamTimeReachesEndPlusGrace) {
  auto h = windowed(tumbling(10, 5));
  EXPECT_TRUE(h.feed("a", 3).ok());
  h.advance_to(14);
  EXPECT_TRUE(h.take().empty());
  h.advance_to(15);
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 10, 1, 3)});
  h.advance_to(100);
  h.commit();
  EXPECT_TRUE(h.take().empty());
  EXPECT_TRUE(h.feed("b", 200).ok());
  EXPECT_TRUE(h.take().empty());
}

TEST(Tumbling, FinalOrderIsWindowEndThenKey) {
  auto h = windowed(tumbling(10));
  EXPECT_TRUE(h.feed("b", 1).ok());
  EXPECT_TRUE(h.feed("c", 12).ok());  // closes [0, 10)
  EXPECT_EQ(h.take(), Outputs{out("b", 0, 10, 1, 1)});
  EXPECT_TRUE(h.feed("c", 25).ok());  // closes [10, 20)
  EXPECT_TRUE(h.feed("b", 21).ok());
  EXPECT_TRUE(h.feed("a", 29).ok());
  h.advance_to(30);
  EXPECT_EQ(h.take(), (Outputs{out("c", 10, 20, 1, 12), out("a", 20, 30, 1, 29), out("b", 20, 30, 1, 21),
                               out("c", 20, 30, 1, 25)}));
}

TEST(Tumbling, OrderWithinOneClosingIsEndThenKey) {
  auto h = windowed(tumbling(10, 100));
  EXPECT_TRUE(h.feed("b", 15).ok());
  EXPECT_TRUE(h.feed("b", 5).ok());
  EXPECT_TRUE(h.feed("a", 16).ok());
  EXPECT_TRUE(h.feed("a", 6).ok());
  h.advance_to(1000);
  EXPECT_EQ(h.take(), (Outputs{out("a", 0, 10, 1, 6), out("b", 0, 10, 1, 5), out("a", 10, 20, 1, 16),
                               out("b", 10, 20, 1, 15)}));
}

TEST(Tumbling, UpdateCompactsPerCommit) {
  auto h = windowed(tumbling(10), EmitMode::update);
  EXPECT_TRUE(h.feed("a", 1).ok());
  EXPECT_TRUE(h.feed("a", 2).ok());
  EXPECT_TRUE(h.take().empty());  // nothing before the commit
  h.commit();
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 10, 2, 2)});  // two updates, one output with the latest value
  h.commit();
  EXPECT_TRUE(h.take().empty());
  EXPECT_TRUE(h.feed("a", 3).ok());
  EXPECT_TRUE(h.feed("b", 15).ok());
  EXPECT_TRUE(h.feed("a", 12).ok());
  h.commit();
  // Ordered by window end, then key; [0, 10) closed in between but its buffered update is still emitted.
  EXPECT_EQ(h.take(), (Outputs{out("a", 0, 10, 3, 3), out("a", 10, 20, 1, 12), out("b", 10, 20, 1, 15)}));
}

TEST(Tumbling, UpdateBufferedBeforeCloseIsStillEmittedAtCommit) {
  auto h = windowed(tumbling(10), EmitMode::update);
  EXPECT_TRUE(h.feed("a", 3).ok());
  EXPECT_TRUE(h.feed("a", 12).ok());  // closes [0, 10): its state goes, its pending update stays
  EXPECT_EQ(h.entries(0), 1u);
  EXPECT_EQ(h.entries(1), 1u);
  h.commit();
  EXPECT_EQ(h.take(), (Outputs{out("a", 0, 10, 1, 3), out("a", 10, 20, 1, 12)}));
  expect_late(h.feed("a", 4));
  h.advance_to(20);
  EXPECT_EQ(h.total_entries(), 0u);
  h.commit();
  EXPECT_TRUE(h.take().empty());
}

TEST(Tumbling, UpdateFlushesEarlyBeyondTheBufferLimit) {
  auto h = windowed(tumbling(10), EmitMode::update, 2);
  EXPECT_TRUE(h.feed("b", 1).ok());
  EXPECT_TRUE(h.feed("a", 1).ok());
  EXPECT_TRUE(h.feed("a", 2).ok());  // compacts: still two buffered
  EXPECT_TRUE(h.take().empty());
  EXPECT_TRUE(h.feed("c", 1).ok());  // three > limit 2: everything goes, in order
  EXPECT_EQ(h.take(), (Outputs{out("a", 0, 10, 2, 2), out("b", 0, 10, 1, 1), out("c", 0, 10, 1, 1)}));
  EXPECT_TRUE(h.feed("a", 3).ok());
  EXPECT_TRUE(h.take().empty());
  h.commit();
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 10, 3, 3)});
}

TEST(Tumbling, IdleAdvanceClosesWindows) {
  auto h = windowed(tumbling(10, 5));
  EXPECT_TRUE(h.feed("a", 1).ok());
  h.advance_to(14);
  EXPECT_TRUE(h.take().empty());
  h.advance_to(1000);  // no records: the runtime advances stream time with the wall clock
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 10, 1, 1)});
  EXPECT_EQ(h.total_entries(), 0u);
}

TEST(Tumbling, OnTimeBeforeAnyRecordDoesNothing) {
  auto h = windowed(tumbling(10));
  h.advance_to(INT64_MIN);
  h.commit();
  EXPECT_TRUE(h.take().empty());
}

TEST(Tumbling, StateIsDeletedAfterCloseAcrossCommits) {
  for (EmitMode emit : {EmitMode::final, EmitMode::update}) {
    auto h = windowed(tumbling(10, 3), emit);
    for (int t = 0; t < 50; t += 3) {
      EXPECT_TRUE(h.feed(t % 2 == 0 ? "a" : "b", t).ok());
      if (t % 9 == 0) h.commit();
    }
    EXPECT_GT(h.total_entries(), 0u);
    h.advance_to(60);
    h.commit();
    EXPECT_EQ(h.total_entries(), 0u);
  }
}

TEST(Tumbling, NullKeyIsMissingField) {
  auto h = windowed(tumbling(10));
  auto result = h.feed(core::Value(), 1, core::Value::object());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind, core::RecordErrorKind::missing_field);
}

// ---- hopping ----

TEST(Hopping, EveryWindowContainingTheRecord) {
  auto h = windowed(hopping(10, 5));
  EXPECT_TRUE(h.feed("a", 4).ok());   // [-5, 5), [0, 10)
  EXPECT_TRUE(h.feed("a", 5).ok());   // [0, 10), [5, 15): start of one, inside the other
  EXPECT_TRUE(h.feed("a", 9).ok());   // [0, 10), [5, 15): end - 1
  EXPECT_TRUE(h.feed("a", 10).ok());  // [5, 15), [10, 20): 10 is outside [0, 10); closes [-5, 5) and [0, 10)
  EXPECT_EQ(h.take(), (Outputs{out("a", -5, 5, 1, 4), out("a", 0, 10, 3, 9)}));
  h.advance_to(100);
  EXPECT_EQ(h.take(), (Outputs{out("a", 5, 15, 3, 10), out("a", 10, 20, 1, 10)}));
  EXPECT_EQ(h.total_entries(), 0u);
}

TEST(Hopping, PartlyClosedRecordUpdatesOnlyOpenWindows) {
  auto h = windowed(hopping(10, 5));
  EXPECT_TRUE(h.feed("a", 12).ok());  // stream time 12
  auto partly = h.feed("a", 7);       // [0, 10) closed (ignored), [5, 15) open: not an error
  ASSERT_TRUE(partly.ok());
  EXPECT_EQ(partly.value(), Disposition::forwarded);
  auto late = h.feed("a", 3);  // [-5, 5) and [0, 10) both closed
  expect_late(late);
  EXPECT_EQ(late.error().message,
            "late record: event time 3 belongs to window [0, 10) that closed at window end 10 + grace 0; "
            "stream time is 12");
  h.advance_to(100);
  EXPECT_EQ(h.take(), (Outputs{out("a", 5, 15, 2, 12), out("a", 10, 20, 1, 12)}));
}

TEST(Hopping, GraceAppliesPerWindow) {
  auto h = windowed(hopping(10, 5, 2));
  EXPECT_TRUE(h.feed("a", 11).ok());  // stream time 11: [0, 10) open until 12
  EXPECT_TRUE(h.feed("a", 6).ok());   // [0, 10) and [5, 15)
  EXPECT_TRUE(h.feed("a", 12).ok());  // closes [0, 10)
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 10, 1, 6)});
  EXPECT_TRUE(h.feed("a", 6).ok());  // only [5, 15) now
  h.advance_to(100);
  EXPECT_EQ(h.take(), (Outputs{out("a", 5, 15, 4, 12), out("a", 10, 20, 2, 12)}));
}

// ---- sliding ----

TEST(Sliding, BothEndsInclusive) {
  auto h = windowed(sliding(10));
  EXPECT_TRUE(h.feed("a", 0).ok());   // window [-10, 0]
  EXPECT_TRUE(h.feed("a", 10).ok());  // window [0, 10] holds 0 (= t - size) and 10; closes [-10, 0]
  EXPECT_EQ(h.take(), Outputs{out("a", -10, 0, 1, 0)});
  EXPECT_TRUE(h.feed("a", 11).ok());  // window [1, 11] holds 10 and 11, not 0; closes [0, 10]
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 10, 2, 10)});
  h.advance_to(11);
  EXPECT_TRUE(h.take().empty());  // closed only once stream time > end + grace
  h.advance_to(12);
  EXPECT_EQ(h.take(), Outputs{out("a", 1, 11, 2, 11)});
}

TEST(Sliding, OutOfOrderRecordUpdatesLaterWindows) {
  auto h = windowed(sliding(10, 100), EmitMode::update);
  EXPECT_TRUE(h.feed("a", 0).ok());
  EXPECT_TRUE(h.feed("a", 20).ok());
  h.commit();
  EXPECT_EQ(h.take(), (Outputs{out("a", -10, 0, 1, 0), out("a", 10, 20, 1, 20)}));
  EXPECT_TRUE(h.feed("a", 15).ok());  // creates [5, 15]; updates [10, 20]
  h.commit();
  EXPECT_EQ(h.take(), (Outputs{out("a", 5, 15, 1, 15), out("a", 10, 20, 2, 20)}));
  EXPECT_TRUE(h.feed("a", 10).ok());  // creates [0, 10] (holds 0); updates [5, 15] and [10, 20] (10 = 20 - size)
  h.commit();
  EXPECT_EQ(h.take(), (Outputs{out("a", 0, 10, 2, 10), out("a", 5, 15, 2, 15), out("a", 10, 20, 3, 20)}));
}

TEST(Sliding, SameTimestampSharesOneWindow) {
  auto h = windowed(sliding(10), EmitMode::update);
  EXPECT_TRUE(h.feed("a", 5).ok());
  EXPECT_TRUE(h.feed("a", 5).ok());
  h.commit();
  EXPECT_EQ(h.take(), Outputs{out("a", -5, 5, 2, 5)});
  EXPECT_EQ(h.entries(0), 2u);  // two raw records
  EXPECT_EQ(h.entries(1), 1u);  // one window
}

TEST(Sliding, GraceAndLateness) {
  auto h = windowed(sliding(10, 5));
  EXPECT_TRUE(h.feed("a", 20).ok());
  EXPECT_TRUE(h.feed("a", 15).ok());  // window [5, 15] closes once stream time > 15 + 5: open at 20
  auto late = h.feed("a", 14);        // 14 + 5 < 20
  expect_late(late);
  EXPECT_EQ(late.error().message,
            "late record: event time 14 belongs to sliding window [4, 14] that closed at window end 14 + grace 5; "
            "stream time is 20");
  h.advance_to(100);
  EXPECT_EQ(h.take(), (Outputs{out("a", 5, 15, 1, 15), out("a", 10, 20, 2, 20)}));
}

TEST(Sliding, RawRecordsExpireExactlyWhenNoOpenWindowCanUseThem) {
  auto h = windowed(sliding(10, 5));
  EXPECT_TRUE(h.feed("a", 0).ok());
  h.advance_to(5);
  EXPECT_TRUE(h.take().empty());
  h.advance_to(6);  // 6 > 0 + grace 5: window [-10, 0] closes
  EXPECT_EQ(h.take(), Outputs{out("a", -10, 0, 1, 0)});
  h.advance_to(15);  // raw record 0 must stay: a record at 10 is not late (10 + 5 >= 15) and its window holds 0
  EXPECT_EQ(h.entries(0), 1u);
  EXPECT_TRUE(h.feed("a", 10).ok());
  EXPECT_EQ(h.entries(0), 2u);
  h.advance_to(16);  // 0 + size 10 + grace 5 < 16: raw record 0 goes, record 10 stays
  EXPECT_EQ(h.entries(0), 1u);
  EXPECT_EQ(h.entries(2), 1u);
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 10, 2, 10)});  // window 10 closed at 16 too (16 > 10 + 5)
  h.advance_to(25);
  EXPECT_EQ(h.entries(0), 1u);
  h.advance_to(26);
  EXPECT_EQ(h.total_entries(), 0u);
}

TEST(Sliding, UpdateModeDeletesClosedWindowsAndRawRecords) {
  auto h = windowed(sliding(10, 2), EmitMode::update);
  for (int t = 0; t < 40; t += 3) EXPECT_TRUE(h.feed(t % 2 ? "a" : "b", t).ok());
  h.commit();
  h.take();
  h.advance_to(39 + 10 + 2 + 1);
  h.commit();
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.total_entries(), 0u);
}

// ---- session ----

TEST(Session, JoinsAtEndPlusGapNewSessionOneBeyond) {
  auto h = windowed(session(10));
  EXPECT_TRUE(h.feed("a", 0).ok());
  EXPECT_TRUE(h.feed("a", 10).ok());  // end + gap: joins -> [0, 10]
  EXPECT_TRUE(h.take().empty());
  EXPECT_TRUE(h.feed("a", 21).ok());  // end + gap + 1: a new session; stream time 21 > 10 + 10 closes [0, 10]
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 10, 2, 10)});
  h.advance_to(31);
  EXPECT_TRUE(h.take().empty());
  h.advance_to(32);
  EXPECT_EQ(h.take(), Outputs{out("a", 21, 21, 1, 21)});
  EXPECT_EQ(h.total_entries(), 0u);
}

TEST(Session, JoinsAtStartMinusGap) {
  auto h = windowed(session(10, 20));
  EXPECT_TRUE(h.feed("a", 30).ok());
  EXPECT_TRUE(h.feed("a", 20).ok());  // start - gap: joins -> [20, 30]
  EXPECT_TRUE(h.feed("a", 9).ok());   // start - gap - 1: a new session [9, 9]
  EXPECT_EQ(h.entries(0), 2u);
  h.advance_to(1000);
  EXPECT_EQ(h.take(), (Outputs{out("a", 9, 9, 1, 9), out("a", 20, 30, 2, 30)}));
}

TEST(Session, BridgingRecordMergesSessions) {
  auto h = windowed(session(10, 100), EmitMode::update);
  EXPECT_TRUE(h.feed("a", 0).ok());
  EXPECT_TRUE(h.feed("a", 20).ok());
  h.commit();
  EXPECT_EQ(h.take(), (Outputs{out("a", 0, 0, 1, 0), out("a", 20, 20, 1, 20)}));
  EXPECT_TRUE(h.feed("a", 10).ok());
  EXPECT_EQ(h.entries(0), 1u);
  // The index is lazy: the merged-away session's entry stays until it comes due, and is dropped then.
  EXPECT_EQ(h.entries(1), 2u);
  h.commit();
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 20, 3, 20)});
  // Within one commit the merged-away sessions produce no output at all.
  EXPECT_TRUE(h.feed("b", 0).ok());
  EXPECT_TRUE(h.feed("b", 20).ok());
  EXPECT_TRUE(h.feed("b", 40).ok());
  EXPECT_TRUE(h.feed("b", 30).ok());
  EXPECT_TRUE(h.feed("b", 10).ok());
  h.commit();
  EXPECT_EQ(h.take(), Outputs{out("b", 0, 40, 5, 40)});
  // Once every session has closed, no state and no index entry (stale or not) is left.
  h.advance_to(40 + 10 + 100 + 1);
  EXPECT_EQ(h.total_entries(), 0u);
}

TEST(Session, FinalEmitsOnlyTheMergedSession) {
  auto h = windowed(session(10, 5));
  EXPECT_TRUE(h.feed("a", 0).ok());
  EXPECT_TRUE(h.feed("a", 12).ok());
  EXPECT_TRUE(h.feed("a", 6).ok());
  h.advance_to(12 + 10 + 5);
  EXPECT_TRUE(h.take().empty());
  h.advance_to(12 + 10 + 5 + 1);
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 12, 3, 12)});
  EXPECT_EQ(h.total_entries(), 0u);
}

TEST(Session, LateIffSessionOfTheRecordAloneWouldBeClosed) {
  auto h = windowed(session(10, 5));
  EXPECT_TRUE(h.feed("a", 100).ok());
  EXPECT_TRUE(h.feed("a", 85).ok());  // 85 + 10 + 5 = 100, not < 100: accepted (a new session [85, 85])
  auto late = h.feed("a", 84);        // 84 + 15 < 100
  expect_late(late);
  EXPECT_EQ(late.error().message,
            "late record: event time 84 belongs to session window [84, 84] (gap 10) that closed at window end 94 + "
            "grace 5; stream time is 100");
  h.advance_to(1000);
  EXPECT_EQ(h.take(), (Outputs{out("a", 85, 85, 1, 85), out("a", 100, 100, 1, 100)}));
}

TEST(Session, ClosedSessionIsNotReopenedByARecordWithinItsGap) {
  auto h = windowed(session(10));
  EXPECT_TRUE(h.feed("a", 0).ok());
  EXPECT_TRUE(h.feed("b", 15).ok());  // stream time 15 > 0 + 10: a's [0, 0] closes and is emitted
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 0, 1, 0)});
  // 8 + 10 >= 15: not late; it is within the gap of [0, 0], but that session is closed: a new session starts.
  EXPECT_TRUE(h.feed("a", 8).ok());
  h.advance_to(1000);
  EXPECT_EQ(h.take(), (Outputs{out("a", 8, 8, 1, 8), out("b", 15, 15, 1, 15)}));
}

TEST(Session, ClosedSessionNotYetPurgedIsNotJoined) {
  // on_time has not run since stream time passed [0, 0]'s close (the runtime may run it after a batch).
  auto h = windowed(session(10));
  EXPECT_TRUE(h.feed_without_time(str("a"), 0).ok());
  EXPECT_TRUE(h.feed_without_time(str("b"), 15).ok());
  EXPECT_TRUE(h.feed_without_time(str("a"), 8).ok());  // within the gap of the closed [0, 0]: a new session
  EXPECT_EQ(h.entries(0), 3u);
  h.tick();
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 0, 1, 0)});
  h.advance_to(1000);
  EXPECT_EQ(h.take(), (Outputs{out("a", 8, 8, 1, 8), out("b", 15, 15, 1, 15)}));
}

TEST(Tumbling, ClosedWindowNotYetPurgedIsNotUpdated) {
  auto h = windowed(tumbling(10));
  EXPECT_TRUE(h.feed_without_time(str("a"), 1).ok());
  EXPECT_TRUE(h.feed_without_time(str("a"), 11).ok());  // closes [0, 10), but on_time has not run yet
  expect_late(h.feed_without_time(str("a"), 2));         // the window's state is still there: still late
  h.tick();
  EXPECT_EQ(h.take(), Outputs{out("a", 0, 10, 1, 1)});
}

TEST(Session, UpdateModeDeletesClosedSessions) {
  auto h = windowed(session(5, 1), EmitMode::update);
  for (int t = 0; t < 60; t += 4) EXPECT_TRUE(h.feed(t % 3 ? "a" : "b", t).ok());
  h.commit();
  h.take();
  h.advance_to(56 + 5 + 1 + 1);
  EXPECT_EQ(h.total_entries(), 0u);
}
