// A Kafka property librdkafka rejects is named in the error, its value only when it cannot be a secret: a
// rejected `kafka.sasl.jaas.config` (a Java client property, unknown to librdkafka) carries a password.
#include <gtest/gtest.h>

#include <string>

#include "sluice/kafka/librdkafka.hpp"

using namespace sluice;

namespace {

std::string rejection(const std::string& property, const std::string& value) {
  try {
    (void)kafka::make_producer({{property, value}}, {}, {});
  } catch (const kafka::ConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << property << " was accepted";
  return {};
}

}  // namespace

TEST(KafkaConfigError, SecretValuesAreNeverShown) {
  const std::string jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"hunter2\";";
  const std::string message = rejection("sasl.jaas.config", jaas);
  EXPECT_NE(message.find("kafka.sasl.jaas.config"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  EXPECT_NE(message.find("(secret)"), std::string::npos) << message;
  EXPECT_EQ(rejection("ssl.keystore.password.typo", "hunter2").find("hunter2"), std::string::npos);
}

TEST(KafkaConfigError, OtherValuesAreShownToHelp) {
  const std::string message = rejection("acks", "sometimes");
  EXPECT_NE(message.find("\"sometimes\""), std::string::npos) << message;
}
