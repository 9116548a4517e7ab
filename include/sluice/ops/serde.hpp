// Turning Kafka bytes into records (per source: key/value formats and the event-time timestamp) and records
// back into bytes (per sink). Both are immutable and shared; per-thread buffers come from the caller.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/json.hpp"
#include "sluice/core/record.hpp"
#include "sluice/core/result.hpp"
#include "sluice/expr/expression.hpp"
#include "sluice/formats/registry_codec.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::ops {

class SourceDecoder {
 public:
  explicit SourceDecoder(const topology::SourceSpec& spec) : spec_(spec) {}
  // Decodes the input record described by `origin`. `record_timestamp_ms` is the Kafka record's timestamp,
  // used unless the source reads event time from a field. Headers are moved into the record.
  core::Result<core::Record> decode(const core::Origin& origin, std::int64_t record_timestamp_ms,
                                    std::vector<core::Header> headers, core::JsonParser& parser,
                                    expr::EvalContext& eval) const;
  // Builds only these top-level fields of a JSON object value (the pipeline's analysis of what downstream
  // reads; see Pipeline); the whole value is still parsed and validated. Without a call: the whole value.
  void project(std::vector<std::string> fields) { projection_ = std::move(fields); }
  // Avro and Protobuf keys and values are decoded with schemas from the registry; without a decoder (sluice test,
  // the TestDriver) they are read as JSON, the form case files write them in.
  void use_registry(const formats::RegistryDecoder* decoder) { registry_ = decoder; }
  const std::optional<std::vector<std::string>>& projection() const noexcept { return projection_; }

 private:
  core::Status assign_timestamp(core::Record& record, expr::EvalContext& eval) const;
  const topology::SourceSpec& spec_;
  std::optional<std::vector<std::string>> projection_;
  const formats::RegistryDecoder* registry_ = nullptr;
};

// Bytes of one output record. Views point into the encoder's buffers and are valid until the next encode.
struct EncodedRecord {
  std::optional<std::string_view> key;    // nullopt: null key
  std::optional<std::string_view> value;  // nullopt: null value (tombstone)
};

class SinkEncoder {
 public:
  SinkEncoder(topology::KeyFormat key_format, topology::ValueFormat value_format)
      : key_format_(key_format), value_format_(value_format) {}
  // Encodes into the buffers; errors (e.g. an object for a bytes key) dead-letter the record.
  core::Result<EncodedRecord> encode(const core::Record& record, std::string& key_buffer,
                                     std::string& value_buffer) const;
  // An avro or protobuf sink's registered schema; without one (sluice test, the TestDriver) its values are written
  // as JSON.
  void use_registry(std::shared_ptr<const formats::SinkSchema> schema) { schema_ = std::move(schema); }

 private:
  topology::KeyFormat key_format_;
  topology::ValueFormat value_format_;
  std::shared_ptr<const formats::SinkSchema> schema_;
};

// The bytes `key` is written as in `format` (what a sink would write): the form tables are looked up by.
core::Status encode_key(const core::Value& key, topology::KeyFormat format, std::string& buffer);
// A table row (a value in `format`) back into a Value; a JSON row that does not parse is a deserialization error.
core::Result<core::Value> decode_value(topology::ValueFormat format, std::string_view bytes, core::JsonParser& parser);

}  // namespace sluice::ops
