// Avro at start (src/app/avro_setup.hpp).
#include "avro_setup.hpp"

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

// The schema text of an avro sink given in the topology or a file; nullopt for a subject (looked up at start).
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

std::string shown_error(const RegistryError& error) {
  return (error.http_status > 0 ? "HTTP " + std::to_string(error.http_status) + ": " : std::string()) +
         core::printable(error.message, 1024);
}

}  // namespace

bool uses_avro(const topology::Topology& topology) {
  return std::any_of(topology.sources.begin(), topology.sources.end(),
                     [](const auto& source) { return source.value == topology::ValueFormat::avro; }) ||
         std::any_of(topology.sinks.begin(), topology.sinks.end(),
                     [](const auto& sink) { return sink.value == topology::ValueFormat::avro; });
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
    auto parsed = formats::AvroSchema::parse(*text);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      errors.push_back({pointer, "not an Avro schema: " + core::printable(*error, 1024)});
      continue;
    }
    const auto& schema = std::get<formats::AvroSchema>(parsed);
    if (spec.naming == topology::SinkSchemaSpec::Naming::record && !schema.named()) {
      errors.push_back({spec.pointer + "/subject_naming",
                        "\"record\" names the subject after the schema's record, but the schema is a " + schema.name()});
    }
  }
  return errors;
}

AvroSetup set_up_avro(const topology::Topology& topology, const std::string& topology_path, const AppSettings& settings,
                      const std::atomic<bool>& stop, runtime::InstanceHealth& health, observe::Logger& logger,
                      const core::Clock& clock, AvroBindings& out) {
  if (settings.schema_registry_url.empty()) {
    for (std::size_t i = 0; i < topology.sources.size(); ++i) {
      if (topology.sources[i].value == topology::ValueFormat::avro) {
        logger.error("app", topology.sources[i].pointer + "/value: avro needs the schema_registry_url setting");
      }
    }
    for (const auto& sink : topology.sinks) {
      if (sink.value == topology::ValueFormat::avro) {
        logger.error("app", sink.pointer + "/value: avro needs the schema_registry_url setting");
      }
    }
    return AvroSetup::config_error;
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
  out.decoder = std::make_unique<formats::AvroRegistryDecoder>(
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
    if (sink.value != topology::ValueFormat::avro || !sink.value_schema) continue;
    const auto& spec = *sink.value_schema;
    std::string problem;
    auto text = sink_schema_text(spec, topology_path, problem);
    if (!problem.empty()) {
      logger.error("app", spec.pointer + ": " + problem);
      return AvroSetup::config_error;
    }
    for (int attempt = 1;; ++attempt) {
      std::optional<std::string> schema_text = text;
      std::int32_t id = 0;
      std::string subject;
      RegistryError error;
      bool ok = false;
      if (schema_text) {
        auto parsed = formats::AvroSchema::parse(*schema_text);
        if (auto* parse_error = std::get_if<std::string>(&parsed)) {
          logger.error("app", spec.pointer + ": not an Avro schema: " + *parse_error);
          return AvroSetup::config_error;
        }
        subject = spec.naming == topology::SinkSchemaSpec::Naming::topic ? sink.topic + "-value"
                                                                         : std::get<formats::AvroSchema>(parsed).name();
        auto registered = out.registry->register_schema(subject, formats::SchemaKind::avro, *schema_text);
        if (registered.ok()) {
          id = *registered.value;
          ok = true;
        } else {
          error = registered.error;
        }
      } else {
        subject = *spec.subject;
        auto found = out.registry->subject_version(subject, spec.version);
        if (found.ok() && found.value->kind != formats::SchemaKind::avro) {
          logger.error("app", spec.pointer + "/subject: " + core::quoted(subject) + " version " + spec.version +
                                  " is a " + std::string(to_string(found.value->kind)) + " schema, not Avro");
          return AvroSetup::config_error;
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
        auto parsed = formats::AvroSchema::parse(*schema_text);
        if (auto* parse_error = std::get_if<std::string>(&parsed)) {
          logger.error("app", spec.pointer + ": the registry's schema " + std::to_string(id) +
                                  " does not parse as Avro: " + *parse_error);
          return AvroSetup::config_error;
        }
        auto schema = std::make_shared<formats::AvroSinkSchema>();
        schema->id = id;
        schema->schema = std::make_shared<const formats::AvroSchema>(std::get<formats::AvroSchema>(std::move(parsed)));
        out.sinks[index] = std::move(schema);
        logger.info("app", sink.pointer + ": writes Avro with schema id " + std::to_string(id) + " (subject " + subject +
                               ")");
        break;
      }
      if (error.kind != RegistryError::Kind::unavailable) {
        logger.error("app", spec.pointer + ": the schema registry " +
                                (spec.subject ? "has no version " + spec.version + " of subject " + core::quoted(subject)
                                              : "refuses the schema under subject " + core::quoted(subject)) +
                                ": " + shown_error(error));
        return AvroSetup::config_error;
      }
      const std::string why = "waiting for the schema registry: " + shown_error(error);
      health.registry().set_ready(false, why);
      logger.warn("app", why + "; retrying in " + std::to_string(backoff.next_ms()) + " ms");
      if (!backoff.wait([&stop] { return stop.load(); })) return AvroSetup::stopped;
    }
  }
  health.registry().set_ready(true, "schema registry reachable");
  return AvroSetup::ready;
}

}  // namespace sluice::app
