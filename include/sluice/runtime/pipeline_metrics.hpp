// Connects a thread's PipelineState to the instance's metrics: per join an observer of its lookups
// (sluice_join_lookups_total, _hits_total, _misses_total) and per partitioned table the counters of the rows
// its tasks apply, all resolved here once so the per-record path does no label lookup. Owned next to the
// PipelineState it binds (one per processing thread, or per TestDriver); must outlive it.
#pragma once

#include <memory>
#include <vector>

#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/pipeline.hpp"

namespace sluice::runtime {

class PipelineMetrics {
 public:
  PipelineMetrics(const Pipeline& pipeline, observe::Metrics& metrics);
  ~PipelineMetrics();
  PipelineMetrics(const PipelineMetrics&) = delete;
  PipelineMetrics& operator=(const PipelineMetrics&) = delete;

  // Fills state.join_observers and state.table_counters.
  void bind(PipelineState& state) const;

 private:
  class JoinCounters;
  std::vector<std::unique_ptr<JoinCounters>> joins_;  // per operator; null for operators that are no join
  std::vector<TableCounters> tables_;                 // per table
};

}  // namespace sluice::runtime
