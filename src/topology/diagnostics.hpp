// Internal to src/topology: building JSON pointers and error messages, and collecting every error of one
// parse so that a user sees all problems of a topology file at once.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/topology/topology.hpp"

namespace sluice::topology::detail {

// RFC 6901 reference tokens: "~" is written "~0" and "/" is written "~1".
std::string pointer_child(std::string_view parent, std::string_view key);
std::string pointer_child(std::string_view parent, std::size_t index);

// `text` in double quotes with JSON escapes, so that names with odd characters stay readable in messages.
std::string in_quotes(std::string_view text);
std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");

// Optimal string alignment distance (Levenshtein plus adjacent transpositions, so "fliter" is 1 from
// "filter"), case-insensitive.
// The candidate closest to `word` if it is close enough to be a likely typo; the first one wins ties.
std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates);
// "; did you mean \"filter\"?" when closest_match finds one, else "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

class ErrorList {
 public:
  void add(std::string pointer, std::string message);
  bool empty() const noexcept { return errors_.empty(); }
  std::size_t size() const noexcept { return errors_.size(); }
  // The errors grouped by the top-level section and element they belong to (root and unknown top-level
  // fields, application_id, description, sources, operators, sinks, dead_letter_topic; elements by index),
  // each group in the order the errors were found.
  std::vector<ValidationError> take_in_document_order();

 private:
  std::vector<ValidationError> errors_;
};

}  // namespace sluice::topology::detail
