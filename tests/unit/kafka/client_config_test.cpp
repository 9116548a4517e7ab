// The consumers' prefetch is bounded in bytes by consumer_queue_max_kbytes alone: librdkafka 2.0.2 compares its
// whole forwarded queue with queued.min.messages per partition and stops fetching for up to a second, which left
// the processing thread waiting (issue 13), so sluice lifts the count unless the user set one.
#include <gtest/gtest.h>

#include "sluice/kafka/client_config.hpp"

using namespace sluice;

namespace {

kafka::ClientSettings settings() {
  kafka::ClientSettings settings;
  settings.bootstrap_servers = "127.0.0.1:9092";
  settings.application_id = "app";
  settings.client_id = "app-1";
  settings.consumer_queue_max_kbytes = 32'768;
  return settings;
}

}  // namespace

TEST(ClientConfig, ConsumersPrefetchUpToTheByteBoundNotAMessageCount) {
  for (const kafka::Config& config : {kafka::consumer_config(settings()), kafka::restore_consumer_config(settings())}) {
    EXPECT_EQ(config.at("queued.min.messages"), "10000000");
  }
  EXPECT_EQ(kafka::consumer_config(settings()).at("queued.max.messages.kbytes"), "32768");
  // Nothing wakes a restore's fetcher: it keeps at least 64 MiB.
  EXPECT_EQ(kafka::restore_consumer_config(settings()).at("queued.max.messages.kbytes"), "65536");
  kafka::ClientSettings large = settings();
  large.consumer_queue_max_kbytes = 131'072;
  EXPECT_EQ(kafka::restore_consumer_config(large).at("queued.max.messages.kbytes"), "131072");
}

TEST(ClientConfig, AUsersQueuedMinMessagesIsKept) {
  kafka::ClientSettings with_count = settings();
  with_count.pass_through["queued.min.messages"] = "100000";
  EXPECT_EQ(kafka::consumer_config(with_count).at("queued.min.messages"), "100000");
  EXPECT_EQ(kafka::restore_consumer_config(with_count).at("queued.min.messages"), "100000");
}
