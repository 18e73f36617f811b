#pragma once
// Edit distance between two strings of any code unit (insert, delete, substitute: cost 1 each).
#include <algorithm>
#include <string>
#include <vector>

namespace xops {

template <class S>
inline size_t edit_distance(const S& a, const S& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace xops
