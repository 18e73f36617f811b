#include "core/tracking/ulid.hpp"

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

std::string new_ulid() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                          static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
  return ulid_at(static_cast<uint64_t>(now_ms()), rng(), rng());
}

}  // namespace xops
