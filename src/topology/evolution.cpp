// Store fingerprints and `sluice diff` (include/sluice/topology/evolution.hpp).
#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "sluice/core/duration.hpp"
#include "sluice/core/printable.hpp"
#include "sluice/topology/evolution.hpp"

namespace sluice::topology {
namespace {

using nlohmann::ordered_json;

// Names in a topology have no dots; "<route>.<branch>" is produced by the route.
std::string producer_of(const std::string& reference) { return reference.substr(0, reference.find('.')); }

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

class Lineage {
 public:
  explicit Lineage(const Topology& topology) : topology_(topology) {
    for (const auto& source : topology.sources) sources_[source.name] = &source;
    for (const auto& op : topology.operators) operators_[op.name] = &op;
  }

  // What defines the key of the records `reference` produces: "source topic T" for a source's own key,
  // "rekey <expression>" for a rekey; operators that keep the key pass their inputs' definitions on.
  std::set<std::string> key_of(const std::string& reference, int depth = 0) const {
    if (depth > 10'000) return {};  // parse_topology refuses cycles; a hand-built topology may not
    const std::string name = producer_of(reference);
    if (auto source = sources_.find(name); source != sources_.end()) {
      return {"source topic " + source->second->topic};
    }
    auto op = operators_.find(name);
    if (op == operators_.end()) return {"unknown " + name};
    if (const auto* rekey = std::get_if<RekeySpec>(&op->second->body)) return {"rekey " + trimmed(rekey->key.text())};
    std::set<std::string> keys;
    // A stream-stream join's output is keyed like both of its sides (equal keys join); its first side says it.
    const bool first_only = std::holds_alternative<StreamJoinSpec>(op->second->body);
    for (const auto& input : op->second->inputs) {
      for (auto& key : key_of(input, depth + 1)) keys.insert(std::move(key));
      if (first_only) break;
    }
    return keys;
  }

  // The user topics whose records reach `reference`.
  std::set<std::string> origins_of(const std::string& reference, int depth = 0) const {
    if (depth > 10'000) return {};
    const std::string name = producer_of(reference);
    if (auto source = sources_.find(name); source != sources_.end()) return {source->second->topic};
    auto op = operators_.find(name);
    if (op == operators_.end()) return {};
    std::set<std::string> topics;
    for (const auto& input : op->second->inputs) {
      for (auto& topic : origins_of(input, depth + 1)) topics.insert(std::move(topic));
    }
    return topics;
  }

  ordered_json key_json(const OperatorSpec& op, std::size_t input_count) const {
    std::set<std::string> keys;
    for (std::size_t i = 0; i < std::min(input_count, op.inputs.size()); ++i) {
      for (auto& key : key_of(op.inputs[i])) keys.insert(std::move(key));
    }
    return ordered_json(std::vector<std::string>(keys.begin(), keys.end()));
  }

  const TableSpec* table(const std::string& name) const {
    for (const auto& table : topology_.tables) {
      if (table.name == name) return &table;
    }
    return nullptr;
  }

 private:
  const Topology& topology_;
  std::map<std::string, const SourceSpec*> sources_;
  std::map<std::string, const OperatorSpec*> operators_;
};

std::string duration(std::int64_t ms) { return core::format_duration_ms(ms); }

ordered_json window_json(const WindowSpec& window) {
  ordered_json out;
  out["type"] = std::string(to_string(window.type));
  switch (window.type) {
    case WindowType::tumbling:
    case WindowType::sliding: out["size"] = duration(window.size_ms); break;
    case WindowType::hopping:
      out["size"] = duration(window.size_ms);
      out["advance"] = duration(window.advance_ms);
      break;
    case WindowType::session: out["gap"] = duration(window.gap_ms); break;
  }
  return out;
}

std::string aggregation_text(const AggregationSpec& aggregation) {
  std::string text = aggregation.name + " = " + std::string(to_string(aggregation.function)) + "(";
  if (aggregation.argument) text += trimmed(aggregation.argument->text());
  return text + ")";
}

// The compact JSON of a value, for messages (quoted and cut like every value from a file).
std::string shown(const ordered_json& value) {
  return core::printable(value.is_null() ? std::string("(none)") : value.dump(), 512);
}

void collect_changes(const std::string& path, const ordered_json& before, const ordered_json& after,
                     std::vector<std::string>& changes) {
  if (before.is_object() && after.is_object()) {
    std::vector<std::string> keys;
    for (const auto& item : before.items()) keys.push_back(item.key());
    for (const auto& item : after.items()) {
      if (!before.contains(item.key())) keys.push_back(item.key());
    }
    for (const auto& key : keys) {
      const ordered_json none;
      const auto& old_value = before.contains(key) ? before.at(key) : none;
      const auto& new_value = after.contains(key) ? after.at(key) : none;
      collect_changes(path.empty() ? key : path + " " + key, old_value, new_value, changes);
    }
    return;
  }
  if (before != after) changes.push_back((path.empty() ? "definition" : path) + ": " + shown(before) + " -> " + shown(after));
}

std::string sink_detail(const SinkSpec& sink) {
  return "from " + sink.from + ", key " + std::string(to_string(sink.key)) + ", value " +
         std::string(to_string(sink.value));
}

}  // namespace

std::vector<StoreFingerprint> store_fingerprints(const Topology& topology) {
  Lineage lineage(topology);
  std::vector<StoreFingerprint> out;
  for (const auto& op : topology.operators) {
    StoreFingerprint print;
    print.store = op.name;
    print.pointer = op.pointer;
    print.changelog_topic = op.changelog_topic.value_or("");
    ordered_json& definition = print.definition;
    if (const auto* aggregate = std::get_if<AggregateSpec>(&op.body)) {
      definition["kind"] = "aggregate";
      definition["key"] = lineage.key_json(op, op.inputs.size());
      definition["window"] = aggregate->window ? window_json(*aggregate->window) : ordered_json("none (a table)");
      definition["emit"] = std::string(to_string(aggregate->emit));
      std::vector<std::string> aggregations;
      for (const auto& aggregation : aggregate->aggregations) aggregations.push_back(aggregation_text(aggregation));
      definition["aggregations"] = aggregations;
    } else if (std::holds_alternative<DedupeSpec>(op.body)) {
      definition["kind"] = "dedupe";
      definition["key"] = lineage.key_json(op, op.inputs.size());
    } else if (const auto* join = std::get_if<JoinSpec>(&op.body)) {
      if (join->global_table) continue;  // no store of its own: the instance's copy of the global table
      const TableSpec* table = lineage.table(join->table);
      print.owns_changelog = false;
      if (table != nullptr) print.changelog_topic = table->topic;
      definition["kind"] = "table join";
      definition["table topic"] = print.changelog_topic;
      definition["table key"] = std::string(to_string(join->table_key));
      definition["table value"] = std::string(to_string(join->table_value));
      definition["table history"] = join->table_history_ms ? duration(*join->table_history_ms) : std::string("none");
    } else if (const auto* stream_join = std::get_if<StreamJoinSpec>(&op.body)) {
      definition["kind"] = "stream join";
      definition["type"] = std::string(to_string(stream_join->type));
      definition["key"] = lineage.key_json(op, 1);
      auto sides = [&](std::size_t index) {
        std::set<std::string> topics;
        if (index < op.inputs.size()) topics = lineage.origins_of(op.inputs[index]);
        return std::vector<std::string>(topics.begin(), topics.end());
      };
      definition["left from"] = sides(0);
      definition["right from"] = sides(1);
    } else {
      continue;
    }
    out.push_back(std::move(print));
  }
  return out;
}

std::vector<std::string> fingerprint_changes(const ordered_json& before, const ordered_json& after) {
  std::vector<std::string> changes;
  collect_changes("", before, after, changes);
  return changes;
}

bool TopologyDiff::needs_reset() const {
  return std::any_of(stores.begin(), stores.end(), [](const StoreChange& store) {
    return store.kind == StoreChange::Kind::changed;
  });
}

bool TopologyDiff::needs_attention() const {
  if (old_application_id != new_application_id || needs_reset() || !unused_topics.empty() || !outputs.empty()) {
    return true;
  }
  return std::any_of(stores.begin(), stores.end(), [](const StoreChange& store) {
    return store.kind == StoreChange::Kind::removed;
  });
}

std::string_view to_string(StoreChange::Kind kind) noexcept {
  switch (kind) {
    case StoreChange::Kind::kept: return "kept";
    case StoreChange::Kind::changed: return "changed";
    case StoreChange::Kind::added: return "added";
    case StoreChange::Kind::removed: return "removed";
  }
  return "?";
}

std::string_view to_string(OutputChange::Kind kind) noexcept {
  switch (kind) {
    case OutputChange::Kind::added: return "added";
    case OutputChange::Kind::removed: return "removed";
    case OutputChange::Kind::changed: return "changed";
  }
  return "?";
}

TopologyDiff diff_topologies(const Topology& before, const Topology& after) {
  TopologyDiff diff;
  diff.old_application_id = before.application_id;
  diff.new_application_id = after.application_id;
  const auto old_prints = store_fingerprints(before);
  const auto new_prints = store_fingerprints(after);
  const bool same_application = before.application_id == after.application_id;
  // Stores are found by name, and only within one application id (the id is part of every internal topic's name
  // and of the consumer group, so a new id starts everything afresh).
  auto old_print = [&](const std::string& store) -> const StoreFingerprint* {
    if (!same_application) return nullptr;
    for (const auto& print : old_prints) {
      if (print.store == store) return &print;
    }
    return nullptr;
  };
  std::set<std::string> matched;
  for (const auto& print : new_prints) {
    StoreChange change;
    change.store = print.store;
    change.pointer = print.pointer;
    change.changelog_topic = print.owns_changelog ? print.changelog_topic : "";
    if (const StoreFingerprint* old = old_print(print.store)) {
      matched.insert(old->store);
      change.changes = fingerprint_changes(old->definition, print.definition);
      change.kind = change.changes.empty() ? StoreChange::Kind::kept : StoreChange::Kind::changed;
    } else {
      change.kind = StoreChange::Kind::added;
    }
    diff.stores.push_back(std::move(change));
  }
  for (const auto& print : old_prints) {
    if (matched.count(print.store) != 0) continue;
    StoreChange change;
    change.kind = StoreChange::Kind::removed;
    change.store = print.store;
    change.pointer = print.pointer;
    change.changelog_topic = print.owns_changelog ? print.changelog_topic : "";
    diff.stores.push_back(std::move(change));
  }

  std::set<std::string> new_internal;
  for (const auto& topic : after.internal_topics) new_internal.insert(topic.name);
  std::set<std::string> old_internal;
  for (const auto& topic : before.internal_topics) old_internal.insert(topic.name);
  for (const auto& topic : before.internal_topics) {
    if (new_internal.count(topic.name) == 0) diff.unused_topics.push_back(topic.name);
  }
  for (const auto& topic : after.internal_topics) {
    if (old_internal.count(topic.name) == 0) diff.new_internal_topics.push_back(topic.name);
  }

  // Outputs: per topic, who writes it and how.
  std::map<std::string, std::vector<std::string>> old_sinks;
  std::map<std::string, std::vector<std::string>> new_sinks;
  for (const auto& sink : before.sinks) old_sinks[sink.topic].push_back(sink_detail(sink));
  for (const auto& sink : after.sinks) new_sinks[sink.topic].push_back(sink_detail(sink));
  for (auto& [topic, writers] : old_sinks) std::sort(writers.begin(), writers.end());
  for (auto& [topic, writers] : new_sinks) std::sort(writers.begin(), writers.end());
  auto joined = [](const std::vector<std::string>& parts) {
    std::string text;
    for (const auto& part : parts) text += (text.empty() ? "" : "; ") + part;
    return text;
  };
  for (const auto& [topic, writers] : new_sinks) {
    auto old = old_sinks.find(topic);
    if (old == old_sinks.end()) {
      diff.outputs.push_back({OutputChange::Kind::added, topic, "written " + joined(writers)});
    } else if (old->second != writers) {
      diff.outputs.push_back({OutputChange::Kind::changed, topic, "was written " + joined(old->second) +
                                                                      ", now " + joined(writers)});
    }
  }
  for (const auto& [topic, writers] : old_sinks) {
    if (new_sinks.count(topic) == 0) {
      diff.outputs.push_back({OutputChange::Kind::removed, topic, "no longer written (was " + joined(writers) + ")"});
    }
  }
  if (before.dead_letter_topic != after.dead_letter_topic) {
    diff.outputs.push_back({OutputChange::Kind::changed, after.dead_letter_topic,
                            "dead letters now go here instead of " + before.dead_letter_topic});
  }

  // Compatible changes worth a line: what decides how long state is kept or when windows close.
  std::map<std::string, const OperatorSpec*> old_operators;
  for (const auto& op : before.operators) old_operators[op.name] = &op;
  for (const auto& op : after.operators) {
    auto old = old_operators.find(op.name);
    if (!same_application || old == old_operators.end()) continue;
    if (old->second->type_name() != op.type_name()) continue;
    const auto* new_aggregate = std::get_if<AggregateSpec>(&op.body);
    const auto* old_aggregate = std::get_if<AggregateSpec>(&old->second->body);
    if (new_aggregate && old_aggregate && new_aggregate->window && old_aggregate->window &&
        new_aggregate->window->grace_ms != old_aggregate->window->grace_ms) {
      diff.notes.push_back(op.name + ": grace " + duration(old_aggregate->window->grace_ms) + " -> " +
                           duration(new_aggregate->window->grace_ms) +
                           " (windows already closed and emitted stay so; open ones close by the new grace)");
    }
    const auto* new_dedupe = std::get_if<DedupeSpec>(&op.body);
    const auto* old_dedupe = std::get_if<DedupeSpec>(&old->second->body);
    if (new_dedupe && old_dedupe && new_dedupe->within_ms != old_dedupe->within_ms) {
      diff.notes.push_back(op.name + ": within " + duration(old_dedupe->within_ms) + " -> " +
                           duration(new_dedupe->within_ms) + " (the keys it remembers expire by the new window)");
    }
    const auto* new_join = std::get_if<StreamJoinSpec>(&op.body);
    const auto* old_join = std::get_if<StreamJoinSpec>(&old->second->body);
    if (new_join && old_join &&
        (new_join->before_ms != old_join->before_ms || new_join->after_ms != old_join->after_ms ||
         new_join->grace_ms != old_join->grace_ms)) {
      diff.notes.push_back(op.name + ": join window changed (records already dropped from the store cannot match "
                                     "a wider window)");
    }
  }
  return diff;
}

ordered_json TopologyDiff::to_json() const {
  ordered_json out;
  out["compatible"] = !needs_attention();
  out["needs_reset"] = needs_reset();
  out["application_id"] = {{"before", old_application_id}, {"after", new_application_id}};
  ordered_json stores_json = ordered_json::array();
  for (const auto& store : stores) {
    ordered_json item;
    item["store"] = store.store;
    item["operator"] = store.pointer;
    item["status"] = std::string(to_string(store.kind));
    if (!store.changelog_topic.empty()) item["changelog_topic"] = store.changelog_topic;
    if (!store.changes.empty()) item["changes"] = store.changes;
    stores_json.push_back(std::move(item));
  }
  out["stores"] = std::move(stores_json);
  out["unused_internal_topics"] = unused_topics;
  out["new_internal_topics"] = new_internal_topics;
  ordered_json outputs_json = ordered_json::array();
  for (const auto& output : outputs) {
    outputs_json.push_back({{"topic", output.topic}, {"status", std::string(to_string(output.kind))},
                            {"detail", output.detail}});
  }
  out["outputs"] = std::move(outputs_json);
  out["notes"] = notes;
  return out;
}

std::string TopologyDiff::to_text(const std::string& bootstrap) const {
  std::ostringstream out;
  const std::string server = bootstrap.empty() ? "$BOOTSTRAP" : bootstrap;
  auto q = [](const std::string& text) { return core::quoted(text); };
  if (old_application_id != new_application_id) {
    out << "application_id " << q(old_application_id) << " -> " << q(new_application_id)
        << ": a new consumer group and new internal topics; every store starts empty and the sources are read "
           "again from the start\n";
  }
  out << "State stores:\n";
  if (stores.empty()) out << "  (none)\n";
  for (const auto& store : stores) {
    switch (store.kind) {
      case StoreChange::Kind::kept: out << "  keeps its state   " << store.store << " (" << store.pointer << ")\n"; break;
      case StoreChange::Kind::added:
        out << "  starts empty      " << store.store << " (" << store.pointer << ", a new store)\n";
        break;
      case StoreChange::Kind::removed:
        out << "  dropped           " << store.store << " (was " << store.pointer << "; its state is no longer used)\n";
        break;
      case StoreChange::Kind::changed:
        out << "  NEEDS A RESET     " << store.store << " (" << store.pointer
            << "): its state was written by another definition\n";
        for (const auto& change : store.changes) out << "                      " << change << "\n";
        out << "                    sluice refuses to start with it; rename the operator (its state then starts "
               "empty under the new name)";
        if (!store.changelog_topic.empty()) {
          out << ", or run once with --reset-store " << store.store << " (empties " << store.changelog_topic << ")";
        } else {
          out << ", or run once with --reset-store " << store.store << " (the copy of the table is read again)";
        }
        out << "\n";
        break;
    }
  }
  if (!new_internal_topics.empty()) {
    out << "New internal topics (created at start):\n";
    for (const auto& topic : new_internal_topics) out << "  " << topic << "\n";
  }
  if (!unused_topics.empty()) {
    out << "Internal topics no longer used (delete them once no instance of the old version runs):\n";
    for (const auto& topic : unused_topics) {
      out << "  kafka-topics.sh --bootstrap-server " << server << " --delete --topic " << topic << "\n";
    }
  }
  if (!outputs.empty()) {
    out << "Output topics:\n";
    for (const auto& output : outputs) {
      out << "  " << to_string(output.kind) << " " << output.topic << ": " << output.detail << "\n";
    }
  }
  if (!notes.empty()) {
    out << "Compatible changes:\n";
    for (const auto& note : notes) out << "  " << note << "\n";
  }
  if (needs_reset()) {
    out << "Result: needs a reset or rename (exit 1)\n";
  } else if (needs_attention()) {
    out << "Result: compatible, but needs attention (exit 1)\n";
  } else {
    out << "Result: compatible (exit 0)\n";
  }
  return out.str();
}

}  // namespace sluice::topology
