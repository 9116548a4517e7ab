#include "sluice/app/cases.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <sstream>

#include "sluice/core/clock.hpp"
#include "sluice/core/file.hpp"
#include "sluice/core/json.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/printable.hpp"
#include "sluice/runtime/test_driver.hpp"

namespace sluice::app {

namespace {

using Json = nlohmann::ordered_json;

// The name the dead-letter topic has in a case file, whatever the topology calls it.
constexpr std::string_view kDeadLetters = "dead_letters";
// A record shown in a report is cut here (a value can be large).
constexpr std::size_t kShownRecordMaxBytes = 600;

std::string child(const std::string& pointer, std::string_view key) { return core::json_pointer_child(pointer, key); }
std::string child(const std::string& pointer, std::size_t index) { return core::json_pointer_child(pointer, index); }

std::string shown(const Json& json) {
  return core::printable(json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kShownRecordMaxBytes);
}

class CaseParser {
 public:
  CaseParser(const topology::Topology& topology, std::vector<CaseFileError>& errors)
      : topology_(topology), errors_(errors) {}

  void error(const std::string& pointer, std::string message) { errors_.push_back({pointer, std::move(message)}); }

  // A time: epoch milliseconds, or an ISO 8601 text.
  std::optional<std::int64_t> time(const Json& value, const std::string& pointer) {
    if (value.is_number_integer()) return value.get<std::int64_t>();
    if (value.is_string()) {
      if (auto parsed = core::parse_iso8601_ms(value.get<std::string>())) return parsed;
    }
    error(pointer, "expected a time: epoch milliseconds or ISO 8601 text (e.g. \"2026-11-21T10:00:00Z\"), got " +
                       shown(value));
    return std::nullopt;
  }

  std::optional<std::int64_t> duration(const Json& value, const std::string& pointer) {
    if (value.is_string()) {
      if (auto parsed = core::parse_duration_ms(value.get<std::string>()); parsed && *parsed >= 0) return parsed;
    }
    if (value.is_number_integer() && value.get<std::int64_t>() >= 0) return value.get<std::int64_t>();
    error(pointer, "expected a duration (e.g. \"30s\", \"5m\", or milliseconds), got " + shown(value));
    return std::nullopt;
  }

  void reject_unknown(const Json& object, const std::string& pointer, std::initializer_list<std::string_view> known) {
    for (const auto& [name, value] : object.items()) {
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::string list;
        for (std::string_view field : known) list += (list.empty() ? "" : ", ") + std::string(field);
        error(child(pointer, name), "unknown field; expected one of: " + list);
      }
    }
  }

  // The bytes a key or value of the case stands for, in the format of the topic it goes to: a JSON topic gets the
  // JSON text of any value; a string or bytes topic a string as it is. raw_*: the bytes as written, whatever the
  // format (a value that is not JSON, for a dead-letter case).
  std::optional<std::string> bytes(const Json& value, bool json_format, const std::string& pointer, bool& ok) {
    if (value.is_null()) return std::nullopt;
    if (json_format) return value.dump();
    if (value.is_string()) return value.get<std::string>();
    error(pointer, "the topic's format is string or bytes: expected a string or null, got " + shown(value) +
                       " (or write the exact bytes with raw_" + pointer.substr(pointer.rfind('/') + 1) + ")");
    ok = false;
    return std::nullopt;
  }

  std::optional<CaseInput> input(const Json& step, const std::string& pointer) {
    reject_unknown(step, pointer, {"topic", "key", "raw_key", "value", "raw_value", "time", "partition", "headers"});
    CaseInput input;
    input.pointer = pointer;
    bool ok = true;
    const Json& topic = step.at("topic");
    if (!topic.is_string()) {
      error(child(pointer, "topic"), "expected a topic name (a source's or a table's topic)");
      return std::nullopt;
    }
    input.topic = topic.get<std::string>();
    bool key_json = false;
    bool value_json = false;
    bool known = false;
    for (const auto& source : topology_.sources) {
      if (source.topic != input.topic) continue;
      known = true;
      key_json = source.key == topology::KeyFormat::json || topology::registry_format(source.key);
      // Avro values are written as JSON in a case: the value the Avro decoder would give.
      value_json = source.value == topology::ValueFormat::json || topology::registry_format(source.value);
    }
    for (const auto& table : topology_.tables) {
      if (table.topic != input.topic) continue;
      known = true;
      key_json = table.key == topology::KeyFormat::json;
      value_json = table.value == topology::ValueFormat::json;
    }
    if (!known) {
      std::string topics;
      for (const auto& source : topology_.sources) topics += (topics.empty() ? "" : ", ") + core::quoted(source.topic);
      for (const auto& table : topology_.tables) topics += (topics.empty() ? "" : ", ") + core::quoted(table.topic);
      error(child(pointer, "topic"), core::quoted(input.topic) + " is not read by the topology; it reads " + topics);
      return std::nullopt;
    }
    if (step.contains("key") && step.contains("raw_key")) {
      error(child(pointer, "raw_key"), "give key or raw_key, not both");
      ok = false;
    }
    if (step.contains("value") && step.contains("raw_value")) {
      error(child(pointer, "raw_value"), "give value or raw_value, not both");
      ok = false;
    }
    if (step.contains("key")) input.key = bytes(step.at("key"), key_json, child(pointer, "key"), ok);
    if (step.contains("raw_key")) input.key = raw(step.at("raw_key"), child(pointer, "raw_key"), ok);
    if (step.contains("value")) {
      input.value = bytes(step.at("value"), value_json, child(pointer, "value"), ok);
    } else if (step.contains("raw_value")) {
      input.value = raw(step.at("raw_value"), child(pointer, "raw_value"), ok);
    } else {
      error(pointer, "an input needs a value (null for a tombstone) or raw_value");
      ok = false;
    }
    if (step.contains("time")) {
      input.time = time(step.at("time"), child(pointer, "time"));
      ok = ok && input.time.has_value();
    }
    if (step.contains("partition")) {
      const Json& partition = step.at("partition");
      if (!partition.is_number_integer() || partition.get<std::int64_t>() < 0 || partition.get<std::int64_t>() > 100'000) {
        error(child(pointer, "partition"), "expected a partition number (0 or more), got " + shown(partition));
        ok = false;
      } else {
        input.partition = partition.get<std::int32_t>();
      }
    }
    if (step.contains("headers")) input.headers = headers(step.at("headers"), child(pointer, "headers"), ok);
    if (!ok) return std::nullopt;
    return input;
  }

  // A record's headers: an object of names to strings or null, in the file's order.
  std::vector<std::pair<std::string, std::optional<std::string>>> headers(const Json& object, const std::string& pointer,
                                                                          bool& ok) {
    std::vector<std::pair<std::string, std::optional<std::string>>> headers;
    if (!object.is_object()) {
      error(pointer, "expected an object of header names to string values (or null)");
      ok = false;
      return headers;
    }
    for (const auto& [name, value] : object.items()) {
      if (value.is_null()) {
        headers.emplace_back(name, std::nullopt);
      } else if (value.is_string()) {
        headers.emplace_back(name, value.get<std::string>());
      } else {
        error(child(pointer, name), "expected a string or null, got " + shown(value));
        ok = false;
      }
    }
    return headers;
  }

  std::optional<std::string> raw(const Json& value, const std::string& pointer, bool& ok) {
    if (value.is_null()) return std::nullopt;
    if (value.is_string()) return value.get<std::string>();
    error(pointer, "expected the exact bytes as a string (or null), got " + shown(value));
    ok = false;
    return std::nullopt;
  }

  std::optional<ExpectedRecord> expected(const Json& record, const std::string& pointer, CaseOrder order) {
    if (!record.is_object()) {
      error(pointer, "expected a record: an object with key, value, and optionally time, partition, headers");
      return std::nullopt;
    }
    reject_unknown(record, pointer, {"key", "value", "time", "partition", "headers"});
    ExpectedRecord expected;
    bool ok = true;
    if (record.contains("key")) expected.key = ExpectedField{nlohmann::json::parse(record.at("key").dump()), record.at("key")};
    if (record.contains("value")) {
      expected.value = ExpectedField{nlohmann::json::parse(record.at("value").dump()), record.at("value")};
    }
    if (order == CaseOrder::per_key && !expected.key) {
      error(pointer, "records are compared in order per key (\"order\": \"per_key\"): give the key, or choose "
                     "\"order\": \"exact\" or \"set\"");
      ok = false;
    }
    if (record.contains("time")) {
      expected.time = time(record.at("time"), child(pointer, "time"));
      ok = ok && expected.time.has_value();
    }
    if (record.contains("partition")) {
      const Json& partition = record.at("partition");
      if (!partition.is_number_integer() || partition.get<std::int64_t>() < 0) {
        error(child(pointer, "partition"), "expected a partition number, got " + shown(partition));
        ok = false;
      } else {
        expected.partition = partition.get<std::int32_t>();
      }
    }
    if (record.contains("headers")) {
      for (auto& [name, value] : headers(record.at("headers"), child(pointer, "headers"), ok)) {
        expected.headers[name] = std::move(value);
      }
    }
    if (!ok) return std::nullopt;
    return expected;
  }

 private:
  const topology::Topology& topology_;
  std::vector<CaseFileError>& errors_;
};

// What a topic the case checks writes: its formats (the dead-letter topic holds the input's bytes).
struct CheckedTopic {
  std::string name_in_case;  // the sink topic, or "dead_letters"
  std::string topic;
  bool key_json = false;
  bool value_json = false;
  bool dead_letters = false;
};

std::vector<CheckedTopic> checked_topics(const topology::Topology& topology) {
  std::vector<CheckedTopic> topics;
  for (const auto& sink : topology.sinks) {
    const bool known = std::any_of(topics.begin(), topics.end(), [&](const CheckedTopic& t) { return t.topic == sink.topic; });
    if (known) continue;
    topics.push_back({sink.topic, sink.topic, sink.key == topology::KeyFormat::json,
                      sink.value == topology::ValueFormat::json || topology::registry_format(sink.value), false});
  }
  topics.push_back({std::string(kDeadLetters), topology.dead_letter_topic, false, false, true});
  return topics;
}

// A key or value as the case file shows it: JSON where the topic's format is JSON (a dead letter's bytes where
// they parse), else the text. Json keeps the order of an object's fields for display and --update;
// nlohmann::json (sorted) is the form compared, so field order never decides a match.
template <typename Form>
Form shown_bytes(const std::optional<std::string>& bytes, bool json_format, bool try_json) {
  if (!bytes) return nullptr;
  if (json_format || try_json) {
    auto parsed = Form::parse(*bytes, nullptr, false);
    if (!parsed.is_discarded()) return parsed;
  }
  return *bytes;
}

// The case-file form of an actual record: key, value, time, partition, and its headers.
template <typename Form>
Form actual_form(const runtime::DriverRecord& record, const CheckedTopic& topic) {
  Form form = Form::object();
  form["key"] = shown_bytes<Form>(record.key, topic.key_json, false);
  form["value"] = shown_bytes<Form>(record.value, topic.value_json, topic.dead_letters);
  form["time"] = record.timestamp_ms;
  form["partition"] = record.partition;
  if (!record.headers.empty()) {
    Form headers = Form::object();
    for (const auto& header : record.headers) headers[header.name] = header.value ? Form(*header.value) : Form(nullptr);
    form["headers"] = headers;
  }
  return form;
}

struct ActualRecord {
  nlohmann::json compared;
  Json shown;
};

bool matches(const ExpectedRecord& expected, const ActualRecord& record) {
  const nlohmann::json& actual = record.compared;
  if (expected.key && expected.key->compared != actual["key"]) return false;
  if (expected.value && expected.value->compared != actual["value"]) return false;
  if (expected.time && *expected.time != actual["time"].get<std::int64_t>()) return false;
  if (expected.partition && *expected.partition != actual["partition"].get<std::int32_t>()) return false;
  for (const auto& [name, value] : expected.headers) {
    if (!actual.contains("headers") || !actual["headers"].contains(name)) return false;
    const nlohmann::json& header = actual["headers"][name];
    if (value ? header != nlohmann::json(*value) : !header.is_null()) return false;
  }
  return true;
}

Json expected_form(const ExpectedRecord& expected) {
  Json form = Json::object();
  if (expected.key) form["key"] = expected.key->shown;
  if (expected.value) form["value"] = expected.value->shown;
  if (expected.time) form["time"] = *expected.time;
  if (expected.partition) form["partition"] = *expected.partition;
  for (const auto& [name, value] : expected.headers) {
    form["headers"][name] = value ? Json(*value) : Json(nullptr);
  }
  return form;
}

// Compares two sequences position by position: `where` names the sequence in each line.
void compare_in_order(const std::vector<const ExpectedRecord*>& expected, const std::vector<const ActualRecord*>& actual,
                      const std::string& where, std::vector<std::string>& lines) {
  const std::size_t common = std::min(expected.size(), actual.size());
  for (std::size_t i = 0; i < common; ++i) {
    if (matches(*expected[i], *actual[i])) continue;
    lines.push_back(where + "record " + std::to_string(i + 1) + " differs: expected " + shown(expected_form(*expected[i])) +
                    ", got " + shown(actual[i]->shown));
  }
  for (std::size_t i = common; i < expected.size(); ++i) {
    lines.push_back(where + "missing record " + std::to_string(i + 1) + ": " + shown(expected_form(*expected[i])));
  }
  for (std::size_t i = common; i < actual.size(); ++i) {
    lines.push_back(where + "unexpected record " + std::to_string(i + 1) + ": " + shown(actual[i]->shown));
  }
}

std::vector<std::string> compare(const std::vector<ExpectedRecord>& expected, const std::vector<ActualRecord>& actual,
                                 CaseOrder order) {
  std::vector<std::string> lines;
  if (order == CaseOrder::exact) {
    std::vector<const ExpectedRecord*> e;
    std::vector<const ActualRecord*> a;
    for (const auto& record : expected) e.push_back(&record);
    for (const auto& record : actual) a.push_back(&record);
    compare_in_order(e, a, "", lines);
    return lines;
  }
  if (order == CaseOrder::per_key) {
    // Keys in order of first appearance (expected first), each compared in order.
    std::vector<std::string> keys;
    std::map<std::string, std::pair<std::vector<const ExpectedRecord*>, std::vector<const ActualRecord*>>> groups;
    for (const auto& record : expected) {
      const std::string key = record.key->compared.dump();
      if (!groups.count(key)) keys.push_back(key);
      groups[key].first.push_back(&record);
    }
    for (const auto& record : actual) {
      const std::string key = record.compared["key"].dump();
      if (!groups.count(key)) keys.push_back(key);
      groups[key].second.push_back(&record);
    }
    for (const std::string& key : keys) {
      compare_in_order(groups[key].first, groups[key].second, "key " + core::printable(key, 200) + ": ", lines);
    }
    return lines;
  }
  // set: each expected record takes the first unused actual record it matches.
  std::vector<bool> used(actual.size(), false);
  for (const auto& record : expected) {
    bool found = false;
    for (std::size_t i = 0; i < actual.size() && !found; ++i) {
      if (used[i] || !matches(record, actual[i])) continue;
      used[i] = true;
      found = true;
    }
    if (!found) lines.push_back("missing: " + shown(expected_form(record)));
  }
  for (std::size_t i = 0; i < actual.size(); ++i) {
    if (!used[i]) lines.push_back("unexpected: " + shown(actual[i].shown));
  }
  return lines;
}

// Repartition topics get the partition count production would give them: the largest among the topics they are
// partitioned like (resolved through other repartition topics); every other topic its count in the case, else 1.
std::map<std::string, std::int32_t> partition_counts(const topology::Topology& topology,
                                                     const std::map<std::string, std::int32_t>& given) {
  std::map<std::string, std::int32_t> counts = given;
  for (std::size_t round = 0; round <= topology.internal_topics.size(); ++round) {
    bool changed = false;
    for (const auto& internal : topology.internal_topics) {
      if (internal.kind != topology::InternalTopic::Kind::repartition) continue;
      std::int32_t count = 1;
      for (const std::string& of : internal.partitions_of) {
        auto it = counts.find(of);
        count = std::max(count, it == counts.end() ? 1 : it->second);
      }
      auto [it, inserted] = counts.try_emplace(internal.name, count);
      if (!inserted && it->second != count && !given.count(internal.name)) {
        it->second = count;
        changed = true;
      }
      changed = changed || inserted;
    }
    if (!changed) break;
  }
  return counts;
}

}  // namespace

std::variant<TestCase, std::vector<CaseFileError>> parse_test_case(const nlohmann::ordered_json& document,
                                                                   const topology::Topology& topology,
                                                                   const std::string& name) {
  std::vector<CaseFileError> errors;
  CaseParser parser(topology, errors);
  TestCase test_case;
  test_case.name = name;
  if (!document.is_object()) {
    errors.push_back({"", "a case file is a JSON object with \"inputs\" and \"expect\""});
    return errors;
  }
  parser.reject_unknown(document, "", {"$schema", "name", "description", "order", "partitions", "wall_clock_start",
                                       "window_idle_timeout", "inputs", "expect"});
  if (document.contains("name")) {
    if (document.at("name").is_string()) {
      test_case.name = document.at("name").get<std::string>();
    } else {
      parser.error("/name", "expected a string");
    }
  }
  if (document.contains("description") && document.at("description").is_string()) {
    test_case.description = document.at("description").get<std::string>();
  }
  if (document.contains("order")) {
    const Json& order = document.at("order");
    if (order == "per_key") {
      test_case.order = CaseOrder::per_key;
    } else if (order == "exact") {
      test_case.order = CaseOrder::exact;
    } else if (order == "set") {
      test_case.order = CaseOrder::set;
    } else {
      parser.error("/order", "expected \"per_key\" (in order within each key, the default), \"exact\" (the whole "
                             "list in order) or \"set\" (any order), got " + shown(order));
    }
  }
  if (document.contains("partitions")) {
    const Json& partitions = document.at("partitions");
    if (!partitions.is_object()) {
      parser.error("/partitions", "expected an object of topic names to partition counts");
    } else {
      for (const auto& [topic, count] : partitions.items()) {
        if (!count.is_number_integer() || count.get<std::int64_t>() < 1 || count.get<std::int64_t>() > 10'000) {
          parser.error(child("/partitions", topic), "expected a partition count from 1 to 10000, got " + shown(count));
        } else {
          test_case.partitions[topic] = count.get<std::int32_t>();
        }
      }
    }
  }
  std::optional<std::int64_t> start;
  if (document.contains("wall_clock_start")) start = parser.time(document.at("wall_clock_start"), "/wall_clock_start");
  if (document.contains("window_idle_timeout")) {
    if (auto timeout = parser.duration(document.at("window_idle_timeout"), "/window_idle_timeout")) {
      test_case.window_idle_timeout_ms = *timeout;
    }
  }

  if (!document.contains("inputs") || !document.at("inputs").is_array()) {
    parser.error("/inputs", "expected an array of steps: input records ({\"topic\": ..., \"key\": ..., \"value\": "
                            "...}) and wall-clock advances ({\"advance\": \"30s\"})");
  } else {
    const Json& inputs = document.at("inputs");
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const std::string pointer = child("/inputs", i);
      const Json& step = inputs[i];
      if (step.is_object() && step.contains("advance")) {
        parser.reject_unknown(step, pointer, {"advance"});
        if (auto by = parser.duration(step.at("advance"), child(pointer, "advance"))) {
          CaseStep& added = test_case.steps.emplace_back(std::in_place_type<CaseAdvance>);
          std::get<CaseAdvance>(added).by_ms = *by;
        }
      } else if (step.is_object() && step.contains("topic")) {
        if (auto input = parser.input(step, pointer)) {
          if (!start && input->time) start = input->time;
          test_case.steps.emplace_back(std::in_place_type<CaseInput>, std::move(*input));
        }
      } else {
        parser.error(pointer, "expected an input record ({\"topic\": ..., \"key\": ..., \"value\": ...}) or a "
                              "wall-clock advance ({\"advance\": \"30s\"})");
      }
    }
  }
  test_case.wall_clock_start_ms = start.value_or(0);

  const std::vector<CheckedTopic> topics = checked_topics(topology);
  if (!document.contains("expect") || !document.at("expect").is_object()) {
    parser.error("/expect", "expected an object of output topics (and \"dead_letters\") to the records each must "
                            "receive; a topic left out must receive nothing");
  } else {
    for (const auto& [topic, records] : document.at("expect").items()) {
      const std::string pointer = child("/expect", topic);
      const bool known =
          std::any_of(topics.begin(), topics.end(), [&](const CheckedTopic& t) { return t.name_in_case == topic; });
      if (!known) {
        std::string names;
        for (const auto& t : topics) names += (names.empty() ? "" : ", ") + core::quoted(t.name_in_case);
        parser.error(pointer, core::quoted(topic) + " is not written by the topology; expected one of " + names);
        continue;
      }
      if (!records.is_array()) {
        parser.error(pointer, "expected an array of records");
        continue;
      }
      auto& list = test_case.expected[topic];
      for (std::size_t i = 0; i < records.size(); ++i) {
        if (auto record = parser.expected(records[i], child(pointer, i), test_case.order)) list.push_back(std::move(*record));
      }
    }
  }
  if (!errors.empty()) return errors;
  return test_case;
}

CaseResult run_test_case(const TestCase& test_case, const topology::Topology& topology) {
  core::ManualClock clock(test_case.wall_clock_start_ms);
  const std::map<std::string, std::int32_t> counts = partition_counts(topology, test_case.partitions);
  runtime::TestDriver::Options options;
  options.default_idle_timeout_ms = test_case.window_idle_timeout_ms;
  runtime::TestDriver driver(topology, clock, counts, options);
  const auto count_of = [&](const std::string& topic) {
    auto it = counts.find(topic);
    return it == counts.end() ? 1 : it->second;
  };
  for (const CaseStep& step : test_case.steps) {
    if (const auto* advance = std::get_if<CaseAdvance>(&step)) {
      clock.advance_ms(advance->by_ms);
      driver.punctuate();
      continue;
    }
    const auto& input = std::get<CaseInput>(step);
    std::int32_t partition = 0;
    if (input.partition) {
      partition = *input.partition;
    } else if (input.key) {
      partition = runtime::murmur2_partition(*input.key, count_of(input.topic));
    }
    std::vector<core::Header> headers;
    for (const auto& [name, value] : input.headers) headers.push_back({name, value});
    driver.pipe(input.topic, input.key, input.value, input.time.value_or(clock.wall_ms()), partition, std::move(headers));
  }
  return check_case_outputs(test_case, topology, [&](const std::string& topic) { return driver.read(topic); });
}

CaseResult check_case_outputs(const TestCase& test_case, const topology::Topology& topology,
                              const std::function<std::vector<runtime::DriverRecord>(const std::string&)>& read) {
  CaseResult result;
  std::vector<std::string> lines;
  for (const CheckedTopic& topic : checked_topics(topology)) {
    std::vector<ActualRecord> actual;
    for (const auto& record : read(topic.topic)) {
      actual.push_back({actual_form<nlohmann::json>(record, topic), actual_form<Json>(record, topic)});
    }
    static const std::vector<ExpectedRecord> none;
    auto it = test_case.expected.find(topic.name_in_case);
    const std::vector<ExpectedRecord>& expected = it == test_case.expected.end() ? none : it->second;
    std::vector<std::string> differences = compare(expected, actual, test_case.order);
    if (!differences.empty()) {
      lines.push_back("  " + topic.name_in_case + (topic.dead_letters ? " (" + topic.topic + ")" : "") + ": " +
                      std::to_string(expected.size()) + " expected, " + std::to_string(actual.size()) + " received");
      for (const std::string& line : differences) lines.push_back("    " + line);
    }
    // --update writes what matters: key, value, time; for dead letters why and where (not the offsets).
    if (!actual.empty()) {
      Json records = Json::array();
      for (const auto& received : actual) {
        const Json& form = received.shown;
        Json record = Json::object();
        record["key"] = form["key"];
        record["value"] = form["value"];
        record["time"] = form["time"];
        if (topic.dead_letters) {
          for (const char* header : {"sluice.error.kind", "sluice.operator"}) {
            if (form.contains("headers") && form["headers"].contains(header)) {
              record["headers"][header] = form["headers"][header];
            }
          }
        }
        records.push_back(std::move(record));
      }
      result.actual[topic.name_in_case] = std::move(records);
    }
  }
  result.passed = lines.empty();
  for (const std::string& line : lines) result.report += line + "\n";
  return result;
}

std::variant<LoadedCase, std::vector<CaseFileError>> load_test_case_file(const std::string& path,
                                                                         const topology::Topology& topology) {
  const auto root_error = [](std::string message) {
    return std::vector<CaseFileError>{CaseFileError{"", std::move(message)}};
  };
  auto content = core::read_file_with_limit(path, core::kMaxFileBytes);
  if (const auto* unreadable = std::get_if<core::FileUnreadable>(&content)) {
    return root_error("cannot read the case file: " +
                      std::error_code(unreadable->error_number, std::generic_category()).message());
  }
  if (const auto* too_large = std::get_if<core::FileTooLarge>(&content)) {
    return root_error("the case file is " + core::describe_too_large(*too_large, core::kMaxFileBytes));
  }
  const std::string& text = std::get<std::string>(content);
  if (core::json_nesting_depth(text, core::kMaxFileNesting) > core::kMaxFileNesting) {
    return root_error("the case file nests arrays and objects deeper than " + std::to_string(core::kMaxFileNesting) +
                      " levels");
  }
  LoadedCase loaded;
  try {
    loaded.document = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    const auto [line, column] = core::json_error_position(text, error.byte);
    return root_error("not valid JSON: line " + std::to_string(line) + ", column " + std::to_string(column));
  }
  auto parsed = parse_test_case(loaded.document, topology, std::filesystem::path(path).stem().string());
  if (auto* errors = std::get_if<std::vector<CaseFileError>>(&parsed)) return std::move(*errors);
  loaded.test_case = std::get<TestCase>(std::move(parsed));
  return loaded;
}

}  // namespace sluice::app
