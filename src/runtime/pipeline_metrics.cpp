#include "sluice/runtime/pipeline_metrics.hpp"

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

PipelineMetrics::PipelineMetrics(const Pipeline& pipeline, observe::Metrics& metrics) {
  const topology::Topology& topology = pipeline.topology();
  for (const auto& op : topology.operators) {
    joins_.push_back(std::holds_alternative<topology::JoinSpec>(op.body) ? std::make_unique<JoinCounters>(metrics, op.name)
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

void PipelineMetrics::bind(PipelineState& state) const {
  state.join_observers.clear();
  for (const auto& join : joins_) state.join_observers.push_back(join.get());
  state.table_counters = tables_;
}

}  // namespace sluice::runtime
