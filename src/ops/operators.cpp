#include <variant>

#include "sluice/ops/operator.hpp"
#include "sluice/ops/stateful.hpp"

namespace sluice::ops {

namespace {

using core::Record;
using core::RecordErrorKind;
using core::Result;

class FilterOperator final : public Operator {
 public:
  FilterOperator(std::string name, const topology::FilterSpec& spec) : Operator(std::move(name)), spec_(spec) {}
  Result<Disposition> process(Record&& record, ProcessContext& context) const override {
    auto matches = spec_.predicate.test(record, context.eval);
    if (!matches.ok()) return std::move(matches).error();
    if (!matches.value()) return Disposition::discarded;
    context.out.emit(0, std::move(record));
    return Disposition::forwarded;
  }

 private:
  topology::FilterSpec spec_;
};

core::RecordError not_an_object(std::string_view operator_type, const core::Value& value) {
  return core::make_error(RecordErrorKind::type_error, std::string(operator_type) + " needs an object value, got " +
                                                           std::string(core::to_string(value.type())));
}

class MapOperator final : public Operator {
 public:
  MapOperator(std::string name, const topology::MapSpec& spec) : Operator(std::move(name)), spec_(spec) {}
  Result<Disposition> process(Record&& record, ProcessContext& context) const override {
    if (!record.value.is_object()) return not_an_object("map", record.value);
    // Evaluate every field against the input before assigning any, so fields do not see each other's results
    // (the same rule as SQL's SELECT list; order of fields then does not matter).
    std::vector<core::Value> results;
    results.reserve(spec_.fields.size());
    for (const auto& field : spec_.fields) {
      auto result = field.expression.evaluate(record, context.eval);
      if (!result.ok()) return std::move(result).error();
      results.push_back(std::move(result).value());
    }
    for (std::size_t i = 0; i < results.size(); ++i) record.value.set(spec_.fields[i].name, std::move(results[i]));
    for (const auto& field : spec_.drop) record.value.erase(field);
    context.out.emit(0, std::move(record));
    return Disposition::forwarded;
  }

 private:
  topology::MapSpec spec_;
};

class SelectOperator final : public Operator {
 public:
  SelectOperator(std::string name, const topology::SelectSpec& spec) : Operator(std::move(name)), spec_(spec) {}
  Result<Disposition> process(Record&& record, ProcessContext& context) const override {
    auto value = evaluate_fields(spec_.fields, record, context.eval);
    if (!value.ok()) return std::move(value).error();
    record.value = std::move(value).value();
    context.out.emit(0, std::move(record));
    return Disposition::forwarded;
  }

 private:
  topology::SelectSpec spec_;
};

class FlatMapOperator final : public Operator {
 public:
  FlatMapOperator(std::string name, const topology::FlatMapSpec& spec) : Operator(std::move(name)), spec_(spec) {}
  Result<Disposition> process(Record&& record, ProcessContext& context) const override {
    auto result = spec_.elements.evaluate(record, context.eval);
    if (!result.ok()) return std::move(result).error();
    core::Value elements = std::move(result).value();
    if (elements.is_null()) {
      return core::make_error(RecordErrorKind::missing_field, "flat_map expression '" + spec_.elements.text() + "' is null");
    }
    if (!elements.is_array()) {
      return core::make_error(RecordErrorKind::type_error, "flat_map expression '" + spec_.elements.text() +
                                                               "' must yield an array, got " +
                                                               std::string(core::to_string(elements.type())));
    }
    if (spec_.as && !record.value.is_object()) return not_an_object("flat_map with \"as\"", record.value);
    auto& items = elements.as_array();
    if (items.empty()) return Disposition::discarded;
    for (std::size_t i = 0; i < items.size(); ++i) {
      Record out;
      out.key = record.key;
      out.timestamp_ms = record.timestamp_ms;
      out.headers = record.headers;
      if (spec_.as) {
        out.value = record.value;
        out.value.set(*spec_.as, std::move(items[i]));
      } else {
        out.value = std::move(items[i]);
      }
      context.out.emit(0, std::move(out));
    }
    return Disposition::forwarded;
  }

 private:
  topology::FlatMapSpec spec_;
};

class RekeyOperator final : public Operator {
 public:
  RekeyOperator(std::string name, const topology::RekeySpec& spec) : Operator(std::move(name)), spec_(spec) {}
  Result<Disposition> process(Record&& record, ProcessContext& context) const override {
    auto result = spec_.key.evaluate(record, context.eval);
    if (!result.ok()) return std::move(result).error();
    // A null key would send every such record to one partition and break keyed operators downstream.
    if (result.value().is_null()) {
      return core::make_error(RecordErrorKind::missing_field, "rekey expression '" + spec_.key.text() + "' is null");
    }
    record.key = std::move(result).value();
    context.out.emit(0, std::move(record));
    return Disposition::forwarded;
  }

 private:
  topology::RekeySpec spec_;
};

class RouteOperator final : public Operator {
 public:
  RouteOperator(std::string name, const topology::RouteSpec& spec) : Operator(std::move(name)), spec_(spec) {}
  std::size_t port_count() const noexcept override { return spec_.branches.size() + (spec_.default_branch ? 1 : 0); }
  Result<Disposition> process(Record&& record, ProcessContext& context) const override {
    for (std::size_t i = 0; i < spec_.branches.size(); ++i) {
      auto matches = spec_.branches[i].when.test(record, context.eval);
      if (!matches.ok()) return std::move(matches).error();
      if (matches.value()) {
        context.out.emit(i, std::move(record));
        return Disposition::forwarded;
      }
    }
    if (!spec_.default_branch) return Disposition::discarded;
    context.out.emit(spec_.branches.size(), std::move(record));
    return Disposition::forwarded;
  }

 private:
  topology::RouteSpec spec_;
};

class MergeOperator final : public Operator {
 public:
  explicit MergeOperator(std::string name) : Operator(std::move(name)) {}
  Result<Disposition> process(Record&& record, ProcessContext& context) const override {
    context.out.emit(0, std::move(record));
    return Disposition::forwarded;
  }
};

}  // namespace

core::Result<core::Value> evaluate_fields(const std::vector<topology::FieldAssignment>& fields,
                                          const core::Record& record, expr::EvalContext& eval) {
  core::Object members;
  members.reserve(fields.size());
  for (const auto& field : fields) {
    auto result = field.expression.evaluate(record, eval);
    if (!result.ok()) return std::move(result).error();
    members.push_back(core::Member{field.name, std::move(result).value()});
  }
  return core::Value::object(std::move(members));
}

std::unique_ptr<Operator> make_operator(const topology::OperatorSpec& spec) {
  return std::visit(
      [&](const auto& body) -> std::unique_ptr<Operator> {
        using Body = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<Body, topology::FilterSpec>) return std::make_unique<FilterOperator>(spec.name, body);
        if constexpr (std::is_same_v<Body, topology::MapSpec>) return std::make_unique<MapOperator>(spec.name, body);
        if constexpr (std::is_same_v<Body, topology::SelectSpec>) return std::make_unique<SelectOperator>(spec.name, body);
        if constexpr (std::is_same_v<Body, topology::FlatMapSpec>) return std::make_unique<FlatMapOperator>(spec.name, body);
        if constexpr (std::is_same_v<Body, topology::RekeySpec>) return std::make_unique<RekeyOperator>(spec.name, body);
        if constexpr (std::is_same_v<Body, topology::RouteSpec>) return std::make_unique<RouteOperator>(spec.name, body);
        if constexpr (std::is_same_v<Body, topology::MergeSpec>) return std::make_unique<MergeOperator>(spec.name);
        if constexpr (std::is_same_v<Body, topology::AggregateSpec>) return make_aggregate_operator(spec.name, body);
        if constexpr (std::is_same_v<Body, topology::DedupeSpec>) return make_dedupe_operator(spec.name, body);
        if constexpr (std::is_same_v<Body, topology::JoinSpec>) return make_join_operator(spec.name, body);
        if constexpr (std::is_same_v<Body, topology::StreamJoinSpec>) {
          return make_stream_join_operator(spec.name, body);
        }
      },
      spec.body);
}

}  // namespace sluice::ops
