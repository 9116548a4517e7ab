// load_topology_file: reads the file and reports an unreadable file, one over the size limit
// (core::kMaxFileBytes, checked before it is read) or nested too deeply, or a JSON syntax error as a single
// error at the root, with the line and column a user can jump to in an editor.
#include <algorithm>
#include <exception>
#include <new>
#include <string>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/core/file.hpp"
#include "sluice/core/json.hpp"
#include "sluice/core/yaml.hpp"
#include "sluice/core/printable.hpp"

#include "diagnostics.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::topology {
namespace {

// nlohmann's message without its "[json.exception.parse_error.101] parse error at line 1, column 2: " prefix,
// whose position we compute ourselves.
std::string syntax_detail(const std::string& what) {
  const std::size_t column = what.find("column ");
  const std::size_t colon = what.find(": ", column == std::string::npos ? 0 : column);
  return colon == std::string::npos ? what : what.substr(colon + 2);
}

// Paths are shown whole unless absurd (PATH_MAX is 4096).
constexpr std::size_t kPathMaxBytes = 4096;
// nlohmann's detail quotes the token it last read, which can be a whole (long) string of the file.
constexpr std::size_t kSyntaxDetailMaxBytes = 512;

std::vector<ValidationError> root_error(std::string message) {
  return std::vector<ValidationError>{ValidationError{"", std::move(message)}};
}

}  // namespace

std::variant<Topology, std::vector<ValidationError>> load_topology_file(const std::string& path) {
  auto content = core::read_file_with_limit(path, core::kMaxFileBytes);
  if (const auto* unreadable = std::get_if<core::FileUnreadable>(&content)) {
    return root_error("cannot read topology file " + detail::in_quotes(path, kPathMaxBytes) + ": " +
                      std::error_code(unreadable->error_number, std::generic_category()).message());
  }
  if (const auto* too_large = std::get_if<core::FileTooLarge>(&content)) {
    return root_error("topology file " + detail::in_quotes(path, kPathMaxBytes) + " is " +
                      core::describe_too_large(*too_large, core::kMaxFileBytes));
  }
  const std::string& text = std::get<std::string>(content);
  if (core::json_nesting_depth(text, core::kMaxFileNesting) > core::kMaxFileNesting) {
    return root_error(detail::in_quotes(path, kPathMaxBytes) + " nests arrays and objects deeper than " +
                      std::to_string(core::kMaxFileNesting) + " levels; a topology needs far fewer");
  }
  if (core::is_yaml_path(path)) {
    auto parsed = core::parse_yaml(text);
    if (const auto* error = std::get_if<core::YamlError>(&parsed)) {
      return root_error(detail::in_quotes(path, kPathMaxBytes) + " is not valid YAML: line " + std::to_string(error->line) +
                        ", column " + std::to_string(error->column) + ": " + error->message);
    }
    const auto& yaml = std::get<core::YamlDocument>(parsed);
    auto topology = parse_topology(yaml.json);
    if (auto* errors = std::get_if<std::vector<ValidationError>>(&topology)) {
      // The same errors as for JSON, each with the YAML line of its node (or of the nearest one that exists).
      for (auto& error : *errors) {
        if (const std::size_t line = yaml.line_of(error.pointer); line > 0) error.message += " (line " + std::to_string(line) + ")";
      }
    }
    return topology;
  }
  nlohmann::ordered_json document;
  try {
    // Key order is kept: map and select compute and write their fields in the order of the file.
    document = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    const auto [line, column] = core::json_error_position(text, error.byte);
    return root_error(detail::in_quotes(path, kPathMaxBytes) + " is not valid JSON: line " + std::to_string(line) + ", column " +
                      std::to_string(column) + ": " + core::printable(syntax_detail(error.what()), kSyntaxDetailMaxBytes));
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& error) {
    return root_error(detail::in_quotes(path, kPathMaxBytes) + " could not be read as JSON: " + error.what());
  }
  return parse_topology(document);
}

}  // namespace sluice::topology
