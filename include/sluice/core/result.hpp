// Errors of the per-record hot path and the result type that carries them. A record error is a property of
// the data (unparseable, missing field, wrong type, late): the runtime dead-letters the record and goes on.
// Failures of external systems and configuration errors are not RecordErrors (see runtime and app).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sluice::core {

enum class RecordErrorKind : std::uint8_t {
  deserialization,  // key or value bytes do not parse in the declared format
  missing_field,    // a required field (timestamp, key, array to explode) is absent or null
  type_error,       // an expression met a value of the wrong type
  arithmetic,       // division by zero, integer overflow
  invalid_value,    // a value of the right type that is not acceptable (bad time string, negative timestamp)
  late,             // event time beyond a window's grace period (stateful operators)
  output_rejected,  // an output of the record can never be written (too large for the topic, refused as invalid)
};

// The name written in the dead-letter header `sluice.error.kind` and in metric labels.
std::string_view to_string(RecordErrorKind kind) noexcept;

struct RecordError {
  RecordErrorKind kind;
  std::string message;
};

// A value or a RecordError. Small, movable, and [[nodiscard]] so no error is dropped by accident.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(implicit)
  Result(RecordError error) : data_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(implicit)

  bool ok() const noexcept { return data_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(data_); }
  const T& value() const& { return std::get<0>(data_); }
  T&& value() && { return std::get<0>(std::move(data_)); }
  const RecordError& error() const& { return std::get<1>(data_); }
  RecordError&& error() && { return std::get<1>(std::move(data_)); }

 private:
  std::variant<T, RecordError> data_;
};

// Outcome of a step that produces nothing but may fail with a RecordError.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(RecordError error) : error_(std::move(error)), failed_(true) {}  // NOLINT(implicit)
  static Status success() { return Status(); }
  bool ok() const noexcept { return !failed_; }
  const RecordError& error() const& { return error_; }
  RecordError&& error() && { return std::move(error_); }

 private:
  RecordError error_{RecordErrorKind::type_error, {}};
  bool failed_ = false;
};

inline RecordError make_error(RecordErrorKind kind, std::string message) { return RecordError{kind, std::move(message)}; }

}  // namespace sluice::core
