// Process settings: one table of definitions, loaded from defaults, a JSON config file, SLUICE_* environment
// variables and --set assignments (later sources win), validated all at once so an operator sees every
// mistake in one run instead of fixing them one restart at a time.
//
// Environment variables that start with SLUICE_ but are not settings (used by the scripts): SLUICE_TEST_BOOTSTRAP,
// SLUICE_KAFKA_PORT, SLUICE_KAFKA_DIR, SLUICE_KAFKA_HEAP, SLUICE_CACHE, SLUICE_BUILD_DIR. Every other SLUICE_*
// variable should name a setting; others are reported as warnings (see Settings::warnings()). docs/settings.md is generated from settings_reference_markdown().
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include "sluice/observe/log.hpp"

namespace sluice::app {

enum class SettingType { string, integer, boolean, duration, choice };

struct SettingDefinition {
  std::string name;  // e.g. "commit_interval"
  SettingType type;
  std::string default_value;  // as text, parsed like any other source, e.g. "100ms"
  std::string description;
  // Inclusive bounds: the value for integers, milliseconds for durations; unused for other types.
  std::int64_t minimum = std::numeric_limits<std::int64_t>::min();
  std::int64_t maximum = std::numeric_limits<std::int64_t>::max();
  std::vector<std::string> choices = {};  // for SettingType::choice, in the order shown to users
  bool secret = false;                    // value never shown in logs, `sluice settings` or error messages
};

// The one table of settings, in the order they are documented.
const std::vector<SettingDefinition>& setting_definitions();

// One problem with one source value. `origin` says where it came from, e.g. "--set commit_interval",
// "SLUICE_HTTP_PORT", "config.json: /http_port"; `message` says what is wrong and what would be valid.
struct SettingsError {
  std::string origin;
  std::string message;
  std::string to_string() const;  // "<origin>: <message>"
};

struct SettingsSources {
  std::optional<std::string> config_file;          // path to a JSON file
  std::vector<std::string> assignments;            // "key=value" from --set, in command-line order
  std::map<std::string, std::string> environment;  // the process environment (tests pass their own)
};

// The effective settings. Immutable after load_settings(); copyable. The accessors throw std::out_of_range when
// the name is not in the table or is read as the wrong type: both are programming errors, not user errors.
class Settings {
 public:
  const std::string& string(std::string_view name) const;  // string and choice settings
  std::int64_t integer(std::string_view name) const;
  bool boolean(std::string_view name) const;
  std::int64_t duration_ms(std::string_view name) const;

  // kafka.* settings with the "kafka." prefix removed, for librdkafka (e.g. {"security.protocol": "SASL_SSL"}).
  const std::map<std::string, std::string>& kafka() const;

  // Every effective setting as (name, value, source) where source is default|file|env|--set: table settings in
  // table order, then kafka.* settings by name. Secret values are replaced by "********". Values are shown in
  // canonical form (durations like "1m30s", booleans as true/false) so they read the same whatever was typed.
  std::vector<std::tuple<std::string, std::string, std::string>> redacted() const;

  // Problems that do not stop the process, e.g. SLUICE_* variables that name no setting. They are warnings, not
  // errors, because Kubernetes injects SLUICE_PORT, SLUICE_SERVICE_HOST, ... for a Service named "sluice".
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }

 private:
  friend std::variant<Settings, std::vector<SettingsError>> load_settings(const SettingsSources& sources);
  Settings() = default;

  struct Effective {
    const SettingDefinition* definition = nullptr;  // points into setting_definitions(), which lives forever
    std::string text;                               // canonical text; the value of string and choice settings
    std::int64_t number = 0;                        // integers, and milliseconds for durations
    bool flag = false;                              // booleans
    std::string source;                             // default|file|env|--set
  };
  const Effective& lookup(std::string_view name, SettingType expected) const;

  std::map<std::string, Effective, std::less<>> values_;
  std::map<std::string, std::string> kafka_;
  std::map<std::string, std::string> kafka_sources_;  // same keys as kafka_
  std::vector<std::string> warnings_;
};

// Loads and validates every source. Precedence: defaults < config file < environment (SLUICE_*) < --set; a
// later --set of the same name wins over an earlier one. Every invalid value is reported, even one that a
// higher-precedence source overrides, because it is still a mistake in that source.
std::variant<Settings, std::vector<SettingsError>> load_settings(const SettingsSources& sources);

enum class ProcessingGuarantee : std::uint8_t { exactly_once, at_least_once };

// The settings as the app uses them: one typed field per entry of setting_definitions(), named like the setting,
// so code reads `settings.commit_interval` and a misspelt name fails to compile instead of throwing at run time.
// Filled only by app_settings(); a plain value, copyable.
struct AppSettings {
  std::string bootstrap_servers;
  ProcessingGuarantee processing_guarantee = ProcessingGuarantee::exactly_once;
  std::chrono::milliseconds commit_interval{0};
  std::chrono::milliseconds transaction_timeout{0};
  std::string http_address;
  std::int64_t http_port = 0;
  std::int64_t http_max_connections = 0;
  std::chrono::milliseconds http_request_timeout{0};
  std::string http_tls_cert_file;
  std::string http_tls_key_file;
  std::string http_bearer_token;
  std::string http_basic_auth;
  std::string schema_registry_url;
  std::string schema_registry_basic_auth;
  std::string schema_registry_ca_file;
  std::chrono::milliseconds schema_registry_timeout{0};
  std::int64_t schema_registry_cache_schemas = 0;
  observe::LogLevel log_level = observe::LogLevel::info;
  std::string instance_id;
  std::int64_t processing_threads = 0;
  bool create_output_topics = false;
  std::int64_t output_topic_partitions = 0;
  std::chrono::milliseconds startup_backoff_max{0};
  std::chrono::milliseconds shutdown_timeout{0};
  std::int64_t producer_queue_max_records = 0;
  std::int64_t consumer_queue_max_kbytes = 0;
  std::chrono::milliseconds max_poll_interval{0};
  std::string state_dir;
  std::int64_t state_memory_mb = 0;
  std::int64_t state_buffer_max_records = 0;
  std::chrono::milliseconds window_idle_timeout{0};
  std::chrono::milliseconds max_task_idle{0};
  std::int64_t buffered_records_per_partition = 0;
  std::int64_t restore_batch_records = 0;
  std::chrono::milliseconds session_timeout{0};
  std::int64_t max_failed_commits = 0;
  std::map<std::string, std::string> kafka;  // kafka.* settings without the prefix, as Settings::kafka()
};

// Where one setting of the table lands in AppSettings; the member's type says how the value is read (string,
// integer, boolean, duration, or a choice turned into its enum).
using AppSettingsMember =
    std::variant<std::string AppSettings::*, std::int64_t AppSettings::*, bool AppSettings::*,
                 std::chrono::milliseconds AppSettings::*, ProcessingGuarantee AppSettings::*,
                 observe::LogLevel AppSettings::*>;
struct AppSettingsField {
  std::string_view name;  // a name from setting_definitions(), equal to the member's name
  AppSettingsMember member;
};

// The mapping app_settings() applies: one entry per setting of setting_definitions() (a unit test checks that the
// two have the same names, so a setting added to the table without a field fails it).
const std::vector<AppSettingsField>& app_settings_fields();

// The one place AppSettings is filled. Throws std::out_of_range if the mapping and the table disagree on a name,
// a type or a choice: a programming error that the unit tests catch.
AppSettings app_settings(const Settings& settings);

// Whether a setting's value must never be shown. True for table settings marked secret and for any name that
// contains (case-insensitively) password, secret, token, credential, private, sasl.jaas.config,
// sasl.oauthbearer.config, ssl.key.pem, ssl_key or ssl.keystore. The rule errs on the side of hiding: showing
// "********" for a harmless value costs little, printing a password to a log cannot be undone.
bool is_secret_setting(std::string_view name);

// Environment variable for a setting: "commit_interval" -> "SLUICE_COMMIT_INTERVAL",
// "kafka.sasl.password" -> "SLUICE_KAFKA_SASL_PASSWORD".
std::string environment_variable_for(std::string_view setting_name);
// The reverse: the setting a SLUICE_* variable sets, or nullopt for variables that are not settings (no SLUICE_
// prefix, one of the script variables listed above, or an unknown name). SLUICE_KAFKA_<X> always maps to
// "kafka." + lower-case X with "_" -> ".", so librdkafka properties whose names contain "_" cannot be set from
// the environment; use the config file or --set for those.
std::optional<std::string> setting_for_environment_variable(std::string_view variable);

// The whole reference (sources, precedence, environment mapping, Kafka pass-through, the table) as Markdown,
// for docs/settings.md and `sluice settings --markdown`.
std::string settings_reference_markdown();

}  // namespace sluice::app
