#pragma once
// Shared by the fuzz targets. A target feeds bytes to one parser of untrusted input; an
// xops::Error is the expected way to refuse bad input, anything else escaping (a
// JSON-library exception, std::out_of_range, a crash, a sanitizer report, an allocation
// over -malloc_limit_mb) is a finding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/error.hpp"

namespace xops::fuzz {

// A file holding `data`, rewritten each call (a memfd seen through /proc: no disk I/O).
class MemFile {
 public:
  explicit MemFile(const char* name) : fd_(::memfd_create(name, MFD_CLOEXEC)) {
    if (fd_ < 0) std::abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  const std::string& write(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size))
      std::abort();
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

// A private directory for targets that read several files that refer to each other.
inline const std::filesystem::path& scratch_dir() {
  static std::filesystem::path dir = [] {
    auto p = std::filesystem::temp_directory_path() / ("xops-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    return p;
  }();
  return dir;
}

inline void write_file(const std::filesystem::path& p, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(p.c_str(), "wb");
  if (!f) std::abort();
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
}

// Runs `fn`, accepting only xops::Error as a refusal.
template <typename F>
int expect_error_or_success(F&& fn) {
  try {
    fn();
  } catch (const xops::Error&) {
  }
  return 0;
}

}  // namespace xops::fuzz
