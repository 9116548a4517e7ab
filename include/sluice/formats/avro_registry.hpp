// Avro records in the Confluent wire format: a source's values decoded with the writer's schema fetched from the
// registry by the id in front of each record, and a sink's values encoded with the one schema registered for it.
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
#include "sluice/formats/registry.hpp"

namespace sluice::formats {

// Thrown by AvroRegistryDecoder::decode when the registry stayed unavailable and the waiter gave up (the instance
// is stopping): the record was neither decoded nor dead-lettered, and nothing after it may be committed.
class RegistryUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class AvroRegistryDecoder {
 public:
  // Called while the registry cannot be reached, once per failed attempt (`attempt` from 1): it waits (a backoff)
  // and returns true to try again, false to give up; and once with nullptr when an answer came after failed
  // attempts. Calls come from the processing threads.
  using Waiter = std::function<bool(const RegistryError* error, int attempt)>;

  AvroRegistryDecoder(SchemaRegistry& registry, Waiter wait) : registry_(registry), wait_(std::move(wait)) {}

  // Decodes one framed value. Not the wire format, a schema id the registry does not know (404), a schema that is
  // not Avro or does not parse, or bytes that do not fit it: a deserialization error (the record is dead-lettered),
  // naming the id. Any other failure (no answer, 5xx, refused credentials) is waited out through the waiter; throws
  // RegistryUnavailable when it gives up (see above).
  core::Result<core::Value> decode(std::string_view bytes) const;

 private:
  core::Result<std::shared_ptr<const AvroSchema>> schema(std::int32_t id) const;

  SchemaRegistry& registry_;
  Waiter wait_;
  mutable std::mutex mutex_;
  mutable std::map<std::int32_t, std::shared_ptr<const AvroSchema>> parsed_;  // bounded by the registry's ids
};

// A sink's schema: registered under its subject at start, then every value is framed with its id.
struct AvroSinkSchema {
  std::int32_t id = 0;
  std::shared_ptr<const AvroSchema> schema;
  // Appends the framed encoding of `value` to `out`; a value that does not fit names the field.
  core::Status encode(const core::Value& value, std::string& out) const;
};

}  // namespace sluice::formats
