// YAML files (topologies, settings) read as the JSON documents they stand for, so one schema, one validator
// and the same JSON-pointer error messages serve both. Scalars follow the YAML 1.2 core schema: a plain
// null / ~ / empty is null, true / false are booleans, integers and floats are numbers, anything else (and any
// quoted scalar) is a string, so `yes`, `on`, `1m` and `08:00` stay strings. Every node's line is kept by JSON
// pointer, for error messages.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

namespace sluice::core {

struct YamlDocument {
  nlohmann::ordered_json json;
  std::map<std::string, std::size_t> lines;  // JSON pointer -> 1-based line of the node

  // The line of the node at `pointer`, or of its nearest ancestor that has one; 0 if none.
  std::size_t line_of(std::string_view pointer) const;
};

struct YamlError {
  std::size_t line = 0;    // 1-based; 0 when unknown
  std::size_t column = 0;  // 1-based
  std::string message;
};

// Converts one YAML document (libyaml's parser; see yaml.cpp for why not yaml-cpp). Errors: invalid YAML, several documents, a key that is not a scalar or is repeated,
// a tag other than the core schema's, more than `max_nodes` nodes once aliases are expanded (a small file of
// nested aliases can stand for billions of nodes).
std::variant<YamlDocument, YamlError> parse_yaml(std::string_view text, std::size_t max_nodes = 1'000'000);

// Whether a file is read as YAML: its name ends in .yaml or .yml.
bool is_yaml_path(std::string_view path) noexcept;

}  // namespace sluice::core
