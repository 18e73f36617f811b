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

void atomic_write_file(const fs::path& path, std::string_view content, unsigned mode) {
  auto tmp = temp_path_beside(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    throw runtime_error(fmt::format("cannot create {}: {}", tmp.string(), errno_text(errno)));
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw runtime_error(fmt::format("cannot write {}: {}", tmp.string(), errno_text(err)));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::fchmod(fd, mode);  // umask must not weaken an executable hook
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw runtime_error(fmt::format("cannot flush {}: {}", tmp.string(), errno_text(err)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw runtime_error(fmt::format("cannot rename into {}: {}", path.string(), errno_text(err)));
  }
  fsync_dir(path.parent_path());
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
