// `sluice test`: case files (their errors by JSON pointer), the comparison modes and their reports, and the
// command's contract: exit codes, --update, --junit, the cases found next to a topology.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sluice/app/cases.hpp"
#include "sluice/app/cli.hpp"
#include "sluice/topology/topology.hpp"

using namespace sluice;
using namespace sluice::app;
using Json = nlohmann::ordered_json;

namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome run(const std::vector<std::string>& arguments) {
  std::ostringstream out, err;
  int code = run_command_line(arguments, {}, out, err);
  return {code, out.str(), err.str()};
}

// A directory of its own per test: topology.json and its cases.
std::filesystem::path fresh_directory(const std::string& name) {
  std::filesystem::path directory = std::filesystem::path(::testing::TempDir()) / ("sluice-cases-" + name);
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);
  return directory;
}

void write(const std::filesystem::path& path, const std::string& content) { std::ofstream(path) << content; }

// Amounts over 10 pass, keyed by customer; totals per customer in a table.
const char* const kTopology = R"json({
  "application_id": "shop",
  "sources": [{"name": "orders", "topic": "orders"}],
  "operators": [
    {"name": "big", "from": "orders", "filter": "amount > 10"},
    {"name": "by_customer", "from": "big", "rekey": "customer"},
    {"name": "totals", "from": "by_customer", "aggregate": {"total": "sum(amount)"}}
  ],
  "sinks": [{"from": "big", "topic": "big-orders"}, {"from": "totals", "topic": "totals"}]
})json";

topology::Topology shop() {
  auto parsed = topology::parse_topology(nlohmann::json::parse(kTopology));
  return std::get<topology::Topology>(std::move(parsed));
}

std::vector<CaseFileError> errors_of(const std::string& text) {
  auto parsed = parse_test_case(Json::parse(text), shop(), "case");
  if (auto* errors = std::get_if<std::vector<CaseFileError>>(&parsed)) return *errors;
  return {};
}

bool has_error(const std::vector<CaseFileError>& errors, const std::string& pointer, const std::string& part) {
  for (const auto& error : errors) {
    if (error.pointer == pointer && error.message.find(part) != std::string::npos) return true;
  }
  return false;
}

CaseResult run_case(const std::string& text) {
  auto parsed = parse_test_case(Json::parse(text), shop(), "case");
  auto* test_case = std::get_if<TestCase>(&parsed);
  if (test_case == nullptr) {
    for (const auto& error : std::get<std::vector<CaseFileError>>(parsed)) ADD_FAILURE() << error.to_string();
    return {};
  }
  return run_test_case(*test_case, shop());
}

const char* const kInputs = R"("inputs": [
    {"topic": "orders", "key": "o1", "value": {"customer": "ann", "amount": 20}, "time": 1000},
    {"topic": "orders", "key": "o2", "value": {"customer": "bob", "amount": 5}, "time": 2000},
    {"topic": "orders", "key": "o3", "value": {"customer": "ann", "amount": 30}, "time": 3000},
    {"topic": "orders", "key": "o4", "raw_value": "{oops", "time": 4000}
  ])";

std::string case_text(const std::string& expect, const std::string& extra = "") {
  return std::string("{") + extra + kInputs + R"(, "expect": )" + expect + "}";
}

const char* const kRightExpectations = R"({
    "big-orders": [
      {"key": "o1", "value": {"customer": "ann", "amount": 20}, "time": 1000},
      {"key": "o3", "value": {"amount": 30, "customer": "ann"}}
    ],
    "totals": [
      {"key": "ann", "value": {"total": 20}, "time": 1000},
      {"key": "ann", "value": {"total": 50}, "time": 3000}
    ],
    "dead_letters": [
      {"key": "o4", "value": "{oops", "headers": {"sluice.error.kind": "deserialization", "sluice.operator": "source:orders"}}
    ]
  })";

}  // namespace

TEST(CaseFile, EveryProblemIsNamedByItsPointer) {
  auto errors = errors_of(R"({
    "inputs": [
      {"topic": "nope", "value": 1},
      {"topic": "orders", "key": "k"},
      {"topic": "orders", "value": {}, "time": "yesterday", "colour": "red"},
      {"topic": "orders", "value": {}, "raw_value": "x", "partition": -1},
      {"advance": "soon"},
      {"something": 1}
    ],
    "expect": {
      "big-orders": [{"value": {}}],
      "unknown-topic": [],
      "totals": {"key": "a"}
    },
    "order": "random",
    "partitions": {"orders": 0},
    "extra": true
  })");
  EXPECT_TRUE(has_error(errors, "/inputs/0/topic", "is not read by the topology")) << errors.size();
  EXPECT_TRUE(has_error(errors, "/inputs/1", "needs a value"));
  EXPECT_TRUE(has_error(errors, "/inputs/2/time", "expected a time"));
  EXPECT_TRUE(has_error(errors, "/inputs/2/colour", "unknown field"));
  EXPECT_TRUE(has_error(errors, "/inputs/3/raw_value", "not both"));
  EXPECT_TRUE(has_error(errors, "/inputs/3/partition", "partition number"));
  EXPECT_TRUE(has_error(errors, "/inputs/4/advance", "duration"));
  EXPECT_TRUE(has_error(errors, "/inputs/5", "expected an input record"));
  EXPECT_TRUE(has_error(errors, "/expect/big-orders/0", "give the key"));
  EXPECT_TRUE(has_error(errors, "/expect/unknown-topic", "not written by the topology"));
  EXPECT_TRUE(has_error(errors, "/expect/totals", "expected an array"));
  EXPECT_TRUE(has_error(errors, "/order", "per_key"));
  EXPECT_TRUE(has_error(errors, "/partitions/orders", "partition count"));
  EXPECT_TRUE(has_error(errors, "/extra", "unknown field"));
}

TEST(CaseFile, AStringTopicTakesTextAndRawBytesAreTakenAsWritten) {
  auto errors = errors_of(R"({"inputs": [{"topic": "orders", "key": {"an": "object"}, "value": {}}], "expect": {}})");
  EXPECT_TRUE(has_error(errors, "/inputs/0/key", "raw_key"));
  auto parsed = parse_test_case(Json::parse(R"({"inputs": [{"topic": "orders", "raw_key": "{k}", "raw_value": "[1,",
                                                 "headers": {"h": "v", "n": null}}], "expect": {}})"),
                                shop(), "case");
  ASSERT_TRUE(std::holds_alternative<TestCase>(parsed));
  const auto& input = std::get<CaseInput>(std::get<TestCase>(parsed).steps.at(0));
  EXPECT_EQ(input.key, "{k}");
  EXPECT_EQ(input.value, "[1,");
  ASSERT_EQ(input.headers.size(), 2u);
  EXPECT_EQ(input.headers[1].second, std::nullopt);
}

TEST(CaseRun, RightExpectationsPassWhateverTheFieldOrder) {
  CaseResult result = run_case(case_text(kRightExpectations));
  EXPECT_TRUE(result.passed) << result.report;
  EXPECT_TRUE(result.report.empty());
}

TEST(CaseRun, PerKeyReportsWhatDiffersIsMissingAndIsUnexpected) {
  CaseResult result = run_case(case_text(R"({
    "big-orders": [
      {"key": "o1", "value": {"customer": "ann", "amount": 21}},
      {"key": "o9", "value": {}}
    ],
    "totals": [
      {"key": "ann", "value": {"total": 20}},
      {"key": "ann", "value": {"total": 50}},
      {"key": "ann", "value": {"total": 70}}
    ]
  })"));
  EXPECT_FALSE(result.passed);
  const std::string& report = result.report;
  EXPECT_NE(report.find("big-orders: 2 expected, 2 received"), std::string::npos) << report;
  EXPECT_NE(report.find("key \"o1\": record 1 differs: expected {\"key\":\"o1\",\"value\":{\"customer\":\"ann\","
                        "\"amount\":21}}, got {\"key\":\"o1\",\"value\":{\"customer\":\"ann\",\"amount\":20},\"time\":1000,"
                        "\"partition\":0}"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("key \"o9\": missing record 1: {\"key\":\"o9\",\"value\":{}}"), std::string::npos) << report;
  EXPECT_NE(report.find("key \"o3\": unexpected record 1"), std::string::npos) << report;
  EXPECT_NE(report.find("key \"ann\": missing record 3: {\"key\":\"ann\",\"value\":{\"total\":70}}"), std::string::npos)
      << report;
  // A topic left out of "expect" must receive nothing: the dead letter is reported.
  EXPECT_NE(report.find("dead_letters (shop-dlq): 0 expected, 1 received"), std::string::npos) << report;
}

TEST(CaseRun, ExactOrderFailsOnAnotherOrderAndSetOrderDoesNot) {
  const std::string swapped = R"({
    "big-orders": [{"key": "o3", "value": {"customer": "ann", "amount": 30}}, {"key": "o1", "value": {"customer": "ann", "amount": 20}}],
    "totals": [{"key": "ann", "value": {"total": 20}}, {"key": "ann", "value": {"total": 50}}],
    "dead_letters": [{"key": "o4"}]
  })";
  CaseResult exact = run_case(case_text(swapped, R"("order": "exact", )"));
  EXPECT_FALSE(exact.passed);
  EXPECT_NE(exact.report.find("record 1 differs"), std::string::npos) << exact.report;
  EXPECT_NE(exact.report.find("record 2 differs"), std::string::npos) << exact.report;
  CaseResult per_key = run_case(case_text(swapped));
  EXPECT_TRUE(per_key.passed) << per_key.report;  // different keys: their order is not a promise
  CaseResult set = run_case(case_text(swapped, R"("order": "set", )"));
  EXPECT_TRUE(set.passed) << set.report;
  // Per key, the order within a key is: two updates of "ann" swapped fail.
  CaseResult updates_swapped = run_case(case_text(R"({
    "big-orders": [{"key": "o1"}, {"key": "o3"}],
    "totals": [{"key": "ann", "value": {"total": 50}}, {"key": "ann", "value": {"total": 20}}],
    "dead_letters": [{"key": "o4"}]
  })"));
  EXPECT_FALSE(updates_swapped.passed);
  // In a set, each expected record takes one actual record: a duplicate expectation is missing once.
  CaseResult duplicated = run_case(case_text(R"({
    "big-orders": [{"key": "o1"}, {"key": "o1"}, {"key": "o3"}],
    "totals": [{"key": "ann"}, {"key": "ann"}],
    "dead_letters": [{"key": "o4"}]
  })", R"("order": "set", )"));
  EXPECT_FALSE(duplicated.passed);
  EXPECT_NE(duplicated.report.find("missing: {\"key\":\"o1\"}"), std::string::npos) << duplicated.report;
}

TEST(CaseRun, RecordsArePartitionedByKeyAcrossTheGivenPartitions) {
  // murmur2 (Kafka's default partitioner) of "o1" and "o3" over 8 partitions, computed independently: 3 and 7.
  CaseResult result = run_case(case_text(R"({
    "big-orders": [{"key": "o1", "partition": 3}, {"key": "o3", "partition": 7}],
    "totals": [{"key": "ann"}, {"key": "ann"}],
    "dead_letters": [{"key": "o4"}]
  })", R"("partitions": {"big-orders": 8}, )"));
  EXPECT_TRUE(result.passed) << result.report;
}

TEST(TestCommand, ExitCodesUpdateJunitAndTheCasesNextToTheTopology) {
  const auto directory = fresh_directory("command");
  const auto topology = directory / "shop.json";
  write(topology, kTopology);
  std::filesystem::create_directories(directory / "shop.cases");
  const auto good = directory / "shop.cases" / "a-good.json";
  const auto bad = directory / "shop.cases" / "b-bad.json";
  write(good, case_text(kRightExpectations));
  write(bad, case_text(R"({"totals": [{"key": "ann", "value": {"total": 1}}]})"));

  // No case named: every case in shop.cases/, in name order; a failure exits 1.
  Outcome both = run({"test", topology.string()});
  EXPECT_EQ(both.code, exit_failure) << both.out << both.err;
  EXPECT_NE(both.out.find("a-good.json: ok"), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("b-bad.json: FAILED"), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("2 cases: 1 passed, 1 failed"), std::string::npos) << both.out;

  // --junit: one testcase per case, the failure with its report.
  const auto junit = directory / "report.xml";
  Outcome reported = run({"test", topology.string(), bad.string(), "--junit", junit.string()});
  EXPECT_EQ(reported.code, exit_failure);
  std::ifstream junit_file(junit);
  std::string xml((std::istreambuf_iterator<char>(junit_file)), std::istreambuf_iterator<char>());
  EXPECT_NE(xml.find("<testsuite name=\"shop\" tests=\"1\" failures=\"1\" errors=\"0\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testcase classname=\"shop\" name=\"b-bad\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<failure message="), std::string::npos) << xml;
  EXPECT_NE(xml.find("key &quot;ann&quot;"), std::string::npos) << xml;

  // --update writes what was received as the expectation; the case then passes, its inputs untouched.
  Outcome updated = run({"test", topology.string(), bad.string(), "--update"});
  EXPECT_EQ(updated.code, exit_ok) << updated.out << updated.err;
  EXPECT_NE(updated.out.find("b-bad.json: updated"), std::string::npos) << updated.out;
  std::ifstream updated_file(bad);
  const Json document = Json::parse(updated_file);
  EXPECT_EQ(document["inputs"].size(), 4u);
  EXPECT_EQ(document["expect"]["totals"][1]["value"], Json::parse(R"({"total": 50})"));
  EXPECT_EQ(document["expect"]["dead_letters"][0]["headers"]["sluice.error.kind"], "deserialization");
  EXPECT_EQ(run({"test", topology.string(), bad.string()}).code, exit_ok);

  // A bad case file: exit 2, every error with its pointer, the other cases still run.
  const auto broken = directory / "broken.json";
  write(broken, R"({"inputs": [{"topic": "nope", "value": 1}], "expect": {}})");
  Outcome bad_file = run({"test", topology.string(), good.string(), broken.string()});
  EXPECT_EQ(bad_file.code, exit_usage);
  EXPECT_NE(bad_file.err.find("broken.json: /inputs/0/topic: \"nope\" is not read by the topology"), std::string::npos)
      << bad_file.err;
  EXPECT_NE(bad_file.out.find("a-good.json: ok"), std::string::npos) << bad_file.out;
  const auto not_json = directory / "not-json.json";
  write(not_json, "{\n  \"inputs\": [,\n}");
  Outcome syntax = run({"test", topology.string(), not_json.string()});
  EXPECT_EQ(syntax.code, exit_usage);
  EXPECT_NE(syntax.err.find("not valid JSON: line 2"), std::string::npos) << syntax.err;

  // No cases anywhere, a bad topology, a cluster: exit 2.
  const auto lonely = directory / "lonely.json";
  write(lonely, kTopology);
  EXPECT_EQ(run({"test", lonely.string()}).code, exit_usage);
  write(directory / "invalid.json", R"({"application_id": ""})");
  EXPECT_EQ(run({"test", (directory / "invalid.json").string(), good.string()}).code, exit_usage);
  // --bootstrap takes the settings run takes: a bad one is exit 2 before any cluster is asked.
  Outcome bad_setting = run({"test", topology.string(), "--bootstrap", "127.0.0.1:9092", "--set", "commit_interval=soon"});
  EXPECT_EQ(bad_setting.code, exit_usage);
  EXPECT_NE(bad_setting.err.find("commit_interval"), std::string::npos) << bad_setting.err;
}

// Every example in topologies/ has cases, and they pass (they are also run by CTest as `sluice test`).
TEST(TestCommand, EveryExampleHasPassingCases) {
  std::size_t examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(SLUICE_SOURCE_DIR) + "/topologies")) {
    const auto& path = entry.path();
    if ((path.extension() != ".json" && path.extension() != ".yaml") || path.filename() == "sluice-topology.schema.json") {
      continue;
    }
    ++examples;
    Outcome outcome = run({"test", path.string()});
    EXPECT_EQ(outcome.code, exit_ok) << path << "\n" << outcome.out << outcome.err;
  }
  EXPECT_GE(examples, 12u);  // eleven JSON examples and one in YAML
}
