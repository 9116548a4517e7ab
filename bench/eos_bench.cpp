// Exactly-once against at-least-once through the real broker, on one topology, side by side in one run:
//
//   events -> enriched (map, sink out-events)                   stateless: one output per input
//          -> by_user (rekey) -> repartition -> per_user (tumbling 1m count + sum, emit update, sink out-counts)
//
// For each processing_guarantee, a fresh application on fresh topics:
//   1. throughput: RECORDS events are produced first; sluice starts; records/s from /readyz to the last input
//      consumed (sluice_records_consumed_total of the input topic), and to the moment the group has committed
//      everything through both sub-topologies (the outputs are then visible to read_committed readers);
//      sluice's CPU seconds over the first interval;
//   2. end-to-end latency: RATE events/s for SECONDS seconds, each carrying its wall-clock send time (the map
//      keeps it), read from out-events by a read_committed consumer; latency = receive time - send time, p50,
//      p99, max. Beside it, the floor: the same events read straight from the input topic by a read_committed
//      consumer (producer linger and broker round trip, no processor).
// Peak RSS of sluice and its transaction counters are reported too. A program, not a test: it prints figures.
//
// Usage: SLUICE_TEST_BOOTSTRAP=host:port bench_eos [RECORDS=500000] [RATE=5000] [SECONDS=20]
//        (scripts/local-kafka start prints that variable; SLUICE_BUILD_DIR selects the sluice binary)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "sluice/kafka/librdkafka.hpp"
#include "support/kafka_test_support.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;
using Steady = std::chrono::steady_clock;

namespace {

constexpr int partitions = 4;

std::int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double seconds_since(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

sluice::kafka::ClientCallbacks quiet() {
  sluice::kafka::ClientCallbacks callbacks;
  callbacks.log = [](int level, std::string_view facility, std::string_view message) {
    if (level <= 3) std::cerr << "[bench kafka] " << facility << ": " << message << "\n";
  };
  return callbacks;
}

// Produces `count` events, `rate` per second (0: as fast as possible), each stamped with its send time.
void produce_events(const std::string& topic, std::int64_t count, double rate, const std::string& phase,
                    std::uint64_t seed) {
  std::atomic<std::int64_t> failures{0};
  sluice::kafka::Config config = {{"bootstrap.servers", bootstrap()},
                                  {"enable.idempotence", "true"},
                                  {"linger.ms", rate > 0 ? "1" : "20"},
                                  {"queue.buffering.max.messages", "500000"}};
  auto producer = sluice::kafka::make_producer(config, quiet(),
                                   [&](const sluice::kafka::KafkaError& error, const sluice::kafka::DeliveryReport&) {
                                     if (!error.ok()) ++failures;
                                   });
  std::mt19937_64 random(seed);
  auto start = Steady::now();
  std::string key, value;
  for (std::int64_t i = 0; i < count; ++i) {
    if (rate > 0) {
      auto due = start + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(i / rate));
      if (due > Steady::now()) {
        producer->poll(0ms);
        std::this_thread::sleep_until(due);
      }
    }
    key = "session-" + std::to_string(random() % 10'000);
    value = json{{"user", "user-" + std::to_string(random() % 10'000)},
                 {"amount", static_cast<std::int64_t>(random() % 100'000)},
                 {"seq", i},
                 {"phase", phase},
                 {"sent_us", wall_us()}}
                .dump();
    for (;;) {
      auto error = producer->produce(topic, key, value, 0, nullptr);
      if (error.code == sluice::kafka::ErrorCode::queue_full) {
        producer->poll(5ms);
        continue;
      }
      if (!error.ok()) throw std::runtime_error("produce: " + error.message);
      break;
    }
    if (i % 1000 == 0) producer->poll(0ms);
  }
  if (!producer->flush(120s).ok() || failures > 0) throw std::runtime_error("input not acknowledged");
}

// Reads `topic` with read_committed from its current end and records, for every value with "phase":"latency",
// receive time - send time.
class LatencyReader {
 public:
  explicit LatencyReader(const std::string& topic) {
    PartitionOffsets end = end_offsets(topic, partitions);
    consumer_ = sluice::kafka::make_consumer(
        sluice::kafka::Config{{"bootstrap.servers", bootstrap()},
                              {"group.id", unique_name("bench-latency")},
                              {"enable.auto.commit", "false"},
                              {"isolation.level", "read_committed"},
                              {"fetch.wait.max.ms", "10"}},
        quiet(), nullptr);
    std::vector<sluice::kafka::TopicPartition> assignment;
    for (const auto& [partition, offset] : end) assignment.push_back({topic, partition, offset});
    auto error = consumer_->assign(assignment);
    if (!error.ok()) throw std::runtime_error("assign " + topic + ": " + error.message);
    thread_ = std::thread([this] { run(); });
  }
  ~LatencyReader() { stop(); }

  std::size_t received() const { return received_.load(); }
  std::vector<double> stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (consumer_) consumer_->close();
    return latencies_ms_;
  }

 private:
  void run() {
    while (!stop_) {
      sluice::kafka::Message message = consumer_->poll(50ms);
      if (!message || !message.ok() || !message.has_value()) continue;
      std::int64_t now = wall_us();
      json value = json::parse(message.value(), nullptr, false);
      if (!value.is_object() || value.value("phase", "") != "latency") continue;
      latencies_ms_.push_back(static_cast<double>(now - value.at("sent_us").get<std::int64_t>()) / 1000.0);
      ++received_;
    }
  }

  std::unique_ptr<sluice::kafka::Consumer> consumer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> received_{0};
  std::vector<double> latencies_ms_;
};

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  return values[static_cast<std::size_t>(p * static_cast<double>(values.size() - 1))];
}

double cpu_seconds(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (text.rfind(')') == std::string::npos) return -1;  // the process is gone
  std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
  std::string field;
  double ticks = 0;
  for (int index = 3; fields >> field; ++index) {
    if (index == 14 || index == 15) ticks += std::stod(field);  // utime, stime
    if (index == 15) break;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double peak_rss_mb(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

struct Result {
  std::string guarantee;
  double consume_seconds = 0, commit_seconds = 0, records_per_second = 0, committed_per_second = 0;
  double cpu = 0, rss_mb = 0;
  std::size_t latency_sent = 0, latency_received = 0, floor_received = 0;
  double p50 = 0, p99 = 0, max = 0, floor_p50 = 0, floor_p99 = 0, floor_max = 0;
  double transactions = 0, aborted = 0, commits = 0;
};

Result run(const std::string& guarantee, std::int64_t records, double rate, int seconds) {
  Result result;
  result.guarantee = guarantee;
  const std::string input = unique_name("bench-eos-in");
  const std::string application_id = unique_name("bench-eos");
  const std::string out_events = application_id + "-events", out_counts = application_id + "-counts";
  const std::string state_dir = "/tmp/" + unique_name("bench-eos-state");
  create_topic(input, partitions);
  json document = {
      {"application_id", application_id},
      {"sources", {{{"name", "events"}, {"topic", input}}}},
      {"operators",
       {{{"name", "enriched"}, {"from", "events"}, {"map", {{"amount_cents", "amount * 100"}}}},
        {{"name", "by_user"}, {"from", "events"}, {"rekey", "user"}},
        {{"name", "per_user"},
         {"from", "by_user"},
         {"window", {{"type", "tumbling"}, {"size", "1m"}, {"grace", "1h"}}},
         {"aggregate", {{"n", "count()"}, {"total", "sum(amount)"}}},
         {"emit", "update"}}}},
      {"sinks", {{{"from", "enriched"}, {"topic", out_events}}, {{"from", "per_user"}, {"topic", out_counts}}}}};
  std::string path = write_temp_file("bench-eos.json", document.dump(2));

  std::fprintf(stderr, "[%s] producing %" PRId64 " events\n", guarantee.c_str(), records);
  produce_events(input, records, 0, "backlog", 1);

  std::vector<std::string> arguments = {"--set", "processing_guarantee=" + guarantee, "--set",
                                        "instance_id=bench-" + guarantee, "--set", "state_dir=" + state_dir};
  RunningTopology running;
  Steady::time_point ready;
  double cpu_at_ready = 0;
  // A start can fail on internal topics it has just created whose leader the broker does not know yet
  // ("cannot read the end of ...-changelog: Not leader for partition"): start again then, at most twice.
  for (int attempt = 1;; ++attempt) {
    try {
      running = start_sluice(path, arguments);
      ready = Steady::now();
      cpu_at_ready = cpu_seconds(running.process->pid());
      if (eventually([&] { return !running.process->running(); }, 500ms)) {
        throw std::runtime_error(running.process->log());
      }
      break;
    } catch (const std::exception& failure) {
      if (attempt == 3) throw;
      std::fprintf(stderr, "[%s] start %d failed, starting again:\n%s\n", guarantee.c_str(), attempt, failure.what());
    }
  }
  pid_t pid = running.process->pid();
  bool consumed = eventually(
      [&] {
        auto text = http_get(running.port, "/metrics").body;
        return metric_value(text, "sluice_records_consumed_total", {{"topic", input}}).value_or(0) >=
                   static_cast<double>(records) ||
               !running.process->running();
      },
      600s);
  result.consume_seconds = seconds_since(ready);
  result.cpu = cpu_seconds(pid) - cpu_at_ready;
  if (!consumed || !running.process->running()) {
    throw std::runtime_error("sluice did not consume the input:\n" + running.process->log());
  }
  std::string why;
  const std::string repartition = application_id + "-per_user-repartition";
  if (!wait_group_processed(application_id, {input, repartition}, partitions, 600s, &why)) {
    throw std::runtime_error(why);
  }
  result.commit_seconds = seconds_since(ready);
  result.records_per_second = static_cast<double>(records) / result.consume_seconds;
  result.committed_per_second = static_cast<double>(records) / result.commit_seconds;
  std::fprintf(stderr, "[%s] backlog: %.0f records/s; latency phase: %.0f events/s for %d s\n", guarantee.c_str(),
               result.records_per_second, rate, seconds);

  {
    LatencyReader output(out_events), floor(input);
    auto count = static_cast<std::int64_t>(rate * seconds);
    produce_events(input, count, rate, "latency", 2);
    result.latency_sent = static_cast<std::size_t>(count);
    eventually([&] { return output.received() >= result.latency_sent && floor.received() >= result.latency_sent; },
               60s);
    auto latencies = output.stop();
    auto floor_latencies = floor.stop();
    result.latency_received = latencies.size();
    result.floor_received = floor_latencies.size();
    result.p50 = percentile(latencies, 0.50);
    result.p99 = percentile(latencies, 0.99);
    result.max = percentile(latencies, 1.0);
    result.floor_p50 = percentile(floor_latencies, 0.50);
    result.floor_p99 = percentile(floor_latencies, 0.99);
    result.floor_max = percentile(floor_latencies, 1.0);
  }
  auto text = http_get(running.port, "/metrics").body;
  result.transactions = metric_value(text, "sluice_transactions_committed_total").value_or(0);
  result.aborted = metric_value(text, "sluice_transactions_aborted_total").value_or(0);
  result.commits = metric_value(text, "sluice_commits_total").value_or(0);
  result.rss_mb = peak_rss_mb(pid);
  running.process->signal(SIGTERM);
  if (running.process->wait(60s) != 0) std::fprintf(stderr, "[%s] sluice did not stop cleanly\n", guarantee.c_str());
  std::filesystem::remove_all(state_dir);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t records = argc > 1 ? std::atoll(argv[1]) : 500'000;
  double rate = argc > 2 ? std::atof(argv[2]) : 5'000;
  int seconds = argc > 3 ? std::atoi(argv[3]) : 20;
  try {
    std::vector<Result> results;
    for (const char* guarantee : {"exactly_once", "at_least_once"}) {
      results.push_back(run(guarantee, records, rate, seconds));
    }
    const Result& eos = results[0];
    const Result& alo = results[1];
    std::printf("\nsluice %s, map + rekey -> repartition -> tumbling count/sum (emit update), 4 partitions, "
                "commit_interval 100ms\n\n",
                sluice_binary().c_str());
    std::printf("%-50s %16s %16s %16s\n", "", "exactly_once", "at_least_once", "broker only");
    auto row = [](const char* name, double a, double b, const char* format) {
      char left[64], right[64];
      std::snprintf(left, sizeof left, format, a);
      std::snprintf(right, sizeof right, format, b);
      std::printf("%-50s %16s %16s %16s\n", name, left, right, "");
    };
    std::printf("%-50s %16" PRId64 " %16" PRId64 "\n", "backlog records", records, records);
    row("throughput, ready -> last input consumed (rec/s)", eos.records_per_second, alo.records_per_second, "%.0f");
    row("  seconds", eos.consume_seconds, alo.consume_seconds, "%.2f");
    row("throughput, ready -> all committed (rec/s)", eos.committed_per_second, alo.committed_per_second, "%.0f");
    row("sluice CPU seconds while consuming", eos.cpu, alo.cpu, "%.2f");
    row("sluice CPU us per record", eos.cpu * 1e6 / static_cast<double>(records),
        alo.cpu * 1e6 / static_cast<double>(records), "%.1f");
    std::printf("%-50s %16zu %16zu\n", "latency events sent", eos.latency_sent, alo.latency_sent);
    std::printf("%-50s %16zu %16zu %16zu\n", "latency events received", eos.latency_received, alo.latency_received,
                eos.floor_received);
    auto latency_row = [&](const char* name, double a, double b, double floor) {
      std::printf("%-50s %16.1f %16.1f %16.1f\n", name, a, b, floor);
    };
    latency_row("end-to-end latency p50 (ms, read_committed)", eos.p50, alo.p50, eos.floor_p50);
    latency_row("end-to-end latency p99 (ms)", eos.p99, alo.p99, eos.floor_p99);
    latency_row("end-to-end latency max (ms)", eos.max, alo.max, eos.floor_max);
    row("peak RSS of sluice (MB)", eos.rss_mb, alo.rss_mb, "%.0f");
    row("transactions committed / offset commits", eos.transactions, alo.commits, "%.0f");
    row("transactions aborted", eos.aborted, alo.aborted, "%.0f");
    std::printf("\nbroker only: the same latency events read from the input topic (second run: p50 %.1f, p99 %.1f "
                "ms). Latency phase: %.0f events/s for %d s.\n",
                alo.floor_p50, alo.floor_p99, rate, seconds);
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "bench_eos: %s\n", failure.what());
    return 1;
  }
  return 0;
}
