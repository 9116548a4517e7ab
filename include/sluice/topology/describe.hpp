// `sluice describe`: the sub-topologies, operators, state stores and internal topics of a topology, as text,
// JSON, Graphviz dot or Mermaid. The JSON form is also served on the HTTP endpoint /topology.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "sluice/topology/topology.hpp"

namespace sluice::topology {

enum class DescribeFormat { text, json, dot, mermaid };

// The JSON tree, strings as written in the topology. To show or serve it, use describe(..., json), which also
// escapes the characters a JSON library leaves raw (DEL, C1 controls, bidi marks; core::escape_json_invisibles).
nlohmann::json describe_json(const Topology& topology);
// Text, dot and mermaid escape names, expressions and topics like error messages do (core::printable), each
// value cut at 4 KiB with its length.
std::string describe(const Topology& topology, DescribeFormat format);

}  // namespace sluice::topology
