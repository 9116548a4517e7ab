// Windowed stream-stream joins in the topology format (issue 12, item 6): what parses (within, grace, types,
// side names), what each mistake reports by JSON pointer, the plan (changelog, per-side repartition topics and
// their partition counts and key formats) and what describe shows in every format.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sluice/topology/describe.hpp"
#include "support.hpp"

namespace sluice::topology {
namespace {

std::string document(std::string_view join, std::string_view extra_operators = "", std::string_view from = "clicks") {
  return std::string(R"({"application_id": "ads",
    "sources": [{"name": "clicks", "topic": "clicks"}, {"name": "impressions", "topic": "impressions", "key": "bytes"}],
    "operators": [)") + std::string(extra_operators) + R"({"name": "attributed", "from": ")" + std::string(from) +
         R"(", "join": )" + std::string(join) + R"(}],
    "sinks": [{"from": "attributed", "topic": "out"}]})";
}

const OperatorSpec& join_operator(const Topology& topology) { return topology.operators.back(); }

TEST(TopologyStreamJoinTest, ASymmetricWindowParsesWithItsDefaults) {
  const Topology topology = testing::topology_of(document(R"({"stream": "impressions", "within": "10m"})"));
  const OperatorSpec& op = join_operator(topology);
  EXPECT_EQ(op.type_name(), "join");
  EXPECT_EQ(op.inputs, (std::vector<std::string>{"clicks", "impressions"}));
  const auto& join = std::get<StreamJoinSpec>(op.body);
  EXPECT_EQ(join.type, JoinType::inner);
  EXPECT_EQ(join.before_ms, 600'000);
  EXPECT_EQ(join.after_ms, 600'000);
  EXPECT_EQ(join.grace_ms, 0);
  EXPECT_EQ(join.this_name, "clicks");
  EXPECT_EQ(join.other_name, "impressions");
  EXPECT_EQ(op.changelog_topic, "ads-attributed-changelog");
  EXPECT_FALSE(op.repartition_topic.has_value());
  EXPECT_EQ(op.input_repartition_topics, (std::vector<std::optional<std::string>>{std::nullopt, std::nullopt}));
  ASSERT_EQ(topology.subtopologies.size(), 1u);
  EXPECT_EQ(topology.subtopologies[0].source_topics, (std::vector<std::string>{"clicks", "impressions"}));
  ASSERT_EQ(topology.internal_topics.size(), 1u);
  const InternalTopic& changelog = topology.internal_topics[0];
  EXPECT_EQ(changelog.name, "ads-attributed-changelog");
  EXPECT_EQ(changelog.configs.at("cleanup.policy"), "compact,delete");
  // before + after + grace + the one-day margin of windowed changelogs.
  EXPECT_EQ(changelog.configs.at("retention.ms"), std::to_string(600'000 + 600'000 + 86'400'000));
}

TEST(TopologyStreamJoinTest, AnAsymmetricWindowGraceTypeAndNames) {
  const Topology topology = testing::topology_of(document(
      R"({"stream": "impressions", "within": {"before": "10m", "after": "0s"}, "grace": "30s", "type": "left",
          "as": "click", "other_as": "impression", "select": {"ad": "impression.ad", "user": "click.user"}})"));
  const auto& join = std::get<StreamJoinSpec>(join_operator(topology).body);
  EXPECT_EQ(join.type, JoinType::left);
  EXPECT_EQ(join.before_ms, 600'000);
  EXPECT_EQ(join.after_ms, 0);
  EXPECT_EQ(join.grace_ms, 30'000);
  EXPECT_EQ(join.this_name, "click");
  EXPECT_EQ(join.other_name, "impression");
  ASSERT_EQ(join.fields.size(), 2u);
  EXPECT_EQ(join.fields[0].name, "ad");  // in the order written
  EXPECT_EQ(std::get<StreamJoinSpec>(testing::topology_of(document(R"({"stream": "impressions", "within": "1m",
                                                                      "type": "outer"})"))
                                         .operators[0]
                                         .body)
                .type,
            JoinType::outer);
}

TEST(TopologyStreamJoinTest, EachMistakeIsNamedByItsPointer) {
  using testing::errors_of;
  using testing::has_error;
  using testing::has_only_error;
  EXPECT_TRUE(has_only_error(errors_of(document(R"({"stream": "impression", "within": "1m"})")),
                             "/operators/0/join/stream", "did you mean \"impressions\""));
  EXPECT_TRUE(has_only_error(errors_of(document(R"({"stream": "impressions"})")), "/operators/0/join",
                             "missing required field \"within\""));
  EXPECT_TRUE(has_only_error(errors_of(document(R"({"stream": "impressions", "within": "10x"})")),
                             "/operators/0/join/within", "not a duration"));
  EXPECT_TRUE(has_only_error(errors_of(document(R"({"stream": "impressions", "within": 600})")),
                             "/operators/0/join/within", "expected a duration"));
  EXPECT_TRUE(has_only_error(errors_of(document(R"({"stream": "impressions", "within": {"before": "1m"}})")),
                             "/operators/0/join/within", "missing required field \"after\""));
  EXPECT_TRUE(has_only_error(
      errors_of(document(R"({"stream": "impressions", "within": {"before": "1m", "after": "0s", "around": "1s"}})")),
      "/operators/0/join/within/around", "unknown field"));
  EXPECT_TRUE(has_only_error(errors_of(document(R"({"stream": "impressions", "within": "1m", "grace": "-1s"})")),
                             "/operators/0/join/grace", "duration"));
  EXPECT_TRUE(has_only_error(errors_of(document(R"({"stream": "impressions", "within": "1m", "type": "full"})")),
                             "/operators/0/join/type", "not a stream-stream join type"));
  EXPECT_TRUE(has_only_error(errors_of(document(R"({"stream": "impressions", "within": "1m", "table": "t"})")),
                             "/operators/0/join", "not both"));
  EXPECT_TRUE(has_only_error(errors_of(document(R"({"within": "1m"})")), "/operators/0/join",
                             "missing required field \"table\" or \"stream\""));
  EXPECT_TRUE(has_only_error(errors_of(document(R"({"stream": "clicks", "within": "1m"})")),
                             "/operators/0/join/stream", "joining a stream with itself"));
  EXPECT_TRUE(has_only_error(
      errors_of(document(R"({"stream": "impressions", "within": "1m", "as": "x", "other_as": "x"})")),
      "/operators/0/join", "both sides are called \"x\""));
  EXPECT_TRUE(has_only_error(errors_of(document(R"({"stream": "impressions", "within": "1m", "other_as": "a b"})")),
                             "/operators/0/join/other_as", "not a valid name"));
  EXPECT_TRUE(has_only_error(
      errors_of(document(R"({"stream": "impressions", "within": "1m", "select": {"x": "clicks."}})")),
      "/operators/0/join/select/x", "does not parse"));
}

TEST(TopologyStreamJoinTest, AnArrayFromIsRefused) {
  const auto errors = testing::errors_of(R"({"application_id": "ads",
    "sources": [{"name": "a", "topic": "a"}, {"name": "b", "topic": "b"}, {"name": "c", "topic": "c"}],
    "operators": [{"name": "j", "from": ["a", "b"], "join": {"stream": "c", "within": "1m"}}],
    "sinks": [{"from": "j", "topic": "out"}]})");
  EXPECT_TRUE(testing::has_only_error(errors, "/operators/0/from/1", "one stream on each side"));
}

TEST(TopologyStreamJoinTest, ClashingInternalTopicsAreRefused) {
  // The join "a"'s left repartition topic is the operator "a-left"'s own repartition topic.
  const auto errors = testing::errors_of(R"({"application_id": "app",
    "sources": [{"name": "s", "topic": "s"}, {"name": "t", "topic": "t"}],
    "operators": [{"name": "k", "from": "s", "rekey": "x"},
                  {"name": "a-left", "from": "k", "dedupe": {"within": "1m"}},
                  {"name": "k2", "from": "s", "rekey": "y"},
                  {"name": "a", "from": "k2", "join": {"stream": "t", "within": "1m"}}],
    "sinks": [{"from": "a", "topic": "out"}, {"from": "a-left", "topic": "out2"}]})");
  EXPECT_TRUE(testing::has_only_error(errors, "/operators/3/name", "\"app-a-left-repartition\""));
}

TEST(TopologyStreamJoinTest, EachReKeyedSideHasItsOwnRepartitionTopicCoPartitionedWithTheOther) {
  const Topology topology = testing::topology_of(document(R"({"stream": "by_user", "within": "1m"})",
                                                          R"({"name": "by_user", "from": "impressions", "rekey": "user"},)"));
  const OperatorSpec& op = join_operator(topology);
  EXPECT_EQ(op.input_repartition_topics,
            (std::vector<std::optional<std::string>>{std::nullopt, "ads-attributed-right-repartition"}));
  // The re-keyed side is written with the key format of the side read straight from its topic.
  EXPECT_EQ(std::get<StreamJoinSpec>(op.body).repartition_key, KeyFormat::string);
  ASSERT_EQ(topology.subtopologies.size(), 2u);
  EXPECT_EQ(topology.subtopologies[1].source_topics,
            (std::vector<std::string>{"clicks", "ads-attributed-right-repartition"}));
  const InternalTopic& repartition = topology.internal_topics.at(0);
  EXPECT_EQ(repartition.name, "ads-attributed-right-repartition");
  EXPECT_EQ(repartition.subtopology, 1);
  EXPECT_EQ(repartition.partitions_of, std::vector<std::string>{"clicks"});

  // From the other side: the `from` side re-keyed, the stream read as it is (bytes keys).
  const Topology other = testing::topology_of(document(R"({"stream": "impressions", "within": "1m"})",
                                                       R"({"name": "by_user", "from": "clicks", "rekey": "user"},)",
                                                       "by_user"));
  EXPECT_EQ(join_operator(other).input_repartition_topics,
            (std::vector<std::optional<std::string>>{"ads-attributed-left-repartition", std::nullopt}));
  EXPECT_EQ(std::get<StreamJoinSpec>(join_operator(other).body).repartition_key, KeyFormat::bytes);

  // Both re-keyed: two repartition topics, json keys, and the count of the sources that write them.
  const Topology both = testing::topology_of(document(
      R"({"stream": "i_by_user", "within": "1m"})",
      R"({"name": "c_by_user", "from": "clicks", "rekey": "user"},
         {"name": "i_by_user", "from": "impressions", "rekey": "user"},)",
      "c_by_user"));
  EXPECT_EQ(join_operator(both).input_repartition_topics,
            (std::vector<std::optional<std::string>>{"ads-attributed-left-repartition",
                                                     "ads-attributed-right-repartition"}));
  EXPECT_EQ(std::get<StreamJoinSpec>(join_operator(both).body).repartition_key, KeyFormat::json);
}

TEST(TopologyStreamJoinTest, DescribeShowsBothSidesInEveryFormat) {
  const Topology topology = testing::topology_of(document(
      R"({"stream": "by_user", "within": {"before": "10m", "after": "0s"}, "type": "left", "as": "click",
          "select": {"ad": "by_user.ad"}})",
      R"({"name": "by_user", "from": "impressions", "rekey": "user"},)"));
  const std::string text = describe(topology, DescribeFormat::text);
  EXPECT_NE(text.find("left join with stream by_user within 10m before and 0s after, grace 0s; sides click (from), "
                      "by_user (stream); select ad = by_user.ad"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("<-- clicks (joined as click)"), std::string::npos) << text;
  EXPECT_NE(text.find("<-- by_user (joined as by_user) (through repartition topic ads-attributed-right-repartition)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("store: attributed (changelog topic: ads-attributed-changelog)"), std::string::npos) << text;
  const nlohmann::json json = describe_json(topology);
  const nlohmann::json* node = nullptr;
  for (const auto& sub : json["subtopologies"]) {
    for (const auto& candidate : sub["nodes"]) {
      if (candidate["name"] == "attributed") node = &candidate;
    }
  }
  ASSERT_NE(node, nullptr);
  EXPECT_EQ((*node)["stream"], "by_user");
  EXPECT_EQ((*node)["join_type"], "left");
  EXPECT_EQ((*node)["within"], nlohmann::json({{"before", "10m"}, {"after", "0s"}}));
  EXPECT_EQ((*node)["as"], "click");
  EXPECT_EQ((*node)["other_as"], "by_user");
  EXPECT_EQ((*node)["input_repartition_topics"], nlohmann::json::parse(R"([null, "ads-attributed-right-repartition"])"));
  const std::string dot = describe(topology, DescribeFormat::dot);
  EXPECT_NE(dot.find("[label=\"join as click\"]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("[label=\"join as by_user\"]"), std::string::npos) << dot;
  const std::string mermaid = describe(topology, DescribeFormat::mermaid);
  EXPECT_NE(mermaid.find("-->|\"join as click\"|"), std::string::npos) << mermaid;
  EXPECT_NE(mermaid.find("-->|\"join as by_user\"|"), std::string::npos) << mermaid;
}

}  // namespace
}  // namespace sluice::topology

namespace sluice::topology {
namespace {

TEST(TopologyStreamJoinTest, AStreamJoinMayOverrideMaxTaskIdle) {
  const Topology topology =
      testing::topology_of(document(R"({"stream": "impressions", "within": "10m", "max_task_idle": "3s"})"));
  EXPECT_EQ(std::get<StreamJoinSpec>(join_operator(topology).body).max_task_idle_ms, 3'000);
  EXPECT_NE(describe(topology, DescribeFormat::text).find("max task idle 3s"), std::string::npos);
  EXPECT_TRUE(testing::has_only_error(
      testing::errors_of(document(R"({"stream": "impressions", "within": "10m", "max_task_idle": "2d"})")),
      "/operators/0/join/max_task_idle", "at most 1d"));
}

}  // namespace
}  // namespace sluice::topology
