#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sluice/core/duration.hpp"
#include "sluice/core/json.hpp"
#include "sluice/core/value.hpp"

using namespace sluice::core;

TEST(Duration, ParsesUnitsAndCombinations) {
  EXPECT_EQ(parse_duration_ms("0"), 0);
  EXPECT_EQ(parse_duration_ms("250ms"), 250);
  EXPECT_EQ(parse_duration_ms("30s"), 30'000);
  EXPECT_EQ(parse_duration_ms("5m"), 300'000);
  EXPECT_EQ(parse_duration_ms("2h"), 7'200'000);
  EXPECT_EQ(parse_duration_ms("1d"), 86'400'000);
  EXPECT_EQ(parse_duration_ms("1m30s"), 90'000);
  EXPECT_EQ(parse_duration_ms("1h1ms"), 3'600'001);
}

TEST(Duration, RejectsMalformed) {
  for (const char* text : {"", "5", "5x", "m", "-5s", "5 s", "1.5s", "s5", "5sm", "99999999999999d"}) {
    EXPECT_FALSE(parse_duration_ms(text).has_value()) << text;
  }
}

TEST(Duration, FormatsShortest) {
  EXPECT_EQ(format_duration_ms(90'000), "1m30s");
  EXPECT_EQ(format_duration_ms(250), "250ms");
  EXPECT_EQ(format_duration_ms(0), "0");
  EXPECT_EQ(format_duration_ms(86'400'000), "1d");
}

TEST(Iso8601, ParsesZonesAndFractions) {
  EXPECT_EQ(parse_iso8601_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_iso8601_ms("1970-01-01"), 0);
  EXPECT_EQ(parse_iso8601_ms("2026-11-21T10:15:30.250Z"), 1795256130250);
  EXPECT_EQ(parse_iso8601_ms("2026-11-21T11:15:30.250+01:00"), 1795256130250);
  EXPECT_EQ(parse_iso8601_ms("2026-11-21T09:15:30.25-01:00"), 1795256130250);
  EXPECT_EQ(parse_iso8601_ms("2026-11-21T10:15:30.250123Z"), 1795256130250);
  EXPECT_EQ(parse_iso8601_ms("2024-02-29T00:00:00Z"), 1709164800000);
  EXPECT_EQ(parse_iso8601_ms("1969-12-31T23:59:59.999Z"), -1);
}

TEST(Iso8601, RejectsMalformed) {
  for (const char* text : {"", "2026", "2026-13-01", "2026-02-30", "2023-02-29", "2026-11-21T25:00:00Z",
                           "2026-11-21T10:15:30Zjunk", "2026-11-21T10:15:30+1", "21/11/2026", "2026-11-21T10"}) {
    EXPECT_FALSE(parse_iso8601_ms(text).has_value()) << text;
  }
}

TEST(Iso8601, RoundTrips) {
  for (std::int64_t ms : {0LL, 1795256130250LL, -1LL, 951782400000LL, 253402300799999LL}) {
    auto text = format_iso8601_ms(ms);
    EXPECT_EQ(parse_iso8601_ms(text), ms) << text;
  }
  EXPECT_EQ(format_iso8601_ms(1795256130250), "2026-11-21T10:15:30.250Z");
}

TEST(Json, ParsesAndWritesRoundTrip) {
  JsonParser parser;
  std::string text = R"({"a":1,"b":-2.5,"c":"x\"y\n","d":[true,false,null],"e":{"f":{}},"g":[],"h":1.0})";
  auto parsed = parser.parse(text);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(to_json(parsed.value()), text);
  EXPECT_TRUE(parsed.value().find("a")->is_integer());
  EXPECT_TRUE(parsed.value().find("h")->is_floating());
}

TEST(Json, ReportsInvalidDocumentsAsDeserializationErrors) {
  JsonParser parser;
  for (const char* text : {"", "{", "{\"a\":}", "[1,2", "nul", "{\"a\":1}}", "\"unterminated"}) {
    auto parsed = parser.parse(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.error().kind, RecordErrorKind::deserialization);
  }
}

TEST(Json, AProjectionBuildsOnlyTheNamedMembersOfAnObjectAndStillValidatesTheRest) {
  JsonParser parser;
  const std::vector<std::string> keep = {"price", "type", "missing"};
  auto parsed = parser.parse(R"({"type":"bid","a":[1,{"b":2}],"price":7,"c":"x","price":8})", keep);
  ASSERT_TRUE(parsed.ok());
  // Text order, duplicates kept (a lookup then finds what it finds in the whole object).
  EXPECT_EQ(to_json(parsed.value()), R"({"type":"bid","price":7,"price":8})");
  const Value whole = parser.parse(R"({"type":"bid","a":[1,{"b":2}],"price":7,"c":"x","price":8})").value();
  EXPECT_EQ(to_json(*whole.find("price")), to_json(*parsed.value().find("price")));
  // Anything but an object is whole; an empty projection gives an empty object.
  EXPECT_EQ(to_json(parser.parse("[1,2]", keep).value()), "[1,2]");
  EXPECT_EQ(to_json(parser.parse("5", keep).value()), "5");
  EXPECT_EQ(to_json(parser.parse(R"({"a":1})", {}).value()), "{}");
  // A member nobody reads is still checked: the document is invalid.
  auto invalid = parser.parse(R"({"type":"bid","a":[1,})", keep);
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().kind, RecordErrorKind::deserialization);
  auto bad_utf8 = parser.parse("{\"type\":\"bid\",\"a\":\"\xff\"}", keep);
  EXPECT_FALSE(bad_utf8.ok());
}

TEST(Json, ParserIsReusableAcrossDocuments) {
  JsonParser parser;
  for (int i = 0; i < 1000; ++i) {
    auto parsed = parser.parse("{\"n\":" + std::to_string(i) + "}");
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.value().find("n")->as_integer(), i);
  }
}

TEST(Json, EscapesControlCharactersAndNonFinite) {
  EXPECT_EQ(to_json(Value::string(std::string("a\x01" "b", 3))), "\"a\\u0001b\"");
  EXPECT_EQ(to_json(Value::floating(1.0 / 0.0)), "null");
  // Plain runs are copied whole; escapes at the start, the end and between runs.
  EXPECT_EQ(to_json(Value::string("")), "\"\"");
  EXPECT_EQ(to_json(Value::string("\"start")), "\"\\\"start\"");
  EXPECT_EQ(to_json(Value::string("end\\")), "\"end\\\\\"");
  EXPECT_EQ(to_json(Value::string("mid\"dle\n\tx\x7f\xC3\xA9y")), "\"mid\\\"dle\\n\\tx\x7f\xC3\xA9y\"");
}

// Found by fuzz/decoders: a string-format value that was not UTF-8 (here Latin-1 "caf\xE9"), written by a json
// sink, gave JSON that no reader accepts, simdjson included. Invalid bytes now become U+FFFD; valid UTF-8 of every
// length is kept as it is.
TEST(Json, WritesTextThatIsNotUtf8AsValidJson) {
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(to_json(Value::string("caf\xE9")), "\"caf" + replacement + "\"");
  EXPECT_EQ(to_json(Value::string("\xC0\xAF")), "\"" + replacement + replacement + "\"");  // overlong '/'
  const std::string three = replacement + replacement + replacement;
  EXPECT_EQ(to_json(Value::string("\xED\xA0\x80")), "\"" + three + "\"");                      // a surrogate
  EXPECT_EQ(to_json(Value::string("\xF4\x90\x80\x80")), "\"" + three + replacement + "\"");  // above U+10FFFF
  EXPECT_EQ(to_json(Value::string("\xE2\x82")), "\"" + replacement + replacement + "\"");  // cut short
  const std::string valid = "\x7F \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF";
  EXPECT_EQ(to_json(Value::string(valid)), "\"" + valid + "\"");

  JsonParser parser;
  Value object = Value::object();
  object.set("k\x93" "ey", Value::string("v\x93"));
  const std::string written = to_json(object);
  auto parsed = parser.parse(written);
  ASSERT_TRUE(parsed.ok()) << written;
  EXPECT_EQ(to_json(parsed.value()), written);
}

TEST(Json, NlohmannConversionsAgree) {
  auto document = nlohmann::json::parse(R"({"x":[1,2.5,"s",null,{"y":true}],"big":18446744073709551615})");
  Value value = from_nlohmann(document);
  EXPECT_EQ(value.find("x")->as_array().size(), 5u);
  EXPECT_TRUE(value.find("big")->is_floating());
  EXPECT_EQ(to_nlohmann(value)["x"], document["x"]);
}

TEST(Value, EqualityIsDeepAndNumeric) {
  JsonParser parser;
  auto left = parser.parse(R"({"a":1,"b":[1,{"c":2}]})").value();
  auto right = parser.parse(R"({"b":[1.0,{"c":2}],"a":1})").value();
  EXPECT_EQ(left, right);
  right.set("a", Value::integer(2));
  EXPECT_FALSE(left == right);
  EXPECT_FALSE(Value() == Value::boolean(false));
}

TEST(Value, SetFindErase) {
  Value object = Value::object();
  object.set("a", Value::integer(1));
  object.set("b", Value::string("x"));
  object.set("a", Value::integer(3));
  EXPECT_EQ(object.as_object().size(), 2u);
  EXPECT_EQ(object.find("a")->as_integer(), 3);
  EXPECT_TRUE(object.erase("a"));
  EXPECT_FALSE(object.erase("a"));
  EXPECT_EQ(object.find("a"), nullptr);
  EXPECT_EQ(Value::integer(1).find("a"), nullptr);
}

#include "sluice/core/suggest.hpp"

TEST(Suggest, DistanceCountsTranspositionsAndIgnoresCase) {
  EXPECT_EQ(edit_distance("fliter", "filter"), 1u);
  EXPECT_EQ(edit_distance("FILTER", "filter"), 0u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
}

TEST(Suggest, ClosestMatchRespectsTheLimitAndSkipsExactMatches) {
  std::vector<std::string_view> names = {"filter", "map", "select"};
  EXPECT_EQ(closest_match("fliter", names, 2), 0u);
  EXPECT_EQ(closest_match("mpa", names, 2), 1u);
  EXPECT_EQ(closest_match("zzzzzz", names, 2), std::nullopt);
  EXPECT_EQ(closest_match("map", names, 2), std::nullopt);  // exact: nothing to suggest
  EXPECT_EQ(closest_match("f", {"if"}, 2), std::nullopt);   // too short to be a typo of anything
}

// Found by profiling fuzz/settings: the distance costs the product of the lengths, so a name of megabytes (in a
// settings or topology file, or a --set) against a candidate of similar length kept validation busy for hours.
// Such names get no suggestion at all.
TEST(Suggest, NamesLongerThanAnyTypoGetNoSuggestion) {
  const std::string long_name(200, 'a');
  const std::string typo = long_name.substr(1) + "b";
  EXPECT_EQ(closest_match(typo, {long_name}, 2), std::nullopt);  // 1 edit away, but too long to be a typo
  const std::string longest(kMaxSuggestedLength, 'a');
  EXPECT_EQ(closest_match(longest.substr(1) + "b", {longest}, 2), 0u);
  EXPECT_EQ(closest_match("flter", {"select", std::string(1'000'000, 'f'), "filter"}, 2), 2u);

  const std::string huge(4'000'000, 'x');
  EXPECT_EQ(closest_match(huge, {huge + "y", "filter"}, huge.size() / 3), std::nullopt);  // returns at once
}
