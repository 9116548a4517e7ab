// Loads an example topology from topologies/ and renames its application and topics with a unique suffix, so
// each test run works on fresh topics and a fresh consumer group while exercising the example's logic as is.
#pragma once

#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "support/kafka_test_support.hpp"

namespace sluice::testing {

struct IsolatedTopology {
  std::string path;                          // the rewritten topology file
  std::string application_id;
  std::map<std::string, std::string> topic;  // original topic name -> unique name
  std::string dead_letter_topic;
};

inline IsolatedTopology isolate_example(const std::string& example_file) {
  std::ifstream file(source_dir() + "/topologies/" + example_file);
  nlohmann::json document = nlohmann::json::parse(file);
  IsolatedTopology isolated;
  std::string suffix = unique_name("t");
  isolated.application_id = document["application_id"].get<std::string>() + "-" + suffix;
  document["application_id"] = isolated.application_id;
  auto rename = [&](nlohmann::json& field) {
    std::string original = field.get<std::string>();
    auto [it, inserted] = isolated.topic.emplace(original, original + "-" + suffix);
    field = it->second;
  };
  for (auto& source : document["sources"]) rename(source["topic"]);
  if (document.contains("tables")) {
    for (auto& table : document["tables"]) rename(table["topic"]);
  }
  for (auto& sink : document["sinks"]) rename(sink["topic"]);
  if (document.contains("dead_letter_topic")) {
    rename(document["dead_letter_topic"]);
    isolated.dead_letter_topic = document["dead_letter_topic"].get<std::string>();
  } else {
    isolated.dead_letter_topic = isolated.application_id + "-dlq";
  }
  isolated.path = write_temp_file(example_file, document.dump(2));
  return isolated;
}

}  // namespace sluice::testing
