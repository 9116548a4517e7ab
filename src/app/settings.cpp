#include "sluice/app/settings.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "sluice/core/duration.hpp"
#include "sluice/core/file.hpp"
#include "sluice/core/json.hpp"
#include "sluice/core/yaml.hpp"
#include "sluice/core/printable.hpp"
#include "sluice/core/suggest.hpp"
#include "sluice/kafka/client_config.hpp"

namespace sluice::app {
namespace {

constexpr std::string_view kKafkaPrefix = "kafka.";
constexpr std::string_view kEnvironmentPrefix = "SLUICE_";
constexpr std::string_view kEnvironmentKafkaPrefix = "SLUICE_KAFKA_";
constexpr std::string_view kRedacted = "********";

// SLUICE_* variables read by the scripts (broker start-up, tests, builds), not by sluice itself. Without this
// list, running sluice in a shell that sourced the development environment would fail as "unknown setting".
constexpr std::array<std::string_view, 10> kScriptEnvironmentVariables = {
    "SLUICE_TEST_BOOTSTRAP", "SLUICE_KAFKA_PORT",    "SLUICE_KAFKA_DIR",      "SLUICE_KAFKA_HEAP",
    "SLUICE_CACHE",          "SLUICE_BUILD_DIR",     "SLUICE_TEST_REGISTRY",  "SLUICE_REGISTRY_PORT",
    "SLUICE_REGISTRY_DIR",   "SLUICE_REGISTRY_HEAP",
};



// Substrings (of the lower-cased name) that mark a value as secret; see is_secret_setting().
constexpr std::array<std::string_view, 10> kSecretNameParts = {
    "password",         "secret",     "token",   "credential",   "private",
    "sasl.jaas.config", "sasl.oauthbearer.config", "ssl.key.pem", "ssl_key", "ssl.keystore",
};

std::string to_lower(std::string_view text) {
  std::string lowered(text);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lowered;
}

std::string to_upper(std::string_view text) {
  std::string raised(text);
  std::transform(raised.begin(), raised.end(), raised.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return raised;
}

const SettingDefinition* find_definition(std::string_view name) {
  for (const auto& definition : setting_definitions()) {
    if (definition.name == name) return &definition;
  }
  return nullptr;
}


std::string_view type_name(SettingType type) {
  switch (type) {
    case SettingType::string: return "string";
    case SettingType::integer: return "integer";
    case SettingType::boolean: return "boolean";
    case SettingType::duration: return "duration";
    case SettingType::choice: return "choice";
  }
  return "unknown";
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string joined;
  for (const auto& part : parts) {
    if (!joined.empty()) joined += separator;
    joined += part;
  }
  return joined;
}

// "1ms..1h" for durations, "0..65535" for integers: the form used in errors and in the reference.
std::string range_text(const SettingDefinition& definition) {
  if (definition.type == SettingType::duration) {
    return core::format_duration_ms(definition.minimum) + ".." + core::format_duration_ms(definition.maximum);
  }
  return std::to_string(definition.minimum) + ".." + std::to_string(definition.maximum);
}


// The candidate closest to `typed` (case-insensitively), if it is close enough to be a plausible typo: at most
// two edits, or a third of the typed length for long names. Ties go to the earlier candidate (table order).
std::optional<std::string> closest_match(std::string_view typed, const std::vector<std::string>& candidates) {
  const std::vector<std::string_view> views(candidates.begin(), candidates.end());
  const auto index = core::closest_match(typed, views, std::max<std::size_t>(2, typed.size() / 3));
  return index ? std::optional<std::string>(candidates[*index]) : std::nullopt;
}

std::string unknown_setting_message(std::string_view name) {
  std::vector<std::string> candidates;
  for (const auto& definition : setting_definitions()) candidates.push_back(definition.name);
  // "kafak.linger.ms" is most likely a Kafka property with a mistyped prefix.
  if (const auto dot = name.find('.'); dot != std::string_view::npos) {
    candidates.push_back(std::string(kKafkaPrefix) + std::string(name.substr(dot + 1)));
  }
  std::string message = "unknown setting";
  if (const auto suggestion = closest_match(name, candidates)) {
    message += "; did you mean " + *suggestion + "?";
  } else {
    message += "; run `sluice settings` or see docs/settings.md for the list, or use kafka.<property> for librdkafka";
  }
  return message;
}

std::string unknown_environment_variable_message(std::string_view variable) {
  // Compare without the common SLUICE_ prefix so it does not inflate the typo threshold.
  const std::string_view typed = variable.substr(kEnvironmentPrefix.size());
  std::vector<std::string> candidates;
  for (const auto& definition : setting_definitions()) {
    candidates.push_back(environment_variable_for(definition.name).substr(kEnvironmentPrefix.size()));
  }
  if (const auto underscore = typed.find('_'); underscore != std::string_view::npos) {
    candidates.push_back("KAFKA_" + std::string(typed.substr(underscore + 1)));
  }
  std::string message = "unknown setting";
  if (const auto suggestion = closest_match(typed, candidates)) {
    const std::string variable_name = std::string(kEnvironmentPrefix) + *suggestion;
    message += "; did you mean " + variable_name;
    if (const auto setting = setting_for_environment_variable(variable_name)) message += " (" + *setting + ")";
    message += "?";
  } else {
    message += "; SLUICE_* variables name settings (SLUICE_COMMIT_INTERVAL for commit_interval, "
               "SLUICE_KAFKA_<PROPERTY> for kafka.<property>); see docs/settings.md";
  }
  return message;
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end) return std::nullopt;
  return value;
}

std::optional<bool> parse_boolean(std::string_view text) {
  const std::string lowered = to_lower(text);
  if (lowered == "true" || lowered == "1" || lowered == "yes") return true;
  if (lowered == "false" || lowered == "0" || lowered == "no") return false;
  return std::nullopt;
}

// One value from one source, before validation.
struct Assignment {
  std::string name;
  std::string text;
  std::string origin;  // for errors, e.g. "--set commit_interval"
  std::string source;  // default|file|env|--set, for redacted()
  // Set when the source itself is malformed (unknown variable, --set without '=', JSON null). Kept in the
  // sequence instead of reported at once so that all errors come out in source order.
  std::optional<std::string> problem = std::nullopt;
};

// A value that passed validation, in the representations the accessors hand out.
struct ParsedValue {
  std::string text;  // canonical text
  std::int64_t number = 0;
  bool flag = false;
};

// The value as it may appear in an error message: quoted, escaped and cut (core::quoted), unless it is secret.
std::string quoted_value(const SettingDefinition& definition, std::string_view text) {
  if (is_secret_setting(definition.name)) return "the value";
  return core::quoted(text);
}

bool looks_like_integer(std::string_view text) {
  if (text.starts_with('-')) text.remove_prefix(1);
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Parses `text` as the value of `definition`; on failure, the message says what is wrong and what is valid.
std::variant<ParsedValue, std::string> parse_value(const SettingDefinition& definition, std::string_view text) {
  const std::string shown = quoted_value(definition, text);
  switch (definition.type) {
    case SettingType::string:
      return ParsedValue{.text = std::string(text)};
    case SettingType::integer: {
      const auto number = parse_integer(text);
      if (!number && !looks_like_integer(text)) {
        return shown + " is not an integer; valid range " + range_text(definition);
      }
      if (!number || *number < definition.minimum || *number > definition.maximum) {
        return shown + " is out of range; valid range " + range_text(definition);
      }
      return ParsedValue{.text = std::to_string(*number), .number = *number};
    }
    case SettingType::boolean: {
      const auto flag = parse_boolean(text);
      if (!flag) return shown + " is not a boolean (true/false, yes/no, 1/0)";
      return ParsedValue{.text = *flag ? "true" : "false", .flag = *flag};
    }
    case SettingType::duration: {
      const auto milliseconds = core::parse_duration_ms(text);
      if (!milliseconds) {
        return shown + " is not a duration (e.g. 100ms, 30s, 5m); valid range " + range_text(definition);
      }
      if (*milliseconds < definition.minimum || *milliseconds > definition.maximum) {
        return shown + " is out of range; valid range " + range_text(definition);
      }
      return ParsedValue{.text = core::format_duration_ms(*milliseconds), .number = *milliseconds};
    }
    case SettingType::choice: {
      // Case-insensitive because environment variables are conventionally upper case (SLUICE_LOG_LEVEL=DEBUG).
      const std::string lowered = to_lower(text);
      for (const auto& choice : definition.choices) {
        if (to_lower(choice) == lowered) return ParsedValue{.text = choice};
      }
      return shown + " is not one of " + join(definition.choices, ", ");
    }
  }
  return "has an unsupported type";
}

std::string json_pointer_token(std::string_view key) { return core::json_pointer_child("", key).substr(1); }

// Turns nested objects into dotted names: {"kafka": {"security.protocol": "SSL"}} -> kafka.security.protocol.
// Scalars become text so they are parsed exactly like the other sources; anything else is an error.
void flatten_config(const nlohmann::json& object, const std::string& name_prefix, const std::string& pointer_prefix,
                    const std::string& path, std::map<std::string, std::string>& pointer_of_name,
                    std::vector<Assignment>& assignments) {
  for (const auto& [key, value] : object.items()) {
    const std::string name = name_prefix.empty() ? key : name_prefix + "." + key;
    const std::string pointer = pointer_prefix + "/" + json_pointer_token(key);
    const std::string origin = path + ": " + pointer;
    if (value.is_object()) {
      flatten_config(value, name, pointer, path, pointer_of_name, assignments);
      continue;
    }
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_boolean()) {
      text = value.get<bool>() ? "true" : "false";
    } else if (value.is_number()) {
      text = value.dump();
    } else {
      assignments.push_back(
          {name, "", origin, "file", std::string("must be a string, number or boolean, not ") + value.type_name()});
      continue;
    }
    // {"kafka": {"acks": 1}, "kafka.acks": "all"} would leave it unclear which one was meant.
    if (const auto [existing, inserted] = pointer_of_name.emplace(name, pointer); !inserted) {
      assignments.push_back({name, "", origin, "file", name + " is also set at " + existing->second + "; set it once"});
      continue;
    }
    assignments.push_back({name, std::move(text), origin, "file"});
  }
}

std::string describe_parse_error(const nlohmann::json::parse_error& error, std::string_view text) {
  // error.byte is the 1-based offset where parsing failed (the end of the offending token); report it as line
  // and column.
  const std::size_t offset = std::min<std::size_t>(error.byte, text.size());
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i + 1 < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  // nlohmann's message is "[json.exception.parse_error.101] parse error at line L, column C: <detail>"; keep
  // only the detail since line and column are reported in the same form for every version of the library.
  std::string detail = error.what();
  if (const auto column_at = detail.find("column "); column_at != std::string::npos) {
    if (const auto colon = detail.find(": ", column_at); colon != std::string::npos) detail.erase(0, colon + 2);
  }
  // Drop "; last read: '<text>'": it echoes file contents, which may be a password next to the mistake.
  if (const auto last_read = detail.find("; last read: "); last_read != std::string::npos) {
    const auto expected = detail.rfind("'; expected ");
    if (expected != std::string::npos && expected > last_read) {
      detail.erase(last_read, expected + 1 - last_read);
    } else {
      detail.erase(last_read);
    }
  }
  return "not valid JSON at line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + detail;
}

void read_config_file(const std::string& path, std::vector<Assignment>& assignments,
                      std::vector<SettingsError>& errors) {
  std::error_code status;
  if (std::filesystem::is_directory(path, status)) {
    errors.push_back({path, "cannot read the config file: it is a directory"});
    return;
  }
  // The size is checked before the file is read, and before a parser sees it.
  auto contents = core::read_file_with_limit(path, core::kMaxFileBytes);
  if (const auto* unreadable = std::get_if<core::FileUnreadable>(&contents)) {
    errors.push_back({path, std::string("cannot read the config file: ") + std::strerror(unreadable->error_number)});
    return;
  }
  if (const auto* too_large = std::get_if<core::FileTooLarge>(&contents)) {
    errors.push_back({path, "the config file is " + core::describe_too_large(*too_large, core::kMaxFileBytes)});
    return;
  }
  const std::string& text = std::get<std::string>(contents);
  if (core::json_nesting_depth(text, core::kMaxFileNesting) > core::kMaxFileNesting) {
    errors.push_back({path, "the config file nests arrays and objects deeper than " +
                                std::to_string(core::kMaxFileNesting) + " levels; settings need two"});
    return;
  }
  nlohmann::json document;
  if (core::is_yaml_path(path)) {
    // YAML: the same settings as the JSON file would hold (see core/yaml.hpp for how scalars are typed).
    auto parsed = core::parse_yaml(text);
    if (const auto* error = std::get_if<core::YamlError>(&parsed)) {
      errors.push_back({path, "not valid YAML at line " + std::to_string(error->line) + ", column " +
                                  std::to_string(error->column) + ": " + error->message});
      return;
    }
    document = nlohmann::json::parse(std::get<core::YamlDocument>(parsed).json.dump());
    if (!document.is_object()) {
      errors.push_back({path, "the config file must hold a mapping of settings, e.g. \"commit_interval: 250ms\", "
                              "not " + std::string(document.type_name())});
      return;
    }
    std::map<std::string, std::string> pointer_of_name;
    flatten_config(document, "", "", path, pointer_of_name, assignments);
    return;
  }
  try {
    document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    errors.push_back({path, describe_parse_error(error, text)});
    return;
  } catch (const nlohmann::json::out_of_range&) {
    // A number beyond a double, e.g. 1e400 (found by fuzz/settings: it came out as "internal error", exit 1).
    // nlohmann gives no position; its message quotes the number, which is left out like any file content.
    errors.push_back({path, "not valid JSON: a number is too large (beyond a double)"});
    return;
  }
  if (!document.is_object()) {
    errors.push_back({path, "the config file must hold a JSON object of settings, e.g. {\"commit_interval\": "
                            "\"250ms\"}, not " + std::string(document.type_name())});
    return;
  }
  std::map<std::string, std::string> pointer_of_name;
  flatten_config(document, "", "", path, pointer_of_name, assignments);
}

bool is_script_environment_variable(std::string_view variable) {
  return std::find(kScriptEnvironmentVariables.begin(), kScriptEnvironmentVariables.end(), variable) !=
         kScriptEnvironmentVariables.end();
}

void read_environment(const std::map<std::string, std::string>& environment, std::vector<Assignment>& assignments,
                      std::vector<std::string>& warnings) {
  for (const auto& [variable, value] : environment) {
    if (!std::string_view(variable).starts_with(kEnvironmentPrefix) || is_script_environment_variable(variable)) {
      continue;
    }
    if (const auto name = setting_for_environment_variable(variable)) {
      assignments.push_back({*name, value, variable, "env"});
    } else {
      warnings.push_back(variable + ": " + unknown_environment_variable_message(variable) + " (ignored)");
    }
  }
}

void read_assignments(const std::vector<std::string>& texts, std::vector<Assignment>& assignments) {
  for (const auto& text : texts) {
    const auto equals = text.find('=');
    if (equals == std::string::npos) {
      // "--set kafka.sasl.passwordhunter2" must not end up in a log either.
      const std::string shown = is_secret_setting(text) ? "(hidden: looks like a secret)" : text;
      assignments.push_back(
          {text, "", "--set " + shown, "--set", "expected name=value, e.g. --set commit_interval=250ms"});
      continue;
    }
    if (equals == 0) {
      // The value is not shown: without a name there is no telling whether it is a secret.
      assignments.push_back(
          {"", "", "--set", "--set", "missing the setting name before '=', e.g. --set commit_interval=250ms"});
      continue;
    }
    const std::string name = text.substr(0, equals);
    assignments.push_back({name, text.substr(equals + 1), "--set " + name, "--set"});
  }
}

}  // namespace

// ---- The table -------------------------------------------------------------------------------------------

const std::vector<SettingDefinition>& setting_definitions() {
  static const std::vector<SettingDefinition> definitions = {
      {.name = "bootstrap_servers",
       .type = SettingType::string,
       .default_value = "127.0.0.1:9092",
       .description = "Kafka brokers to connect to first, as a comma-separated host:port list; the CLI flag "
                      "--bootstrap sets it."},
      {.name = "processing_guarantee",
       .type = SettingType::choice,
       .default_value = "exactly_once",
       .description = "Delivery guarantee. exactly_once: outputs, state changes and input offsets are committed in "
                      "one Kafka transaction per commit interval, and consumers reading with read_committed see each "
                      "input's effect exactly once. at_least_once: offsets are committed after the outputs are "
                      "acknowledged, so a crash can repeat records but never loses them (faster, no transactions).",
       .choices = {"exactly_once", "at_least_once"}},
      {.name = "commit_interval",
       .type = SettingType::duration,
       .default_value = "100ms",
       .description = "How often the transaction (or, at least once, the offsets) is committed: the latency "
                      "floor of read_committed consumers; longer means fewer, larger transactions.",
       .minimum = 1,
       .maximum = 3'600'000},
      {.name = "transaction_timeout",
       .type = SettingType::duration,
       .default_value = "60s",
       .description = "Exactly-once: how long the broker lets a transaction stay open (Kafka "
                      "transaction.timeout.ms). It bounds two things: how long a broker outage is ridden out "
                      "(librdkafka fails outputs not delivered within it, and the instance then restarts), and how "
                      "long the open transaction of an instance that died and does not come back (scale-in by "
                      "kill, lost node) holds up read_committed readers of its outputs and the new owner of its "
                      "partitions. A restarted instance aborts its own at once.",
       .minimum = 1'000,
       .maximum = 900'000},
      {.name = "max_failed_commits",
       .type = SettingType::integer,
       .default_value = "10",
       .description = "Consecutive commits that fail for a reason that is not an outage (a write the cluster "
                      "refuses, missing ACLs) before a processing thread stops with exit code 1; outages are "
                      "waited out.",
       .minimum = 1,
       .maximum = 1'000},
      {.name = "http_address",
       .type = SettingType::string,
       .default_value = "0.0.0.0",
       .description = "Address the HTTP server (health, metrics) listens on; 0.0.0.0 means all interfaces."},
      {.name = "http_port",
       .type = SettingType::integer,
       .default_value = "8080",
       .description = "Port of the HTTP server; 0 lets the OS choose a free port, which is logged at start.",
       .minimum = 0,
       .maximum = 65'535},
      {.name = "http_max_connections",
       .type = SettingType::integer,
       .default_value = "1024",
       .description = "Connections the HTTP server holds at most. At the cap a new connection closes the oldest one "
                      "that has not sent its request yet, so idle connections cannot lock the probes out.",
       .minimum = 16,
       .maximum = 100'000},
      {.name = "http_request_timeout",
       .type = SettingType::duration,
       .default_value = "5s",
       .description = "Time an HTTP client has to send its request head (after the TLS handshake, if any) and "
                      "again to read the response; a connection that takes longer is closed.",
       .minimum = 100,
       .maximum = 60'000},
      {.name = "http_tls_cert_file",
       .type = SettingType::string,
       .default_value = "",
       .description = "PEM certificate chain for HTTPS. With http_tls_key_file the port speaks HTTPS only (probes "
                      "included); empty: plain HTTP."},
      {.name = "http_tls_key_file",
       .type = SettingType::string,
       .default_value = "",
       .description = "PEM private key of http_tls_cert_file."},
      {.name = "http_bearer_token",
       .type = SettingType::string,
       .default_value = "",
       .description = "When set, /metrics and /topology answer 401 unless the request carries "
                      "`Authorization: Bearer <token>`; /healthz and /readyz stay open for probes.",
       .secret = true},
      {.name = "http_basic_auth",
       .type = SettingType::string,
       .default_value = "",
       .description = "`user:password`: when set, /metrics and /topology also accept HTTP basic authentication with "
                      "these credentials (Prometheus' basic_auth); /healthz and /readyz stay open.",
       .secret = true},
      {.name = "schema_registry_url",
       .type = SettingType::string,
       .default_value = "",
       .description = "Base URL(s) of a Confluent-compatible Schema Registry, comma-separated (tried in order), e.g. "
                      "http://registry:8081 or https://apicurio:8080/apis/ccompat/v6. Required by topologies with "
                      "avro or protobuf keys or values."},
      {.name = "schema_registry_basic_auth",
       .type = SettingType::string,
       .default_value = "",
       .description = "`user:password` for the Schema Registry's HTTP basic authentication (Confluent Cloud: the "
                      "API key and secret).",
       .secret = true},
      {.name = "schema_registry_ca_file",
       .type = SettingType::string,
       .default_value = "",
       .description = "PEM bundle of the certificate authorities an https Schema Registry is verified with (empty: "
                      "the system's)."},
      {.name = "schema_registry_timeout",
       .type = SettingType::duration,
       .default_value = "10s",
       .description = "Timeout of one request to the Schema Registry; an unanswered request is retried with backoff "
                      "(processing waits, /readyz says why).",
       .minimum = 100,
       .maximum = 300'000},
      {.name = "schema_registry_cache_schemas",
       .type = SettingType::integer,
       .default_value = "10000",
       .description = "Schemas kept by id (the least recently used is dropped); a warm cache makes a registry "
                      "outage invisible.",
       .minimum = 1,
       .maximum = 1'000'000},
      {.name = "log_level",
       .type = SettingType::choice,
       .default_value = "info",
       .description = "Least severe log messages that are written.",
       .choices = {"debug", "info", "warn", "error"}},
      {.name = "instance_id",
       .type = SettingType::string,
       .default_value = "",
       .description = "Static group membership id (Kafka group.instance.id), unique per instance, so a restart "
                      "within session_timeout causes no rebalance and keeps the instance's partitions and local "
                      "state. Empty means the host name when running in Kubernetes (KUBERNETES_SERVICE_HOST is "
                      "set: a StatefulSet pod's stable name), else dynamic membership with transactional ids from "
                      "a random process id kept in state_dir (so instances on one host, each with its own "
                      "state_dir, never fence each other). Processing thread i > 0 uses <instance_id>-<i>."},
      {.name = "processing_threads",
       .type = SettingType::integer,
       .default_value = "1",
       .description = "Processing threads per instance, each with its own consumer (a member of the group) and "
                      "transactional producer; tasks spread across them. Partitions cap the useful total of "
                      "instances x threads.",
       .minimum = 1,
       .maximum = 64},
      {.name = "create_output_topics",
       .type = SettingType::boolean,
       .default_value = "true",
       .description = "Create missing sink and dead-letter topics at start instead of failing."},
      {.name = "output_topic_partitions",
       .type = SettingType::integer,
       .default_value = "0",
       .description = "Partition count of the topics sluice creates; 0 means as many as the largest source topic.",
       .minimum = 0,
       .maximum = 10'000},
      {.name = "startup_backoff_max",
       .type = SettingType::duration,
       .default_value = "30s",
       .description = "Longest wait between retries (the backoff doubles up to this cap) while the cluster is "
                      "unreachable at start.",
       .minimum = 100,
       .maximum = 600'000},
      {.name = "shutdown_timeout",
       .type = SettingType::duration,
       .default_value = "30s",
       .description = "How long a graceful shutdown (SIGTERM) may take to flush outputs and commit offsets "
                      "before sluice exits anyway.",
       .minimum = 1'000,
       .maximum = 600'000},
      {.name = "producer_queue_max_records",
       .type = SettingType::integer,
       .default_value = "100000",
       .description = "Most records waiting in the producer for delivery (librdkafka queue.buffering.max.messages); "
                      "bounds memory use when the brokers are slow.",
       .minimum = 1'000,
       .maximum = 10'000'000},
      {.name = "consumer_queue_max_kbytes",
       .type = SettingType::integer,
       .default_value = "16384",
       .description = "Most input (in KiB) prefetched per consumer ahead of processing, all its partitions "
                      "together (librdkafka queued.max.messages.kbytes); bounds memory use, about 2.5 MB of peak "
                      "RSS per MiB with small records (Nexmark). librdkafka 2.0.2 stops fetching at the bound and would "
                      "decide again only up to a second later; sluice wakes its fetcher when it has drained half "
                      "the bound (sluice_fetcher_wakeups_total), so a smaller bound costs little throughput.",
       .minimum = 1'024,
       .maximum = 2'097'151},
      {.name = "max_poll_interval",
       .type = SettingType::duration,
       .default_value = "5m",
       .description = "Longest time between polls before the group considers the instance stuck and "
                      "reassigns its partitions (Kafka max.poll.interval.ms).",
       .minimum = 1'000,
       .maximum = 3'600'000},
      {.name = "state_dir",
       .type = SettingType::string,
       .default_value = "/tmp/sluice-state",
       .description = "Directory of the local state stores (RocksDB), one subdirectory per application and task. "
                      "Losing it costs a restore from the changelog topics, never data; mount a volume to keep it "
                      "across restarts."},
      {.name = "state_memory_mb",
       .type = SettingType::integer,
       .default_value = "256",
       .description = "Memory of all state stores together: one RocksDB block cache and write-buffer budget "
                      "shared by every task, in MiB.",
       .minimum = 16,
       .maximum = 1'048'576},
      {.name = "state_buffer_max_records",
       .type = SettingType::integer,
       .default_value = "100000",
       .description = "Most state changes held in memory between commits, over all tasks; reaching it commits "
                      "early, which bounds memory when the commit interval is long.",
       .minimum = 100,
       .maximum = 100'000'000},
      {.name = "window_idle_timeout",
       .type = SettingType::duration,
       .default_value = "1m",
       .description = "Wall-clock time without input after which a task's stream time advances with the wall "
                      "clock, so windows of a quiet partition still close and emit (0 disables; operators may "
                      "override it with idle_timeout).",
       .minimum = 0,
       .maximum = 86'400'000},
      {.name = "max_task_idle",
       .type = SettingType::duration,
       .default_value = "0s",
       .description = "How long a task with several input partitions (a join's stream and table, merged "
                      "sources) waits for one that has nothing buffered and is caught up before it goes on, so "
                      "records are processed in event-time order across them (0: wait only for partitions with "
                      "records not yet fetched; joins may override it with max_task_idle).",
       .minimum = 0,
       .maximum = 86'400'000},
      {.name = "buffered_records_per_partition",
       .type = SettingType::integer,
       .default_value = "1000",
       .description = "Records a task with several input partitions buffers per partition to order them by "
                      "event time; a partition with this many is paused until the task catches up.",
       .minimum = 10,
       .maximum = 1'000'000},
      {.name = "restore_batch_records",
       .type = SettingType::integer,
       .default_value = "10000",
       .description = "Changelog records applied per restore step before the processing loop serves ready tasks "
                      "again, so restoring tasks do not stall the others.",
       .minimum = 100,
       .maximum = 1'000'000},
      {.name = "session_timeout",
       .type = SettingType::duration,
       .default_value = "45s",
       .description = "How long the group waits for heartbeats before it declares the instance dead "
                      "(Kafka session.timeout.ms).",
       .minimum = 6'000,
       .maximum = 1'800'000},
  };
  return definitions;
}

// ---- Names ---------------------------------------------------------------------------------------------

bool is_secret_setting(std::string_view name) {
  if (const auto* definition = find_definition(name); definition != nullptr && definition->secret) return true;
  const std::string lowered = to_lower(name);
  return std::any_of(kSecretNameParts.begin(), kSecretNameParts.end(),
                     [&](std::string_view part) { return lowered.find(part) != std::string::npos; });
}

std::string environment_variable_for(std::string_view setting_name) {
  std::string variable = std::string(kEnvironmentPrefix) + to_upper(setting_name);
  std::replace(variable.begin(), variable.end(), '.', '_');
  return variable;
}

std::optional<std::string> setting_for_environment_variable(std::string_view variable) {
  if (!variable.starts_with(kEnvironmentPrefix)) return std::nullopt;
  if (is_script_environment_variable(variable)) return std::nullopt;
  // Table settings first, so a future setting named kafka_something is not taken for a Kafka property.
  for (const auto& definition : setting_definitions()) {
    if (environment_variable_for(definition.name) == variable) return definition.name;
  }
  if (variable.starts_with(kEnvironmentKafkaPrefix)) {
    std::string property = to_lower(variable.substr(kEnvironmentKafkaPrefix.size()));
    std::replace(property.begin(), property.end(), '_', '.');
    return std::string(kKafkaPrefix) + property;
  }
  return std::nullopt;
}

// ---- Errors --------------------------------------------------------------------------------------------

// The origin holds names from outside (a --set name, an environment variable, a path and JSON pointer) and the
// message may quote them: both are shown escaped, and cut, on one line. Values are already quoted and cut by
// quoted_value, or not shown at all when secret.
std::string SettingsError::to_string() const {
  constexpr std::size_t origin_max_bytes = 1024;
  constexpr std::size_t message_max_bytes = 4096;
  return core::printable(origin, origin_max_bytes) + ": " + core::printable(message, message_max_bytes);
}

// ---- Settings accessors ----------------------------------------------------------------------------------

const Settings::Effective& Settings::lookup(std::string_view name, SettingType expected) const {
  const auto found = values_.find(name);
  if (found == values_.end()) throw std::out_of_range("no setting named \"" + std::string(name) + "\"");
  const SettingType actual = found->second.definition->type;
  const bool compatible = actual == expected || (expected == SettingType::string && actual == SettingType::choice);
  if (!compatible) {
    throw std::out_of_range("setting \"" + std::string(name) + "\" is a " + std::string(type_name(actual)) +
                            ", not a " + std::string(type_name(expected)));
  }
  return found->second;
}

const std::string& Settings::string(std::string_view name) const { return lookup(name, SettingType::string).text; }

std::int64_t Settings::integer(std::string_view name) const { return lookup(name, SettingType::integer).number; }

bool Settings::boolean(std::string_view name) const { return lookup(name, SettingType::boolean).flag; }

std::int64_t Settings::duration_ms(std::string_view name) const {
  return lookup(name, SettingType::duration).number;
}

const std::map<std::string, std::string>& Settings::kafka() const { return kafka_; }

std::vector<std::tuple<std::string, std::string, std::string>> Settings::redacted() const {
  std::vector<std::tuple<std::string, std::string, std::string>> rows;
  for (const auto& definition : setting_definitions()) {
    const Effective& effective = values_.at(definition.name);
    rows.emplace_back(definition.name, is_secret_setting(definition.name) ? std::string(kRedacted) : effective.text,
                      effective.source);
  }
  for (const auto& [property, value] : kafka_) {
    std::string name = std::string(kKafkaPrefix) + property;
    const bool secret = is_secret_setting(name);
    rows.emplace_back(std::move(name), secret ? std::string(kRedacted) : value, kafka_sources_.at(property));
  }
  return rows;
}

// ---- Typed settings ------------------------------------------------------------------------------------

namespace {

// The choice texts of the table, as enum values; the unit tests set every choice to prove each one is here.
constexpr std::array<std::pair<std::string_view, ProcessingGuarantee>, 2> kProcessingGuarantees = {{
    {"exactly_once", ProcessingGuarantee::exactly_once},
    {"at_least_once", ProcessingGuarantee::at_least_once},
}};
constexpr std::array<std::pair<std::string_view, observe::LogLevel>, 4> kLogLevels = {{
    {"debug", observe::LogLevel::debug},
    {"info", observe::LogLevel::info},
    {"warn", observe::LogLevel::warn},
    {"error", observe::LogLevel::error},
}};

template <typename Enum, std::size_t size>
Enum choice_value(const std::array<std::pair<std::string_view, Enum>, size>& values, std::string_view name,
                  std::string_view text) {
  for (const auto& [choice, value] : values) {
    if (choice == text) return value;
  }
  throw std::out_of_range("setting \"" + std::string(name) + "\" has no enum value for \"" + std::string(text) + "\"");
}

template <typename... Visitors>
struct Overloaded : Visitors... {
  using Visitors::operator()...;
};
// Written out for clang before 17, which does not deduce an aggregate's template arguments by itself.
template <typename... Visitors>
Overloaded(Visitors...) -> Overloaded<Visitors...>;

}  // namespace

// The field is named like the setting, so the name cannot drift from the member it fills.
#define SLUICE_SETTING_FIELD(field) AppSettingsField{#field, &AppSettings::field}

const std::vector<AppSettingsField>& app_settings_fields() {
  static const std::vector<AppSettingsField> fields = {
      SLUICE_SETTING_FIELD(bootstrap_servers),
      SLUICE_SETTING_FIELD(processing_guarantee),
      SLUICE_SETTING_FIELD(commit_interval),
      SLUICE_SETTING_FIELD(transaction_timeout),
      SLUICE_SETTING_FIELD(max_failed_commits),
      SLUICE_SETTING_FIELD(http_address),
      SLUICE_SETTING_FIELD(http_port),
      SLUICE_SETTING_FIELD(http_max_connections),
      SLUICE_SETTING_FIELD(http_request_timeout),
      SLUICE_SETTING_FIELD(http_tls_cert_file),
      SLUICE_SETTING_FIELD(http_tls_key_file),
      SLUICE_SETTING_FIELD(http_bearer_token),
      SLUICE_SETTING_FIELD(http_basic_auth),
      SLUICE_SETTING_FIELD(schema_registry_url),
      SLUICE_SETTING_FIELD(schema_registry_basic_auth),
      SLUICE_SETTING_FIELD(schema_registry_ca_file),
      SLUICE_SETTING_FIELD(schema_registry_timeout),
      SLUICE_SETTING_FIELD(schema_registry_cache_schemas),
      SLUICE_SETTING_FIELD(log_level),
      SLUICE_SETTING_FIELD(instance_id),
      SLUICE_SETTING_FIELD(processing_threads),
      SLUICE_SETTING_FIELD(create_output_topics),
      SLUICE_SETTING_FIELD(output_topic_partitions),
      SLUICE_SETTING_FIELD(startup_backoff_max),
      SLUICE_SETTING_FIELD(shutdown_timeout),
      SLUICE_SETTING_FIELD(producer_queue_max_records),
      SLUICE_SETTING_FIELD(consumer_queue_max_kbytes),
      SLUICE_SETTING_FIELD(max_poll_interval),
      SLUICE_SETTING_FIELD(state_dir),
      SLUICE_SETTING_FIELD(state_memory_mb),
      SLUICE_SETTING_FIELD(state_buffer_max_records),
      SLUICE_SETTING_FIELD(window_idle_timeout),
      SLUICE_SETTING_FIELD(max_task_idle),
      SLUICE_SETTING_FIELD(buffered_records_per_partition),
      SLUICE_SETTING_FIELD(restore_batch_records),
      SLUICE_SETTING_FIELD(session_timeout),
  };
  return fields;
}

#undef SLUICE_SETTING_FIELD

AppSettings app_settings(const Settings& settings) {
  AppSettings typed;
  for (const AppSettingsField& field : app_settings_fields()) {
    const std::string_view name = field.name;
    std::visit(Overloaded{
                   [&](std::string AppSettings::*member) { typed.*member = settings.string(name); },
                   [&](std::int64_t AppSettings::*member) { typed.*member = settings.integer(name); },
                   [&](bool AppSettings::*member) { typed.*member = settings.boolean(name); },
                   [&](std::chrono::milliseconds AppSettings::*member) {
                     typed.*member = std::chrono::milliseconds(settings.duration_ms(name));
                   },
                   [&](ProcessingGuarantee AppSettings::*member) {
                     typed.*member = choice_value(kProcessingGuarantees, name, settings.string(name));
                   },
                   [&](observe::LogLevel AppSettings::*member) {
                     typed.*member = choice_value(kLogLevels, name, settings.string(name));
                   },
               },
               field.member);
  }
  typed.kafka = settings.kafka();
  return typed;
}

// ---- Loading -------------------------------------------------------------------------------------------

std::variant<Settings, std::vector<SettingsError>> load_settings(const SettingsSources& sources) {
  std::vector<SettingsError> errors;
  std::vector<Assignment> assignments;  // in precedence order: a later one overrides an earlier one
  for (const auto& definition : setting_definitions()) {
    assignments.push_back({definition.name, definition.default_value, "default of " + definition.name, "default"});
  }
  if (sources.config_file) read_config_file(*sources.config_file, assignments, errors);
  std::vector<std::string> warnings;
  read_environment(sources.environment, assignments, warnings);
  read_assignments(sources.assignments, assignments);

  Settings settings;
  settings.warnings_ = std::move(warnings);
  for (auto& assignment : assignments) {
    if (assignment.problem) {
      errors.push_back({std::move(assignment.origin), std::move(*assignment.problem)});
    } else if (const auto* definition = find_definition(assignment.name)) {
      auto parsed = parse_value(*definition, assignment.text);
      if (auto* message = std::get_if<std::string>(&parsed)) {
        errors.push_back({std::move(assignment.origin), std::move(*message)});
        continue;
      }
      auto& value = std::get<ParsedValue>(parsed);
      settings.values_[definition->name] = Settings::Effective{.definition = definition,
                                                               .text = std::move(value.text),
                                                               .number = value.number,
                                                               .flag = value.flag,
                                                               .source = std::move(assignment.source)};
    } else if (std::string_view(assignment.name).starts_with(kKafkaPrefix)) {
      // Passed through unchecked: librdkafka validates its own properties and knows its version's list.
      std::string property = assignment.name.substr(kKafkaPrefix.size());
      if (property.empty()) {
        errors.push_back({std::move(assignment.origin), "missing the librdkafka property name after \"kafka.\""});
      } else if (const auto* controlled = kafka::find_controlled_property(property)) {
        errors.push_back({std::move(assignment.origin),
                          assignment.name + " cannot be set: " + std::string(controlled->reason)});
      } else {
        settings.kafka_sources_[property] = std::move(assignment.source);
        settings.kafka_[std::move(property)] = std::move(assignment.text);
      }
    } else {
      errors.push_back({std::move(assignment.origin), unknown_setting_message(assignment.name)});
    }
  }
  if (!errors.empty()) return errors;
  return settings;
}

// ---- Reference -----------------------------------------------------------------------------------------

namespace {

std::string valid_values_text(const SettingDefinition& definition) {
  switch (definition.type) {
    case SettingType::string: return "any text";
    case SettingType::integer:
    case SettingType::duration: return range_text(definition);
    case SettingType::boolean: return "true, false (also yes/no, 1/0)";
    case SettingType::choice: {
      std::vector<std::string> quoted;
      for (const auto& choice : definition.choices) quoted.push_back("`" + choice + "`");
      return join(quoted, ", ");
    }
  }
  return "";
}

}  // namespace

std::string settings_reference_markdown() {
  std::string out;
  out += "# Settings\n\n";
  out += "<!-- Generated by settings_reference_markdown() in src/app/settings.cpp; do not edit by hand.\n"
         "     Regenerate: SLUICE_REGENERATE_DOCS=1 <build>/tests/unit_app "
         "--gtest_filter='SettingsReference.*' -->\n\n";
  out += "sluice reads its settings from four sources; each one overrides the ones before it:\n\n"
         "1. the defaults in the table below;\n"
         "2. the JSON config file, if one is given;\n"
         "3. environment variables `SLUICE_<NAME>`;\n"
         "4. `--set name=value` on the command line (repeatable; for the same name the last one wins).\n\n"
         "Every source is checked before sluice starts and all mistakes are reported together, each naming where it "
         "came from and what would be valid, for example:\n\n"
         "```\n"
         "--set commit_interval: \"5x\" is not a duration (e.g. 100ms, 30s, 5m); valid range 1ms..1h\n"
         "```\n\n"
         "A wrong value is reported even when a later source overrides it, since it is still a mistake in its "
         "source. `sluice settings` prints every effective setting and where it came from, with secrets hidden.\n\n";

  out += "## Values\n\n"
         "- **duration**: an integer and a unit (`ms`, `s`, `m`, `h`, `d`), parts may be combined: `250ms`, `30s`, "
         "`1m30s`.\n"
         "- **integer**: decimal, e.g. `8080`.\n"
         "- **boolean**: `true`/`false`, `yes`/`no` or `1`/`0`, in any case.\n"
         "- **choice**: one of the listed words, in any case.\n"
         "- **string**: any text, including the empty string.\n\n";

  out += "## Config file\n\n"
         "A JSON object. Nested objects are flattened with `.`, so these are the same:\n\n"
         "```json\n"
         "{\"commit_interval\": \"250ms\", \"kafka\": {\"security.protocol\": \"SSL\"}}\n"
         "{\"commit_interval\": \"250ms\", \"kafka.security.protocol\": \"SSL\"}\n"
         "```\n\n"
         "Values may be strings, numbers or booleans; they are converted to text and checked like any other source "
         "(a duration therefore needs a string with a unit: `\"30s\"`). Setting one name twice (nested and dotted) "
         "is an error. Errors name the file and the JSON pointer, e.g. `config.json: /http_port`.\n\n";

  out += "## Environment variables\n\n"
         "`SLUICE_` followed by the setting name in upper case with `.` replaced by `_`: `commit_interval` is "
         "`SLUICE_COMMIT_INTERVAL`. `SLUICE_KAFKA_<X>` sets `kafka.` + `<X>` in lower case with `_` replaced by "
         "`.`: `SLUICE_KAFKA_SASL_PASSWORD` sets `kafka.sasl.password`. librdkafka properties whose names contain "
         "`_` cannot be written this way; set them in the config file or with `--set`.\n\n"
         "Any other `SLUICE_*` variable is logged as a warning at start-up (with a suggestion when it looks like a "
         "typo) and ignored; it is not an error because Kubernetes injects `SLUICE_PORT`, `SLUICE_SERVICE_HOST`, ... "
         "into pods when a Service is named `sluice`. These are used by the scripts and ignored silently:";
  for (const auto variable : kScriptEnvironmentVariables) out += " `" + std::string(variable) + "`,";
  out.back() = '.';
  out += "\n\n";

  out += "## Kafka properties\n\n"
         "Any `kafka.<property>` is passed to librdkafka as `<property>` without being checked here; librdkafka "
         "rejects unknown properties and bad values when the clients are created. The properties sluice controls "
         "itself are rejected:\n\n"
         "| Property | Why |\n"
         "|---|---|\n";
  for (const auto& controlled : kafka::controlled_properties()) {
    out += "| `kafka." + std::string(controlled.property) + "` | " + std::string(controlled.reason) + " |\n";
  }
  out += "\nValues of settings whose names contain `password`, `secret`, `token`, `credential`, `private`, "
         "`sasl.jaas.config`, `sasl.oauthbearer.config`, `ssl.key.pem`, `ssl_key` or `ssl.keystore` are secret: "
         "they are shown as `" + std::string(kRedacted) + "` in logs, in `sluice settings` and in errors.\n\n";

  out += "## Reference\n\n"
         "Durations are shown with their unit; ranges are inclusive.\n\n"
         "| Setting | Type | Default | Valid values | Environment variable | Description |\n"
         "|---|---|---|---|---|---|\n";
  for (const auto& definition : setting_definitions()) {
    const std::string default_text =
        definition.default_value.empty() ? "(empty)" : "`" + definition.default_value + "`";
    out += "| `" + definition.name + "` | " + std::string(type_name(definition.type)) + " | " + default_text + " | " +
           valid_values_text(definition) + " | `" + environment_variable_for(definition.name) + "` | " +
           definition.description + " |\n";
  }
  return out;
}

}  // namespace sluice::app
