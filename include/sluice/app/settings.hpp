// Process settings: one table of definitions, loaded from defaults, a JSON config file, SLUICE_* environment
// variables and --set assignments (later sources win), validated all at once so an operator sees every
// mistake in one run instead of fixing them one restart at a time.
//
// Environment variables that start with SLUICE_ but are not settings (used by the scripts): SLUICE_TEST_BOOTSTRAP,
// SLUICE_KAFKA_PORT, SLUICE_KAFKA_DIR, SLUICE_KAFKA_HEAP, SLUICE_CACHE, SLUICE_BUILD_DIR. Every other SLUICE_*
// variable should name a setting; others are reported as warnings (see Settings::warnings()). docs/settings.md is generated from settings_reference_markdown().
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

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
