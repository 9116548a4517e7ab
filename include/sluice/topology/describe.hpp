// `sluice describe`: the sub-topologies, operators, state stores and internal topics of a topology, as text,
// JSON, Graphviz dot or Mermaid. The JSON form is also served on the HTTP endpoint /topology.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "sluice/topology/topology.hpp"

namespace sluice::topology {

enum class DescribeFormat { text, json, dot, mermaid };

nlohmann::json describe_json(const Topology& topology);
std::string describe(const Topology& topology, DescribeFormat format);

}  // namespace sluice::topology
