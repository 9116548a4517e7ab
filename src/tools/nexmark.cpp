// sluice-nexmark: the Nexmark benchmark's event stream (persons, auctions, bids) as flat JSON records in Kafka,
// for bench/nexmark (sluice vs the raw ceiling vs Kafka Streams) and its correctness test.
//
//   sluice-nexmark load  --bootstrap H:P --topic T --events N [--partitions P] [common options]
//   sluice-nexmark rate  --bootstrap H:P --topic T --rate R (--seconds S | --events N) [--partitions P] [common]
//   sluice-nexmark print --events N [common options]          one line per event: key TAB timestamp TAB value
// common: [--seed S] [--first-event I] [--events-per-second E] [--base-time-ms B]
//         [--person-bytes B] [--auction-bytes B] [--bid-bytes B]
// load and rate also take [--persons-topic T]: every person event is written to T as well (same key, value,
// timestamp and partitioner), the table that Nexmark q3 joins the auctions with; and [--avro-registry URL]: the
// events of --topic are written as Avro in the registry's wire format instead of JSON (kEventSchema, registered
// under "<topic>-value": {"type", "person" | "auction" | "bid": the same fields as the JSON, "extra" included};
// the persons topic stays JSON). The Avro variant of bench/nexmark's q1 reads them.
//
// Determinism: event i's content is a pure function of (seed, i): every event draws from its own random
// generator seeded with a hash of (seed, i), so the same arguments always give the same bytes, in any mode and
// from any --first-event. `load` and `print` stamp event i with base + i * 1000 / E ms (E events per second of
// event time, default 10,000, Nexmark's default first-event rate); `rate` stamps each event with the wall clock
// at the moment it is produced (record timestamp and date_time alike), for end-to-end latency runs.
//
// The stream follows Nexmark's generator (its definition, re-implemented here): per 50 events 1 person,
// 3 auctions and 46 bids, in that order; ids are dense (person i/50 + 1000, auctions 3 per 50 events + 1000);
// a bid goes to the current hot auction (the first of the last 100 auctions) with probability 1/2, else to a
// random auction among the last 100 plus 10 not yet created; its bidder is the current hot bidder (the second
// of the last 100 persons) with probability 3/4, else one of the last 1,000 persons plus 10 not yet created;
// an auction's seller is the hot seller (first of the last 100 persons) with probability 3/4; prices are
// round(100 * 10^(6u)) cents. Each value is padded with a random "extra" string to an average size drawn
// uniformly within +-10% of the per-type target (JSON bytes: person 250, auction 500, bid 200 by default).
//
// Keys are decimal ids (person: its id; auction: its id; bid: its auction), partitioned with Kafka's murmur2
// (the Java client's partitioner), so an auction and its bids share a partition.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "sluice/core/json.hpp"
#include "sluice/formats/registry_codec.hpp"

#include "sluice/kafka/librdkafka.hpp"

namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kProportionDenominator = 50;
constexpr std::int64_t kPersonProportion = 1;
constexpr std::int64_t kAuctionProportion = 3;
constexpr std::int64_t kFirstPersonId = 1000;
constexpr std::int64_t kFirstAuctionId = 1000;
constexpr std::int64_t kFirstCategoryId = 10;
constexpr std::int64_t kCategories = 5;
constexpr std::int64_t kHotAuctionRatio = 2;  // P(hot auction) = 1 - 1/2
constexpr std::int64_t kHotBidderRatio = 4;   // P(hot bidder) = 1 - 1/4
constexpr std::int64_t kHotSellerRatio = 4;   // P(hot seller) = 1 - 1/4
constexpr std::int64_t kHotBatch = 100;       // hot auction / bidder / seller: first (second) of the last 100
constexpr std::int64_t kActivePeople = 1000;
constexpr std::int64_t kInFlightAuctions = 100;
constexpr std::int64_t kIdLead = 10;  // ids not yet created that bids and sellers may name

struct Options {
  std::string mode;
  std::string bootstrap = "127.0.0.1:9092";
  std::string topic;
  std::string persons_topic;  // load, rate: persons written here too (empty: not)
  std::int64_t events = -1;
  std::int32_t partitions = 4;
  std::uint64_t seed = 42;
  std::int64_t first_event = 0;
  std::int64_t events_per_second = 10'000;           // of event time (load, print)
  std::int64_t base_time_ms = 1'795'219'200'000;     // 2026-11-21T00:00:00Z
  std::int64_t person_bytes = 250;
  std::int64_t auction_bytes = 500;
  std::int64_t bid_bytes = 200;
  std::int64_t rate = 0;     // rate mode: events per wall-clock second
  double seconds = 0;        // rate mode: how long
  std::string avro_registry;  // load, rate: write --topic's values as Avro with this registry (empty: JSON)
};

// The Avro form of an event: its type, and the event's fields (as in the JSON) in the branch named by it.
constexpr std::string_view kEventSchema = R"~({"type": "record", "name": "Event", "namespace": "nexmark", "fields": [
  {"name": "type", "type": "string"},
  {"name": "person", "default": null, "type": ["null", {"type": "record", "name": "Person", "fields": [
    {"name": "id", "type": "long"}, {"name": "name", "type": "string"}, {"name": "email", "type": "string"},
    {"name": "credit_card", "type": "string"}, {"name": "city", "type": "string"}, {"name": "state", "type": "string"},
    {"name": "date_time", "type": "long"}, {"name": "extra", "type": "string"}]}]},
  {"name": "auction", "default": null, "type": ["null", {"type": "record", "name": "Auction", "fields": [
    {"name": "id", "type": "long"}, {"name": "item_name", "type": "string"}, {"name": "description", "type": "string"},
    {"name": "initial_bid", "type": "long"}, {"name": "reserve", "type": "long"}, {"name": "date_time", "type": "long"},
    {"name": "expires", "type": "long"}, {"name": "seller", "type": "long"}, {"name": "category", "type": "long"},
    {"name": "extra", "type": "string"}]}]},
  {"name": "bid", "default": null, "type": ["null", {"type": "record", "name": "Bid", "fields": [
    {"name": "auction", "type": "long"}, {"name": "bidder", "type": "long"}, {"name": "price", "type": "long"},
    {"name": "channel", "type": "string"}, {"name": "url", "type": "string"}, {"name": "date_time", "type": "long"},
    {"name": "extra", "type": "string"}]}]}]})~";

// Rewrites an event's JSON value as its Avro encoding ({"type": t, t: {the other fields}}, framed with `schema`).
bool to_avro(const sluice::formats::SinkSchema& schema, sluice::core::JsonParser& parser, std::string& value) {
  auto parsed = parser.parse(value);
  if (!parsed.ok()) return false;
  sluice::core::Value flat = std::move(parsed).value();
  const std::string type = flat.find("type")->as_string();
  flat.erase("type");
  sluice::core::Value event = sluice::core::Value::object();
  event.set("type", sluice::core::Value::string(type));
  event.set(type, std::move(flat));
  value.clear();
  return schema.encode(event, value).ok();
}

int usage(const std::string& problem) {
  std::cerr << "sluice-nexmark: " << problem << "\nusage:\n"
            << "  sluice-nexmark load  --bootstrap H:P --topic T --events N [--partitions P] [common]\n"
            << "  sluice-nexmark rate  --bootstrap H:P --topic T --rate R (--seconds S | --events N) [--partitions P] [common]\n"
            << "  sluice-nexmark print --events N [common]\n"
            << "load and rate: [--persons-topic T] writes every person to T as well\n"
            << "               [--avro-registry URL] writes --topic's values as Avro (registered in URL)\n"
            << "common: [--seed S] [--first-event I] [--events-per-second E] [--base-time-ms B]\n"
            << "        [--person-bytes B] [--auction-bytes B] [--bid-bytes B]\n";
  return 2;
}

// SplitMix64: a small, fast generator whose whole state is one word, so seeding it per event is free.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound) (bound > 0); the modulo bias is below 2^-40 for the bounds used here.
  std::int64_t below(std::int64_t bound) { return static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(bound)); }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

std::uint64_t event_seed(std::uint64_t seed, std::int64_t index) {
  Random mix(seed ^ (static_cast<std::uint64_t>(index) * 0xd1342543de82ef95ULL));
  mix.next();
  return mix.next();
}

// Base-0 id of the last person created at or before event `index` (Nexmark's lastBase0PersonId).
std::int64_t last_person(std::int64_t index) {
  std::int64_t epoch = index / kProportionDenominator;
  std::int64_t offset = index % kProportionDenominator;
  if (offset >= kPersonProportion) offset = kPersonProportion - 1;
  return epoch * kPersonProportion + offset;
}

// Base-0 id of the last auction created at or before event `index` (Nexmark's lastBase0AuctionId).
std::int64_t last_auction(std::int64_t index) {
  std::int64_t epoch = index / kProportionDenominator;
  std::int64_t offset = index % kProportionDenominator;
  if (offset < kPersonProportion) {
    --epoch;
    offset = kAuctionProportion - 1;
  } else if (offset >= kPersonProportion + kAuctionProportion) {
    offset = kAuctionProportion - 1;
  } else {
    offset -= kPersonProportion;
  }
  return epoch * kAuctionProportion + offset;
}

std::int64_t random_person(std::int64_t index, Random& random) {
  std::int64_t people = last_person(index) + 1;
  std::int64_t active = std::min(people, kActivePeople);
  return people - active + random.below(active + kIdLead);
}

std::int64_t random_auction(std::int64_t index, Random& random) {
  std::int64_t last = std::max<std::int64_t>(last_auction(index), 0);
  std::int64_t first = std::max<std::int64_t>(last - kInFlightAuctions, 0);
  return first + random.below(last - first + 1 + kIdLead);
}

std::int64_t random_price(Random& random) { return std::llround(std::pow(10.0, random.unit() * 6.0) * 100.0); }

void append_letters(std::string& out, Random& random, std::int64_t count) {
  while (count > 0) {
    std::uint64_t bits = random.next();
    for (int i = 0; i < 8 && count > 0; ++i, --count, bits >>= 8) out.push_back(static_cast<char>('a' + (bits & 0xff) % 26));
  }
}

void append_field(std::string& out, const char* name, std::int64_t value) {
  out += ",\"";
  out += name;
  out += "\":";
  out += std::to_string(value);
}

template <typename Fill>
void append_string_field(std::string& out, const char* name, Fill fill) {
  out += ",\"";
  out += name;
  out += "\":\"";
  fill(out);
  out.push_back('"');
}

const char* const kFirstNames[] = {"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"};
const char* const kLastNames[] = {"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"};
const char* const kCities[] = {"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"};
const char* const kStates[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
const char* const kChannels[] = {"Google", "Facebook", "Baidu", "Apple"};
template <typename T, std::size_t N>
constexpr std::int64_t count_of(T (&)[N]) { return static_cast<std::int64_t>(N); }

struct Event {
  std::string key;
  std::string value;
  std::int64_t timestamp_ms = 0;
  char type = 'b';  // p, a, b
};

class Generator {
 public:
  explicit Generator(const Options& options) : options_(options) {}

  std::int64_t event_time(std::int64_t index) const {
    return options_.base_time_ms + index * 1000 / options_.events_per_second;
  }

  // Event `index` stamped with `timestamp_ms`.
  void make(std::int64_t index, std::int64_t timestamp_ms, Event& event) const {
    Random random(event_seed(options_.seed, index));
    std::int64_t offset = index % kProportionDenominator;
    event.timestamp_ms = timestamp_ms;
    std::string& value = event.value;
    value.clear();
    std::int64_t target = 0;
    if (offset < kPersonProportion) {
      event.type = 'p';
      std::int64_t id = last_person(index) + kFirstPersonId;
      event.key = std::to_string(id);
      value = "{\"type\":\"person\"";
      append_field(value, "id", id);
      append_string_field(value, "name", [&](std::string& out) {
        out += kFirstNames[random.below(count_of(kFirstNames))];
        out.push_back(' ');
        out += kLastNames[random.below(count_of(kLastNames))];
      });
      append_string_field(value, "email", [&](std::string& out) {
        append_letters(out, random, 3 + random.below(7));
        out.push_back('@');
        append_letters(out, random, 3 + random.below(7));
        out += ".com";
      });
      append_string_field(value, "credit_card", [&](std::string& out) {
        for (int group = 0; group < 4; ++group) {
          if (group > 0) out.push_back(' ');
          char digits[8];
          std::snprintf(digits, sizeof digits, "%04d", static_cast<int>(random.below(10000)));
          out += digits;
        }
      });
      append_string_field(value, "city", [&](std::string& out) { out += kCities[random.below(count_of(kCities))]; });
      append_string_field(value, "state", [&](std::string& out) { out += kStates[random.below(count_of(kStates))]; });
      append_field(value, "date_time", timestamp_ms);
      target = options_.person_bytes;
    } else if (offset < kPersonProportion + kAuctionProportion) {
      event.type = 'a';
      std::int64_t id = last_auction(index) + kFirstAuctionId;
      event.key = std::to_string(id);
      std::int64_t seller = random.below(kHotSellerRatio) > 0 ? (last_person(index) / kHotBatch) * kHotBatch
                                                              : random_person(index, random);
      std::int64_t category = kFirstCategoryId + random.below(kCategories);
      std::int64_t initial_bid = random_price(random);
      std::int64_t reserve = initial_bid + random_price(random);
      // Auctions last 1 ms up to twice the event time in which kInFlightAuctions more auctions are created.
      std::int64_t horizon_ms = kInFlightAuctions * kProportionDenominator / kAuctionProportion * 1000 /
                                options_.events_per_second;
      std::int64_t expires = timestamp_ms + 1 + random.below(std::max<std::int64_t>(2 * horizon_ms, 1));
      value = "{\"type\":\"auction\"";
      append_field(value, "id", id);
      append_string_field(value, "item_name", [&](std::string& out) { append_letters(out, random, 20); });
      append_string_field(value, "description", [&](std::string& out) { append_letters(out, random, 100); });
      append_field(value, "initial_bid", initial_bid);
      append_field(value, "reserve", reserve);
      append_field(value, "date_time", timestamp_ms);
      append_field(value, "expires", expires);
      append_field(value, "seller", seller + kFirstPersonId);
      append_field(value, "category", category);
      target = options_.auction_bytes;
    } else {
      event.type = 'b';
      std::int64_t auction = random.below(kHotAuctionRatio) > 0 ? (last_auction(index) / kHotBatch) * kHotBatch
                                                                : random_auction(index, random);
      std::int64_t bidder = random.below(kHotBidderRatio) > 0 ? (last_person(index) / kHotBatch) * kHotBatch + 1
                                                              : random_person(index, random);
      auction += kFirstAuctionId;
      bidder += kFirstPersonId;
      std::int64_t price = random_price(random);
      event.key = std::to_string(auction);
      value = "{\"type\":\"bid\"";
      append_field(value, "auction", auction);
      append_field(value, "bidder", bidder);
      append_field(value, "price", price);
      append_string_field(value, "channel", [&](std::string& out) {
        if (random.below(10) > 0) {
          out += kChannels[random.below(count_of(kChannels))];
        } else {
          out += "channel-" + std::to_string(random.below(10000));
        }
      });
      append_string_field(value, "url", [&](std::string& out) {
        out += "https://www.nexmark.com/";
        for (int part = 0; part < 3; ++part) {
          append_letters(out, random, 5);
          out.push_back('/');
        }
        out += "item.htm?query=1";
      });
      append_field(value, "date_time", timestamp_ms);
      target = options_.bid_bytes;
    }
    // Padding: the whole value reaches a size uniform within +-10% of the target (never below its fields).
    std::int64_t closing = static_cast<std::int64_t>(value.size()) + 12;  // ,"extra":"" and }
    std::int64_t wanted = static_cast<std::int64_t>(std::llround(static_cast<double>(target) * (0.9 + 0.2 * random.unit())));
    append_string_field(value, "extra", [&](std::string& out) { append_letters(out, random, std::max<std::int64_t>(0, wanted - closing)); });
    value.push_back('}');
  }

 private:
  const Options& options_;
};

std::atomic<bool> stop_requested{false};

struct Totals {
  std::int64_t events = 0, bytes = 0, persons = 0, auctions = 0, bids = 0;
  void add(const Event& event) {
    ++events;
    bytes += static_cast<std::int64_t>(event.key.size() + event.value.size());
    persons += event.type == 'p';
    auctions += event.type == 'a';
    bids += event.type == 'b';
  }
};

void print_totals(const Totals& totals, double seconds) {
  std::printf("events=%lld bytes=%lld persons=%lld auctions=%lld bids=%lld seconds=%.3f\n",
              static_cast<long long>(totals.events), static_cast<long long>(totals.bytes),
              static_cast<long long>(totals.persons), static_cast<long long>(totals.auctions),
              static_cast<long long>(totals.bids), seconds);
  std::fflush(stdout);
}

int run_print(const Options& options) {
  Generator generator(options);
  Event event;
  std::string line;
  for (std::int64_t index = options.first_event; index < options.first_event + options.events; ++index) {
    generator.make(index, generator.event_time(index), event);
    line.assign(event.key).append("\t").append(std::to_string(event.timestamp_ms)).append("\t").append(event.value).push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  return 0;
}

int run_produce(const Options& options) {
  sluice::kafka::Config config = {{"bootstrap.servers", options.bootstrap}};
  sluice::kafka::ClientCallbacks callbacks;
  callbacks.log = [](int level, std::string_view, std::string_view message) {
    if (level <= 4) std::cerr << "sluice-nexmark: kafka: " << message << "\n";
  };
  {
    auto admin = sluice::kafka::make_admin(config, callbacks);
    std::vector<sluice::kafka::NewTopic> topics = {{options.topic, options.partitions, -1, {}}};
    if (!options.persons_topic.empty()) topics.push_back({options.persons_topic, options.partitions, -1, {}});
    auto error = admin->create_topics(topics, 30s);
    if (!error.ok()) {
      std::cerr << "sluice-nexmark: cannot create " << options.topic << ": " << error.message << "\n";
      return 1;
    }
  }
  const bool paced = options.mode == "rate";
  config["enable.idempotence"] = "true";
  config["acks"] = "all";
  config["partitioner"] = "murmur2_random";  // the Java client's partitioner
  config["linger.ms"] = paced ? "1" : "20";
  config["queue.buffering.max.messages"] = "1000000";
  config["queue.buffering.max.kbytes"] = "1048576";
  std::int64_t failed = 0;
  std::string first_failure;
  auto producer = sluice::kafka::make_producer(config, callbacks,
                                   [&](const sluice::kafka::KafkaError& delivery, const sluice::kafka::DeliveryReport&) {
                                     if (!delivery.ok() && failed++ == 0) first_failure = delivery.message;
                                   });
  // Avro: the event schema registered under <topic>-value, every value of --topic framed with its id.
  std::unique_ptr<sluice::formats::SchemaRegistry> registry;
  sluice::formats::SinkSchema avro;
  sluice::core::JsonParser parser;
  std::string persons_value;
  if (!options.avro_registry.empty()) {
    registry = std::make_unique<sluice::formats::SchemaRegistry>(
        sluice::formats::RegistryOptions{{options.avro_registry}, "", "", std::chrono::milliseconds(10'000), 100});
    auto registered = registry->register_schema(options.topic + "-value", sluice::formats::SchemaKind::avro,
                                                std::string(kEventSchema));
    if (!registered.ok()) {
      std::cerr << "sluice-nexmark: cannot register the event schema: " << registered.error.message << "\n";
      return 1;
    }
    avro.id = *registered.value;
    avro.avro = std::make_shared<const sluice::formats::AvroSchema>(
        std::get<sluice::formats::AvroSchema>(sluice::formats::AvroSchema::parse(kEventSchema)));
  }
  Generator generator(options);
  Event event;
  Totals totals;
  auto started = std::chrono::steady_clock::now();
  auto next_report = started + 1s;
  std::int64_t total = options.events >= 0 ? options.events
                                           : static_cast<std::int64_t>(std::llround(options.seconds * static_cast<double>(options.rate)));
  auto produce_to = [&](const std::string& topic) {
    for (;;) {
      auto error = producer->produce(topic, event.key, event.value, event.timestamp_ms, nullptr);
      if (error.code == sluice::kafka::ErrorCode::queue_full) {
        producer->poll(5ms);
        continue;
      }
      if (!error.ok()) std::cerr << "sluice-nexmark: produce to " << topic << ": " << error.message << "\n";
      return error.ok();
    }
  };
  auto report = [&](std::chrono::steady_clock::time_point now) {
    double elapsed = std::chrono::duration<double>(now - started).count();
    std::fprintf(stderr, "sluice-nexmark: %lld/%lld events (%.0f%%), %.0f events/s\n",
                 static_cast<long long>(totals.events), static_cast<long long>(total),
                 total > 0 ? 100.0 * static_cast<double>(totals.events) / static_cast<double>(total) : 100.0,
                 elapsed > 0 ? static_cast<double>(totals.events) / elapsed : 0.0);
  };
  for (std::int64_t produced = 0; produced < total && !stop_requested; ++produced) {
    const std::int64_t index = options.first_event + produced;
    std::int64_t timestamp_ms = generator.event_time(index);
    if (paced) {
      // Pacing to the target rate (not synchronisation): event k is due k / R seconds after the start.
      auto due = started + std::chrono::nanoseconds(produced * 1'000'000'000 / options.rate);
      if (std::chrono::steady_clock::now() < due) {
        producer->poll(0ms);
        std::this_thread::sleep_until(due);
      }
      timestamp_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    }
    generator.make(index, timestamp_ms, event);
    if (registry) {
      if (event.type == 'p') persons_value = event.value;  // the table stays JSON
      if (!to_avro(avro, parser, event.value)) {
        std::cerr << "sluice-nexmark: event " << index << " does not fit the Avro event schema\n";
        return 1;
      }
    }
    if (!produce_to(options.topic)) return 1;
    if (event.type == 'p' && !options.persons_topic.empty()) {
      if (registry) std::swap(event.value, persons_value);
      if (!produce_to(options.persons_topic)) return 1;
      if (registry) std::swap(event.value, persons_value);  // the totals count what --topic holds
    }
    totals.add(event);
    if ((produced & 1023) == 0) {
      producer->poll(0ms);
      auto now = std::chrono::steady_clock::now();
      if (now >= next_report) {
        report(now);
        next_report = now + 1s;
      }
    }
  }
  auto flushed = producer->flush(120s);
  auto finished = std::chrono::steady_clock::now();
  report(finished);
  if (!flushed.ok() || failed > 0) {
    std::cerr << "sluice-nexmark: " << failed << " events not delivered"
              << (first_failure.empty() ? "" : " (" + first_failure + ")") << (flushed.ok() ? "" : "; " + flushed.message)
              << "\n";
    return 1;
  }
  print_totals(totals, std::chrono::duration<double>(finished - started).count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (argc < 2) return usage("a mode is required");
  options.mode = argv[1];
  if (options.mode != "load" && options.mode != "rate" && options.mode != "print") {
    return usage("unknown mode " + options.mode);
  }
  std::vector<std::string> arguments(argv + 2, argv + argc);
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    const std::string& flag = arguments[i];
    if (i + 1 >= arguments.size()) return usage(flag + " needs a value");
    const std::string& value = arguments[++i];
    try {
      if (flag == "--bootstrap") options.bootstrap = value;
      else if (flag == "--topic") options.topic = value;
      else if (flag == "--persons-topic") options.persons_topic = value;
      else if (flag == "--events") options.events = std::stoll(value);
      else if (flag == "--partitions") options.partitions = std::stoi(value);
      else if (flag == "--seed") options.seed = std::stoull(value);
      else if (flag == "--first-event") options.first_event = std::stoll(value);
      else if (flag == "--events-per-second") options.events_per_second = std::stoll(value);
      else if (flag == "--base-time-ms") options.base_time_ms = std::stoll(value);
      else if (flag == "--person-bytes") options.person_bytes = std::stoll(value);
      else if (flag == "--auction-bytes") options.auction_bytes = std::stoll(value);
      else if (flag == "--bid-bytes") options.bid_bytes = std::stoll(value);
      else if (flag == "--rate") options.rate = std::stoll(value);
      else if (flag == "--seconds") options.seconds = std::stod(value);
      else if (flag == "--avro-registry") options.avro_registry = value;
      else return usage("unknown option " + flag);
    } catch (const std::exception&) {
      return usage(flag + ": \"" + value + "\" is not a number");
    }
  }
  if (options.events_per_second <= 0) return usage("--events-per-second must be positive");
  if (options.first_event < 0) return usage("--first-event must not be negative");
  if (options.mode == "print") {
    if (options.events < 0) return usage("--events is required");
    return run_print(options);
  }
  if (options.topic.empty()) return usage("--topic is required");
  if (options.partitions <= 0) return usage("--partitions must be positive");
  if (options.mode == "load" && options.events < 0) return usage("--events is required");
  if (options.mode == "rate") {
    if (options.rate <= 0) return usage("--rate must be positive");
    if (options.events < 0 && options.seconds <= 0) return usage("--seconds or --events is required");
  }
  struct sigaction action {};
  action.sa_handler = [](int) { stop_requested = true; };
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  try {
    return run_produce(options);
  } catch (const std::exception& error) {
    std::cerr << "sluice-nexmark: " << error.what() << "\n";
    return 1;
  }
}
