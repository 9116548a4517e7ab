// Changing a topology that already ran: what each state store's contents mean (its fingerprint), and what a new
// version of the topology does to the stores, internal topics and outputs of an old one (`sluice diff`).
//
// A store's fingerprint is what decides how its bytes are read: the operator kind, what the key is (the rekey
// expressions or source topics that define the key the store is partitioned by), the window type and sizes, the
// aggregations in order, the emit mode, the join's type and the source topics of each side, a table's topic and
// formats. Settings that change only when or how long entries are kept (grace, dedupe's `within`, a stream join's
// before/after, idle timeouts) are not in it: the state stays readable when they change. The runtime records the
// fingerprints on the cluster and refuses to start when a store's fingerprint changed (runtime/store_guard.hpp).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/topology/topology.hpp"

namespace sluice::topology {

struct StoreFingerprint {
  std::string store;            // the operator's name (stores are named after their operator)
  std::string pointer;          // the operator's JSON pointer, e.g. "/operators/3"
  std::string changelog_topic;  // its changelog (a table join: the table's topic, which sluice does not own)
  bool owns_changelog = true;   // false for a stream-table join, whose store is a copy of the table topic
  nlohmann::ordered_json definition;  // {"kind": "aggregate", "key": [...], "window": {...}, ...}
  // The definition as compact JSON text, the form recorded on the cluster and compared.
  std::string text() const { return definition.dump(); }
};

// One fingerprint per store, in operator order.
std::vector<StoreFingerprint> store_fingerprints(const Topology& topology);

// What differs between two definitions, one line per difference, e.g. "window size: 1m -> 5m",
// "aggregations: [\"views = count()\"] -> [\"views = count()\", \"total = sum(amount)\"]". Empty when equal.
std::vector<std::string> fingerprint_changes(const nlohmann::ordered_json& before, const nlohmann::ordered_json& after);

struct StoreChange {
  enum class Kind { kept, changed, added, removed };
  Kind kind = Kind::kept;
  std::string store;
  std::string pointer;          // in the new topology (the old one for `removed`)
  std::string changelog_topic;  // empty for a store that is a copy of a table topic
  std::vector<std::string> changes;  // for `changed`: fingerprint_changes
};

struct OutputChange {
  enum class Kind { added, removed, changed };
  Kind kind = Kind::added;
  std::string topic;
  std::string detail;  // e.g. "written by per_minute (was per_hour)", "value format json -> string"
};

struct TopologyDiff {
  std::string old_application_id;
  std::string new_application_id;
  std::vector<StoreChange> stores;               // the new topology's stores in order, then removed ones
  std::vector<std::string> unused_topics;        // internal topics of the old version the new one does not use
  std::vector<std::string> new_internal_topics;  // internal topics the new version creates
  std::vector<OutputChange> outputs;             // sink and dead-letter topics
  std::vector<std::string> notes;                // compatible changes worth knowing (grace, within, before/after)

  // A store whose state cannot be read by the new version: the new version refuses to start until it is reset
  // or renamed.
  bool needs_reset() const;
  // Exit code of `sluice diff`: 0 compatible (nothing lost, nothing to do), 1 needs attention (a store changed,
  // state dropped, outputs or application id changed).
  bool needs_attention() const;
  nlohmann::ordered_json to_json() const;
  // Human-readable report; `bootstrap` fills in the delete commands ("$BOOTSTRAP" when empty).
  std::string to_text(const std::string& bootstrap = "") const;
};

TopologyDiff diff_topologies(const Topology& before, const Topology& after);

std::string_view to_string(StoreChange::Kind kind) noexcept;
std::string_view to_string(OutputChange::Kind kind) noexcept;

}  // namespace sluice::topology
