#include "sluice/observe/http_request.hpp"

#include <string>

namespace sluice::observe {
namespace {

constexpr std::size_t kMaxFields = 100;

bool is_token_char(unsigned char c) noexcept {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return extra.find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view text) noexcept {
  if (text.empty()) return false;
  for (unsigned char c : text) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

// A target is printable ASCII without spaces (origin-form or anything else the router will simply not know).
bool is_target(std::string_view text) noexcept {
  if (text.empty()) return false;
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

bool is_field_value(std::string_view text) noexcept {
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c | 0x20 : c; };
    if (lower(static_cast<unsigned char>(a[i])) != lower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

HttpParseResult failure(HttpParse outcome, std::string_view problem) {
  HttpParseResult result;
  result.outcome = outcome;
  result.problem = problem;
  return result;
}

// Splits off one line ending in LF (an optional CR before it); nullopt when no LF yet. A CR anywhere else is
// malformed, reported through `bare_cr`.
std::optional<std::string_view> next_line(std::string_view& rest, bool& bare_cr) noexcept {
  const auto lf = rest.find('\n');
  if (lf == std::string_view::npos) return std::nullopt;
  std::string_view line = rest.substr(0, lf);
  rest.remove_prefix(lf + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find('\r') != std::string_view::npos) bare_cr = true;
  return line;
}

bool equal_in_constant_time(std::string_view given, std::string_view expected) noexcept {
  // The time depends on the lengths only, never on where the contents first differ.
  unsigned difference = given.size() == expected.size() ? 0U : 1U;
  for (std::size_t i = 0; i < given.size(); ++i) {
    const unsigned char e = expected.empty() ? 0 : static_cast<unsigned char>(expected[i % expected.size()]);
    difference |= static_cast<unsigned char>(given[i]) ^ e;
  }
  return difference == 0;
}

std::string base64(std::string_view text) {
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string encoded;
  encoded.reserve((text.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < text.size(); i += 3) {
    const unsigned n = static_cast<unsigned char>(text[i]) << 16 | static_cast<unsigned char>(text[i + 1]) << 8 |
                       static_cast<unsigned char>(text[i + 2]);
    for (int shift : {18, 12, 6, 0}) encoded += alphabet[(n >> shift) & 63];
  }
  if (const std::size_t left = text.size() - i; left > 0) {
    unsigned n = static_cast<unsigned char>(text[i]) << 16;
    if (left == 2) n |= static_cast<unsigned char>(text[i + 1]) << 8;
    encoded += alphabet[(n >> 18) & 63];
    encoded += alphabet[(n >> 12) & 63];
    encoded += left == 2 ? alphabet[(n >> 6) & 63] : '=';
    encoded += '=';
  }
  return encoded;
}

}  // namespace

std::optional<std::string_view> HttpRequestHead::field(std::string_view name) const noexcept {
  for (const auto& [field_name, value] : fields) {
    if (iequals(field_name, name)) return value;
  }
  return std::nullopt;
}

HttpParseResult parse_http_request(std::string_view bytes, std::size_t max_head_bytes) {
  // Find the end of the head first, within the limit, so that nothing is parsed twice per arrival of bytes
  // and no amount of input makes the parser do more than linear work on max_head_bytes.
  const std::string_view window = bytes.substr(0, max_head_bytes);
  std::size_t end = std::string_view::npos;
  for (std::size_t lf = window.find('\n'); lf != std::string_view::npos; lf = window.find('\n', lf + 1)) {
    const std::size_t next = lf + 1;
    if (next < window.size() && window[next] == '\n') {
      end = next + 1;
      break;
    }
    if (next + 1 < window.size() && window[next] == '\r' && window[next + 1] == '\n') {
      end = next + 2;
      break;
    }
  }
  if (end == std::string_view::npos) {
    // A leading empty line before the request line is tolerated by RFC 9112 (2.2) only as one CRLF; a head
    // that is a bare blank line is simply malformed.
    if (bytes.size() >= max_head_bytes) return failure(HttpParse::too_large, "request head too large");
    return HttpParseResult{};
  }

  std::string_view rest = bytes.substr(0, end);
  bool bare_cr = false;
  HttpParseResult result;
  const auto request_line = next_line(rest, bare_cr);
  if (!request_line || bare_cr) return failure(HttpParse::malformed, "malformed request line");
  const auto first_space = request_line->find(' ');
  const auto last_space = request_line->rfind(' ');
  if (first_space == std::string_view::npos || first_space == last_space) {
    return failure(HttpParse::malformed, "malformed request line");
  }
  auto& request = result.request;
  request.method = request_line->substr(0, first_space);
  request.target = request_line->substr(first_space + 1, last_space - first_space - 1);
  request.version = request_line->substr(last_space + 1);
  if (!is_token(request.method)) return failure(HttpParse::malformed, "malformed method");
  if (!is_target(request.target)) return failure(HttpParse::malformed, "malformed request target");
  if (request.version != "HTTP/1.1" && request.version != "HTTP/1.0") {
    return failure(HttpParse::malformed, "unsupported HTTP version");
  }
  request.path = request.target.substr(0, request.target.find_first_of("?#"));

  while (true) {
    const auto line = next_line(rest, bare_cr);
    if (!line || bare_cr) return failure(HttpParse::malformed, "malformed header field");
    if (line->empty()) break;
    if (line->front() == ' ' || line->front() == '\t') return failure(HttpParse::malformed, "folded header field");
    const auto colon = line->find(':');
    if (colon == std::string_view::npos) return failure(HttpParse::malformed, "header field without a colon");
    const std::string_view name = line->substr(0, colon);
    const std::string_view value = trim_ows(line->substr(colon + 1));
    if (!is_token(name)) return failure(HttpParse::malformed, "malformed header field name");
    if (!is_field_value(value)) return failure(HttpParse::malformed, "control character in a header field");
    if (request.fields.size() == kMaxFields) return failure(HttpParse::too_large, "too many header fields");
    request.fields.emplace_back(name, value);
  }
  result.outcome = HttpParse::complete;
  result.head_bytes = end;
  return result;
}

bool http_authorized(std::string_view authorization, std::string_view bearer_token,
                     std::string_view basic_credentials) noexcept {
  const auto space = authorization.find(' ');
  if (space == std::string_view::npos) return false;
  const std::string_view scheme = authorization.substr(0, space);
  const std::string_view credentials = trim_ows(authorization.substr(space + 1));
  if (iequals(scheme, "Bearer") && !bearer_token.empty()) return equal_in_constant_time(credentials, bearer_token);
  if (iequals(scheme, "Basic") && !basic_credentials.empty()) {
    try {
      return equal_in_constant_time(credentials, base64(basic_credentials));
    } catch (...) {  // allocation failure: not authorized
      return false;
    }
  }
  return false;
}

}  // namespace sluice::observe
