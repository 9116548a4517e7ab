// "Did you mean ...?" for names users type: settings, topology fields and references, expression functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace sluice::core {

// Case-insensitive optimal string alignment distance: Levenshtein plus swaps of adjacent characters, the most
// common typo ("fliter").
std::size_t edit_distance(std::string_view a, std::string_view b);

// Index of the candidate closest to `typed` within `max_distance` edits, or nullopt. Exact matches are skipped;
// a suggestion must share a character with both words (distance < either length); ties go to the earlier one.
// Words and candidates longer than kMaxSuggestedLength get no suggestion (the distance costs the product of the
// lengths, and a hostile file or --set may hold a name of megabytes).
inline constexpr std::size_t kMaxSuggestedLength = 128;
std::optional<std::size_t> closest_match(std::string_view typed, const std::vector<std::string_view>& candidates,
                                         std::size_t max_distance);

}  // namespace sluice::core
