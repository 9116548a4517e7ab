// Internal to src/topology: building JSON pointers and error messages, and collecting every error of one
// parse so that a user sees all problems of a topology file at once.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/printable.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::topology::detail {

// RFC 6901 reference tokens: "~" is written "~0" and "/" is written "~1".
std::string pointer_child(std::string_view parent, std::string_view key);
std::string pointer_child(std::string_view parent, std::size_t index);

// `text` in double quotes, with quotes, backslashes, control and bidi characters escaped and a value longer than
// `max_bytes` cut with its length (core::quoted): every name or value from the file goes into a message this
// way, so a crafted one can neither redraw the terminal nor make the message megabytes long.
std::string in_quotes(std::string_view text, std::size_t max_bytes = core::kDisplayMaxBytes);

// A JSON pointer as shown in a message: each reference token escaped like core::printable and cut at
// kPointerTokenMaxBytes, every token kept, so the pointer still leads to the field (indexes and known field
// names are never that long) and the valid pointer stays exact.
inline constexpr std::size_t kPointerTokenMaxBytes = 128;
std::string display_pointer(std::string_view pointer);
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
