#pragma once
#include <string>
#include <vector>

namespace xops {
// The closest candidate within a small edit distance, or "" (for "did you mean ...").
std::string closest(const std::string& word, const std::vector<std::string>& candidates);
}  // namespace xops
