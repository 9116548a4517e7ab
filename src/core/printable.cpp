#include "sluice/core/printable.hpp"

#include <algorithm>
#include <cstdint>

namespace sluice::core {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// One character of the input: its bytes, and its code point when they are well-formed UTF-8.
struct Unit {
  std::size_t size = 1;
  char32_t code_point = 0;
  bool valid = false;
};

bool is_continuation(unsigned char byte) noexcept { return (byte & 0xC0) == 0x80; }

// Decodes the character at `text[at]` following the Unicode table of well-formed UTF-8 (no overlong forms, no
// surrogates, nothing above U+10FFFF). An ill-formed sequence is one invalid byte; decoding resumes after it.
Unit decode(std::string_view text, std::size_t at) noexcept {
  const auto byte = [&](std::size_t offset) { return static_cast<unsigned char>(text[at + offset]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return Unit{1, lead, true};
  std::size_t size = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    size = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    size = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    size = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return Unit{};
  }
  if (at + size > text.size()) return Unit{};
  if (byte(1) < low || byte(1) > high) return Unit{};
  for (std::size_t i = 2; i < size; ++i) {
    if (!is_continuation(byte(i))) return Unit{};
  }
  char32_t code_point = lead & (size == 2 ? 0x1F : size == 3 ? 0x0F : 0x07);
  for (std::size_t i = 1; i < size; ++i) code_point = (code_point << 6) | (byte(i) & 0x3F);
  return Unit{size, code_point, true};
}

// Characters that are invisible on screen yet change what is shown around them.
bool is_direction_or_separator(char32_t code_point) noexcept {
  return code_point == 0x061C || code_point == 0x200E || code_point == 0x200F ||
         (code_point >= 0x202A && code_point <= 0x202E) || (code_point >= 0x2066 && code_point <= 0x2069) ||
         code_point == 0x2028 || code_point == 0x2029;
}

bool needs_unicode_escape(char32_t code_point) noexcept {
  return code_point == 0x7F || (code_point >= 0x80 && code_point <= 0x9F) || is_direction_or_separator(code_point);
}

void append_hex_byte(std::string& out, unsigned char byte) {
  out += "\\x";
  out.push_back(kHexDigits[byte >> 4]);
  out.push_back(kHexDigits[byte & 0xF]);
}

void append_unicode_escape(std::string& out, char32_t code_point) {
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out.push_back(kHexDigits[(code_point >> shift) & 0xF]);
}

// The display form of one unit into `piece` (cleared first).
void display_unit(std::string_view text, std::size_t at, const Unit& unit, bool quote, std::string& piece) {
  piece.clear();
  if (!unit.valid) {
    append_hex_byte(piece, static_cast<unsigned char>(text[at]));
    return;
  }
  const char32_t c = unit.code_point;
  if (c == '\n') {
    piece = "\\n";
  } else if (c == '\r') {
    piece = "\\r";
  } else if (c == '\t') {
    piece = "\\t";
  } else if (c < 0x20 || c == 0x7F) {
    append_hex_byte(piece, static_cast<unsigned char>(c));
  } else if (needs_unicode_escape(c)) {
    append_unicode_escape(piece, c);
  } else if (quote && (c == '"' || c == '\\')) {
    piece.push_back('\\');
    piece.push_back(static_cast<char>(c));
  } else {
    piece.assign(text.substr(at, unit.size));
  }
}

// Appends the escaped text; returns false when it was cut at `max_bytes` (the caller then writes the length).
bool append_escaped(std::string& out, std::string_view text, std::size_t max_bytes, bool quote) {
  std::size_t written = 0;
  std::string piece;
  for (std::size_t at = 0; at < text.size();) {
    const Unit unit = decode(text, at);
    display_unit(text, at, unit, quote, piece);
    if (piece.size() > max_bytes - written) return false;
    out += piece;
    written += piece.size();
    at += unit.size;
  }
  return true;
}

void append_length(std::string& out, std::size_t size) {
  out += "...(";
  out += std::to_string(size);
  out += " bytes)";
}

}  // namespace

void append_printable(std::string& out, std::string_view text, std::size_t max_bytes) {
  if (!append_escaped(out, text, max_bytes, false)) append_length(out, text.size());
}

std::string printable(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 2);
  append_printable(out, text, max_bytes);
  return out;
}

std::string quoted(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 4);
  out.push_back('"');
  const bool whole = append_escaped(out, text, max_bytes, true);
  out.push_back('"');
  if (!whole) append_length(out, text.size());
  return out;
}

std::string escape_json_invisibles(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (std::size_t at = 0; at < json.size();) {
    const Unit unit = decode(json, at);
    if (!unit.valid) {
      out += "\\ufffd";
    } else if (needs_unicode_escape(unit.code_point)) {
      append_unicode_escape(out, unit.code_point);
    } else {
      out.append(json.substr(at, unit.size));
    }
    at += unit.size;
  }
  return out;
}

}  // namespace sluice::core
