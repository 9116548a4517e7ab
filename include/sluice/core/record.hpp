// A record flowing through a topology, and where it came from. Records are moved from operator to operator;
// fan-out copies them. The Origin points into the consumed Kafka message and is valid only while the input
// record that produced it is being processed (the runtime holds the message until then).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/value.hpp"

namespace sluice::core {

// A Kafka record header. Kafka distinguishes a null value from an empty one, and so does sluice: a null
// value is consumed, passed on (to sinks, to the dead-letter topic) and produced as null, and an expression
// reads it as null ($headers.name), never as "".
struct Header {
  std::string name;
  std::optional<std::string> value;  // nullopt: the header's value is null

  friend bool operator==(const Header&, const Header&) = default;
};

struct Record {
  Value key;                  // null: the record has no key
  Value value;
  std::int64_t timestamp_ms = 0;  // event time, milliseconds since the Unix epoch
  std::vector<Header> headers;    // kept from the input and written to sinks
};

// Provenance of the input record being processed: for dead-letter headers and expressions ($topic...).
struct Origin {
  std::string_view topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string_view raw_key;    // the key bytes as consumed
  bool has_key = false;        // false: the Kafka record had a null key
  std::string_view raw_value;  // the value bytes as consumed
  bool has_value = false;      // false: tombstone (null value)
};

}  // namespace sluice::core
