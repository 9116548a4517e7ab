// Changing a topology that already ran, against the real broker: each kind of change through `sluice diff` and
// through a real restart on the same state directory and cluster state (issue 14, part 2).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// A per-user count over a one-day tumbling window (emit update), after a rekey: `change` edits the document.
std::string version(const std::string& application_id, const std::string& input, const std::string& output,
                    const std::string& name, const std::function<void(json&)>& change = {}) {
  json document = {
      {"application_id", application_id},
      {"sources", {{{"name", "in"}, {"topic", input}}}},
      {"operators",
       {{{"name", "by_user"}, {"from", "in"}, {"rekey", "user"}},
        {{"name", "counts"},
         {"from", "by_user"},
         {"window", {{"type", "tumbling"}, {"size", "1d"}}},
         {"aggregate", {{"n", "count()"}}}}}},
      {"sinks", {{{"from", "counts"}, {"topic", output}}}}};
  if (change) change(document);
  return write_temp_file(application_id + "-" + name + ".json", document.dump(2));
}

// Records of users at a time inside today's one-day window (recent, so no retention deletes them).
std::vector<TestRecord> orders(const std::vector<std::pair<std::string, int>>& user_amounts) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
  const std::int64_t day = 86'400'000;
  std::vector<TestRecord> records;
  for (const auto& [user, amount] : user_amounts) {
    TestRecord record;
    record.key = "o-" + user;
    record.value = json{{"user", user}, {"amount", amount}, {"country", "de"}}.dump();
    record.timestamp_ms = now / day * day + 1000;
    records.push_back(std::move(record));
  }
  return records;
}

// The latest output value per key.
std::map<std::string, json> latest(const std::string& output) {
  std::map<std::string, json> out;
  for (const auto& record : consume_to_end(output, 2, 30s)) {
    if (record.key && record.value) out[*record.key] = json::parse(*record.value);
  }
  return out;
}

// Runs a `sluice` command to its end; returns the exit code (-1 on timeout) and the output.
std::pair<int, std::string> sluice_command(const std::vector<std::string>& arguments, std::chrono::seconds timeout = 60s) {
  SluiceProcess process(arguments);
  auto code = process.wait(timeout);
  return {code.value_or(-1), process.log()};
}

}  // namespace

TEST(TopologyEvolution, EachKindOfChangeThroughDiffAndARealRestart) {
  const std::string app = unique_name("evolve");
  const std::string input = app + "-in";
  const std::string output = app + "-out";
  create_topic(input, 2);
  create_topic(output, 2);
  const std::string state_dir = "/tmp/" + unique_name("evolve-state");
  const std::vector<std::string> state{"--set", "state_dir=" + state_dir};
  auto run = [&](const std::string& path, std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), state.begin(), state.end());
    return start_sluice(path, extra);
  };
  auto stop = [](RunningTopology& running) {
    running.process->signal(SIGTERM);
    ASSERT_EQ(running.process->wait(30s), 0) << running.process->log();
  };
  auto count_of = [&](const std::string& user, int wanted, const char* field = "n") {
    std::map<std::string, json> now;
    const bool reached = eventually([&] {
      now = latest(output);
      return now.count(user) != 0 && now[user][field] == wanted;
    }, 60s);
    return reached ? ::testing::AssertionSuccess()
                   : ::testing::AssertionFailure() << user << "." << field << " never became " << wanted << ": "
                                                   << (now.count(user) ? now[user].dump() : "(none)");
  };

  // Version 1 runs and counts.
  const std::string v1 = version(app, input, output, "v1");
  produce(input, orders({{"a", 1}, {"a", 1}, {"b", 1}, {"a", 1}, {"b", 1}, {"a", 1}}));
  {
    auto running = run(v1);
    EXPECT_TRUE(count_of("a", 4));
    EXPECT_TRUE(count_of("b", 2));
    stop(running);
  }

  // An added filter: compatible, and the count goes on from the stored state.
  const std::string filtered = version(app, input, output, "filtered", [](json& document) {
    document["operators"].insert(document["operators"].begin(),
                                 json{{"name", "valid"}, {"from", "in"}, {"filter", "amount >= 0"}});
    document["operators"][1]["from"] = "valid";
  });
  {
    auto [code, text] = sluice_command({"diff", v1, filtered});
    EXPECT_EQ(code, 0) << text;
    EXPECT_NE(text.find("keeps its state   counts (/operators/2)"), std::string::npos) << text;
    produce(input, orders({{"a", 1}}));
    auto running = run(filtered);
    EXPECT_TRUE(count_of("a", 5));
    stop(running);
  }

  // Changes the stored state cannot follow: `diff` says so (exit 1), and sluice refuses to start (exit 2),
  // naming the operator by pointer and what changed.
  struct Incompatible {
    const char* name;
    std::function<void(json&)> change;
    const char* what;
  };
  const std::vector<Incompatible> incompatible{
      {"window-size", [](json& d) { d["operators"][2]["window"]["size"] = "2d"; }, R"(window size: "1d" -> "2d")"},
      {"added-aggregation", [](json& d) { d["operators"][2]["aggregate"]["total"] = "sum(amount)"; },
       R"~(aggregations: ["n = count()"] -> ["n = count()","total = sum(amount)"])~"},
      {"changed-key", [](json& d) { d["operators"][1]["rekey"] = "country"; },
       R"(key: ["rekey user"] -> ["rekey country"])"},
  };
  auto with_filter = [](const std::function<void(json&)>& change) {
    return [change](json& document) {
      document["operators"].insert(document["operators"].begin(),
                                   json{{"name", "valid"}, {"from", "in"}, {"filter", "amount >= 0"}});
      document["operators"][1]["from"] = "valid";
      change(document);
    };
  };
  for (const auto& kind : incompatible) {
    SCOPED_TRACE(kind.name);
    const std::string path = version(app, input, output, kind.name, with_filter(kind.change));
    auto [diff_code, diff_text] = sluice_command({"diff", filtered, path});
    EXPECT_EQ(diff_code, 1) << diff_text;
    EXPECT_NE(diff_text.find("NEEDS A RESET     counts (/operators/2)"), std::string::npos) << diff_text;
    EXPECT_NE(diff_text.find(kind.what), std::string::npos) << diff_text;
    std::vector<std::string> arguments{"run", path, "--bootstrap", bootstrap(), "--set", "http_port=0"};
    arguments.insert(arguments.end(), state.begin(), state.end());
    auto [code, log] = sluice_command(arguments);
    EXPECT_EQ(code, 2) << log;
    EXPECT_NE(log.find("/operators/2: the state of operator \"counts\" was written by another definition (" +
                       std::string(kind.what) + ")"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("--reset-store counts"), std::string::npos) << log;
  }

  // The same change with --reset-store: the changelog is emptied, every local copy dropped, and the store starts
  // empty (without the local marker the RocksDB copy would still hold a's 5 and say 6).
  const std::string reset = version(app, input, output, "reset", with_filter(incompatible[1].change));
  produce(input, orders({{"a", 7}}));
  {
    auto running = run(reset, {"--reset-store", "counts"});
    EXPECT_TRUE(count_of("a", 1));
    EXPECT_TRUE(count_of("a", 7, "total"));
    stop(running);
    const std::string log = running.process->log();
    EXPECT_NE(log.find("--reset-store counts: emptied changelog " + app + "-counts-changelog"), std::string::npos) << log;
    EXPECT_NE(log.find("dropping its local stores"), std::string::npos) << log;
  }
  // Left in place, --reset-store does nothing more once the definition is recorded: the state is kept.
  produce(input, orders({{"a", 3}}));
  {
    auto running = run(reset, {"--reset-store", "counts"});
    EXPECT_TRUE(count_of("a", 2));
    EXPECT_TRUE(count_of("a", 10, "total"));
    stop(running);
    EXPECT_NE(running.process->log().find("its definition did not change; its state is kept"), std::string::npos);
  }

  // A renamed operator: a new store that starts empty; diff lists the old internal topics to delete.
  const std::string renamed = version(app, input, output, "renamed", with_filter([](json& d) {
    d["operators"][2]["name"] = "counts_v2";
    d["operators"][2]["aggregate"]["total"] = "sum(amount)";
    d["sinks"][0]["from"] = "counts_v2";
  }));
  auto [diff_code, diff_text] = sluice_command({"diff", reset, renamed, "--bootstrap", bootstrap()});
  EXPECT_EQ(diff_code, 1) << diff_text;
  EXPECT_NE(diff_text.find("starts empty      counts_v2"), std::string::npos) << diff_text;
  EXPECT_NE(diff_text.find("--delete --topic " + app + "-counts-changelog"), std::string::npos) << diff_text;
  produce(input, orders({{"a", 4}}));
  {
    auto running = run(renamed);
    EXPECT_TRUE(count_of("a", 1));
    EXPECT_TRUE(count_of("a", 4, "total"));
    stop(running);
  }
  std::filesystem::remove_all(state_dir);
}

// Stores are numbered by their place in the sub-topology on disk. A store added in front of another shifts the
// numbers: without the task marker the new store would read the old one's local bytes (and its changelog offset)
// as its own. The marker no longer matches, so the task's stores are rebuilt from their changelogs instead.
TEST(TopologyEvolution, AStoreAddedInFrontOfAnotherReadsNoneOfItsBytes) {
  const std::string app = unique_name("shift");
  const std::string input = app + "-in";
  const std::string output = app + "-out";
  create_topic(input, 2);
  create_topic(output, 2);
  const std::string state_dir = "/tmp/" + unique_name("shift-state");
  auto table_count = [&](json& document) {
    document["operators"][1].erase("window");
    document["operators"][1]["from"] = "by_user";
  };
  const std::string v1 = version(app, input, output, "v1", table_count);
  const std::string v2 = version(app, input, output, "v2", [&](json& document) {
    table_count(document);
    // totals comes first: it takes the store number counts had.
    document["operators"].insert(document["operators"].begin() + 1,
                                 json{{"name", "totals"}, {"from", "by_user"}, {"aggregate", {{"total", "sum(amount)"}}}});
    document["sinks"].push_back({{"from", "totals"}, {"topic", output}});
  });
  auto [diff_code, diff_text] = sluice_command({"diff", v1, v2});
  EXPECT_EQ(diff_code, 1) << diff_text;  // an output topic gains a writer
  EXPECT_NE(diff_text.find("keeps its state   counts"), std::string::npos) << diff_text;
  EXPECT_NE(diff_text.find("starts empty      totals"), std::string::npos) << diff_text;

  auto latest_where = [&](const std::string& user, const char* field, int wanted) {
    std::string seen;
    const bool reached = eventually([&] {
      for (const auto& record : consume_to_end(output, 2, 30s)) {
        if (!record.key || *record.key != user || !record.value) continue;
        const json value = json::parse(*record.value);
        if (value.contains(field)) seen = value.dump();
      }
      return !seen.empty() && json::parse(seen)[field] == wanted;
    }, 60s);
    return reached ? ::testing::AssertionSuccess()
                   : ::testing::AssertionFailure() << user << "." << field << " never became " << wanted << "; last "
                                                   << seen;
  };
  produce(input, orders({{"a", 1}, {"a", 1}, {"a", 1}}));
  {
    auto running = start_sluice(v1, {"--set", "state_dir=" + state_dir});
    EXPECT_TRUE(latest_where("a", "n", 3));
    running.process->signal(SIGTERM);
    ASSERT_EQ(running.process->wait(30s), 0) << running.process->log();
  }
  produce(input, orders({{"a", 5}}));
  auto running = start_sluice(v2, {"--set", "state_dir=" + state_dir});
  EXPECT_TRUE(latest_where("a", "total", 5));  // the new store starts empty
  EXPECT_TRUE(latest_where("a", "n", 4));      // the old one keeps its state (restored from its changelog)
  running.process->signal(SIGTERM);
  ASSERT_EQ(running.process->wait(30s), 0) << running.process->log();
  EXPECT_NE(running.process->log().find("dropping its local stores"), std::string::npos) << running.process->log();
  std::filesystem::remove_all(state_dir);
}
