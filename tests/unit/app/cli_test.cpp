// The command line's contract: exit codes and error text of validate, describe and settings.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sluice/app/cli.hpp"

using namespace sluice::app;

namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome run(const std::vector<std::string>& arguments, const std::map<std::string, std::string>& environment = {}) {
  std::ostringstream out, err;
  int code = run_command_line(arguments, environment, out, err);
  return {code, out.str(), err.str()};
}

std::string write(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << content;
  return path;
}

}  // namespace

TEST(Cli, ValidateAcceptsEveryExample) {
  for (const char* example : {"word-count-split.json", "orders-enrichment.json", "event-router.json", "orders-with-customers.json",
                              "clicks-attributed.json", "payments-checked.json"}) {
    auto outcome = run({"validate", std::string(SLUICE_SOURCE_DIR) + "/topologies/" + example});
    EXPECT_EQ(outcome.code, exit_ok) << example << outcome.err;
    EXPECT_NE(outcome.out.find("valid"), std::string::npos);
  }
}

TEST(Cli, ValidateReportsEveryErrorWithPointersAndExits2) {
  std::string path = write("bad-topology.json", R"({"application_id": "x",
    "sources": [{"name": "orders", "topic": "orders"}],
    "operators": [{"name": "a", "from": "orders", "filter": "amount >"},
                  {"name": "b", "from": "orderz", "map": {"x": "1"}}],
    "sinks": [{"from": "b", "topic": "out", "key": "text"}]})");
  auto outcome = run({"validate", path});
  EXPECT_EQ(outcome.code, exit_usage);
  EXPECT_NE(outcome.err.find(path + ": /operators/0/filter: expression does not parse"), std::string::npos) << outcome.err;
  EXPECT_NE(outcome.err.find(path + ": /operators/1/from: \"orderz\" is not a source"), std::string::npos) << outcome.err;
  EXPECT_NE(outcome.err.find(path + ": /sinks/0/key: \"text\" is not a key format"), std::string::npos) << outcome.err;
  EXPECT_NE(outcome.err.find("3 errors"), std::string::npos) << outcome.err;
}

TEST(Cli, ValidateOfMissingOrMalformedFileExits2) {
  EXPECT_EQ(run({"validate", "/nonexistent/topology.json"}).code, exit_usage);
  auto outcome = run({"validate", write("syntax.json", "{\"application_id\": \n  ,}")});
  EXPECT_EQ(outcome.code, exit_usage);
  EXPECT_NE(outcome.err.find("line 2"), std::string::npos) << outcome.err;
}

TEST(Cli, DescribeJsonListsNodesAndOutputTopics) {
  auto outcome = run({"describe", std::string(SLUICE_SOURCE_DIR) + "/topologies/event-router.json", "--format", "json"});
  ASSERT_EQ(outcome.code, exit_ok) << outcome.err;
  auto description = nlohmann::json::parse(outcome.out);
  EXPECT_EQ(description["application_id"], "event-router");
  EXPECT_EQ(description["dead_letter_topic"], "event-router-dlq");
  EXPECT_EQ(description["subtopologies"].size(), 1u);
  EXPECT_EQ(run({"describe", std::string(SLUICE_SOURCE_DIR) + "/topologies/event-router.json", "--format=yaml"}).code,
            exit_usage);
}

TEST(Cli, DescribeDotAndMermaid) {
  auto dot = run({"describe", std::string(SLUICE_SOURCE_DIR) + "/topologies/word-count-split.json", "--format", "dot"});
  EXPECT_EQ(dot.code, exit_ok);
  EXPECT_EQ(dot.out.rfind("digraph", 0), 0u) << dot.out;
  auto mermaid = run({"describe", std::string(SLUICE_SOURCE_DIR) + "/topologies/word-count-split.json", "--format", "mermaid"});
  EXPECT_EQ(mermaid.code, exit_ok);
  EXPECT_NE(mermaid.out.find("flowchart"), std::string::npos);
}

TEST(Cli, RunWithBadSettingsExits2BeforeConnecting) {
  auto outcome = run({"run", std::string(SLUICE_SOURCE_DIR) + "/topologies/event-router.json", "--set",
                      "commit_interval=5x", "--set", "http_port=70000"},
                     {{"SLUICE_LOG_LEVEL", "loud"}});
  EXPECT_EQ(outcome.code, exit_usage);
  EXPECT_NE(outcome.err.find("commit_interval"), std::string::npos) << outcome.err;
  EXPECT_NE(outcome.err.find("http_port"), std::string::npos) << outcome.err;
  EXPECT_NE(outcome.err.find("SLUICE_LOG_LEVEL"), std::string::npos) << outcome.err;
}

TEST(Cli, SettingsMasksSecrets) {
  auto outcome = run({"settings", "--set", "kafka.sasl.password=hunter2"}, {{"SLUICE_KAFKA_SSL_KEY_PASSWORD", "s3cret"}});
  EXPECT_EQ(outcome.code, exit_ok) << outcome.err;
  EXPECT_EQ(outcome.out.find("hunter2"), std::string::npos);
  EXPECT_EQ(outcome.out.find("s3cret"), std::string::npos);
  EXPECT_NE(outcome.out.find("kafka.sasl.password = ********"), std::string::npos) << outcome.out;
}

TEST(Cli, UnknownCommandAndOptionExit2) {
  EXPECT_EQ(run({"frobnicate"}).code, exit_usage);
  EXPECT_EQ(run({"validate", "x.json", "--verbose"}).code, exit_usage);
  EXPECT_EQ(run({}).code, exit_usage);
  EXPECT_EQ(run({"--help"}).code, exit_ok);
  EXPECT_EQ(run({"version"}).code, exit_ok);
}

// ---- Hostile names, values and files (issue 11) ---------------------------------------------------------------

namespace {

bool has_raw_control(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte < 0x20 && byte != '\n') || byte == 0x7F) return true;
  }
  return text.find("\u202e") != std::string_view::npos;
}

}  // namespace

TEST(Cli, ValidateShowsAHostileTopicNameEscapedOnOneLine) {
  // The name tries to end its error line and print a fake verdict, then erase the line and reverse the text.
  nlohmann::json document = {{"application_id", "app"},
                             {"sources", {{{"name", "in"}, {"topic", "in\nbad.json: valid (1 sources)\x1b[2K\r\u202e"}}}},
                             {"sinks", {{{"from", "in"}, {"topic", "out"}}}}};
  const std::string path = write("hostile-topic.json", document.dump());
  auto outcome = run({"validate", path});
  EXPECT_EQ(outcome.code, exit_usage);
  EXPECT_FALSE(has_raw_control(outcome.err)) << outcome.err;
  EXPECT_EQ(outcome.err.find("\nbad.json: valid"), std::string::npos) << outcome.err;
  EXPECT_NE(outcome.err.find("\\nbad.json: valid (1 sources)\\x1b[2K\\r\\u202e"), std::string::npos) << outcome.err;
}

TEST(Cli, ValidateEchoesAMegabyteTopicNameAsAShortLineWithItsLength) {
  nlohmann::json document = {{"application_id", "app"},
                             {"sources", {{{"name", "in"}, {"topic", std::string(1'048'576, 't')}}}},
                             {"sinks", {{{"from", "in"}, {"topic", "out"}}}}};
  const std::string path = write("huge-topic.json", document.dump());
  auto outcome = run({"validate", path});
  EXPECT_EQ(outcome.code, exit_usage);
  EXPECT_LE(outcome.err.size(), 2 * path.size() + 500) << outcome.err.substr(0, 1000);
  EXPECT_NE(outcome.err.find("...(1048576 bytes)"), std::string::npos) << outcome.err.substr(0, 1000);
}

TEST(Cli, ATopologyFileOverTheSizeLimitExits2WithTheLimit) {
  const std::string path = write("over-limit.json", "{\"description\": \"" + std::string(17u << 20, 'd') + "\"}");
  for (const char* command : {"validate", "describe", "run"}) {
    auto outcome = run({command, path});
    EXPECT_EQ(outcome.code, exit_usage) << command;
    EXPECT_NE(outcome.err.find("the limit is 16 MiB (16777216 bytes)"), std::string::npos) << outcome.err;
  }
}

TEST(Cli, SettingsListShowsValuesEscaped) {
  auto outcome = run({"settings", "--set", "kafka.client.id=svc\x1b[2K\rkafka.sasl.password = ********"});
  EXPECT_EQ(outcome.code, exit_ok) << outcome.err;
  EXPECT_FALSE(has_raw_control(outcome.out)) << outcome.out;
  EXPECT_NE(outcome.out.find("kafka.client.id = svc\\x1b[2K\\rkafka.sasl.password = ********"), std::string::npos)
      << outcome.out;
}

TEST(Cli, UsageErrorsShowArgumentsEscaped) {
  for (const std::vector<std::string>& arguments :
       {std::vector<std::string>{"frob\x1b[2Knicate"}, {"validate", "x.json", "--verb\nose"},
        {"validate", "x.json", "y\u202e.json"}, {"describe", "x.json", "--format", "te\rxt"}}) {
    auto outcome = run(arguments);
    EXPECT_EQ(outcome.code, exit_usage);
    EXPECT_FALSE(has_raw_control(outcome.err)) << outcome.err;
  }
}

// ---- Instance identity: static membership and transactional ids per processing thread ----------------------

namespace {

sluice::topology::Topology example_topology() {
  auto loaded = sluice::topology::load_topology_file(std::string(SLUICE_SOURCE_DIR) + "/topologies/word-count.json");
  return std::get<sluice::topology::Topology>(std::move(loaded));
}

AppSettings settings_from(std::vector<std::string> assignments) {
  SettingsSources sources;
  sources.assignments = std::move(assignments);
  return app_settings(std::get<Settings>(load_settings(sources)));
}

}  // namespace

TEST(InstanceIdentity, WithoutInstanceIdOutsideKubernetesMembershipIsDynamicWithAPersistedProcessId) {
  auto topology = example_topology();
  std::string first_dir = ::testing::TempDir() + "identity-" + std::to_string(::getpid()) + "-a";
  std::string second_dir = ::testing::TempDir() + "identity-" + std::to_string(::getpid()) + "-b";
  auto first = processor_options(settings_from({"state_dir=" + first_dir}), topology, {});
  EXPECT_EQ(first.instance_id, "");
  EXPECT_EQ(first.transactional_id.rfind(topology.application_id + "-" + host_name() + "-", 0), 0u)
      << first.transactional_id;
  // The same state directory gives the same id (a restart fences its zombie); another one a different id.
  EXPECT_EQ(processor_options(settings_from({"state_dir=" + first_dir}), topology, {}).transactional_id,
            first.transactional_id);
  EXPECT_NE(processor_options(settings_from({"state_dir=" + second_dir}), topology, {}).transactional_id,
            first.transactional_id);
  EXPECT_EQ(first.transaction_timeout, std::chrono::milliseconds(60'000));
  std::filesystem::remove_all(first_dir);
  std::filesystem::remove_all(second_dir);
}

TEST(InstanceIdentity, InKubernetesTheHostNameIsTheStaticMemberId) {
  auto topology = example_topology();
  auto options = processor_options(settings_from({}), topology, {{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}});
  EXPECT_EQ(options.instance_id, host_name());
  EXPECT_EQ(options.transactional_id, topology.application_id + "-" + host_name());
}

TEST(InstanceIdentity, AnExplicitInstanceIdWinsOverTheHostName) {
  auto topology = example_topology();
  auto options =
      processor_options(settings_from({"instance_id=sluice-2"}), topology, {{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}});
  EXPECT_EQ(options.instance_id, "sluice-2");
  EXPECT_EQ(options.transactional_id, topology.application_id + "-sluice-2");
}

TEST(InstanceIdentity, ThreadZeroKeepsTheIdsAndLaterThreadsAreSuffixed) {
  auto topology = example_topology();
  auto shared = processor_options(settings_from({"instance_id=pod-0", "processing_threads=3"}), topology, {});
  auto first = thread_options(shared, 0);
  auto third = thread_options(shared, 2);
  EXPECT_EQ(first.thread_index, 0);
  EXPECT_EQ(first.instance_id, "pod-0");
  EXPECT_EQ(first.transactional_id, topology.application_id + "-pod-0");
  EXPECT_EQ(third.thread_index, 2);
  EXPECT_EQ(third.instance_id, "pod-0-2");
  EXPECT_EQ(third.transactional_id, topology.application_id + "-pod-0-2");
}

TEST(InstanceIdentity, DynamicMembersStayDynamicOnEveryThread) {
  auto topology = example_topology();
  auto shared = processor_options(settings_from({"state_dir=" + ::testing::TempDir() + "identity-threads"}), topology, {});
  EXPECT_EQ(thread_options(shared, 1).instance_id, "");
  EXPECT_EQ(thread_options(shared, 1).transactional_id, shared.transactional_id + "-1");
}

TEST(ProcessorOptionsFromSettings, CarryTheTypedSettings) {
  auto topology = example_topology();
  auto options = processor_options(
      settings_from({"instance_id=pod-0", "max_failed_commits=3", "processing_guarantee=at_least_once",
                     "state_memory_mb=64", "window_idle_timeout=2s", "commit_interval=250ms", "kafka.linger.ms=5"}),
      topology, {});
  EXPECT_EQ(options.max_failed_commits, 3);
  EXPECT_FALSE(options.exactly_once);
  EXPECT_EQ(options.state_memory_bytes, 64ll << 20);
  EXPECT_EQ(options.window_idle_timeout_ms, 2'000);
  EXPECT_EQ(options.commit_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(options.kafka.at("linger.ms"), "5");
  EXPECT_EQ(processor_options(settings_from({"instance_id=pod-0"}), topology, {}).max_failed_commits, 10);
}

TEST(Cli, ProcessingThreadsOutOfRangeExits2) {
  auto outcome = run({"run", std::string(SLUICE_SOURCE_DIR) + "/topologies/event-router.json", "--set",
                      "processing_threads=0"});
  EXPECT_EQ(outcome.code, exit_usage);
  EXPECT_NE(outcome.err.find("processing_threads"), std::string::npos) << outcome.err;
}
