// Meta values of the state stores (changelog offsets, stream time, global-table offsets and row counts):
// 8-byte big-endian two's complement, fixed size and readable with any tool that dumps hex. Internal to state.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice::state::detail {

inline std::string encode_int64(std::int64_t value) {
  auto bits = static_cast<std::uint64_t>(value);
  std::string bytes(8, '\0');
  for (int index = 7; index >= 0; --index) {
    bytes[static_cast<std::size_t>(index)] = static_cast<char>(bits & 0xffu);
    bits >>= 8;
  }
  return bytes;
}

// `what` names the entry in the error a corrupt value raises.
inline std::int64_t decode_int64(std::string_view bytes, std::string_view what) {
  if (bytes.size() != 8) {
    throw std::runtime_error("state: corrupt meta entry " + std::string(what) + ": " + std::to_string(bytes.size()) +
                             " bytes, expected 8");
  }
  std::uint64_t bits = 0;
  for (const char byte : bytes) bits = (bits << 8) | static_cast<unsigned char>(byte);
  return static_cast<std::int64_t>(bits);
}

}  // namespace sluice::state::detail
