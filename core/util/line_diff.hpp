#pragma once
// A line diff (longest common subsequence) with unified-style hunks, for `xops promote diff`.
#include <string>
#include <vector>

namespace xops {

struct DiffLine {
  char op;  // ' ' same, '-' only in a, '+' only in b, '@' a hunk header ("@@ -a,n +b,m @@")
  std::string text;
};

// Hunks with `context` unchanged lines around each change; empty when the texts are equal.
// Inputs over max_lines lines each are not diffed: one '@' line says so.
std::vector<DiffLine> diff_lines(const std::string& a, const std::string& b, int context = 3,
                                 size_t max_lines = 4000);

}  // namespace xops
