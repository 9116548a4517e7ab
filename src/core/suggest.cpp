#include "sluice/core/suggest.hpp"

#include <algorithm>
#include <cctype>

namespace sluice::core {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  const auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  // Three rolling rows: a transposition looks two rows back.
  std::vector<std::size_t> before_previous(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitution = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + substitution});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1])) {
        current[j] = std::min(current[j], before_previous[j - 2] + 1);
      }
    }
    std::swap(before_previous, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::optional<std::size_t> closest_match(std::string_view typed, const std::vector<std::string_view>& candidates,
                                         std::size_t max_distance) {
  std::optional<std::size_t> best;
  // The distance takes time proportional to the product of the lengths: a hostile 1 MB name against a candidate
  // made from it ("kafka." + the name, for settings) took hours. No typo of a name is that long.
  if (typed.size() > kMaxSuggestedLength) return best;
  std::size_t best_distance = max_distance + 1;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i] == typed || candidates[i].size() > kMaxSuggestedLength) continue;
    // The distance is at least the difference in length; no need to compute it when that is already too far.
    const std::size_t length_difference = typed.size() > candidates[i].size() ? typed.size() - candidates[i].size()
                                                                              : candidates[i].size() - typed.size();
    if (length_difference >= best_distance) continue;
    const std::size_t distance = edit_distance(typed, candidates[i]);
    if (distance < best_distance && distance < candidates[i].size() && distance < typed.size()) {
      best = i;
      best_distance = distance;
    }
  }
  return best;
}

}  // namespace sluice::core
