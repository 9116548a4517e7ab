// Stateless operators. An Operator is immutable after the topology is built and may be shared by processing
// threads; per-thread state (expression scratch) comes in through the ProcessContext. Records are moved in
// and emitted on numbered output ports (route has one port per branch; the others have port 0).
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "sluice/core/json.hpp"
#include "sluice/core/record.hpp"
#include "sluice/state/global_table_store.hpp"
#include "sluice/state/store.hpp"
#include "sluice/core/result.hpp"
#include "sluice/expr/expression.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::ops {

// Receives what an operator emits. Implemented by the pipeline, which forwards to downstream nodes.
class Emitter {
 public:
  virtual ~Emitter() = default;
  virtual void emit(std::size_t port, core::Record&& record) = 0;
  // A result built without an input record (in on_time) that cannot be emitted: the runtime dead-letters it,
  // with `record`'s value written as JSON and the error's kind and message in the headers.
  virtual void dead_letter(const core::RecordError& error, const core::Record& record) = 0;
};

// Time of the task being processed. Stream time is the largest event time the task has seen, advanced with
// the wall clock once the task has been idle for its idle timeout (so quiet partitions still close windows).
struct TaskTime {
  std::int64_t stream_time_ms = INT64_MIN;  // INT64_MIN: no record seen yet
  std::int64_t wall_ms = 0;
};

// Per (task, operator) memory that is not state (e.g. updates waiting for the next commit). Created by the
// operator, owned by the runtime, destroyed with the task.
class OperatorTaskState {
 public:
  virtual ~OperatorTaskState() = default;
};

// Where a join reports each lookup (metrics: lookups, hits, misses). Implemented by the runtime with handles
// resolved once per thread, so a lookup costs a virtual call and a few atomic increments.
class JoinObserver {
 public:
  virtual ~JoinObserver() = default;
  // A row was looked up: found (hit) or not (miss).
  virtual void looked_up(bool hit) noexcept = 0;
};

// Where a windowed stream-stream join reports what it emits and what expires (metrics: pairs, unmatched results,
// expired records, per side: 0 the `from` side, 1 the `stream` side). Implemented by the runtime like
// JoinObserver; no allocation per call.
class StreamJoinObserver {
 public:
  virtual ~StreamJoinObserver() = default;
  // `pairs` matching pairs were emitted for one record.
  virtual void paired(std::size_t pairs) noexcept = 0;
  // A record of `side` closed without ever matching; `emitted`: its unmatched result went out (left/outer).
  virtual void expired(std::size_t side, bool emitted) noexcept = 0;
};

struct ProcessContext {
  expr::EvalContext& eval;
  Emitter& out;
  // Set for stateful operators only: the operator's store in the current task, its task memory, the task time.
  state::Store* store = nullptr;
  OperatorTaskState* task_state = nullptr;
  const TaskTime* time = nullptr;
  core::JsonParser* parser = nullptr;  // the thread's parser, for operators that decode stored rows (joins)
  // Which of the operator's inputs (an index into OperatorSpec::inputs) the record came from; a stream-stream
  // join tells its sides apart by it.
  std::size_t input = 0;
  // A join with a global table: the instance's store of that table (shared, read-only here).
  const state::GlobalTableStore* global_table = nullptr;
  JoinObserver* join_observer = nullptr;  // joins only; null: not counted
  StreamJoinObserver* stream_join_observer = nullptr;  // stream-stream joins only; null: not counted
  // Set by an operator whose output should not wait for the commit interval to become visible: windows that
  // closed at an aligned end (tumbling, hopping) with emit: final, whose readers wait for exactly that. The
  // runtime commits soon after under exactly-once (at-least-once output is visible once produced). Null: ignored.
  bool* commit_soon = nullptr;
};

// What happened to a record that produced no error.
enum class Disposition : std::uint8_t {
  forwarded,  // emitted at least once
  discarded,  // dropped on purpose: a filter that did not match, a route with no matching branch, an empty array
  kept,       // stored for later, nothing emitted yet: a stream-stream join record waiting for its match
};

class Operator {
 public:
  explicit Operator(std::string name) : name_(std::move(name)) {}
  virtual ~Operator() = default;
  Operator(const Operator&) = delete;
  Operator& operator=(const Operator&) = delete;

  const std::string& name() const noexcept { return name_; }
  virtual std::size_t port_count() const noexcept { return 1; }
  // Processes one record. An error means the record is dead-lettered by the caller; nothing was emitted
  // for it by this operator. A record too late for every window it belongs to is a RecordErrorKind::late.
  virtual core::Result<Disposition> process(core::Record&& record, ProcessContext& context) const = 0;

  // ---- Lifecycle of stateful operators (stateless ones keep the defaults) ----
  // Number of store families the operator uses (0: stateless, no store).
  virtual std::uint8_t store_families() const noexcept { return 0; }
  virtual std::unique_ptr<OperatorTaskState> create_task_state() const { return nullptr; }
  // Stream or wall time advanced: emit windows that closed (emit: final), drop expired state. Called by the
  // runtime after input records and on a timer, with the task's store and time in the context.
  virtual void on_time(ProcessContext& /*context*/) const {}
  // A commit is about to happen: emit the updates compacted since the last commit (emit: update).
  virtual void on_commit(ProcessContext& /*context*/) const {}

 private:
  std::string name_;
};

// Builds the operator for a validated spec.
std::unique_ptr<Operator> make_operator(const topology::OperatorSpec& spec);

// The object {name: expression value, ...} of `fields` evaluated against `record`, in their order (select, and
// a join's select); the first error stops it.
core::Result<core::Value> evaluate_fields(const std::vector<topology::FieldAssignment>& fields,
                                          const core::Record& record, expr::EvalContext& eval);

}  // namespace sluice::ops
