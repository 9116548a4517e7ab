// The Topology of a JSON document that must be valid: a test's own fixture. An invalid one fails the test with
// every validation error and aborts (a test cannot go on without its topology).
#pragma once

#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sluice/topology/topology.hpp"

namespace sluice::testing {

inline topology::Topology parse_valid(const nlohmann::json& document) {
  auto parsed = topology::parse_topology(document);
  if (auto* errors = std::get_if<std::vector<topology::ValidationError>>(&parsed)) {
    std::string all;
    for (const auto& error : *errors) all += error.to_string() + "\n";
    ADD_FAILURE() << all;
    std::abort();
  }
  return std::get<topology::Topology>(std::move(parsed));
}

}  // namespace sluice::testing
