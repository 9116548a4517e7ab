// The topology loader on YAML files (*.yaml): yaml-cpp's parser, the conversion to the JSON document (core
// schema scalars, alias expansion bounded, nesting bounded) and the validation with YAML lines. Invariants
// beyond "does not crash": a rejected file has at least one error, every error names a JSON pointer ("" or
// "/..."), and parse_yaml of the same text either fails with a message or gives a document whose every line
// entry is a pointer.
#include <cstdint>
#include <cstdlib>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "sluice/core/yaml.hpp"
#include "sluice/topology/topology.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sluice;
  const auto text = fuzz::as_text(data, size);
  auto parsed = core::parse_yaml(text, 100'000);
  if (const auto* error = std::get_if<core::YamlError>(&parsed)) {
    if (error->message.empty()) std::abort();
  } else {
    for (const auto& [pointer, line] : std::get<core::YamlDocument>(parsed).lines) {
      if (!pointer.empty() && pointer.front() != '/') std::abort();
      if (line == 0) std::abort();
    }
  }
  static fuzz::MemoryFile file("topology.yaml");
  file.write(text);
  auto loaded = topology::load_topology_file(file.path());
  if (const auto* errors = std::get_if<std::vector<topology::ValidationError>>(&loaded)) {
    if (errors->empty()) std::abort();
    for (const auto& error : *errors) {
      if (!error.pointer.empty() && error.pointer.front() != '/') std::abort();
    }
  }
  return 0;
}
