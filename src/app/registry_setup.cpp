// Avro and Protobuf at start (src/app/registry_setup.hpp).
#include "registry_setup.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <thread>

#include "sluice/core/backoff.hpp"
#include "sluice/core/file.hpp"
#include "sluice/core/printable.hpp"

namespace sluice::app {

namespace {

using formats::RegistryError;

// The schema text of an avro or protobuf sink given in the topology or a file; nullopt for a subject (looked up at start).
std::optional<std::string> sink_schema_text(const topology::SinkSchemaSpec& spec, const std::string& topology_path,
                                            std::string& problem) {
  if (spec.text) return spec.text;
  if (!spec.file) return std::nullopt;
  namespace fs = std::filesystem;
  fs::path path(*spec.file);
  if (path.is_relative()) path = fs::path(topology_path).parent_path() / path;
  auto content = core::read_file_with_limit(path.string(), core::kMaxFileBytes);
  if (const auto* unreadable = std::get_if<core::FileUnreadable>(&content)) {
    problem = "cannot read " + core::quoted(path.string()) + ": " +
              std::error_code(unreadable->error_number, std::generic_category()).message();
    return std::nullopt;
  }
  if (const auto* too_large = std::get_if<core::FileTooLarge>(&content)) {
    problem = core::quoted(path.string()) + " is " + core::describe_too_large(*too_large);
    return std::nullopt;
  }
  return std::get<std::string>(std::move(content));
}

formats::SchemaKind kind_of(topology::ValueFormat format) {
  return format == topology::ValueFormat::protobuf ? formats::SchemaKind::protobuf : formats::SchemaKind::avro;
}

// A sink's schema text compiled for its format, with the message it writes (Protobuf) and the name the record
// subject naming uses (the Avro record's or the Protobuf message's full name); on failure, `problem` says why and
// `problem_field` which field of the value_schema it is about.
std::shared_ptr<formats::SinkSchema> compile_sink_schema(topology::ValueFormat format,
                                                         const topology::SinkSchemaSpec& spec, const std::string& text,
                                                         std::string& record_name, std::string& problem,
                                                         std::string& problem_field) {
  auto schema = std::make_shared<formats::SinkSchema>();
  schema->kind = kind_of(format);
  problem_field = spec.file ? "file" : spec.subject ? "subject" : "schema";
  if (format == topology::ValueFormat::avro) {
    auto parsed = formats::AvroSchema::parse(text);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      problem = "not an Avro schema: " + core::printable(*error, 1024);
      return nullptr;
    }
    schema->avro = std::make_shared<const formats::AvroSchema>(std::get<formats::AvroSchema>(std::move(parsed)));
    if (spec.naming == topology::SinkSchemaSpec::Naming::record && !schema->avro->named()) {
      problem = "\"record\" names the subject after the schema's record, but the schema is a " + schema->avro->name();
      problem_field = "subject_naming";
      return nullptr;
    }
    record_name = schema->avro->name();
    return schema;
  }
  auto parsed = formats::ProtobufSchema::parse(text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    problem = "not a Protobuf schema (.proto file): " + core::printable(*error, 1024);
    return nullptr;
  }
  schema->protobuf = std::make_shared<const formats::ProtobufSchema>(std::get<formats::ProtobufSchema>(std::move(parsed)));
  if (spec.message) {
    auto indexes = schema->protobuf->indexes_of(*spec.message);
    if (!indexes) {
      std::string names;
      for (const auto& name : schema->protobuf->message_names()) names += (names.empty() ? "" : ", ") + name;
      problem = "the schema declares no message " + core::quoted(*spec.message) + " (it declares " + names + ")";
      problem_field = "message";
      return nullptr;
    }
    schema->message = std::move(*indexes);
  } else {
    schema->message = {0};
  }
  record_name = schema->protobuf->message_name(schema->message);
  return schema;
}

std::string shown_error(const RegistryError& error) {
  return (error.http_status > 0 ? "HTTP " + std::to_string(error.http_status) + ": " : std::string()) +
         core::printable(error.message, 1024);
}

}  // namespace

bool uses_registry(const topology::Topology& topology) {
  return std::any_of(topology.sources.begin(), topology.sources.end(),
                     [](const auto& source) {
                       return topology::registry_format(source.value) || topology::registry_format(source.key);
                     }) ||
         std::any_of(topology.sinks.begin(), topology.sinks.end(),
                     [](const auto& sink) { return topology::registry_format(sink.value); });
}

std::vector<topology::ValidationError> check_sink_schemas(const topology::Topology& topology,
                                                          const std::string& topology_path) {
  std::vector<topology::ValidationError> errors;
  for (const auto& sink : topology.sinks) {
    if (!sink.value_schema) continue;
    const auto& spec = *sink.value_schema;
    std::string problem;
    auto text = sink_schema_text(spec, topology_path, problem);
    const std::string pointer = spec.pointer + (spec.file ? "/file" : "/schema");
    if (!problem.empty()) {
      errors.push_back({pointer, problem});
      continue;
    }
    if (!text) continue;
    std::string record_name;
    std::string field;
    if (!compile_sink_schema(sink.value, spec, *text, record_name, problem, field)) {
      errors.push_back({spec.pointer + "/" + field, problem});
    }
  }
  return errors;
}

RegistrySetup set_up_registry(const topology::Topology& topology, const std::string& topology_path,
                              const AppSettings& settings, const std::atomic<bool>& stop,
                              runtime::InstanceHealth& health, observe::Logger& logger, const core::Clock& clock,
                              RegistryBindings& out) {
  if (settings.schema_registry_url.empty()) {
    for (const auto& source : topology.sources) {
      if (topology::registry_format(source.key)) {
        logger.error("app", source.pointer + "/key: " + std::string(to_string(source.key)) +
                                " needs the schema_registry_url setting");
      }
      if (topology::registry_format(source.value)) {
        logger.error("app", source.pointer + "/value: " + std::string(to_string(source.value)) +
                                " needs the schema_registry_url setting");
      }
    }
    for (const auto& sink : topology.sinks) {
      if (topology::registry_format(sink.value)) {
        logger.error("app", sink.pointer + "/value: " + std::string(to_string(sink.value)) +
                                " needs the schema_registry_url setting");
      }
    }
    return RegistrySetup::config_error;
  }
  formats::RegistryOptions options;
  std::stringstream urls(settings.schema_registry_url);
  for (std::string url; std::getline(urls, url, ',');) {
    url.erase(0, url.find_first_not_of(" \t"));
    url.erase(url.find_last_not_of(" \t") + 1);
    if (!url.empty()) options.urls.push_back(url);
  }
  options.basic_auth = settings.schema_registry_basic_auth;
  options.ca_file = settings.schema_registry_ca_file;
  options.timeout = settings.schema_registry_timeout;
  options.cache_max = static_cast<std::size_t>(settings.schema_registry_cache_schemas);
  out.registry = std::make_unique<formats::SchemaRegistry>(options);

  // Waiting for the registry while processing (a schema id not in the cache): the thread sleeps with backoff,
  // /readyz says why, the log says so once and then every tenth attempt.
  const std::int64_t backoff_max = std::max<std::int64_t>(200, settings.startup_backoff_max.count());
  runtime::Health* registry_health = &health.registry();
  out.decoder = std::make_unique<formats::RegistryDecoder>(
      *out.registry, [&stop, registry_health, &logger, &clock, backoff_max](const RegistryError* error, int attempt) {
        if (error == nullptr) {
          registry_health->set_ready(true, "schema registry reachable");
          logger.info("app", "the schema registry answers again");
          return true;
        }
        const std::string why = "waiting for the schema registry: " + shown_error(*error);
        registry_health->set_ready(false, why);
        if (attempt == 1 || attempt % 10 == 0) logger.warn("app", why + " (attempt " + std::to_string(attempt) + ")");
        const std::int64_t delay = std::min<std::int64_t>(backoff_max, 200LL << std::min(attempt - 1, 10));
        for (std::int64_t waited = 0; waited < delay; waited += 50) {
          if (stop.load()) return false;
          clock.sleep_ms(50);
        }
        return !stop.load();
      });

  core::Backoff backoff(clock, 200, backoff_max);
  for (std::size_t index = 0; index < topology.sinks.size(); ++index) {
    const auto& sink = topology.sinks[index];
    if (!topology::registry_format(sink.value) || !sink.value_schema) continue;
    const formats::SchemaKind kind = kind_of(sink.value);
    const std::string kind_name = sink.value == topology::ValueFormat::avro ? "Avro" : "Protobuf";
    const auto& spec = *sink.value_schema;
    std::string problem;
    auto text = sink_schema_text(spec, topology_path, problem);
    if (!problem.empty()) {
      logger.error("app", spec.pointer + ": " + problem);
      return RegistrySetup::config_error;
    }
    for (int attempt = 1;; ++attempt) {
      std::optional<std::string> schema_text = text;
      std::int32_t id = 0;
      std::string subject;
      RegistryError error;
      bool ok = false;
      std::string record_name;
      std::string field;
      if (schema_text) {
        if (!compile_sink_schema(sink.value, spec, *schema_text, record_name, problem, field)) {
          logger.error("app", spec.pointer + "/" + field + ": " + problem);
          return RegistrySetup::config_error;
        }
        subject = spec.naming == topology::SinkSchemaSpec::Naming::topic ? sink.topic + "-value" : record_name;
        auto registered = out.registry->register_schema(subject, kind, *schema_text);
        if (registered.ok()) {
          id = *registered.value;
          ok = true;
        } else {
          error = registered.error;
        }
      } else {
        subject = *spec.subject;
        auto found = out.registry->subject_version(subject, spec.version);
        if (found.ok() && found.value->kind != kind) {
          logger.error("app", spec.pointer + "/subject: " + core::quoted(subject) + " version " + spec.version +
                                  " is a " + std::string(to_string(found.value->kind)) + " schema, not " + kind_name);
          return RegistrySetup::config_error;
        }
        if (found.ok()) {
          id = found.value->id;
          schema_text = found.value->text;
          ok = true;
        } else {
          error = found.error;
        }
      }
      if (ok) {
        auto schema = compile_sink_schema(sink.value, spec, *schema_text, record_name, problem, field);
        if (!schema) {
          logger.error("app", spec.pointer + "/" + field + ": the registry's schema " + std::to_string(id) +
                                  " of subject " + core::quoted(subject) + ": " + problem);
          return RegistrySetup::config_error;
        }
        schema->id = id;
        out.sinks[index] = schema;
        logger.info("app", sink.pointer + ": writes " + kind_name + " with schema id " + std::to_string(id) +
                               " (subject " + subject + (schema->protobuf ? ", message " + record_name : std::string()) +
                               ")");
        break;
      }
      if (error.kind != RegistryError::Kind::unavailable) {
        logger.error("app", spec.pointer + ": the schema registry " +
                                (spec.subject ? "has no version " + spec.version + " of subject " + core::quoted(subject)
                                              : "refuses the schema under subject " + core::quoted(subject)) +
                                ": " + shown_error(error));
        return RegistrySetup::config_error;
      }
      const std::string why = "waiting for the schema registry: " + shown_error(error);
      health.registry().set_ready(false, why);
      logger.warn("app", why + "; retrying in " + std::to_string(backoff.next_ms()) + " ms");
      if (!backoff.wait([&stop] { return stop.load(); })) return RegistrySetup::stopped;
    }
  }
  health.registry().set_ready(true, "schema registry reachable");
  return RegistrySetup::ready;
}

}  // namespace sluice::app
