// Names and values from a topology file never reach a terminal raw: an error or a description shows control
// and bidi characters as escapes and cuts long values with their length (issue 11, item 4), and files over the
// size limit are refused before they are read.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "sluice/core/file.hpp"
#include "sluice/topology/describe.hpp"
#include "sluice/topology/topology.hpp"
#include "support.hpp"

namespace sluice::topology {
namespace {

// The first byte (as an offset) a terminal would act on or that reorders text: C0, DEL, C1 in UTF-8, a bidi or
// direction mark; npos when there is none.
std::size_t first_unsafe_byte(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte < 0x20 && byte != '\n') || byte == 0x7F) return i;
    if (byte == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9F) return i;
    for (std::string_view mark : {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
                                  "\u2069", "\u200e", "\u200f", "\u061c"}) {
      if (text.substr(i).starts_with(mark)) return i;
    }
  }
  return std::string_view::npos;
}

std::string all_messages(const std::vector<ValidationError>& errors) {
  std::string out;
  for (const auto& error : errors) out += error.to_string() + "\n";
  return out;
}

std::string topology_with_source_topic(const std::string& topic) {
  nlohmann::json document = {{"application_id", "app"},
                             {"sources", {{{"name", "in"}, {"topic", topic}}}},
                             {"sinks", {{{"from", "in"}, {"topic", "out"}}}}};
  return document.dump();
}

TEST(TopologyEscapeTest, ControlAndBidiCharactersInATopicNameAreEscapedInTheError) {
  const std::string topic = "orders\n/sources/0/topic: \"ok\" is valid\x1b[2K\r\u202etxt.exe";
  const auto errors = testing::errors_of(topology_with_source_topic(topic));
  ASSERT_FALSE(errors.empty());
  const std::string shown = all_messages(errors);
  // One line per error: the only newlines are the ones between errors.
  EXPECT_EQ(static_cast<std::size_t>(std::count(shown.begin(), shown.end(), '\n')), errors.size()) << shown;
  EXPECT_EQ(first_unsafe_byte(shown), std::string_view::npos) << shown;
  for (const auto& error : errors) EXPECT_EQ(first_unsafe_byte(error.message), std::string_view::npos);
  // ...and each character is still readable for what it was.
  EXPECT_NE(shown.find("orders\\n/sources/0/topic: \\\"ok\\\" is valid\\x1b[2K\\r\\u202etxt.exe"), std::string::npos)
      << shown;
}

TEST(TopologyEscapeTest, AMegabyteTopicNameIsCutAndItsLengthShown) {
  const std::string topic(1'048'576, 'x');
  const auto errors = testing::errors_of(topology_with_source_topic(topic));
  ASSERT_EQ(errors.size(), 1u) << testing::describe_errors(errors);
  const std::string shown = errors[0].to_string();
  // The echo of the name, from its opening quote to the end of the length note, is about 300 bytes.
  const std::size_t echo_start = shown.find('"');
  const std::size_t echo_end = shown.find("...(1048576 bytes)");
  ASSERT_NE(echo_end, std::string::npos) << shown.substr(0, 1000);
  EXPECT_LE(echo_end + std::string_view("...(1048576 bytes)").size() - echo_start, 300u) << shown;
  EXPECT_LE(shown.size(), 500u) << shown.substr(0, 1000);
  EXPECT_EQ(errors[0].pointer, "/sources/0/topic");
}

TEST(TopologyEscapeTest, AHostileKeyStaysExactInThePointerAndIsEscapedWhenShown) {
  const std::string key = "colour\x1b[31m\n\u202e";
  nlohmann::json document = nlohmann::json::parse(topology_with_source_topic("in"));
  document["sources"][0][key] = 1;
  const auto errors = testing::errors_of(document.dump());
  ASSERT_EQ(errors.size(), 1u) << testing::describe_errors(errors);
  EXPECT_EQ(errors[0].pointer, "/sources/0/" + key);  // exact, for programs
  const std::string shown = errors[0].to_string();
  EXPECT_EQ(first_unsafe_byte(shown), std::string_view::npos) << shown;
  EXPECT_EQ(shown.find('\n'), std::string::npos) << shown;
  EXPECT_TRUE(shown.starts_with("/sources/0/colour\\x1b[31m\\n\\u202e: ")) << shown;
}

TEST(TopologyEscapeTest, AHugeKeyKeepsEveryPointerTokenButIsCut) {
  nlohmann::json document = nlohmann::json::parse(topology_with_source_topic("in"));
  document["sources"][0][std::string(100'000, 'k')] = 1;
  const auto errors = testing::errors_of(document.dump());
  ASSERT_EQ(errors.size(), 1u) << testing::describe_errors(errors);
  const std::string shown = errors[0].to_string();
  EXPECT_TRUE(shown.starts_with("/sources/0/" + std::string(128, 'k') + "...(100000 bytes): ")) << shown.substr(0, 300);
  EXPECT_LE(shown.size(), 1024u);
}

TEST(TopologyEscapeTest, OperatorNamesFieldNamesAndExpressionsAreEscaped) {
  const auto errors = testing::errors_of(R"({"application_id": "app",
      "sources": [{"name": "in", "topic": "in"}],
      "operators": [
        {"name": "bad\u001b]0;pwned\u0007name", "from": "in", "filter": "a > 1"},
        {"name": "m", "from": "in", "map": {"x\u202e": "a +", "\u0085": "b"}},
        {"name": "e", "from": "in", "filter": "a == \"\u2066\" and"}],
      "sinks": [{"from": "m", "topic": "out"}]})");
  ASSERT_GE(errors.size(), 3u) << testing::describe_errors(errors);
  const std::string shown = all_messages(errors);
  EXPECT_EQ(first_unsafe_byte(shown), std::string_view::npos) << shown;
  EXPECT_NE(shown.find("bad\\x1b]0;pwned\\x07name"), std::string::npos) << shown;
  EXPECT_NE(shown.find("/operators/1/map/x\\u202e"), std::string::npos) << shown;
}

TEST(TopologyEscapeTest, DescribeEscapesNamesAndExpressionsInTextAndJson) {
  const Topology topology = testing::topology_of(R"({"application_id": "app",
      "sources": [{"name": "in", "topic": "in"}],
      "operators": [{"name": "m", "from": "in",
                     "map": {"note\u202e": "'line\nbreak \u001b[2K' + name", "z\u0085": "\"\u2067\""}}],
      "sinks": [{"from": "m", "topic": "out"}]})");
  for (const auto format : {DescribeFormat::text, DescribeFormat::dot, DescribeFormat::mermaid}) {
    const std::string text = describe(topology, format);
    EXPECT_EQ(first_unsafe_byte(text), std::string_view::npos) << text;
    EXPECT_NE(text.find("u202e"), std::string::npos) << text;  // dot doubles the backslash of the escape
    EXPECT_EQ(text.find("line\nbreak"), std::string::npos) << text;
  }
  const std::string json = describe(topology, DescribeFormat::json);
  EXPECT_EQ(first_unsafe_byte(json), std::string_view::npos) << json;
  EXPECT_NE(json.find("note\\u202e"), std::string::npos) << json;
  EXPECT_NE(json.find("z\\u0085"), std::string::npos) << json;
  // Still the same document: the escapes decode to the names as written.
  EXPECT_EQ(nlohmann::json::parse(json), describe_json(topology));
}

class TemporaryDirectory {
 public:
  TemporaryDirectory()
      : path_(std::filesystem::temp_directory_path() / ("sluice-escape-test-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name, const std::string& content) const {
    const std::string path = (path_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

 private:
  std::filesystem::path path_;
};

TEST(TopologyLoadLimitTest, AFileOverTheSizeLimitIsOneErrorNamingTheLimitAndTheSize) {
  const TemporaryDirectory directory;
  // Valid JSON, so only the size can be the reason.
  const std::string content = "{\"description\": \"" + std::string(core::kMaxFileBytes, 'd') + "\"}";
  const std::string path = directory.file("big.json", content);
  auto loaded = load_topology_file(path);
  ASSERT_TRUE(std::holds_alternative<std::vector<ValidationError>>(loaded));
  const auto& errors = std::get<std::vector<ValidationError>>(loaded);
  ASSERT_EQ(errors.size(), 1u) << testing::describe_errors(errors);
  EXPECT_EQ(errors[0].pointer, "");
  EXPECT_NE(errors[0].message.find(std::to_string(content.size()) + " bytes long"), std::string::npos)
      << errors[0].message;
  EXPECT_NE(errors[0].message.find("16 MiB (16777216 bytes)"), std::string::npos) << errors[0].message;
}

TEST(TopologyLoadLimitTest, AFileAtTheLimitIsRead) {
  const TemporaryDirectory directory;
  std::string content = R"({"application_id": "app", "sources": [{"name": "in", "topic": "in"}],
      "sinks": [{"from": "in", "topic": "out"}], "description": ")";
  content += std::string(core::kMaxFileBytes - content.size() - 2, 'd') + "\"}";
  ASSERT_EQ(content.size(), core::kMaxFileBytes);
  auto loaded = load_topology_file(directory.file("limit.json", content));
  EXPECT_TRUE(std::holds_alternative<Topology>(loaded));
}

TEST(TopologyLoadLimitTest, AStreamWithoutASizeIsRefusedOnceItPassesTheLimit) {
  // A device has no size to check first: it is read up to the limit and refused there, not read to the end.
  auto content = core::read_file_with_limit("/dev/zero", 100'000);
  ASSERT_TRUE(std::holds_alternative<core::FileTooLarge>(content));
  EXPECT_TRUE(std::get<core::FileTooLarge>(content).at_least);
  EXPECT_GT(std::get<core::FileTooLarge>(content).size, 100'000u);
  EXPECT_EQ(core::describe_too_large(std::get<core::FileTooLarge>(content), 100'000),
            "longer than the limit of 100000 bytes (100000 bytes)");
}

TEST(TopologyLoadLimitTest, ASyntaxErrorQuotingRawControlCharactersIsShownEscaped) {
  const TemporaryDirectory directory;
  // A raw ESC inside a string is invalid JSON; the parser's message quotes what it last read, here the bidi
  // override before the ESC.
  const std::string path = directory.file("raw.json", "{\"application_id\": \"valid\u202e\x1b[2K\"}");
  auto loaded = load_topology_file(path);
  ASSERT_TRUE(std::holds_alternative<std::vector<ValidationError>>(loaded));
  const std::string shown = all_messages(std::get<std::vector<ValidationError>>(loaded));
  EXPECT_EQ(first_unsafe_byte(shown), std::string_view::npos) << shown;
}

}  // namespace
}  // namespace sluice::topology
