// The avro and protobuf value formats in topology files: sources read them, sinks write them with a value_schema,
// tables do not.
#include <gtest/gtest.h>

#include "support.hpp"

namespace sluice::topology {
namespace {

using testing::errors_of;
using testing::has_error;
using testing::has_only_error;
using testing::topology_of;

std::string with_sink(std::string_view sink) {
  return std::string(R"({"application_id": "app", "sources": [{"name": "in", "topic": "in", "value": "avro"}],
    "operators": [], "sinks": [)") + std::string(sink) + "]}";
}

TEST(AvroFormat, SourcesReadItAndSinksWriteItWithASchema) {
  const Topology inline_schema = topology_of(with_sink(
      R"({"from": "in", "topic": "out", "value": "avro", "value_schema": {"schema": {"type": "record", "name": "R", "fields": []}}})"));
  EXPECT_EQ(inline_schema.sources[0].value, ValueFormat::avro);
  ASSERT_TRUE(inline_schema.sinks[0].value_schema);
  EXPECT_EQ(*inline_schema.sinks[0].value_schema->text, R"({"type":"record","name":"R","fields":[]})");
  EXPECT_EQ(inline_schema.sinks[0].value_schema->pointer, "/sinks/0/value_schema");
  EXPECT_EQ(inline_schema.sinks[0].value_schema->naming, SinkSchemaSpec::Naming::topic);

  const Topology file = topology_of(with_sink(
      R"({"from": "in", "topic": "out", "value": "avro", "value_schema": {"file": "schemas/r.avsc", "subject_naming": "record"}})"));
  EXPECT_EQ(*file.sinks[0].value_schema->file, "schemas/r.avsc");
  EXPECT_EQ(file.sinks[0].value_schema->naming, SinkSchemaSpec::Naming::record);

  const Topology subject = topology_of(with_sink(
      R"({"from": "in", "topic": "out", "value": "avro", "value_schema": {"subject": "paid-value", "version": 3}})"));
  EXPECT_EQ(*subject.sinks[0].value_schema->subject, "paid-value");
  EXPECT_EQ(subject.sinks[0].value_schema->version, "3");
}

TEST(AvroFormat, MistakesAreNamedByPointer) {
  EXPECT_TRUE(has_only_error(errors_of(with_sink(R"({"from": "in", "topic": "out", "value": "avro"})")), "/sinks/0",
                             "an avro sink needs \"value_schema\""));
  EXPECT_TRUE(has_only_error(errors_of(with_sink(R"({"from": "in", "topic": "out", "value_schema": {"schema": "long"}})")),
                             "/sinks/0/value_schema", "a value_schema needs \"value\": \"avro\" or \"protobuf\" (the sink writes json)"));
  EXPECT_TRUE(has_only_error(
      errors_of(with_sink(R"({"from": "in", "topic": "out", "value": "avro", "value_schema": {"schema": "long", "file": "x"}})")),
      "/sinks/0/value_schema", "give exactly one of"));
  EXPECT_TRUE(has_only_error(
      errors_of(with_sink(R"({"from": "in", "topic": "out", "value": "avro", "value_schema": {"subject": "s", "version": 0}})")),
      "/sinks/0/value_schema/version", "expected a version number"));
  EXPECT_TRUE(has_only_error(
      errors_of(with_sink(R"({"from": "in", "topic": "out", "value": "avro", "value_schema": {"schema": "long", "subject_naming": "x"}})")),
      "/sinks/0/value_schema/subject_naming", "is not a subject naming strategy"));
  EXPECT_TRUE(has_error(errors_of(R"({"application_id": "app", "sources": [{"name": "in", "topic": "in"}],
      "tables": [{"name": "t", "topic": "t", "value": "avro"}],
      "operators": [{"name": "j", "from": "in", "join": {"table": "t"}}], "sinks": [{"from": "j", "topic": "out"}]})"),
                        "/tables/0/value", "a table reads json, string or bytes values"));
}

TEST(ProtobufFormat, SinksNameTheProtoTextAndOptionallyTheMessage) {
  const Topology inline_schema = topology_of(with_sink(
      R"({"from": "in", "topic": "out", "value": "protobuf", "value_schema": {"schema": "syntax = \"proto3\"; message R {}", "message": "R"}})"));
  EXPECT_EQ(inline_schema.sinks[0].value, ValueFormat::protobuf);
  EXPECT_EQ(*inline_schema.sinks[0].value_schema->text, "syntax = \"proto3\"; message R {}");  // the text, not JSON
  EXPECT_EQ(*inline_schema.sinks[0].value_schema->message, "R");
  const Topology file = topology_of(with_sink(
      R"({"from": "in", "topic": "out", "value": "protobuf", "value_schema": {"file": "schemas/r.proto"}})"));
  EXPECT_FALSE(file.sinks[0].value_schema->message);

  EXPECT_TRUE(has_only_error(errors_of(with_sink(R"({"from": "in", "topic": "out", "value": "protobuf"})")), "/sinks/0",
                             "a protobuf sink needs \"value_schema\""));
  EXPECT_TRUE(has_only_error(
      errors_of(with_sink(R"({"from": "in", "topic": "out", "value": "protobuf", "value_schema": {"schema": {"type": "record"}}})")),
      "/sinks/0/value_schema/schema", "expected a string"));
  EXPECT_TRUE(has_only_error(
      errors_of(with_sink(R"({"from": "in", "topic": "out", "value": "avro", "value_schema": {"schema": "long", "message": "M"}})")),
      "/sinks/0/value_schema/message", ""));
  EXPECT_TRUE(has_error(errors_of(R"({"application_id": "app", "sources": [{"name": "in", "topic": "in"}],
      "tables": [{"name": "t", "topic": "t", "value": "protobuf"}],
      "operators": [{"name": "j", "from": "in", "join": {"table": "t"}}], "sinks": [{"from": "j", "topic": "out"}]})"),
                        "/tables/0/value", "(protobuf is read by sources and written by sinks only, for now)"));
}

TEST(RegistryKeys, SourcesReadAvroAndProtobufKeysSinksAndTablesDoNot) {
  const Topology keyed = topology_of(R"({"application_id": "app",
      "sources": [{"name": "in", "topic": "in", "key": "avro"}, {"name": "in2", "topic": "in2", "key": "protobuf"}],
      "operators": [], "sinks": [{"from": "in", "topic": "out", "key": "json"}]})");
  EXPECT_EQ(keyed.sources[0].key, KeyFormat::avro);
  EXPECT_EQ(keyed.sources[1].key, KeyFormat::protobuf);
  EXPECT_TRUE(has_only_error(errors_of(R"({"application_id": "app", "sources": [{"name": "in", "topic": "in"}],
      "sinks": [{"from": "in", "topic": "out", "key": "avro"}]})"),
                             "/sinks/0/key", "a sink writes json, string or bytes keys (avro keys are read by sources"));
  EXPECT_TRUE(has_error(errors_of(R"({"application_id": "app", "sources": [{"name": "in", "topic": "in"}],
      "tables": [{"name": "t", "topic": "t", "key": "protobuf"}],
      "operators": [{"name": "j", "from": "in", "join": {"table": "t"}}], "sinks": [{"from": "j", "topic": "out"}]})"),
                        "/tables/0/key", "a table reads json, string or bytes keys"));
}

TEST(RegistryKeys, AStreamJoinCannotRepartitionOneSideToAvroKeys) {
  // "clicks" is re-keyed, so it would be written to its repartition topic in the key format of "views" (avro).
  const std::string join = R"({"application_id": "app",
      "sources": [{"name": "views", "topic": "views", "key": "avro"}, {"name": "clicks", "topic": "clicks"}],
      "operators": [{"name": "by_user", "from": "clicks", "rekey": "user"},
                    {"name": "j", "from": "views", "join": {"stream": "by_user", "within": "1m"}}],
      "sinks": [{"from": "j", "topic": "out"}]})";
  EXPECT_TRUE(has_only_error(errors_of(join), "/operators/1",
                             "the re-keyed side of this join would have to write its keys as avro, the key format of "
                             "source \"views\""));
  // Both sides re-keyed: both repartitioned with json keys, fine.
  const std::string both = R"({"application_id": "app",
      "sources": [{"name": "views", "topic": "views", "key": "avro"}, {"name": "clicks", "topic": "clicks"}],
      "operators": [{"name": "by_user", "from": "clicks", "rekey": "user"},
                    {"name": "views_by_user", "from": "views", "rekey": "user"},
                    {"name": "j", "from": "views_by_user", "join": {"stream": "by_user", "within": "1m"}}],
      "sinks": [{"from": "j", "topic": "out"}]})";
  EXPECT_EQ(topology_of(both).operators[2].input_repartition_topics.size(), 2U);
}

}  // namespace
}  // namespace sluice::topology
