#include "sluice/observe/log.hpp"

#include "sluice/core/duration.hpp"
#include "sluice/core/printable.hpp"

namespace sluice::observe {

void Logger::log(LogLevel level, std::string_view component, std::string_view message) {
  if (!enabled(level)) return;
  static constexpr std::string_view names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
  std::string line = core::format_iso8601_ms(clock_.wall_ms());
  line += ' ';
  line += names[static_cast<int>(level)];
  line += " [";
  core::append_printable(line, component, kMaxComponentBytes);
  line += "] ";
  // Messages carry names, values and broker texts from outside: escaped, one call is one physical line, and a
  // line cannot fake or erase another; a message longer than the cap says how long it was.
  core::append_printable(line, message, kMaxMessageBytes);
  line += '\n';
  std::lock_guard lock(mutex_);
  out_ << line << std::flush;
}

LogLevel parse_log_level(std::string_view text) noexcept {
  if (text == "debug") return LogLevel::debug;
  if (text == "warn") return LogLevel::warn;
  if (text == "error") return LogLevel::error;
  return LogLevel::info;
}

}  // namespace sluice::observe
