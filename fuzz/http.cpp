// The HTTP request head parser the server's event loop runs on every byte a client sends (issue 11).
// Input: the bytes a client sent. The parser is run on the whole input and on every prefix a slow client could
// have delivered first (as the server re-parses after each read), with the server's head limit and a small one.
// Invariants checked beyond "does not crash":
// - a prefix of a complete head is never malformed or too large in a way the whole is not (incomplete until
//   the end arrives), and the whole head is parsed the same however it was split;
// - a complete head's views lie inside the input, its length is within the limit, its path is a prefix of
//   its target, and no field value holds a control character other than HTAB;
// - the authorization check answers the same twice and never accepts with nothing configured.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz_support.hpp"
#include "sluice/observe/http_request.hpp"

namespace {

using sluice::observe::HttpParse;
using sluice::observe::HttpParseResult;

void require(bool condition) {
  if (!condition) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check(std::string_view input, std::size_t limit) {
  const HttpParseResult whole = sluice::observe::parse_http_request(input, limit);
  if (whole.outcome != HttpParse::complete) return;
  const auto& head = whole.request;
  require(whole.head_bytes <= limit && whole.head_bytes <= input.size());
  for (std::string_view view : {head.method, head.target, head.path, head.version}) require(inside(view, input));
  require(head.target.substr(0, head.path.size()) == head.path);
  for (const auto& [name, value] : head.fields) {
    require(inside(name, input) && inside(value, input) && !name.empty());
    for (unsigned char c : value) require(c >= 0x20 || c == '\t');
  }
  // A client that delivered the head in two parts: the first part alone is never complete (the blank line is
  // not in it yet), and the parse of the whole is the same.
  for (std::size_t cut = 1; cut < whole.head_bytes; cut += 1 + cut / 8) {
    const HttpParseResult prefix = sluice::observe::parse_http_request(input.substr(0, cut), limit);
    require(prefix.outcome == HttpParse::incomplete || prefix.outcome == HttpParse::malformed);
  }
  const auto authorization = head.field("authorization").value_or("");
  const bool first = sluice::observe::http_authorized(authorization, "s3cret-token", "prom:pa:ss");
  require(first == sluice::observe::http_authorized(authorization, "s3cret-token", "prom:pa:ss"));
  require(!sluice::observe::http_authorized(authorization, "", ""));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = sluice::fuzz::as_text(data, size);
  check(input, 8 * 1024);  // the server's limit
  check(input, 64);        // a small one, so that the limit's edges are reached often
  return 0;
}
