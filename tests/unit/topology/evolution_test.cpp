// Store fingerprints and the diff rules of `sluice diff`: each kind of change, what it does to the stores, the
// internal topics and the outputs, and whether it needs a reset.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "sluice/topology/evolution.hpp"
#include "support.hpp"

namespace sluice::topology {
namespace {

using testing::topology_of;
using testing::with_operators;

// A windowed count per user after a rekey: the shape most changes are tried on.
constexpr std::string_view kBase = R"~([
  {"name": "paid", "from": "orders", "filter": "status == 'paid'"},
  {"name": "by_user", "from": "paid", "rekey": "user"},
  {"name": "per_minute", "from": "by_user", "window": {"type": "tumbling", "size": "1m", "grace": "10s"},
   "aggregate": {"orders": "count()", "total": "sum(amount)"}, "emit": "final"}
])~";

TopologyDiff diff_of(std::string_view before, std::string_view after, std::string_view sink_from = "per_minute") {
  return diff_topologies(topology_of(with_operators(before, sink_from)), topology_of(with_operators(after, sink_from)));
}

std::string replaced(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  const auto at = out.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) out.replace(at, from.size(), to);
  return out;
}

const StoreChange& store(const TopologyDiff& diff, std::string_view name) {
  for (const auto& change : diff.stores) {
    if (change.store == name) return change;
  }
  static const StoreChange none{};
  ADD_FAILURE() << "no store " << name << " in the diff";
  return none;
}

TEST(StoreFingerprints, NameWhatDecidesHowTheStoreIsRead) {
  auto prints = store_fingerprints(topology_of(with_operators(kBase, "per_minute")));
  ASSERT_EQ(prints.size(), 1U);
  EXPECT_EQ(prints[0].store, "per_minute");
  EXPECT_EQ(prints[0].pointer, "/operators/2");
  EXPECT_EQ(prints[0].changelog_topic, "app-per_minute-changelog");
  EXPECT_EQ(prints[0].text(),
            R"({"kind":"aggregate","key":["rekey user"],"window":{"type":"tumbling","size":"1m"},"emit":"final",)"
            R"~("aggregations":["orders = count()","total = sum(amount)"]})~");
}

TEST(StoreFingerprints, KeyFollowsKeyKeepingOperatorsAndMerges) {
  auto prints = store_fingerprints(topology_of(with_operators(R"~([
    {"name": "both", "merge": ["orders", "events"]},
    {"name": "seen", "from": "both", "dedupe": {"within": "1h"}},
    {"name": "counts", "from": "seen", "aggregate": {"n": "count()"}}
  ])~", "counts")));
  ASSERT_EQ(prints.size(), 2U);
  EXPECT_EQ(prints[0].definition["key"].dump(), R"(["source topic events","source topic orders"])");
  EXPECT_EQ(prints[1].definition["key"].dump(), R"(["source topic events","source topic orders"])");
  EXPECT_EQ(prints[1].definition["window"], "none (a table)");
}

TEST(TopologyDiff, AnAddedFilterIsCompatible) {
  auto diff = diff_of(kBase, replaced(kBase, R"({"name": "by_user", "from": "paid",)",
                                      R"({"name": "big", "from": "paid", "filter": "amount > 10"},
                                         {"name": "by_user", "from": "big",)"));
  EXPECT_EQ(store(diff, "per_minute").kind, StoreChange::Kind::kept);
  EXPECT_FALSE(diff.needs_reset());
  EXPECT_FALSE(diff.needs_attention());
  EXPECT_TRUE(diff.unused_topics.empty());
  EXPECT_NE(diff.to_text().find("Result: compatible (exit 0)"), std::string::npos) << diff.to_text();
}

TEST(TopologyDiff, AChangedWindowSizeNeedsAReset) {
  auto diff = diff_of(kBase, replaced(kBase, R"("size": "1m")", R"("size": "5m")"));
  const auto& change = store(diff, "per_minute");
  EXPECT_EQ(change.kind, StoreChange::Kind::changed);
  ASSERT_EQ(change.changes.size(), 1U);
  EXPECT_EQ(change.changes[0], R"(window size: "1m" -> "5m")");
  EXPECT_TRUE(diff.needs_reset());
  EXPECT_TRUE(diff.needs_attention());
  const std::string text = diff.to_text();
  EXPECT_NE(text.find("NEEDS A RESET     per_minute (/operators/2)"), std::string::npos) << text;
  EXPECT_NE(text.find("--reset-store per_minute (empties app-per_minute-changelog)"), std::string::npos) << text;
  EXPECT_EQ(diff.to_json()["needs_reset"], true);
  EXPECT_EQ(diff.to_json()["stores"][0]["changes"][0], R"(window size: "1m" -> "5m")");
}

TEST(TopologyDiff, AChangedWindowTypeOrEmitModeNeedsAReset) {
  auto hopping = diff_of(kBase, replaced(kBase, R"("type": "tumbling", "size": "1m")",
                                         R"("type": "hopping", "size": "1m", "advance": "30s")"));
  EXPECT_EQ(store(hopping, "per_minute").kind, StoreChange::Kind::changed);
  EXPECT_EQ(store(hopping, "per_minute").changes.size(), 2U);  // type and advance
  auto update = diff_of(kBase, replaced(kBase, R"("emit": "final")", R"("emit": "update")"));
  EXPECT_EQ(store(update, "per_minute").changes, std::vector<std::string>{R"(emit: "final" -> "update")"});
}

TEST(TopologyDiff, AnAddedOrReorderedAggregationNeedsAReset) {
  auto added = diff_of(kBase, replaced(kBase, R"~("total": "sum(amount)")~",
                                       R"~("total": "sum(amount)", "largest": "max(amount)")~"));
  EXPECT_EQ(store(added, "per_minute").kind, StoreChange::Kind::changed);
  EXPECT_NE(store(added, "per_minute").changes.at(0).find("largest = max(amount)"), std::string::npos);
  auto reordered = diff_of(kBase, replaced(kBase, R"~("orders": "count()", "total": "sum(amount)")~",
                                           R"~("total": "sum(amount)", "orders": "count()")~"));
  EXPECT_TRUE(reordered.needs_reset());
}

TEST(TopologyDiff, AChangedKeyNeedsAReset) {
  auto diff = diff_of(kBase, replaced(kBase, R"("rekey": "user")", R"("rekey": "country")"));
  EXPECT_EQ(store(diff, "per_minute").changes, std::vector<std::string>{R"(key: ["rekey user"] -> ["rekey country"])"});
  EXPECT_TRUE(diff.needs_reset());
  // The rekey's own name does not matter, only what it computes.
  auto renamed_rekey = diff_of(kBase, replaced(replaced(kBase, R"("name": "by_user")", R"("name": "user_key")"),
                                               R"("from": "by_user")", R"("from": "user_key")"));
  EXPECT_FALSE(renamed_rekey.needs_reset());
  EXPECT_FALSE(renamed_rekey.needs_attention());  // the repartition topic belongs to the aggregate, not the rekey
}

TEST(TopologyDiff, ARenamedOperatorStartsEmptyAndLeavesItsTopicsUnused) {
  auto before = topology_of(with_operators(kBase, "per_minute"));
  auto after = topology_of(with_operators(replaced(kBase, R"("name": "per_minute")", R"("name": "per_minute_v2")"),
                                          "per_minute_v2"));
  auto renamed = diff_topologies(before, after);
  EXPECT_EQ(store(renamed, "per_minute_v2").kind, StoreChange::Kind::added);
  EXPECT_EQ(store(renamed, "per_minute").kind, StoreChange::Kind::removed);
  EXPECT_FALSE(renamed.needs_reset());
  EXPECT_TRUE(renamed.needs_attention());
  EXPECT_EQ(renamed.unused_topics,
            (std::vector<std::string>{"app-per_minute-repartition", "app-per_minute-changelog"}));
  EXPECT_EQ(renamed.new_internal_topics,
            (std::vector<std::string>{"app-per_minute_v2-repartition", "app-per_minute_v2-changelog"}));
  const std::string text = renamed.to_text("127.0.0.1:9092");
  EXPECT_NE(text.find("kafka-topics.sh --bootstrap-server 127.0.0.1:9092 --delete --topic app-per_minute-changelog"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Result: compatible, but needs attention (exit 1)"), std::string::npos) << text;
}

TEST(TopologyDiff, ChangedGraceOrWithinIsCompatibleWithANote) {
  auto grace = diff_of(kBase, replaced(kBase, R"("grace": "10s")", R"("grace": "1m")"));
  EXPECT_FALSE(grace.needs_attention());
  ASSERT_EQ(grace.notes.size(), 1U);
  EXPECT_NE(grace.notes[0].find("per_minute: grace 10s -> 1m"), std::string::npos) << grace.notes[0];
  auto within = diff_of(R"([{"name": "once", "from": "orders", "dedupe": {"within": "1h"}}])",
                        R"([{"name": "once", "from": "orders", "dedupe": {"within": "2h"}}])", "once");
  EXPECT_FALSE(within.needs_attention());
  ASSERT_EQ(within.notes.size(), 1U);
}

TEST(TopologyDiff, OutputAndApplicationChangesNeedAttention) {
  auto base = topology_of(with_operators(kBase, "per_minute"));
  auto moved = base;
  moved.sinks[0].topic = "out-v2";
  auto outputs = diff_topologies(base, moved);
  EXPECT_FALSE(outputs.needs_reset());
  EXPECT_TRUE(outputs.needs_attention());
  ASSERT_EQ(outputs.outputs.size(), 2U);
  EXPECT_EQ(outputs.outputs[0].topic, "out-v2");
  EXPECT_EQ(outputs.outputs[0].kind, OutputChange::Kind::added);
  EXPECT_EQ(outputs.outputs[1].kind, OutputChange::Kind::removed);

  auto renamed_app = topology_of(replaced(with_operators(kBase, "per_minute"), R"("application_id": "app")",
                                          R"("application_id": "app2")"));
  auto app = diff_topologies(base, renamed_app);
  EXPECT_TRUE(app.needs_attention());
  EXPECT_EQ(store(app, "per_minute").kind, StoreChange::Kind::added);  // nothing carries over to a new id
  EXPECT_NE(app.to_text().find("a new consumer group"), std::string::npos);
}

TEST(TopologyDiff, StreamJoinSidesAndTypeAreInTheFingerprint) {
  constexpr std::string_view join = R"([
    {"name": "matched", "from": "orders", "join": {"stream": "events", "within": "5m", "type": "inner"}}
  ])";
  auto type = diff_of(join, replaced(join, R"("type": "inner")", R"("type": "left")"), "matched");
  EXPECT_EQ(store(type, "matched").changes, std::vector<std::string>{R"(type: "inner" -> "left")"});
  auto swapped = diff_of(join, replaced(replaced(join, R"("from": "orders")", R"("from": "events")"),
                                        R"("stream": "events")", R"("stream": "orders")"),
                         "matched");
  EXPECT_TRUE(swapped.needs_reset());
  auto window = diff_of(join, replaced(join, R"("within": "5m")", R"("within": "10m")"), "matched");
  EXPECT_FALSE(window.needs_reset());
  EXPECT_EQ(window.notes.size(), 1U);
}

}  // namespace
}  // namespace sluice::topology
