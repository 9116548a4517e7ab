#include "graph.hpp"

#include <algorithm>
#include <deque>
#include <functional>
#include <queue>
#include <string>
#include <utility>

namespace sluice::topology::detail {
namespace {

// Long "known: ..." lists stop helping; the suggestion still considers every name.
constexpr std::size_t kMaxListedReferences = 20;

}  // namespace

NameTable::NameTable(const std::vector<DraftSource>& sources, const std::vector<DraftOperator>& operators,
                     bool sections_readable, ErrorList& errors)
    : operators_(operators), sections_readable_(sections_readable) {
  const auto add = [&](const Located& name, Producer producer) {
    const auto [entry, inserted] = entries_.try_emplace(name.value, Entry{producer, name.pointer});
    if (!inserted) {
      errors.add(name.pointer, in_quotes(name.value) + " is already used by " + entry->second.pointer +
                                   "; sources and operators need distinct names");
    }
    return inserted;
  };
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].name && add(*sources[i].name, Producer{false, i})) readable_.push_back(sources[i].name->value);
  }
  for (std::size_t i = 0; i < operators.size(); ++i) {
    const DraftOperator& op = operators[i];
    if (!op.name || !add(*op.name, Producer{true, i})) continue;
    if (op.type == "route") {
      for (auto& reference : route_references(op)) readable_.push_back(std::move(reference));
    } else {
      readable_.push_back(op.name->value);
    }
  }
}

const NameTable::Entry* NameTable::lookup(std::string_view name) const {
  const auto found = entries_.find(name);
  return found == entries_.end() ? nullptr : &found->second;
}

std::vector<std::string> NameTable::route_references(const DraftOperator& route) const {
  std::vector<std::string> references;
  for (const auto& output : route.route_outputs) references.push_back(route.name->value + "." + output);
  return references;
}

std::string NameTable::known_references() const {
  if (readable_.empty()) return "(none)";
  if (readable_.size() <= kMaxListedReferences) return join(readable_);
  std::vector<std::string> listed(readable_.begin(), readable_.begin() + kMaxListedReferences);
  return join(listed) + " and " + std::to_string(readable_.size() - kMaxListedReferences) + " more";
}

std::optional<Producer> NameTable::resolve(const Located& reference, ErrorList& errors) const {
  const std::string& text = reference.value;
  const std::size_t dot = text.find('.');
  if (dot == std::string::npos) {
    if (const Entry* entry = lookup(text)) {
      if (entry->producer.is_operator && operators_[entry->producer.index].type == "route") {
        const auto outputs = route_references(operators_[entry->producer.index]);
        errors.add(reference.pointer, in_quotes(text) + " is a route operator, which has no output of its own; " +
                                          "reference one of its branches: " + join(outputs));
        return std::nullopt;
      }
      return entry->producer;
    }
  } else {
    const std::string_view base = std::string_view(text).substr(0, dot);
    const std::string_view branch = std::string_view(text).substr(dot + 1);
    if (const Entry* entry = lookup(base)) {
      if (!entry->producer.is_operator) {
        errors.add(reference.pointer, in_quotes(text) + ": " + in_quotes(base) +
                                          " is a source, and only route operators have branches; reference it as " +
                                          in_quotes(base));
        return std::nullopt;
      }
      const DraftOperator& op = operators_[entry->producer.index];
      if (!op.type) return entry->producer;  // the operator's own error says what is wrong with it
      if (*op.type != "route") {
        // "a filter operator", "an aggregate operator"
        const bool vowel = std::string_view("aeiou").find(op.type->front()) != std::string_view::npos;
        errors.add(reference.pointer, in_quotes(text) + ": " + in_quotes(base) + (vowel ? " is an " : " is a ") +
                                          *op.type +
                                          " operator, and only route operators have branches; reference it as " +
                                          in_quotes(base));
        return std::nullopt;
      }
      const auto& outputs = op.route_outputs;
      if (!op.route_outputs_complete || std::find(outputs.begin(), outputs.end(), branch) != outputs.end()) {
        return entry->producer;
      }
      const auto references = route_references(op);
      errors.add(reference.pointer, in_quotes(text) + " is not a branch of route operator " + in_quotes(base) +
                                        "; its branches are " + join(references) + did_you_mean(text, references));
      return std::nullopt;
    }
  }
  if (!sections_readable_) return std::nullopt;
  errors.add(reference.pointer, in_quotes(text) + " is not a source, operator or route branch; known: " +
                                    known_references() + did_you_mean(text, readable_));
  return std::nullopt;
}

namespace {

// The operators on cycles form strongly connected components of the leftover graph (Kosaraju's algorithm,
// iterative so that a long chain cannot overflow the stack). Returns the components, each sorted by index,
// in the order of their first member.
std::vector<std::vector<std::size_t>> strongly_connected(const std::vector<bool>& leftover,
                                                         const std::vector<std::vector<std::size_t>>& consumers,
                                                         const std::vector<std::vector<std::size_t>>& producers) {
  const std::size_t count = leftover.size();
  std::vector<bool> visited(count, false);
  std::vector<std::size_t> finish_order;
  for (std::size_t start = 0; start < count; ++start) {
    if (!leftover[start] || visited[start]) continue;
    std::vector<std::pair<std::size_t, std::size_t>> stack{{start, 0}};
    visited[start] = true;
    while (!stack.empty()) {
      const std::size_t node = stack.back().first;
      const std::size_t next = stack.back().second;
      if (next < consumers[node].size()) {
        ++stack.back().second;
        const std::size_t consumer = consumers[node][next];
        if (leftover[consumer] && !visited[consumer]) {
          visited[consumer] = true;
          stack.emplace_back(consumer, 0);
        }
      } else {
        finish_order.push_back(node);
        stack.pop_back();
      }
    }
  }
  constexpr std::size_t kUnassigned = static_cast<std::size_t>(-1);
  std::vector<std::size_t> component_of(count, kUnassigned);
  std::vector<std::vector<std::size_t>> components;
  for (auto root = finish_order.rbegin(); root != finish_order.rend(); ++root) {
    if (component_of[*root] != kUnassigned) continue;
    const std::size_t id = components.size();
    components.emplace_back();
    std::vector<std::size_t> stack{*root};
    component_of[*root] = id;
    while (!stack.empty()) {
      const std::size_t node = stack.back();
      stack.pop_back();
      components[id].push_back(node);
      for (const std::size_t producer : producers[node]) {
        if (leftover[producer] && component_of[producer] == kUnassigned) {
          component_of[producer] = id;
          stack.push_back(producer);
        }
      }
    }
  }
  for (auto& component : components) std::sort(component.begin(), component.end());
  std::sort(components.begin(), components.end(),
            [](const auto& a, const auto& b) { return a.front() < b.front(); });
  return components;
}

std::string operator_label(const DraftOperator& op) { return op.name ? op.name->value : op.pointer; }

}  // namespace

std::vector<std::size_t> order_operators(const std::vector<DraftOperator>& operators,
                                         const std::vector<std::vector<std::optional<Producer>>>& producers,
                                         ErrorList& errors) {
  const std::size_t count = operators.size();
  // Edges between operators only: sources and unresolved references are always "ready".
  std::vector<std::vector<std::size_t>> consumers(count);
  std::vector<std::vector<std::size_t>> operator_producers(count);
  std::vector<std::size_t> waiting_for(count, 0);
  for (std::size_t i = 0; i < count; ++i) {
    for (const auto& producer : producers[i]) {
      if (!producer || !producer->is_operator) continue;
      consumers[producer->index].push_back(i);
      operator_producers[i].push_back(producer->index);
      ++waiting_for[i];
    }
  }

  // Kahn's algorithm, always taking the ready operator that comes first in the file, so that a file already
  // in order keeps its order.
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
  for (std::size_t i = 0; i < count; ++i) {
    if (waiting_for[i] == 0) ready.push(i);
  }
  std::vector<std::size_t> order;
  order.reserve(count);
  while (!ready.empty()) {
    const std::size_t next = ready.top();
    ready.pop();
    order.push_back(next);
    for (const std::size_t consumer : consumers[next]) {
      if (--waiting_for[consumer] == 0) ready.push(consumer);
    }
  }
  if (order.size() == count) return order;

  // What is left is on a cycle or downstream of one; only the cycles themselves are errors.
  std::vector<bool> leftover(count, true);
  for (const std::size_t done : order) leftover[done] = false;
  for (const auto& component : strongly_connected(leftover, consumers, operator_producers)) {
    const std::size_t first = component.front();
    const bool self_loop =
        std::find(consumers[first].begin(), consumers[first].end(), first) != consumers[first].end();
    if (component.size() == 1 && !self_loop) continue;

    // Breadth-first from `first` along data flow inside the component, until an operator that `first` reads.
    std::vector<bool> in_component(count, false);
    for (const std::size_t member : component) in_component[member] = true;
    std::vector<std::size_t> parent(count, count);
    std::deque<std::size_t> queue{first};
    parent[first] = first;
    std::size_t closing = count;
    while (!queue.empty() && closing == count) {
      const std::size_t node = queue.front();
      queue.pop_front();
      for (const std::size_t consumer : consumers[node]) {
        if (consumer == first) {
          closing = node;
          break;
        }
        if (in_component[consumer] && parent[consumer] == count) {
          parent[consumer] = node;
          queue.push_back(consumer);
        }
      }
    }
    std::vector<std::string> path;
    for (std::size_t node = closing; node != first; node = parent[node]) {
      path.push_back(operator_label(operators[node]));
    }
    path.push_back(operator_label(operators[first]));
    std::reverse(path.begin(), path.end());
    path.push_back(operator_label(operators[first]));

    std::string pointer = operators[first].pointer;
    for (std::size_t k = 0; k < producers[first].size(); ++k) {
      const auto& producer = producers[first][k];
      if (producer && producer->is_operator && producer->index == closing) {
        pointer = operators[first].inputs[k].pointer;
        break;
      }
    }
    errors.add(pointer, "cycle: " + join(path, " -> ") +
                            "; an operator cannot read, directly or indirectly, from its own output");
  }
  return order;
}

}  // namespace sluice::topology::detail
