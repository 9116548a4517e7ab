// `sluice test`: test cases for a topology, run in process by the TestDriver (no Kafka, milliseconds). A case
// file gives input records per topic and wall-clock advances, and the records each sink topic and the dead-letter
// topic must receive. Grammar and semantics: README.md, "Testing a topology".
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/runtime/processor.hpp"
#include "sluice/runtime/test_driver.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::app {

// A problem in a case file, named by JSON pointer.
struct CaseFileError {
  std::string pointer;
  std::string message;
  std::string to_string() const { return (pointer.empty() ? std::string("/") : pointer) + ": " + message; }
};

// How a topic's actual records are compared with the expected ones.
enum class CaseOrder : std::uint8_t {
  per_key,  // in order within each key (what Kafka keeps: one key, one partition), keys in any order
  exact,    // the whole list in order
  set,      // in any order (each expected record matches one actual record)
};

struct CaseInput {
  std::string topic;
  std::optional<std::string> key;    // the bytes, as the source's key format writes them; nullopt: null key
  std::optional<std::string> value;  // nullopt: a tombstone
  std::optional<std::int64_t> time;  // nullopt: the wall clock at that step
  std::optional<std::int32_t> partition;  // nullopt: murmur2 of the key, as a Java producer; null key: 0
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  std::string pointer;
};

struct CaseAdvance {
  std::int64_t by_ms = 0;  // wall-clock time to add; then every task may close idle windows
};

using CaseStep = std::variant<CaseInput, CaseAdvance>;

// A key or value of an expected record: compared as JSON (objects in any field order), shown as written.
struct ExpectedField {
  nlohmann::json compared;
  nlohmann::ordered_json shown;
};

// One expected record; a field left out is not compared.
struct ExpectedRecord {
  std::optional<ExpectedField> key;  // JSON null: a null key
  std::optional<ExpectedField> value;
  std::optional<std::int64_t> time;
  std::optional<std::int32_t> partition;
  std::map<std::string, std::optional<std::string>> headers;  // only these headers are compared
};

struct TestCase {
  std::string name;
  std::string description;
  std::int64_t wall_clock_start_ms = 0;
  std::int64_t window_idle_timeout_ms = 60'000;
  CaseOrder order = CaseOrder::per_key;
  std::map<std::string, std::int32_t> partitions;  // topic -> partition count (default 1)
  std::vector<CaseStep> steps;
  // Every sink topic and the dead-letter topic ("dead_letters" in the file) -> what it must receive, all of it:
  // a topic left out must receive nothing.
  std::map<std::string, std::vector<ExpectedRecord>> expected;
};

// Reads a case file's document against the topology it tests. Errors name the JSON pointer.
std::variant<TestCase, std::vector<CaseFileError>> parse_test_case(const nlohmann::ordered_json& document,
                                                                   const topology::Topology& topology,
                                                                   const std::string& name);

struct CaseResult {
  bool passed = false;
  std::string report;  // the differences, one per line, indented; empty when passed
  // What each checked topic received, in the case file's form (for --update), keyed as in "expect".
  nlohmann::ordered_json actual = nlohmann::ordered_json::object();
};

CaseResult run_test_case(const TestCase& test_case, const topology::Topology& topology);

// Runs a case against a real cluster (`sluice test --bootstrap`): the topology runs in process under fresh topic
// names and application id (a random prefix), with the real Kafka clients and exactly-once; the inputs are
// produced step by step, each step waited for until the group committed past it, the outputs read
// read_committed. `base` carries the cluster settings (bootstrap, kafka.* properties, timeouts); the application
// ids, state directory and idle timeout are the case's own. The case's topics are deleted afterwards unless
// `keep_topics`. Comparison as for run_test_case.
struct ClusterCaseOptions {
  runtime::ProcessorOptions base;
  bool keep_topics = false;
  std::chrono::milliseconds timeout{60'000};  // per step: a step not processed by then fails the case
};
CaseResult run_test_case_on_cluster(const TestCase& test_case, const topology::Topology& topology,
                                    const ClusterCaseOptions& options);

// Compares what `read` returns for each sink topic and the dead-letter topic with the case's expectations.
CaseResult check_case_outputs(const TestCase& test_case, const topology::Topology& topology,
                              const std::function<std::vector<runtime::DriverRecord>(const std::string&)>& read);

// A case file read from disk: the document (kept for --update) and the case. An unreadable, oversized or
// invalid JSON file is one error at the root with the line and column.
struct LoadedCase {
  nlohmann::ordered_json document;
  TestCase test_case;
};
std::variant<LoadedCase, std::vector<CaseFileError>> load_test_case_file(const std::string& path,
                                                                         const topology::Topology& topology);

}  // namespace sluice::app
