#include "core/util/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace xops {

std::string errno_text(int err) { return std::strerror(err); }

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw runtime_error(fmt::format("cannot read {}: {}", path.string(), errno_text(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_fd_limited(int fd, uint64_t max_bytes, const char* what, const std::string& display) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    throw runtime_error(fmt::format("{} is not a regular file", display));
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    throw runtime_error(fmt::format("{} is {} bytes; {} is at most {} bytes", display, st.st_size, what, max_bytes),
                        "is this the right file?");
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw runtime_error(fmt::format("cannot read {}: {}", display, errno_text(errno)));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

std::string read_file_limited(const fs::path& path, uint64_t max_bytes, const char* what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw runtime_error(fmt::format("cannot read {}: {}", path.string(), errno_text(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  return read_fd_limited(fd, max_bytes, what, path.string());
}

fs::path temp_path_beside(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  auto name = fmt::format(".{}.tmp-{}-{}", target.filename().string(), ::getpid(), counter++);
  return target.parent_path() / name;
}

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

bool renamed_output(const fs::path& target) {
  struct stat st;
  if (::lstat(target.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    throw runtime_error(fmt::format("cannot write {}: {}", target.string(), errno_text(errno)));
  }
  if (S_ISDIR(st.st_mode))
    throw usage_error(fmt::format("cannot write {}: it is a directory", target.string()),
                      "name a file to write");
  return S_ISREG(st.st_mode);
}

AtomicFileWriter::AtomicFileWriter(fs::path target, unsigned mode)
    : target_(std::move(target)), mode_(mode) {
  if (!renamed_output(target_)) {  // a device, FIFO or link: write it as `>` would
    fd_ = ::open(target_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd_ < 0)
      throw runtime_error(fmt::format("cannot write {}: {}", target_.string(), errno_text(errno)));
    return;
  }
  tmp_ = temp_path_beside(target_);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd_ < 0) throw runtime_error(fmt::format("cannot create {}: {}", tmp_.string(), errno_text(errno)));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
  }
}

void AtomicFileWriter::write(const void* data, size_t n) {
  auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw runtime_error(fmt::format("cannot write {}: {}", target_.string(), errno_text(errno)));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFileWriter::commit() {
  int fd = fd_;
  fd_ = -1;
  if (tmp_.empty()) {  // written directly: a pipe or device may not sync (EINVAL), that is fine
    bool synced = ::fsync(fd) == 0 || errno == EINVAL || errno == EROFS || errno == ENOTSUP;
    int err = errno;
    if (::close(fd) != 0 || !synced)
      throw runtime_error(
          fmt::format("cannot flush {}: {}", target_.string(), errno_text(synced ? errno : err)));
    return;
  }
  ::fchmod(fd, mode_);  // umask must not weaken an executable hook
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp_.c_str());
    throw runtime_error(fmt::format("cannot flush {}: {}", target_.string(), errno_text(err)));
  }
  if (::rename(tmp_.c_str(), target_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp_.c_str());
    throw runtime_error(fmt::format("cannot rename into {}: {}", target_.string(), errno_text(err)));
  }
  fsync_dir(target_.parent_path());
}

void atomic_write_file(const fs::path& path, std::string_view content, unsigned mode) {
  AtomicFileWriter w(path, mode);
  w.write(content.data(), content.size());
  w.commit();
}

std::string relative_inside(const fs::path& p, const fs::path& base) {
  auto abs_p = fs::weakly_canonical(fs::absolute(p));
  auto abs_b = fs::weakly_canonical(fs::absolute(base));
  auto rel = abs_p.lexically_relative(abs_b);
  if (rel.empty()) return {};
  auto first = *rel.begin();
  if (first == "..") return {};
  return rel.generic_string();
}

ScopedCleanup::~ScopedCleanup() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace xops
