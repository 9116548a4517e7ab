// Dedupe: repeats inside and outside the span (by event time, in both directions), out-of-order records,
// expiry of remembered times, and a randomized comparison with a brute-force reference.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>

#include "stateful_harness.hpp"

using namespace sluice;
using namespace sluice::ops;
using namespace sluice::ops::testing;

namespace {

StatefulHarness dedupe(std::int64_t within) {
  return StatefulHarness(make_dedupe_operator("dedupe", topology::DedupeSpec{within}));
}

Disposition disposition(core::Result<Disposition> result) {
  EXPECT_TRUE(result.ok());
  return result.ok() ? result.value() : Disposition::discarded;
}

}  // namespace

TEST(Dedupe, RepeatsInsideTheSpanAreDiscarded) {
  auto h = dedupe(10);
  EXPECT_EQ(disposition(h.feed("k", 100, R"({"n": 1})")), Disposition::forwarded);
  EXPECT_EQ(disposition(h.feed("k", 105)), Disposition::discarded);
  EXPECT_EQ(disposition(h.feed("k", 109)), Disposition::discarded);  // |109 - 100| = 9 < 10
  EXPECT_EQ(disposition(h.feed("other", 105)), Disposition::forwarded);  // keys are independent
  EXPECT_EQ(disposition(h.feed("k", 110)), Disposition::forwarded);  // |110 - 100| = 10: not a repeat
  // The forwarded record is passed through untouched.
  EXPECT_EQ(h.take(), (std::vector<std::string>{R"("k"|{"n":1}|100)", R"("other"|{}|105)", R"("k"|{}|110)"}));
}

TEST(Dedupe, OutOfOrderRecordsCompareWithEveryForwardedTime) {
  auto h = dedupe(10);
  EXPECT_EQ(disposition(h.feed("k", 100)), Disposition::forwarded);
  EXPECT_EQ(disposition(h.feed("k", 110)), Disposition::forwarded);  // stream time 110: 100 is still kept
  EXPECT_EQ(disposition(h.feed("k", 91)), Disposition::discarded);   // 9 before 100 (19 before the latest, 110)
  EXPECT_EQ(disposition(h.feed("k", 90)), Disposition::forwarded);   // 10 before 100
  EXPECT_EQ(h.entries(0), 2u);  // 90 is remembered for no time at all: 110 - 10 > 90 already
  EXPECT_EQ(disposition(h.feed("k", 119)), Disposition::discarded);  // 9 after 110
  EXPECT_EQ(h.entries(0), 1u);  // stream time 119 expired 100 (119 - 10 > 100)
  EXPECT_EQ(disposition(h.feed("k", 120)), Disposition::forwarded);  // 10 after 110
  EXPECT_EQ(h.entries(0), 2u);
}

TEST(Dedupe, RememberedTimesExpireOnceStreamTimeMinusSpanPassesThem) {
  auto h = dedupe(10);
  EXPECT_EQ(disposition(h.feed("k", 100)), Disposition::forwarded);
  h.advance_to(110);  // 110 - 10 > 100 is false: kept
  EXPECT_EQ(h.entries(0), 1u);
  EXPECT_EQ(disposition(h.feed("k", 105)), Disposition::discarded);
  h.advance_to(111);  // 111 - 10 > 100: expired
  EXPECT_EQ(h.total_entries(), 0u);
  // Never late: an old record is forwarded again once what it repeats has expired.
  EXPECT_EQ(disposition(h.feed("k", 105)), Disposition::forwarded);
  h.commit();
  h.advance_to(116);
  EXPECT_EQ(h.total_entries(), 0u);
}

TEST(Dedupe, NullKeyIsMissingField) {
  auto h = dedupe(10);
  auto result = h.feed(core::Value(), 1, core::Value::object());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind, core::RecordErrorKind::missing_field);
}

TEST(Dedupe, MatchesBruteForceReference) {
  for (std::uint64_t seed : {1u, 2u, 3u, 4u}) {
    SCOPED_TRACE(seed);
    std::mt19937_64 random(seed);
    const std::int64_t within = 15;
    auto h = dedupe(within);
    std::map<std::string, std::vector<std::int64_t>> forwarded;  // reference: every forwarded time per key
    std::int64_t stream_time = INT64_MIN;
    std::int64_t clock = 1000;
    for (int i = 0; i < 600; ++i) {
      clock += static_cast<std::int64_t>(random() % 4);
      const std::int64_t time = clock - static_cast<std::int64_t>(random() % (random() % 10 == 0 ? 100 : 20));
      const std::string key(1, static_cast<char>('a' + random() % 3));
      // Expired before this record: times s with (stream time before it) - within > s.
      const std::int64_t previous_stream_time = stream_time;
      bool repeat = false;
      for (std::int64_t s : forwarded[key]) {
        const bool expired = previous_stream_time != INT64_MIN && previous_stream_time - within > s;
        if (!expired && std::abs(time - s) < within) repeat = true;
      }
      if (!repeat) forwarded[key].push_back(time);
      stream_time = std::max(stream_time, time);
      // on_time after every record for odd seeds, after batches of 7 for even ones: the same outcome.
      auto result = seed % 2 == 1 ? h.feed(key, time) : h.feed_without_time(str(key), time, core::Value::object());
      if (seed % 2 == 0 && i % 7 == 6) h.tick();
      EXPECT_EQ(disposition(std::move(result)), repeat ? Disposition::discarded : Disposition::forwarded) << i;
      if (i % 17 == 0) h.commit();
    }
    h.advance_to(stream_time + within + 1);
    EXPECT_EQ(h.total_entries(), 0u);
  }
}
