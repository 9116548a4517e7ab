// The topology loader as `sluice validate` and `sluice describe` use it: the file is read, checked for depth,
// parsed, validated in full; a valid topology is then described in every format. Invariants checked beyond
// "does not crash": a rejected file has at least one error, and every error names a JSON pointer ("" or "/...").
#include <cstdint>
#include <cstdlib>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "sluice/topology/describe.hpp"
#include "sluice/topology/topology.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sluice::topology;
  static sluice::fuzz::MemoryFile file("topology.json");
  file.write(sluice::fuzz::as_text(data, size));

  auto loaded = load_topology_file(file.path());
  if (const auto* errors = std::get_if<std::vector<ValidationError>>(&loaded)) {
    if (errors->empty()) std::abort();  // rejected without a reason
    for (const auto& error : *errors) {
      if (!error.pointer.empty() && error.pointer.front() != '/') std::abort();
      if (error.to_string().empty()) std::abort();
    }
    return 0;
  }
  const auto& topology = std::get<Topology>(loaded);
  for (const auto format : {DescribeFormat::text, DescribeFormat::json, DescribeFormat::dot, DescribeFormat::mermaid}) {
    if (describe(topology, format).empty()) std::abort();
  }
  return 0;
}
