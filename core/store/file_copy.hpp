#pragma once
// Moving bytes between file descriptors: reflink (FICLONE) where the filesystem allows,
// copy_file_range (kernel-side copy) otherwise, and copy-while-hashing in one read pass.
#include <cstdint>
#include <functional>
#include <string>

namespace xops {

// Clones src into dst (both open); false when the filesystem cannot (ext4, cross-device).
bool try_reflink(int src_fd, int dst_fd);
// Copies all of src into dst (kernel copy when possible). Throws Error on I/O failure.
void copy_fd(int src_fd, int dst_fd, uint64_t size);
// Copies src to dst and returns src's SHA-256. Large files are hashed and copied by two
// threads over the page cache at once; small ones in a single read/hash/write loop.
std::string copy_and_hash(int src_fd, uint64_t size, int dst_fd,
                          const std::function<void(uint64_t)>& on_bytes);

}  // namespace xops
