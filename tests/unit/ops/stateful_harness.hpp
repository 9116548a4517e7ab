// A stateful operator in a test: in-memory task stores, a task time the test advances, a collecting emitter.
// feed() behaves like the runtime: stream time = max(stream time, record time) before process(), then on_time().
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/core/clock.hpp"
#include "sluice/core/json.hpp"
#include "sluice/ops/operator.hpp"
#include "sluice/ops/stateful.hpp"
#include "sluice/state/store.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::ops::testing {

inline core::Value json_value(const std::string& text) { return core::from_nlohmann(nlohmann::json::parse(text)); }
inline core::Value str(const std::string& text) { return core::Value::string(text); }

inline expr::Expression parse_expression(const std::string& text) {
  auto parsed = expr::Expression::parse(text);
  if (auto* error = std::get_if<expr::ParseError>(&parsed)) {
    ADD_FAILURE() << "expression '" << text << "': " << error->message;
    std::abort();
  }
  return std::get<expr::Expression>(std::move(parsed));
}

// "count()", "sum(x)", ...: the aggregation as written, named `name`.
inline topology::AggregationSpec aggregation(const std::string& name, topology::AggregateFunction function,
                                             const std::string& argument = "") {
  static constexpr const char* names[] = {"count", "sum", "min", "max", "avg", "first", "last"};
  topology::AggregationSpec spec;
  spec.name = name;
  spec.function = function;
  if (!argument.empty()) spec.argument = parse_expression(argument);
  spec.text = std::string(names[static_cast<int>(function)]) + "(" + argument + ")";
  return spec;
}

inline topology::WindowSpec tumbling(std::int64_t size, std::int64_t grace = 0) {
  return {topology::WindowType::tumbling, size, size, 0, grace};
}
inline topology::WindowSpec hopping(std::int64_t size, std::int64_t advance, std::int64_t grace = 0) {
  return {topology::WindowType::hopping, size, advance, 0, grace};
}
inline topology::WindowSpec sliding(std::int64_t size, std::int64_t grace = 0) {
  return {topology::WindowType::sliding, size, 0, 0, grace};
}
inline topology::WindowSpec session(std::int64_t gap, std::int64_t grace = 0) {
  return {topology::WindowType::session, 0, 0, gap, grace};
}

inline topology::AggregateSpec aggregate_spec(std::optional<topology::WindowSpec> window,
                                              std::vector<topology::AggregationSpec> aggregations,
                                              topology::EmitMode emit) {
  topology::AggregateSpec spec;
  spec.window = window;
  spec.aggregations = std::move(aggregations);
  spec.emit = emit;
  return spec;
}

// The compact JSON text of an output: "key|value|timestamp", one string to compare in one assertion.
inline std::string describe(const core::Record& record) {
  return core::to_json(record.key) + "|" + core::to_json(record.value) + "|" + std::to_string(record.timestamp_ms);
}

class CollectingEmitter final : public Emitter {
 public:
  void emit(std::size_t port, core::Record&& record) override {
    EXPECT_EQ(port, 0u);
    records.push_back(std::move(record));
  }
  void dead_letter(const core::RecordError& error, const core::Record&) override { errors.push_back(error); }
  std::vector<core::Record> records;
  std::vector<core::RecordError> errors;
};

class StatefulHarness {
 public:
  explicit StatefulHarness(std::unique_ptr<Operator> op)
      : op_(std::move(op)),
        stores_(state::make_memory_task_stores({op_->store_families()})),
        task_state_(op_->create_task_state()),
        eval_(clock_) {}

  const Operator& op() const { return *op_; }
  std::int64_t stream_time() const { return time_.stream_time_ms; }

  // Like the runtime: advance stream time to include the record, process it, then let time act.
  core::Result<Disposition> feed(core::Value key, std::int64_t time, core::Value value = core::Value::object()) {
    auto result = feed_without_time(std::move(key), time, std::move(value));
    tick();
    return result;
  }
  // The runtime may also call on_time only after a batch of records: process without it.
  core::Result<Disposition> feed_without_time(core::Value key, std::int64_t time,
                                              core::Value value = core::Value::object()) {
    time_.stream_time_ms = std::max(time_.stream_time_ms, time);
    ProcessContext context = this->context();
    core::Record record{std::move(key), std::move(value), time, {}};
    return op_->process(std::move(record), context);
  }
  void tick() {
    ProcessContext context = this->context();
    op_->on_time(context);
  }
  core::Result<Disposition> feed(const std::string& key, std::int64_t time, const std::string& value_json = "{}") {
    return feed(str(key), time, json_value(value_json));
  }

  // Stream time moving without records (the runtime's idle closing), then on_time.
  void advance_to(std::int64_t stream_time) {
    time_.stream_time_ms = std::max(time_.stream_time_ms, stream_time);
    ProcessContext context = this->context();
    op_->on_time(context);
  }

  // on_commit, then the store's buffered changes become durable (so later reads merge buffer and durable).
  void commit() {
    ProcessContext context = this->context();
    op_->on_commit(context);
    stores_->apply({0}, time_.stream_time_ms);
  }

  // Everything emitted since the last take(), described.
  std::vector<std::string> take() {
    std::vector<std::string> out;
    for (const auto& record : emitter_.records) out.push_back(describe(record));
    emitter_.records.clear();
    return out;
  }
  std::vector<core::Record> take_records() {
    std::vector<core::Record> out = std::move(emitter_.records);
    emitter_.records.clear();
    return out;
  }

  // An upgrade or restart: this operator's stores restored from everything `older`'s stores hold (as their
  // changelog would restore them; families this operator lacks are skipped, as in the runtime) and its stream
  // time carried over.
  void restore_from(StatefulHarness& older) {
    for (std::uint8_t family = 0; family < older.op().store_families(); ++family) {
      older.stores_->store(0).scan(family, {}, {}, [&](std::string_view key, std::string_view value) {
        std::string changelog_key(1, static_cast<char>(family));
        changelog_key += key;
        stores_->restore(0, changelog_key, value, ++restored_offset_);
        return true;
      });
    }
    stores_->finish_restore();
    time_.stream_time_ms = older.stream_time();
  }

  std::size_t entries(std::uint8_t family) {
    std::size_t count = 0;
    stores_->store(0).scan(family, {}, {}, [&](std::string_view, std::string_view) {
      ++count;
      return true;
    });
    return count;
  }
  std::size_t total_entries() {
    std::size_t count = 0;
    for (std::uint8_t family = 0; family < op_->store_families(); ++family) count += entries(family);
    return count;
  }

 private:
  ProcessContext context() { return ProcessContext{eval_, emitter_, &stores_->store(0), task_state_.get(), &time_}; }

  std::unique_ptr<Operator> op_;
  std::unique_ptr<state::TaskStores> stores_;
  std::unique_ptr<OperatorTaskState> task_state_;
  core::ManualClock clock_{0};
  expr::EvalContext eval_;
  TaskTime time_;
  CollectingEmitter emitter_;
  std::int64_t restored_offset_ = -1;
};

inline std::unique_ptr<Operator> make_aggregate(std::optional<topology::WindowSpec> window,
                                                std::vector<topology::AggregationSpec> aggregations,
                                                topology::EmitMode emit, std::size_t update_buffer_limit = 10'000) {
  return make_aggregate_operator("agg", aggregate_spec(window, std::move(aggregations), emit), update_buffer_limit);
}

// count() as "n": the smallest useful aggregation for window tests.
inline std::vector<topology::AggregationSpec> count_only() {
  return {aggregation("n", topology::AggregateFunction::count)};
}

}  // namespace sluice::ops::testing
