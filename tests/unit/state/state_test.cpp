// The state module: write-buffer semantics for both implementations (typed tests), then what only RocksDB has
// (persistence across reopen, column family layout, locking, shared resources).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sluice/state/store.hpp"

namespace {

using namespace sluice::state;
using Entries = std::vector<std::pair<std::string, std::string>>;
using Changes = std::vector<std::pair<std::string, std::optional<std::string>>>;

constexpr std::int64_t kNoStreamTime = std::numeric_limits<std::int64_t>::min();

// A fresh directory under the system temp directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice-state-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

Entries scan_all(Store& store, std::uint8_t family, std::string_view from = {}, std::string_view to = {}) {
  Entries entries;
  store.scan(family, from, to, [&](std::string_view key, std::string_view value) {
    entries.emplace_back(key, value);
    return true;
  });
  return entries;
}

Changes collect_changes(TaskStores& stores, std::size_t index) {
  Changes changes;
  stores.changes(index, [&](const ChangelogRecord& record) { changes.emplace_back(record.key, record.value); });
  return changes;
}

std::optional<std::string> get(Store& store, std::uint8_t family, std::string_view key) {
  std::string value;
  if (!store.get(family, key, value)) return std::nullopt;
  return value;
}

std::string with_family(std::uint8_t family, std::string_view key) {
  return std::string(1, static_cast<char>(family)) + std::string(key);
}

// ---------------------------------------------------------------------------------------------------------
// Both implementations, one suite.

class MemoryImplementation {
 public:
  static constexpr bool kPersistent = false;
  std::unique_ptr<TaskStores> open(const std::vector<std::uint8_t>& families) {
    return make_memory_task_stores(families);
  }
};

class RocksDbImplementation {
 public:
  static constexpr bool kPersistent = true;
  RocksDbImplementation() : resources_(make_state_resources({directory_.path().string(), 64ll << 20})) {}
  std::unique_ptr<TaskStores> open(const std::vector<std::uint8_t>& families) {
    return open_rocksdb_task_stores(resources_, "1_0", families);
  }

 private:
  TempDir directory_;
  std::shared_ptr<StateResources> resources_;
};

template <typename Implementation>
class StoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<TaskStores> open(const std::vector<std::uint8_t>& families = {2, 1}) {
    return implementation_.open(families);
  }
  Implementation implementation_;
};

class ImplementationNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return T::kPersistent ? "RocksDb" : "Memory";
  }
};

using Implementations = ::testing::Types<MemoryImplementation, RocksDbImplementation>;
TYPED_TEST_SUITE(StoreTest, Implementations, ImplementationNames);

TYPED_TEST(StoreTest, StartsEmptyWithoutOffsetsOrStreamTime) {
  auto stores = this->open();
  EXPECT_EQ(stores->size(), 2u);
  EXPECT_EQ(stores->changelog_offset(0), -1);
  EXPECT_EQ(stores->changelog_offset(1), -1);
  EXPECT_EQ(stores->stream_time_ms(), kNoStreamTime);
  EXPECT_FALSE(get(stores->store(0), 0, "a"));
  EXPECT_TRUE(scan_all(stores->store(0), 1).empty());
  EXPECT_EQ(stores->store(0).buffered_changes(), 0u);
}

TYPED_TEST(StoreTest, PutGetRemoveGoThroughTheBuffer) {
  auto stores = this->open();
  Store& store = stores->store(0);
  store.put(0, "a", "1");
  EXPECT_EQ(get(store, 0, "a"), "1");
  store.put(0, "a", "22");
  EXPECT_EQ(get(store, 0, "a"), "22");
  EXPECT_EQ(store.buffered_changes(), 1u);  // compacted per key
  store.remove(0, "a");
  EXPECT_FALSE(get(store, 0, "a"));
  EXPECT_EQ(store.buffered_changes(), 1u);  // the tombstone is a change
  store.put(0, "a", "333");
  EXPECT_EQ(get(store, 0, "a"), "333");

  // A deletion in the buffer hides a durable value; a put over it replaces it.
  store.put(0, "b", "durable");
  stores->apply({-1, -1}, 0);
  EXPECT_EQ(get(store, 0, "b"), "durable");
  store.remove(0, "b");
  EXPECT_FALSE(get(store, 0, "b"));
  std::string value = "untouched";
  EXPECT_FALSE(store.get(0, "b", value));
  store.put(0, "b", "buffered");
  EXPECT_EQ(get(store, 0, "b"), "buffered");
  // Empty keys and values, and binary bytes, are ordinary.
  store.put(1, "", "");
  store.put(1, std::string("\0\xff", 2), std::string("\0", 1));
  EXPECT_EQ(get(store, 1, ""), "");
  EXPECT_EQ(get(store, 1, std::string("\0\xff", 2)), std::string("\0", 1));
}

TYPED_TEST(StoreTest, FamiliesAndStoresAreIndependent) {
  auto stores = this->open();
  stores->store(0).put(0, "k", "s0f0");
  stores->store(0).put(1, "k", "s0f1");
  stores->store(1).put(0, "k", "s1f0");
  for (int round = 0; round < 2; ++round) {  // in the buffer, then durable
    EXPECT_EQ(get(stores->store(0), 0, "k"), "s0f0");
    EXPECT_EQ(get(stores->store(0), 1, "k"), "s0f1");
    EXPECT_EQ(get(stores->store(1), 0, "k"), "s1f0");
    EXPECT_EQ(scan_all(stores->store(0), 1), (Entries{{"k", "s0f1"}}));
    stores->apply({-1, -1}, 0);
  }
  stores->store(0).remove(1, "k");
  EXPECT_EQ(get(stores->store(0), 0, "k"), "s0f0");
  EXPECT_EQ(get(stores->store(1), 0, "k"), "s1f0");
}

TYPED_TEST(StoreTest, ScanMergesBufferOverDurableContents) {
  auto stores = this->open();
  Store& store = stores->store(0);
  for (const char* key : {"b", "d", "f", "h", "j"}) store.put(0, key, std::string("durable-") + key);
  store.put(1, "c", "other family");
  stores->apply({-1, -1}, 0);

  store.put(0, "a", "new-a");      // before every durable key
  store.put(0, "d", "new-d");      // overwrites a durable key
  store.remove(0, "f");            // deletes a durable key
  store.put(0, "g", "new-g");      // between durable keys
  store.remove(0, "i");            // deletes a key that is not durable
  store.put(0, "k", "new-k");      // after every durable key
  store.put(0, "e", "tmp");
  store.remove(0, "e");            // put then deleted in the buffer
  EXPECT_EQ(scan_all(store, 0), (Entries{{"a", "new-a"},
                                         {"b", "durable-b"},
                                         {"d", "new-d"},
                                         {"g", "new-g"},
                                         {"h", "durable-h"},
                                         {"j", "durable-j"},
                                         {"k", "new-k"}}));
  EXPECT_EQ(scan_all(store, 0, "c", "i"), (Entries{{"d", "new-d"}, {"g", "new-g"}, {"h", "durable-h"}}));
  EXPECT_EQ(scan_all(store, 0, "d", "d\x01"), (Entries{{"d", "new-d"}}));
  EXPECT_EQ(scan_all(store, 0, "f", "g"), Entries{});  // only a tombstone in range
  EXPECT_EQ(scan_all(store, 1), (Entries{{"c", "other family"}}));

  // After apply() the same view comes from the durable contents alone.
  const Entries before = scan_all(store, 0);
  stores->apply({-1, -1}, 0);
  EXPECT_EQ(store.buffered_changes(), 0u);
  EXPECT_EQ(scan_all(store, 0), before);
}

TYPED_TEST(StoreTest, ScanHonoursBoundsAndStopsWhenTheVisitorSaysSo) {
  auto stores = this->open();
  Store& store = stores->store(0);
  for (const char* key : {"a", "c", "e"}) store.put(0, key, "d");
  stores->apply({-1, -1}, 0);
  for (const char* key : {"b", "d", "f"}) store.put(0, key, "b");

  EXPECT_EQ(scan_all(store, 0, "b", "e").size(), 3u);             // b c d: `to` excluded
  EXPECT_EQ(scan_all(store, 0, "bb").front().first, "c");         // from a key that is absent
  EXPECT_TRUE(scan_all(store, 0, "e", "e").empty());              // empty range
  EXPECT_TRUE(scan_all(store, 0, "e", "a").empty());              // reversed range
  EXPECT_EQ(scan_all(store, 0, "", "b"), (Entries{{"a", "d"}}));  // empty `from`: from the start
  EXPECT_TRUE(scan_all(store, 0, "g").empty());

  std::vector<std::string> visited;
  store.scan(0, "", "", [&](std::string_view key, std::string_view) {
    visited.emplace_back(key);
    return visited.size() < 4;
  });
  EXPECT_EQ(visited, (std::vector<std::string>{"a", "b", "c", "d"}));
}

// One pass over several ranges (what closing windows uses): each range's keys, buffered and durable merged,
// tagged with its index; ranges far apart (the cursor seeks) and near (it steps); the visitor can stop it;
// ranges out of order are refused rather than silently skipped.
TYPED_TEST(StoreTest, ScanRangesVisitsEachRangeInOneOrderedPass) {
  auto stores = this->open();
  Store& store = stores->store(0);
  auto key = [](int number) {
    std::string text = std::to_string(number);
    return std::string(4 - text.size(), '0') + text;
  };
  for (int number = 0; number < 200; number += 2) store.put(0, key(number), "d" + key(number));
  stores->apply({-1, -1}, 0);
  for (int number = 1; number < 200; number += 10) store.put(0, key(number), "b" + key(number));
  store.remove(0, key(40));
  store.remove(0, key(41));

  const std::vector<KeyRange> ranges{{key(0), key(3)}, {key(3), key(5)}, {key(40), key(43)},
                                     {key(150), key(152)}, {key(198), key(300)}};
  std::vector<std::pair<std::size_t, std::string>> seen;
  store.scan_ranges(0, ranges, [&](std::size_t range, std::string_view k, std::string_view value) {
    seen.emplace_back(range, std::string(k) + "=" + std::string(value));
    return true;
  });
  EXPECT_EQ(seen, (std::vector<std::pair<std::size_t, std::string>>{{0, "0000=d0000"},
                                                                     {0, "0001=b0001"},
                                                                     {0, "0002=d0002"},
                                                                     {1, "0004=d0004"},
                                                                     {2, "0042=d0042"},
                                                                     {3, "0150=d0150"},
                                                                     {3, "0151=b0151"},
                                                                     {4, "0198=d0198"}}));

  seen.clear();
  store.scan_ranges(0, ranges, [&](std::size_t range, std::string_view k, std::string_view) {
    seen.emplace_back(range, std::string(k));
    return seen.size() < 4;
  });
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen.back(), (std::pair<std::size_t, std::string>{1, "0004"}));

  EXPECT_THROW(store.scan_ranges(0, {{key(10), key(20)}, {key(15), key(30)}}, [](auto, auto, auto) { return true; }),
               std::invalid_argument);  // overlapping
  EXPECT_THROW(store.scan_ranges(0, {{key(10), ""}}, [](auto, auto, auto) { return true; }), std::invalid_argument);
  EXPECT_THROW(store.scan_ranges(0, {{key(10), key(10)}}, [](auto, auto, auto) { return true; }), std::invalid_argument);
  store.scan_ranges(0, {}, [](auto, auto, auto) {
    ADD_FAILURE() << "no range, no visit";
    return true;
  });
}

TYPED_TEST(StoreTest, ChangesAreCompactedInKeyOrderWithTheFamilyByte) {
  auto stores = this->open();
  Store& store = stores->store(0);
  store.put(1, "z", "1");
  store.put(0, "m", "1");
  store.put(0, "b", "1");
  store.put(0, "m", "2");
  store.remove(0, "b");
  store.put(1, "a", "x");
  store.remove(0, "q");
  stores->store(1).put(0, "other", "store");

  EXPECT_EQ(collect_changes(*stores, 0), (Changes{{with_family(0, "b"), std::nullopt},
                                                  {with_family(0, "m"), "2"},
                                                  {with_family(0, "q"), std::nullopt},
                                                  {with_family(1, "a"), "x"},
                                                  {with_family(1, "z"), "1"}}));
  EXPECT_EQ(collect_changes(*stores, 1), (Changes{{with_family(0, "other"), "store"}}));
  EXPECT_EQ(collect_changes(*stores, 0).size(), 5u);  // changes() does not clear
  stores->apply({7, 3}, 100);
  EXPECT_TRUE(collect_changes(*stores, 0).empty());
  EXPECT_TRUE(collect_changes(*stores, 1).empty());
}

TYPED_TEST(StoreTest, ApplyRecordsOffsetsAndStreamTime) {
  auto stores = this->open();
  stores->store(0).put(0, "k", "v");
  stores->apply({41, -1}, 1'000);
  EXPECT_EQ(stores->changelog_offset(0), 41);
  EXPECT_EQ(stores->changelog_offset(1), -1);  // -1: nothing produced, nothing recorded
  EXPECT_EQ(stores->stream_time_ms(), 1'000);
  EXPECT_EQ(stores->store(0).buffered_changes(), 0u);
  EXPECT_EQ(get(stores->store(0), 0, "k"), "v");

  stores->apply({-1, 5}, 2'000);  // an offset of -1 keeps the previous one
  EXPECT_EQ(stores->changelog_offset(0), 41);
  EXPECT_EQ(stores->changelog_offset(1), 5);
  EXPECT_EQ(stores->stream_time_ms(), 2'000);
  stores->apply({-1, -1}, -5);  // negative stream times are values like any other
  EXPECT_EQ(stores->stream_time_ms(), -5);

  EXPECT_THROW(stores->apply({1}, 0), std::invalid_argument);
  EXPECT_THROW(stores->apply({1, 2, 3}, 0), std::invalid_argument);
}

TYPED_TEST(StoreTest, DiscardDropsBufferedChangesOnly) {
  auto stores = this->open();
  Store& store = stores->store(0);
  store.put(0, "kept", "1");
  store.put(0, "overwritten", "1");
  store.put(0, "deleted", "1");
  stores->apply({3, -1}, 10);
  store.put(0, "overwritten", "2");
  store.remove(0, "deleted");
  store.put(0, "added", "2");
  stores->store(1).put(0, "x", "y");
  stores->discard();
  EXPECT_EQ(store.buffered_changes(), 0u);
  EXPECT_EQ(stores->store(1).buffered_changes(), 0u);
  EXPECT_EQ(scan_all(store, 0), (Entries{{"deleted", "1"}, {"kept", "1"}, {"overwritten", "1"}}));
  EXPECT_FALSE(get(stores->store(1), 0, "x"));
  EXPECT_EQ(stores->changelog_offset(0), 3);
  EXPECT_EQ(stores->stream_time_ms(), 10);
}

TYPED_TEST(StoreTest, RestoreWritesTheDurableContents) {
  auto stores = this->open();
  stores->restore(0, with_family(0, "a"), "1", 10);
  stores->restore(0, with_family(1, "a"), "f1", 11);
  stores->restore(0, with_family(0, "b"), "2", 12);
  stores->restore(0, with_family(0, "a"), std::nullopt, 13);  // a later tombstone
  stores->restore(0, with_family(2, "x"), "no such family", 14);
  stores->restore(0, "", "no family byte", 15);
  stores->restore(1, with_family(0, ""), "empty key", 4);
  stores->finish_restore();

  EXPECT_EQ(stores->changelog_offset(0), 15);  // skipped records still count as read
  EXPECT_EQ(stores->changelog_offset(1), 4);
  EXPECT_EQ(stores->stream_time_ms(), kNoStreamTime);  // restore does not know the stream time
  EXPECT_EQ(scan_all(stores->store(0), 0), (Entries{{"b", "2"}}));
  EXPECT_EQ(scan_all(stores->store(0), 1), (Entries{{"a", "f1"}}));
  EXPECT_EQ(get(stores->store(1), 0, ""), "empty key");
  EXPECT_EQ(stores->store(0).buffered_changes(), 0u);  // nothing to produce again
  stores->finish_restore();                            // nothing pending: a no-op
  EXPECT_EQ(stores->changelog_offset(0), 15);
}

TYPED_TEST(StoreTest, OutOfRangeIndexesThrow) {
  auto stores = this->open();
  std::string value;
  EXPECT_THROW(stores->store(2), std::out_of_range);
  EXPECT_THROW(stores->store(1).put(1, "k", "v"), std::out_of_range);  // store 1 has one family
  EXPECT_THROW(stores->store(1).get(1, "k", value), std::out_of_range);
  EXPECT_THROW(stores->store(0).scan(2, "", "", [](auto, auto) { return true; }), std::out_of_range);
  EXPECT_THROW(stores->changes(2, [](const ChangelogRecord&) {}), std::out_of_range);
  EXPECT_THROW(stores->changelog_offset(2), std::out_of_range);
  EXPECT_THROW(stores->restore(2, with_family(0, "k"), "v", 0), std::out_of_range);
}

TYPED_TEST(StoreTest, CloseIsIdempotentAndClosedStoresRejectUse) {
  auto stores = this->open();
  stores->store(0).put(0, "k", "v");
  stores->close();
  stores->close();
  std::string value;
  EXPECT_EQ(stores->store(0).buffered_changes(), 0u);
  EXPECT_THROW(stores->store(0).get(0, "k", value), std::logic_error);
  EXPECT_THROW(stores->store(0).put(0, "k", "v"), std::logic_error);
  EXPECT_THROW(stores->apply({-1, -1}, 0), std::logic_error);
  EXPECT_THROW(stores->stream_time_ms(), std::logic_error);
}

// Random puts, removes, applies and discards checked against a std::map model after every step: gets, scans
// with random bounds (merging buffer and durable keys that interleave, overwrite and delete each other),
// buffered_changes() and changes(). Keys include bytes >= 0x80 to check that both sides order them unsigned.
TYPED_TEST(StoreTest, RandomizedAgainstAMapModel) {
  std::mt19937 random(20261121);  // fixed: a failure reproduces
  const std::vector<std::uint8_t> families{2};
  auto stores = this->open(families);
  Store& store = stores->store(0);

  std::vector<std::string> keys;
  for (int index = 0; index < 48; ++index) keys.push_back("k" + std::to_string(index));
  keys.push_back(std::string("k\x80", 2));
  keys.push_back(std::string("\xff\xfe", 2));
  keys.push_back(std::string("\0", 1));
  keys.push_back("");
  std::sort(keys.begin(), keys.end());
  auto pick = [&](std::size_t bound) { return std::uniform_int_distribution<std::size_t>(0, bound - 1)(random); };

  using Model = std::map<std::string, std::string>;
  std::vector<Model> committed(2), current(2);
  std::vector<std::set<std::string>> touched(2);  // keys changed since the last apply/discard

  for (int step = 0; step < 4000; ++step) {
    const auto family = static_cast<std::uint8_t>(pick(2));
    const std::string& key = keys[pick(keys.size())];
    const std::size_t action = pick(100);
    if (action < 40) {
      const std::string value = "v" + std::to_string(step);
      store.put(family, key, value);
      current[family][key] = value;
      touched[family].insert(key);
    } else if (action < 60) {
      store.remove(family, key);
      current[family].erase(key);
      touched[family].insert(key);
    } else if (action < 72) {
      const auto found = current[family].find(key);
      const auto expected = found == current[family].end() ? std::nullopt : std::optional(found->second);
      ASSERT_EQ(get(store, family, key), expected) << "step " << step;
    } else if (action < 80) {
      // Several ascending ranges in one pass, against a scan of the model per range.
      std::vector<std::string> bounds;
      for (std::size_t count = 2 * (1 + pick(4)); bounds.size() < count;) bounds.push_back(keys[pick(keys.size())]);
      std::sort(bounds.begin(), bounds.end());
      std::vector<KeyRange> ranges;
      for (std::size_t i = 0; i + 1 < bounds.size(); i += 2) {
        if (!bounds[i + 1].empty() && bounds[i] < bounds[i + 1]) ranges.push_back({bounds[i], bounds[i + 1]});
      }
      std::vector<std::pair<std::size_t, std::pair<std::string, std::string>>> expected, seen;
      for (std::size_t range = 0; range < ranges.size(); ++range) {
        const auto end = current[family].lower_bound(ranges[range].to);
        for (auto it = current[family].lower_bound(ranges[range].from); it != end; ++it) expected.push_back({range, *it});
      }
      store.scan_ranges(family, ranges, [&](std::size_t range, std::string_view key, std::string_view value) {
        seen.push_back({range, {std::string(key), std::string(value)}});
        return true;
      });
      ASSERT_EQ(seen, expected) << "step " << step;
    } else if (action < 90) {
      const std::string from = pick(5) == 0 ? std::string() : keys[pick(keys.size())];
      const std::string to = pick(4) == 0 ? std::string() : keys[pick(keys.size())];
      Entries expected;
      if (to.empty() || from < to) {
        const auto end = to.empty() ? current[family].end() : current[family].lower_bound(to);
        for (auto it = current[family].lower_bound(from); it != end; ++it) expected.emplace_back(*it);
      }
      ASSERT_EQ(scan_all(store, family, from, to), expected) << "step " << step;
    } else if (action < 96) {
      Changes expected;
      for (std::uint8_t f = 0; f < 2; ++f) {
        for (const std::string& changed : touched[f]) {
          const auto found = current[f].find(changed);
          expected.emplace_back(with_family(f, changed),
                                found == current[f].end() ? std::nullopt : std::optional(found->second));
        }
      }
      ASSERT_EQ(collect_changes(*stores, 0), expected) << "step " << step;
      stores->apply({step}, step);
      committed = current;
      for (auto& set : touched) set.clear();
      ASSERT_EQ(stores->changelog_offset(0), step);
    } else {
      stores->discard();
      current = committed;
      for (auto& set : touched) set.clear();
    }
    ASSERT_EQ(store.buffered_changes(), touched[0].size() + touched[1].size()) << "step " << step;
  }
  for (std::uint8_t family = 0; family < 2; ++family) {
    EXPECT_EQ(scan_all(store, family), Entries(current[family].begin(), current[family].end()));
  }
}

// ---------------------------------------------------------------------------------------------------------
// RocksDB only.

class RocksDbStoresTest : public ::testing::Test {
 protected:
  StateOptions options() const { return {directory_.path().string(), 64ll << 20}; }
  std::unique_ptr<TaskStores> open(const std::string& task = "0_1",
                                   const std::vector<std::uint8_t>& families = {2, 1}) {
    return open_rocksdb_task_stores(resources_, task, families);
  }
  std::filesystem::path task_path(const std::string& task = "0_1") const { return directory_.path() / task; }

  TempDir directory_;
  std::shared_ptr<StateResources> resources_ = make_state_resources(options());
};

TEST_F(RocksDbStoresTest, ApplyIsDurableAcrossCloseAndReopen) {
  {
    auto stores = open();
    stores->store(0).put(0, "a", "1");
    stores->store(0).put(1, "b", "2");
    stores->store(1).put(0, "c", "3");
    stores->apply({10, 20}, 1'700'000'000'000);
    stores->store(0).remove(0, "a");
    stores->store(0).put(0, "late", "unapplied");  // never applied: must not survive
    stores->close();
  }
  auto stores = open();
  EXPECT_EQ(get(stores->store(0), 0, "a"), "1");
  EXPECT_EQ(get(stores->store(0), 1, "b"), "2");
  EXPECT_EQ(get(stores->store(1), 0, "c"), "3");
  EXPECT_FALSE(get(stores->store(0), 0, "late"));
  EXPECT_EQ(stores->changelog_offset(0), 10);
  EXPECT_EQ(stores->changelog_offset(1), 20);
  EXPECT_EQ(stores->stream_time_ms(), 1'700'000'000'000);
  EXPECT_EQ(stores->store(0).buffered_changes(), 0u);
}

TEST_F(RocksDbStoresTest, WithoutApplyNothingSurvives) {
  {
    auto stores = open();
    stores->store(0).put(0, "a", "1");
    stores->store(1).remove(0, "b");
  }  // the destructor closes
  auto stores = open();
  EXPECT_FALSE(get(stores->store(0), 0, "a"));
  EXPECT_TRUE(scan_all(stores->store(0), 0).empty());
  EXPECT_EQ(stores->changelog_offset(0), -1);
  EXPECT_EQ(stores->stream_time_ms(), kNoStreamTime);
}

TEST_F(RocksDbStoresTest, ManyTablesReadBackAfterReopen) {
  // Enough data for several memtable flushes, so that reads after reopen come from table files through the
  // block cache (values pinned in cache blocks) rather than from memtables.
  const std::string value(200, 'v');
  {
    auto stores = open();
    for (int batch = 0; batch < 10; ++batch) {
      for (int index = 0; index < 5'000; ++index) {
        stores->store(0).put(0, "key" + std::to_string(batch * 5'000 + index), value + std::to_string(index));
      }
      stores->apply({batch, -1}, batch);
    }
  }
  auto stores = open();
  std::string read = "some earlier, longer content that the read must replace entirely";
  for (int key = 0; key < 50'000; key += 7) {
    ASSERT_TRUE(stores->store(0).get(0, "key" + std::to_string(key), read));
    ASSERT_EQ(read, value + std::to_string(key % 5'000));
  }
  std::size_t count = 0;
  stores->store(0).scan(0, "", "", [&](std::string_view, std::string_view) { return ++count, true; });
  EXPECT_EQ(count, 50'000u);
  EXPECT_EQ(stores->changelog_offset(0), 9);
}

TEST_F(RocksDbStoresTest, RestoreIntoAFreshDirectoryThenReopen) {
  ASSERT_FALSE(std::filesystem::exists(task_path("2_3")));
  {
    auto stores = open("2_3");
    for (int offset = 0; offset < 1'000; ++offset) {
      stores->restore(offset % 2, with_family(0, "k" + std::to_string(offset % 100)), std::to_string(offset), offset);
    }
    stores->restore(0, with_family(1, "k0"), std::nullopt, 1'000);
    stores->finish_restore();
    stores->close();
  }
  auto stores = open("2_3");
  EXPECT_EQ(stores->changelog_offset(0), 1'000);
  EXPECT_EQ(stores->changelog_offset(1), 999);
  EXPECT_EQ(get(stores->store(0), 0, "k0"), "900");
  EXPECT_EQ(get(stores->store(1), 0, "k99"), "999");
  EXPECT_EQ(scan_all(stores->store(0), 0).size(), 50u);  // even offsets land in store 0: k0, k2, ... k98
}

TEST_F(RocksDbStoresTest, OneColumnFamilyPerStoreFamilyPlusMeta) {
  open()->close();
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), task_path().string(), &names).ok());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"default", "meta", "s0f0", "s0f1", "s1f0"}));
}

TEST_F(RocksDbStoresTest, ReopensWithADifferentNumberOfStores) {
  {
    auto stores = open("0_1", {2, 1});
    stores->store(1).put(0, "k", "v");
    stores->apply({-1, 4}, 0);
  }
  {
    auto stores = open("0_1", {1});  // fewer: the unused column families are opened and kept
    EXPECT_EQ(stores->size(), 1u);
    stores->store(0).put(0, "x", "y");
    stores->apply({1}, 0);
  }
  auto stores = open("0_1", {1, 1, 3});  // more: created
  EXPECT_EQ(get(stores->store(1), 0, "k"), "v");
  EXPECT_EQ(stores->changelog_offset(1), 4);
  EXPECT_EQ(get(stores->store(0), 0, "x"), "y");
  EXPECT_TRUE(scan_all(stores->store(2), 2).empty());
}

void expect_lock_error(const std::function<void()>& open, const std::string& path) {
  try {
    open();
    FAIL() << "the second open succeeded";
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("another sluice process holds the task directory " + path), std::string::npos)
        << message;
  }
}

TEST_F(RocksDbStoresTest, SecondOpenInTheSameProcessIsALockError) {
  auto first = open();
  expect_lock_error([&] { open(); }, task_path().string());
  // Another task of the same process is unaffected, and closing releases the lock.
  open("0_2")->close();
  first->close();
  open()->close();
}

TEST_F(RocksDbStoresTest, LockHeldByAnotherProcessIsALockError) {
  // A child process takes RocksDB's LOCK file the way RocksDB does (an fcntl write lock), so the open below
  // meets a lock held by another process rather than this process's own bookkeeping.
  std::filesystem::create_directories(task_path());
  const std::string lock_path = (task_path() / "LOCK").string();
  int locked[2];
  int release[2];
  ASSERT_EQ(pipe(locked), 0);
  ASSERT_EQ(pipe(release), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // only async-signal-safe calls from here: the parent has threads
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT, 0644);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    const bool ok = fd >= 0 && fcntl(fd, F_SETLK, &lock) == 0;
    const char status = ok ? 'y' : 'n';
    (void)!write(locked[1], &status, 1);
    char ignored = 0;
    (void)!read(release[0], &ignored, 1);
    _exit(0);
  }
  char status = 0;
  ASSERT_EQ(read(locked[0], &status, 1), 1);
  ASSERT_EQ(status, 'y');
  expect_lock_error([&] { open(); }, task_path().string());
  ASSERT_EQ(write(release[1], "x", 1), 1);
  int exit_status = 0;
  waitpid(child, &exit_status, 0);
  for (const int fd : {locked[0], locked[1], release[0], release[1]}) ::close(fd);
  open()->close();  // the lock died with the child
}

TEST_F(RocksDbStoresTest, TwentyTasksShareOneSetOfResources) {
  std::vector<std::unique_ptr<TaskStores>> tasks;
  for (int task = 0; task < 20; ++task) tasks.push_back(open("0_" + std::to_string(task), {2}));
  for (int round = 0; round < 3; ++round) {
    for (int task = 0; task < 20; ++task) {
      for (int key = 0; key < 200; ++key) {
        tasks[task]->store(0).put(key % 2, "k" + std::to_string(key), std::to_string(task * 1000 + round));
      }
      tasks[task]->apply({round}, round);
    }
  }
  for (auto& task : tasks) task->close();
  tasks.clear();
  for (int task = 0; task < 20; ++task) {
    auto stores = open("0_" + std::to_string(task), {2});
    EXPECT_EQ(get(stores->store(0), 1, "k199"), std::to_string(task * 1000 + 2));
    EXPECT_EQ(scan_all(stores->store(0), 0).size(), 100u);
    EXPECT_EQ(stores->changelog_offset(0), 2);
  }
}

TEST_F(RocksDbStoresTest, DeleteTaskDirectory) {
  open("0_7")->close();
  ASSERT_TRUE(std::filesystem::exists(task_path("0_7")));
  delete_task_directory(options(), "0_7");
  EXPECT_FALSE(std::filesystem::exists(task_path("0_7")));
  EXPECT_TRUE(std::filesystem::exists(directory_.path()));
  delete_task_directory(options(), "0_7");  // absent: no error
  delete_task_directory({(directory_.path() / "missing").string(), 1 << 20}, "0_7");
  for (const char* bad : {"", ".", "..", "a/b", "../x"}) {
    EXPECT_THROW(delete_task_directory(options(), bad), std::invalid_argument) << bad;
    EXPECT_THROW(open(bad), std::invalid_argument) << bad;
  }
}

TEST(StateResources, RejectsInvalidOptions) {
  EXPECT_THROW(make_state_resources({"", 1 << 20}), std::invalid_argument);
  EXPECT_THROW(make_state_resources({"/tmp/x", 0}), std::invalid_argument);
  EXPECT_THROW(open_rocksdb_task_stores(nullptr, "0_0", {1}), std::invalid_argument);
}

TEST(StateResources, OpeningUnderAnUnusablePathNamesIt) {
  TempDir directory;
  const std::filesystem::path file = directory.path() / "a-file";
  std::fclose(std::fopen(file.c_str(), "w"));
  const auto resources = make_state_resources({file.string(), 1 << 20});  // a file where a directory should be
  EXPECT_ANY_THROW(open_rocksdb_task_stores(resources, "0_0", {1}));
}

}  // namespace
