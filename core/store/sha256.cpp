#include "core/store/sha256.hpp"

#include "core/util/interrupt.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "core/error.hpp"
#include "core/util/fs.hpp"

namespace xops {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256::update(const void* data, size_t n) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, n);
}
std::string Sha256::hex() {
  unsigned char md[32];
  unsigned len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &len);
  static const char* digits = "0123456789abcdef";
  std::string out(64, '0');
  for (int i = 0; i < 32; ++i) {
    out[2 * i] = digits[md[i] >> 4];
    out[2 * i + 1] = digits[md[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex();
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string sha256_fd(int fd, const std::function<void(uint64_t)>& on_bytes) {
  constexpr size_t kChunk = 1 << 20;
  std::unique_ptr<char[]> buf(new char[kChunk]);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Sha256 h;
  off_t off = 0;
  while (true) {
    interrupt::check();
    ssize_t n = ::pread(fd, buf.get(), kChunk, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw runtime_error(fmt::format("read failed: {}", errno_text(errno)));
    }
    if (n == 0) break;
    h.update(buf.get(), static_cast<size_t>(n));
    off += n;
    if (on_bytes) on_bytes(static_cast<uint64_t>(n));
  }
  return h.hex();
}

std::string sha256_file(const std::filesystem::path& path,
                        const std::function<void(uint64_t)>& on_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw runtime_error(fmt::format("cannot open {}: {}", path.string(), errno_text(errno)));
  try {
    auto h = sha256_fd(fd, on_bytes);
    ::close(fd);
    return h;
  } catch (const Error& e) {
    ::close(fd);
    throw runtime_error(fmt::format("{}: {}", path.string(), e.what()));
  }
}

}  // namespace xops
