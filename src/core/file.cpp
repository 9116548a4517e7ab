#include "sluice/core/file.hpp"

#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>

namespace sluice::core {
namespace {

struct FileCloser {
  void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};

std::string size_text(std::uint64_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

FileContent read_file_with_limit(const std::string& path, std::size_t max_bytes) {
  errno = 0;
  const std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) return FileUnreadable{errno != 0 ? errno : EIO};
  struct stat status {};
  if (::fstat(::fileno(file.get()), &status) != 0) return FileUnreadable{errno != 0 ? errno : EIO};
  if (S_ISDIR(status.st_mode)) return FileUnreadable{EISDIR};
  const bool regular = S_ISREG(status.st_mode);
  if (regular && static_cast<std::uint64_t>(status.st_size) > max_bytes) {
    return FileTooLarge{static_cast<std::uint64_t>(status.st_size), false};
  }
  std::string content;
  if (regular) content.reserve(static_cast<std::size_t>(status.st_size));
  std::array<char, 16384> buffer{};
  while (true) {
    const std::size_t read = std::fread(buffer.data(), 1, buffer.size(), file.get());
    content.append(buffer.data(), read);
    // A file that grew since fstat, or a stream: stop as soon as the limit is passed.
    if (content.size() > max_bytes) return FileTooLarge{content.size(), !regular};
    if (read < buffer.size()) break;
  }
  if (std::ferror(file.get()) != 0) return FileUnreadable{errno != 0 ? errno : EIO};
  return content;
}

std::string describe_too_large(const FileTooLarge& too_large, std::size_t max_bytes) {
  const std::string limit = size_text(max_bytes) + " (" + std::to_string(max_bytes) + " bytes)";
  if (too_large.at_least) return "longer than the limit of " + limit;
  return std::to_string(too_large.size) + " bytes long; the limit is " + limit;
}

}  // namespace sluice::core
