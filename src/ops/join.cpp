// Stream-table join. The table's rows live in the operator's store, family 0: [key bytes] -> [value bytes], as
// the table topic holds them (its key bytes are what a stream key is looked up by, so a restore copies the
// topic as it is); a versioned table's rows are versions in family 1 (see stateful.hpp). The pipeline writes
// the rows (Pipeline::process for a table record); this operator reads.
#include <climits>
#include <functional>
#include <optional>
#include <vector>
#include <stdexcept>
#include <string>
#include <utility>

#include "sluice/ops/serde.hpp"
#include "sluice/ops/stateful.hpp"
#include "window.hpp"

namespace sluice::ops {
namespace {

// The versions of `key` at or before `until_ms`, oldest first: (store key, stored value).
void versions_until(state::Store& store, std::string_view key, std::int64_t until_ms,
                    const std::function<void(std::string_view, std::string_view)>& visit) {
  const std::string from = table_version_key(key, INT64_MIN);
  std::string to = table_version_key(key, until_ms);
  to.push_back('\0');  // [from, to): includes until_ms itself
  store.scan(kTableVersionFamily, from, to, [&](std::string_view stored_key, std::string_view value) {
    visit(stored_key, value);
    return true;
  });
}

class JoinOperator final : public Operator {
 public:
  JoinOperator(std::string name, const topology::JoinSpec& spec) : Operator(std::move(name)), spec_(spec) {}

  // A global table lives outside the task (the instance's store): the operator has no store of its own.
  std::uint8_t store_families() const noexcept override {
    return spec_.global_table ? 0 : spec_.table_history_ms ? 2 : 1;
  }

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
    bool found = false;
    if (spec_.global_table) {
      found = context.global_table->get(key, row_bytes);
    } else if (spec_.table_history_ms) {
      // As of the record's time: the newest version at or before it. Older than the history, that version may
      // be gone already, so the record is late (a lookup whose answer would depend on when it ran).
      const std::int64_t horizon = horizon_ms(context);
      if (record.timestamp_ms < horizon) {
        return core::make_error(core::RecordErrorKind::late,
                                "join '" + name() + "': the record's time is more than the history of table '" +
                                    spec_.table + "' behind stream time; the value current then is no longer kept");
      }
      versions_until(*context.store, key, record.timestamp_ms, [&](std::string_view, std::string_view value) {
        found = !value.empty() && value.front() == 'v';
        if (found) row_bytes.assign(value.substr(1));
      });
    } else {
      found = context.store->get(0, key, row_bytes);
    }
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
  std::int64_t horizon_ms(const ProcessContext& context) const {
    const std::int64_t stream_time = context.time != nullptr ? context.time->stream_time_ms : INT64_MIN;
    return stream_time == INT64_MIN ? INT64_MIN : stream_time - *spec_.table_history_ms;
  }

  topology::JoinSpec spec_;
};

}  // namespace

std::string table_version_key(std::string_view key, std::int64_t timestamp_ms) {
  std::string out;
  out.reserve(4 + key.size() + 8);
  const auto length = static_cast<std::uint32_t>(key.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((length >> shift) & 0xffu));
  out.append(key);
  detail::append_time(out, timestamp_ms);  // the windows' time encoding: byte order = numeric order
  return out;
}

std::string table_version_value(std::optional<std::string_view> value) {
  return value ? "v" + std::string(*value) : std::string("d");
}

void put_table_version(state::Store& store, std::string_view key, std::optional<std::string_view> value,
                       std::int64_t timestamp_ms, std::int64_t horizon_ms) {
  store.put(kTableVersionFamily, table_version_key(key, timestamp_ms), table_version_value(value));
  if (horizon_ms == INT64_MIN) return;
  std::vector<std::string> old;  // at or before the horizon, oldest first
  bool newest_is_tombstone = false;
  versions_until(store, key, horizon_ms, [&](std::string_view stored_key, std::string_view stored_value) {
    old.emplace_back(stored_key);
    newest_is_tombstone = stored_value == "d";
  });
  if (old.empty()) return;
  if (!newest_is_tombstone) old.pop_back();  // the value current at the horizon stays
  for (const std::string& stale : old) store.remove(kTableVersionFamily, stale);
}

std::unique_ptr<Operator> make_join_operator(const std::string& name, const topology::JoinSpec& spec) {
  return std::make_unique<JoinOperator>(name, spec);
}

}  // namespace sluice::ops
