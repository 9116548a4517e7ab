// Text from outside (names and values in topology and settings files, command-line arguments, record fields)
// as it may be shown on a terminal, in a log line or in an error message: every character that moves the cursor,
// rewrites the screen or reorders the text around it is written as a visible escape, and long values are cut
// with their real length, so a crafted name can neither redraw a line nor bury the rest of a message.
//
// Escaped: the C0 controls (\n, \r, \t by name, the others as \x1b), DEL (\x7f), the C1 controls (\u0085), the
// bidi and direction marks U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069, the line and paragraph
// separators U+2028 and U+2029 (\u202e), and every byte that is not part of well-formed UTF-8 (\xff). Every
// other character, including valid multi-byte UTF-8, passes unchanged. The backslash is not escaped, so the
// form is meant for reading, not for decoding; printable() of its own output returns it unchanged.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>

namespace sluice::core {

// The default limit for one value in a message: a name or a topic fits whole (Kafka allows 249 bytes).
inline constexpr std::size_t kDisplayMaxBytes = 256;
inline constexpr std::size_t kDisplayUnlimited = std::numeric_limits<std::size_t>::max();

// `text` with the characters above escaped. When the escaped form would be longer than `max_bytes`, as much as
// fits (never splitting a character or an escape) is followed by "...(<size of text> bytes)".
std::string printable(std::string_view text, std::size_t max_bytes = kDisplayMaxBytes);
void append_printable(std::string& out, std::string_view text, std::size_t max_bytes = kDisplayMaxBytes);

// `text` in double quotes, escaped like printable() and with `"` and `\` escaped too (so the quotes cannot be
// closed early); a cut value ends with `"...(<size> bytes)`, the length outside the quotes.
std::string quoted(std::string_view text, std::size_t max_bytes = kDisplayMaxBytes);

// A JSON text with DEL, the C1 controls, the bidi marks and the line separators escaped as \uXXXX, and any
// ill-formed UTF-8 byte as \ufffd; the JSON libraries escape only U+0000..U+001F. These characters occur only
// inside strings, so the result is the same JSON document.
std::string escape_json_invisibles(std::string_view json);

}  // namespace sluice::core
