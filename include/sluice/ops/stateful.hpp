// Keyed stateful operators: windowed and table aggregates, dedupe. They keep their state in the task's
// state::Store (context.store) and read time from context.time; see ops/operator.hpp for the lifecycle.
//
// Output of an aggregate: key = the group key; value = an object with, for windowed aggregates,
// "window_start" and "window_end" (epoch ms; tumbling/hopping: [start, end) ; sliding: [start, end] both
// inclusive; session: [first record, last record] both inclusive), then one field per aggregation in the order
// written; timestamp = the largest event time among the records aggregated.
#pragma once

#include <memory>
#include <string>

#include "sluice/ops/operator.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::ops {

// `update_buffer_limit`: most compacted updates held per task before they are emitted early (emit: update).
std::unique_ptr<Operator> make_aggregate_operator(const std::string& name, const topology::AggregateSpec& spec,
                                                  std::size_t update_buffer_limit = 10'000);
std::unique_ptr<Operator> make_dedupe_operator(const std::string& name, const topology::DedupeSpec& spec);
// A stream-table join; its store holds the table (see Pipeline: table records are written there).
std::unique_ptr<Operator> make_join_operator(const std::string& name, const topology::JoinSpec& spec);
// A windowed stream-stream join (stream_join.cpp); ProcessContext::input tells the side (0: from, 1: stream).
std::unique_ptr<Operator> make_stream_join_operator(const std::string& name, const topology::StreamJoinSpec& spec);

// A versioned table (`history`) keeps its rows in store family 1, one entry per version:
//   [key length, 4 bytes big-endian][key bytes][timestamp, 8 bytes big-endian, sign bit flipped]
//     -> ['v'][value bytes], or ['d'] for a tombstone,
// so a key's versions are contiguous and in time order. (Family 0 holds the rows of a table without history.)
inline constexpr std::uint8_t kTableVersionFamily = 1;
std::string table_version_key(std::string_view key, std::int64_t timestamp_ms);
std::string table_version_value(std::optional<std::string_view> value);
// Writes one table record into a versioned store and drops what the history no longer needs: of the versions
// at or before `horizon_ms` (stream time - history) only the newest is kept, as the value current at the
// horizon, and not even that one if it is a tombstone.
void put_table_version(state::Store& store, std::string_view key, std::optional<std::string_view> value,
                       std::int64_t timestamp_ms, std::int64_t horizon_ms);

}  // namespace sluice::ops
