// load_topology_file: reads the file and reports an unreadable file or a JSON syntax error as a single
// error at the root, with the line and column a user can jump to in an editor.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/core/json.hpp"

#include "diagnostics.hpp"
#include "sluice/topology/topology.hpp"

namespace sluice::topology {
namespace {

struct FileCloser {
  void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};

// The file's bytes, or the errno of the failure.
std::variant<std::string, int> read_file(const std::string& path) {
  errno = 0;
  const std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) return errno != 0 ? errno : EIO;
  std::string content;
  std::array<char, 16384> buffer{};
  while (true) {
    const std::size_t read = std::fread(buffer.data(), 1, buffer.size(), file.get());
    content.append(buffer.data(), read);
    if (read < buffer.size()) break;
  }
  if (std::ferror(file.get()) != 0) return errno != 0 ? errno : EIO;  // e.g. EISDIR for a directory
  return content;
}

// nlohmann reports the byte count read when the error was found; the offending byte is the last one read.
std::pair<std::size_t, std::size_t> line_and_column(const std::string& text, std::size_t bytes_read) {
  const std::size_t offset = std::min(bytes_read > 0 ? bytes_read - 1 : 0, text.size());
  std::size_t line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line, offset - line_start + 1};
}

// nlohmann's message without its "[json.exception.parse_error.101] parse error at line 1, column 2: " prefix,
// whose position we compute ourselves.
std::string syntax_detail(const std::string& what) {
  const std::size_t column = what.find("column ");
  const std::size_t colon = what.find(": ", column == std::string::npos ? 0 : column);
  return colon == std::string::npos ? what : what.substr(colon + 2);
}

std::vector<ValidationError> root_error(std::string message) {
  return std::vector<ValidationError>{ValidationError{"", std::move(message)}};
}

}  // namespace

std::variant<Topology, std::vector<ValidationError>> load_topology_file(const std::string& path) {
  auto content = read_file(path);
  if (const int* error_number = std::get_if<int>(&content)) {
    return root_error("cannot read topology file " + detail::in_quotes(path) + ": " +
                      std::error_code(*error_number, std::generic_category()).message());
  }
  const std::string& text = std::get<std::string>(content);
  if (core::json_nesting_depth(text, core::kMaxFileNesting) > core::kMaxFileNesting) {
    return root_error(detail::in_quotes(path) + " nests arrays and objects deeper than " +
                      std::to_string(core::kMaxFileNesting) + " levels; a topology needs far fewer");
  }
  nlohmann::ordered_json document;
  try {
    // Key order is kept: map and select compute and write their fields in the order of the file.
    document = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    const auto [line, column] = line_and_column(text, error.byte);
    return root_error(detail::in_quotes(path) + " is not valid JSON: line " + std::to_string(line) + ", column " +
                      std::to_string(column) + ": " + syntax_detail(error.what()));
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& error) {
    return root_error(detail::in_quotes(path) + " could not be read as JSON: " + error.what());
  }
  return parse_topology(document);
}

}  // namespace sluice::topology
