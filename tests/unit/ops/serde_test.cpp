// Source decoding and sink encoding at the edges that fuzz/decoders reached: event times far outside the range
// of a timestamp, and text that is not UTF-8 written to a json sink.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <variant>

#include "sluice/core/clock.hpp"
#include "sluice/core/json.hpp"
#include "sluice/ops/serde.hpp"

namespace sluice::ops {
namespace {

class SerdeTest : public ::testing::Test {
 protected:
  // Decodes a json value with event time from its field "ts" in `format`; the error message, or "ok <ms>".
  std::string decode_time(std::string_view value, topology::TimestampFormat format) {
    topology::SourceSpec spec;
    spec.name = spec.topic = "input";
    spec.timestamp.field = std::get<expr::Expression>(expr::Expression::parse("ts"));
    spec.timestamp.format = format;
    core::Origin origin;
    origin.raw_value = value;
    origin.has_value = true;
    expr::EvalContext eval(clock_);
    auto decoded = SourceDecoder(spec).decode(origin, 5, {}, parser_, eval);
    if (!decoded.ok()) {
      return std::string(core::to_string(decoded.error().kind)) + ": " + decoded.error().message;
    }
    return "ok " + std::to_string(decoded.value().timestamp_ms);
  }

  core::ManualClock clock_{0};
  core::JsonParser parser_;
};

// Found by fuzz/decoders: -6e203 passed the range check (which had only an upper bound) and was converted to
// int64, which is undefined behaviour (UBSan stopped the process; x86 happened to yield INT64_MIN).
TEST_F(SerdeTest, EventTimesBeyondTheRangeOfTimestampsAreOutOfRange) {
  using enum topology::TimestampFormat;
  EXPECT_EQ(decode_time(R"({"ts": -6e203})", epoch_ms), "invalid_value: timestamp 'ts' is out of range");
  EXPECT_EQ(decode_time(R"({"ts": -1e16})", epoch_s), "invalid_value: timestamp 'ts' is out of range");
  EXPECT_EQ(decode_time(R"({"ts": 6e203})", epoch_ms), "invalid_value: timestamp 'ts' is out of range");
  EXPECT_EQ(decode_time(R"({"ts": -1.5})", epoch_ms), "invalid_value: timestamp 'ts' is before 1970");
  EXPECT_EQ(decode_time(R"({"ts": -1000000})", epoch_ms), "invalid_value: timestamp 'ts' is before 1970");
  EXPECT_EQ(decode_time(R"({"ts": 1763719200.5})", epoch_s), "ok 1763719200500");
  EXPECT_EQ(decode_time(R"({"ts": 1763719200000})", epoch_ms), "ok 1763719200000");
}

// Found by fuzz/decoders: a string-format value that is not UTF-8, sent on to a json sink, was written as JSON that
// no reader accepts. The decoded string keeps the bytes; the json sink writes U+FFFD for the invalid ones.
TEST_F(SerdeTest, AStringValueThatIsNotUtf8GoesToAJsonSinkAsValidJson) {
  topology::SourceSpec spec;
  spec.name = spec.topic = "input";
  spec.value = topology::ValueFormat::string;
  const std::string latin1 = "caf\xE9";
  core::Origin origin;
  origin.raw_value = latin1;
  origin.has_value = true;
  expr::EvalContext eval(clock_);
  auto decoded = SourceDecoder(spec).decode(origin, 5, {}, parser_, eval);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded.value().value.as_string(), latin1);

  std::string key_buffer, value_buffer;
  auto encoded = SinkEncoder(topology::KeyFormat::string, topology::ValueFormat::json)
                     .encode(decoded.value(), key_buffer, value_buffer);
  ASSERT_TRUE(encoded.ok());
  ASSERT_TRUE(encoded.value().value.has_value());
  EXPECT_EQ(*encoded.value().value, "\"caf\xEF\xBF\xBD\"");
  EXPECT_TRUE(parser_.parse(*encoded.value().value).ok());
}

}  // namespace
}  // namespace sluice::ops
