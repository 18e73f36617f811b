#pragma once
// The schema, as an append-only list: migration N brings user_version from N-1 to N.
// Never edit a released entry; add a new one.
#include <vector>

namespace xops::db {
const std::vector<const char*>& migrations();
}
