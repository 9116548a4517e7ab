#include "sluice/runtime/pipeline_metrics.hpp"

#include <array>
#include <cstdint>

namespace sluice::runtime {

class PipelineMetrics::JoinCounters final : public ops::JoinObserver {
 public:
  JoinCounters(observe::Metrics& metrics, const std::string& join)
      : lookups_(metrics.join_lookups(join)), hits_(metrics.join_hits(join)), misses_(metrics.join_misses(join)) {}
  void looked_up(bool hit) noexcept override {
    lookups_.Increment();
    (hit ? hits_ : misses_).Increment();
  }

 private:
  prometheus::Counter& lookups_;
  prometheus::Counter& hits_;
  prometheus::Counter& misses_;
};

// Pending until publish(): see the header. Sides: 0 = `from` ("left"), 1 = `stream` ("right"), as the README
// and the repartition topics name them.
class PipelineMetrics::StreamJoinCounters final : public ops::StreamJoinObserver {
 public:
  StreamJoinCounters(observe::Metrics& metrics, const std::string& join)
      : pairs_(metrics.stream_join_pairs(join)),
        unmatched_{&metrics.stream_join_unmatched(join, "left"), &metrics.stream_join_unmatched(join, "right")},
        expired_{&metrics.stream_join_expired(join, "left"), &metrics.stream_join_expired(join, "right")} {}
  void paired(std::size_t pairs) noexcept override { pending_pairs_ += pairs; }
  void expired(std::size_t side, bool emitted) noexcept override {
    if (side > 1) return;
    ++pending_expired_[side];
    if (emitted) ++pending_unmatched_[side];
  }
  void publish() noexcept {
    add(pairs_, pending_pairs_);
    for (std::size_t side = 0; side < 2; ++side) {
      add(*unmatched_[side], pending_unmatched_[side]);
      add(*expired_[side], pending_expired_[side]);
    }
  }
  void drop() noexcept {
    pending_pairs_ = 0;
    pending_unmatched_ = {};
    pending_expired_ = {};
  }

 private:
  static void add(prometheus::Counter& counter, std::uint64_t& pending) noexcept {
    if (pending == 0) return;
    counter.Increment(static_cast<double>(pending));
    pending = 0;
  }

  prometheus::Counter& pairs_;
  std::array<prometheus::Counter*, 2> unmatched_;
  std::array<prometheus::Counter*, 2> expired_;
  std::uint64_t pending_pairs_ = 0;
  std::array<std::uint64_t, 2> pending_unmatched_{};
  std::array<std::uint64_t, 2> pending_expired_{};
};

PipelineMetrics::PipelineMetrics(const Pipeline& pipeline, observe::Metrics& metrics) {
  const topology::Topology& topology = pipeline.topology();
  for (const auto& op : topology.operators) {
    joins_.push_back(std::holds_alternative<topology::JoinSpec>(op.body) ? std::make_unique<JoinCounters>(metrics, op.name)
                                                                         : nullptr);
    stream_joins_.push_back(std::holds_alternative<topology::StreamJoinSpec>(op.body)
                                ? std::make_unique<StreamJoinCounters>(metrics, op.name)
                                : nullptr);
  }
  for (const auto& table : topology.tables) {
    // A global table's rows are counted by its reader (GlobalTables), not by the tasks.
    if (table.global) {
      tables_.push_back({});
    } else {
      tables_.push_back({&metrics.table_updates(table.name), &metrics.table_deletes(table.name)});
    }
  }
}

PipelineMetrics::~PipelineMetrics() = default;

void PipelineMetrics::bind(PipelineState& state) {
  state.join_observers.clear();
  for (const auto& join : joins_) state.join_observers.push_back(join.get());
  state.stream_join_observers.clear();
  for (const auto& join : stream_joins_) state.stream_join_observers.push_back(join.get());
  state.table_counters = tables_;
  state.transactional_counts = this;
}

void PipelineMetrics::publish() noexcept {
  for (const auto& join : stream_joins_) {
    if (join) join->publish();
  }
}

void PipelineMetrics::drop() noexcept {
  for (const auto& join : stream_joins_) {
    if (join) join->drop();
  }
}

}  // namespace sluice::runtime
