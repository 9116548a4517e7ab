// Splits expression text into tokens. All tokens are produced up front: expressions are short and parsed once,
// and a complete token list lets the parser look ahead freely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/expr/expression.hpp"

namespace sluice::expr {

enum class TokenKind : std::uint8_t {
  end,
  integer,            // Token::integer holds the magnitude (a leading '-' is a separate token)
  floating,           // Token::floating
  string,             // Token::text holds the decoded contents
  identifier,         // Token::text
  quoted_identifier,  // `any name`; Token::text holds the name
  metadata,           // $name; Token::text holds the name without '$'
  left_paren,
  right_paren,
  left_bracket,
  right_bracket,
  comma,
  dot,
  plus,
  minus,
  star,
  slash,
  percent,
  equal_equal,
  bang_equal,
  less,
  less_equal,
  greater,
  greater_equal,
  bang,
  and_and,
  or_or,
  question_question,
  keyword_and,
  keyword_or,
  keyword_not,
  keyword_is,
  keyword_in,
  keyword_null,
  keyword_true,
  keyword_false,
};

struct Token {
  TokenKind kind = TokenKind::end;
  std::size_t position = 0;  // byte offset of the first character
  std::string_view source;   // the token's text as written, for messages
  std::string text;
  std::uint64_t integer = 0;
  double floating = 0.0;
};

// True for keywords and identifiers: the tokens that may name a field after '.'.
[[nodiscard]] bool is_word(TokenKind kind) noexcept;

// How a token is shown in a message: "')'", "identifier 'abc'", "end of input".
[[nodiscard]] std::string describe(const Token& token);

[[nodiscard]] std::variant<std::vector<Token>, ParseError> tokenize(std::string_view text);

}  // namespace sluice::expr
