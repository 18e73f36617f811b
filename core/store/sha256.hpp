#pragma once
// Streaming SHA-256 (OpenSSL EVP: uses the CPU's SHA instructions where present).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace xops {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  std::string hex();  // finalises

 private:
  void* ctx_;
};

std::string sha256_hex(std::string_view data);
bool is_sha256_hex(std::string_view s);

// Hashes an open file descriptor from offset 0 with large reads; calls on_bytes per chunk.
std::string sha256_fd(int fd, const std::function<void(uint64_t)>& on_bytes = {});
std::string sha256_file(const std::filesystem::path& path,
                        const std::function<void(uint64_t)>& on_bytes = {});

}  // namespace xops
