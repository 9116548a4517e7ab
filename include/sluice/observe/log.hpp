// A small line logger: "2026-11-21T10:15:30.250Z INFO  [runtime] message". Thread-safe (one write per line
// under a mutex). Created once in main and passed by reference; no global logger.
// One call writes exactly one physical line: control and bidi characters and invalid UTF-8 in the component
// and the message are escaped (core::printable), and a message longer than kMaxMessageBytes is cut with its
// length, so nothing logged can forge, erase or reorder a line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <ostream>
#include <string_view>

#include "sluice/core/clock.hpp"

namespace sluice::observe {

enum class LogLevel : std::uint8_t { debug, info, warn, error };

class Logger {
 public:
  static constexpr std::size_t kMaxMessageBytes = 16 * 1024;
  static constexpr std::size_t kMaxComponentBytes = 64;

  Logger(std::ostream& out, LogLevel level, const core::Clock& clock) : out_(out), level_(level), clock_(clock) {}
  bool enabled(LogLevel level) const noexcept { return level >= level_; }
  void log(LogLevel level, std::string_view component, std::string_view message);
  void debug(std::string_view component, std::string_view message) { log(LogLevel::debug, component, message); }
  void info(std::string_view component, std::string_view message) { log(LogLevel::info, component, message); }
  void warn(std::string_view component, std::string_view message) { log(LogLevel::warn, component, message); }
  void error(std::string_view component, std::string_view message) { log(LogLevel::error, component, message); }

 private:
  std::ostream& out_;
  LogLevel level_;
  const core::Clock& clock_;
  std::mutex mutex_;
};

// "debug", "info", "warn", "error"; nullopt-like fallback to info for unknown text.
LogLevel parse_log_level(std::string_view text) noexcept;

}  // namespace sluice::observe
