// The spellings of enums and operator types, as written in topology files and shown by `sluice describe`.
#include <algorithm>
#include <array>

#include "diagnostics.hpp"
#include "sluice/core/printable.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::topology {

std::string_view OperatorSpec::type_name() const noexcept {
  // The order of OperatorBody's alternatives.
  constexpr std::array<std::string_view, std::variant_size_v<OperatorBody>> names{
      "filter", "map", "select", "flat_map", "rekey", "route", "merge", "aggregate", "dedupe", "join", "join"};
  return names[body.index()];
}

std::vector<std::string> OperatorSpec::repartition_topics() const {
  std::vector<std::string> topics;
  if (repartition_topic) topics.push_back(*repartition_topic);
  for (const auto& topic : input_repartition_topics) {
    if (topic && std::find(topics.begin(), topics.end(), *topic) == topics.end()) topics.push_back(*topic);
  }
  return topics;
}

std::string ValidationError::to_string() const {
  // Values in messages are already quoted and cut where they are written (detail::in_quotes); this is the net
  // for what is not, such as pointers inside messages or a JSON parser's own words about the file.
  constexpr std::size_t message_max_bytes = 4096;
  std::string shown = core::printable(message, message_max_bytes);
  // A root error (unreadable file, not an object) reads better without an empty pointer in front.
  if (pointer.empty()) return shown;
  return detail::display_pointer(pointer) + ": " + shown;
}

std::string_view to_string(KeyFormat format) noexcept {
  switch (format) {
    case KeyFormat::string: return "string";
    case KeyFormat::bytes: return "bytes";
    case KeyFormat::json: return "json";
    case KeyFormat::avro: return "avro";
    case KeyFormat::protobuf: return "protobuf";
  }
  return "unknown";
}

std::string_view to_string(ValueFormat format) noexcept {
  switch (format) {
    case ValueFormat::json: return "json";
    case ValueFormat::string: return "string";
    case ValueFormat::bytes: return "bytes";
    case ValueFormat::avro: return "avro";
    case ValueFormat::protobuf: return "protobuf";
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

std::string_view to_string(WindowType type) noexcept {
  switch (type) {
    case WindowType::tumbling: return "tumbling";
    case WindowType::hopping: return "hopping";
    case WindowType::sliding: return "sliding";
    case WindowType::session: return "session";
  }
  return "unknown";
}

std::string_view to_string(AggregateFunction function) noexcept {
  switch (function) {
    case AggregateFunction::count: return "count";
    case AggregateFunction::sum: return "sum";
    case AggregateFunction::min: return "min";
    case AggregateFunction::max: return "max";
    case AggregateFunction::avg: return "avg";
    case AggregateFunction::first: return "first";
    case AggregateFunction::last: return "last";
  }
  return "unknown";
}

std::string_view to_string(EmitMode mode) noexcept {
  switch (mode) {
    case EmitMode::update: return "update";
    case EmitMode::final: return "final";
  }
  return "unknown";
}

std::string_view to_string(JoinType type) noexcept {
  switch (type) {
    case JoinType::inner: return "inner";
    case JoinType::left: return "left";
    case JoinType::outer: return "outer";
  }
  return "unknown";
}

std::string_view to_string(InternalTopic::Kind kind) noexcept {
  switch (kind) {
    case InternalTopic::Kind::repartition: return "repartition";
    case InternalTopic::Kind::changelog: return "changelog";
  }
  return "unknown";
}

}  // namespace sluice::topology
