// The settings loader: a config file, SLUICE_* environment variables and --set assignments, as `sluice run`
// and `sluice settings` load them. Input: the config file's text, then NUL-separated fields, each one either an
// environment variable "SLUICE_NAME=value" or a --set assignment "name=value". An empty first field means no
// config file.
// Invariants checked beyond "does not crash": a rejected load has at least one error, each with an origin and a
// message; a successful one converts to AppSettings (which throws on a table/mapping mismatch), and no secret
// value appears in `sluice settings`' rows or in the error about its own --set.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "sluice/app/settings.hpp"

namespace {

using namespace sluice;

// True if the error about a --set of a secret-looking name shows the value that was given. Values shorter than 6
// bytes, or part of the name, are not looked for: they occur in messages by chance ("1", "true").
bool shows_secret(const app::SettingsError& error,
                  const std::vector<std::pair<std::string, std::string>>& secrets) {
  for (const auto& [name, value] : secrets) {
    if (error.origin != "--set " + name || value.size() < 6 || name.find(value) != std::string::npos) continue;
    if (error.message.find(value) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemoryFile file("settings.json");
  const auto fields = fuzz::split_fields(fuzz::as_text(data, size));

  app::SettingsSources sources;
  if (!fields[0].empty()) {
    file.write(fields[0]);
    sources.config_file = file.path();
  }
  std::vector<std::pair<std::string, std::string>> secrets;  // (name, value) of --set secrets
  for (std::size_t i = 1; i < fields.size(); ++i) {
    const std::string field(fields[i]);
    const auto equals = field.find('=');
    if (field.starts_with("SLUICE_") && equals != std::string::npos) {
      sources.environment[field.substr(0, equals)] = field.substr(equals + 1);
    } else {
      sources.assignments.push_back(field);
      if (equals != std::string::npos && app::is_secret_setting(field.substr(0, equals))) {
        secrets.emplace_back(field.substr(0, equals), field.substr(equals + 1));
      }
    }
  }

  auto loaded = app::load_settings(sources);
  if (const auto* errors = std::get_if<std::vector<app::SettingsError>>(&loaded)) {
    if (errors->empty()) std::abort();
    for (const auto& error : *errors) {
      if (error.message.empty()) std::abort();
      if (shows_secret(error, secrets)) std::abort();
    }
    return 0;
  }
  const auto& settings = std::get<app::Settings>(loaded);
  (void)app::app_settings(settings);
  for (const auto& [name, value, source] : settings.redacted()) {
    if (app::is_secret_setting(name) && value != "********") std::abort();
  }
  return 0;
}
