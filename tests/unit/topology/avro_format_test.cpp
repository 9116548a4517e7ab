// The avro value format in topology files: sources read it, sinks write it with a value_schema, tables do not.
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
                             "/sinks/0/value_schema", "a value_schema needs \"value\": \"avro\" (the sink writes json)"));
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

}  // namespace
}  // namespace sluice::topology
