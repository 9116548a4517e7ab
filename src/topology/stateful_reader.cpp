#include "stateful_reader.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "sluice/core/duration.hpp"

namespace sluice::topology::detail {
namespace {

constexpr std::array kFunctions{AggregateFunction::count, AggregateFunction::sum,   AggregateFunction::min,
                                AggregateFunction::max,   AggregateFunction::avg,   AggregateFunction::first,
                                AggregateFunction::last};

// The output of a windowed aggregate carries its window's bounds in these fields (see ops/stateful.hpp), so an
// aggregation of the same name would be overwritten.
constexpr std::array<std::string_view, 2> kWindowBoundFields{"window_start", "window_end"};

std::vector<std::string> function_names() {
  std::vector<std::string> names;
  for (const AggregateFunction function : kFunctions) names.emplace_back(to_string(function));
  return names;
}

// The fields a window of each type takes, in the order messages list them.
std::vector<std::string> window_fields(WindowType type) {
  switch (type) {
    case WindowType::tumbling:
    case WindowType::sliding: return {"type", "size", "grace"};
    case WindowType::hopping: return {"type", "size", "advance", "grace"};
    case WindowType::session: return {"type", "gap", "grace"};
  }
  return {};
}

constexpr std::array kWindowTypes{WindowType::tumbling, WindowType::hopping, WindowType::sliding,
                                  WindowType::session};

// What a required window field means, for the message when it is missing.
std::string_view window_field_hint(std::string_view field) {
  if (field == "size") return "the length of each window, e.g. \"5m\"";
  if (field == "advance") return "how long after one window the next one starts, e.g. \"1m\"";
  return "how long without records closes a session, e.g. \"30m\"";  // gap
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_identifier_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_'; }
bool is_identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

std::size_t skip_spaces(std::string_view text, std::size_t position) {
  while (position < text.size() && is_space(text[position])) ++position;
  return position;
}

// Where the argument list that opens at `open` (a '(') closes, skipping strings and `quoted identifiers` so that
// a ')' or ',' inside them does not count; and whether a ',' separates arguments at the top level.
struct ArgumentList {
  std::optional<std::size_t> close;  // nullopt: never closed (or a string inside is unterminated)
  bool has_several = false;
};

ArgumentList scan_arguments(std::string_view text, std::size_t open) {
  ArgumentList list;
  int parentheses = 1;
  int brackets = 0;
  for (std::size_t i = open + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\'' || c == '"') {
      // The expression language's strings escape with a backslash.
      for (++i; i < text.size() && text[i] != c; ++i) {
        if (text[i] == '\\') ++i;
      }
      if (i >= text.size()) return list;
    } else if (c == '`') {
      i = text.find('`', i + 1);
      if (i == std::string_view::npos) return list;
    } else if (c == '(') {
      ++parentheses;
    } else if (c == ')') {
      if (--parentheses == 0) {
        list.close = i;
        return list;
      }
    } else if (c == '[') {
      ++brackets;
    } else if (c == ']') {
      --brackets;
    } else if (c == ',' && parentheses == 1 && brackets == 0) {
      list.has_several = true;
    }
  }
  return list;
}

std::string column_of(std::size_t offset) { return "column " + std::to_string(offset + 1); }

}  // namespace

std::optional<std::int64_t> StatefulReader::bounded_duration(const Json& value, const std::string& pointer,
                                                             bool allow_zero) {
  const auto milliseconds = reader_.duration_ms(value, pointer);
  if (!milliseconds) return std::nullopt;
  const std::string& text = value.get_ref<const std::string&>();
  if (*milliseconds == 0 && !allow_zero) {
    reader_.error(pointer, "expected a duration greater than 0, got " + in_quotes(text));
    return std::nullopt;
  }
  if (*milliseconds > kMaxDurationMs) {
    reader_.error(pointer, in_quotes(text) + " is longer than the longest duration allowed here, 36500d (100 years)");
    return std::nullopt;
  }
  return milliseconds;
}

std::optional<AggregationSpec> StatefulReader::aggregation(const std::string& name, const Json& value,
                                                           const std::string& pointer) {
  const auto written = reader_.string(value, pointer);
  if (!written) return std::nullopt;
  const std::string_view text = *written;
  const std::size_t start = skip_spaces(text, 0);
  if (start == text.size()) {
    reader_.error(pointer, "expected an aggregation such as \"count()\" or \"sum(amount)\", got an empty string");
    return std::nullopt;
  }
  std::size_t end_of_name = start;
  if (is_identifier_start(text[start])) {
    while (end_of_name < text.size() && is_identifier_char(text[end_of_name])) ++end_of_name;
  }
  const std::size_t open = skip_spaces(text, end_of_name);
  if (end_of_name == start || open == text.size() || text[open] != '(') {
    reader_.error(pointer, in_quotes(text) + " is not an aggregation; expected function(expression) with one of " +
                               join(function_names()) + ", e.g. \"sum(amount)\" or \"count()\"");
    return std::nullopt;
  }

  const std::string_view function_name = text.substr(start, end_of_name - start);
  const auto function = std::find_if(kFunctions.begin(), kFunctions.end(), [&](AggregateFunction candidate) {
    return to_string(candidate) == function_name;
  });
  if (function == kFunctions.end()) {
    const auto suggestion = closest_match(function_name, function_names());
    reader_.error(pointer, "unknown aggregation " + in_quotes(function_name) + "; expected one of " +
                               join(function_names()) +
                               (suggestion ? " (did you mean " + in_quotes(*suggestion) + "?)" : ""));
    return std::nullopt;
  }

  const ArgumentList arguments = scan_arguments(text, open);
  if (!arguments.close) {
    // An unterminated string is the likelier cause; the expression parser says so with its position.
    const std::string_view rest = text.substr(open + 1);
    auto parsed = expr::Expression::parse(rest);
    if (const auto* failure = std::get_if<expr::ParseError>(&parsed)) {
      reader_.error(pointer, "expression does not parse: " + failure->message + " at " +
                                 column_of(open + 1 + failure->position));
    } else {
      reader_.error(pointer, "expected \")\" at " + column_of(text.size()) + " to close " +
                                 in_quotes(text.substr(start, open + 1 - start)));
    }
    return std::nullopt;
  }
  const std::size_t after = skip_spaces(text, *arguments.close + 1);
  if (after != text.size()) {
    reader_.error(pointer, "unexpected " + in_quotes(text.substr(after)) + " at " + column_of(after) +
                               " after the aggregation; each field takes one function(expression), and a later "
                               "map can combine the results");
    return std::nullopt;
  }
  if (arguments.has_several) {
    reader_.error(pointer, in_quotes(text) + ": " + std::string(function_name) +
                               (*function == AggregateFunction::count ? " takes at most one argument expression"
                                                                       : " takes exactly one argument expression"));
    return std::nullopt;
  }

  // The argument without its surrounding spaces, and where it starts, so that columns count in `text`.
  std::size_t argument_start = skip_spaces(text, open + 1);
  std::size_t argument_end = *arguments.close;
  while (argument_end > argument_start && is_space(text[argument_end - 1])) --argument_end;
  const std::string_view argument = text.substr(argument_start, argument_end - argument_start);

  AggregationSpec spec;
  spec.name = name;
  spec.function = *function;
  spec.text = *written;
  if (argument.empty()) {
    if (*function == AggregateFunction::count) return spec;
    reader_.error(pointer, in_quotes(text) + " needs an argument expression, e.g. \"" + std::string(function_name) +
                               "(amount)\"");
    return std::nullopt;
  }
  if (*function == AggregateFunction::count && argument == "*") {
    reader_.error(pointer, "count(*) is written \"count()\" here (count(expression) counts the records where the "
                           "expression is not null)");
    return std::nullopt;
  }
  auto parsed = expr::Expression::parse(argument);
  if (const auto* failure = std::get_if<expr::ParseError>(&parsed)) {
    reader_.error(pointer, "expression does not parse: " + failure->message + " at " +
                               column_of(argument_start + failure->position));
    return std::nullopt;
  }
  spec.argument = std::get<expr::Expression>(std::move(parsed));
  return spec;
}

std::optional<WindowSpec> StatefulReader::window(const Json& window, const std::string& pointer) {
  if (!window.is_object()) {
    reader_.error(pointer, std::string("expected an object such as {\"type\": \"tumbling\", \"size\": \"1m\"}, got ") +
                               window.type_name());
    return std::nullopt;
  }
  const std::size_t errors_before = errors_.size();
  std::optional<WindowType> type;
  if (const Json* type_field = FieldReader::find(window, "type")) {
    type = reader_.window_type(*type_field, pointer_child(pointer, "type"));
  } else {
    std::vector<std::string> types;
    for (const WindowType candidate : kWindowTypes) types.emplace_back(to_string(candidate));
    reader_.error(pointer, "missing required field \"type\"; expected one of " + join(types));
  }

  // Fields: with a known type, exactly its own; otherwise any window field (the type's error says enough).
  std::vector<std::string> valid;
  if (type) {
    valid = window_fields(*type);
  } else {
    valid = {"type", "size", "advance", "gap", "grace"};
  }
  for (const auto& [key, value] : window.items()) {
    if (std::find(valid.begin(), valid.end(), key) != valid.end()) continue;
    std::vector<std::string> types_with_field;
    for (const WindowType candidate : kWindowTypes) {
      const auto fields = window_fields(candidate);
      if (std::find(fields.begin(), fields.end(), key) != fields.end()) {
        types_with_field.emplace_back(to_string(candidate));
      }
    }
    std::string message;
    if (types_with_field.empty()) {
      message = "unknown field; valid fields here are " + join(valid) + did_you_mean(key, valid);
    } else {
      std::string types_text = types_with_field.back();
      if (types_with_field.size() > 1) {
        types_with_field.pop_back();
        types_text = join(types_with_field) + " and " + types_text;
      }
      message = in_quotes(key) + " is only valid with " + types_text + " windows; valid fields of a " +
                std::string(to_string(*type)) + " window are " + join(valid);
    }
    reader_.error(pointer_child(pointer, key), message);
  }

  WindowSpec spec;
  const auto read_duration = [&](std::string_view field, bool allow_zero) -> std::optional<std::int64_t> {
    if (std::find(valid.begin(), valid.end(), field) == valid.end()) return std::nullopt;
    const Json* value = FieldReader::find(window, field);
    if (value == nullptr) {
      if (type && field != "grace") {
        reader_.error(pointer, "missing required field " + in_quotes(field) + " (" +
                                   std::string(window_field_hint(field)) + ")");
      }
      return std::nullopt;
    }
    return bounded_duration(*value, pointer_child(pointer, field), allow_zero);
  };
  const auto size = read_duration("size", false);
  const auto advance = read_duration("advance", false);
  const auto gap = read_duration("gap", false);
  const auto grace = read_duration("grace", true);
  if (size && advance && *advance > *size) {
    const Json& advance_text = window.at("advance");
    reader_.error(pointer_child(pointer, "advance"),
                  "advance " + in_quotes(advance_text.get_ref<const std::string&>()) +
                      " is longer than the window size " + in_quotes(window.at("size").get_ref<const std::string&>()) +
                      ", which would leave gaps between windows; expected 0 < advance <= size");
  }
  if (!type || errors_.size() != errors_before) return std::nullopt;
  spec.type = *type;
  spec.size_ms = size.value_or(0);
  // A tumbling window is a hopping window that advances by its size; saying so spares consumers a special case.
  spec.advance_ms = *type == WindowType::tumbling ? spec.size_ms : advance.value_or(0);
  spec.gap_ms = gap.value_or(0);
  spec.grace_ms = grace.value_or(0);
  return spec;
}

std::optional<OperatorBody> StatefulReader::aggregate(const Json& op, const std::string& pointer) {
  const std::size_t errors_before = errors_.size();
  AggregateSpec spec;

  const Json* window = FieldReader::find(op, "window");
  if (window != nullptr) spec.window = this->window(*window, pointer_child(pointer, "window"));

  const std::string aggregate_pointer = pointer_child(pointer, "aggregate");
  const Json& aggregations = op.at("aggregate");
  if (!aggregations.is_object()) {
    reader_.error(aggregate_pointer, std::string("expected an object {\"output field\": \"function(expression)\"}, "
                                                 "e.g. {\"n\": \"count()\", \"total\": \"sum(amount)\"}, got ") +
                                         aggregations.type_name());
  } else if (aggregations.empty()) {
    reader_.error(aggregate_pointer, "aggregate needs at least one field, e.g. {\"n\": \"count()\"}");
  }
  for (const auto& [field, text] : aggregations.items()) {
    if (!aggregations.is_object()) break;
    const std::string field_pointer = pointer_child(aggregate_pointer, field);
    if (field.empty()) {
      reader_.error(field_pointer, "field names must not be empty");
      continue;
    }
    if (window != nullptr &&
        std::find(kWindowBoundFields.begin(), kWindowBoundFields.end(), field) != kWindowBoundFields.end()) {
      reader_.error(field_pointer, in_quotes(field) +
                                       " is already a field of every windowed aggregate's output (window_start and "
                                       "window_end hold the window's bounds); choose another name");
      continue;
    }
    if (auto aggregation = this->aggregation(field, text, field_pointer)) {
      spec.aggregations.push_back(std::move(*aggregation));
    }
  }

  if (const Json* emit = FieldReader::find(op, "emit")) {
    const std::string emit_pointer = pointer_child(pointer, "emit");
    if (const auto mode = reader_.emit_mode(*emit, emit_pointer)) {
      spec.emit = *mode;
      if (*mode == EmitMode::final && window == nullptr) {
        reader_.error(emit_pointer, "\"final\" emits once per window, when it closes, and needs a \"window\"; an "
                                    "aggregate without one is a table, which emits every update (\"update\")");
      }
    }
  }
  if (const Json* idle_timeout = FieldReader::find(op, "idle_timeout")) {
    const std::string idle_pointer = pointer_child(pointer, "idle_timeout");
    // 0 turns closing on idleness off for this operator, as the window_idle_timeout setting's 0 does for all.
    spec.idle_timeout_ms = bounded_duration(*idle_timeout, idle_pointer, true);
    if (window == nullptr) {
      reader_.error(idle_pointer, "\"idle_timeout\" closes windows while a partition is quiet and needs a "
                                  "\"window\"; an aggregate without one is a table, whose results never close");
    }
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return spec;
}

std::optional<OperatorBody> StatefulReader::dedupe(const Json& dedupe, const std::string& pointer) {
  if (!dedupe.is_object()) {
    reader_.error(pointer, std::string("expected an object such as {\"within\": \"10m\"}, got ") + dedupe.type_name());
    return std::nullopt;
  }
  const std::size_t errors_before = errors_.size();
  reader_.reject_unknown_fields(dedupe, pointer, {"within"});
  DedupeSpec spec;
  if (const Json* within = FieldReader::find(dedupe, "within")) {
    spec.within_ms = bounded_duration(*within, pointer_child(pointer, "within"), false).value_or(0);
  } else {
    reader_.error(pointer, "missing required field \"within\" (how long a key counts as seen, e.g. \"10m\")");
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return spec;
}

}  // namespace sluice::topology::detail
