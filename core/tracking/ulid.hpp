#pragma once
// ULIDs: 48-bit millisecond time + 80 random bits in Crockford base32 (26 chars). Sortable
// by creation time and unique across machines without coordination.
#include <cstdint>
#include <string>

namespace xops {
std::string new_ulid();
std::string ulid_at(uint64_t ms, uint64_t rand_hi, uint64_t rand_lo);
int64_t now_ms();
}  // namespace xops
