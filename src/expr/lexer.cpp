#include "lexer.hpp"

#include <charconv>
#include <system_error>

namespace sluice::expr {
namespace {

struct Keyword {
  std::string_view text;
  TokenKind kind;
};

constexpr Keyword keywords[] = {
    {"and", TokenKind::keyword_and},   {"or", TokenKind::keyword_or},     {"not", TokenKind::keyword_not},
    {"is", TokenKind::keyword_is},     {"in", TokenKind::keyword_in},     {"null", TokenKind::keyword_null},
    {"true", TokenKind::keyword_true}, {"false", TokenKind::keyword_false},
};

constexpr std::string_view metadata_names[] = {"key", "value", "timestamp", "topic", "partition", "offset", "headers"};

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_identifier_start(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_identifier_part(char c) noexcept { return is_identifier_start(c) || is_digit(c); }
bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int hex_digit_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::uint32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// Shows a character in a message; control and non-ASCII bytes are written as hex so the message stays readable.
std::string show_character(char c) {
  auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7F) return std::string("'") + c + "'";
  constexpr char digits[] = "0123456789ABCDEF";
  return std::string("byte 0x") + digits[byte >> 4] + digits[byte & 0xF];
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  std::variant<std::vector<Token>, ParseError> run() {
    std::vector<Token> tokens;
    while (true) {
      while (position_ < text_.size() && is_space(text_[position_])) ++position_;
      Token token;
      token.position = position_;
      if (position_ >= text_.size()) {
        token.kind = TokenKind::end;
        tokens.push_back(std::move(token));
        return tokens;
      }
      if (!scan(token)) return std::move(error_);
      token.source = text_.substr(token.position, position_ - token.position);
      tokens.push_back(std::move(token));
    }
  }

 private:
  bool fail(std::size_t position, std::string message) {
    error_ = ParseError{position, std::move(message)};
    return false;
  }

  char peek(std::size_t ahead = 0) const noexcept {
    return position_ + ahead < text_.size() ? text_[position_ + ahead] : '\0';
  }

  bool scan(Token& token) {
    char c = text_[position_];
    if (is_digit(c)) return scan_number(token);
    if (is_identifier_start(c)) return scan_word(token);
    switch (c) {
      case '\'':
      case '"': return scan_string(token);
      case '`': return scan_quoted_identifier(token);
      case '$': return scan_metadata(token);
      case '(': return single(token, TokenKind::left_paren);
      case ')': return single(token, TokenKind::right_paren);
      case '[': return single(token, TokenKind::left_bracket);
      case ']': return single(token, TokenKind::right_bracket);
      case ',': return single(token, TokenKind::comma);
      case '.': return single(token, TokenKind::dot);
      case '+': return single(token, TokenKind::plus);
      case '-': return single(token, TokenKind::minus);
      case '*': return single(token, TokenKind::star);
      case '/': return single(token, TokenKind::slash);
      case '%': return single(token, TokenKind::percent);
      case '=':
        if (peek(1) == '=') return pair(token, TokenKind::equal_equal);
        return fail(position_, "unexpected '='; use '==' to compare");
      case '!':
        if (peek(1) == '=') return pair(token, TokenKind::bang_equal);
        return single(token, TokenKind::bang);
      case '<':
        if (peek(1) == '=') return pair(token, TokenKind::less_equal);
        return single(token, TokenKind::less);
      case '>':
        if (peek(1) == '=') return pair(token, TokenKind::greater_equal);
        return single(token, TokenKind::greater);
      case '&':
        if (peek(1) == '&') return pair(token, TokenKind::and_and);
        return fail(position_, "unexpected '&'; use '&&' or 'and'");
      case '|':
        if (peek(1) == '|') return pair(token, TokenKind::or_or);
        return fail(position_, "unexpected '|'; use '||' or 'or'");
      case '?':
        if (peek(1) == '?') return pair(token, TokenKind::question_question);
        return fail(position_, "unexpected '?'; use '?" "?' for a default value");
      default: return fail(position_, "unexpected character " + show_character(c));
    }
  }

  bool single(Token& token, TokenKind kind) {
    token.kind = kind;
    position_ += 1;
    return true;
  }

  bool pair(Token& token, TokenKind kind) {
    token.kind = kind;
    position_ += 2;
    return true;
  }

  bool scan_number(Token& token) {
    std::size_t start = position_;
    bool is_floating = false;
    while (is_digit(peek())) ++position_;
    // A '.' not followed by a digit is member access (`1.x`), not a fraction.
    if (peek() == '.' && is_digit(peek(1))) {
      is_floating = true;
      ++position_;
      while (is_digit(peek())) ++position_;
    }
    if (peek() == 'e' || peek() == 'E') {
      std::size_t sign = (peek(1) == '+' || peek(1) == '-') ? 1 : 0;
      if (!is_digit(peek(1 + sign))) return fail(position_, "expected digits in the exponent of the number");
      is_floating = true;
      position_ += 1 + sign;
      while (is_digit(peek())) ++position_;
    }
    std::string_view digits = text_.substr(start, position_ - start);
    if (is_identifier_part(peek())) {
      std::size_t end = position_;
      while (end < text_.size() && is_identifier_part(text_[end])) ++end;
      return fail(start, "invalid number '" + std::string(text_.substr(start, end - start)) + "'");
    }
    if (is_floating) {
      token.kind = TokenKind::floating;
      auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), token.floating);
      if (error != std::errc() || end != digits.data() + digits.size()) {
        return fail(start, "number " + std::string(digits) + " is out of range");
      }
      return true;
    }
    token.kind = TokenKind::integer;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), token.integer);
    if (error != std::errc() || end != digits.data() + digits.size()) {
      return fail(start, "integer " + std::string(digits) + " is out of range");
    }
    return true;
  }

  bool scan_word(Token& token) {
    std::size_t start = position_;
    while (is_identifier_part(peek())) ++position_;
    std::string_view word = text_.substr(start, position_ - start);
    token.kind = TokenKind::identifier;
    for (const Keyword& keyword : keywords) {
      if (keyword.text == word) token.kind = keyword.kind;
    }
    token.text = std::string(word);
    return true;
  }

  bool scan_string(Token& token) {
    std::size_t start = position_;
    char quote = text_[position_++];
    token.kind = TokenKind::string;
    while (true) {
      if (position_ >= text_.size()) {
        return fail(start, std::string("unterminated string; expected a closing ") + quote);
      }
      char c = text_[position_];
      if (c == quote) {
        ++position_;
        return true;
      }
      if (c != '\\') {
        token.text.push_back(c);
        ++position_;
        continue;
      }
      if (!scan_escape(token.text)) return false;
    }
  }

  bool scan_escape(std::string& out) {
    std::size_t start = position_;
    char escaped = peek(1);
    position_ += 2;
    switch (escaped) {
      case '\\': out.push_back('\\'); return true;
      case '\'': out.push_back('\''); return true;
      case '"': out.push_back('"'); return true;
      case 'n': out.push_back('\n'); return true;
      case 't': out.push_back('\t'); return true;
      case 'r': out.push_back('\r'); return true;
      case 'u': break;
      case '\0':
        if (start + 1 >= text_.size()) return fail(start, "unterminated string; expected a character after '\\'");
        [[fallthrough]];
      default:
        return fail(start, "invalid escape " + show_character(escaped) +
                               " in string; expected one of \\\\ \\' \\\" \\n \\r \\t \\uXXXX");
    }
    std::uint32_t code_point = 0;
    if (!scan_hex4(start, code_point)) return false;
    if (code_point >= 0xDC00 && code_point <= 0xDFFF) {
      return fail(start, "invalid \\u escape: low surrogate without a preceding high surrogate");
    }
    if (code_point >= 0xD800 && code_point <= 0xDBFF) {
      // UTF-16 surrogate pair, as JSON writes characters outside the basic plane.
      std::size_t low_start = position_;
      if (peek() != '\\' || peek(1) != 'u') {
        return fail(start, "invalid \\u escape: high surrogate must be followed by a \\u low surrogate");
      }
      position_ += 2;
      std::uint32_t low = 0;
      if (!scan_hex4(low_start, low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) {
        return fail(low_start, "invalid \\u escape: expected a low surrogate (\\uDC00 to \\uDFFF)");
      }
      code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(code_point, out);
    return true;
  }

  bool scan_hex4(std::size_t escape_start, std::uint32_t& value) {
    value = 0;
    for (int i = 0; i < 4; ++i) {
      int digit = hex_digit_value(peek());
      if (digit < 0) return fail(escape_start, "invalid \\u escape: expected 4 hexadecimal digits");
      value = value * 16 + static_cast<std::uint32_t>(digit);
      ++position_;
    }
    return true;
  }

  bool scan_quoted_identifier(Token& token) {
    std::size_t start = position_;
    std::size_t close = text_.find('`', start + 1);
    if (close == std::string_view::npos) return fail(start, "unterminated quoted identifier; expected a closing `");
    if (close == start + 1) return fail(start, "empty quoted identifier ``");
    token.kind = TokenKind::quoted_identifier;
    token.text = std::string(text_.substr(start + 1, close - start - 1));
    position_ = close + 1;
    return true;
  }

  bool scan_metadata(Token& token) {
    std::size_t start = position_;
    ++position_;
    while (is_identifier_part(peek())) ++position_;
    std::string_view name = text_.substr(start + 1, position_ - start - 1);
    for (std::string_view known : metadata_names) {
      if (known == name) {
        token.kind = TokenKind::metadata;
        token.text = std::string(name);
        return true;
      }
    }
    std::string message = name.empty() ? "expected a metadata name after '$'"
                                       : "unknown metadata '$" + std::string(name) + "'";
    message += "; expected one of $key, $value, $timestamp, $topic, $partition, $offset, $headers";
    return fail(start, std::move(message));
  }

  std::string_view text_;
  std::size_t position_ = 0;
  ParseError error_;
};

}  // namespace

bool is_word(TokenKind kind) noexcept {
  switch (kind) {
    case TokenKind::identifier:
    case TokenKind::quoted_identifier:
    case TokenKind::keyword_and:
    case TokenKind::keyword_or:
    case TokenKind::keyword_not:
    case TokenKind::keyword_is:
    case TokenKind::keyword_in:
    case TokenKind::keyword_null:
    case TokenKind::keyword_true:
    case TokenKind::keyword_false: return true;
    default: return false;
  }
}

std::string describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::end: return "end of input";
    case TokenKind::identifier: return "identifier '" + token.text + "'";
    case TokenKind::quoted_identifier: return "identifier `" + token.text + "`";
    case TokenKind::integer:
    case TokenKind::floating: return "number " + std::string(token.source);
    case TokenKind::string: return "string " + std::string(token.source);
    default: return "'" + std::string(token.source) + "'";
  }
}

std::variant<std::vector<Token>, ParseError> tokenize(std::string_view text) { return Lexer(text).run(); }

}  // namespace sluice::expr
