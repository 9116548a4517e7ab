#include "sluice/ops/serde.hpp"

#include <cmath>

#include "sluice/core/duration.hpp"
#include "sluice/core/printable.hpp"

namespace sluice::ops {

// A record value quoted in a dead-letter reason (the sluice.error.message header): escaped and cut, so the
// header stays short and safe to print.
constexpr std::size_t kShownValueMaxBytes = 64;

using core::RecordErrorKind;

namespace {

core::Result<core::Value> decode_key(topology::KeyFormat format, const core::Origin& origin, core::JsonParser& parser,
                                     const formats::RegistryDecoder* registry) {
  if (!origin.has_key) return core::Value();
  if (registry != nullptr && topology::registry_format(format)) {
    return registry->decode(origin.raw_key, format == topology::KeyFormat::avro ? formats::SchemaKind::avro
                                                                                : formats::SchemaKind::protobuf,
                            "key");
  }
  // avro and protobuf keys without a registry: written as JSON (case files, the TestDriver).
  if (format == topology::KeyFormat::json || topology::registry_format(format)) {
    auto parsed = parser.parse(origin.raw_key);
    if (!parsed.ok()) return core::make_error(RecordErrorKind::deserialization, "key: " + parsed.error().message);
    return std::move(parsed).value();
  }
  return core::Value::string(std::string(origin.raw_key));
}

core::Result<core::Value> decode_origin_value(topology::ValueFormat format, const core::Origin& origin,
                                              core::JsonParser& parser,
                                              const std::optional<std::vector<std::string>>& projection,
                                              const formats::RegistryDecoder* registry) {
  if (!origin.has_value) return core::Value();
  if (registry != nullptr && topology::registry_format(format)) {
    return registry->decode(origin.raw_value,
                            format == topology::ValueFormat::avro ? formats::SchemaKind::avro
                                                                  : formats::SchemaKind::protobuf,
                            "value", projection ? &*projection : nullptr);
  }
  if (format == topology::ValueFormat::json && projection) {
    auto parsed = parser.parse(origin.raw_value, *projection);
    if (!parsed.ok()) return core::make_error(RecordErrorKind::deserialization, "value: " + parsed.error().message);
    return std::move(parsed).value();
  }
  return decode_value(format, origin.raw_value, parser);
}

}  // namespace

core::Result<core::Record> SourceDecoder::decode(const core::Origin& origin, std::int64_t record_timestamp_ms,
                                                 std::vector<core::Header> headers, core::JsonParser& parser,
                                                 expr::EvalContext& eval) const {
  core::Record record;
  auto key = decode_key(spec_.key, origin, parser, registry_);
  if (!key.ok()) return std::move(key).error();
  record.key = std::move(key).value();
  auto value = decode_origin_value(spec_.value, origin, parser, projection_, registry_);
  if (!value.ok()) return std::move(value).error();
  record.value = std::move(value).value();
  record.headers = std::move(headers);
  record.timestamp_ms = record_timestamp_ms;
  if (spec_.timestamp.field) {
    core::Status status = assign_timestamp(record, eval);
    if (!status.ok()) return std::move(status).error();
  }
  return record;
}

core::Status SourceDecoder::assign_timestamp(core::Record& record, expr::EvalContext& eval) const {
  const expr::Expression& field = *spec_.timestamp.field;
  auto result = field.evaluate(record, eval);
  if (!result.ok()) return std::move(result).error();
  const core::Value& time = result.value();
  std::string where = "timestamp '" + field.text() + "'";
  if (time.is_null()) return core::make_error(RecordErrorKind::missing_field, where + " is missing");
  std::int64_t epoch_ms = 0;
  switch (spec_.timestamp.format) {
    case topology::TimestampFormat::epoch_ms:
    case topology::TimestampFormat::epoch_s: {
      if (!time.is_number()) {
        return core::make_error(RecordErrorKind::type_error,
                                where + " must be a number, got " + std::string(core::to_string(time.type())));
      }
      double scale = spec_.timestamp.format == topology::TimestampFormat::epoch_s ? 1000.0 : 1.0;
      double millis = time.as_double() * scale;
      // Both bounds: converting a double outside int64's range is undefined behaviour (found by fuzz/decoders
      // with -6e203).
      if (!std::isfinite(millis) || millis > 9.2e18 || millis < -9.2e18) {
        return core::make_error(RecordErrorKind::invalid_value, where + " is out of range");
      }
      epoch_ms = time.is_integer() && scale == 1.0 ? time.as_integer() : static_cast<std::int64_t>(std::floor(millis));
      break;
    }
    case topology::TimestampFormat::iso8601: {
      if (!time.is_string()) {
        return core::make_error(RecordErrorKind::type_error, where + " must be an ISO 8601 string, got " +
                                                                 std::string(core::to_string(time.type())));
      }
      auto parsed = core::parse_iso8601_ms(time.as_string());
      if (!parsed) {
        return core::make_error(RecordErrorKind::invalid_value,
                                where + ": " + core::quoted(time.as_string(), kShownValueMaxBytes) +
                                    " is not an ISO 8601 time");
      }
      epoch_ms = *parsed;
      break;
    }
  }
  // Kafka rejects negative timestamps on produce (other than -1 = "none"), so refuse them here.
  if (epoch_ms < 0) return core::make_error(RecordErrorKind::invalid_value, where + " is before 1970");
  record.timestamp_ms = epoch_ms;
  return core::Status::success();
}

namespace {

// Text form of a key or value for the string and bytes formats: strings as they are, other values as JSON.
core::Status encode_text(const core::Value& value, bool raw_only, std::string& buffer, std::string_view what) {
  buffer.clear();
  if (value.is_string()) {
    buffer = value.as_string();
    return core::Status::success();
  }
  if (raw_only) {
    return core::make_error(RecordErrorKind::type_error,
                            std::string(what) + " in bytes format must be a string, got " +
                                std::string(core::to_string(value.type())));
  }
  core::append_json(value, buffer);
  return core::Status::success();
}

}  // namespace

core::Result<core::Value> decode_value(topology::ValueFormat format, std::string_view bytes, core::JsonParser& parser) {
  // avro and protobuf without a registry: the value written as JSON (case files, the TestDriver).
  if (format == topology::ValueFormat::json || topology::registry_format(format)) {
    auto parsed = parser.parse(bytes);
    if (!parsed.ok()) return core::make_error(RecordErrorKind::deserialization, "value: " + parsed.error().message);
    return std::move(parsed).value();
  }
  return core::Value::string(std::string(bytes));
}

core::Status encode_key(const core::Value& key, topology::KeyFormat format, std::string& buffer) {
  // avro and protobuf keys are only read (by sources); where one would be written, it is written as JSON.
  if (format == topology::KeyFormat::json || topology::registry_format(format)) {
    buffer.clear();
    core::append_json(key, buffer);
    return core::Status::success();
  }
  return encode_text(key, format == topology::KeyFormat::bytes, buffer, "key");
}

core::Result<EncodedRecord> SinkEncoder::encode(const core::Record& record, std::string& key_buffer,
                                                std::string& value_buffer) const {
  EncodedRecord encoded;
  if (!record.key.is_null()) {
    core::Status status = encode_key(record.key, key_format_, key_buffer);
    if (!status.ok()) return std::move(status).error();
    encoded.key = key_buffer;
  }
  if (!record.value.is_null()) {
    if (schema_ && topology::registry_format(value_format_)) {
      value_buffer.clear();
      core::Status status = schema_->encode(record.value, value_buffer);
      if (!status.ok()) return std::move(status).error();
    } else if (value_format_ == topology::ValueFormat::json || topology::registry_format(value_format_)) {
      value_buffer.clear();
      core::append_json(record.value, value_buffer);
    } else {
      core::Status status =
          encode_text(record.value, value_format_ == topology::ValueFormat::bytes, value_buffer, "value");
      if (!status.ok()) return std::move(status).error();
    }
    encoded.value = value_buffer;
  }
  return encoded;
}

}  // namespace sluice::ops
