#include "core/tracking/ulid.hpp"

#include <sys/random.h>

#include <chrono>
#include <random>

namespace xops {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ulid_at(uint64_t ms, uint64_t hi, uint64_t lo) {
  static const char* A = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::string s(26, '0');
  for (int i = 9; i >= 0; --i, ms >>= 5) s[i] = A[ms & 31];
  // 80 random bits: 16 from hi, 64 from lo -> 16 chars.
  unsigned __int128 r = (static_cast<unsigned __int128>(hi & 0xFFFF) << 64) | lo;
  for (int i = 25; i >= 10; --i, r >>= 5) s[i] = A[static_cast<int>(r & 31)];
  return s;
}

// The random part comes from the kernel on every call: ULIDs are a run's identity across
// machines (`track sync`), and a generator state copied by fork() once gave two processes the
// same ids in the same millisecond.
std::string new_ulid() {
  uint64_t r[2] = {0, 0};
  if (::getrandom(r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    r[0] = rng(), r[1] = rng();
  }
  return ulid_at(static_cast<uint64_t>(now_ms()), r[0], r[1]);
}

}  // namespace xops
