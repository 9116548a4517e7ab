// The logger writes one physical line per call, whatever the message holds (issue 11, item 4).
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>

#include "sluice/core/clock.hpp"
#include "sluice/observe/log.hpp"

namespace sluice::observe {
namespace {

struct LoggedLines {
  core::ManualClock clock{1'795'255'200'000};
  std::ostringstream out;
  Logger logger{out, LogLevel::debug, clock};

  std::size_t line_count() const {
    const std::string text = out.str();
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  }
};

TEST(Logger, WritesTheDocumentedFormat) {
  LoggedLines log;
  log.logger.info("app", "started");
  EXPECT_EQ(log.out.str(), "2026-11-21T10:00:00.000Z INFO  [app] started\n");
}

TEST(Logger, AMessageWithNewlinesIsOnePhysicalLine) {
  LoggedLines log;
  // A value that tries to start a forged log line, and one that erases the current line.
  log.logger.warn("runtime", "unknown topic orders\n2026-11-21T10:00:00.000Z INFO  [app] all good\r\x1b[2K");
  EXPECT_EQ(log.line_count(), 1u) << log.out.str();
  EXPECT_EQ(log.out.str(),
            "2026-11-21T10:00:00.000Z WARN  [runtime] unknown topic orders\\n2026-11-21T10:00:00.000Z INFO  [app] all "
            "good\\r\\x1b[2K\n");
}

TEST(Logger, BidiControlsAndInvalidBytesAreEscaped) {
  LoggedLines log;
  log.logger.error("app\n[x]", "file \u202etxt.exe\u2066 \xff\x7f\u0085");
  EXPECT_EQ(log.out.str(), "2026-11-21T10:00:00.000Z ERROR [app\\n[x]] file \\u202etxt.exe\\u2066 \\xff\\x7f\\u0085\n");
}

TEST(Logger, AHugeMessageIsCutWithItsLength) {
  LoggedLines log;
  log.logger.info("app", std::string(1'048'576, 'm'));
  const std::string line = log.out.str();
  EXPECT_EQ(log.line_count(), 1u);
  EXPECT_LE(line.size(), Logger::kMaxMessageBytes + 100);
  EXPECT_TRUE(line.ends_with(std::string(100, 'm') + "...(1048576 bytes)\n")) << line.substr(line.size() - 200);
}

TEST(Logger, ValidUtf8IsKept) {
  LoggedLines log;
  log.logger.info("app", "Zürich → 東京");
  EXPECT_EQ(log.out.str(), "2026-11-21T10:00:00.000Z INFO  [app] Zürich → 東京\n");
}

}  // namespace
}  // namespace sluice::observe
