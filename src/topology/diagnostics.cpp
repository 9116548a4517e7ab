#include "diagnostics.hpp"

#include "sluice/core/json.hpp"
#include "sluice/core/printable.hpp"
#include "sluice/core/suggest.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <utility>

namespace sluice::topology::detail {

std::string pointer_child(std::string_view parent, std::string_view key) { return core::json_pointer_child(parent, key); }

std::string pointer_child(std::string_view parent, std::size_t index) { return core::json_pointer_child(parent, index); }

std::string in_quotes(std::string_view text, std::size_t max_bytes) { return core::quoted(text, max_bytes); }

std::string display_pointer(std::string_view pointer) {
  std::string shown;
  shown.reserve(pointer.size());
  std::size_t start = 0;
  while (start <= pointer.size()) {
    const std::size_t slash = pointer.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? pointer.size() : slash;
    core::append_printable(shown, pointer.substr(start, end - start), kPointerTokenMaxBytes);
    if (slash == std::string_view::npos) break;
    shown.push_back('/');
    start = slash + 1;
  }
  return shown;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.append(separator);
    out.append(items[i]);
  }
  return out;
}


std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  const std::vector<std::string_view> views(candidates.begin(), candidates.end());
  // Short words tolerate one edit only: otherwise almost any two-letter word would "match" another.
  const auto index = core::closest_match(word, views, word.size() <= 4 ? 1 : 2);
  return index ? std::optional<std::string>(candidates[*index]) : std::nullopt;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const auto match = closest_match(word, candidates);
  return match ? "; did you mean " + in_quotes(*match) + "?" : std::string();
}

void ErrorList::add(std::string pointer, std::string message) {
  errors_.push_back(ValidationError{std::move(pointer), std::move(message)});
}

namespace {

// Sort key of a pointer: the rank of its top-level section, then the element index inside it.
struct DocumentPosition {
  int section = 0;
  std::size_t element = 0;
  auto operator<=>(const DocumentPosition&) const = default;
};

DocumentPosition position_of(std::string_view pointer) {
  if (pointer.empty()) return {};
  pointer.remove_prefix(1);
  const std::size_t slash = pointer.find('/');
  const std::string_view section = pointer.substr(0, slash);
  constexpr std::array<std::string_view, 7> sections{"$schema",   "application_id", "description",      "sources",
                                                     "operators", "sinks",          "dead_letter_topic"};
  const auto found = std::find(sections.begin(), sections.end(), section);
  DocumentPosition position;
  // Unknown top-level fields are problems of the document as a whole: they sort with the root's errors.
  if (found == sections.end()) return position;
  position.section = static_cast<int>(found - sections.begin()) + 1;
  if (slash != std::string_view::npos) {
    std::string_view rest = pointer.substr(slash + 1);
    rest = rest.substr(0, rest.find('/'));
    std::size_t index = 0;
    const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), index);
    if (error == std::errc() && end == rest.data() + rest.size()) position.element = index;
  }
  return position;
}

}  // namespace

std::vector<ValidationError> ErrorList::take_in_document_order() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ValidationError& a, const ValidationError& b) {
    return position_of(a.pointer) < position_of(b.pointer);
  });
  return std::move(errors_);
}

}  // namespace sluice::topology::detail
