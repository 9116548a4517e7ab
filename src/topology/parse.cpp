// parse_topology: reads every section of the document into drafts (collecting all errors rather than
// stopping at the first), then checks what needs the whole file (names, references, cycles, topics, internal
// topics) and, when nothing is wrong, assembles the Topology with its operators in processing order, its
// sub-topologies and its internal topics.
#include <algorithm>
#include <array>
#include <exception>
#include <map>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "diagnostics.hpp"
#include "field_reader.hpp"
#include "graph.hpp"
#include "plan.hpp"
#include "sluice/topology/topology.hpp"
#include "stateful_reader.hpp"

namespace sluice::topology {
namespace {

using detail::DraftOperator;
using detail::DraftSource;
using detail::ErrorList;
using detail::FieldReader;
using detail::Json;
using detail::Located;
using detail::pointer_child;
using detail::in_quotes;

constexpr std::int64_t kMaxTaskIdleMs = 86'400'000;  // as the max_task_idle setting
constexpr std::int64_t kMaxHistoryMs = 365ll * 86'400'000;

// The operator types, in the order of OperatorBody's alternatives; "join" chooses both JoinSpec (with "table")
// and the last alternative, StreamJoinSpec (with "stream").
constexpr std::array<std::string_view, 10> kOperatorTypes{"filter", "map",   "select",    "flat_map", "rekey",
                                                          "route",  "merge", "aggregate", "dedupe",   "join"};
static_assert(kOperatorTypes.size() + 1 == std::variant_size_v<OperatorBody>);

// Fields that belong to one operator type besides its type key.
struct TypeOption {
  std::string_view field;
  std::string_view type;
};
constexpr std::array<TypeOption, 6> kTypeOptions{{{"drop", "map"},
                                                  {"as", "flat_map"},
                                                  {"default", "route"},
                                                  {"window", "aggregate"},
                                                  {"emit", "aggregate"},
                                                  {"idle_timeout", "aggregate"}}};

std::string number_word(std::size_t count) {
  constexpr std::array<std::string_view, 8> words{"zero", "one", "two", "three", "four", "five", "six", "seven"};
  return count < words.size() ? std::string(words[count]) : std::to_string(count);
}

std::vector<std::string> strings(std::initializer_list<std::string_view> items) {
  return {items.begin(), items.end()};
}

struct DraftSink {
  std::string pointer;
  std::optional<Located> from;
  std::optional<Located> topic;
  std::optional<SinkSpec> spec;  // set only when the sink's own fields are valid
  bool name_written = false;
};

class TopologyParser {
 public:
  std::variant<Topology, std::vector<ValidationError>> parse(const Json& document);

 private:
  void read_sources(const Json& document);
  // `table`: a table entry (which may also say "history" and "global").
  DraftSource read_source(const Json& source, const std::string& pointer, bool table = false);
  std::optional<TimestampSpec> read_timestamp(const Json& timestamp, const std::string& pointer);

  void read_operators(const Json& document);
  DraftOperator read_operator(const Json& op, const std::string& pointer);
  void check_operator_fields(const Json& op, const std::string& pointer, const std::vector<std::string_view>& types);
  std::vector<Located> read_references(const Json& value, const std::string& pointer, bool allow_single);
  std::optional<OperatorBody> read_body(const Json& op, const std::string& pointer, DraftOperator& draft);
  std::optional<OperatorBody> read_map(const Json& op, const std::string& pointer);
  std::optional<OperatorBody> read_select(const Json& select, const std::string& pointer);
  std::optional<OperatorBody> read_flat_map(const Json& op, const std::string& pointer);
  std::optional<OperatorBody> read_route(const Json& op, const std::string& pointer, DraftOperator& draft);

  void read_sinks(const Json& document);
  DraftSink read_sink(const Json& sink, const std::string& pointer);
  std::optional<SinkSchemaSpec> read_sink_schema(const Json& schema, const std::string& pointer, ValueFormat format);

  void read_tables(const Json& document);
  std::optional<OperatorBody> read_join(const Json& join, const std::string& pointer, DraftOperator& draft);
  std::optional<OperatorBody> read_stream_join(const Json& join, const std::string& pointer, DraftOperator& draft);
  // A join's "max_task_idle" (nullopt when absent or wrong, the error reported).
  std::optional<std::int64_t> read_max_task_idle(const Json& join, const std::string& pointer);
  std::optional<std::vector<FieldAssignment>> read_join_select(const Json& join, const std::string& pointer);
  // A join's "type", when present and valid (errors named at /type otherwise); outer only between two streams.
  std::optional<JoinType> read_join_type(const Json& join, const std::string& pointer, bool stream_stream);
  // The key format of the partitioning of `reference`'s records in an assembled topology (for the repartition
  // topic of the other side of a stream-stream join): a source's key format, json after a repartition topic.
  static KeyFormat partitioning_key_format(const Topology& topology, const std::string& reference, int depth = 0);
  void check_tables();
  // Whether `name` is a table's and not also a source's or an operator's (a clash reported on its own).
  bool names_only_a_table(std::string_view name) const;

  void check_topics();
  void check_internal_topics(const std::vector<std::vector<std::optional<detail::Producer>>>& producers,
                             const std::vector<std::size_t>& order);

  ErrorList errors_;
  FieldReader reader_{errors_};
  std::optional<std::string> application_id_;
  std::string description_;
  std::optional<Located> dead_letter_topic_;  // as written; nullopt when defaulted or invalid
  bool dead_letter_topic_written_ = false;
  bool sections_readable_ = true;  // false when "sources" or "operators" as a whole could not be read
  std::vector<DraftSource> sources_;
  std::vector<DraftOperator> operators_;
  std::vector<DraftSink> sinks_;
  std::vector<DraftSource> tables_;  // a table reads like a source: name, topic, key and value formats
  std::vector<std::optional<std::int64_t>> table_history_;  // per table: its "history", if it says one
  std::vector<bool> tables_global_;  // per table draft: "global": true
  // Each join's `lookup` (operator index, pointer), for check_tables: only a global table's join may have one.
  std::vector<std::pair<std::size_t, std::string>> join_lookups_;
  // Whether a join (by draft operator index) looks up a global table: such a join is not keyed.
  bool joins_global_table(std::size_t operator_index) const;
  // Each join's table reference, for check_tables (operator index, reference).
  std::vector<std::pair<std::size_t, Located>> join_tables_;
  std::vector<bool> repartition_needed_;  // per draft operator, by check_internal_topics
  // Per draft operator, per input: whether that input is re-keyed (stream-stream joins repartition per input).
  std::vector<std::vector<bool>> input_rekeyed_;
};

std::variant<Topology, std::vector<ValidationError>> TopologyParser::parse(const Json& document) {
  if (!document.is_object()) {
    errors_.add("", std::string("expected a JSON object (the topology), got ") + document.type_name());
    return errors_.take_in_document_order();
  }
  reader_.reject_unknown_fields(document, "",
                                strings({"$schema", "application_id", "description", "sources", "tables",
                                         "operators", "sinks", "dead_letter_topic"}));
  if (const Json* schema = FieldReader::find(document, "$schema")) (void)reader_.string(*schema, "/$schema");
  if (const Json* id = reader_.require(document, "", "application_id")) {
    application_id_ = reader_.application_id(*id, "/application_id");
  }
  if (const Json* description = FieldReader::find(document, "description")) {
    description_ = reader_.string(*description, "/description").value_or("");
  }
  read_sources(document);
  read_tables(document);
  read_operators(document);
  read_sinks(document);
  if (const Json* topic = FieldReader::find(document, "dead_letter_topic")) {
    dead_letter_topic_written_ = true;
    if (auto name = reader_.topic(*topic, "/dead_letter_topic")) {
      dead_letter_topic_ = Located{std::move(*name), "/dead_letter_topic"};
    }
  } else if (application_id_) {
    dead_letter_topic_ = Located{*application_id_ + "-dlq", ""};
  }

  // Whole-file checks.
  const detail::NameTable names(sources_, operators_, sections_readable_, errors_);
  std::vector<std::vector<std::optional<detail::Producer>>> producers(operators_.size());
  const auto is_table = [&](const Located& reference) { return names_only_a_table(reference.value); };
  for (std::size_t i = 0; i < operators_.size(); ++i) {
    for (const Located& input : operators_[i].inputs) {
      // A table named as an input is reported by check_tables, with what to do instead.
      producers[i].push_back(is_table(input) ? std::nullopt : names.resolve(input, errors_));
    }
  }
  for (const DraftSink& sink : sinks_) {
    if (!sink.from) continue;
    if (is_table(*sink.from)) {
      errors_.add(sink.from->pointer, in_quotes(sink.from->value) + " is a table; a sink writes a stream (a join's "
                                                                    "output, for instance)");
    } else {
      (void)names.resolve(*sink.from, errors_);
    }
  }
  const std::vector<std::size_t> order = detail::order_operators(operators_, producers, errors_);
  check_topics();
  check_tables();
  check_internal_topics(producers, order);

  if (!errors_.empty()) return errors_.take_in_document_order();

  // No errors: every draft is complete. (.value() rather than *, so that a bug here becomes an exception,
  // reported by parse_guarded, instead of undefined behaviour.)
  if (order.size() != operators_.size()) throw std::logic_error("operators left out of the processing order");
  Topology topology;
  topology.application_id = application_id_.value();
  topology.description = description_;
  for (DraftSource& source : sources_) topology.sources.push_back(std::move(source.spec.value()));
  for (std::size_t i = 0; i < tables_.size(); ++i) {
    SourceSpec& spec = tables_[i].spec.value();
    topology.tables.push_back(TableSpec{std::move(spec.name), std::move(spec.topic), spec.key, spec.value, spec.pointer,
                                        table_history_.at(i), false});
  }
  for (std::size_t t = 0; t < topology.tables.size(); ++t) topology.tables[t].global = tables_global_.at(t);
  for (const std::size_t index : order) {
    DraftOperator& draft = operators_[index];
    std::vector<std::string> inputs;
    for (Located& input : draft.inputs) inputs.push_back(std::move(input.value));
    OperatorSpec spec{std::move(draft.name.value().value), std::move(inputs), std::move(draft.body.value()),
                      draft.pointer, std::nullopt, std::nullopt, {}};
    if (auto* join = std::get_if<JoinSpec>(&spec.body)) {
      // The table's topic is the join store's changelog.
      for (const TableSpec& table : topology.tables) {
        if (table.name != join->table) continue;
        join->table_key = table.key;
        join->table_value = table.value;
        join->table_history_ms = table.history_ms;
        join->global_table = table.global;
        // A global table is read whole by every instance, into a store of its own: no changelog, no repartition.
        if (!table.global) spec.changelog_topic = table.topic;
      }
      if (!join->global_table && repartition_needed_.at(index)) {
        spec.repartition_topic = detail::repartition_topic_name(topology.application_id, spec.name);
      }
    } else if (auto* stream_join = std::get_if<StreamJoinSpec>(&spec.body)) {
      spec.changelog_topic = detail::changelog_topic_name(topology.application_id, spec.name);
      const std::vector<bool>& rekeyed = input_rekeyed_.at(index);
      spec.input_repartition_topics.resize(spec.inputs.size());
      std::optional<std::size_t> kept;  // an input that keeps its partitioning
      for (std::size_t input = 0; input < spec.inputs.size(); ++input) {
        if (rekeyed.at(input)) {
          spec.input_repartition_topics[input] =
              detail::join_repartition_topic_name(topology.application_id, spec.name, input);
        } else if (!kept) {
          kept = input;
        }
      }
      stream_join->repartition_key =
          kept ? partitioning_key_format(topology, spec.inputs[*kept]) : KeyFormat::json;
    } else if (detail::key_use_of(spec.type_name()) == detail::KeyUse::needs_partitioned_by_key) {
      spec.changelog_topic = detail::changelog_topic_name(topology.application_id, spec.name);
      if (repartition_needed_.at(index)) {
        spec.repartition_topic = detail::repartition_topic_name(topology.application_id, spec.name);
      }
    }
    topology.operators.push_back(std::move(spec));
  }
  for (DraftSink& sink : sinks_) topology.sinks.push_back(std::move(sink.spec.value()));
  topology.dead_letter_topic = dead_letter_topic_.value().value;
  topology.subtopologies = detail::split_subtopologies(topology);
  topology.internal_topics = detail::list_internal_topics(topology, topology.subtopologies);
  return topology;
}

// ---- sources ----

void TopologyParser::read_sources(const Json& document) {
  const Json* sources = FieldReader::find(document, "sources");
  if (sources == nullptr) {
    errors_.add("", "missing required field \"sources\"; at least one source is required");
    sections_readable_ = false;
    return;
  }
  if (!reader_.expect_array(*sources, "/sources")) {
    sections_readable_ = false;
    return;
  }
  if (sources->empty()) {
    errors_.add("/sources", "at least one source is required, e.g. {\"name\": \"orders\", \"topic\": \"orders\"}");
    sections_readable_ = false;
    return;
  }
  std::map<std::string, std::string, std::less<>> readers_by_topic;
  for (std::size_t i = 0; i < sources->size(); ++i) {
    DraftSource draft = read_source((*sources)[i], pointer_child("/sources", i));
    if (draft.topic) {
      const auto [first, inserted] = readers_by_topic.try_emplace(draft.topic->value, draft.pointer);
      if (!inserted) {
        errors_.add(draft.topic->pointer, "topic " + in_quotes(draft.topic->value) + " is already read by " +
                                              first->second +
                                              "; read a topic with one source and use it as the input of "
                                              "several operators instead");
        draft.spec.reset();
      }
    }
    sources_.push_back(std::move(draft));
  }
}

DraftSource TopologyParser::read_source(const Json& source, const std::string& pointer, bool table) {
  DraftSource draft;
  draft.pointer = pointer;
  if (!reader_.expect_object(source, pointer)) return draft;
  reader_.reject_unknown_fields(source, pointer,
                                table ? strings({"name", "topic", "key", "value", "timestamp", "history", "global", "description"})
                                      : strings({"name", "topic", "key", "value", "timestamp", "description"}));
  const std::size_t errors_before = errors_.size();

  SourceSpec spec;
  spec.pointer = pointer;
  if (const Json* name = reader_.require(source, pointer, "name")) {
    const std::string name_pointer = pointer_child(pointer, "name");
    if (auto text = reader_.name(*name, name_pointer)) {
      draft.name = Located{*text, name_pointer};
      spec.name = std::move(*text);
    }
  }
  if (const Json* topic = reader_.require(source, pointer, "topic")) {
    const std::string topic_pointer = pointer_child(pointer, "topic");
    if (auto text = reader_.topic(*topic, topic_pointer)) {
      draft.topic = Located{*text, topic_pointer};
      spec.topic = std::move(*text);
    }
  }
  if (const Json* key = FieldReader::find(source, "key")) {
    spec.key = reader_.key_format(*key, pointer_child(pointer, "key")).value_or(spec.key);
    if (table && registry_format(spec.key)) {
      errors_.add(pointer_child(pointer, "key"), "a table reads json, string or bytes keys (" +
                                                     std::string(to_string(spec.key)) +
                                                     " keys are read by sources only, for now)");
    }
  }
  if (const Json* value = FieldReader::find(source, "value")) {
    spec.value = reader_.value_format(*value, pointer_child(pointer, "value")).value_or(spec.value);
    if (table && registry_format(spec.value)) {
      errors_.add(pointer_child(pointer, "value"), "a table reads json, string or bytes values (" +
                                                       std::string(to_string(spec.value)) +
                                                       " is read by sources and written by sinks only, for now)");
    }
  }
  if (const Json* timestamp = FieldReader::find(source, "timestamp")) {
    if (auto parsed = read_timestamp(*timestamp, pointer_child(pointer, "timestamp"))) {
      spec.timestamp = std::move(*parsed);
    }
  }
  if (const Json* description = FieldReader::find(source, "description")) {
    (void)reader_.string(*description, pointer_child(pointer, "description"));
  }
  if (errors_.size() == errors_before) draft.spec = std::move(spec);
  return draft;
}

std::optional<TimestampSpec> TopologyParser::read_timestamp(const Json& timestamp, const std::string& pointer) {
  if (timestamp.is_string()) {
    const auto& text = timestamp.get_ref<const std::string&>();
    if (text == "record") return TimestampSpec{};
    errors_.add(pointer, in_quotes(text) +
                             " is not a timestamp source; expected \"record\" (the Kafka record's timestamp) or an "
                             "object such as {\"field\": \"created_at\", \"format\": \"iso8601\"}");
    return std::nullopt;
  }
  if (!timestamp.is_object()) {
    errors_.add(pointer, std::string("expected \"record\" or an object {\"field\": ..., \"format\": ...}, got ") +
                             timestamp.type_name());
    return std::nullopt;
  }
  reader_.reject_unknown_fields(timestamp, pointer, strings({"field", "format"}));
  const std::size_t errors_before = errors_.size();
  TimestampSpec spec;
  if (const Json* field = reader_.require(timestamp, pointer, "field")) {
    spec.field = reader_.expression(*field, pointer_child(pointer, "field"));
  }
  if (const Json* format = FieldReader::find(timestamp, "format")) {
    spec.format = reader_.timestamp_format(*format, pointer_child(pointer, "format")).value_or(spec.format);
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return spec;
}

// ---- operators ----

void TopologyParser::read_operators(const Json& document) {
  // A topology may copy sources straight to sinks, so operators are optional.
  const Json* operators = FieldReader::find(document, "operators");
  if (operators == nullptr) return;
  if (!reader_.expect_array(*operators, "/operators")) {
    sections_readable_ = false;
    return;
  }
  for (std::size_t i = 0; i < operators->size(); ++i) {
    operators_.push_back(read_operator((*operators)[i], pointer_child("/operators", i)));
  }
}

DraftOperator TopologyParser::read_operator(const Json& op, const std::string& pointer) {
  DraftOperator draft;
  draft.pointer = pointer;
  if (!reader_.expect_object(op, pointer)) return draft;

  std::vector<std::string_view> types;
  for (const std::string_view type : kOperatorTypes) {
    if (op.contains(type)) types.push_back(type);
  }
  if (types.empty()) {
    errors_.add(pointer, "operator has no type; expected exactly one of " +
                             detail::join(std::vector<std::string>(kOperatorTypes.begin(), kOperatorTypes.end())));
  } else if (types.size() > 1) {
    errors_.add(pointer, "operator has " + number_word(types.size()) + " types (" +
                             detail::join(std::vector<std::string>(types.begin(), types.end())) +
                             "); expected exactly one");
  } else {
    draft.type = std::string(types.front());
  }
  check_operator_fields(op, pointer, types);

  if (const Json* name = reader_.require(op, pointer, "name")) {
    const std::string name_pointer = pointer_child(pointer, "name");
    if (auto text = reader_.name(*name, name_pointer)) draft.name = Located{std::move(*text), name_pointer};
  }
  if (const Json* description = FieldReader::find(op, "description")) {
    (void)reader_.string(*description, pointer_child(pointer, "description"));
  }
  const bool is_merge = draft.type == "merge";
  if (!is_merge) {
    // Without a known type, "from" is still read so that its references are checked.
    if (const Json* from = FieldReader::find(op, "from")) {
      draft.inputs = read_references(*from, pointer_child(pointer, "from"), true);
    } else if (draft.type) {
      errors_.add(pointer, "missing required field \"from\"; expected the name of a source or operator, or an "
                           "array of them");
    }
  }
  if (draft.type) draft.body = read_body(op, pointer, draft);
  return draft;
}

void TopologyParser::check_operator_fields(const Json& op, const std::string& pointer,
                                           const std::vector<std::string_view>& types) {
  const bool only_merge = types.size() == 1 && types.front() == "merge";
  std::vector<std::string> valid{"name"};
  if (!only_merge) valid.emplace_back("from");
  valid.emplace_back("description");
  // Without a type, every type key and option is plausible; with types, only theirs.
  const auto type_is_allowed = [&](std::string_view type) {
    return types.empty() || std::find(types.begin(), types.end(), type) != types.end();
  };
  for (const std::string_view type : kOperatorTypes) {
    if (type_is_allowed(type)) valid.emplace_back(type);
  }
  for (const TypeOption& option : kTypeOptions) {
    if (type_is_allowed(option.type)) valid.emplace_back(option.field);
  }

  for (const auto& [key, value] : op.items()) {
    if (std::find(valid.begin(), valid.end(), key) != valid.end()) continue;
    const std::string field_pointer = pointer_child(pointer, key);
    if (key == "from" && only_merge) {
      errors_.add(field_pointer, "merge takes its inputs from \"merge\", not \"from\"; valid fields here are " +
                                     detail::join(valid));
      continue;
    }
    // The lambda captures `field`, not the structured binding `key`: clang before 16 cannot capture those.
    const std::string& field = key;
    const auto option = std::find_if(kTypeOptions.begin(), kTypeOptions.end(),
                                     [&](const TypeOption& candidate) { return candidate.field == field; });
    if (option != kTypeOptions.end()) {
      errors_.add(field_pointer, in_quotes(key) + " is only valid with " + std::string(option->type) +
                                     "; valid fields here are " + detail::join(valid));
      continue;
    }
    errors_.add(field_pointer,
                "unknown field; valid fields here are " + detail::join(valid) + detail::did_you_mean(key, valid));
  }
}

std::vector<Located> TopologyParser::read_references(const Json& value, const std::string& pointer,
                                                     bool allow_single) {
  std::vector<Located> references;
  if (allow_single && value.is_string()) {
    references.push_back(Located{value.get<std::string>(), pointer});
    return references;
  }
  if (!value.is_array()) {
    errors_.add(pointer, std::string(allow_single ? "expected a name or a non-empty array of names"
                                                  : "expected a non-empty array of names") +
                             " (sources, operators or \"<route>.<branch>\"), got " + value.type_name());
    return references;
  }
  if (value.empty()) {
    errors_.add(pointer, "expected at least one input, e.g. [\"orders\"]");
    return references;
  }
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string element_pointer = pointer_child(pointer, i);
    auto text = reader_.string(value[i], element_pointer);
    if (!text) continue;
    const auto earlier = std::find_if(references.begin(), references.end(),
                                      [&](const Located& reference) { return reference.value == *text; });
    if (earlier != references.end()) {
      // Reading an input twice would process each of its records twice.
      errors_.add(element_pointer, in_quotes(*text) + " is already listed at " + earlier->pointer);
      continue;
    }
    references.push_back(Located{std::move(*text), element_pointer});
  }
  return references;
}

std::optional<OperatorBody> TopologyParser::read_body(const Json& op, const std::string& pointer,
                                                      DraftOperator& draft) {
  const std::string& type = *draft.type;
  const Json& value = op.at(type);
  const std::string value_pointer = pointer_child(pointer, type);
  if (type == "filter") {
    auto predicate = reader_.expression(value, value_pointer);
    if (!predicate) return std::nullopt;
    return FilterSpec{std::move(*predicate)};
  }
  if (type == "map") return read_map(op, pointer);
  if (type == "select") return read_select(value, value_pointer);
  if (type == "flat_map") return read_flat_map(op, pointer);
  if (type == "rekey") {
    auto key = reader_.expression(value, value_pointer);
    if (!key) return std::nullopt;
    return RekeySpec{std::move(*key)};
  }
  if (type == "route") return read_route(op, pointer, draft);
  if (type == "aggregate") return detail::StatefulReader(reader_, errors_).aggregate(op, pointer);
  if (type == "dedupe") return detail::StatefulReader(reader_, errors_).dedupe(value, value_pointer);
  if (type == "join") return read_join(value, value_pointer, draft);
  // merge
  const std::size_t errors_before = errors_.size();
  draft.inputs = read_references(value, value_pointer, false);
  if (errors_.size() != errors_before) return std::nullopt;
  return MergeSpec{};
}

std::optional<OperatorBody> TopologyParser::read_map(const Json& op, const std::string& pointer) {
  const std::string map_pointer = pointer_child(pointer, "map");
  const Json& fields = op.at("map");
  const std::size_t errors_before = errors_.size();
  MapSpec spec;
  if (reader_.expect_object(fields, map_pointer)) {
    for (const auto& [field, expression_text] : fields.items()) {
      const std::string field_pointer = pointer_child(map_pointer, field);
      if (field.empty()) {
        errors_.add(field_pointer, "field names must not be empty");
        continue;
      }
      if (auto expression = reader_.expression(expression_text, field_pointer)) {
        spec.fields.push_back(FieldAssignment{field, std::move(*expression)});
      }
    }
  }
  if (const Json* drop = FieldReader::find(op, "drop")) {
    const std::string drop_pointer = pointer_child(pointer, "drop");
    if (reader_.expect_array(*drop, drop_pointer)) {
      for (std::size_t i = 0; i < drop->size(); ++i) {
        const std::string element_pointer = pointer_child(drop_pointer, i);
        auto field = reader_.field_name((*drop)[i], element_pointer);
        if (!field) continue;
        if (fields.is_object() && fields.contains(*field)) {
          errors_.add(element_pointer, in_quotes(*field) +
                                           " is also computed by this map, and fields are dropped after they "
                                           "are computed; remove it from one of map and drop");
          continue;
        }
        spec.drop.push_back(std::move(*field));
      }
    }
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return spec;
}

std::optional<OperatorBody> TopologyParser::read_select(const Json& select, const std::string& pointer) {
  const std::size_t errors_before = errors_.size();
  SelectSpec spec;
  if (select.is_object()) {
    if (select.empty()) errors_.add(pointer, "select needs at least one field, e.g. {\"id\": \"order_id\"}");
    for (const auto& [field, expression_text] : select.items()) {
      const std::string field_pointer = pointer_child(pointer, field);
      if (field.empty()) {
        errors_.add(field_pointer, "field names must not be empty");
        continue;
      }
      if (auto expression = reader_.expression(expression_text, field_pointer)) {
        spec.fields.push_back(FieldAssignment{field, std::move(*expression)});
      }
    }
  } else if (select.is_array()) {
    if (select.empty()) errors_.add(pointer, "select needs at least one field, e.g. [\"order_id\"]");
    std::map<std::string, std::string, std::less<>> pointer_by_output;
    for (std::size_t i = 0; i < select.size(); ++i) {
      const std::string element_pointer = pointer_child(pointer, i);
      auto expression = reader_.expression(select[i], element_pointer);
      if (!expression) continue;
      if (!expression->is_field_path()) {
        errors_.add(element_pointer, in_quotes(expression->text()) +
                                         " is not a field path such as customer.id; name computed fields with "
                                         "the object form, e.g. {\"total\": \"price * qty\"}");
        continue;
      }
      std::string output = expression->field_path_leaf();
      const auto [earlier, inserted] = pointer_by_output.try_emplace(output, element_pointer);
      if (!inserted) {
        errors_.add(element_pointer, "output field " + in_quotes(output) + " is also produced by " + earlier->second +
                                         "; use the object form to give them different names");
        continue;
      }
      spec.fields.push_back(FieldAssignment{std::move(output), std::move(*expression)});
    }
  } else {
    errors_.add(pointer, std::string("expected an object {\"output field\": \"expression\"} or an array of field "
                                     "paths, got ") +
                             select.type_name());
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return spec;
}

std::optional<OperatorBody> TopologyParser::read_flat_map(const Json& op, const std::string& pointer) {
  const std::size_t errors_before = errors_.size();
  auto elements = reader_.expression(op.at("flat_map"), pointer_child(pointer, "flat_map"));
  std::optional<std::string> as;
  if (const Json* as_field = FieldReader::find(op, "as")) {
    as = reader_.field_name(*as_field, pointer_child(pointer, "as"));
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return FlatMapSpec{std::move(*elements), std::move(as)};
}

std::optional<OperatorBody> TopologyParser::read_route(const Json& op, const std::string& pointer,
                                                       DraftOperator& draft) {
  const std::string route_pointer = pointer_child(pointer, "route");
  const Json& branches = op.at("route");
  const std::size_t errors_before = errors_.size();
  RouteSpec spec;
  std::map<std::string, std::string, std::less<>> pointer_by_branch;
  if (!reader_.expect_array(branches, route_pointer)) {
    draft.route_outputs_complete = false;
  } else if (branches.empty()) {
    errors_.add(route_pointer, "a route needs at least one branch, e.g. [{\"name\": \"clicks\", \"when\": "
                               "\"type == 'click'\"}]");
  }
  for (std::size_t i = 0; branches.is_array() && i < branches.size(); ++i) {
    const Json& branch = branches[i];
    const std::string branch_pointer = pointer_child(route_pointer, i);
    if (!reader_.expect_object(branch, branch_pointer)) {
      draft.route_outputs_complete = false;
      continue;
    }
    reader_.reject_unknown_fields(branch, branch_pointer, strings({"name", "when"}));
    std::optional<std::string> name;
    if (const Json* name_field = reader_.require(branch, branch_pointer, "name")) {
      const std::string name_pointer = pointer_child(branch_pointer, "name");
      name = reader_.name(*name_field, name_pointer);
      if (name) {
        const auto [earlier, inserted] = pointer_by_branch.try_emplace(*name, name_pointer);
        if (inserted) {
          draft.route_outputs.push_back(*name);
        } else {
          errors_.add(name_pointer, "branch " + in_quotes(*name) + " is already defined at " + earlier->second);
        }
      }
    }
    if (!name) draft.route_outputs_complete = false;
    std::optional<expr::Expression> when;
    if (const Json* when_field = reader_.require(branch, branch_pointer, "when")) {
      when = reader_.expression(*when_field, pointer_child(branch_pointer, "when"));
    }
    if (name && when) spec.branches.push_back(RouteBranch{std::move(*name), std::move(*when)});
  }
  if (const Json* default_field = FieldReader::find(op, "default")) {
    const std::string default_pointer = pointer_child(pointer, "default");
    spec.default_branch = reader_.name(*default_field, default_pointer);
    if (!spec.default_branch) {
      draft.route_outputs_complete = false;
    } else if (const auto branch = pointer_by_branch.find(*spec.default_branch); branch != pointer_by_branch.end()) {
      errors_.add(default_pointer, in_quotes(*spec.default_branch) + " is already the name of the branch at " +
                                       branch->second + "; the default branch needs a name of its own");
    } else {
      draft.route_outputs.push_back(*spec.default_branch);
    }
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return spec;
}

// ---- sinks ----

void TopologyParser::read_sinks(const Json& document) {
  const Json* sinks = FieldReader::find(document, "sinks");
  if (sinks == nullptr) {
    errors_.add("", "missing required field \"sinks\"; at least one sink is required");
    return;
  }
  if (!reader_.expect_array(*sinks, "/sinks")) return;
  if (sinks->empty()) {
    errors_.add("/sinks", "at least one sink is required, e.g. {\"from\": \"orders\", \"topic\": \"orders-out\"}");
    return;
  }
  std::map<std::string, std::string, std::less<>> pointer_by_name;
  for (std::size_t i = 0; i < sinks->size(); ++i) {
    DraftSink draft = read_sink((*sinks)[i], pointer_child("/sinks", i));
    if (draft.spec) {
      const std::string& name = draft.spec->name;
      const auto [earlier, inserted] = pointer_by_name.try_emplace(name, draft.pointer);
      if (!inserted) {
        if (draft.name_written) {
          errors_.add(pointer_child(draft.pointer, "name"),
                      in_quotes(name) + " is already the name of the sink at " + earlier->second);
        } else {
          errors_.add(draft.pointer, "the default name " + in_quotes(name) +
                                         " (\"<from>-to-<topic>\") is already the name of the sink at " +
                                         earlier->second + "; give this sink a \"name\"");
        }
        draft.spec.reset();
      }
    }
    sinks_.push_back(std::move(draft));
  }
}

DraftSink TopologyParser::read_sink(const Json& sink, const std::string& pointer) {
  DraftSink draft;
  draft.pointer = pointer;
  if (!reader_.expect_object(sink, pointer)) return draft;
  reader_.reject_unknown_fields(sink, pointer,
                                strings({"name", "from", "topic", "key", "value", "value_schema", "description"}));
  const std::size_t errors_before = errors_.size();

  SinkSpec spec;
  spec.pointer = pointer;
  std::optional<std::string> name;
  if (const Json* name_field = FieldReader::find(sink, "name")) {
    draft.name_written = true;
    name = reader_.name(*name_field, pointer_child(pointer, "name"));
  }
  if (const Json* from = reader_.require(sink, pointer, "from")) {
    const std::string from_pointer = pointer_child(pointer, "from");
    if (from->is_string()) {
      draft.from = Located{from->get<std::string>(), from_pointer};
      spec.from = draft.from->value;
    } else {
      // One input per sink, as Kafka Streams' to(): several inputs go through a merge first.
      errors_.add(from_pointer, std::string("expected the name of a source or operator (or \"<route>.<branch>\"); "
                                            "to write several inputs, merge them first; got ") +
                                    from->type_name());
    }
  }
  if (const Json* topic = reader_.require(sink, pointer, "topic")) {
    const std::string topic_pointer = pointer_child(pointer, "topic");
    if (auto text = reader_.topic(*topic, topic_pointer)) {
      draft.topic = Located{*text, topic_pointer};
      spec.topic = std::move(*text);
    }
  }
  if (const Json* key = FieldReader::find(sink, "key")) {
    spec.key = reader_.key_format(*key, pointer_child(pointer, "key")).value_or(spec.key);
    if (registry_format(spec.key)) {
      errors_.add(pointer_child(pointer, "key"), "a sink writes json, string or bytes keys (" +
                                                     std::string(to_string(spec.key)) +
                                                     " keys are read by sources only, for now)");
    }
  }
  if (const Json* value = FieldReader::find(sink, "value")) {
    spec.value = reader_.value_format(*value, pointer_child(pointer, "value")).value_or(spec.value);
  }
  const std::string schema_pointer = pointer_child(pointer, "value_schema");
  if (const Json* schema = FieldReader::find(sink, "value_schema")) {
    if (!registry_format(spec.value)) {
      errors_.add(schema_pointer, "a value_schema needs \"value\": \"avro\" or \"protobuf\" (the sink writes " +
                                      std::string(to_string(spec.value)) + ")");
    } else {
      spec.value_schema = read_sink_schema(*schema, schema_pointer, spec.value);
    }
  } else if (spec.value == ValueFormat::avro) {
    errors_.add(pointer, "an avro sink needs \"value_schema\": {\"schema\": <the Avro schema>}, {\"file\": "
                         "\"<file>.avsc\"} or {\"subject\": \"<subject>\", \"version\": \"latest\"}");
  } else if (spec.value == ValueFormat::protobuf) {
    errors_.add(pointer, "a protobuf sink needs \"value_schema\": {\"schema\": \"<the .proto file's text>\"}, "
                         "{\"file\": \"<file>.proto\"} or {\"subject\": \"<subject>\", \"version\": \"latest\"}");
  }
  if (const Json* description = FieldReader::find(sink, "description")) {
    (void)reader_.string(*description, pointer_child(pointer, "description"));
  }
  if (errors_.size() != errors_before) return draft;
  spec.name = name ? std::move(*name) : spec.from + "-to-" + spec.topic;
  draft.spec = std::move(spec);
  return draft;
}

std::optional<SinkSchemaSpec> TopologyParser::read_sink_schema(const Json& schema, const std::string& pointer,
                                                               ValueFormat format) {
  if (!reader_.expect_object(schema, pointer)) return std::nullopt;
  const bool protobuf = format == ValueFormat::protobuf;
  reader_.reject_unknown_fields(schema, pointer, protobuf ? strings({"schema", "file", "subject", "version",
                                                                     "subject_naming", "message"})
                                                          : strings({"schema", "file", "subject", "version",
                                                                     "subject_naming"}));
  const std::size_t errors_before = errors_.size();
  SinkSchemaSpec spec;
  spec.pointer = pointer;
  int sources = 0;
  if (const Json* text = FieldReader::find(schema, "schema")) {
    ++sources;
    // The Avro schema itself: a JSON object, a union (array) or a type name; a .proto file's text for Protobuf.
    // Checked when the topology is loaded (check_sink_schemas) and when the sink is set up.
    if (protobuf) {
      spec.text = reader_.string(*text, pointer_child(pointer, "schema"));
    } else if (text->is_object() || text->is_array() || text->is_string()) {
      spec.text = text->dump();
    } else {
      errors_.add(pointer_child(pointer, "schema"), std::string("expected an Avro schema (an object, an array or a "
                                                                "type name), got ") + text->type_name());
    }
  }
  if (const Json* file = FieldReader::find(schema, "file")) {
    ++sources;
    spec.file = reader_.string(*file, pointer_child(pointer, "file"));
  }
  if (const Json* subject = FieldReader::find(schema, "subject")) {
    ++sources;
    spec.subject = reader_.string(*subject, pointer_child(pointer, "subject"));
  }
  if (const Json* version = FieldReader::find(schema, "version")) {
    const std::string version_pointer = pointer_child(pointer, "version");
    if (!spec.subject) {
      errors_.add(version_pointer, "a version needs a subject");
    } else if (version->is_number_integer() && version->get<std::int64_t>() > 0) {
      spec.version = std::to_string(version->get<std::int64_t>());
    } else if (version->is_string() && version->get<std::string>() == "latest") {
      spec.version = "latest";
    } else {
      errors_.add(version_pointer, "expected a version number (1, 2, ...) or \"latest\"");
    }
  }
  if (const Json* naming = FieldReader::find(schema, "subject_naming")) {
    const std::string naming_pointer = pointer_child(pointer, "subject_naming");
    if (auto text = reader_.string(*naming, naming_pointer)) {
      if (*text == "topic") {
        spec.naming = SinkSchemaSpec::Naming::topic;
      } else if (*text == "record") {
        spec.naming = SinkSchemaSpec::Naming::record;
      } else {
        errors_.add(naming_pointer, in_quotes(*text) + " is not a subject naming strategy; expected \"topic\" "
                                                       "(<topic>-value) or \"record\" (the record's full name)");
      }
    }
    if (spec.subject) errors_.add(naming_pointer, "a subject given by name needs no subject_naming");
  }
  if (const Json* message = FieldReader::find(schema, "message")) {
    spec.message = reader_.string(*message, pointer_child(pointer, "message"));
  }
  if (sources != 1 && errors_.size() == errors_before) {
    errors_.add(pointer, protobuf ? "give exactly one of \"schema\" (the .proto file's text), \"file\" (a .proto "
                                    "file) or \"subject\" (a schema already registered)"
                                  : "give exactly one of \"schema\" (the Avro schema), \"file\" (a .avsc file) or "
                                    "\"subject\" (a schema already registered)");
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return spec;
}

// ---- tables and joins ----

void TopologyParser::read_tables(const Json& document) {
  const Json* tables = FieldReader::find(document, "tables");
  if (tables == nullptr || !reader_.expect_array(*tables, "/tables")) return;
  for (std::size_t i = 0; i < tables->size(); ++i) {
    const Json& table = (*tables)[i];
    const std::string pointer = pointer_child("/tables", i);
    if (table.is_object() && table.contains("timestamp")) {
      errors_.add(pointer_child(pointer, "timestamp"),
                  "a table's rows carry their Kafka record timestamp; \"timestamp\" is only valid for sources");
    }
    DraftSource draft = read_source(table, pointer, true);
    std::optional<std::int64_t> history;
    if (const Json* field = table.is_object() ? FieldReader::find(table, "history") : nullptr) {
      const std::string history_pointer = pointer_child(pointer, "history");
      if (auto ms = reader_.duration_ms(*field, history_pointer)) {
        if (*ms <= 0 || *ms > kMaxHistoryMs) {
          errors_.add(history_pointer, "expected a duration above 0 and at most 365d: how long each key's past "
                                       "values are kept for as-of lookups");
          draft.spec.reset();
        } else {
          history = *ms;
        }
      } else {
        draft.spec.reset();
      }
    }
    table_history_.push_back(history);
    bool global = false;
    if (table.is_object()) {
      if (const Json* flag = FieldReader::find(table, "global")) {
        if (flag->is_boolean()) {
          global = flag->get<bool>();
        } else {
          errors_.add(pointer_child(pointer, "global"),
                      std::string("expected true (every instance reads the whole table; joins look it up by any "
                                  "expression) or false (partitioned like the stream), got ") +
                          flag->type_name());
          draft.spec.reset();
        }
      }
    }
    tables_global_.push_back(global);
    if (global && history) {
      errors_.add(pointer_child(pointer, "history"), "a global table is not versioned: its updates are not ordered "
                                                     "with stream time, so there is no \"as of\" to look up");
      draft.spec.reset();
    }
    for (const DraftSource& source : sources_) {
      if (draft.topic && source.topic && source.topic->value == draft.topic->value) {
        errors_.add(draft.topic->pointer, "topic " + in_quotes(draft.topic->value) + " is already read by the source at " +
                                              source.pointer + "; a topic is read as a stream or as a table, not both");
        draft.spec.reset();
      }
    }
    for (const DraftSource& earlier : tables_) {
      if (draft.topic && earlier.topic && earlier.topic->value == draft.topic->value) {
        errors_.add(draft.topic->pointer, "topic " + in_quotes(draft.topic->value) + " is already read by the table at " +
                                              earlier.pointer + "; join that table instead");
        draft.spec.reset();
      }
    }
    tables_.push_back(std::move(draft));
  }
}

std::optional<OperatorBody> TopologyParser::read_join(const Json& join, const std::string& pointer,
                                                      DraftOperator& draft) {
  if (!reader_.expect_object(join, pointer)) return std::nullopt;
  if (join.contains("table") && join.contains("stream")) {
    errors_.add(pointer, "a join has either \"table\" (a stream-table join) or \"stream\" (a windowed "
                         "stream-stream join), not both");
    return std::nullopt;
  }
  if (join.contains("stream")) return read_stream_join(join, pointer, draft);
  if (!join.contains("table")) {
    errors_.add(pointer, "missing required field \"table\" or \"stream\": the table to look up (e.g. {\"table\": "
                         "\"customers\"}) or the stream to join within a time window (e.g. {\"stream\": "
                         "\"impressions\", \"within\": \"10m\"})");
    return std::nullopt;
  }
  reader_.reject_unknown_fields(join, pointer, strings({"table", "type", "as", "lookup", "select", "max_task_idle"}));
  const std::size_t errors_before = errors_.size();
  JoinSpec spec;
  if (const Json* table = reader_.require(join, pointer, "table")) {
    const std::string table_pointer = pointer_child(pointer, "table");
    if (auto name = reader_.string(*table, table_pointer)) {
      spec.table = *name;
      join_tables_.emplace_back(operators_.size(), Located{std::move(*name), table_pointer});
    }
  }
  if (auto type = read_join_type(join, pointer, false)) spec.type = *type;
  if (draft.inputs.size() > 1) {
    errors_.add(draft.inputs[1].pointer, "a join reads one stream; merge the streams first");
  }
  if (const Json* as = FieldReader::find(join, "as")) {
    if (auto name = reader_.name(*as, pointer_child(pointer, "as"))) spec.stream_name = std::move(*name);
  } else if (!draft.inputs.empty()) {
    // "orders", or for a route branch "by_type.clicks", its branch name.
    const std::string& from = draft.inputs.front().value;
    spec.stream_name = from.substr(from.find('.') == std::string::npos ? 0 : from.find('.') + 1);
  }
  // (A default name equal to the table's means `from` names the table, which check_tables reports.)
  if (!spec.stream_name.empty() && spec.stream_name == spec.table &&
      (join.contains("as") || draft.inputs.empty() || !names_only_a_table(draft.inputs.front().value))) {
    errors_.add(pointer, "the stream and the table are both called " + in_quotes(spec.table) +
                             " in expressions; name the stream side with \"as\"");
  }
  spec.max_task_idle_ms = read_max_task_idle(join, pointer);
  if (const Json* lookup = FieldReader::find(join, "lookup")) {
    const std::string lookup_pointer = pointer_child(pointer, "lookup");
    spec.lookup = reader_.expression(*lookup, lookup_pointer);
    join_lookups_.emplace_back(operators_.size(), lookup_pointer);
  }
  if (auto fields = read_join_select(join, pointer)) spec.fields = std::move(*fields);
  if (errors_.size() != errors_before) return std::nullopt;
  return spec;
}

std::optional<std::int64_t> TopologyParser::read_max_task_idle(const Json& join, const std::string& pointer) {
  const Json* idle = FieldReader::find(join, "max_task_idle");
  if (idle == nullptr) return std::nullopt;
  const std::string idle_pointer = pointer_child(pointer, "max_task_idle");
  auto ms = reader_.duration_ms(*idle, idle_pointer);
  if (ms && *ms > kMaxTaskIdleMs) {
    errors_.add(idle_pointer, "at most 1d: a task waits this long for a quiet input before it goes on");
    return std::nullopt;
  }
  return ms;
}

std::optional<std::vector<FieldAssignment>> TopologyParser::read_join_select(const Json& join,
                                                                            const std::string& pointer) {
  const Json* select = FieldReader::find(join, "select");
  if (select == nullptr) return std::nullopt;
  const std::string select_pointer = pointer_child(pointer, "select");
  if (!select->is_object()) {
    errors_.add(select_pointer, std::string("expected an object {\"output field\": \"expression\"}, e.g. "
                                            "{\"tier\": \"customers.tier\"}, got ") + select->type_name());
    return std::nullopt;
  }
  auto parsed = read_select(*select, select_pointer);
  if (!parsed) return std::nullopt;
  return std::move(std::get<SelectSpec>(*parsed).fields);
}

std::optional<JoinType> TopologyParser::read_join_type(const Json& join, const std::string& pointer,
                                                       bool stream_stream) {
  const Json* type = FieldReader::find(join, "type");
  if (type == nullptr) return std::nullopt;
  const std::string type_pointer = pointer_child(pointer, "type");
  auto text = reader_.string(*type, type_pointer);
  if (!text) return std::nullopt;
  if (*text == "inner") return JoinType::inner;
  if (*text == "left") return JoinType::left;
  if (*text == "outer" && stream_stream) return JoinType::outer;
  if (*text == "outer") {
    errors_.add(type_pointer, "\"outer\" is not a stream-table join type: an outer join needs two streams "
                              "(\"stream\" instead of \"table\"); a stream-table join is inner or left");
  } else if (stream_stream) {
    errors_.add(type_pointer, in_quotes(*text) + " is not a stream-stream join type; expected inner (pairs only), "
                                                 "left (also \"from\" records without a match) or outer (also "
                                                 "records of either side without a match)" +
                                  detail::did_you_mean(*text, strings({"inner", "left", "outer"})));
  } else {
    errors_.add(type_pointer, in_quotes(*text) + " is not a stream-table join type; expected inner (no output "
                                                 "without a table row) or left (null without one)" +
                                  detail::did_you_mean(*text, strings({"inner", "left"})));
  }
  return std::nullopt;
}

std::optional<OperatorBody> TopologyParser::read_stream_join(const Json& join, const std::string& pointer,
                                                             DraftOperator& draft) {
  reader_.reject_unknown_fields(join, pointer,
                                strings({"stream", "within", "grace", "type", "as", "other_as", "select",
                                         "max_task_idle"}));
  const std::size_t errors_before = errors_.size();
  draft.stream_join = true;
  StreamJoinSpec spec;
  detail::StatefulReader durations(reader_, errors_);
  // The side names default to the references without a route prefix ("by_type.clicks" is "clicks").
  const auto default_name = [](const std::string& reference) {
    const std::size_t dot = reference.find('.');
    return dot == std::string::npos ? reference : reference.substr(dot + 1);
  };
  if (draft.inputs.size() > 1) {
    errors_.add(draft.inputs[1].pointer, "a stream-stream join reads one stream on each side: \"from\" and "
                                         "\"stream\"; merge the streams of a side first");
  }
  const std::string stream_pointer = pointer_child(pointer, "stream");
  if (auto reference = reader_.string(join.at("stream"), stream_pointer)) {
    if (!draft.inputs.empty() && draft.inputs.front().value == *reference) {
      errors_.add(stream_pointer, in_quotes(*reference) + " is also this join's \"from\"; joining a stream with "
                                  "itself is not supported");
    } else if (draft.inputs.size() == 1) {
      spec.other_name = default_name(*reference);
      // The second input: resolved, ordered and checked like any other reference.
      draft.inputs.push_back(Located{std::move(*reference), stream_pointer});
    }
  }
  if (const Json* within = FieldReader::find(join, "within")) {
    const std::string within_pointer = pointer_child(pointer, "within");
    if (within->is_object()) {
      reader_.reject_unknown_fields(*within, within_pointer, strings({"before", "after"}));
      for (const char* side : {"before", "after"}) {
        if (const Json* value = reader_.require(*within, within_pointer, side)) {
          const auto ms = durations.bounded_duration(*value, pointer_child(within_pointer, side), true);
          (std::string_view(side) == "before" ? spec.before_ms : spec.after_ms) = ms.value_or(0);
        }
      }
    } else if (within->is_string()) {
      spec.before_ms = spec.after_ms = durations.bounded_duration(*within, within_pointer, true).value_or(0);
    } else {
      errors_.add(within_pointer, std::string("expected a duration such as \"10m\" (the other side's record within "
                                              "10 minutes before or after) or {\"before\": \"10m\", \"after\": "
                                              "\"0s\"}, got ") + within->type_name());
    }
  } else {
    errors_.add(pointer, "missing required field \"within\": how far apart in event time two records may be to "
                         "join, e.g. \"10m\" or {\"before\": \"10m\", \"after\": \"0s\"}");
  }
  if (const Json* grace = FieldReader::find(join, "grace")) {
    spec.grace_ms = durations.bounded_duration(*grace, pointer_child(pointer, "grace"), true).value_or(0);
  }
  if (auto type = read_join_type(join, pointer, true)) spec.type = *type;
  if (const Json* as = FieldReader::find(join, "as")) {
    if (auto name = reader_.name(*as, pointer_child(pointer, "as"))) spec.this_name = std::move(*name);
  } else if (!draft.inputs.empty()) {
    spec.this_name = default_name(draft.inputs.front().value);
  }
  if (const Json* other_as = FieldReader::find(join, "other_as")) {
    if (auto name = reader_.name(*other_as, pointer_child(pointer, "other_as"))) spec.other_name = std::move(*name);
  }
  if (!spec.this_name.empty() && spec.this_name == spec.other_name) {
    errors_.add(pointer, "both sides are called " + in_quotes(spec.this_name) +
                             " in expressions; name them apart with \"as\" (the \"from\" side) or \"other_as\" "
                             "(the \"stream\" side)");
  }
  spec.max_task_idle_ms = read_max_task_idle(join, pointer);
  if (auto fields = read_join_select(join, pointer)) spec.fields = std::move(*fields);
  if (errors_.size() != errors_before) return std::nullopt;
  return spec;
}

KeyFormat TopologyParser::partitioning_key_format(const Topology& topology, const std::string& reference, int depth) {
  for (const SourceSpec& source : topology.sources) {
    if (source.name == reference) return source.key;
  }
  const std::string producer = reference.substr(0, reference.find('.'));
  if (depth > 64) return KeyFormat::json;  // a long chain of stateless operators: json, like repartitions
  for (const OperatorSpec& op : topology.operators) {
    if (op.name != producer && op.name != reference) continue;
    if (const auto* join = std::get_if<JoinSpec>(&op.body)) {
      if (op.repartition_topic) return join->table_key;
    } else if (const auto* stream_join = std::get_if<StreamJoinSpec>(&op.body)) {
      for (std::size_t input = 0; input < op.inputs.size(); ++input) {
        if (!op.repartition_of(input)) return partitioning_key_format(topology, op.inputs[input], depth + 1);
      }
      return stream_join->repartition_key;
    } else if (op.repartition_topic) {
      return KeyFormat::json;
    }
    if (op.inputs.empty()) return KeyFormat::json;
    return partitioning_key_format(topology, op.inputs.front(), depth + 1);
  }
  return KeyFormat::json;
}

bool TopologyParser::joins_global_table(std::size_t operator_index) const {
  for (const auto& [index, reference] : join_tables_) {
    if (index != operator_index) continue;
    for (std::size_t t = 0; t < tables_.size(); ++t) {
      if (tables_[t].name && tables_[t].name->value == reference.value) return tables_global_[t];
    }
  }
  return false;
}

bool TopologyParser::names_only_a_table(std::string_view name) const {
  const auto named = [&](const auto& drafts) {
    return std::any_of(drafts.begin(), drafts.end(),
                       [&](const auto& draft) { return draft.name && draft.name->value == name; });
  };
  return named(tables_) && !named(sources_) && !named(operators_);
}

// Table names share the namespace of sources and operators (expressions name a join's table), and each join
// names a table that exists.
void TopologyParser::check_tables() {
  std::vector<std::string> table_names;
  for (const DraftSource& table : tables_) {
    if (!table.name) continue;
    const auto clash = [&](const std::optional<Located>& other, const std::string& where) {
      if (other && other->value == table.name->value) {
        errors_.add(table.name->pointer, in_quotes(table.name->value) + " is already used by " + where +
                                             "; tables, sources and operators need distinct names");
        return true;
      }
      return false;
    };
    bool taken = false;
    for (const DraftSource& source : sources_) taken = taken || clash(source.name, source.pointer);
    for (const DraftOperator& op : operators_) taken = taken || clash(op.name, op.pointer);
    if (std::find(table_names.begin(), table_names.end(), table.name->value) != table_names.end()) {
      errors_.add(table.name->pointer, in_quotes(table.name->value) + " names two tables");
    }
    table_names.push_back(table.name->value);
  }
  for (const auto& [index, reference] : join_tables_) {
    if (std::find(table_names.begin(), table_names.end(), reference.value) != table_names.end()) continue;
    std::string message = in_quotes(reference.value) + " is not a table; ";
    message += table_names.empty() ? std::string("declare it under \"tables\", e.g. {\"name\": \"customers\", "
                                                 "\"topic\": \"customers\"}")
                                   : "known tables: " + detail::join(table_names) +
                                         detail::did_you_mean(reference.value, table_names);
    errors_.add(reference.pointer, message);
  }
  // A lookup expression finds a row of a global table by anything in the record; a partitioned table is found
  // by the record key only, in the task that holds both (as Kafka Streams allows foreign keys only on a
  // GlobalKTable).
  for (const auto& lookup : join_lookups_) {
    const std::size_t index = lookup.first;
    const std::string& lookup_pointer = lookup.second;
    const auto table = std::find_if(join_tables_.begin(), join_tables_.end(),
                                    [index](const auto& entry) { return entry.first == index; });
    if (table == join_tables_.end() || joins_global_table(index)) continue;
    const bool known = std::find(table_names.begin(), table_names.end(), table->second.value) != table_names.end();
    if (!known) continue;  // reported above
    errors_.add(lookup_pointer, "\"lookup\" needs a global table; " + in_quotes(table->second.value) +
                                    " is partitioned like the stream and is looked up by the record key (rekey the "
                                    "stream first), or declare the table with \"global\": true");
  }
  // A stream input that names a table gets a hint instead of "not a source".
  for (const DraftOperator& op : operators_) {
    for (const Located& input : op.inputs) {
      if (names_only_a_table(input.value)) {
        errors_.add(input.pointer, in_quotes(input.value) + " is a table, which is looked up, not read as a stream; "
                                                            "use a join operator: {\"join\": {\"table\": " +
                                       in_quotes(input.value) + "}}");
      }
    }
  }
}

// ---- topics ----

// Writing to a topic the topology reads would feed it its own output (for the dead-letter topic: retry
// poison records forever), and mixing dead letters into an output topic would hand them to its consumers.
void TopologyParser::check_topics() {
  const auto reader_of = [&](const std::string& topic) -> const DraftSource* {
    for (const DraftSource& source : sources_) {
      if (source.topic && source.topic->value == topic) return &source;
    }
    return nullptr;
  };
  for (const DraftSink& sink : sinks_) {
    if (!sink.topic) continue;
    if (const DraftSource* source = reader_of(sink.topic->value)) {
      errors_.add(sink.topic->pointer, in_quotes(sink.topic->value) + " is read by the source at " + source->pointer +
                                           "; a sink writing it would feed the topology its own output");
    }
  }
  if (!dead_letter_topic_) return;
  const Located& dlq = *dead_letter_topic_;
  const std::string subject = dead_letter_topic_written_
                                  ? in_quotes(dlq.value)
                                  : "the default dead_letter_topic " + in_quotes(dlq.value) + " (<application_id>-dlq)";
  const std::string remedy = dead_letter_topic_written_ ? "" : "; set \"dead_letter_topic\" to another topic";
  if (const DraftSource* source = reader_of(dlq.value)) {
    errors_.add(dlq.pointer, subject + " is read by the source at " + source->pointer +
                                 "; records that failed would be read and fail again, forever" + remedy);
  }
  for (const DraftSink& sink : sinks_) {
    if (sink.topic && sink.topic->value == dlq.value) {
      errors_.add(dlq.pointer, subject + " is also written by the sink at " + sink.pointer +
                                   "; dead letters need a topic of their own" + remedy);
      break;
    }
  }
}

// Internal topics are Kafka topics named "<application_id>-<operator>-changelog" (and "-repartition"): their
// names must be valid topic names, and sluice must own them, so no user topic may have one of their names.
void TopologyParser::check_internal_topics(
    const std::vector<std::vector<std::optional<detail::Producer>>>& producers, const std::vector<std::size_t>& order) {
  std::vector<detail::KeyUse> uses;
  std::vector<std::vector<std::size_t>> operator_inputs(operators_.size());
  for (std::size_t i = 0; i < operators_.size(); ++i) {
    uses.push_back(operators_[i].type ? detail::key_use_of(*operators_[i].type) : detail::KeyUse::keeps);
    // A join with a global table finds its row in every task: it keeps the key and needs no partitioning.
    if (operators_[i].type == "join" && joins_global_table(i)) uses.back() = detail::KeyUse::keeps;
    for (const auto& producer : producers[i]) {
      if (producer && producer->is_operator) operator_inputs[i].push_back(producer->index);
    }
  }
  std::vector<bool> rekeyed;
  repartition_needed_ = detail::repartition_needed(uses, operator_inputs, order, &rekeyed);
  input_rekeyed_.assign(operators_.size(), {});
  for (std::size_t i = 0; i < operators_.size(); ++i) {
    for (const auto& producer : producers[i]) {
      input_rekeyed_[i].push_back(producer && producer->is_operator && rekeyed.at(producer->index));
    }
  }
  if (!application_id_) return;

  std::map<std::string, std::string, std::less<>> owner_of_topic;  // internal topic -> operator pointer
  for (std::size_t i = 0; i < operators_.size(); ++i) {
    const DraftOperator& op = operators_[i];
    if (uses[i] != detail::KeyUse::needs_partitioned_by_key || !op.name) continue;
    struct Needed {
      std::string topic;
      std::string_view role;
    };
    std::vector<Needed> needed;
    // A stream-table join's store is logged to its table's topic, not to a changelog of its own.
    if (op.type != "join" || op.stream_join) {
      needed.push_back({detail::changelog_topic_name(*application_id_, op.name->value), "changelog"});
    }
    if (op.stream_join) {
      // A re-keyed side is written to its repartition topic with the kept side's key format, so that equal keys
      // meet in one partition; keys read in a registry format cannot be written back that way.
      const bool any_rekeyed = std::find(input_rekeyed_[i].begin(), input_rekeyed_[i].end(), true) !=
                               input_rekeyed_[i].end();
      for (std::size_t input = 0; any_rekeyed && input < producers[i].size(); ++input) {
        if (input_rekeyed_[i][input]) continue;
        std::optional<detail::Producer> at = producers[i][input];
        for (int depth = 0; at && at->is_operator && !rekeyed.at(at->index) && depth < 64; ++depth) {
          at = producers[at->index].empty() ? std::nullopt : producers[at->index].front();
        }
        if (!at || at->is_operator || !sources_.at(at->index).spec) continue;
        const SourceSpec& source = *sources_.at(at->index).spec;
        if (registry_format(source.key)) {
          errors_.add(op.pointer, "the re-keyed side of this join would have to write its keys as " +
                                      std::string(to_string(source.key)) + ", the key format of source " +
                                      in_quotes(source.name) + " on the other side; re-key that side too (a rekey "
                                      "of its key), or read its keys as json, string or bytes");
        }
      }
      // One repartition topic per re-keyed side.
      for (std::size_t input = 0; input < input_rekeyed_[i].size() && input < 2; ++input) {
        if (!input_rekeyed_[i][input]) continue;
        needed.push_back({detail::join_repartition_topic_name(*application_id_, op.name->value, input),
                          input == 0 ? "repartition topic of \"from\"" : "repartition topic of \"stream\""});
      }
    } else if (repartition_needed_[i]) {
      needed.push_back({detail::repartition_topic_name(*application_id_, op.name->value), "repartition topic"});
    }
    for (const Needed& internal : needed) {
      const auto [earlier, inserted] = owner_of_topic.try_emplace(internal.topic, op.pointer);
      if (!inserted) {
        errors_.add(op.name->pointer, "the internal topic " + in_quotes(internal.topic) + " (this operator's " +
                                          std::string(internal.role) + ") is also an internal topic of the operator "
                                          "at " + earlier->second + "; rename one of them");
      }
    }
    if (needed.empty()) continue;
    // "-repartition" is the longer suffix: one message, for the longest name, says enough.
    const Needed& longest = *std::max_element(needed.begin(), needed.end(), [](const Needed& a, const Needed& b) {
      return a.topic.size() < b.topic.size();
    });
    if (longest.topic.size() > 249) {
      errors_.add(op.name->pointer, "the internal topic " + in_quotes(longest.topic) + " (this operator's " +
                                        std::string(longest.role) + ") would be " +
                                        std::to_string(longest.topic.size()) +
                                        " characters long, more than the 249 of a Kafka topic name; shorten the "
                                        "operator's name or the application_id");
    }
    for (const Needed& internal : needed) {
      const std::string subject =
          "the internal topic " + in_quotes(internal.topic) + " (this operator's " + std::string(internal.role) + ")";
      const std::string remedy = "; sluice creates and owns its internal topics, so rename the operator or use "
                                 "another topic";
      for (const DraftSource& source : sources_) {
        if (source.topic && source.topic->value == internal.topic) {
          errors_.add(op.name->pointer, subject + " is also read by the source at " + source.pointer + remedy);
        }
      }
      for (const DraftSink& sink : sinks_) {
        if (sink.topic && sink.topic->value == internal.topic) {
          errors_.add(op.name->pointer, subject + " is also written by the sink at " + sink.pointer + remedy);
        }
      }
      if (dead_letter_topic_ && dead_letter_topic_->value == internal.topic) {
        errors_.add(op.name->pointer, subject + " is also the dead_letter_topic" + remedy);
      }
    }
  }
}

template <typename Document>
std::variant<Topology, std::vector<ValidationError>> parse_guarded(const Document& document) {
  try {
    TopologyParser parser;
    if constexpr (std::is_same_v<Document, Json>) {
      return parser.parse(document);
    } else {
      return parser.parse(Json(document));
    }
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& error) {
    // A bug here must not take the caller down with it: report it as a problem of the document.
    return std::vector<ValidationError>{
        {"", std::string("internal error while reading the topology: ") + error.what()}};
  }
}

}  // namespace

std::variant<Topology, std::vector<ValidationError>> parse_topology(const nlohmann::json& document) {
  return parse_guarded(document);
}

std::variant<Topology, std::vector<ValidationError>> parse_topology(const nlohmann::ordered_json& document) {
  return parse_guarded(document);
}

}  // namespace sluice::topology
