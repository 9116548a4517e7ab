#include <gtest/gtest.h>

#include <string>

#include "sluice/core/printable.hpp"

using namespace sluice::core;

namespace {

// True when `text` has no byte a terminal would act on: C0, DEL, C1 (as UTF-8) or a bidi / separator mark.
bool terminal_safe(const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7F) return false;
    if (byte == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9F) return false;
    for (const char* mark : {"\u202e", "\u2066", "\u200f", "\u061c", "\u2028"}) {
      if (text.compare(i, std::char_traits<char>::length(mark), mark) == 0) return false;
    }
  }
  return true;
}

}  // namespace

TEST(Printable, NamedC0ControlsAreWrittenAsTheirEscapes) {
  EXPECT_EQ(printable("a\nb\rc\td"), "a\\nb\\rc\\td");
}

TEST(Printable, OtherC0ControlsAndDelAreWrittenAsHexBytes) {
  EXPECT_EQ(printable("\x1b[2Kvalid"), "\\x1b[2Kvalid");
  EXPECT_EQ(printable(std::string_view("nul\0here", 8)), "nul\\x00here");
  EXPECT_EQ(printable("\x07\x08\x0b\x0c\x1f"), "\\x07\\x08\\x0b\\x0c\\x1f");
  EXPECT_EQ(printable("rub\x7fout"), "rub\\x7fout");
}

TEST(Printable, C1ControlsAreWrittenAsCodePoints) {
  EXPECT_EQ(printable("next\u0085line"), "next\\u0085line");
  EXPECT_EQ(printable("csi\u009b2K"), "csi\\u009b2K");
  EXPECT_EQ(printable("\u0080"), "\\u0080");
  EXPECT_EQ(printable("\u00a0"), "\u00a0");  // no-break space: printable, the first code point after C1
}

TEST(Printable, BidiAndDirectionMarksAreWrittenAsCodePoints) {
  EXPECT_EQ(printable("evil\u202etxt.exe"), "evil\\u202etxt.exe");
  for (const char32_t code_point : {0x061Cu, 0x200Eu, 0x200Fu, 0x202Au, 0x202Bu, 0x202Cu, 0x202Du, 0x202Eu, 0x2066u,
                                    0x2067u, 0x2068u, 0x2069u, 0x2028u, 0x2029u}) {
    std::string text;
    if (code_point < 0x800) {
      text = {static_cast<char>(0xC0 | (code_point >> 6)), static_cast<char>(0x80 | (code_point & 0x3F))};
    } else {
      text = {static_cast<char>(0xE0 | (code_point >> 12)), static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)),
              static_cast<char>(0x80 | (code_point & 0x3F))};
    }
    char expected[8];
    std::snprintf(expected, sizeof expected, "\\u%04x", static_cast<unsigned>(code_point));
    EXPECT_EQ(printable(text), expected);
  }
  // Neighbours of the escaped ranges are ordinary text.
  EXPECT_EQ(printable("\u2029\u202f\u2065\u206a"), "\\u2029\u202f\u2065\u206a");
}

TEST(Printable, InvalidUtf8BytesAreWrittenAsHexBytes) {
  EXPECT_EQ(printable("\xff"), "\\xff");
  EXPECT_EQ(printable("a\xc3"), "a\\xc3");                 // truncated sequence at the end
  EXPECT_EQ(printable("\xc3(x"), "\\xc3(x");               // lead byte without its continuation
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");          // overlong "/"
  EXPECT_EQ(printable("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");  // overlong, three bytes
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a UTF-16 surrogate
  EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(printable("\x80"), "\\x80");                   // a lone continuation byte
}

TEST(Printable, ValidMultiByteUtf8PassesUnchanged) {
  const std::string text = "Grüße, 東京, emoji 🦀, ½, ü at the end: ü";
  EXPECT_EQ(printable(text), text);
  EXPECT_EQ(printable("\U0010FFFF"), "\U0010FFFF");
  EXPECT_EQ(printable("plain ascii ~!@#$%^&*()_+{}|:\"<>?\\"), "plain ascii ~!@#$%^&*()_+{}|:\"<>?\\");
}

TEST(Printable, IsIdempotent) {
  const std::string once = printable("a\nb\x1b\u202e\xff\"\\");
  EXPECT_EQ(printable(once), once);
  EXPECT_TRUE(terminal_safe(once));
}

TEST(Printable, LongTextIsCutAndSaysHowLongItWas) {
  const std::string name(1'048'576, 'a');
  const std::string shown = printable(name);
  EXPECT_EQ(shown, std::string(256, 'a') + "...(1048576 bytes)");
  EXPECT_EQ(printable(std::string(256, 'b')), std::string(256, 'b'));  // exactly the limit: whole
  EXPECT_EQ(printable("abcdef", 4), "abcd...(6 bytes)");
  EXPECT_EQ(printable("abc", 0), "...(3 bytes)");
  EXPECT_EQ(printable(name, kDisplayUnlimited).size(), name.size());
}

TEST(Printable, CutsNeverSplitACharacterOrAnEscape) {
  // "ab" + "\n" (escaped to 2 bytes) does not fit in 3: the cut comes before the escape, not inside it.
  EXPECT_EQ(printable("ab\ncd", 3), "ab...(5 bytes)");
  // "é" is two bytes; with one byte left it is left out whole.
  EXPECT_EQ(printable("aé", 2), "a...(3 bytes)");
  // An escape that expands a short input can make it too long too; the length is that of the input.
  EXPECT_EQ(printable("\x1b\x1b\x1b", 8), "\\x1b\\x1b...(3 bytes)");
}

TEST(Quoted, EscapesQuotesAndBackslashesAndKeepsTheLengthOutsideTheQuotes) {
  EXPECT_EQ(quoted("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
  EXPECT_EQ(quoted("a\n\u202e"), "\"a\\n\\u202e\"");
  EXPECT_EQ(quoted("abcdef", 3), "\"abc\"...(6 bytes)");
}

TEST(EscapeJsonInvisibles, EscapesWhatJsonLibrariesLeaveRaw) {
  EXPECT_EQ(escape_json_invisibles("{\"name\":\"a\u202eb\x7f\u0085\"}"),
            "{\"name\":\"a\\u202eb\\u007f\\u0085\"}");
  EXPECT_EQ(escape_json_invisibles("[\"\xff\"]"), "[\"\\ufffd\"]");
  EXPECT_EQ(escape_json_invisibles("{\"city\":\"Zürich\"}"), "{\"city\":\"Zürich\"}");
}
