// Durations as written in topologies and settings: an integer and a unit, e.g. "250ms", "30s", "5m", "2h",
// "1d"; several parts may be combined ("1m30s"). A bare "0" is allowed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::core {

// Milliseconds, or nullopt if the text is not a duration.
std::optional<std::int64_t> parse_duration_ms(std::string_view text);
// Shortest exact text for a duration ("90000" -> "1m30s").
std::string format_duration_ms(std::int64_t ms);

// ISO 8601 / RFC 3339 timestamps ("2026-11-21T10:15:30Z", "2026-11-21T10:15:30.250+01:00", "2026-11-21")
// to epoch milliseconds, and back (UTC, millisecond precision).
std::optional<std::int64_t> parse_iso8601_ms(std::string_view text);
std::string format_iso8601_ms(std::int64_t epoch_ms);

}  // namespace sluice::core
