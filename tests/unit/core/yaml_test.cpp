// YAML read as the JSON document it stands for: core-schema scalars, key order, lines by pointer, and every
// way a file can be wrong (one error with its line, never a crash).
#include <gtest/gtest.h>

#include <string>

#include "sluice/core/yaml.hpp"

using namespace sluice::core;
using Json = nlohmann::ordered_json;

namespace {

Json json_of(const std::string& text) {
  auto parsed = parse_yaml(text);
  if (auto* error = std::get_if<YamlError>(&parsed)) {
    ADD_FAILURE() << text << "\n-> line " << error->line << ": " << error->message;
    return nullptr;
  }
  return std::get<YamlDocument>(parsed).json;
}

YamlError error_of(const std::string& text, std::size_t max_nodes = 1'000'000) {
  auto parsed = parse_yaml(text, max_nodes);
  if (auto* error = std::get_if<YamlError>(&parsed)) return *error;
  ADD_FAILURE() << text << "\n-> parsed: " << std::get<YamlDocument>(parsed).json.dump();
  return {};
}

}  // namespace

TEST(Yaml, ScalarsFollowTheCoreSchemaSoDurationsAndYesStayText) {
  const Json document = json_of(R"(
a: null
b: ~
c:
d: true
e: False
f: 42
g: -7
h: 0x1F
i: 0o17
j: 1.5
k: 1e3
l: 9223372036854775808
yes_is_text: yes
on_is_text: on
duration: 1m
time: 08:00
quoted_number: "30"
quoted_bool: 'true'
tagged: !!str 12
expression: "type == 'click' and amount > 10"
metadata: $value
)");
  const Json expected = Json::parse(R"({"a": null, "b": null, "c": null, "d": true, "e": false, "f": 42, "g": -7, "h": 31,
    "i": 15, "j": 1.5, "k": 1000.0, "l": 9223372036854775808.0, "yes_is_text": "yes", "on_is_text": "on",
    "duration": "1m", "time": "08:00", "quoted_number": "30", "quoted_bool": "true", "tagged": "12",
    "expression": "type == 'click' and amount > 10", "metadata": "$value"})");
  EXPECT_EQ(document, expected) << document.dump();
  EXPECT_TRUE(document["f"].is_number_integer());
  EXPECT_TRUE(document["k"].is_number_float());
}

TEST(Yaml, KeepsKeyOrderAndNamesTheLineOfEveryNodeByPointer) {
  auto parsed = parse_yaml("zeta: 1\nalpha:\n  - x\n  - {b/c: 2, \"d~e\": 3}\nmid: [1, 2]\n");
  ASSERT_TRUE(std::holds_alternative<YamlDocument>(parsed));
  const YamlDocument& yaml = std::get<YamlDocument>(parsed);
  EXPECT_EQ(yaml.json.dump(), R"({"zeta":1,"alpha":["x",{"b/c":2,"d~e":3}],"mid":[1,2]})");
  EXPECT_EQ(yaml.line_of("/zeta"), 1u);
  EXPECT_EQ(yaml.line_of("/alpha/0"), 3u);
  EXPECT_EQ(yaml.line_of("/alpha/1/b~1c"), 4u);
  EXPECT_EQ(yaml.line_of("/alpha/1/d~0e"), 4u);
  EXPECT_EQ(yaml.line_of("/mid/1"), 5u);
  EXPECT_EQ(yaml.line_of("/alpha/1/absent/deeper"), 4u);  // the nearest node that exists
}

TEST(Yaml, EveryWrongFileIsOneErrorWithItsLine) {
  YamlError syntax = error_of("a: 1\nb: [1, 2\nc: 3\n");
  EXPECT_GE(syntax.line, 2u);
  EXPECT_FALSE(syntax.message.empty());
  YamlError repeated = error_of("a: 1\nb: 2\na: 3\n");
  EXPECT_EQ(repeated.line, 3u);
  EXPECT_NE(repeated.message.find("\"a\" appears twice"), std::string::npos) << repeated.message;
  YamlError complex_key = error_of("? [1, 2]\n: x\n");
  EXPECT_NE(complex_key.message.find("a key must be a plain text"), std::string::npos) << complex_key.message;
  YamlError two = error_of("a: 1\n---\nb: 2\n");
  EXPECT_NE(two.message.find("more than one YAML document"), std::string::npos) << two.message;
  YamlError tag = error_of("a: !custom 1\n");
  EXPECT_NE(tag.message.find("not supported"), std::string::npos) << tag.message;
  YamlError wrong_int = error_of("a: !!int twelve\n");
  EXPECT_NE(wrong_int.message.find("is not a int"), std::string::npos) << wrong_int.message;
}

TEST(Yaml, HostileFilesAreErrorsNotCrashes) {
  // Nested aliases: 9 levels of 10 stand for a billion nodes.
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) bomb += std::string(j ? ", " : "") + "*a" + std::to_string(i - 1);
    bomb += "]\n";
  }
  YamlError expanded = error_of(bomb);
  EXPECT_NE(expanded.message.find("more than 1000000 nodes"), std::string::npos) << expanded.message;
  // Deep nesting in flow and block style.
  YamlError flow = error_of("a: " + std::string(100'000, '[') + std::string(100'000, ']') + "\n");
  EXPECT_FALSE(flow.message.empty());
  std::string block;
  for (int i = 0; i < 400; ++i) block += std::string(static_cast<std::size_t>(i) * 2, ' ') + "k:\n";
  YamlError deep = error_of(block);
  EXPECT_NE(deep.message.find("deeper than"), std::string::npos) << deep.message;
  // Found by fuzz/yaml: yaml-cpp 0.7.0 never returned on these (hence libyaml); now they are syntax errors.
  for (const std::string& text : {std::string(",fd{ : ~}\n"), std::string("\0,\x01ap [:p c*}]\n", 15)}) {
    auto parsed = parse_yaml(text);
    ASSERT_TRUE(std::holds_alternative<YamlError>(parsed)) << text.size();
  }
}

TEST(Yaml, PathsEndingInYamlOrYmlAreYaml) {
  EXPECT_TRUE(is_yaml_path("topologies/word-count.yaml"));
  EXPECT_TRUE(is_yaml_path("settings.yml"));
  EXPECT_FALSE(is_yaml_path("topology.json"));
  EXPECT_FALSE(is_yaml_path("yaml"));
}
