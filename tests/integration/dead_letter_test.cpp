// The dead-letter topic against the real broker: a replay of year-old records whose bad ones are dead-lettered.
// Dead letters carry the input's timestamp; on a topic with time retention (7 days by default) a year-old one
// would be deleted at the broker's next retention check, before anyone read it. The topic sluice creates stamps
// each dead letter with the time it was written (LogAppendTime), and the original is in a header.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>

#include <nlohmann/json.hpp>

#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST(DeadLetters, TheTopicSluiceCreatesKeepsAYearOldDeadLetterByTheTimeItWasWritten) {
  const std::string input = unique_name("dlq-in");
  const std::string output = unique_name("dlq-out");
  const std::string application_id = unique_name("dlq");
  create_topic(input, 1, {{"retention.ms", "-1"}});
  json document = {{"application_id", application_id},
                   {"sources", {{{"name", "in"}, {"topic", input}}}},
                   {"operators", {{{"name", "m"}, {"from", "in"}, {"map", {{"double", "amount * 2"}}}}}},
                   {"sinks", {{{"from", "m"}, {"topic", output}}}}};
  const std::string path = write_temp_file("dlq.json", document.dump(2));
  const std::int64_t year_ago = now_ms() - 365LL * 86'400'000;
  std::vector<TestRecord> records(2);
  records[0].key = "bad";
  records[0].value = R"({"amount": "ten"})";  // a type error: dead-lettered
  records[0].timestamp_ms = year_ago;
  records[1].key = "good";
  records[1].value = R"({"amount": 10})";
  records[1].timestamp_ms = year_ago + 1;
  produce(input, records);
  const std::int64_t before = now_ms();
  auto running = start_sluice(path);
  const auto dead = consume(application_id + "-dlq", 1, 60s, 500ms);
  const auto out = consume(output, 1, 60s);
  running.process->signal(SIGTERM);
  ASSERT_EQ(dead.size(), 1u) << running.process->log();
  EXPECT_EQ(dead[0].header("sluice.error.kind"), "type_error");
  EXPECT_EQ(dead[0].header("sluice.source.timestamp"), std::to_string(year_ago));
  // Stamped by the broker when written, so retention counts from the failure.
  EXPECT_GE(dead[0].timestamp_ms, before);
  EXPECT_LE(dead[0].timestamp_ms, now_ms());
  // Outputs keep their event time.
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].timestamp_ms, year_ago + 1);
  EXPECT_EQ(running.process->wait(30s), std::optional<int>(0));
}
