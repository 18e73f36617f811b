#pragma once
// Filesystem helpers. Every write that must not be seen half-done goes through
// atomic_write_file: temp file in the same directory -> fsync -> rename -> fsync(dir).
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace xops {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path);
// Reads a file that someone else wrote, refusing one over `max_bytes` before reading it
// ("PATH is N bytes; WHAT is at most M"). Refuses anything but a regular file.
std::string read_file_limited(const fs::path& path, uint64_t max_bytes, const char* what);
// The same for an open regular file (`display` names it in errors).
std::string read_fd_limited(int fd, uint64_t max_bytes, const char* what, const std::string& display);

// How an output path is written. A regular file or a missing path: a temp beside it, fsync,
// rename (readers never see a partial file). Anything else the user names as an output — a
// device (/dev/null), a FIFO, a socket, a link such as /dev/stdout or /dev/fd/N — is opened
// and written directly: renaming over it would replace it (as root, /dev/null itself). A
// directory is refused with a usage error.
bool renamed_output(const fs::path& target);

// Streams a file into a temp beside its target; commit() fsyncs and renames it into place.
// Destroyed uncommitted, it removes the temp: readers never see a partial file. A target that
// is not a regular file (renamed_output) is written directly instead, and never removed.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(fs::path target, unsigned mode = 0644);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  void write(const void* data, size_t n);
  void commit();

 private:
  fs::path target_, tmp_;  // tmp_ empty: writing the target directly
  unsigned mode_;
  int fd_ = -1;
};

void atomic_write_file(const fs::path& path, std::string_view content, unsigned mode = 0644);
void fsync_dir(const fs::path& dir);
// Creates a unique temp path next to `target` (same filesystem, so rename is atomic).
fs::path temp_path_beside(const fs::path& target);
// The path `p` relative to `base` when `p` is inside it; empty optional-like "" otherwise.
std::string relative_inside(const fs::path& p, const fs::path& base);
std::string errno_text(int err);

// Removes a directory tree when the owner goes out of scope unless release()d.
class ScopedCleanup {
 public:
  explicit ScopedCleanup(fs::path p) : path_(std::move(p)) {}
  ~ScopedCleanup();
  void release() { path_.clear(); }
  ScopedCleanup(const ScopedCleanup&) = delete;
  ScopedCleanup& operator=(const ScopedCleanup&) = delete;

 private:
  fs::path path_;
};

}  // namespace xops
