// Avro and Protobuf in the Confluent wire format with schemas from a registry (include/sluice/formats/registry_codec.hpp).
#include "sluice/formats/registry_codec.hpp"

namespace sluice::formats {

namespace {

core::RecordError not_decodable(std::string message) {
  return core::make_error(core::RecordErrorKind::deserialization, std::move(message));
}

std::string_view kind_name(SchemaKind kind) { return kind == SchemaKind::avro ? "Avro" : "Protobuf"; }

}  // namespace

core::Result<RegistryDecoder::Parsed> RegistryDecoder::schema(std::int32_t id, SchemaKind kind,
                                                              std::string_view part) const {
  const std::string named = std::string(part) + ": schema id " + std::to_string(id);
  {
    std::lock_guard lock(mutex_);
    if (auto found = parsed_.find(id); found != parsed_.end()) {
      registry_.note_cache_hit();
      if ((kind == SchemaKind::avro) != (found->second.avro != nullptr)) {
        return not_decodable(named + " is a " + std::string(kind == SchemaKind::avro ? "PROTOBUF" : "AVRO") +
                             " schema, not " + std::string(kind_name(kind)));
      }
      return found->second;
    }
  }
  for (int attempt = 1;; ++attempt) {
    auto answer = registry_.schema(id);
    const bool answered = answer.ok() || answer.error.kind != RegistryError::Kind::unavailable;
    if (attempt > 1 && answered && wait_) (void)wait_(nullptr, attempt);
    if (answer.ok()) {
      const RegisteredSchema& registered = **answer.value;
      if (registered.kind != kind) {
        return not_decodable(named + " is a " + std::string(to_string(registered.kind)) + " schema, not " +
                             std::string(kind_name(kind)));
      }
      Parsed parsed;
      if (kind == SchemaKind::avro) {
        auto schema = AvroSchema::parse(registered.text);
        if (auto* error = std::get_if<std::string>(&schema)) {
          return not_decodable(named + " does not parse as Avro: " + *error);
        }
        parsed.avro = std::make_shared<const AvroSchema>(std::get<AvroSchema>(std::move(schema)));
      } else {
        auto schema = ProtobufSchema::parse(registered.text);
        if (auto* error = std::get_if<std::string>(&schema)) {
          return not_decodable(named + " does not compile as Protobuf: " + *error);
        }
        parsed.protobuf = std::make_shared<const ProtobufSchema>(std::get<ProtobufSchema>(std::move(schema)));
      }
      std::lock_guard lock(mutex_);
      // Bounded like the registry's cache: past it, start over (ids in use come back at the cost of a request).
      if (parsed_.size() >= registry_.cache_max()) parsed_.clear();
      return parsed_.try_emplace(id, std::move(parsed)).first->second;
    }
    if (answer.error.kind == RegistryError::Kind::not_found) {
      return not_decodable(named + " is unknown to the schema registry (" + answer.error.message + ")");
    }
    // Anything else is not the record's fault (no answer, 5xx, refused credentials): wait, lose nothing.
    if (!wait_ || !wait_(&answer.error, attempt)) {
      throw RegistryUnavailable("the schema registry is unavailable (" + answer.error.message + ") for schema id " +
                                std::to_string(id));
    }
  }
}

core::Result<core::Value> RegistryDecoder::decode(std::string_view bytes, SchemaKind kind, std::string_view part,
                                                  const std::vector<std::string>* fields) const {
  auto framed = unframe(bytes);
  if (!framed) {
    return not_decodable(std::string(part) + ": not in the schema registry's wire format (expected a 0 byte and a 4-byte schema id, " +
                         std::string(bytes.empty() ? "got no bytes" : "got " + std::to_string(bytes.size()) + " bytes") +
                         ")");
  }
  MessageIndexes indexes;
  std::string_view body = framed->body;
  if (kind == SchemaKind::protobuf && !read_message_indexes(body, indexes)) {
    return not_decodable(std::string(part) + ": schema id " + std::to_string(framed->schema_id) +
                         ": not in the schema registry's Protobuf wire format (bad message indexes after the id)");
  }
  auto schema = this->schema(framed->schema_id, kind, part);
  if (!schema.ok()) return std::move(schema).error();
  auto value = kind == SchemaKind::avro ? schema.value().avro->decode(body, fields)
                                        : schema.value().protobuf->decode(indexes, body, fields);
  if (!value.ok()) {
    return not_decodable(std::string(part) + ": schema id " + std::to_string(framed->schema_id) + ": " +
                         value.error().message);
  }
  return value;
}

core::Status SinkSchema::encode(const core::Value& value, std::string& out) const {
  frame(id, out);
  if (kind == SchemaKind::avro) return avro->encode(value, out);
  write_message_indexes(message, out);
  return protobuf->encode(message, value, out);
}

}  // namespace sluice::formats
