#include "sluice/core/duration.hpp"

#include <charconv>
#include <cstdio>
#include <limits>

namespace sluice::core {

namespace {

struct Unit {
  std::string_view suffix;
  std::int64_t ms;
};
// Longest suffix first so "ms" is not read as "m" followed by garbage.
constexpr Unit units[] = {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};

bool read_digits(std::string_view text, std::size_t& position, std::int64_t& out, std::size_t max_digits) {
  std::size_t start = position;
  out = 0;
  while (position < text.size() && text[position] >= '0' && text[position] <= '9' && position - start < max_digits) {
    out = out * 10 + (text[position] - '0');
    ++position;
  }
  return position > start;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's published civil-date algorithm).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) {
  year -= month <= 2;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

void civil_from_days(std::int64_t days, std::int64_t& year, unsigned& month, unsigned& day) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto day_of_era = static_cast<unsigned>(days - era * 146097);
  const unsigned year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const unsigned day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned month_index = (5 * day_of_year + 2) / 153;
  day = day_of_year - (153 * month_index + 2) / 5 + 1;
  month = month_index < 10 ? month_index + 3 : month_index - 9;
  year = static_cast<std::int64_t>(year_of_era) + era * 400 + (month <= 2);
}

bool is_leap(std::int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

unsigned days_in_month(std::int64_t year, unsigned month) {
  static constexpr unsigned lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : lengths[month - 1];
}

}  // namespace

std::optional<std::int64_t> parse_duration_ms(std::string_view text) {
  if (text == "0") return 0;
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t position = 0;
  while (position < text.size()) {
    std::int64_t amount = 0;
    if (!read_digits(text, position, amount, 12)) return std::nullopt;
    const Unit* unit = nullptr;
    for (const Unit& candidate : units) {
      if (text.substr(position, candidate.suffix.size()) == candidate.suffix) {
        unit = &candidate;
        break;
      }
    }
    if (unit == nullptr) return std::nullopt;
    position += unit->suffix.size();
    if (amount > std::numeric_limits<std::int64_t>::max() / unit->ms - total / unit->ms) return std::nullopt;
    total += amount * unit->ms;
  }
  return total;
}

std::string format_duration_ms(std::int64_t ms) {
  if (ms == 0) return "0";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  for (auto it = std::rbegin(units); it != std::rend(units); ++it) {
    if (ms >= it->ms) {
      out += std::to_string(ms / it->ms);
      out += it->suffix;
      ms %= it->ms;
    }
  }
  return out;
}

std::optional<std::int64_t> parse_iso8601_ms(std::string_view text) {
  std::size_t position = 0;
  std::int64_t year = 0, month = 0, day = 0;
  auto expect = [&](char c) {
    if (position < text.size() && text[position] == c) {
      ++position;
      return true;
    }
    return false;
  };
  if (!read_digits(text, position, year, 4) || position != 4 || !expect('-')) return std::nullopt;
  if (!read_digits(text, position, month, 2) || position != 7 || !expect('-')) return std::nullopt;
  if (!read_digits(text, position, day, 2) || position != 10) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, static_cast<unsigned>(month))) return std::nullopt;
  std::int64_t result = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86'400'000;
  if (position == text.size()) return result;
  if (!expect('T') && !expect('t') && !expect(' ')) return std::nullopt;
  std::int64_t hour = 0, minute = 0, second = 0;
  std::size_t start = position;
  if (!read_digits(text, position, hour, 2) || position - start != 2 || !expect(':')) return std::nullopt;
  start = position;
  if (!read_digits(text, position, minute, 2) || position - start != 2) return std::nullopt;
  if (expect(':')) {
    start = position;
    if (!read_digits(text, position, second, 2) || position - start != 2) return std::nullopt;
  }
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;  // 60: a leap second, folded into the next
  std::int64_t millis = 0;
  if (expect('.') || expect(',')) {
    start = position;
    std::int64_t fraction = 0;
    if (!read_digits(text, position, fraction, 9)) return std::nullopt;
    std::size_t digits = position - start;
    while (digits < 3) {
      fraction *= 10;
      ++digits;
    }
    while (digits > 3) {
      fraction /= 10;
      --digits;
    }
    millis = fraction;
    while (position < text.size() && text[position] >= '0' && text[position] <= '9') ++position;  // beyond ns
  }
  result += ((hour * 60 + minute) * 60 + second) * 1000 + millis;
  if (position == text.size()) return result;  // no zone: UTC, as Kafka Streams users expect of event times
  if (expect('Z') || expect('z')) return position == text.size() ? std::optional(result) : std::nullopt;
  bool negative = false;
  if (expect('-')) {
    negative = true;
  } else if (!expect('+')) {
    return std::nullopt;
  }
  std::int64_t offset_hours = 0, offset_minutes = 0;
  start = position;
  if (!read_digits(text, position, offset_hours, 2) || position - start != 2) return std::nullopt;
  expect(':');
  start = position;
  if (position < text.size() && (!read_digits(text, position, offset_minutes, 2) || position - start != 2)) {
    return std::nullopt;
  }
  if (position != text.size() || offset_hours > 23 || offset_minutes > 59) return std::nullopt;
  std::int64_t offset_ms = (offset_hours * 60 + offset_minutes) * 60'000;
  return negative ? result + offset_ms : result - offset_ms;
}

std::string format_iso8601_ms(std::int64_t epoch_ms) {
  std::int64_t days = epoch_ms / 86'400'000;
  std::int64_t rest = epoch_ms % 86'400'000;
  if (rest < 0) {
    rest += 86'400'000;
    --days;
  }
  std::int64_t year = 0;
  unsigned month = 0, day = 0;
  civil_from_days(days, year, month, day);
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", static_cast<long long>(year), month,
                day, static_cast<long long>(rest / 3'600'000), static_cast<long long>(rest / 60'000 % 60),
                static_cast<long long>(rest / 1000 % 60), static_cast<long long>(rest % 1000));
  return buffer;
}

}  // namespace sluice::core
