// Every validation error of the topology format: its JSON pointer and the key phrase of its message.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "sluice/expr/expression.hpp"
#include "sluice/topology/topology.hpp"
#include "support.hpp"

namespace sluice::topology {
namespace {

using testing::errors_of;
using testing::has_error;
using testing::has_only_error;
using testing::with_operators;

constexpr const char* kMinimal = R"({"application_id": "app",
  "sources": [{"name": "orders", "topic": "orders"}],
  "sinks": [{"from": "orders", "topic": "out"}]})";

TEST(TopologyValidationTest, MinimalDocumentIsValid) { (void)testing::topology_of(kMinimal); }

// ---- root ----

TEST(TopologyValidationTest, RootMustBeAnObject) {
  EXPECT_TRUE(has_only_error(errors_of("[1, 2]"), "", "expected a JSON object (the topology), got array"));
  EXPECT_TRUE(has_only_error(errors_of("null"), "", "got null"));
}

TEST(TopologyValidationTest, ApplicationIdIsRequired) {
  EXPECT_TRUE(has_only_error(errors_of(R"({"sources": [{"name": "orders", "topic": "orders"}],
      "sinks": [{"from": "orders", "topic": "out"}]})"),
                             "", "missing required field \"application_id\""));
}

TEST(TopologyValidationTest, ApplicationIdMustMatchPattern) {
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "my app",
      "sources": [{"name": "orders", "topic": "orders"}], "sinks": [{"from": "orders", "topic": "out"}]})"),
                             "/application_id", "\"my app\" is not a valid application_id; expected 1 to 200"));
  const std::string too_long(201, 'a');
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": ")" + too_long + R"(",
      "sources": [{"name": "orders", "topic": "orders"}], "sinks": [{"from": "orders", "topic": "out"}]})"),
                             "/application_id", "is not a valid application_id"));
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": 7,
      "sources": [{"name": "orders", "topic": "orders"}], "sinks": [{"from": "orders", "topic": "out"}]})"),
                             "/application_id", "expected a string, got number"));
}

TEST(TopologyValidationTest, SourcesAreRequired) {
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "app", "sources": [],
      "sinks": [{"from": "orders", "topic": "out"}]})"),
                             "/sources", "at least one source is required"));
  const auto missing = errors_of(R"({"application_id": "app", "sinks": [{"from": "orders", "topic": "out"}]})");
  EXPECT_TRUE(has_error(missing, "", "missing required field \"sources\"; at least one source is required"));
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "app", "sources": {},
      "sinks": [{"from": "orders", "topic": "out"}]})"),
                             "/sources", "expected an array, got object"));
}

TEST(TopologyValidationTest, SinksAreRequired) {
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "app",
      "sources": [{"name": "orders", "topic": "orders"}], "sinks": []})"),
                             "/sinks", "at least one sink is required"));
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "app",
      "sources": [{"name": "orders", "topic": "orders"}]})"),
                             "", "missing required field \"sinks\""));
}

TEST(TopologyValidationTest, UnknownTopLevelFieldsAreRejectedWithSuggestion) {
  const auto errors = errors_of(R"({"application_id": "app", "version": 2, "operator": [],
      "sources": [{"name": "orders", "topic": "orders"}], "sinks": [{"from": "orders", "topic": "out"}]})");
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/version",
                        "unknown field; valid fields here are $schema, application_id, description, sources, tables, "
                        "operators, sinks, dead_letter_topic"));
  EXPECT_TRUE(has_error(errors, "/operator", "did you mean \"operators\"?"));
  EXPECT_EQ(errors[0].message.find("did you mean"), std::string::npos);  // "version" is close to nothing
}

TEST(TopologyValidationTest, SchemaAndDescriptionMustBeStrings) {
  const auto errors = errors_of(R"({"$schema": 1, "application_id": "app", "description": [],
      "sources": [{"name": "orders", "topic": "orders"}], "sinks": [{"from": "orders", "topic": "out"}]})");
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/$schema", "expected a string, got number"));
  EXPECT_TRUE(has_error(errors, "/description", "expected a string, got array"));
}

// ---- sources ----

TEST(TopologyValidationTest, SourceFieldTypesAndRequiredFields) {
  const auto errors = errors_of(R"({"application_id": "app",
      "sources": [{"name": "orders", "topic": 5}, {"name": "events"}, "clicks", {"topic": "t"}],
      "sinks": [{"from": "orders", "topic": "out"}]})");
  ASSERT_EQ(errors.size(), 4u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/sources/0/topic", "expected a string, got number"));
  EXPECT_TRUE(has_error(errors, "/sources/1", "missing required field \"topic\""));
  EXPECT_TRUE(has_error(errors, "/sources/2", "expected an object, got string"));
  EXPECT_TRUE(has_error(errors, "/sources/3", "missing required field \"name\""));
}

TEST(TopologyValidationTest, SourceUnknownField) {
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "app",
      "sources": [{"name": "orders", "topic": "orders", "topics": ["a"]}],
      "sinks": [{"from": "orders", "topic": "out"}]})"),
                             "/sources/0/topics",
                             "unknown field; valid fields here are name, topic, key, value, timestamp, description; "
                             "did you mean \"topic\"?"));
}

TEST(TopologyValidationTest, BadKeyAndValueFormats) {
  const auto errors = errors_of(R"({"application_id": "app",
      "sources": [{"name": "orders", "topic": "orders", "key": "text", "value": "thrift"}],
      "sinks": [{"from": "orders", "topic": "out", "key": "jsn", "value": 1}]})");
  ASSERT_EQ(errors.size(), 4u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/sources/0/key", "\"text\" is not a key format; expected one of string, bytes, json"));
  EXPECT_TRUE(has_error(errors, "/sources/0/value", "\"thrift\" is not a value format; expected one of json, string, bytes, avro, protobuf"));
  EXPECT_TRUE(has_error(errors, "/sinks/0/key", "did you mean \"json\"?"));
  EXPECT_TRUE(has_error(errors, "/sinks/0/value", "expected a string, got number"));
}

TEST(TopologyValidationTest, BadTimestamps) {
  const auto errors = errors_of(R"({"application_id": "app",
      "sources": [{"name": "a", "topic": "a", "timestamp": "event_time"},
                  {"name": "b", "topic": "b", "timestamp": {"format": "epoch_ms"}},
                  {"name": "c", "topic": "c", "timestamp": {"field": "ts", "format": "rfc2822", "zone": "UTC"}},
                  {"name": "d", "topic": "d", "timestamp": 3},
                  {"name": "e", "topic": "e", "timestamp": {"field": "ts +"}}],
      "sinks": [{"from": "a", "topic": "out"}]})");
  ASSERT_EQ(errors.size(), 6u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/sources/0/timestamp", "\"event_time\" is not a timestamp source; expected \"record\""));
  EXPECT_TRUE(has_error(errors, "/sources/1/timestamp", "missing required field \"field\""));
  EXPECT_TRUE(has_error(errors, "/sources/2/timestamp/format",
                        "\"rfc2822\" is not a timestamp format; expected one of epoch_ms, epoch_s, iso8601"));
  EXPECT_TRUE(has_error(errors, "/sources/2/timestamp/zone", "unknown field; valid fields here are field, format"));
  EXPECT_TRUE(has_error(errors, "/sources/3/timestamp", "expected \"record\" or an object"));
  EXPECT_TRUE(has_error(errors, "/sources/4/timestamp/field", "expression does not parse"));
}

TEST(TopologyValidationTest, TwoSourcesOnOneTopicIsAnErrorOnTheSecond) {
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "app",
      "sources": [{"name": "a", "topic": "orders"}, {"name": "b", "topic": "orders"}],
      "sinks": [{"from": "a", "topic": "out"}]})"),
                             "/sources/1/topic", "topic \"orders\" is already read by /sources/0"));
}

TEST(TopologyValidationTest, BadTopicNames) {
  const std::string too_long(250, 't');
  const auto errors = errors_of(R"({"application_id": "app",
      "sources": [{"name": "a", "topic": ".."}, {"name": "b", "topic": "my topic"}, {"name": "c", "topic": ""},
                  {"name": "d", "topic": ")" + too_long + R"("}, {"name": "e", "topic": "."}],
      "sinks": [{"from": "a", "topic": "out/x"}]})");
  ASSERT_EQ(errors.size(), 6u) << testing::describe_errors(errors);
  for (const char* pointer : {"/sources/0/topic", "/sources/1/topic", "/sources/2/topic", "/sources/3/topic",
                              "/sources/4/topic", "/sinks/0/topic"}) {
    EXPECT_TRUE(has_error(errors, pointer, "is not a valid Kafka topic name; expected 1 to 249 characters"));
  }
  // 249 characters and dots elsewhere are fine.
  (void)testing::topology_of(R"({"application_id": "app", "sources": [{"name": "a", "topic": ")" +
                             std::string(249, 't') + R"("}], "sinks": [{"from": "a", "topic": "a.b_c-d..e"}]})");
}

// ---- names ----

TEST(TopologyValidationTest, BadNames) {
  const std::string too_long(101, 'n');
  const auto errors = errors_of(with_operators(R"([
      {"name": "big filter", "from": "orders", "filter": "amount > 100"},
      {"name": "a.b", "from": "orders", "filter": "true"},
      {"name": ")" + too_long + R"(", "from": "orders", "filter": "true"},
      {"name": "", "from": "orders", "filter": "true"},
      {"name": 4, "from": "orders", "filter": "true"}])",
                                               "orders"));
  ASSERT_EQ(errors.size(), 5u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/name",
                        "\"big filter\" is not a valid name; expected 1 to 100 characters from A-Z a-z 0-9 _ -"));
  EXPECT_TRUE(has_error(errors, "/operators/1/name", "\"a.b\" is not a valid name"));
  EXPECT_TRUE(has_error(errors, "/operators/2/name", "is not a valid name"));
  EXPECT_TRUE(has_error(errors, "/operators/3/name", "\"\" is not a valid name"));
  EXPECT_TRUE(has_error(errors, "/operators/4/name", "expected a string, got number"));
  (void)testing::topology_of(with_operators(
      R"([{"name": ")" + std::string(100, 'n') + R"(", "from": "orders", "filter": "true"}])", "orders"));
}

TEST(TopologyValidationTest, DuplicateOperatorNamesAreReportedAtTheLaterOne) {
  EXPECT_TRUE(has_only_error(errors_of(with_operators(R"([
      {"name": "big", "from": "orders", "filter": "amount > 100"},
      {"name": "small", "from": "orders", "filter": "amount < 10"},
      {"name": "big", "from": "events", "filter": "true"}])",
                                                      "big")),
                             "/operators/2/name", "\"big\" is already used by /operators/0"));
}

TEST(TopologyValidationTest, OperatorNameMayNotRepeatASourceName) {
  EXPECT_TRUE(has_only_error(
      errors_of(with_operators(R"([{"name": "orders", "from": "events", "filter": "true"}])", "events")),
      "/operators/0/name", "\"orders\" is already used by /sources/0"));
}

TEST(TopologyValidationTest, DuplicateSourceNames) {
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "app",
      "sources": [{"name": "a", "topic": "x"}, {"name": "a", "topic": "y"}], "sinks": [{"from": "a", "topic": "out"}]})"),
                             "/sources/1/name", "\"a\" is already used by /sources/0"));
}

// ---- operator types and fields ----

TEST(TopologyValidationTest, OperatorWithoutType) {
  EXPECT_TRUE(has_only_error(
      errors_of(with_operators(R"([{"name": "big", "from": "orders"}])", "big")), "/operators/0",
      "operator has no type; expected exactly one of filter, map, select, flat_map, rekey, route, merge, aggregate, "
      "dedupe"));
}

TEST(TopologyValidationTest, OperatorWithTwoTypes) {
  EXPECT_TRUE(has_only_error(
      errors_of(with_operators(R"([{"name": "big", "from": "orders", "filter": "true", "map": {"a": "1"}}])", "big")),
      "/operators/0", "operator has two types (filter, map); expected exactly one"));
  EXPECT_TRUE(has_error(errors_of(with_operators(
                            R"([{"name": "big", "from": "orders", "filter": "true", "map": {}, "rekey": "a"}])", "big")),
                        "/operators/0", "operator has three types (filter, map, rekey)"));
}

TEST(TopologyValidationTest, MisspelledTypeKeyIsUnknownFieldWithSuggestion) {
  const auto errors =
      errors_of(with_operators(R"([{"name": "big", "from": "orders", "fliter": "amount > 100"}])", "big"));
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0", "operator has no type"));
  EXPECT_TRUE(has_error(errors, "/operators/0/fliter", "did you mean \"filter\"?"));
}

TEST(TopologyValidationTest, UnknownOperatorFieldListsTheFieldsOfItsType) {
  EXPECT_TRUE(has_only_error(
      errors_of(with_operators(R"([{"name": "big", "from": "orders", "filter": "true", "fliter": "x"}])", "big")),
      "/operators/0/fliter",
      "unknown field; valid fields here are name, from, description, filter; did you mean \"filter\"?"));
  EXPECT_TRUE(has_only_error(
      errors_of(with_operators(R"([{"name": "m", "from": "orders", "map": {"a": "1"}, "dorp": ["b"]}])", "m")),
      "/operators/0/dorp", "valid fields here are name, from, description, map, drop; did you mean \"drop\"?"));
}

TEST(TopologyValidationTest, TypeOptionsOnlyWithTheirType) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "a", "from": "orders", "filter": "true", "drop": ["x"]},
      {"name": "b", "from": "orders", "rekey": "id", "as": "word"},
      {"name": "c", "from": "orders", "select": ["id"], "default": "other"}])",
                                               "a"));
  ASSERT_EQ(errors.size(), 3u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/drop",
                        "\"drop\" is only valid with map; valid fields here are name, from, description, filter"));
  EXPECT_TRUE(has_error(errors, "/operators/1/as", "\"as\" is only valid with flat_map"));
  EXPECT_TRUE(has_error(errors, "/operators/2/default", "\"default\" is only valid with route"));
}

TEST(TopologyValidationTest, MergeTakesNoFrom) {
  EXPECT_TRUE(has_only_error(
      errors_of(with_operators(R"([{"name": "all", "from": "orders", "merge": ["orders", "events"]}])", "all")),
      "/operators/0/from", "merge takes its inputs from \"merge\", not \"from\"; valid fields here are name, "
                           "description, merge"));
}

TEST(TopologyValidationTest, OperatorsMustBeObjectsInAnArray) {
  EXPECT_TRUE(has_only_error(errors_of(with_operators(R"([{"name": "a", "from": "orders", "filter": "true"}, 5])", "a")),
                             "/operators/1", "expected an object, got number"));
  EXPECT_TRUE(has_only_error(errors_of(with_operators(R"({})", "orders")), "/operators",
                             "expected an array, got object"));
}

TEST(TopologyValidationTest, OperatorMissingNameAndFrom) {
  const auto errors =
      errors_of(with_operators(R"([{"from": "orders", "filter": "true"}, {"name": "b", "rekey": "id"}])", "b"));
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0", "missing required field \"name\""));
  EXPECT_TRUE(has_error(errors, "/operators/1", "missing required field \"from\""));
}

// ---- references ----

TEST(TopologyValidationTest, UnknownReferenceListsKnownNamesAndSuggests) {
  EXPECT_TRUE(has_only_error(
      errors_of(with_operators(R"([{"name": "big", "from": "orderz", "filter": "amount > 100"}])", "big")),
      "/operators/0/from",
      "\"orderz\" is not a source, operator or route branch; known: orders, events, big; did you mean \"orders\"?"));
}

TEST(TopologyValidationTest, ReferenceErrorsInFromArraysPointAtTheElement) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "big", "from": "orders", "filter": "true"},
      {"name": "both", "from": ["big", "nope", 3, "big"], "filter": "true"}])",
                                               "both"));
  ASSERT_EQ(errors.size(), 3u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/1/from/1", "\"nope\" is not a source, operator or route branch"));
  EXPECT_TRUE(has_error(errors, "/operators/1/from/2", "expected a string, got number"));
  EXPECT_TRUE(has_error(errors, "/operators/1/from/3", "\"big\" is already listed at /operators/1/from/0"));
}

TEST(TopologyValidationTest, FromMustBeNameOrNonEmptyArray) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "a", "from": [], "filter": "true"},
      {"name": "b", "from": {"x": 1}, "filter": "true"}])",
                                               "a"));
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/from", "expected at least one input"));
  EXPECT_TRUE(has_error(errors, "/operators/1/from", "expected a name or a non-empty array of names"));
}

constexpr const char* kRoute = R"({"name": "by_type", "from": "events",
    "route": [{"name": "clicks", "when": "type == 'click'"}, {"name": "views", "when": "type == 'view'"}],
    "default": "other"})";

TEST(TopologyValidationTest, ReferencingARouteOperatorItselfListsItsBranches) {
  const auto errors = errors_of(with_operators(std::string("[") + kRoute + R"(,
      {"name": "f", "from": "by_type", "filter": "true"}])",
                                               "by_type"));
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/1/from",
                        "\"by_type\" is a route operator, which has no output of its own; reference one of its "
                        "branches: by_type.clicks, by_type.views, by_type.other"));
  EXPECT_TRUE(has_error(errors, "/sinks/0/from", "reference one of its branches: by_type.clicks"));
}

TEST(TopologyValidationTest, UnknownRouteBranch) {
  EXPECT_TRUE(has_only_error(errors_of(with_operators(std::string("[") + kRoute + "]", "by_type.click")),
                             "/sinks/0/from",
                             "\"by_type.click\" is not a branch of route operator \"by_type\"; its branches are "
                             "by_type.clicks, by_type.views, by_type.other; did you mean \"by_type.clicks\"?"));
}

TEST(TopologyValidationTest, BranchOfSomethingThatIsNotARoute) {
  const auto errors =
      errors_of(with_operators(R"([{"name": "big", "from": "orders.x", "filter": "true"}])", "big.yes"));
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/from", "\"orders\" is a source, and only route operators have branches"));
  EXPECT_TRUE(has_error(errors, "/sinks/0/from", "\"big\" is a filter operator, and only route operators have"));
}

TEST(TopologyValidationTest, RouteBranchesAreValidReferences) {
  const auto topology = testing::topology_of(with_operators(std::string("[") + kRoute + R"(,
      {"name": "all", "merge": ["by_type.clicks", "by_type.views", "by_type.other"]}])",
                                                           "all"));
  ASSERT_EQ(topology.operators.size(), 2u);
  EXPECT_EQ(topology.operators[1].inputs, (std::vector<std::string>{"by_type.clicks", "by_type.views", "by_type.other"}));
}

TEST(TopologyValidationTest, CycleIsReportedOnceWithItsPath) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "start", "from": "orders", "filter": "true"},
      {"name": "a", "from": ["start", "c"], "filter": "true"},
      {"name": "b", "from": "a", "filter": "true"},
      {"name": "c", "from": "b", "filter": "true"},
      {"name": "after", "from": "c", "filter": "true"}])",
                                               "after"));
  EXPECT_TRUE(has_only_error(errors, "/operators/1/from/1", "cycle: a -> b -> c -> a"));
}

TEST(TopologyValidationTest, CycleAtTheFromOfTheFirstOperatorInTheFile) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "c", "from": "b", "filter": "true"},
      {"name": "b", "from": "a", "filter": "true"},
      {"name": "a", "from": "c", "filter": "true"}])",
                                               "orders"));
  EXPECT_TRUE(has_only_error(errors, "/operators/0/from", "cycle: c -> a -> b -> c"));
}

TEST(TopologyValidationTest, SelfLoopAndTwoSeparateCycles) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "self", "from": "self", "filter": "true"},
      {"name": "x", "from": "y", "filter": "true"},
      {"name": "y", "from": "x", "filter": "true"}])",
                                               "orders"));
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/from", "cycle: self -> self"));
  EXPECT_TRUE(has_error(errors, "/operators/1/from", "cycle: x -> y -> x"));
}

TEST(TopologyValidationTest, CycleThroughARouteBranch) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "r", "from": ["orders", "m"], "route": [{"name": "again", "when": "retry"}], "default": "done"},
      {"name": "m", "from": "r.again", "map": {"retry": "false"}}])",
                                               "r.done"));
  EXPECT_TRUE(has_only_error(errors, "/operators/0/from/1", "cycle: r -> m -> r"));
}

// ---- expressions ----

TEST(TopologyValidationTest, ExpressionParseErrorGivesOneBasedColumn) {
  const std::string bad = "amount > (1 + ";
  const auto parsed = expr::Expression::parse(bad);
  ASSERT_TRUE(std::holds_alternative<expr::ParseError>(parsed));
  const auto& failure = std::get<expr::ParseError>(parsed);
  const auto errors =
      errors_of(with_operators(R"([{"name": "big", "from": "orders", "filter": ")" + bad + R"("}])", "big"));
  EXPECT_TRUE(has_only_error(errors, "/operators/0/filter",
                             "expression does not parse: " + failure.message + " at column " +
                                 std::to_string(failure.position + 1)));
}

TEST(TopologyValidationTest, EveryExpressionFieldIsChecked) {
  const auto errors = errors_of(with_operators(R"json([
      {"name": "a", "from": "orders", "filter": "   "},
      {"name": "b", "from": "orders", "rekey": "(("},
      {"name": "c", "from": "orders", "flat_map": 42},
      {"name": "d", "from": "orders", "map": {"x": "1 +"}},
      {"name": "e", "from": "orders", "select": {"y": "))"}},
      {"name": "f", "from": "orders", "route": [{"name": "g", "when": "=="}]}])json",
                                               "a"));
  ASSERT_EQ(errors.size(), 6u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/filter", "expected an expression (e.g. amount > 100), got an empty string"));
  EXPECT_TRUE(has_error(errors, "/operators/1/rekey", "expression does not parse"));
  EXPECT_TRUE(has_error(errors, "/operators/2/flat_map", "expected a string, got number"));
  EXPECT_TRUE(has_error(errors, "/operators/3/map/x", "expression does not parse"));
  EXPECT_TRUE(has_error(errors, "/operators/4/select/y", "expression does not parse"));
  EXPECT_TRUE(has_error(errors, "/operators/5/route/0/when", "expression does not parse"));
}

// ---- map, select, flat_map ----

TEST(TopologyValidationTest, MapFieldNamesAndValues) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "a", "from": "orders", "map": {"": "1", "a/b": 2, "c~d": "x +", "ok": "1"}},
      {"name": "b", "from": "orders", "map": ["x"]}])",
                                               "a"));
  ASSERT_EQ(errors.size(), 4u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/map/", "field names must not be empty"));
  EXPECT_TRUE(has_error(errors, "/operators/0/map/a~1b", "expected a string, got number"));
  EXPECT_TRUE(has_error(errors, "/operators/0/map/c~0d", "expression does not parse"));
  EXPECT_TRUE(has_error(errors, "/operators/1/map", "expected an object, got array"));
}

TEST(TopologyValidationTest, MapDrop) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "a", "from": "orders", "map": {"total": "1"}, "drop": ["notes", "total", "", 3]},
      {"name": "b", "from": "orders", "map": {}, "drop": "notes"}])",
                                               "a"));
  ASSERT_EQ(errors.size(), 4u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/drop/1", "\"total\" is also computed by this map"));
  EXPECT_TRUE(has_error(errors, "/operators/0/drop/2", "expected a field name, got an empty string"));
  EXPECT_TRUE(has_error(errors, "/operators/0/drop/3", "expected a string, got number"));
  EXPECT_TRUE(has_error(errors, "/operators/1/drop", "expected an array, got string"));
}

TEST(TopologyValidationTest, SelectForms) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "a", "from": "orders", "select": {}},
      {"name": "b", "from": "orders", "select": []},
      {"name": "c", "from": "orders", "select": ["price * qty", "customer.id", "id"]},
      {"name": "d", "from": "orders", "select": "id"},
      {"name": "e", "from": "orders", "select": {"": "id"}}])",
                                               "a"));
  ASSERT_EQ(errors.size(), 6u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/select", "select needs at least one field"));
  EXPECT_TRUE(has_error(errors, "/operators/1/select", "select needs at least one field"));
  EXPECT_TRUE(has_error(errors, "/operators/2/select/0", "\"price * qty\" is not a field path such as customer.id"));
  EXPECT_TRUE(has_error(errors, "/operators/2/select/2",
                        "output field \"id\" is also produced by /operators/2/select/1; use the object form"));
  EXPECT_TRUE(has_error(errors, "/operators/3/select", "expected an object {\"output field\": \"expression\"} or an "
                                                       "array of field paths, got string"));
  EXPECT_TRUE(has_error(errors, "/operators/4/select/", "field names must not be empty"));
}

TEST(TopologyValidationTest, FlatMapAs) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "a", "from": "orders", "flat_map": "items", "as": ""},
      {"name": "b", "from": "orders", "flat_map": "items", "as": ["x"]}])",
                                               "a"));
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/as", "expected a field name, got an empty string"));
  EXPECT_TRUE(has_error(errors, "/operators/1/as", "expected a string, got array"));
}

// ---- route and merge ----

TEST(TopologyValidationTest, RouteWithoutBranches) {
  EXPECT_TRUE(has_only_error(
      errors_of(with_operators(R"([{"name": "r", "from": "orders", "route": [], "default": "rest"}])", "r.rest")),
      "/operators/0/route", "a route needs at least one branch"));
  EXPECT_TRUE(has_only_error(
      errors_of(with_operators(R"([{"name": "r", "from": "orders", "route": {"a": "true"}}])", "orders")),
      "/operators/0/route", "expected an array, got object"));
}

TEST(TopologyValidationTest, RouteBranchErrors) {
  const auto errors = errors_of(with_operators(R"([{"name": "r", "from": "orders", "route": [
      {"name": "a", "when": "true"},
      {"name": "a", "when": "false"},
      {"name": "b c", "when": "true"},
      {"when": "true"},
      {"name": "d"},
      {"name": "e", "when": "true", "whem": "x"},
      "f"], "default": "a"}])",
                                               "r.a"));
  ASSERT_EQ(errors.size(), 7u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/route/1/name", "branch \"a\" is already defined at /operators/0/route/0/name"));
  EXPECT_TRUE(has_error(errors, "/operators/0/route/2/name", "\"b c\" is not a valid name"));
  EXPECT_TRUE(has_error(errors, "/operators/0/route/3", "missing required field \"name\""));
  EXPECT_TRUE(has_error(errors, "/operators/0/route/4", "missing required field \"when\""));
  EXPECT_TRUE(has_error(errors, "/operators/0/route/5/whem", "valid fields here are name, when; did you mean \"when\"?"));
  EXPECT_TRUE(has_error(errors, "/operators/0/route/6", "expected an object, got string"));
  EXPECT_TRUE(has_error(errors, "/operators/0/default",
                        "\"a\" is already the name of the branch at /operators/0/route/0/name; the default branch "
                        "needs a name of its own"));
}

TEST(TopologyValidationTest, BrokenRouteDoesNotCascadeIntoReferenceErrors) {
  // The branch name is invalid, so references to unknown branches cannot be judged and are not reported.
  const auto errors = errors_of(with_operators(R"([{"name": "r", "from": "orders", "route": [
      {"name": "bad name", "when": "true"}]}])",
                                               "r.good_name"));
  EXPECT_TRUE(has_only_error(errors, "/operators/0/route/0/name", "is not a valid name"));
}

TEST(TopologyValidationTest, MergeInputs) {
  const auto errors = errors_of(with_operators(R"([
      {"name": "a", "merge": []},
      {"name": "b", "merge": "orders"},
      {"name": "c", "merge": ["orders", "missing"]}])",
                                               "c"));
  ASSERT_EQ(errors.size(), 3u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/0/merge", "expected at least one input"));
  EXPECT_TRUE(has_error(errors, "/operators/1/merge", "expected a non-empty array of names"));
  EXPECT_TRUE(has_error(errors, "/operators/2/merge/1", "\"missing\" is not a source, operator or route branch"));
}

// ---- sinks ----

TEST(TopologyValidationTest, SinkFieldErrors) {
  const auto errors = errors_of(R"({"application_id": "app", "sources": [{"name": "orders", "topic": "orders"}],
      "sinks": [{"topic": "out"}, {"from": "orders"}, {"from": ["orders"], "topic": "x"}, {"from": "nope", "topic": "y"},
                {"name": "bad name", "from": "orders", "topic": "z"}, {"from": "orders", "topic": "w", "tpoic": "v"}]})");
  ASSERT_EQ(errors.size(), 6u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/sinks/0", "missing required field \"from\""));
  EXPECT_TRUE(has_error(errors, "/sinks/1", "missing required field \"topic\""));
  EXPECT_TRUE(has_error(errors, "/sinks/2/from", "merge them first"));
  EXPECT_TRUE(has_error(errors, "/sinks/3/from", "\"nope\" is not a source, operator or route branch; known: orders"));
  EXPECT_TRUE(has_error(errors, "/sinks/4/name", "\"bad name\" is not a valid name"));
  EXPECT_TRUE(has_error(errors, "/sinks/5/tpoic", "did you mean \"topic\"?"));
}

TEST(TopologyValidationTest, DuplicateSinkNames) {
  const auto errors = errors_of(R"({"application_id": "app", "sources": [{"name": "orders", "topic": "orders"}],
      "sinks": [{"name": "s", "from": "orders", "topic": "a"}, {"name": "s", "from": "orders", "topic": "b"},
                {"from": "orders", "topic": "c"}, {"from": "orders", "topic": "c"}]})");
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/sinks/1/name", "\"s\" is already the name of the sink at /sinks/0"));
  EXPECT_TRUE(has_error(errors, "/sinks/3", "the default name \"orders-to-c\" (\"<from>-to-<topic>\") is already the "
                                            "name of the sink at /sinks/2; give this sink a \"name\""));
}

TEST(TopologyValidationTest, SinkNamesHaveTheirOwnNamespace) {
  (void)testing::topology_of(R"({"application_id": "app", "sources": [{"name": "orders", "topic": "orders"}],
      "sinks": [{"name": "orders", "from": "orders", "topic": "out"}]})");
}

TEST(TopologyValidationTest, SinkMayNotWriteATopicTheTopologyReads) {
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "app", "sources": [{"name": "orders", "topic": "orders"}],
      "sinks": [{"from": "orders", "topic": "orders"}]})"),
                             "/sinks/0/topic", "\"orders\" is read by the source at /sources/0"));
}

// ---- dead-letter topic ----

TEST(TopologyValidationTest, DeadLetterTopicChecks) {
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "app", "sources": [{"name": "orders", "topic": "orders"}],
      "sinks": [{"from": "orders", "topic": "out"}], "dead_letter_topic": "bad topic"})"),
                             "/dead_letter_topic", "is not a valid Kafka topic name"));
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "app", "sources": [{"name": "orders", "topic": "orders"}],
      "sinks": [{"from": "orders", "topic": "out"}], "dead_letter_topic": "orders"})"),
                             "/dead_letter_topic", "\"orders\" is read by the source at /sources/0"));
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "app", "sources": [{"name": "orders", "topic": "orders"}],
      "sinks": [{"from": "orders", "topic": "out"}], "dead_letter_topic": "out"})"),
                             "/dead_letter_topic", "\"out\" is also written by the sink at /sinks/0"));
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "app", "sources": [{"name": "orders", "topic": "app-dlq"}],
      "sinks": [{"from": "orders", "topic": "out"}]})"),
                             "", "the default dead_letter_topic \"app-dlq\" (<application_id>-dlq) is read by the "
                                 "source at /sources/0"));
}

// ---- all errors at once ----

TEST(TopologyValidationTest, ReportsEveryErrorTogetherInDocumentOrder) {
  const auto errors = errors_of(R"({
      "application_id": "orders enrichment",
      "sources": [{"name": "orders", "topic": "orders", "key": "text"}],
      "operators": [
        {"name": "big", "from": "orderz", "filter": "amount > 100"},
        {"name": "enriched", "from": "big", "filter": "true", "map": {"a": "1"}}
      ],
      "sinks": [{"from": "enriched", "topic": "out", "valeu": "json"}]})");
  ASSERT_EQ(errors.size(), 5u) << testing::describe_errors(errors);
  EXPECT_EQ(errors[0].pointer, "/application_id");
  EXPECT_EQ(errors[1].pointer, "/sources/0/key");
  EXPECT_EQ(errors[2].pointer, "/operators/0/from");
  EXPECT_EQ(errors[3].pointer, "/operators/1");
  EXPECT_EQ(errors[4].pointer, "/sinks/0/valeu");
  EXPECT_NE(errors[4].message.find("did you mean \"value\"?"), std::string::npos);
}

TEST(TopologyValidationTest, ErrorsSortByElementIndexNumerically) {
  std::string operators = "[";
  for (int i = 0; i < 12; ++i) {
    if (i > 0) operators += ",";
    operators += R"({"name": "op)" + std::to_string(i) + R"(", "from": "orders", "filter": ")" +
                 (i == 2 || i == 10 ? "((" : "true") + "\"}";
  }
  operators += "]";
  const auto errors = errors_of(with_operators(operators, "orderz"));
  ASSERT_EQ(errors.size(), 3u) << testing::describe_errors(errors);
  EXPECT_EQ(errors[0].pointer, "/operators/2/filter");
  EXPECT_EQ(errors[1].pointer, "/operators/10/filter");
  EXPECT_EQ(errors[2].pointer, "/sinks/0/from");
}

TEST(TopologyValidationTest, ToStringJoinsPointerAndMessage) {
  EXPECT_EQ((ValidationError{"/operators/3", "operator has no type"}).to_string(), "/operators/3: operator has no type");
  EXPECT_EQ((ValidationError{"", "cannot read"}).to_string(), "cannot read");
}

// Documents of every shape must yield errors, never an exception.
TEST(TopologyValidationTest, WrongShapesEverywhereNeverThrow) {
  const nlohmann::ordered_json valid = nlohmann::ordered_json::parse(testing::with_operators(
      std::string("[") + kRoute +
          R"json(, {"name": "m", "from": "orders", "map": {"a": "1"}, "drop": ["b"]},
             {"name": "s", "from": "m", "select": ["a"]}, {"name": "f", "from": "s", "flat_map": "a", "as": "x"},
             {"name": "k", "from": "f", "rekey": "x"},
             {"name": "agg", "from": "k", "window": {"type": "hopping", "size": "5m", "advance": "1m", "grace": "1s"},
              "aggregate": {"n": "count()", "total": "sum(amount)"}, "emit": "final", "idle_timeout": "30s"},
             {"name": "table", "from": "k", "aggregate": {"last": "last(x)"}},
             {"name": "once", "from": "agg", "dedupe": {"within": "1m"}},
             {"name": "all", "merge": ["by_type.clicks", "k", "once", "table"]}])json",
      "all"));
  ASSERT_TRUE(std::holds_alternative<Topology>(parse_topology(valid)));
  const std::vector<nlohmann::ordered_json> replacements{nullptr, 1, -2.5, true, "", "x y",
                                                         nlohmann::ordered_json::array(),
                                                         nlohmann::ordered_json::object()};
  // Replace every value of the document, one at a time, with each replacement.
  std::size_t documents = 0;
  const nlohmann::ordered_json flat = valid.flatten();
  std::vector<std::string> pointers;
  for (const auto& [pointer, value] : flat.items()) {
    pointers.push_back(pointer);
    // Containers along the way too.
    std::string parent = pointer;
    while (!parent.empty()) {
      parent = parent.substr(0, parent.rfind('/'));
      if (!parent.empty()) pointers.push_back(parent);
    }
  }
  for (const auto& pointer : pointers) {
    for (const auto& replacement : replacements) {
      nlohmann::ordered_json document = valid;
      document[nlohmann::ordered_json::json_pointer(pointer)] = replacement;
      EXPECT_NO_THROW((void)parse_topology(document)) << pointer;
      ++documents;
    }
  }
  EXPECT_GT(documents, 100u);
}

}  // namespace
}  // namespace sluice::topology
