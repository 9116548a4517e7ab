// Avro in the Confluent wire format with schemas from a registry (include/sluice/formats/avro_registry.hpp).
#include "sluice/formats/avro_registry.hpp"

namespace sluice::formats {

namespace {

core::RecordError not_decodable(std::string message) {
  return core::make_error(core::RecordErrorKind::deserialization, std::move(message));
}

}  // namespace

core::Result<std::shared_ptr<const AvroSchema>> AvroRegistryDecoder::schema(std::int32_t id) const {
  {
    std::lock_guard lock(mutex_);
    if (auto found = parsed_.find(id); found != parsed_.end()) {
      registry_.note_cache_hit();
      return found->second;
    }
  }
  for (int attempt = 1;; ++attempt) {
    auto answer = registry_.schema(id);
    const bool answered = answer.ok() || answer.error.kind != RegistryError::Kind::unavailable;
    if (attempt > 1 && answered && wait_) (void)wait_(nullptr, attempt);
    if (answer.ok()) {
      const RegisteredSchema& registered = **answer.value;
      if (registered.kind != SchemaKind::avro) {
        return not_decodable("value: schema id " + std::to_string(id) + " is a " +
                             std::string(to_string(registered.kind)) + " schema, not Avro");
      }
      auto parsed = AvroSchema::parse(registered.text);
      if (auto* error = std::get_if<std::string>(&parsed)) {
        return not_decodable("value: schema id " + std::to_string(id) + " does not parse as Avro: " + *error);
      }
      auto schema = std::make_shared<const AvroSchema>(std::get<AvroSchema>(std::move(parsed)));
      std::lock_guard lock(mutex_);
      // Bounded like the registry's cache: past it, start over (ids in use come back at the cost of a request).
      if (parsed_.size() >= registry_.cache_max()) parsed_.clear();
      return parsed_.try_emplace(id, std::move(schema)).first->second;
    }
    if (answer.error.kind == RegistryError::Kind::not_found) {
      return not_decodable("value: schema id " + std::to_string(id) + " is unknown to the schema registry (" +
                           answer.error.message + ")");
    }
    // Anything else is not the record's fault (no answer, 5xx, refused credentials): wait, lose nothing.
    if (!wait_ || !wait_(&answer.error, attempt)) {
      throw RegistryUnavailable("the schema registry is unavailable (" + answer.error.message + ") for schema id " +
                                std::to_string(id));
    }
  }
}

core::Result<core::Value> AvroRegistryDecoder::decode(std::string_view bytes) const {
  auto framed = unframe(bytes);
  if (!framed) {
    return not_decodable("value: not in the schema registry's wire format (expected a 0 byte and a 4-byte schema id, " +
                         std::string(bytes.empty() ? "got no bytes" : "got " + std::to_string(bytes.size()) + " bytes") +
                         ")");
  }
  auto schema = this->schema(framed->schema_id);
  if (!schema.ok()) return std::move(schema).error();
  auto value = schema.value()->decode(framed->body);
  if (!value.ok()) {
    return not_decodable("value: schema id " + std::to_string(framed->schema_id) + ": " + value.error().message);
  }
  return value;
}

core::Status AvroSinkSchema::encode(const core::Value& value, std::string& out) const {
  frame(id, out);
  return schema->encode(value, out);
}

}  // namespace sluice::formats
