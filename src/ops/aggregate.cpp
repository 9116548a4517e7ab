// The base of every aggregate (output format, emit-update buffer) and the table aggregate (no window).
#include <stdexcept>
#include <utility>

#include "sluice/ops/stateful.hpp"
#include "window.hpp"

namespace sluice::ops {

namespace detail {

AggregateOperatorBase::AggregateOperatorBase(std::string name, const topology::AggregateSpec& spec,
                                             std::size_t update_buffer_limit)
    : Operator(std::move(name)),
      aggregations_(spec.aggregations),
      emit_(spec.emit),
      update_buffer_limit_(update_buffer_limit) {}

std::unique_ptr<OperatorTaskState> AggregateOperatorBase::create_task_state() const {
  return std::make_unique<AggregateTaskState>();
}

AggregateOperatorBase::TaskView AggregateOperatorBase::task(ProcessContext& context) const {
  if (context.store == nullptr || context.task_state == nullptr || context.time == nullptr) {
    throw std::logic_error("stateful operator '" + name() + "' called without its store, task state or time");
  }
  // The runtime hands back the object create_task_state() made for this operator.
  return TaskView{*context.store, static_cast<AggregateTaskState&>(*context.task_state),
                  context.time->stream_time_ms};
}

core::Status AggregateOperatorBase::prepare(const core::Record& record, ProcessContext& context,
                                            AggregateTaskState& memory) const {
  if (record.key.is_null()) {
    return core::make_error(core::RecordErrorKind::missing_field,
                            "aggregate '" + name() + "' needs a record key to group by; the key is null");
  }
  core::Status evaluated = aggregations_.evaluate(record, context.eval, memory.arguments);
  if (!evaluated.ok()) return evaluated;
  memory.group_key.clear();
  append_group_key(memory.group_key, record.key);
  return core::Status::success();
}

core::Record AggregateOperatorBase::make_output(core::Value key, std::optional<WindowBounds> window,
                                                const Accumulator& accumulator) const {
  core::Object fields;
  fields.reserve(aggregations_.size() + 2);
  if (window) {
    fields.push_back(core::Member{"window_start", core::Value::integer(window->start)});
    fields.push_back(core::Member{"window_end", core::Value::integer(window->end)});
  }
  aggregations_.append_results(accumulator, fields);
  core::Record output;
  output.key = std::move(key);
  output.value = core::Value::object(std::move(fields));
  output.timestamp_ms = accumulator.max_time;
  return output;
}

void AggregateOperatorBase::publish_update(ProcessContext& context, AggregateTaskState& memory,
                                           std::string_view order_key, core::Record output) const {
  if (auto existing = memory.pending.find(order_key); existing != memory.pending.end()) {
    existing->second = std::move(output);
  } else {
    memory.pending.emplace(std::string(order_key), std::move(output));
  }
  if (memory.pending.size() > update_buffer_limit_) flush_updates(context, memory);
}

void AggregateOperatorBase::flush_updates(ProcessContext& context, AggregateTaskState& memory) const {
  for (auto& [order_key, output] : memory.pending) context.out.emit(0, std::move(output));
  memory.pending.clear();
}

void AggregateOperatorBase::on_commit(ProcessContext& context) const {
  if (context.task_state == nullptr) return;
  flush_updates(context, static_cast<AggregateTaskState&>(*context.task_state));
}

core::Value AggregateOperatorBase::parse_group_key(AggregateTaskState& memory, std::string_view group_key) const {
  if (group_key.empty() || group_key.back() != '\0') corrupt_state(name(), "group key without terminator");
  group_key.remove_suffix(1);
  auto parsed = memory.key_parser.parse(group_key);
  if (!parsed.ok()) corrupt_state(name(), "group key is not JSON: " + parsed.error().message);
  return std::move(parsed).value();
}

void AggregateOperatorBase::decode_accumulator(std::string_view bytes, Accumulator& accumulator) const {
  if (!aggregations_.decode(bytes, accumulator)) corrupt_state(name(), "aggregate state does not decode");
}

}  // namespace detail

namespace {

// A table: one aggregate per key, updated forever (no window, never expires). Always emits updates: "final"
// has no meaning without a window that closes (validation rejects it; it is treated as update here).
// Store family 0: [group key] -> accumulator.
class TableAggregateOperator final : public detail::AggregateOperatorBase {
 public:
  using AggregateOperatorBase::AggregateOperatorBase;

  std::uint8_t store_families() const noexcept override { return 1; }

  core::Result<Disposition> process(core::Record&& record, ProcessContext& context) const override {
    TaskView task = this->task(context);
    detail::AggregateTaskState& memory = task.memory;
    core::Status prepared = prepare(record, context, memory);
    if (!prepared.ok()) return std::move(prepared).error();

    detail::Accumulator accumulator;
    if (task.store.get(0, memory.group_key, memory.encoded)) {
      decode_accumulator(memory.encoded, accumulator);
    } else {
      accumulator = aggregations_.empty();
    }
    core::Status added = aggregations_.add(accumulator, memory.arguments, record.timestamp_ms);
    if (!added.ok()) return std::move(added).error();
    memory.encoded.clear();
    aggregations_.encode(accumulator, memory.encoded);
    task.store.put(0, memory.group_key, memory.encoded);
    publish_update(context, memory, memory.group_key, make_output(std::move(record.key), std::nullopt, accumulator));
    // The record is absorbed into state and its effect is emitted (now or at the commit): not a discard.
    return Disposition::forwarded;
  }
};

}  // namespace

std::unique_ptr<Operator> make_aggregate_operator(const std::string& name, const topology::AggregateSpec& spec,
                                                  std::size_t update_buffer_limit) {
  if (spec.window) return detail::make_windowed_aggregate(name, spec, update_buffer_limit);
  return std::make_unique<TableAggregateOperator>(name, spec, update_buffer_limit);
}

}  // namespace sluice::ops
