// `sluice test --bootstrap`: a case runs against the real broker and fails there as it fails in process.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;

TEST(ClusterCases, AWrongExpectationFailsOnTheClusterWithTheDifferenceAndTheTopicsAreDeleted) {
  const std::string topology = source_dir() + "/topologies/word-count.json";
  const std::string wrong = write_temp_file("wrong-count.json", R"({
    "inputs": [
      {"topic": "text-lines", "value": {"text": "the the"}, "time": 1000},
      {"topic": "text-lines", "value": {"text": "a"}, "time": 1500},
      {"topic": "text-lines", "raw_value": "not json", "time": 2000}
    ],
    "expect": {
      "word-counts": [{"key": "the", "value": {"count": 9}}, {"key": "a", "value": {"count": 1}}],
      "dead_letters": [{"key": null, "value": "not json", "headers": {"sluice.error.kind": "deserialization",
                                                          "sluice.source.topic": "text-lines"}}]
    }
  })");
  SluiceProcess process({"test", topology, wrong, "--bootstrap", bootstrap()});
  ASSERT_EQ(process.wait(120s), 1) << process.log();
  const std::string log = process.log();
  EXPECT_NE(log.find("FAILED"), std::string::npos) << log;
  // "the" differs (both of its words are in one record: one update); "a" is as expected; the dead letter names
  // the case's topic, not the test's prefixed one, so it matches.
  EXPECT_NE(log.find(R"(key "the": record 1 differs: expected {"key":"the","value":{"count":9}}, got {"key":"the","value":{"count":2})"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find(R"(key "a")"), std::string::npos) << log;
  EXPECT_EQ(log.find("dead_letters"), std::string::npos) << log;
  EXPECT_NE(log.find("1 case: 0 passed, 1 failed"), std::string::npos) << log;
  std::filesystem::remove(wrong);
}
