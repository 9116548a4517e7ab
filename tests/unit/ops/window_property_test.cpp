// Randomized comparison of every window type with an independent brute-force reference: fixed seeds, a few
// hundred records over a few keys, out of order within and beyond grace, nulls, integers and doubles. The
// reference keeps the list of accepted records and recomputes each window from scratch; the operator's final
// outputs (emit: final) and the last update of each window (emit: update) must equal it, and the records the
// operator reports late must be exactly the reference's late records.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <iterator>
#include <set>
#include <tuple>

#include "../../../src/ops/window.hpp"
#include "stateful_harness.hpp"

using namespace sluice;
using namespace sluice::ops;
using namespace sluice::ops::testing;
using topology::AggregateFunction;
using topology::EmitMode;
using topology::WindowType;

namespace {

struct Input {
  core::Value key;
  std::int64_t time = 0;
  core::Value value;  // {"x": ...} or {} (x missing)
  core::Value x;      // what the aggregations see (null when missing)
};

std::vector<Input> generate(std::uint64_t seed, int count) {
  std::mt19937_64 random(seed);
  const core::Value keys[] = {str("a"), str("b"), str("c"), core::Value::integer(7)};
  std::vector<Input> inputs;
  std::int64_t clock = 1000;
  for (int i = 0; i < count; ++i) {
    clock += static_cast<std::int64_t>(random() % 5);
    if (random() % 100 < 6) clock += 20 + static_cast<std::int64_t>(random() % 60);  // quiet spells end sessions
    const auto lateness = random() % 100;
    const std::int64_t jitter = static_cast<std::int64_t>(lateness < 75 ? random() % 8
                                                          : lateness < 93 ? random() % 40
                                                                          : random() % 150);
    Input input;
    input.key = keys[random() % 4];
    input.time = clock - jitter;
    const auto kind = random() % 100;
    const std::int64_t number = static_cast<std::int64_t>(random() % 41) - 20;
    input.value = core::Value::object();
    if (kind < 10) {
      // x missing
    } else if (kind < 15) {
      input.value.set("x", core::Value());
    } else if (kind < 30) {
      input.x = core::Value::floating(static_cast<double>(number) + 0.5);  // exact in binary: sums are exact
      input.value.set("x", input.x);
    } else {
      input.x = core::Value::integer(number);
      input.value.set("x", input.x);
    }
    inputs.push_back(std::move(input));
  }
  return inputs;
}

std::vector<topology::AggregationSpec> every_function() {
  return {aggregation("n", AggregateFunction::count),     aggregation("c", AggregateFunction::count, "x"),
          aggregation("s", AggregateFunction::sum, "x"),  aggregation("lo", AggregateFunction::min, "x"),
          aggregation("hi", AggregateFunction::max, "x"), aggregation("m", AggregateFunction::avg, "x"),
          aggregation("f", AggregateFunction::first, "x"), aggregation("l", AggregateFunction::last, "x")};
}

std::int64_t floor_divide(std::int64_t a, std::int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// ---- the reference ----

struct RefWindow {
  core::Value key;
  std::int64_t start = 0;
  std::int64_t end = 0;
  std::vector<std::size_t> members;  // indexes into the inputs
};

struct Reference {
  std::set<std::size_t> late;
  std::vector<RefWindow> windows;
};

Reference reference_time_windows(const std::vector<Input>& inputs, std::int64_t size, std::int64_t advance,
                                 std::int64_t grace) {
  Reference reference;
  std::map<std::pair<std::string, std::int64_t>, RefWindow> windows;
  std::int64_t stream_time = INT64_MIN;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Input& input = inputs[i];
    stream_time = std::max(stream_time, input.time);
    bool any_open = false;
    for (std::int64_t start = floor_divide(input.time, advance) * advance; start > input.time - size;
         start -= advance) {
      if (stream_time >= start + size + grace) continue;  // closed when the record arrived
      any_open = true;
      RefWindow& window = windows[{core::to_json(input.key), start}];
      window.key = input.key;
      window.start = start;
      window.end = start + size;
      window.members.push_back(i);
    }
    if (!any_open) reference.late.insert(i);
  }
  for (auto& [id, window] : windows) reference.windows.push_back(std::move(window));
  return reference;
}

Reference reference_sliding(const std::vector<Input>& inputs, std::int64_t size, std::int64_t grace) {
  Reference reference;
  std::map<std::string, std::vector<std::size_t>> accepted;
  std::int64_t stream_time = INT64_MIN;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    stream_time = std::max(stream_time, inputs[i].time);
    if (inputs[i].time + grace < stream_time) {
      reference.late.insert(i);
    } else {
      accepted[core::to_json(inputs[i].key)].push_back(i);
    }
  }
  for (const auto& [key, members] : accepted) {
    std::set<std::int64_t> ends;
    for (std::size_t i : members) ends.insert(inputs[i].time);
    for (std::int64_t end : ends) {
      RefWindow window{inputs[members.front()].key, end - size, end, {}};
      for (std::size_t i : members) {
        if (inputs[i].time >= end - size && inputs[i].time <= end) window.members.push_back(i);
      }
      reference.windows.push_back(std::move(window));
    }
  }
  return reference;
}

Reference reference_sessions(const std::vector<Input>& inputs, std::int64_t gap, std::int64_t grace) {
  Reference reference;
  std::map<std::string, std::vector<RefWindow>> sessions;
  std::int64_t stream_time = INT64_MIN;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Input& input = inputs[i];
    stream_time = std::max(stream_time, input.time);
    if (input.time + gap + grace < stream_time) {
      reference.late.insert(i);
      continue;
    }
    std::vector<RefWindow>& list = sessions[core::to_json(input.key)];
    RefWindow merged{input.key, input.time, input.time, {i}};
    std::vector<RefWindow> kept;
    for (RefWindow& session : list) {
      const bool closed = session.end + gap + grace < stream_time;
      const bool joins = session.start - gap <= input.time && input.time <= session.end + gap;
      if (!closed && joins) {
        merged.start = std::min(merged.start, session.start);
        merged.end = std::max(merged.end, session.end);
        merged.members.insert(merged.members.end(), session.members.begin(), session.members.end());
      } else {
        kept.push_back(std::move(session));
      }
    }
    kept.push_back(std::move(merged));
    list = std::move(kept);
  }
  for (auto& [key, list] : sessions) {
    for (RefWindow& session : list) reference.windows.push_back(std::move(session));
  }
  return reference;
}

// The expected output of a window, recomputed from its members in (event time, arrival) order.
std::string expected_output(const RefWindow& window, const std::vector<Input>& inputs) {
  std::vector<std::size_t> members = window.members;
  std::sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) {
    return std::tie(inputs[a].time, a) < std::tie(inputs[b].time, b);
  });
  std::int64_t values = 0;
  std::int64_t integer_sum = 0;
  double double_sum = 0;
  bool any_double = false;
  core::Value low, high, first, last;
  std::int64_t max_time = INT64_MIN;
  for (std::size_t i : members) {
    max_time = std::max(max_time, inputs[i].time);
    const core::Value& x = inputs[i].x;
    if (x.is_null()) continue;
    ++values;
    if (x.is_integer()) integer_sum += x.as_integer();
    any_double = any_double || x.is_floating();
    double_sum += x.as_double();
    if (low.is_null() || x.as_double() < low.as_double()) low = x;
    if (high.is_null() || x.as_double() > high.as_double()) high = x;
    if (first.is_null()) first = x;
    last = x;
  }
  core::Object fields;
  fields.push_back({"window_start", core::Value::integer(window.start)});
  fields.push_back({"window_end", core::Value::integer(window.end)});
  fields.push_back({"n", core::Value::integer(static_cast<std::int64_t>(members.size()))});
  fields.push_back({"c", core::Value::integer(values)});
  fields.push_back({"s", values == 0 ? core::Value()
                         : any_double ? core::Value::floating(double_sum)
                                      : core::Value::integer(integer_sum)});
  fields.push_back({"lo", low});
  fields.push_back({"hi", high});
  fields.push_back(
      {"m", values == 0 ? core::Value() : core::Value::floating(double_sum / static_cast<double>(values))});
  fields.push_back({"f", first});
  fields.push_back({"l", last});
  return core::to_json(window.key) + "|" + core::to_json(core::Value::object(std::move(fields))) + "|" +
         std::to_string(max_time);
}

Reference reference_for(const topology::WindowSpec& window, const std::vector<Input>& inputs) {
  switch (window.type) {
    case WindowType::tumbling: return reference_time_windows(inputs, window.size_ms, window.size_ms, window.grace_ms);
    case WindowType::hopping: return reference_time_windows(inputs, window.size_ms, window.advance_ms, window.grace_ms);
    case WindowType::sliding: return reference_sliding(inputs, window.size_ms, window.grace_ms);
    case WindowType::session: return reference_sessions(inputs, window.gap_ms, window.grace_ms);
  }
  return {};
}

// (end, key JSON, start): the order of final outputs.
using WindowId = std::tuple<std::int64_t, std::string, std::int64_t>;

WindowId id_of(const core::Record& record) {
  return {record.value.find("window_end")->as_integer(), core::to_json(record.key),
          record.value.find("window_start")->as_integer()};
}

// ---- running the operator ----

struct OperatorRun {
  std::set<std::size_t> late;
  std::vector<core::Record> outputs;
};

// on_time runs after every `on_time_every`-th record (the runtime may batch it): results must not depend on it.
OperatorRun run_operator(const topology::WindowSpec& window, EmitMode emit, std::size_t limit,
                         const std::vector<Input>& inputs, std::size_t commit_every, std::size_t on_time_every = 1) {
  OperatorRun run;
  StatefulHarness h(make_aggregate(window, every_function(), emit, limit));
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    auto result = h.feed_without_time(inputs[i].key, inputs[i].time, inputs[i].value);
    if (i % on_time_every == on_time_every - 1) h.tick();
    if (result.ok()) {
      EXPECT_EQ(result.value(), Disposition::forwarded);
    } else {
      EXPECT_EQ(result.error().kind, core::RecordErrorKind::late) << result.error().message;
      run.late.insert(i);
    }
    if (i % commit_every == commit_every - 1) h.commit();
  }
  h.advance_to(h.stream_time() + 1'000'000);  // idle: everything closes
  h.commit();
  EXPECT_EQ(h.total_entries(), 0u) << "state left after every window closed";
  run.outputs = h.take_records();
  return run;
}

struct Case {
  const char* name;
  topology::WindowSpec window;
};

const Case cases[] = {
    {"tumbling 50 grace 20", tumbling(50, 20)},   {"tumbling 30 grace 0", tumbling(30, 0)},
    {"hopping 60/20 grace 15", hopping(60, 20, 15)}, {"hopping 40/10 grace 0", hopping(40, 10, 0)},
    {"hopping 40/40 grace 5", hopping(40, 40, 5)}, {"sliding 40 grace 10", sliding(40, 10)},
    {"sliding 25 grace 0", sliding(25, 0)},       {"session 15 grace 10", session(15, 10)},
    {"session 8 grace 0", session(8, 0)},
};

const std::uint64_t seeds[] = {11, 22, 33};
const std::size_t on_time_schedules[] = {1, 1, 9};  // per seed: after every record, or after batches of 9

}  // namespace

TEST(WindowProperty, FinalOutputsEqualBruteForce) {
  for (const Case& test_case : cases) {
    std::size_t late_seen = 0;
    for (std::size_t run_index = 0; run_index < std::size(seeds); ++run_index) {
      const std::uint64_t seed = seeds[run_index];
      SCOPED_TRACE(std::string(test_case.name) + ", seed " + std::to_string(seed));
      const auto inputs = generate(seed, 400);
      const Reference reference = reference_for(test_case.window, inputs);
      const std::size_t on_time_every = on_time_schedules[run_index];
      const OperatorRun run =
          run_operator(test_case.window, EmitMode::final, 10'000, inputs, 1 + seed % 7, on_time_every);
      EXPECT_EQ(run.late, reference.late);
      late_seen += reference.late.size();

      std::vector<std::pair<WindowId, std::string>> expected;
      for (const RefWindow& window : reference.windows) {
        expected.emplace_back(WindowId{window.end, core::to_json(window.key), window.start},
                              expected_output(window, inputs));
      }
      std::sort(expected.begin(), expected.end());
      std::vector<std::string> expected_text;
      for (const auto& [id, text] : expected) expected_text.push_back(text);
      std::vector<std::string> actual_text;
      for (const core::Record& record : run.outputs) actual_text.push_back(describe(record));
      EXPECT_GT(expected_text.size(), 40u) << "the inputs should make many windows";
      if (std::getenv("SLUICE_PROPERTY_STATS") != nullptr) {
        std::printf("%s seed %llu: %zu windows, %zu late\n", test_case.name, static_cast<unsigned long long>(seed),
                    expected_text.size(), reference.late.size());
      }
      // Equal sequences: the same windows, each exactly once, in (window end, key) order, with equal values.
      EXPECT_EQ(actual_text, expected_text);
    }
    EXPECT_GT(late_seen, 0u) << test_case.name << ": the inputs should exercise lateness";
  }
}

TEST(WindowProperty, LastUpdatePerWindowEqualsBruteForce) {
  for (const Case& test_case : cases) {
    for (std::size_t run_index = 0; run_index < std::size(seeds); ++run_index) {
      const std::uint64_t seed = seeds[run_index];
      for (std::size_t limit : {std::size_t{10'000}, std::size_t{3}}) {
        SCOPED_TRACE(std::string(test_case.name) + ", seed " + std::to_string(seed) + ", limit " +
                     std::to_string(limit));
        const auto inputs = generate(seed, 400);
        const Reference reference = reference_for(test_case.window, inputs);
        const std::size_t on_time_every = on_time_schedules[run_index];
        const OperatorRun run =
            run_operator(test_case.window, EmitMode::update, limit, inputs, 1 + seed % 5, on_time_every);
        EXPECT_EQ(run.late, reference.late);

        std::map<WindowId, std::string> last;
        for (const core::Record& record : run.outputs) last[id_of(record)] = describe(record);
        for (const RefWindow& window : reference.windows) {
          const WindowId id{window.end, core::to_json(window.key), window.start};
          auto found = last.find(id);
          if (found == last.end()) {
            ADD_FAILURE() << "no update for window " << expected_output(window, inputs);
            continue;
          }
          EXPECT_EQ(found->second, expected_output(window, inputs));
          last.erase(found);
        }
        // Only sessions may have emitted windows that no longer exist: sessions merged into a later one.
        for (const auto& [id, text] : last) {
          ASSERT_EQ(test_case.window.type, WindowType::session) << "unexpected update " << text;
          // Not a structured binding: clang before 16 cannot capture one in the lambda below.
          const auto& end = std::get<0>(id);
          const auto& key = std::get<1>(id);
          const auto& start = std::get<2>(id);
          const bool merged_away =
              std::any_of(reference.windows.begin(), reference.windows.end(), [&](const RefWindow& window) {
                return core::to_json(window.key) == key && window.start <= start && end <= window.end;
              });
          EXPECT_TRUE(merged_away) << "update of a session that is in no final session: " << text;
        }
      }
    }
  }
}

// Hopping windows by slices (one pane of gcd(size, advance) per record, merged when a window closes) give what
// per-window state gives, record for record: the same windows in the same order with the same values and
// timestamps, the same late records, and no state left. For count, first and last, where slices are chosen
// automatically; on_time after every record and in batches (a window that closed but was not emitted yet must
// not see a record added to a slice it shares), commits at different intervals.
TEST(WindowProperty, SlicedHoppingWindowsEqualPerWindowState) {
  const std::vector<topology::AggregationSpec> aggregations = {
      aggregation("n", AggregateFunction::count), aggregation("c", AggregateFunction::count, "x"),
      aggregation("f", AggregateFunction::first, "x"), aggregation("l", AggregateFunction::last, "x")};
  const topology::WindowSpec windows[] = {hopping(60, 20, 15), hopping(40, 10, 0), hopping(50, 20, 5),
                                          hopping(45, 30, 10), hopping(100, 1, 0)};
  for (const topology::WindowSpec& window : windows) {
    for (std::size_t run_index = 0; run_index < std::size(seeds); ++run_index) {
      const std::uint64_t seed = seeds[run_index];
      SCOPED_TRACE("hopping " + std::to_string(window.size_ms) + "/" + std::to_string(window.advance_ms) +
                   " grace " + std::to_string(window.grace_ms) + ", seed " + std::to_string(seed));
      const auto inputs = generate(seed, 400);
      const auto spec = aggregate_spec(window, aggregations, EmitMode::final);
      std::vector<std::string> outputs[2];
      std::set<std::size_t> late[2];
      for (int sliced = 0; sliced < 2; ++sliced) {
        StatefulHarness h(detail::make_windowed_aggregate(
            "agg", spec, 10'000, sliced != 0 ? detail::WindowState::sliced : detail::WindowState::per_window));
        ASSERT_EQ(h.op().store_families(), sliced != 0 ? 4 : 2);
        for (std::size_t i = 0; i < inputs.size(); ++i) {
          auto result = h.feed_without_time(inputs[i].key, inputs[i].time, inputs[i].value);
          if (i % on_time_schedules[run_index] == on_time_schedules[run_index] - 1) h.tick();
          if (!result.ok()) late[sliced].insert(i);
          if (i % (1 + seed % 7) == seed % 7) h.commit();
        }
        h.advance_to(h.stream_time() + 1'000'000);
        h.commit();
        EXPECT_EQ(h.total_entries(), 0u) << "state left after every window closed";
        for (const core::Record& record : h.take_records()) outputs[sliced].push_back(describe(record));
      }
      EXPECT_GT(outputs[0].size(), 40u);
      EXPECT_EQ(outputs[1], outputs[0]);
      EXPECT_EQ(late[1], late[0]);
    }
  }
}

TEST(WindowProperty, SlicesAreChosenOnlyWhereTheyGiveTheSameBytes) {
  auto families = [](topology::WindowSpec window, std::vector<topology::AggregationSpec> aggregations,
                     EmitMode emit) {
    return detail::make_windowed_aggregate("agg", aggregate_spec(window, std::move(aggregations), emit), 10'000)
        ->store_families();
  };
  EXPECT_EQ(families(hopping(10, 2, 0), count_only(), EmitMode::final), 4);
  EXPECT_EQ(families(hopping(10, 2, 0), count_only(), EmitMode::update), 2);      // updates per window
  EXPECT_EQ(families(hopping(10, 10, 0), count_only(), EmitMode::final), 2);     // one window per record
  EXPECT_EQ(families(tumbling(10, 0), count_only(), EmitMode::final), 2);
  EXPECT_EQ(families(hopping(10, 2, 0), every_function(), EmitMode::final), 2);  // sum, avg, min, max
}

// An application upgraded from per-window hopping state to slices in the middle of its input: the windows open
// at the upgrade merge their per-window accumulator (restored from the changelog) with the slices written
// after it, and every window comes out as a run without the upgrade gives it.
TEST(WindowProperty, UpgradeFromPerWindowStateToSlicesKeepsEveryWindowExact) {
  const auto spec = aggregate_spec(hopping(60, 20, 15),
                                   {aggregation("n", AggregateFunction::count),
                                    aggregation("f", AggregateFunction::first, "x"),
                                    aggregation("l", AggregateFunction::last, "x")},
                                   EmitMode::final);
  for (const std::uint64_t seed : seeds) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const auto inputs = generate(seed, 400);
    auto per_window = [&] { return detail::make_windowed_aggregate("agg", spec, 10'000, detail::WindowState::per_window); };
    std::vector<std::string> expected, actual;
    StatefulHarness whole(per_window());
    for (const auto& input : inputs) (void)whole.feed(input.key, input.time, input.value);
    whole.advance_to(whole.stream_time() + 1'000'000);
    for (const core::Record& record : whole.take_records()) expected.push_back(describe(record));

    StatefulHarness before(per_window());
    for (std::size_t i = 0; i < 200; ++i) (void)before.feed(inputs[i].key, inputs[i].time, inputs[i].value);
    before.commit();
    for (const core::Record& record : before.take_records()) actual.push_back(describe(record));
    StatefulHarness after(detail::make_windowed_aggregate("agg", spec, 10'000, detail::WindowState::sliced));
    after.restore_from(before);
    ASSERT_GT(after.entries(0), 0u) << "windows open at the upgrade";
    for (std::size_t i = 200; i < inputs.size(); ++i) (void)after.feed(inputs[i].key, inputs[i].time, inputs[i].value);
    after.advance_to(after.stream_time() + 1'000'000);
    after.commit();
    for (const core::Record& record : after.take_records()) actual.push_back(describe(record));
    EXPECT_EQ(after.total_entries(), 0u);
    EXPECT_EQ(actual, expected);
  }
}

// collect_index with IndexProgress: a scan (a RocksDB iterator) only when an entry can be due, and every entry
// collected exactly once, including one put below what was collected already.
TEST(IndexProgress, ScansOnlyWhenAnEntryCanBeDueAndMissesNothing) {
  class CountingStore final : public state::Store {
   public:
    bool get(std::uint8_t family, std::string_view key, std::string& value) override {
      auto it = families[family].find(std::string(key));
      if (it == families[family].end()) return false;
      value = it->second;
      return true;
    }
    void put(std::uint8_t family, std::string_view key, std::string_view value) override {
      families[family][std::string(key)] = std::string(value);
    }
    void remove(std::uint8_t family, std::string_view key) override { families[family].erase(std::string(key)); }
    void scan(std::uint8_t family, std::string_view from, std::string_view to, const state::Visitor& visitor) override {
      ++scans;
      for (auto it = families[family].lower_bound(std::string(from)); it != families[family].end(); ++it) {
        if (!to.empty() && it->first >= to) return;
        if (!visitor(it->first, it->second)) return;
      }
    }
    std::size_t buffered_changes() const noexcept override { return 0; }
    std::map<std::string, std::string> families[2];
    int scans = 0;
  };
  CountingStore store;
  ops::detail::IndexProgress progress;
  std::vector<std::string> keys;
  const auto key = [](std::int64_t time, std::string_view group) {
    std::string out;
    ops::detail::append_index_key(out, time, group);
    return out;
  };
  const auto collect = [&](std::int64_t last) {
    ops::detail::collect_index(store, 1, last, keys, &progress);
    std::vector<std::int64_t> times;
    for (const std::string& k : keys) {
      times.push_back(ops::detail::read_time(k));
      store.remove(1, k);
    }
    return times;
  };
  using Times = std::vector<std::int64_t>;
  ops::detail::put_index(store, 1, key(100, "a"), &progress);
  ops::detail::put_index(store, 1, key(200, "b"), &progress);
  EXPECT_EQ(collect(50), Times{});  // nothing known yet: one scan, which finds the next entry at 100
  EXPECT_EQ(store.scans, 1);
  EXPECT_EQ(collect(99), Times{});
  EXPECT_EQ(store.scans, 1);
  EXPECT_EQ(collect(150), Times{100});
  EXPECT_EQ(store.scans, 2);
  EXPECT_EQ(collect(199), Times{});  // the next is at 200
  EXPECT_EQ(store.scans, 2);
  ops::detail::put_index(store, 1, key(120, "c"), &progress);  // before the known next
  EXPECT_EQ(collect(130), Times{120});
  EXPECT_EQ(store.scans, 3);
  ops::detail::put_index(store, 1, key(90, "late"), &progress);  // below the floor (131)
  EXPECT_EQ(collect(140), Times{90});
  EXPECT_EQ(store.scans, 4);
  EXPECT_EQ(collect(1000), Times{200});
  EXPECT_EQ(collect(1000), Times{});
  EXPECT_EQ(store.scans, 5);
  EXPECT_TRUE(store.families[1].empty());
}
