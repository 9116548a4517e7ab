// Stream-table join. The table's rows live in the operator's store, family 0: [key bytes] -> [value bytes], as
// the table topic holds them (its key bytes are what a stream key is looked up by, so a restore copies the
// topic as it is). The pipeline writes the rows (Pipeline::process for a table record); this operator reads.
#include <stdexcept>
#include <string>
#include <utility>

#include "sluice/ops/serde.hpp"
#include "sluice/ops/stateful.hpp"

namespace sluice::ops {
namespace {

class JoinOperator final : public Operator {
 public:
  JoinOperator(std::string name, const topology::JoinSpec& spec) : Operator(std::move(name)), spec_(spec) {}

  // A global table lives outside the task (the instance's store): the operator has no store of its own.
  std::uint8_t store_families() const noexcept override { return spec_.global_table ? 0 : 1; }

  core::Result<Disposition> process(core::Record&& record, ProcessContext& context) const override {
    if ((spec_.global_table ? context.global_table == nullptr : context.store == nullptr) || context.parser == nullptr) {
      throw std::logic_error("join '" + name() + "' called without its table store");
    }
    std::string key;
    if (spec_.lookup) {
      auto looked_up = spec_.lookup->evaluate(record, context.eval);
      if (!looked_up.ok()) return std::move(looked_up).error();
      if (looked_up.value().is_null()) {
        return core::make_error(core::RecordErrorKind::missing_field, "join '" + name() + "' looks up table '" +
                                                                          spec_.table + "' by " + spec_.lookup->text() +
                                                                          ", which is null or missing in this record");
      }
      if (core::Status status = encode_key(looked_up.value(), spec_.table_key, key); !status.ok()) {
        return std::move(status).error();
      }
    } else {
      if (record.key.is_null()) {
        return core::make_error(core::RecordErrorKind::missing_field, "join '" + name() + "' looks up table '" +
                                                                          spec_.table + "' by the record key; the key is null");
      }
      if (core::Status status = encode_key(record.key, spec_.table_key, key); !status.ok()) {
        return std::move(status).error();
      }
    }
    std::string row_bytes;
    core::Value row;
    const bool found = spec_.global_table ? context.global_table->get(key, row_bytes)
                                          : context.store->get(0, key, row_bytes);
    if (context.join_observer != nullptr) context.join_observer->looked_up(found);
    if (found) {
      auto decoded = decode_value(spec_.table_value, row_bytes, *context.parser);
      if (!decoded.ok()) {
        return core::make_error(core::RecordErrorKind::deserialization,
                                "table '" + spec_.table + "' row for this key: " + decoded.error().message);
      }
      row = std::move(decoded).value();
    } else if (spec_.type == topology::JoinType::inner) {
      return Disposition::discarded;
    }

    core::Object sides;
    sides.push_back(core::Member{spec_.stream_name, std::move(record.value)});
    sides.push_back(core::Member{spec_.table, std::move(row)});
    record.value = core::Value::object(std::move(sides));
    if (!spec_.fields.empty()) {
      auto value = evaluate_fields(spec_.fields, record, context.eval);
      if (!value.ok()) return std::move(value).error();
      record.value = std::move(value).value();
    }
    context.out.emit(0, std::move(record));
    return Disposition::forwarded;
  }

 private:
  topology::JoinSpec spec_;
};

}  // namespace

std::unique_ptr<Operator> make_join_operator(const std::string& name, const topology::JoinSpec& spec) {
  return std::make_unique<JoinOperator>(name, spec);
}

}  // namespace sluice::ops
