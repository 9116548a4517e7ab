// What the interoperability tests against the Schema Registry share (tests/integration/avro_test.cpp,
// protobuf_test.cpp): the registry's URL, the pinned Python environment of the independent clients (tests/python),
// and running them.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/kafka_test_support.hpp"

namespace sluice::testing {

// SLUICE_TEST_REGISTRY (set by scripts/run-tests, which starts scripts/local-registry); empty when not set.
inline std::string registry_url() {
  const char* url = std::getenv("SLUICE_TEST_REGISTRY");
  return url != nullptr ? url : "";
}

// Runs a shell command; whether it exited 0, and its stdout.
inline std::pair<bool, std::string> run_command(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {false, ""};
  char buffer[4096];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, got);
  return {::pclose(pipe) == 0, out};
}

// The Python interpreter of scripts/python-env (built once per machine); empty if that failed.
inline std::string interop_python() {
  static const std::string path = [] {
    auto [ok, out] = run_command(source_dir() + "/scripts/python-env");
    return ok ? out.substr(0, out.find('\n')) : std::string();
  }();
  return path;
}

// One JSON document per non-empty line.
inline std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    if (end > start) lines.push_back(nlohmann::json::parse(text.substr(start, end - start)));
  }
  return lines;
}

// `sluice run` arguments pointing at the test registry.
inline std::vector<std::string> registry_settings() { return {"--set", "schema_registry_url=" + registry_url()}; }

// The tests that need the registry and the independent clients fail, rather than skip, without them.
class RegistryInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (registry_url().empty()) GTEST_FAIL() << "SLUICE_TEST_REGISTRY is not set (scripts/run-tests starts the registry)";
    if (interop_python().empty()) GTEST_FAIL() << "scripts/python-env failed";
  }
};

}  // namespace sluice::testing
