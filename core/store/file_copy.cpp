#include "core/store/file_copy.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <memory>
#include <system_error>
#include <thread>

#include "core/error.hpp"
#include "core/store/sha256.hpp"
#include "core/util/fs.hpp"
#include "core/util/interrupt.hpp"

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
  // One read of the source: the bytes hashed are exactly the bytes written, even when the
  // source is rewritten while it is copied (a second read for the copy once let a pull
  // store other bytes than it had verified). Large files run as a two-stage pipeline: this
  // thread reads and hashes a chunk while a writer thread writes the previous one.
  ::posix_fadvise(src_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Sha256 h;
  constexpr size_t kChunk = 4 << 20;
  // Reads at most `size` bytes in all: a source that keeps growing cannot make this endless.
  auto read_chunk = [&](char* buf, off_t off) -> size_t {
    interrupt::check();  // a 1.6 GB add stops within a chunk; the caller removes its temp file
    size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, size - std::min<uint64_t>(size, off)));
    size_t got = 0;
    while (got < want) {
      ssize_t n = ::pread(src_fd, buf + got, want - got, off + static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw runtime_error(fmt::format("read failed: {}", errno_text(errno)));
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    return got;
  };
  auto serial = [&] {
    std::unique_ptr<char[]> buf(new char[kChunk]);
    off_t off = 0;
    for (;;) {
      size_t n = read_chunk(buf.get(), off);
      if (n == 0) break;
      h.update(buf.get(), n);
      write_all(dst_fd, buf.get(), n, off);
      off += static_cast<off_t>(n);
      if (on_bytes) on_bytes(n);
    }
    return h.hex();
  };
  if (size < kParallelThreshold) return serial();
  constexpr int kSlots = 3;
  std::unique_ptr<char[]> bufs[kSlots];
  size_t lens[kSlots] = {0, 0, 0};
  off_t offs[kSlots] = {0, 0, 0};
  for (auto& b : bufs) b.reset(new char[kChunk]);
  std::mutex mu;
  std::condition_variable cv;
  int filled = 0, written = 0;  // chunks handed over / chunks the writer finished
  bool eof = false, failed = false;
  std::exception_ptr write_error;
  std::thread writer;
  try {
    writer = std::thread([&] {
    for (int k = 0;; ++k) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return filled > k || eof || failed; });
      if (failed || (filled <= k && eof)) return;
      lock.unlock();
      int slot = k % kSlots;
      try {
        write_all(dst_fd, bufs[slot].get(), lens[slot], offs[slot]);
      } catch (...) {
        lock.lock();
        write_error = std::current_exception();
        failed = true;
        cv.notify_all();
        return;
      }
      lock.lock();
      written = k + 1;
      cv.notify_all();
    }
  });
  } catch (const std::system_error&) {
    return serial();  // no thread to be had: one pass, one thread
  }
  std::exception_ptr read_error;
  try {
    off_t off = 0;
    for (int k = 0;; ++k) {
      int slot = k % kSlots;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return k - written < kSlots || failed; });
        if (failed) break;
      }
      size_t n = read_chunk(bufs[slot].get(), off);
      if (n == 0) break;
      h.update(bufs[slot].get(), n);
      if (on_bytes) on_bytes(n);
      std::lock_guard<std::mutex> lock(mu);
      lens[slot] = n;
      offs[slot] = off;
      off += static_cast<off_t>(n);
      filled = k + 1;
      cv.notify_all();
    }
  } catch (...) {
    read_error = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    eof = true;
    if (read_error) failed = true;
    cv.notify_all();
  }
  writer.join();
  if (read_error) std::rethrow_exception(read_error);
  if (write_error) std::rethrow_exception(write_error);
  return h.hex();
}

}  // namespace xops
