// Reading the configuration files sluice is given (topologies, settings) with a size limit, checked before the
// whole file is in memory and before any parser sees it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

namespace sluice::core {

// Topology and settings files larger than this are refused: the largest real topologies are tens of KiB, and a
// parse holds several copies of the text as JSON trees, so a file of gigabytes would exhaust memory first.
inline constexpr std::size_t kMaxFileBytes = 16u << 20;  // 16 MiB

struct FileTooLarge {
  std::uint64_t size = 0;  // the file's size; for a pipe or device, the bytes read when the limit was passed
  bool at_least = false;   // true when `size` is only a lower bound (not a regular file)
};
struct FileUnreadable {
  int error_number = 0;  // errno
};
using FileContent = std::variant<std::string, FileTooLarge, FileUnreadable>;

// The bytes of `path` when it holds at most `max_bytes`. A regular file's size is checked before reading; any
// other file (a pipe, /dev/stdin) is read up to the limit and refused when it goes on.
FileContent read_file_with_limit(const std::string& path, std::size_t max_bytes = kMaxFileBytes);

// The words after "<file> is": "20971520 bytes long; the limit is 16 MiB (16777216 bytes)".
std::string describe_too_large(const FileTooLarge& too_large, std::size_t max_bytes = kMaxFileBytes);

}  // namespace sluice::core
