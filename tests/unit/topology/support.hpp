// Helpers shared by the topology unit tests: parse a document given as JSON text, and look for an error by
// pointer and message phrase with a failure message that lists every error found.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/topology/topology.hpp"

namespace sluice::topology::testing {

inline std::variant<Topology, std::vector<ValidationError>> parse_text(std::string_view text) {
  // ordered_json, as load_topology_file does, so that field order follows the text.
  return parse_topology(nlohmann::ordered_json::parse(text));
}

inline std::string describe_errors(const std::vector<ValidationError>& errors) {
  std::string out;
  for (const auto& error : errors) out += "\n  [" + error.pointer + "] " + error.message;
  return out.empty() ? "\n  (no errors)" : out;
}

// The errors of a document that must be invalid (a test failure, and no errors, if it parses).
inline std::vector<ValidationError> errors_of(std::string_view text) {
  auto result = parse_text(text);
  if (auto* errors = std::get_if<std::vector<ValidationError>>(&result)) return *errors;
  ADD_FAILURE() << "expected validation errors, but the topology parsed:\n" << text;
  return {};
}

// The topology of a document that must be valid (a test failure, listing the errors, if not).
inline Topology topology_of(std::string_view text) {
  auto result = parse_text(text);
  if (auto* errors = std::get_if<std::vector<ValidationError>>(&result)) {
    ADD_FAILURE() << "expected a valid topology, got:" << describe_errors(*errors);
    return {};
  }
  return std::get<Topology>(std::move(result));
}

inline ::testing::AssertionResult has_error(const std::vector<ValidationError>& errors, std::string_view pointer,
                                            std::string_view phrase) {
  for (const auto& error : errors) {
    if (error.pointer == pointer && error.message.find(phrase) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "no error at \"" << pointer << "\" containing \"" << phrase
                                       << "\"; errors:" << describe_errors(errors);
}

// Exactly one error, at `pointer`, containing `phrase`.
inline ::testing::AssertionResult has_only_error(const std::vector<ValidationError>& errors, std::string_view pointer,
                                                 std::string_view phrase) {
  if (errors.size() != 1) {
    return ::testing::AssertionFailure() << "expected exactly one error, got " << errors.size() << ":"
                                         << describe_errors(errors);
  }
  return has_error(errors, pointer, phrase);
}

// A document around `operators` (a JSON array text) with sources "orders" and "events" and one sink that
// reads `sink_from`.
inline std::string with_operators(std::string_view operators, std::string_view sink_from) {
  return std::string(R"({"application_id": "app",
    "sources": [{"name": "orders", "topic": "orders"}, {"name": "events", "topic": "events"}],
    "operators": )") +
         std::string(operators) + R"(,
    "sinks": [{"from": ")" + std::string(sink_from) + R"(", "topic": "out"}]})";
}

}  // namespace sluice::topology::testing
