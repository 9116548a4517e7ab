// Parsing of one HTTP/1.x request head (request line and header fields), as bytes arrive. A pure function with
// no I/O, so the server's event loop, the unit tests and the fuzz target all run the same code.
//
// Strict where leniency has been an attack surface (RFC 9112): a field name must be a token, a line folded
// onto the previous one (obs-fold) is rejected, control characters other than HTAB are rejected in values,
// bare CR is rejected; a bare LF ends a line (section 2.2 allows it). The body, if any, is never read: the
// server answers GET and HEAD only and closes the connection after every response.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::observe {

enum class HttpParse : unsigned char {
  incomplete,  // no end of the head yet and still within the limit: read more
  complete,    // `request` is filled; its views point into the parsed bytes
  malformed,   // answer 400
  too_large,   // the head exceeds the limit: answer 431
};

struct HttpRequestHead {
  std::string_view method;  // e.g. "GET"
  std::string_view target;  // as sent, e.g. "/metrics?x=1"
  std::string_view path;    // the target up to '?' or '#'
  std::string_view version; // "HTTP/1.1"
  std::vector<std::pair<std::string_view, std::string_view>> fields;  // names as sent; values without OWS

  // The first field named `name` (ASCII case-insensitive), if any.
  std::optional<std::string_view> field(std::string_view name) const noexcept;
};

struct HttpParseResult {
  HttpParse outcome = HttpParse::incomplete;
  HttpRequestHead request;      // valid when outcome == complete
  std::size_t head_bytes = 0;   // bytes of the head including the blank line, when complete
  std::string_view problem;     // why, when malformed or too_large (static text, safe to show)
};

// Parses the head at the start of `bytes`. A head (through its blank line) longer than `max_head_bytes`, or
// `bytes` longer than it with no end yet, is too_large. At most 100 header fields are accepted.
HttpParseResult parse_http_request(std::string_view bytes, std::size_t max_head_bytes);

// Whether `authorization` (an Authorization field value) carries `bearer_token` ("Bearer <token>") or
// `basic_credentials` ("user:password", sent base64-encoded as "Basic <...>"). Empty expectations never match.
// Compares in time independent of where the first difference is.
bool http_authorized(std::string_view authorization, std::string_view bearer_token,
                     std::string_view basic_credentials) noexcept;

}  // namespace sluice::observe
