// Connects a thread's PipelineState to the instance's metrics: per join an observer of its lookups
// (sluice_join_lookups_total, _hits_total, _misses_total), per stream-stream join an observer of its pairs,
// unmatched results and expired records (sluice_stream_join_*_total), and per partitioned table the counters of
// the rows its tasks apply, all resolved here once so the per-record path does no label lookup. The lookup and
// table counters count at once; the stream-stream join counts are held here (plain integers: one thread) and
// added to the metrics only when the TaskManager reports the commit covering them (TransactionalCounts), so a
// rollback that processes the inputs again does not count them twice. Owned next to the PipelineState it binds
// (one per processing thread, or per TestDriver); must outlive it.
#pragma once

#include <memory>
#include <vector>

#include "sluice/observe/metrics.hpp"
#include "sluice/runtime/pipeline.hpp"

namespace sluice::runtime {

class PipelineMetrics final : public TransactionalCounts {
 public:
  PipelineMetrics(const Pipeline& pipeline, observe::Metrics& metrics);
  ~PipelineMetrics() override;
  PipelineMetrics(const PipelineMetrics&) = delete;
  PipelineMetrics& operator=(const PipelineMetrics&) = delete;

  // Fills state.join_observers, stream_join_observers, table_counters and transactional_counts.
  void bind(PipelineState& state);

  // TransactionalCounts: the stream-stream join counts since the last publish or drop.
  void publish() noexcept override;
  void drop() noexcept override;

 private:
  class JoinCounters;
  class StreamJoinCounters;
  std::vector<std::unique_ptr<JoinCounters>> joins_;  // per operator; null for operators that are no join
  std::vector<std::unique_ptr<StreamJoinCounters>> stream_joins_;  // per operator; null unless a stream-stream join
  std::vector<TableCounters> tables_;                 // per table
};

}  // namespace sluice::runtime
