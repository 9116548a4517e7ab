// The Nexmark benchmark's topologies (bench/nexmark/q*.json) compute the right answer: sluice-nexmark loads a
// small run (20,000 events, 4 partitions, 500 events per second of event time, so 40 s of windows), each
// topology runs on the real broker under exactly-once until every window has closed (window_idle_timeout 3s),
// and its whole output (read_committed) must equal, as a multiset, what an independent reference computes here
// from the events: keys, value bytes (field order and integer formatting included) and, for the stateless
// queries and q8's join pairs, timestamps. Also checks the generator: same arguments, same bytes; event i depends only on
// (seed, i); Nexmark's proportions (1 person, 3 auctions, 46 bids per 50 events).
//
// The reference follows the contract in bench/nexmark/README.md and the stream-time rules of the README's
// "Keyed state, time and windows" (grace 0): a task's windows close when its stream time (the largest event
// time it has seen) passes their end, and a record older than that is late. Input partitions are in event-time
// order, so q5 and q7 see no late record. q11 re-keys by bidder through a repartition topic, which interleaves
// the input partitions as they were fetched, so a bid can arrive after its bidder's session closed: the
// reference replays each repartition partition in offset order with the same rules, and the late bids it
// predicts must be exactly the ones in the dead-letter topic. q3 (stream-table join) is checked against the
// joins that were possible and those that were certain (see there); q8 (stream-stream join per tumbling
// window) exactly: every pair once, stamped with the later of its two records.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sluice/runtime/test_driver.hpp"
#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kPartitions = 4;
constexpr std::int64_t kEvents = 20'000;
constexpr std::int64_t kEventsPerSecond = 500;

std::string nexmark_binary() { return std::string(SLUICE_BINARY_DIR) + "/sluice-nexmark"; }

std::string run_command(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  char buffer[65536];
  for (std::size_t read; (read = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, read);
  int status = pclose(pipe);
  if (status != 0) throw std::runtime_error(command + " failed with status " + std::to_string(status));
  return output;
}

std::string common_arguments() { return " --seed 7 --events-per-second " + std::to_string(kEventsPerSecond); }

struct Event {
  std::string key;
  std::string value;
  std::int64_t timestamp_ms = 0;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  nlohmann::json fields;
};

// What a topology is expected to write, one string per record: key, value bytes and (stateless) timestamp.
using Multiset = std::multiset<std::string>;

std::string output_line(const std::string& key, const std::string& value, std::optional<std::int64_t> timestamp) {
  return key + " | " + value + (timestamp ? " | " + std::to_string(*timestamp) : "");
}

std::string integer(const nlohmann::json& value) { return std::to_string(value.get<std::int64_t>()); }

// Windowed outputs, in the contract's field order.
std::string window_value(const char* key_field, const std::string& key, std::int64_t start, std::int64_t end,
                         const char* result_field, std::int64_t result) {
  return std::string("{\"") + key_field + "\":" + key + ",\"window_start\":" + std::to_string(start) +
         ",\"window_end\":" + std::to_string(end) + ",\"" + result_field + "\":" + std::to_string(result) + "}";
}

// Records of each partition in offset order: one task's view of its input.
std::map<std::int32_t, std::vector<const Event*>> by_partition(const std::vector<Event>& events) {
  std::map<std::int32_t, std::vector<const Event*>> tasks;
  for (const Event& event : events) tasks[event.partition].push_back(&event);
  for (auto& [partition, records] : tasks) {
    std::sort(records.begin(), records.end(), [](const Event* a, const Event* b) { return a->offset < b->offset; });
  }
  return tasks;
}

struct Expected {
  Multiset outputs;
  std::size_t late = 0;
};

// Tumbling (advance == size) and hopping windows over bids keyed by auction; `max_price` picks max(price)
// instead of count(). Windows [s, s + size) with s a multiple of advance; closed once stream time >= end.
Expected time_windows(const std::vector<Event>& input, std::int64_t size, std::int64_t advance, bool max_price) {
  Expected expected;
  for (const auto& [partition, records] : by_partition(input)) {
    std::int64_t stream_time = INT64_MIN;
    std::map<std::pair<std::string, std::int64_t>, std::int64_t> open;  // (auction, start) -> result
    auto close_up_to = [&](std::int64_t now) {
      for (auto it = open.begin(); it != open.end();) {
        if (it->first.second + size <= now) {
          expected.outputs.insert(output_line(it->first.first,
                                              window_value("auction", it->first.first, it->first.second,
                                                           it->first.second + size, max_price ? "max_price" : "count",
                                                           it->second),
                                              std::nullopt));
          it = open.erase(it);
        } else {
          ++it;
        }
      }
    };
    for (const Event* event : records) {
      if (event->fields["type"] != "bid") continue;
      const std::int64_t t = event->timestamp_ms;
      stream_time = std::max(stream_time, t);
      bool accepted = false;
      for (std::int64_t start = (t / advance) * advance; start > t - size; start -= advance) {
        if (start + size <= stream_time) continue;  // that window is closed
        accepted = true;
        auto [it, inserted] = open.try_emplace({event->key, start}, 0);
        if (max_price) {
          std::int64_t price = event->fields["price"].get<std::int64_t>();
          it->second = inserted ? price : std::max(it->second, price);
        } else {
          ++it->second;
        }
      }
      expected.late += !accepted;
      close_up_to(stream_time);
    }
    close_up_to(INT64_MAX);  // window_idle_timeout: every window closes in the end
  }
  return expected;
}

// Session windows per bidder (gap 10 s, grace 0) over the repartition topic's partitions in offset order.
// A session [start, end] closes once stream time > end + gap; a record at t is late once t + gap < stream time;
// a record joins the open sessions with start - gap <= t <= end + gap and merges them.
Expected sessions(const std::vector<Event>& repartitioned, std::int64_t gap) {
  Expected expected;
  struct Session {
    std::int64_t start, end, count;
  };
  for (const auto& [partition, records] : by_partition(repartitioned)) {
    std::int64_t stream_time = INT64_MIN;
    std::map<std::string, std::vector<Session>> open;
    auto emit = [&](const std::string& bidder, const Session& session) {
      expected.outputs.insert(
          output_line(bidder, window_value("bidder", bidder, session.start, session.end, "count", session.count), std::nullopt));
    };
    auto close_up_to = [&](std::int64_t now) {
      for (auto& [bidder, list] : open) {
        const auto& bidder_id = bidder;  // clang before 16 cannot capture a structured binding
        std::erase_if(list, [&](const Session& session) {
          if (now == INT64_MAX || session.end + gap < now) {
            emit(bidder_id, session);
            return true;
          }
          return false;
        });
      }
    };
    for (const Event* event : records) {
      const std::int64_t t = event->timestamp_ms;
      stream_time = std::max(stream_time, t);
      close_up_to(stream_time);
      if (t + gap < stream_time) {
        ++expected.late;
        continue;
      }
      const std::string bidder = integer(event->fields["bidder"]);
      auto& list = open[bidder];
      Session merged{t, t, 1};
      std::erase_if(list, [&](const Session& session) {
        if (session.start - gap <= t && t <= session.end + gap) {
          merged.start = std::min(merged.start, session.start);
          merged.end = std::max(merged.end, session.end);
          merged.count += session.count;
          return true;
        }
        return false;
      });
      list.push_back(merged);
    }
    close_up_to(INT64_MAX);
  }
  return expected;
}

std::vector<Event> to_events(const std::vector<TestRecord>& records) {
  std::vector<Event> events;
  for (const TestRecord& record : records) {
    Event event;
    event.key = record.key.value_or("");
    event.value = record.value.value_or("");
    event.timestamp_ms = record.timestamp_ms;
    event.partition = record.partition;
    event.offset = record.offset;
    event.fields = nlohmann::json::parse(event.value);
    events.push_back(std::move(event));
  }
  return events;
}

// Shows what differs (a few lines each way) when two multisets are not equal.
std::string difference(const Multiset& expected, const Multiset& actual) {
  Multiset missing, unexpected;
  std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(), std::inserter(missing, missing.end()));
  std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(), std::inserter(unexpected, unexpected.end()));
  std::ostringstream text;
  text << missing.size() << " expected records missing, " << unexpected.size() << " unexpected records";
  int shown = 0;
  for (const auto& line : missing) {
    if (shown++ == 5) break;
    text << "\n  missing:    " << line;
  }
  shown = 0;
  for (const auto& line : unexpected) {
    if (shown++ == 5) break;
    text << "\n  unexpected: " << line;
  }
  return text.str();
}

class NexmarkQuery : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    input_topic_ = unique_name("nexmark-events");
    persons_topic_ = input_topic_ + "-persons";
    run_command(nexmark_binary() + " load --bootstrap " + bootstrap() + " --topic " + input_topic_ +
                " --persons-topic " + persons_topic_ + " --events " + std::to_string(kEvents) + " --partitions " +
                std::to_string(kPartitions) + common_arguments() + " 2>/dev/null");
    input_ = to_events(consume_to_end(input_topic_, kPartitions, 60s));
  }

  static inline std::string input_topic_;
  static inline std::string persons_topic_;  // q3's table: every person again, as `load --persons-topic` writes it
  static inline std::vector<Event> input_;
};

TEST(NexmarkGenerator, IsDeterministicPerEventWithNexmarksProportions) {
  const std::string print = nexmark_binary() + " print" + common_arguments();
  const std::string whole = run_command(print + " --events 2000");
  EXPECT_EQ(whole, run_command(print + " --events 2000"));
  // Event i depends on (seed, i) only: starting at event 1000 gives the second half.
  const std::string second_half = run_command(print + " --first-event 1000 --events 1000");
  std::size_t line_1000 = 0;
  for (int line = 0; line < 1000; ++line) line_1000 = whole.find('\n', line_1000) + 1;
  EXPECT_EQ(whole.substr(line_1000), second_half);
  EXPECT_NE(whole, run_command(nexmark_binary() + " print --seed 8 --events 2000"));

  std::map<std::string, int> types;
  std::istringstream lines(whole);
  for (std::string line; std::getline(lines, line);) {
    auto value = nlohmann::json::parse(line.substr(line.rfind('\t') + 1));
    ++types[value["type"].get<std::string>()];
  }
  EXPECT_EQ(types["person"], 40);
  EXPECT_EQ(types["auction"], 120);
  EXPECT_EQ(types["bid"], 1840);
}

TEST_P(NexmarkQuery, OutputEqualsTheReference) {
  const std::string query = GetParam();
  ASSERT_EQ(input_.size(), static_cast<std::size_t>(kEvents));

  // The topology with this run's names; key order is kept (select writes fields in the file's order).
  std::ifstream file(source_dir() + "/bench/nexmark/" + query + ".json");
  auto topology = nlohmann::ordered_json::parse(file);
  const std::string application_id = unique_name("nexmark-" + query);
  const std::string output = application_id + "-out";
  topology["application_id"] = application_id;
  topology["sources"][0]["topic"] = input_topic_;
  topology["sinks"][0]["topic"] = output;
  // q3's persons table has a topic of its own, written by the generator beside the events (--persons-topic). It
  // must hold exactly the input's persons, each in the partition murmur2 gives its key, like the repartition
  // topic the auctions go through.
  if (query == "q3") {
    std::multiset<std::string> persons_in_input, rows;
    for (const Event& event : input_) {
      if (event.fields["type"] == "person") persons_in_input.insert(output_line(event.key, event.value, event.timestamp_ms));
    }
    for (const TestRecord& row : consume_to_end(persons_topic_, kPartitions, 60s)) {
      rows.insert(output_line(row.key.value_or("<null>"), row.value.value_or("<null>"), row.timestamp_ms));
      EXPECT_EQ(row.partition, sluice::runtime::murmur2_partition(row.key.value_or(""), kPartitions)) << *row.key;
    }
    ASSERT_TRUE(rows == persons_in_input) << "the persons topic does not hold exactly the input's persons";
    topology["tables"][0]["topic"] = persons_topic_;
  }
  const std::string path = write_temp_file(query + ".json", topology.dump(2));

  auto running = start_sluice(path, {"--set", "window_idle_timeout=3s", "--set", "processing_guarantee=exactly_once",
                                     "--set", "state_dir=/tmp/" + application_id, "--set", "log_level=warn"});
  std::vector<std::string> topics_in_order = {input_topic_};
  const std::string repartition = application_id + "-sessions-repartition";
  if (query == "q11") topics_in_order.push_back(repartition);
  if (query == "q3") {
    topics_in_order.push_back(application_id + "-with_seller-repartition");
    topics_in_order.push_back(persons_topic_);
  }
  if (query == "q8") {
    topics_in_order.push_back(application_id + "-new_sellers-left-repartition");
    topics_in_order.push_back(application_id + "-new_sellers-right-repartition");
  }
  std::string why;
  ASSERT_TRUE(wait_group_processed(application_id, topics_in_order, kPartitions, 180s, &why))
      << why << "\n" << running.process->log();

  // The reference.
  Expected expected;
  std::vector<Event> repartitioned;
  if (query == "q0") {
    for (const Event& event : input_) expected.outputs.insert(output_line(event.key, event.value, event.timestamp_ms));
  } else if (query == "q1" || query == "q2") {
    for (const Event& event : input_) {
      const auto& bid = event.fields;
      if (bid["type"] != "bid") continue;
      std::int64_t auction = bid["auction"].get<std::int64_t>(), price = bid["price"].get<std::int64_t>();
      if (query == "q1") {
        std::string value = "{\"auction\":" + std::to_string(auction) + ",\"bidder\":" + integer(bid["bidder"]) +
                            ",\"price\":" + std::to_string(price * 89 / 100) + ",\"date_time\":" + integer(bid["date_time"]) + "}";
        expected.outputs.insert(output_line(event.key, value, event.timestamp_ms));
      } else if (auction % 123 == 0) {
        std::string value = "{\"auction\":" + std::to_string(auction) + ",\"price\":" + std::to_string(price) + "}";
        expected.outputs.insert(output_line(event.key, value, event.timestamp_ms));
      }
    }
  } else if (query == "q5") {
    expected = time_windows(input_, 10'000, 2'000, false);
  } else if (query == "q7") {
    expected = time_windows(input_, 10'000, 10'000, true);
  } else if (query == "q11") {
    // The repartition topic holds every bid, re-keyed by bidder, in the order its tasks processed them.
    repartitioned = to_events(consume_to_end(repartition, kPartitions, 60s));
    std::multiset<std::string> bids, passed;
    for (const Event& event : input_) {
      if (event.fields["type"] == "bid") bids.insert(event.fields.dump());
    }
    for (const Event& event : repartitioned) {
      passed.insert(event.fields.dump());
      EXPECT_EQ(nlohmann::json::parse(event.key), integer(event.fields["bidder"])) << "repartition key";
    }
    EXPECT_TRUE(bids == passed) << "the repartition topic does not hold exactly the bids";
    expected = sessions(repartitioned, 10'000);
  } else if (query == "q8") {
    // Every (person, auction) of one seller created in one 10 s tumbling window, once, stamped with the later of
    // the two. Nothing can be late: the whole input spans 40 s of event time, less than within + grace (70 s).
    std::map<std::pair<std::int64_t, std::int64_t>, std::vector<const Event*>> persons_in_window;
    auto window_of = [](const Event& event) { return event.timestamp_ms - event.timestamp_ms % 10'000; };
    for (const Event& event : input_) {
      if (event.fields["type"] == "person") {
        persons_in_window[{event.fields["id"].get<std::int64_t>(), window_of(event)}].push_back(&event);
      }
    }
    for (const Event& event : input_) {
      if (event.fields["type"] != "auction") continue;
      const std::int64_t seller = event.fields["seller"].get<std::int64_t>(), window = window_of(event);
      auto found = persons_in_window.find({seller, window});
      if (found == persons_in_window.end()) continue;
      for (const Event* person : found->second) {
        nlohmann::ordered_json value = {{"id", person->fields["id"]}, {"name", person->fields["name"]},
                                        {"reserve", event.fields["reserve"]}};
        expected.outputs.insert(output_line(std::to_string(seller) + ":" + std::to_string(window), value.dump(),
                                            std::max(person->timestamp_ms, event.timestamp_ms)));
      }
    }
  }
  // q3: an auction joins its seller if the seller's row was in the table when the auction was processed. The
  // task takes the auctions (re-keyed, in the order they were fetched) and the persons in event-time order, so
  // a seller created before the auction (event time) is always there; one created after it may be or not, as
  // the re-keyed auctions are only roughly in event-time order. So: every output must be a possible join, and
  // every certain one must be there.
  Multiset certain, possible;
  if (query == "q3") {
    std::map<std::string, const Event*> person_of;
    for (const Event& event : input_) {
      if (event.fields["type"] == "person") person_of.emplace(integer(event.fields["id"]), &event);
    }
    for (const Event& event : input_) {
      const auto& auction = event.fields;
      if (auction["type"] != "auction" || auction["category"] != 10) continue;
      auto found = person_of.find(integer(auction["seller"]));
      if (found == person_of.end()) continue;
      const auto& person = found->second->fields;
      const std::string state = person["state"].get<std::string>();
      if (state != "OR" && state != "ID" && state != "CA") continue;
      nlohmann::ordered_json value = {{"name", person["name"]}, {"city", person["city"]}, {"state", person["state"]},
                                      {"id", auction["id"]}};
      const std::string line = output_line(integer(auction["seller"]), value.dump(), std::nullopt);
      possible.insert(line);
      if (found->second->timestamp_ms < event.timestamp_ms) certain.insert(line);
    }
    ASSERT_FALSE(certain.empty());
    consume(output, certain.size(), 120s);
    running.process->signal(SIGTERM);
    ASSERT_EQ(running.process->wait(60s), 0) << running.process->log();
    Multiset actual;
    for (const TestRecord& record : consume_to_end(output, kPartitions, 60s)) {
      actual.insert(output_line(record.key.value_or("<null>"), record.value.value_or("<null>"), std::nullopt));
    }
    Multiset missing, impossible;
    std::set_difference(certain.begin(), certain.end(), actual.begin(), actual.end(), std::inserter(missing, missing.end()));
    std::set_difference(actual.begin(), actual.end(), possible.begin(), possible.end(),
                        std::inserter(impossible, impossible.end()));
    EXPECT_TRUE(missing.empty()) << difference(certain, actual);
    EXPECT_TRUE(impossible.empty()) << difference(possible, actual);
    EXPECT_TRUE(consume_to_end(application_id + "-dlq", kPartitions, 60s).empty());
    std::printf("[ nexmark  ] q3: %zu outputs, all possible joins; %zu certain of %zu possible present\n", actual.size(),
                certain.size() - missing.size(), possible.size());
    return;
  }
  ASSERT_FALSE(expected.outputs.empty());

  // Every window closes once the task is idle for 3 s; then everything expected is there.
  consume(output, expected.outputs.size(), 120s);
  running.process->signal(SIGTERM);
  ASSERT_EQ(running.process->wait(60s), 0) << running.process->log();

  // The stateless queries and q8's pairs keep (or take) an input's timestamp; windowed results are stamped with
  // their window, which the value already says.
  const bool timestamped = query == "q0" || query == "q1" || query == "q2" || query == "q8";
  Multiset actual;
  for (const TestRecord& record : consume_to_end(output, kPartitions, 60s)) {
    actual.insert(output_line(record.key.value_or("<null>"), record.value.value_or("<null>"),
                              timestamped ? std::optional<std::int64_t>(record.timestamp_ms) : std::nullopt));
  }
  EXPECT_EQ(actual.size(), expected.outputs.size());
  EXPECT_TRUE(actual == expected.outputs) << query << ": " << difference(expected.outputs, actual);

  std::size_t late = 0, other_dead_letters = 0;
  for (const TestRecord& record : consume_to_end(application_id + "-dlq", kPartitions, 60s)) {
    if (record.header("sluice.error.kind") == "late") {
      ++late;
    } else {
      ++other_dead_letters;
    }
  }
  EXPECT_EQ(other_dead_letters, 0u);
  EXPECT_EQ(late, expected.late) << "late records: the reference and the dead-letter topic disagree";
  std::printf("[ nexmark  ] %s: %zu outputs equal the reference (%zu late records dead-lettered as predicted)\n",
              query.c_str(), actual.size(), late);
}

INSTANTIATE_TEST_SUITE_P(Queries, NexmarkQuery, ::testing::Values("q0", "q1", "q2", "q3", "q5", "q7", "q8", "q11"),
                         [](const auto& info) { return info.param; });

}  // namespace
