// sluice-datagen: creates a topic if missing and produces generated JSON records to it, for the demo, the
// compose file's load generator and benchmarks. Deterministic for a given --seed.
//
//   sluice-datagen --bootstrap HOST:PORT --topic NAME --kind orders|lines|events|keyed [--count N]
//                  [--partitions P] [--rate RECORDS_PER_SECOND] [--poison N] [--seed S] [--keys DISTINCT]
// keyed: key "k<i>" for i cycling through DISTINCT keys (every key appears once before any repeats), value
// {"k": key, "v": n, "ts": event time}.
#include <chrono>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/core/duration.hpp"
#include "sluice/kafka/librdkafka.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

struct Options {
  std::string bootstrap = "127.0.0.1:9092";
  std::string topic;
  std::string kind = "orders";
  std::int64_t count = 10'000;
  std::int32_t partitions = 4;
  std::int64_t rate = 0;    // 0: as fast as possible
  std::int64_t poison = 0;  // records that are not valid JSON, spread through the stream
  std::uint64_t seed = 42;
  std::int64_t keys = 1000;
};

int usage(const std::string& problem) {
  std::cerr << "sluice-datagen: " << problem
            << "\nusage: sluice-datagen --bootstrap HOST:PORT --topic NAME --kind orders|lines|events|keyed [--count N] "
               "[--partitions P] [--rate N] [--poison N] [--seed S] [--keys DISTINCT]\n";
  return 2;
}

std::pair<std::string, std::string> generate(const std::string& kind, std::int64_t index, std::mt19937_64& random,
                                             std::int64_t keys) {
  static const char* countries[] = {"de", "fr", "us", "jp", "br", nullptr};
  static const char* words[] = {"stream", "kafka", "state", "window", "join", "record", "topic", "offset", "commit",
                                "exactly", "once", "partition", "broker", "latency", "throughput", "sluice"};
  static const char* types[] = {"click", "view", "purchase", "signup", "click", "view"};
  std::int64_t epoch_ms = 1'795'255'200'000 + index * 100;  // 2026-11-21T10:00:00Z, 10 records a second
  if (kind == "orders") {
    const char* country = countries[random() % 6];
    json customer = {{"id", "c" + std::to_string(random() % 500)}};
    if (country != nullptr) customer["country"] = country;
    json order = {{"id", "o" + std::to_string(index)},
                  {"status", random() % 4 == 0 ? "pending" : "paid"},
                  {"amount", static_cast<double>(random() % 200000) / 100.0},
                  {"created_at", sluice::core::format_iso8601_ms(epoch_ms)},
                  {"customer", customer}};
    return {order["id"], order.dump()};
  }
  if (kind == "keyed") {
    std::string key = "k" + std::to_string(index % keys);
    return {key, json{{"k", key}, {"v", static_cast<std::int64_t>(random() % 1000)}, {"ts", epoch_ms}}.dump()};
  }
  if (kind == "lines") {
    std::string text;
    int length = 3 + static_cast<int>(random() % 10);
    for (int i = 0; i < length; ++i) text += std::string(i ? " " : "") + words[random() % 16];
    return {"line-" + std::to_string(index), json{{"text", text}}.dump()};
  }
  json event = {{"id", index}, {"type", types[random() % 6]}, {"user", "u" + std::to_string(random() % 100)},
                {"at", epoch_ms}};
  if (event["type"] == "purchase") event["amount"] = static_cast<double>(random() % 10000) / 100.0;
  return {event["user"], event.dump()};
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::vector<std::string> arguments(argv + 1, argv + argc);
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    const std::string& flag = arguments[i];
    if (i + 1 >= arguments.size()) return usage(flag + " needs a value");
    const std::string& value = arguments[++i];
    try {
      if (flag == "--bootstrap") options.bootstrap = value;
      else if (flag == "--topic") options.topic = value;
      else if (flag == "--kind") options.kind = value;
      else if (flag == "--count") options.count = std::stoll(value);
      else if (flag == "--partitions") options.partitions = std::stoi(value);
      else if (flag == "--rate") options.rate = std::stoll(value);
      else if (flag == "--poison") options.poison = std::stoll(value);
      else if (flag == "--seed") options.seed = std::stoull(value);
      else if (flag == "--keys") options.keys = std::max<std::int64_t>(1, std::stoll(value));
      else return usage("unknown option " + flag);
    } catch (const std::exception&) {
      return usage(flag + ": \"" + value + "\" is not a number");
    }
  }
  if (options.topic.empty()) return usage("--topic is required");
  if (options.kind != "orders" && options.kind != "lines" && options.kind != "events" && options.kind != "keyed") {
    return usage("--kind must be orders, lines, events or keyed");
  }
  sluice::kafka::Config config = {{"bootstrap.servers", options.bootstrap}};
  sluice::kafka::ClientCallbacks callbacks;
  callbacks.log = [](int level, std::string_view, std::string_view message) {
    if (level <= 4) std::cerr << "sluice-datagen: kafka: " << message << "\n";
  };
  try {
    auto admin = sluice::kafka::make_admin(config, callbacks);
    sluice::kafka::NewTopic topic{options.topic, options.partitions, -1, {}};
    auto error = admin->create_topics({topic}, 30s);
    if (!error.ok()) {
      std::cerr << "sluice-datagen: cannot create " << options.topic << ": " << error.message << "\n";
      return 1;
    }
    config["enable.idempotence"] = "true";
    config["linger.ms"] = "10";
    config["partitioner"] = "murmur2_random";
    std::int64_t failed = 0;
    auto producer = sluice::kafka::make_producer(config, callbacks, [&](const sluice::kafka::KafkaError& delivery, const sluice::kafka::DeliveryReport&) {
      if (!delivery.ok()) ++failed;
    });
    std::mt19937_64 random(options.seed);
    auto started = std::chrono::steady_clock::now();
    std::int64_t poison_every = options.poison > 0 ? std::max<std::int64_t>(1, options.count / options.poison) : 0;
    for (std::int64_t index = 0; index < options.count; ++index) {
      auto [key, value] = generate(options.kind, index, random, options.keys);
      if (poison_every > 0 && index % poison_every == poison_every / 2) value = "{\"truncated\": ";
      for (;;) {
        auto error = producer->produce(options.topic, key, value, 0, nullptr);
        if (error.code == sluice::kafka::ErrorCode::queue_full) {
          producer->poll(10ms);
          continue;
        }
        if (!error.ok()) {
          std::cerr << "sluice-datagen: " << error.message << "\n";
          return 1;
        }
        break;
      }
      producer->poll(0ms);
      if (options.rate > 0) {
        auto due = started + std::chrono::microseconds(index * 1'000'000 / options.rate);
        std::this_thread::sleep_until(due);  // pacing to a target rate, not synchronisation
      }
    }
    error = producer->flush(60s);
    if (!error.ok() || failed > 0) {
      std::cerr << "sluice-datagen: " << failed << " records not acknowledged\n";
      return 1;
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cerr << "sluice-datagen: produced " << options.count << " " << options.kind << " records to "
              << options.topic << " in " << seconds << " s\n";
  } catch (const sluice::kafka::ConfigError& error) {
    std::cerr << "sluice-datagen: " << error.what() << "\n";
    return 2;
  }
  return 0;
}
