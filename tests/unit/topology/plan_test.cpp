// What parse_topology derives for keyed operators: repartition topics (a rekey upstream since the last point
// where records were partitioned by key), changelog topics, the sub-topologies split at repartition topics,
// the internal topics with their configs, and the checks on internal topic names.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "sluice/topology/topology.hpp"
#include "support.hpp"

namespace sluice::topology {
namespace {

using testing::errors_of;
using testing::has_error;
using testing::has_only_error;
using testing::topology_of;
using testing::with_operators;

const OperatorSpec* find_operator(const Topology& topology, const std::string& name) {
  for (const auto& op : topology.operators) {
    if (op.name == name) return &op;
  }
  ADD_FAILURE() << "no operator " << name;
  return nullptr;
}

std::optional<std::string> repartition_of(const Topology& topology, const std::string& name) {
  const OperatorSpec* op = find_operator(topology, name);
  return op == nullptr ? std::nullopt : op->repartition_topic;
}

std::optional<std::string> changelog_of(const Topology& topology, const std::string& name) {
  const OperatorSpec* op = find_operator(topology, name);
  return op == nullptr ? std::nullopt : op->changelog_topic;
}

std::vector<std::string> operator_names(const Topology& topology, const std::vector<std::size_t>& indexes) {
  std::vector<std::string> names;
  for (const std::size_t index : indexes) names.push_back(topology.operators.at(index).name);
  return names;
}

constexpr const char* kCount = R"json("aggregate": {"n": "count()"})json";

// ---- repartition detection ----

TEST(TopologyPlanTest, RekeyBeforeAnAggregateRepartitions) {
  const Topology topology = topology_of(with_operators(std::string(R"([
      {"name": "by_card", "from": "orders", "rekey": "card_id"},
      {"name": "counts", "from": "by_card", )") + kCount + "}]",
                                                       "counts"));
  EXPECT_EQ(repartition_of(topology, "counts"), "app-counts-repartition");
  EXPECT_EQ(changelog_of(topology, "counts"), "app-counts-changelog");
  // Stateless operators have neither.
  EXPECT_FALSE(repartition_of(topology, "by_card").has_value());
  EXPECT_FALSE(changelog_of(topology, "by_card").has_value());
}

TEST(TopologyPlanTest, AggregateOnASourceNeedsNoRepartition) {
  const Topology topology = topology_of(with_operators(std::string(R"([
      {"name": "counts", "from": "orders", )") + kCount + R"(},
      {"name": "both", "from": ["orders", "events"], )" + kCount + R"(},
      {"name": "all", "merge": ["counts", "both"]}])",
                                                       "all"));
  EXPECT_FALSE(repartition_of(topology, "counts").has_value());
  EXPECT_FALSE(repartition_of(topology, "both").has_value());  // sources are partitioned by their key
  EXPECT_EQ(topology.subtopologies.size(), 1u);
}

TEST(TopologyPlanTest, StatelessOperatorsBetweenRekeyAndAggregateKeepTheNeed) {
  const Topology topology = topology_of(with_operators(std::string(R"([
      {"name": "by_card", "from": "orders", "rekey": "card_id"},
      {"name": "big", "from": "by_card", "filter": "amount > 100"},
      {"name": "items", "from": "big", "flat_map": "items", "as": "item"},
      {"name": "slim", "from": "items", "select": ["item", "amount"]},
      {"name": "r", "from": "slim", "route": [{"name": "eu", "when": "region == 'eu'"}], "default": "rest"},
      {"name": "eu_counts", "from": "r.eu", )") + kCount + R"(},
      {"name": "unique", "from": "big", "dedupe": {"within": "1m"}},
      {"name": "all", "merge": ["eu_counts", "unique"]}])",
                                                       "all"));
  EXPECT_EQ(repartition_of(topology, "eu_counts"), "app-eu_counts-repartition");
  EXPECT_EQ(repartition_of(topology, "unique"), "app-unique-repartition");
}

TEST(TopologyPlanTest, FlatMapKeepsTheKey) {
  const Topology topology = topology_of(with_operators(std::string(R"([
      {"name": "items", "from": "orders", "flat_map": "items"},
      {"name": "counts", "from": "items", )") + kCount + "}]",
                                                       "counts"));
  EXPECT_FALSE(repartition_of(topology, "counts").has_value());
}

TEST(TopologyPlanTest, AnAggregateOutputIsPartitionedByItsKey) {
  // After one rekey, only the first keyed operator repartitions: its output keeps the key it was partitioned by.
  const Topology topology = topology_of(with_operators(std::string(R"([
      {"name": "by_card", "from": "orders", "rekey": "card_id"},
      {"name": "first", "from": "by_card", "window": {"type": "tumbling", "size": "1m"}, )") + kCount + R"(},
      {"name": "busy", "from": "first", "filter": "n > 3"},
      {"name": "second", "from": "busy", )" + kCount + R"(},
      {"name": "once", "from": "second", "dedupe": {"within": "1h"}},
      {"name": "by_merchant", "from": "once", "rekey": "merchant"},
      {"name": "third", "from": "by_merchant", )" + kCount + "}]",
                                                       "third"));
  EXPECT_EQ(repartition_of(topology, "first"), "app-first-repartition");
  EXPECT_FALSE(repartition_of(topology, "second").has_value());
  EXPECT_FALSE(repartition_of(topology, "once").has_value());
  EXPECT_EQ(repartition_of(topology, "third"), "app-third-repartition");  // rekeyed again
}

TEST(TopologyPlanTest, OneRekeyedPathIsEnough) {
  const Topology topology = topology_of(with_operators(std::string(R"([
      {"name": "by_user", "from": "events", "rekey": "user"},
      {"name": "counts", "from": ["orders", "by_user"], )") + kCount + "}]",
                                                       "counts"));
  EXPECT_EQ(repartition_of(topology, "counts"), "app-counts-repartition");
  // Both inputs write the repartition topic, and are not connected upstream of it: the orders source on its
  // own is a sub-topology, as is the events flow.
  ASSERT_EQ(topology.subtopologies.size(), 3u);
  EXPECT_EQ(topology.subtopologies[0].source_topics, (std::vector<std::string>{"orders"}));
  EXPECT_TRUE(topology.subtopologies[0].operators.empty());
  EXPECT_EQ(topology.subtopologies[1].source_topics, (std::vector<std::string>{"events"}));
  EXPECT_EQ(topology.subtopologies[2].source_topics, (std::vector<std::string>{"app-counts-repartition"}));
  ASSERT_EQ(topology.internal_topics.size(), 2u);
  EXPECT_EQ(topology.internal_topics[0].partitions_of, (std::vector<std::string>{"orders", "events"}));
}

TEST(TopologyPlanTest, RepartitionNeedIsIndependentOfFileOrder) {
  const Topology topology = topology_of(with_operators(std::string(R"([
      {"name": "counts", "from": "big", )") + kCount + R"(},
      {"name": "big", "from": "by_card", "filter": "amount > 100"},
      {"name": "by_card", "from": "orders", "rekey": "card_id"}])",
                                                       "counts"));
  EXPECT_EQ(repartition_of(topology, "counts"), "app-counts-repartition");
}

// ---- sub-topologies ----

TEST(TopologyPlanTest, StatelessTopologyIsOneSubtopologyPerConnectedFlow) {
  const Topology topology = topology_of(R"({"application_id": "app",
      "sources": [{"name": "a", "topic": "ta"}, {"name": "b", "topic": "tb"}],
      "operators": [{"name": "fb", "from": "b", "filter": "true"}, {"name": "fa", "from": "a", "filter": "true"}],
      "sinks": [{"from": "fb", "topic": "out-b"}, {"from": "fa", "topic": "out-a"}]})");
  ASSERT_EQ(topology.subtopologies.size(), 2u);
  const Subtopology& first = topology.subtopologies[0];
  EXPECT_EQ(first.id, 0);
  EXPECT_EQ(first.source_topics, (std::vector<std::string>{"ta"}));
  EXPECT_EQ(first.sources, (std::vector<std::size_t>{0}));
  EXPECT_EQ(operator_names(topology, first.operators), (std::vector<std::string>{"fa"}));
  EXPECT_EQ(first.sinks, (std::vector<std::size_t>{1}));
  const Subtopology& second = topology.subtopologies[1];
  EXPECT_EQ(second.id, 1);
  EXPECT_EQ(second.source_topics, (std::vector<std::string>{"tb"}));
  EXPECT_EQ(second.sinks, (std::vector<std::size_t>{0}));
  EXPECT_TRUE(topology.internal_topics.empty());
}

TEST(TopologyPlanTest, RepartitionSplitsTheGraph) {
  const Topology topology = topology_of(R"json({"application_id": "fraud",
      "sources": [{"name": "payments", "topic": "payments"}],
      "operators": [
        {"name": "large", "from": "payments", "filter": "amount > 1000"},
        {"name": "by_card", "from": "large", "rekey": "card_id"},
        {"name": "per_card", "from": "by_card", "window": {"type": "tumbling", "size": "5m"},
         "aggregate": {"n": "count()"}},
        {"name": "suspicious", "from": "per_card", "filter": "n >= 3"}],
      "sinks": [{"from": "suspicious", "topic": "alerts"}, {"from": "large", "topic": "large-payments"}]})json");
  ASSERT_EQ(topology.subtopologies.size(), 2u);
  const Subtopology& upstream = topology.subtopologies[0];
  EXPECT_EQ(upstream.source_topics, (std::vector<std::string>{"payments"}));
  EXPECT_EQ(upstream.sources, (std::vector<std::size_t>{0}));
  EXPECT_EQ(operator_names(topology, upstream.operators), (std::vector<std::string>{"large", "by_card"}));
  EXPECT_EQ(upstream.sinks, (std::vector<std::size_t>{1}));
  const Subtopology& downstream = topology.subtopologies[1];
  EXPECT_EQ(downstream.source_topics, (std::vector<std::string>{"fraud-per_card-repartition"}));
  EXPECT_TRUE(downstream.sources.empty());
  EXPECT_EQ(operator_names(topology, downstream.operators), (std::vector<std::string>{"per_card", "suspicious"}));
  EXPECT_EQ(downstream.sinks, (std::vector<std::size_t>{0}));
}

TEST(TopologyPlanTest, UpstreamSubtopologiesAreNumberedFirst) {
  // "a" comes first in the file, but its flow reads what the flow of "b" repartitions.
  const Topology topology = topology_of(R"json({"application_id": "app",
      "sources": [{"name": "a", "topic": "ta"}, {"name": "b", "topic": "tb"}],
      "operators": [
        {"name": "by_user", "from": "b", "rekey": "user"},
        {"name": "counts", "from": "by_user", "aggregate": {"n": "count()"}},
        {"name": "both", "merge": ["a", "counts"]}],
      "sinks": [{"from": "both", "topic": "out"}]})json");
  ASSERT_EQ(topology.subtopologies.size(), 2u);
  EXPECT_EQ(topology.subtopologies[0].source_topics, (std::vector<std::string>{"tb"}));
  EXPECT_EQ(operator_names(topology, topology.subtopologies[0].operators), (std::vector<std::string>{"by_user"}));
  EXPECT_EQ(topology.subtopologies[1].source_topics, (std::vector<std::string>{"ta", "app-counts-repartition"}));
  EXPECT_EQ(topology.subtopologies[1].sources, (std::vector<std::size_t>{0}));
  EXPECT_EQ(operator_names(topology, topology.subtopologies[1].operators),
            (std::vector<std::string>{"counts", "both"}));
}

TEST(TopologyPlanTest, SeveralRepartitionsAndWriters) {
  // a -> ra | agg1 -> r2 --+
  // b -> rb ----------------+| x -> sink
  const Topology topology = topology_of(R"json({"application_id": "app",
      "sources": [{"name": "a", "topic": "ta"}, {"name": "b", "topic": "tb"}],
      "operators": [
        {"name": "ra", "from": "a", "rekey": "k"},
        {"name": "agg1", "from": "ra", "aggregate": {"n": "count()"}},
        {"name": "r2", "from": "agg1", "rekey": "k2"},
        {"name": "rb", "from": "b", "rekey": "k2"},
        {"name": "x", "from": ["r2", "rb"], "aggregate": {"n": "count()"}}],
      "sinks": [{"from": "x", "topic": "out"}]})json");
  ASSERT_EQ(topology.subtopologies.size(), 4u);
  EXPECT_EQ(topology.subtopologies[0].source_topics, (std::vector<std::string>{"ta"}));
  EXPECT_EQ(topology.subtopologies[1].source_topics, (std::vector<std::string>{"tb"}));
  EXPECT_EQ(topology.subtopologies[2].source_topics, (std::vector<std::string>{"app-agg1-repartition"}));
  EXPECT_EQ(operator_names(topology, topology.subtopologies[2].operators), (std::vector<std::string>{"agg1", "r2"}));
  EXPECT_EQ(topology.subtopologies[3].source_topics, (std::vector<std::string>{"app-x-repartition"}));
  EXPECT_EQ(topology.subtopologies[3].sinks, (std::vector<std::size_t>{0}));

  ASSERT_EQ(topology.internal_topics.size(), 4u);
  // Repartition topics first, in operator order, read by the operator's sub-topology.
  const InternalTopic& first = topology.internal_topics[0];
  EXPECT_EQ(first.name, "app-agg1-repartition");
  EXPECT_EQ(first.kind, InternalTopic::Kind::repartition);
  EXPECT_EQ(first.operator_name, "agg1");
  EXPECT_EQ(first.subtopology, 2);
  EXPECT_EQ(first.partitions_of, (std::vector<std::string>{"ta"}));
  const InternalTopic& second = topology.internal_topics[1];
  EXPECT_EQ(second.name, "app-x-repartition");
  EXPECT_EQ(second.subtopology, 3);
  // Written by the tasks of sub-topologies 1 (tb) and 2 (the first repartition topic).
  EXPECT_EQ(second.partitions_of, (std::vector<std::string>{"tb", "app-agg1-repartition"}));
  EXPECT_EQ(topology.internal_topics[2].name, "app-agg1-changelog");
  EXPECT_EQ(topology.internal_topics[2].kind, InternalTopic::Kind::changelog);
  EXPECT_EQ(topology.internal_topics[2].subtopology, 2);
  EXPECT_EQ(topology.internal_topics[2].partitions_of, (std::vector<std::string>{"app-agg1-repartition"}));
  EXPECT_EQ(topology.internal_topics[3].name, "app-x-changelog");
}

TEST(TopologyPlanTest, SubtopologiesThatFeedEachOtherAreStillNumbered) {
  // s -> r1 | g1 -> r2 | g2 -> m <- s: g2's flow joins the flow that feeds g1, so the two sub-topologies feed
  // each other through repartition topics. The one with the first source comes first.
  const Topology topology = topology_of(R"json({"application_id": "app",
      "sources": [{"name": "s", "topic": "ts"}],
      "operators": [
        {"name": "r1", "from": "s", "rekey": "a"},
        {"name": "g1", "from": "r1", "aggregate": {"n": "count()"}},
        {"name": "r2", "from": "g1", "rekey": "b"},
        {"name": "g2", "from": "r2", "aggregate": {"m": "count()"}},
        {"name": "m", "merge": ["s", "g2"]}],
      "sinks": [{"from": "m", "topic": "out"}]})json");
  ASSERT_EQ(topology.subtopologies.size(), 2u);
  EXPECT_EQ(topology.subtopologies[0].source_topics, (std::vector<std::string>{"ts", "app-g2-repartition"}));
  EXPECT_EQ(operator_names(topology, topology.subtopologies[0].operators), (std::vector<std::string>{"r1", "g2", "m"}));
  EXPECT_EQ(topology.subtopologies[1].source_topics, (std::vector<std::string>{"app-g1-repartition"}));
}

TEST(TopologyPlanTest, EveryNodeIsInExactlyOneSubtopology) {
  const Topology topology = topology_of(R"json({"application_id": "app",
      "sources": [{"name": "a", "topic": "ta"}, {"name": "b", "topic": "tb"}],
      "operators": [
        {"name": "ra", "from": "a", "rekey": "k"},
        {"name": "c1", "from": "ra", "aggregate": {"n": "count()"}},
        {"name": "c2", "from": "ra", "dedupe": {"within": "1m"}},
        {"name": "fb", "from": "b", "filter": "true"}],
      "sinks": [{"from": "c1", "topic": "o1"}, {"from": "c2", "topic": "o2"}, {"from": "fb", "topic": "o3"}]})json");
  ASSERT_EQ(topology.subtopologies.size(), 4u);
  std::vector<int> sources(2, 0), operators(4, 0), sinks(3, 0);
  for (std::size_t i = 0; i < topology.subtopologies.size(); ++i) {
    const Subtopology& sub = topology.subtopologies[i];
    EXPECT_EQ(sub.id, static_cast<int>(i));
    for (const auto index : sub.sources) ++sources.at(index);
    for (const auto index : sub.operators) ++operators.at(index);
    for (const auto index : sub.sinks) ++sinks.at(index);
  }
  EXPECT_EQ(sources, (std::vector<int>{1, 1}));
  EXPECT_EQ(operators, (std::vector<int>{1, 1, 1, 1}));
  EXPECT_EQ(sinks, (std::vector<int>{1, 1, 1}));
  // a's flow, b's flow, then the two keyed operators in operator order.
  EXPECT_EQ(topology.subtopologies[0].source_topics, (std::vector<std::string>{"ta"}));
  EXPECT_EQ(topology.subtopologies[1].source_topics, (std::vector<std::string>{"tb"}));
  EXPECT_EQ(topology.subtopologies[2].source_topics, (std::vector<std::string>{"app-c1-repartition"}));
  EXPECT_EQ(topology.subtopologies[3].source_topics, (std::vector<std::string>{"app-c2-repartition"}));
}

// ---- internal topics ----

TEST(TopologyPlanTest, InternalTopicConfigs) {
  const Topology topology = topology_of(R"json({"application_id": "app",
      "sources": [{"name": "s", "topic": "ts"}],
      "operators": [
        {"name": "table", "from": "s", "aggregate": {"n": "count()"}},
        {"name": "tumbling", "from": "s", "window": {"type": "tumbling", "size": "1m", "grace": "10s"},
         "aggregate": {"n": "count()"}},
        {"name": "hopping", "from": "s", "window": {"type": "hopping", "size": "5m", "advance": "1m", "grace": "30s"},
         "aggregate": {"n": "count()"}},
        {"name": "sliding", "from": "s", "window": {"type": "sliding", "size": "10s", "grace": "2s"},
         "aggregate": {"n": "count()"}},
        {"name": "session", "from": "s", "window": {"type": "session", "gap": "30m", "grace": "1m"},
         "aggregate": {"n": "count()"}},
        {"name": "unique", "from": "s", "dedupe": {"within": "10m"}},
        {"name": "rekeyed", "from": "s", "rekey": "k"},
        {"name": "after", "from": "rekeyed", "aggregate": {"n": "count()"}},
        {"name": "all", "merge": ["table", "tumbling", "hopping", "sliding", "session", "unique", "after"]}],
      "sinks": [{"from": "all", "topic": "out"}]})json");
  std::map<std::string, std::map<std::string, std::string>> configs;
  std::vector<std::string> names;
  for (const auto& topic : topology.internal_topics) {
    names.push_back(topic.name);
    configs[topic.name] = topic.configs;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"app-after-repartition", "app-table-changelog", "app-tumbling-changelog",
                                             "app-hopping-changelog", "app-sliding-changelog", "app-session-changelog",
                                             "app-unique-changelog", "app-after-changelog"}));
  using Configs = std::map<std::string, std::string>;
  EXPECT_EQ(configs["app-after-repartition"], (Configs{{"cleanup.policy", "delete"}, {"retention.ms", "-1"}, {"segment.ms", "600000"}}));
  EXPECT_EQ(configs["app-table-changelog"], (Configs{{"cleanup.policy", "compact"}}));
  EXPECT_EQ(configs["app-after-changelog"], (Configs{{"cleanup.policy", "compact"}}));
  // Window size (or gap, or within) + grace + one day.
  const std::string tumbling_retention = std::to_string(60'000 + 10'000 + 86'400'000);
  EXPECT_EQ(configs["app-tumbling-changelog"],
            (Configs{{"cleanup.policy", "compact,delete"}, {"retention.ms", tumbling_retention}}));
  EXPECT_EQ(configs["app-hopping-changelog"].at("retention.ms"), std::to_string(300'000 + 30'000 + 86'400'000));
  EXPECT_EQ(configs["app-sliding-changelog"].at("retention.ms"), std::to_string(10'000 + 2'000 + 86'400'000));
  EXPECT_EQ(configs["app-session-changelog"].at("retention.ms"), std::to_string(1'800'000 + 60'000 + 86'400'000));
  EXPECT_EQ(configs["app-unique-changelog"],
            (Configs{{"cleanup.policy", "compact,delete"}, {"retention.ms", std::to_string(600'000 + 86'400'000)}}));

  // "all" merges the repartitioned flow back into the flow that feeds it: one sub-topology, whose tasks read
  // the source topic and the repartition topic (co-partitioned) and own every changelog.
  ASSERT_EQ(topology.subtopologies.size(), 1u);
  EXPECT_EQ(topology.subtopologies[0].source_topics, (std::vector<std::string>{"ts", "app-after-repartition"}));
  for (const auto& topic : topology.internal_topics) {
    EXPECT_EQ(topic.subtopology, 0) << topic.name;
    if (topic.kind == InternalTopic::Kind::changelog) {
      EXPECT_EQ(topic.partitions_of, (std::vector<std::string>{"ts", "app-after-repartition"})) << topic.name;
    }
  }
  // The repartition topic takes its count from what writes it, never from itself.
  EXPECT_EQ(topology.internal_topics[0].partitions_of, (std::vector<std::string>{"ts"}));
}

// ---- internal topic names ----

TEST(TopologyPlanTest, InternalTopicNamesMustFitKafka) {
  // 200 + 1 + 36 + 12 ("-repartition") = 249 characters: the longest valid name.
  const std::string application_id(200, 'a');
  const auto document = [&](const std::string& name) {
    return R"({"application_id": ")" + application_id + R"(",
        "sources": [{"name": "s", "topic": "ts"}],
        "operators": [{"name": "by_user", "from": "s", "rekey": "user"},
                      {"name": ")" + name + R"json(", "from": "by_user", "aggregate": {"n": "count()"}}],
        "sinks": [{"from": ")json" + name + R"(", "topic": "out"}]})";
  };
  const Topology fits = topology_of(document(std::string(36, 'n')));
  EXPECT_EQ(fits.operators.at(1).repartition_topic->size(), 249u);
  EXPECT_TRUE(has_only_error(errors_of(document(std::string(37, 'n'))), "/operators/1/name",
                             "(this operator's repartition topic) would be 250 characters long, more than the 249 of a "
                             "Kafka topic name; shorten the operator's name or the application_id"));
}

TEST(TopologyPlanTest, ChangelogNameLengthCountsWithoutARepartition) {
  // 200 + 1 + 39 + 10 ("-changelog") = 250.
  const std::string application_id(200, 'a');
  const auto errors = errors_of(R"({"application_id": ")" + application_id + R"(",
        "sources": [{"name": "s", "topic": "ts"}],
        "operators": [{"name": ")" + std::string(39, 'n') + R"(", "from": "s", "dedupe": {"within": "1m"}}],
        "sinks": [{"from": "s", "topic": "out"}]})");
  EXPECT_TRUE(has_only_error(errors, "/operators/0/name", "(this operator's changelog) would be 250 characters long"));
}

TEST(TopologyPlanTest, InternalTopicsMayNotBeUserTopics) {
  const auto errors = errors_of(R"json({"application_id": "app",
      "sources": [{"name": "s", "topic": "ts"}, {"name": "t", "topic": "app-counts-repartition"}],
      "operators": [{"name": "by_user", "from": "s", "rekey": "user"},
                    {"name": "counts", "from": "by_user", "aggregate": {"n": "count()"}},
                    {"name": "unique", "from": "t", "dedupe": {"within": "1m"}}],
      "sinks": [{"from": "counts", "topic": "app-counts-changelog"}, {"from": "unique", "topic": "out"}],
      "dead_letter_topic": "app-unique-changelog"})json");
  ASSERT_EQ(errors.size(), 3u) << testing::describe_errors(errors);
  EXPECT_TRUE(has_error(errors, "/operators/1/name",
                        "the internal topic \"app-counts-changelog\" (this operator's changelog) is also written by "
                        "the sink at /sinks/0; sluice creates and owns its internal topics, so rename the operator or "
                        "use another topic"));
  EXPECT_TRUE(has_error(errors, "/operators/1/name",
                        "the internal topic \"app-counts-repartition\" (this operator's repartition topic) is also "
                        "read by the source at /sources/1"));
  EXPECT_TRUE(has_error(errors, "/operators/2/name",
                        "the internal topic \"app-unique-changelog\" (this operator's changelog) is also the "
                        "dead_letter_topic"));
}

TEST(TopologyPlanTest, InternalTopicErrorsComeWithTheOtherErrors) {
  // A name error elsewhere does not hide the internal-topic collision.
  const auto errors = errors_of(R"json({"application_id": "app",
      "sources": [{"name": "s", "topic": "ts"}],
      "operators": [{"name": "counts", "from": "s", "aggregate": {"n": "count()"}},
                    {"name": "bad", "from": "s", "filter": "(("}],
      "sinks": [{"from": "counts", "topic": "app-counts-changelog"}]})json");
  ASSERT_EQ(errors.size(), 2u) << testing::describe_errors(errors);
  EXPECT_EQ(errors[0].pointer, "/operators/0/name");
  EXPECT_EQ(errors[1].pointer, "/operators/1/filter");
}

}  // namespace
}  // namespace sluice::topology
