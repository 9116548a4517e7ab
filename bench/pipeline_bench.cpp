// Stateless pipeline throughput, in process (no Kafka), beside its baselines in one run:
//   baseline "parse+write": simdjson parse of each record into a Value and writing it back as JSON — the
//   floor of any JSON-in/JSON-out processor; "sluice pipeline": the orders-enrichment example topology
//   (filter, map with three expressions, select, rekey, encode). Reports records/s, MB/s, p50/p99 per-record
//   latency and peak RSS; the median of several runs, since the machine is shared and noisy.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/core/clock.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/json.hpp"
#include "sluice/runtime/pipeline.hpp"
#include "sluice/topology/topology.hpp"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> make_orders(std::size_t count) {
  std::mt19937_64 random(7);
  const char* countries[] = {"de", "fr", "us", "jp", "br"};
  std::vector<std::string> orders;
  orders.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    nlohmann::json order = {{"id", "o" + std::to_string(i)},
                            {"status", random() % 4 == 0 ? "pending" : "paid"},
                            {"amount", static_cast<double>(random() % 200000) / 100.0},
                            {"created_at", sluice::core::format_iso8601_ms(1795255200000 + static_cast<std::int64_t>(i))},
                            {"customer", {{"id", "c" + std::to_string(random() % 500)}, {"country", countries[random() % 5]}}}};
    orders.push_back(order.dump());
  }
  return orders;
}

struct Figures {
  double records_per_second;
  double megabytes_per_second;
  double p50_us;
  double p99_us;
};

class CountingCollector final : public sluice::runtime::OutputCollector {
 public:
  void send(std::size_t, const sluice::runtime::OutputRecord& record) override {
    bytes += record.value ? record.value->size() : 0;
  }
  void on_dead_letter(std::string_view, sluice::core::RecordErrorKind) override {}
  void on_discarded(std::string_view) override {}
  std::size_t bytes = 0;
};

template <typename Work>
Figures measure(const std::vector<std::string>& inputs, std::size_t input_bytes, Work&& work) {
  std::vector<double> latencies;
  latencies.reserve(inputs.size() / 16 + 1);
  auto started = Clock::now();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i % 16 == 0) {  // sample per-record latency on 1 in 16 records to keep timer cost out of the throughput
      auto before = Clock::now();
      work(inputs[i], i);
      latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - before).count());
    } else {
      work(inputs[i], i);
    }
  }
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::sort(latencies.begin(), latencies.end());
  return {static_cast<double>(inputs.size()) / seconds, static_cast<double>(input_bytes) / seconds / 1e6,
          latencies[latencies.size() / 2], latencies[latencies.size() * 99 / 100]};
}

Figures median(std::vector<Figures> runs) {
  std::sort(runs.begin(), runs.end(), [](const Figures& a, const Figures& b) { return a.records_per_second < b.records_per_second; });
  return runs[runs.size() / 2];
}

long peak_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = argc > 1 ? std::stoul(argv[1]) : 500'000;
  int repetitions = argc > 2 ? std::stoi(argv[2]) : 5;
  auto inputs = make_orders(count);
  std::size_t input_bytes = 0;
  for (const auto& input : inputs) input_bytes += input.size();

  auto loaded = sluice::topology::load_topology_file(std::string(SLUICE_SOURCE_DIR) + "/topologies/orders-enrichment.json");
  if (!std::holds_alternative<sluice::topology::Topology>(loaded)) {
    std::fprintf(stderr, "cannot load topologies/orders-enrichment.json\n");
    return 1;
  }
  const auto& topology = std::get<sluice::topology::Topology>(loaded);
  sluice::core::SystemClock clock;
  sluice::runtime::Pipeline pipeline(topology);
  sluice::runtime::PipelineState state(clock);
  CountingCollector collector;

  sluice::core::JsonParser parser;
  std::string buffer;
  std::vector<Figures> baseline_runs, pipeline_runs;
  for (int run = 0; run < repetitions; ++run) {
    baseline_runs.push_back(measure(inputs, input_bytes, [&](const std::string& input, std::size_t) {
      auto value = parser.parse(input);
      buffer.clear();
      if (value.ok()) sluice::core::append_json(value.value(), buffer);
    }));
    pipeline_runs.push_back(measure(inputs, input_bytes, [&](const std::string& input, std::size_t index) {
      sluice::core::Origin origin;
      origin.topic = "orders";
      origin.partition = 0;
      origin.offset = static_cast<std::int64_t>(index);
      origin.has_value = true;
      origin.raw_value = input;
      (void)pipeline.process(0, origin, 0, {}, state, collector);
    }));
  }
  Figures baseline = median(baseline_runs), sluice_figures = median(pipeline_runs);
  std::printf("stateless pipeline, in process, %zu orders of %.0f bytes, median of %d runs, one core\n", count,
              static_cast<double>(input_bytes) / static_cast<double>(count), repetitions);
  std::printf("%-34s %14s %10s %10s %10s\n", "", "records/s", "MB/s", "p50 us", "p99 us");
  std::printf("%-34s %14.0f %10.1f %10.2f %10.2f\n", "baseline: JSON parse + write", baseline.records_per_second,
              baseline.megabytes_per_second, baseline.p50_us, baseline.p99_us);
  std::printf("%-34s %14.0f %10.1f %10.2f %10.2f\n", "sluice: orders-enrichment topology", sluice_figures.records_per_second,
              sluice_figures.megabytes_per_second, sluice_figures.p50_us, sluice_figures.p99_us);
  std::printf("ratio sluice / baseline: %.2f\n", sluice_figures.records_per_second / baseline.records_per_second);
  std::printf("peak RSS: %.1f MB\n", static_cast<double>(peak_rss_kb()) / 1024.0);
  return 0;
}
