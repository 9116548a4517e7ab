// The spellings of enums and operator types, as written in topology files and shown by `sluice describe`.
#include <array>

#include "sluice/topology/topology.hpp"

namespace sluice::topology {

std::string_view OperatorSpec::type_name() const noexcept {
  // The order of OperatorBody's alternatives.
  constexpr std::array<std::string_view, std::variant_size_v<OperatorBody>> names{
      "filter", "map", "select", "flat_map", "rekey", "route", "merge"};
  return names[body.index()];
}

std::string ValidationError::to_string() const {
  // A root error (unreadable file, not an object) reads better without an empty pointer in front.
  if (pointer.empty()) return message;
  return pointer + ": " + message;
}

std::string_view to_string(KeyFormat format) noexcept {
  switch (format) {
    case KeyFormat::string: return "string";
    case KeyFormat::bytes: return "bytes";
    case KeyFormat::json: return "json";
  }
  return "unknown";
}

std::string_view to_string(ValueFormat format) noexcept {
  switch (format) {
    case ValueFormat::json: return "json";
    case ValueFormat::string: return "string";
    case ValueFormat::bytes: return "bytes";
  }
  return "unknown";
}

std::string_view to_string(TimestampFormat format) noexcept {
  switch (format) {
    case TimestampFormat::epoch_ms: return "epoch_ms";
    case TimestampFormat::epoch_s: return "epoch_s";
    case TimestampFormat::iso8601: return "iso8601";
  }
  return "unknown";
}

}  // namespace sluice::topology
