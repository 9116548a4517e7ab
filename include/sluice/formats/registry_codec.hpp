// Avro and Protobuf records in the Confluent wire format: a source's values decoded with the writer's schema fetched
// from the registry by the id in front of each record, and a sink's values encoded with the one schema registered
// for it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

#include "sluice/core/result.hpp"
#include "sluice/core/value.hpp"
#include "sluice/formats/avro.hpp"
#include "sluice/formats/protobuf.hpp"
#include "sluice/formats/registry.hpp"

namespace sluice::formats {

// Thrown by RegistryDecoder::decode when the registry stayed unavailable and the waiter gave up (the instance
// is stopping): the record was neither decoded nor dead-lettered, and nothing after it may be committed.
class RegistryUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RegistryDecoder {
 public:
  // Called while the registry cannot be reached, once per failed attempt (`attempt` from 1): it waits (a backoff)
  // and returns true to try again, false to give up; and once with nullptr when an answer came after failed
  // attempts. Calls come from the processing threads.
  using Waiter = std::function<bool(const RegistryError* error, int attempt)>;

  RegistryDecoder(SchemaRegistry& registry, Waiter wait) : registry_(registry), wait_(std::move(wait)) {}

  // Decodes one framed value written in `kind` (avro or protobuf: the source's format; Protobuf values carry the
  // message-index array after the id). Not the wire format, a schema id the registry does not know (404), a schema
  // of another kind or that does not parse, or bytes that do not fit it: a deserialization error (the record is
  // dead-lettered), naming the id. Any other failure (no answer, 5xx, refused credentials) is waited out through
  // the waiter; throws RegistryUnavailable when it gives up (see above). `part` ("value" or "key") starts every
  // error message. With `fields`, only those top-level fields of a record or message are built (the projection
  // of what downstream reads); the others are skipped.
  core::Result<core::Value> decode(std::string_view bytes, SchemaKind kind = SchemaKind::avro,
                                   std::string_view part = "value",
                                   const std::vector<std::string>* fields = nullptr) const;

 private:
  struct Parsed {
    std::shared_ptr<const AvroSchema> avro;
    std::shared_ptr<const ProtobufSchema> protobuf;
  };
  core::Result<Parsed> schema(std::int32_t id, SchemaKind kind, std::string_view part) const;

  SchemaRegistry& registry_;
  Waiter wait_;
  mutable std::mutex mutex_;
  mutable std::map<std::int32_t, Parsed> parsed_;  // bounded by the registry's cache size
};

// A sink's schema: registered under its subject at start, then every value is framed with its id (and, for
// Protobuf, the index path of the message written).
struct SinkSchema {
  std::int32_t id = 0;
  SchemaKind kind = SchemaKind::avro;
  std::shared_ptr<const AvroSchema> avro;
  std::shared_ptr<const ProtobufSchema> protobuf;
  MessageIndexes message;  // protobuf: the message written
  // Appends the framed encoding of `value` to `out`; a value that does not fit names the field.
  core::Status encode(const core::Value& value, std::string& out) const;
};

}  // namespace sluice::formats
