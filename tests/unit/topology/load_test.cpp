// load_topology_file (unreadable files, JSON syntax errors), the module's internal helpers, and that the
// JSON Schema in topologies/ agrees with the parser on the things both define.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "sluice/core/duration.hpp"
#include "sluice/core/suggest.hpp"
#include "../../../src/topology/diagnostics.hpp"
#include "../../../src/topology/field_reader.hpp"
#include "sluice/topology/describe.hpp"
#include "sluice/topology/topology.hpp"
#include "support.hpp"

namespace sluice::topology {
namespace {

// A file in a fresh temporary directory, removed with it.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    directory_ = std::filesystem::temp_directory_path() /
                 ("sluice-topology-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(directory_);
    path_ = (directory_ / "topology.json").string();
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  std::string directory() const { return directory_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path directory_;
  std::string path_;
};

std::vector<ValidationError> load_errors(const std::string& path) {
  auto result = load_topology_file(path);
  if (auto* errors = std::get_if<std::vector<ValidationError>>(&result)) return *errors;
  ADD_FAILURE() << path << " loaded without errors";
  return {};
}

TEST(TopologyLoadTest, MissingFileIsOneErrorWithPathAndReason) {
  const std::string path = "/nonexistent/sluice/topology.json";
  const auto errors = load_errors(path);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "");
  EXPECT_NE(errors[0].message.find("\"" + path + "\""), std::string::npos) << errors[0].message;
  EXPECT_NE(errors[0].message.find("No such file or directory"), std::string::npos) << errors[0].message;
}

// A file nested 100,000 levels deep crashed validate/describe/run with a stack overflow (exit 139).
TEST(TopologyLoadTest, HostileNestingIsOneErrorNotACrash) {
  const TempFile file("{\"application_id\": " + std::string(100'000, '[') + std::string(100'000, ']') + "}");
  const auto errors = load_errors(file.path());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "");
  EXPECT_NE(errors[0].message.find("deeper than 256 levels"), std::string::npos) << errors[0].message;
  // Brackets inside strings do not count; nesting up to the limit is accepted by this check.
  const TempFile strings("{\"application_id\": \"" + std::string(1'000, '[') + "\"}");
  for (const auto& error : load_errors(strings.path())) EXPECT_EQ(error.message.find("levels"), std::string::npos);
}

TEST(TopologyLoadTest, DirectoryIsUnreadable) {
  const TempFile file("{}");
  const auto errors = load_errors(file.directory());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("Is a directory"), std::string::npos) << errors[0].message;
}

TEST(TopologyLoadTest, SyntaxErrorGivesLineAndColumn) {
  const TempFile file("{\n  \"application_id\": \"app\",\n  \"sources\": [}\n}\n");
  const auto errors = load_errors(file.path());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].pointer, "");
  EXPECT_NE(errors[0].message.find("is not valid JSON: line 3, column 15: "), std::string::npos) << errors[0].message;
  EXPECT_EQ(errors[0].message.find("[json.exception"), std::string::npos) << errors[0].message;
}

TEST(TopologyLoadTest, SyntaxErrorOnFirstLineAndAtEnd) {
  {
    const TempFile file("nope");
    const auto errors = load_errors(file.path());
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].message.find("line 1, column "), std::string::npos) << errors[0].message;
  }
  {
    const TempFile file("");
    const auto errors = load_errors(file.path());
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].message.find("line 1, column 1"), std::string::npos) << errors[0].message;
  }
  {
    const TempFile file("{\"a\": 1,\n");
    const auto errors = load_errors(file.path());
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].message.find("line 2, column 1"), std::string::npos) << errors[0].message;
  }
}

TEST(TopologyLoadTest, ValidationErrorsOfAFileAreReturnedAsSuch) {
  const TempFile file(R"({"application_id": "app", "sources": [], "sinks": []})");
  const auto errors = load_errors(file.path());
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_EQ(errors[0].pointer, "/sources");
  EXPECT_EQ(errors[1].pointer, "/sinks");
}

TEST(TopologyLoadTest, FileKeepsFieldOrder) {
  const TempFile file(R"({"application_id": "app", "sources": [{"name": "a", "topic": "a"}],
      "operators": [{"name": "s", "from": "a", "select": {"z": "z", "b": "b", "m": "m"}}],
      "sinks": [{"from": "s", "topic": "out"}]})");
  auto result = load_topology_file(file.path());
  ASSERT_TRUE(std::holds_alternative<Topology>(result));
  const auto& select = std::get<SelectSpec>(std::get<Topology>(result).operators[0].body);
  ASSERT_EQ(select.fields.size(), 3u);
  EXPECT_EQ(select.fields[0].name, "z");
  EXPECT_EQ(select.fields[1].name, "b");
  EXPECT_EQ(select.fields[2].name, "m");
}

// ---- internal helpers ----

TEST(TopologyHelpersTest, PointerEscaping) {
  EXPECT_EQ(detail::pointer_child("", "sources"), "/sources");
  EXPECT_EQ(detail::pointer_child("/operators", 3), "/operators/3");
  EXPECT_EQ(detail::pointer_child("/map", "a/b~c"), "/map/a~1b~0c");
  EXPECT_EQ(detail::pointer_child("/map", ""), "/map/");
}

TEST(TopologyHelpersTest, QuotingEscapesForReadableMessages) {
  EXPECT_EQ(detail::in_quotes("plain"), "\"plain\"");
  EXPECT_EQ(detail::in_quotes("a\"b\\c\nd\x01"), "\"a\\\"b\\\\c\\nd\\x01\"");
}

TEST(TopologyHelpersTest, EditDistanceAndSuggestions) {
  EXPECT_EQ(core::edit_distance("filter", "filter"), 0u);
  EXPECT_EQ(core::edit_distance("fliter", "filter"), 1u);  // transposition
  EXPECT_EQ(core::edit_distance("Filter", "filter"), 0u);  // case-insensitive
  EXPECT_EQ(core::edit_distance("", "abc"), 3u);
  EXPECT_EQ(core::edit_distance("kitten", "sitting"), 3u);
  const std::vector<std::string> fields{"name", "from", "description", "filter"};
  EXPECT_EQ(detail::closest_match("fliter", fields), "filter");
  EXPECT_EQ(detail::closest_match("nmae", fields), "name");
  EXPECT_EQ(detail::closest_match("frm", fields), "from");
  EXPECT_FALSE(detail::closest_match("xy", fields).has_value());
  EXPECT_FALSE(detail::closest_match("version", fields).has_value());
  EXPECT_EQ(detail::did_you_mean("fliter", fields), "; did you mean \"filter\"?");
  EXPECT_EQ(detail::did_you_mean("zzz", fields), "");
}

TEST(TopologyHelpersTest, DurationsForStatefulOperators) {
  detail::ErrorList errors;
  detail::FieldReader reader(errors);
  EXPECT_EQ(reader.duration_ms(detail::Json("30s"), "/w"), 30'000);
  EXPECT_EQ(reader.duration_ms(detail::Json("1m30s"), "/w"), 90'000);
  EXPECT_EQ(reader.duration_ms(detail::Json("0"), "/w"), 0);
  EXPECT_TRUE(errors.empty());
  EXPECT_FALSE(reader.duration_ms(detail::Json("5x"), "/operators/3/window/size").has_value());
  EXPECT_FALSE(reader.duration_ms(detail::Json(30), "/operators/3/window/grace").has_value());
  const auto reported = errors.take_in_document_order();
  ASSERT_EQ(reported.size(), 2u);
  EXPECT_EQ(reported[0].to_string(), "/operators/3/window/size: \"5x\" is not a duration (e.g. 30s, 5m, 1h)");
  EXPECT_EQ(reported[1].to_string(), "/operators/3/window/grace: expected a string, got number");
}

// ---- the schema agrees with the parser ----

nlohmann::json load_schema() {
  std::ifstream in(std::string(SLUICE_SOURCE_DIR) + "/topologies/sluice-topology.schema.json");
  return nlohmann::json::parse(in);
}

TEST(TopologySchemaTest, SchemaDefinesTheSameOperatorTypesAndFormats) {
  const nlohmann::json schema = load_schema();
  EXPECT_EQ(schema.at("$schema"), "https://json-schema.org/draft/2020-12/schema");
  EXPECT_EQ(schema.at("additionalProperties"), false);
  const auto& defs = schema.at("$defs");

  std::vector<std::string> type_keys;
  for (const auto& variant : defs.at("operator").at("oneOf")) {
    const std::string ref = variant.at("$ref");
    const auto& definition = defs.at(ref.substr(ref.rfind('/') + 1));
    EXPECT_EQ(definition.at("additionalProperties"), false) << ref;
    // The type key is the required field other than name and from.
    for (const std::string field : definition.at("required")) {
      if (field != "name" && field != "from") type_keys.push_back(field);
    }
  }
  EXPECT_EQ(type_keys, (std::vector<std::string>{"filter", "map", "select", "flat_map", "rekey", "route", "merge",
                                                 "aggregate", "dedupe", "join"}));

  std::vector<std::string> key_formats;
  for (const auto format : {KeyFormat::string, KeyFormat::bytes, KeyFormat::json}) key_formats.emplace_back(to_string(format));
  EXPECT_EQ(defs.at("keyFormat").at("enum").get<std::vector<std::string>>(), key_formats);
  for (const auto format : {KeyFormat::avro, KeyFormat::protobuf}) key_formats.emplace_back(to_string(format));
  EXPECT_EQ(defs.at("sourceKeyFormat").at("enum").get<std::vector<std::string>>(), key_formats);
  std::vector<std::string> value_formats;
  for (const auto format : {ValueFormat::json, ValueFormat::string, ValueFormat::bytes, ValueFormat::avro,
                             ValueFormat::protobuf}) {
    value_formats.emplace_back(to_string(format));
  }
  EXPECT_EQ(defs.at("valueFormat").at("enum").get<std::vector<std::string>>(), value_formats);
  std::vector<std::string> timestamp_formats;
  for (const auto format : {TimestampFormat::epoch_ms, TimestampFormat::epoch_s, TimestampFormat::iso8601}) {
    timestamp_formats.emplace_back(to_string(format));
  }
  EXPECT_EQ(defs.at("timestamp").at("oneOf").at(1).at("properties").at("format").at("enum").get<std::vector<std::string>>(),
            timestamp_formats);
  EXPECT_EQ(defs.at("name").at("pattern"), "^[A-Za-z0-9_-]{1,100}$");
  EXPECT_EQ(defs.at("topic").at("pattern"), "^[A-Za-z0-9._-]{1,249}$");
  EXPECT_EQ(schema.at("properties").at("application_id").at("pattern"), "^[A-Za-z0-9._-]{1,200}$");
}

// The schema's window types, aggregation functions and emit modes are the parser's, in the same order.
TEST(TopologySchemaTest, SchemaDefinesTheSameStatefulOptions) {
  const nlohmann::json schema = load_schema();
  const auto& defs = schema.at("$defs");
  std::vector<std::string> window_types;
  for (const auto& variant : defs.at("window").at("oneOf")) {
    const std::string ref = variant.at("$ref");
    const auto& definition = defs.at(ref.substr(ref.rfind('/') + 1));
    EXPECT_EQ(definition.at("additionalProperties"), false) << ref;
    window_types.push_back(definition.at("properties").at("type").at("const"));
  }
  std::vector<std::string> parser_window_types;
  for (const auto type : {WindowType::tumbling, WindowType::hopping, WindowType::sliding, WindowType::session}) {
    parser_window_types.emplace_back(to_string(type));
  }
  EXPECT_EQ(window_types, parser_window_types);
  const auto& aggregate = defs.at("aggregateOperator").at("properties");
  const std::vector<std::string> emit_modes{std::string(to_string(EmitMode::update)),
                                            std::string(to_string(EmitMode::final))};
  EXPECT_EQ(aggregate.at("emit").at("enum").get<std::vector<std::string>>(), emit_modes);
  const std::string aggregation_pattern = defs.at("aggregation").at("pattern");
  std::string functions;
  for (const auto function : {AggregateFunction::count, AggregateFunction::sum, AggregateFunction::min,
                              AggregateFunction::max, AggregateFunction::avg, AggregateFunction::first,
                              AggregateFunction::last}) {
    functions += (functions.empty() ? "(" : "|") + std::string(to_string(function));
  }
  EXPECT_NE(aggregation_pattern.find(functions + ")\\s*\\("), std::string::npos) << aggregation_pattern;
}

// Whether parse_topology accepts `aggregation` as the one aggregation of an aggregate, and `duration` as a
// window's grace.
bool parser_accepts_aggregation(const std::string& aggregation) {
  nlohmann::ordered_json document = nlohmann::ordered_json::parse(
      testing::with_operators(R"([{"name": "a", "from": "orders", "aggregate": {}}])", "a"));
  document["operators"][0]["aggregate"]["x"] = aggregation;
  return std::holds_alternative<Topology>(parse_topology(document));
}

bool parser_accepts_grace(const std::string& duration) {
  nlohmann::ordered_json document = nlohmann::ordered_json::parse(testing::with_operators(
      R"json([{"name": "a", "from": "orders", "window": {"type": "tumbling", "size": "1m"},
               "aggregate": {"n": "count()"}}])json",
      "a"));
  document["operators"][0]["window"]["grace"] = duration;
  return std::holds_alternative<Topology>(parse_topology(document));
}

bool matches(const std::string& pattern, const std::string& text) {
  return std::regex_search(text, std::regex(pattern, std::regex::ECMAScript));
}

TEST(TopologySchemaTest, DurationPatternsAgreeWithTheParser) {
  const nlohmann::json schema = load_schema();
  const auto& defs = schema.at("$defs");
  const std::string duration = defs.at("duration").at("pattern");
  const std::string zero = defs.at("positiveDuration").at("not").at("pattern");
  for (const std::string text : {"0", "0s", "00m", "250ms", "30s", "5m", "1h", "1d", "1m30s", "1h0m", "1d2h3m4s5ms",
                                 "999999999999ms", "5x", "", "-5m", "1.5s", "30", "s", "1 m", "1mm", "m1", "1ms5",
                                 "1234567890123s", " 5m", "5m "}) {
    EXPECT_EQ(matches(duration, text), parser_accepts_grace(text)) << "\"" << text << "\"";
    if (parser_accepts_grace(text)) {
      EXPECT_EQ(matches(zero, text), core::parse_duration_ms(text) == 0) << "\"" << text << "\"";
    }
  }
}

TEST(TopologySchemaTest, AggregationPatternAcceptsWhatTheParserAccepts) {
  const std::string pattern = load_schema().at("$defs").at("aggregation").at("pattern");
  // The schema cannot parse expressions, so it may accept more than sluice; never less.
  for (const std::string text : {"count()", "count( )", " count(x) ", "sum(amount)", "min(price * qty)", "max(a.b)",
                                 "avg( x )", "first(items[0])", "last('a)b')", "sum(coalesce(a, 0))"}) {
    EXPECT_TRUE(parser_accepts_aggregation(text)) << text;
    EXPECT_TRUE(matches(pattern, text)) << text;
  }
  for (const std::string text : {"summ(x)", "sum()", "avg( )", "amount", "SUM(x)", "count", "", "sum(x) + 1x",
                                 "(x)"}) {
    EXPECT_FALSE(parser_accepts_aggregation(text)) << text;
    EXPECT_FALSE(matches(pattern, text)) << text;
  }
}

TEST(TopologySchemaTest, EveryShippedTopologyLoads) {
  std::size_t examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(SLUICE_SOURCE_DIR) + "/topologies")) {
    if (entry.path().extension() != ".json" || entry.path().filename() == "sluice-topology.schema.json") continue;
    ++examples;
    auto result = load_topology_file(entry.path().string());
    if (auto* errors = std::get_if<std::vector<ValidationError>>(&result)) {
      ADD_FAILURE() << entry.path() << ":" << testing::describe_errors(*errors);
    }
  }
  EXPECT_GE(examples, 8u);
}

// YAML topologies: the same schema and errors as JSON, each error with the YAML line of its field.
TEST(TopologyLoadTest, TheYamlExampleIsTheSameTopologyAsItsJsonTwin) {
  const std::string directory = std::string(SLUICE_SOURCE_DIR) + "/topologies/";
  auto from_json = load_topology_file(directory + "word-count.json");
  auto from_yaml = load_topology_file(directory + "word-count.yaml");
  ASSERT_TRUE(std::holds_alternative<Topology>(from_json));
  ASSERT_TRUE(std::holds_alternative<Topology>(from_yaml));
  EXPECT_EQ(describe(std::get<Topology>(from_yaml), DescribeFormat::json),
            describe(std::get<Topology>(from_json), DescribeFormat::json));
}

TEST(TopologyLoadTest, YamlErrorsNameThePointerAndTheLine) {
  const auto path = std::filesystem::temp_directory_path() / ("sluice-yaml-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << "application_id: shop\n"
                         "sources:\n"
                         "  - name: orders\n"
                         "    topic: orders\n"
                         "operators:\n"
                         "  - name: big\n"
                         "    from: orders\n"
                         "    filter: amount >\n"
                         "sinks:\n"
                         "  - {from: nowhere, topic: out}\n";
  auto errors = load_errors(path.string());
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].pointer, "/operators/0/filter");
  EXPECT_NE(errors[0].message.find("(line 8)"), std::string::npos) << errors[0].to_string();
  EXPECT_EQ(errors[1].pointer, "/sinks/0/from");
  EXPECT_NE(errors[1].message.find("(line 10)"), std::string::npos) << errors[1].to_string();

  std::ofstream(path) << "application_id: shop\nsources: [\n";
  auto syntax = load_errors(path.string());
  ASSERT_EQ(syntax.size(), 1u);
  EXPECT_EQ(syntax[0].pointer, "");
  EXPECT_NE(syntax[0].message.find("is not valid YAML: line"), std::string::npos) << syntax[0].to_string();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace sluice::topology
