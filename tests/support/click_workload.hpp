// The e2e tests' shared workload: user clicks keyed by session, re-keyed by user and counted in windows, with
// an oracle that computes the exact expected counts from the input, and the checks that compare a topic's
// committed output with it. Header-only (the e2e tests are its only users).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/kafka_test_support.hpp"

namespace sluice::testing {

inline constexpr std::int64_t click_base_ms = 1'795'255'200'000;  // 2026-11-21T10:00:00Z

// Kafka's default partitioner (murmur2 of the key bytes, made positive, modulo the partition count), so a
// marker can be aimed at each partition of a repartition topic.
inline std::int32_t kafka_partition(std::string_view key, int count) {
  constexpr std::uint32_t m = 0x5bd1e995;
  std::uint32_t h = 0x9747b28cU ^ static_cast<std::uint32_t>(key.size());
  auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(key[i])); };
  std::size_t i = 0;
  for (; i + 4 <= key.size(); i += 4) {
    std::uint32_t k = byte(i) | byte(i + 1) << 8 | byte(i + 2) << 16 | byte(i + 3) << 24;
    k *= m;
    k ^= k >> 24;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (key.size() - i) {
    case 3: h ^= byte(i + 2) << 16; [[fallthrough]];
    case 2: h ^= byte(i + 1) << 8; [[fallthrough]];
    case 1: h ^= byte(i); h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<std::int32_t>((h & 0x7fffffffU) % static_cast<std::uint32_t>(count));
}

struct ClickEvent {
  std::string user;
  std::int64_t t;
};

// `records` clicks of `users` users, 3 ms of event time apart with up to 3 s of disorder, keyed by a session
// id (not the user, so the rekey is what groups them), round-robin over `partitions` input partitions, cut
// into `slices` consecutive parts.
struct ClickInput {
  std::vector<ClickEvent> events;
  std::vector<std::vector<TestRecord>> slices;
};

inline ClickInput make_clicks(std::uint64_t seed, int records, int slices, int partitions, int users) {
  std::mt19937_64 random(seed);
  ClickInput input;
  input.slices.resize(static_cast<std::size_t>(slices));
  for (int i = 0; i < records; ++i) {
    ClickEvent event{"user-" + std::to_string(random() % static_cast<std::uint64_t>(users)),
                     click_base_ms + i * 3 - static_cast<std::int64_t>(random() % 3000)};
    TestRecord record;
    record.key = "session-" + std::to_string(random() % 20'000);
    record.value =
        nlohmann::json{{"user", event.user}, {"ts", event.t}, {"page", "/p/" + std::to_string(random() % 100)}}.dump();
    record.partition = i % partitions;
    input.slices[static_cast<std::size_t>(i) * static_cast<std::size_t>(slices) / static_cast<std::size_t>(records)]
        .push_back(std::move(record));
    input.events.push_back(std::move(event));
  }
  return input;
}

using WindowKey = std::pair<std::string, std::int64_t>;  // (user, window start)

// Windows [s, s + size) with s a multiple of `advance` and s <= t < s + size (tumbling: advance == size).
inline std::map<WindowKey, std::int64_t> window_counts(const std::vector<ClickEvent>& events, std::int64_t size,
                                                       std::int64_t advance) {
  std::map<WindowKey, std::int64_t> counts;
  for (const auto& [user, t] : events) {
    for (std::int64_t start = t - t % advance; start > t - size; start -= advance) ++counts[{user, start}];
  }
  return counts;
}

// One click per partition of the re-keyed stream at `closing_time`, each for a user "marker-<n>" whose key
// lands on that partition: together they advance every keyed task's stream time past every window.
inline std::vector<TestRecord> closing_markers(int partitions, std::int64_t closing_time) {
  std::vector<TestRecord> markers;
  for (std::int32_t target = 0; target < partitions; ++target) {
    std::string user;
    for (int i = 0; user.empty(); ++i) {
      std::string candidate = "marker-" + std::to_string(i);
      if (kafka_partition(nlohmann::json(candidate).dump(), partitions) == target) user = candidate;
    }
    TestRecord record;
    record.key = "marker";
    record.value = nlohmann::json{{"user", user}, {"ts", closing_time}}.dump();
    record.partition = target;
    markers.push_back(std::move(record));
  }
  return markers;
}

// How the last values per key in an output differ from the expected ones.
struct MapDifference {
  std::size_t missing = 0, wrong = 0, extra = 0;
};

template <typename Key>
MapDifference compare_values(const std::map<Key, std::int64_t>& expected, const std::map<Key, std::int64_t>& actual) {
  MapDifference difference;
  for (const auto& [key, value] : expected) {
    auto it = actual.find(key);
    if (it == actual.end()) {
      ++difference.missing;
    } else if (it->second != value) {
      ++difference.wrong;
    }
  }
  for (const auto& [key, value] : actual) difference.extra += expected.count(key) == 0;
  return difference;
}

// Emit-final output compared with the oracle: every (user, window) exactly once with the right count.
struct FinalComparison {
  std::size_t results = 0, duplicates = 0, missing = 0, extra = 0, wrong = 0, bad_end = 0;
  // Where the wrong counts are: per partition of the re-keyed stream (the user's murmur2 partition, when the
  // caller gives the count), how many windows were too high or too low and by how much in all; and the first
  // and last window start among them. Printed on failure, to tell a lost or repeated stretch of input from a
  // lost or repeated store.
  struct Wrong {
    std::size_t high = 0, low = 0;
    std::int64_t surplus = 0, shortfall = 0, first_start = INT64_MAX, last_start = INT64_MIN;
  };
  std::map<std::int32_t, Wrong> wrong_by_partition;
  bool exact() const { return duplicates == 0 && missing == 0 && extra == 0 && wrong == 0 && bad_end == 0; }
  std::string describe() const {
    std::string text = "results " + std::to_string(results) + ", duplicates " + std::to_string(duplicates) +
                       ", missing " + std::to_string(missing) + ", extra " + std::to_string(extra) +
                       ", wrong counts " + std::to_string(wrong) + ", wrong window ends " + std::to_string(bad_end);
    for (const auto& [partition, w] : wrong_by_partition) {
      text += "\n  partition " + std::to_string(partition) + ": " + std::to_string(w.high) + " windows too high (+" +
              std::to_string(w.surplus) + "), " + std::to_string(w.low) + " too low (-" + std::to_string(w.shortfall) +
              "), window starts " + std::to_string(w.first_start) + ".." + std::to_string(w.last_start);
    }
    return text;
  }
};

inline FinalComparison compare_final(const std::vector<TestRecord>& output,
                                     const std::map<WindowKey, std::int64_t>& expected, std::int64_t size_ms,
                                     const std::string& count_field, int partitions = 1) {
  FinalComparison comparison;
  std::map<WindowKey, std::int64_t> seen;
  for (const auto& record : output) {
    if (!record.key || !record.value) {
      ++comparison.extra;
      continue;
    }
    if (record.key->rfind("marker-", 0) == 0) continue;  // the markers' own windows (never closed)
    nlohmann::json value = nlohmann::json::parse(*record.value);
    WindowKey window{*record.key, value.at("window_start").get<std::int64_t>()};
    comparison.bad_end += value.at("window_end").get<std::int64_t>() != window.second + size_ms;
    if (!seen.emplace(window, value.at(count_field).get<std::int64_t>()).second) ++comparison.duplicates;
  }
  const MapDifference difference = compare_values(expected, seen);
  comparison.missing = difference.missing;
  comparison.wrong = difference.wrong;
  comparison.extra += difference.extra;
  for (const auto& [window, count] : expected) {
    auto it = seen.find(window);
    if (it == seen.end() || it->second == count) continue;
    auto& w = comparison.wrong_by_partition[kafka_partition(nlohmann::json(window.first).dump(), partitions)];
    if (it->second > count) {
      ++w.high;
      w.surplus += it->second - count;
    } else {
      ++w.low;
      w.shortfall += count - it->second;
    }
    w.first_start = std::min(w.first_start, window.second);
    w.last_start = std::max(w.last_start, window.second);
  }
  comparison.results = seen.size();
  return comparison;
}

}  // namespace sluice::testing
