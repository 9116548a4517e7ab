// Internal to src/topology: the half-validated form of a topology file (what the parser could read of each
// source and operator, even when other parts of it have errors), and the checks that need the whole file:
// unique names, references between sources and operators, cycles, and the processing order.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diagnostics.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::topology::detail {

// A string of the document that passed its own checks, and where it was written.
struct Located {
  std::string value;
  std::string pointer;
};

struct DraftSource {
  std::string pointer;
  std::optional<Located> name;
  std::optional<Located> topic;
  std::optional<SourceSpec> spec;  // set only when the whole source is valid
};

struct DraftOperator {
  std::string pointer;
  std::optional<Located> name;
  std::optional<std::string> type;  // the one type key; nullopt when the operator has none or several
  std::vector<Located> inputs;      // references, from "from" or, for merge, from "merge"
  std::optional<OperatorBody> body;  // set only when the type-specific fields are valid
  // Route operators: the output names (branches, then the default). Incomplete when a branch name has an
  // error, in which case references to unknown outputs are not reported a second time.
  std::vector<std::string> route_outputs;
  bool route_outputs_complete = true;
  bool stream_join = false;  // a join with "stream" (two inputs: from, then stream) rather than "table"
};

// The node a reference leads to.
struct Producer {
  bool is_operator = false;
  std::size_t index = 0;  // into the draft sources or operators
};

// The shared namespace of sources and operators.
class NameTable {
 public:
  // Registers every name; a name used twice is reported at its second use (sources count as before operators).
  // `sections_readable` is false when the sources or operators section itself is missing or malformed: then
  // a reference to an unknown name is not reported, since it most likely names something in that section.
  NameTable(const std::vector<DraftSource>& sources, const std::vector<DraftOperator>& operators,
            bool sections_readable, ErrorList& errors);

  // What `reference` ("orders", "by_type.clicks") reads from. nullopt when it names nothing readable (reported
  // at reference.pointer), or when it cannot be checked because what it names has errors of its own.
  std::optional<Producer> resolve(const Located& reference, ErrorList& errors) const;

 private:
  struct Entry {
    Producer producer;
    std::string pointer;
  };
  const Entry* lookup(std::string_view name) const;
  std::vector<std::string> route_references(const DraftOperator& route) const;
  std::string known_references() const;

  const std::vector<DraftOperator>& operators_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::vector<std::string> readable_;  // every valid reference, in document order, for messages
  bool sections_readable_ = true;
};

// Indices of `operators` in processing order: every operator after the operators it reads from, file order
// otherwise. producers[i][k] is what operators[i].inputs[k] resolved to. Each cycle is reported once, at the
// reference that closes it, as "cycle: a -> b -> a"; the operators of a cycle are then left out of the order.
std::vector<std::size_t> order_operators(const std::vector<DraftOperator>& operators,
                                         const std::vector<std::vector<std::optional<Producer>>>& producers,
                                         ErrorList& errors);

}  // namespace sluice::topology::detail
