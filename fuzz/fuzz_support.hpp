// Helpers shared by the fuzz targets: splitting one fuzz input into several fields, and a file in memory for the
// loaders that take a path (they are fuzzed through the same read as `sluice validate`, not a shortcut).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The input cut at every NUL byte: "a\0b\0" -> {"a", "b", ""}. NUL separates fields because no field needs it
// (JSON text, expressions and settings never contain one), and the seeds mark their fields with it.
inline std::vector<std::string_view> split_fields(std::string_view input) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = input.find('\0', start);
    if (end == std::string_view::npos) {
      fields.push_back(input.substr(start));
      return fields;
    }
    fields.push_back(input.substr(start, end - start));
    start = end + 1;
  }
}

// An anonymous in-memory file (memfd) reachable by a path, rewritten for every input. One per target, for the
// whole process; nothing touches the disk, and parallel fuzzing jobs never share it.
class MemoryFile {
 public:
  explicit MemoryFile(const char* name) : descriptor_(memfd_create(name, 0)) {
    if (descriptor_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(descriptor_);
  }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;
  ~MemoryFile() { close(descriptor_); }

  void write(std::string_view content) {
    if (ftruncate(descriptor_, 0) != 0) std::abort();
    std::size_t written = 0;
    while (written < content.size()) {
      const ssize_t result =
          pwrite(descriptor_, content.data() + written, content.size() - written, static_cast<off_t>(written));
      if (result <= 0) std::abort();
      written += static_cast<std::size_t>(result);
    }
  }
  const std::string& path() const noexcept { return path_; }

 private:
  int descriptor_;
  std::string path_;
};

}  // namespace sluice::fuzz
