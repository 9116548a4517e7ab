#include "sluice/observe/http_request.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sluice::observe {
namespace {

TEST(HttpRequest, ParsesARequestHeadAndItsFields) {
  const std::string bytes = "GET /metrics?name=x HTTP/1.1\r\nHost: localhost:8080\r\nAuthorization:  Bearer abc \r\n\r\n";
  const auto parsed = parse_http_request(bytes, 8192);
  ASSERT_EQ(parsed.outcome, HttpParse::complete);
  EXPECT_EQ(parsed.head_bytes, bytes.size());
  EXPECT_EQ(parsed.request.method, "GET");
  EXPECT_EQ(parsed.request.target, "/metrics?name=x");
  EXPECT_EQ(parsed.request.path, "/metrics");
  EXPECT_EQ(parsed.request.version, "HTTP/1.1");
  EXPECT_EQ(parsed.request.field("host"), "localhost:8080");
  EXPECT_EQ(parsed.request.field("AUTHORIZATION"), "Bearer abc");
  EXPECT_FALSE(parsed.request.field("cookie").has_value());
}

TEST(HttpRequest, BareLineFeedsEndLinesToo) {
  const auto parsed = parse_http_request("GET /healthz HTTP/1.0\nHost: a\n\n", 8192);
  ASSERT_EQ(parsed.outcome, HttpParse::complete);
  EXPECT_EQ(parsed.request.path, "/healthz");
  EXPECT_EQ(parsed.request.field("host"), "a");
}

TEST(HttpRequest, AHeadWithoutItsBlankLineIsIncompleteUntilTheLimit) {
  EXPECT_EQ(parse_http_request("", 64).outcome, HttpParse::incomplete);
  EXPECT_EQ(parse_http_request("GET /healthz HTTP/1.1\r\nHost: a\r\n", 64).outcome, HttpParse::incomplete);
  const std::string slow = "GET / HTTP/1.1\r\n" + std::string(100, 'X');
  const auto parsed = parse_http_request(slow, 64);
  EXPECT_EQ(parsed.outcome, HttpParse::too_large);
  // A complete head that does not fit the limit is too large as well, not half-parsed.
  const std::string big = "GET / HTTP/1.1\r\nX-Filler: " + std::string(100, 'y') + "\r\n\r\n";
  EXPECT_EQ(parse_http_request(big, 64).outcome, HttpParse::too_large);
  EXPECT_EQ(parse_http_request(big, big.size()).outcome, HttpParse::complete);
}

TEST(HttpRequest, RejectsWhatSmugglingAndInjectionNeed) {
  const char* malformed[] = {
      "GET /a HTTP/1.1\r\nX: a\rb\r\n\r\n",           // bare CR inside a line
      "GET /a HTTP/1.1\r\nX: a\r\n continued\r\n\r\n",  // obs-fold
      "GET /a HTTP/1.1\r\nBad Name: a\r\n\r\n",         // a field name that is not a token
      "GET /a HTTP/1.1\r\nNoColon\r\n\r\n",
      "GET /a HTTP/1.1\r\nX: a\x01z\r\n\r\n",          // a control character in a value
      "GET /a\x1b[2K HTTP/1.1\r\n\r\n",               // ESC in the target
      "GET /a HTTP/2.0\r\n\r\n",
      "GET /a\r\n\r\n",
      "GET\r\n\r\n",
      "\r\n\r\n",
      "G(T /a HTTP/1.1\r\n\r\n",
  };
  for (const char* text : malformed) {
    EXPECT_EQ(parse_http_request(text, 8192).outcome, HttpParse::malformed) << text;
  }
}

TEST(HttpRequest, AcceptsAHundredFieldsButNotMore) {
  std::string head = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 100; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(parse_http_request(head + "\r\n", 1 << 20).outcome, HttpParse::complete);
  EXPECT_EQ(parse_http_request(head + "X-more: v\r\n\r\n", 1 << 20).outcome, HttpParse::too_large);
}

TEST(HttpRequest, AuthorizationByBearerTokenOrBasicCredentials) {
  EXPECT_TRUE(http_authorized("Bearer s3cret", "s3cret", ""));
  EXPECT_TRUE(http_authorized("bearer s3cret", "s3cret", ""));
  EXPECT_FALSE(http_authorized("Bearer s3cre", "s3cret", ""));
  EXPECT_FALSE(http_authorized("Bearer s3cret0", "s3cret", ""));
  EXPECT_FALSE(http_authorized("Bearer ", "s3cret", ""));
  EXPECT_FALSE(http_authorized("", "s3cret", ""));
  // "prom:pa:ss" in base64; the password may hold colons.
  EXPECT_TRUE(http_authorized("Basic cHJvbTpwYTpzcw==", "", "prom:pa:ss"));
  EXPECT_TRUE(http_authorized("Basic cHJvbTpwYTpzcw==", "s3cret", "prom:pa:ss"));
  EXPECT_FALSE(http_authorized("Basic cHJvbTpwYTpzcw==", "s3cret", ""));
  EXPECT_FALSE(http_authorized("Basic cHJvbTpwYTpzcA==", "", "prom:pa:ss"));
  // Nothing configured never authorizes, whatever is sent.
  EXPECT_FALSE(http_authorized("Bearer ", "", ""));
  EXPECT_FALSE(http_authorized("Basic ", "", ""));
}

}  // namespace
}  // namespace sluice::observe
