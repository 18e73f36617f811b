#include "core/store/file_copy.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <exception>
#include <memory>
#include <thread>

#include "core/error.hpp"
#include "core/store/sha256.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {
constexpr uint64_t kParallelThreshold = 8ull << 20;

void write_all(int fd, const char* p, size_t n, off_t off) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, off);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw runtime_error(fmt::format("write failed: {}", errno_text(errno)));
    }
    p += w;
    n -= static_cast<size_t>(w);
    off += w;
  }
}

void copy_rw(int src, int dst, uint64_t from, uint64_t size) {
  constexpr size_t kChunk = 1 << 20;
  std::unique_ptr<char[]> buf(new char[kChunk]);
  off_t off = static_cast<off_t>(from);
  while (static_cast<uint64_t>(off) < size) {
    ssize_t n = ::pread(src, buf.get(), kChunk, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw runtime_error(fmt::format("read failed: {}", errno_text(errno)));
    if (n == 0) break;
    write_all(dst, buf.get(), static_cast<size_t>(n), off);
    off += n;
  }
}
}  // namespace

bool try_reflink(int src_fd, int dst_fd) { return ::ioctl(dst_fd, FICLONE, src_fd) == 0; }

void copy_fd(int src_fd, int dst_fd, uint64_t size) {
  loff_t in = 0, out = 0;
  while (static_cast<uint64_t>(in) < size) {
    ssize_t n = ::copy_file_range(src_fd, &in, dst_fd, &out, size - in, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) {
        copy_rw(src_fd, dst_fd, static_cast<uint64_t>(in), size);
        return;
      }
      throw runtime_error(fmt::format("copy failed: {}", errno_text(errno)));
    }
    if (n == 0) break;  // source shrank; the caller's before/after stat catches it
  }
}

std::string copy_and_hash(int src_fd, uint64_t size, int dst_fd,
                          const std::function<void(uint64_t)>& on_bytes) {
  if (size >= kParallelThreshold) {
    std::exception_ptr copy_error;
    std::thread copier([&] {
      try {
        copy_fd(src_fd, dst_fd, size);
      } catch (...) {
        copy_error = std::current_exception();
      }
    });
    std::string h;
    try {
      h = sha256_fd(src_fd, on_bytes);
    } catch (...) {
      copier.join();
      throw;
    }
    copier.join();
    if (copy_error) std::rethrow_exception(copy_error);
    return h;
  }
  std::string data;
  data.resize(static_cast<size_t>(size));
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(src_fd, data.data() + got, size - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw runtime_error(fmt::format("read failed: {}", errno_text(errno)));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  write_all(dst_fd, data.data(), data.size(), 0);
  if (on_bytes) on_bytes(got);
  return sha256_hex(data);
}

}  // namespace xops
