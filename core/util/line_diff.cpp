#include "core/util/line_diff.hpp"

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

namespace xops {

namespace {
std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    auto nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}
}  // namespace

std::vector<DiffLine> diff_lines(const std::string& a_text, const std::string& b_text, int context,
                                 size_t max_lines) {
  if (a_text == b_text) return {};
  auto a = split_lines(a_text), b = split_lines(b_text);
  if (a.size() > max_lines || b.size() > max_lines)
    return {{'@', fmt::format("@@ {} and {} lines: too long to diff here @@", a.size(), b.size())}};
  // Trim the common head and tail, then LCS on what is left.
  size_t head = 0;
  while (head < a.size() && head < b.size() && a[head] == b[head]) ++head;
  size_t tail = 0;
  while (tail < a.size() - head && tail < b.size() - head &&
         a[a.size() - 1 - tail] == b[b.size() - 1 - tail])
    ++tail;
  size_t n = a.size() - head - tail, m = b.size() - head - tail;
  std::vector<uint32_t> L((n + 1) * (m + 1), 0);
  auto at = [&](size_t i, size_t j) -> uint32_t& { return L[i * (m + 1) + j]; };
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      at(i, j) =
          a[head + i] == b[head + j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
  struct Op {
    char op;
    size_t ai, bi;  // line numbers (0-based) in a and b
  };
  std::vector<Op> ops;
  for (size_t k = 0; k < head; ++k) ops.push_back({' ', k, k});
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[head + i] == b[head + j])
      ops.push_back({' ', head + i++, head + j++});
    else if (j < m && (i == n || at(i, j + 1) >= at(i + 1, j)))
      ops.push_back({'+', head + i, head + j++});
    else
      ops.push_back({'-', head + i++, head + j});
  }
  for (size_t k = 0; k < tail; ++k) ops.push_back({' ', a.size() - tail + k, b.size() - tail + k});
  // Group into hunks: changes plus `context` lines each side.
  std::vector<DiffLine> out;
  size_t c = static_cast<size_t>(std::max(0, context));
  for (size_t k = 0; k < ops.size();) {
    if (ops[k].op == ' ') {
      ++k;
      continue;
    }
    size_t start = k >= c ? k - c : 0, end = k;
    while (end < ops.size()) {  // extend while the next change is within 2*context lines
      if (ops[end].op != ' ') {
        ++end;
        continue;
      }
      size_t run = end;
      while (run < ops.size() && ops[run].op == ' ') ++run;
      if (run < ops.size() && run - end <= 2 * c)
        end = run;
      else {
        end = std::min(ops.size(), end + c);
        break;
      }
    }
    size_t na = 0, nb = 0;
    for (size_t q = start; q < end; ++q) na += ops[q].op != '+', nb += ops[q].op != '-';
    out.push_back(
        {'@', fmt::format("@@ -{},{} +{},{} @@", ops[start].ai + 1, na, ops[start].bi + 1, nb)});
    for (size_t q = start; q < end; ++q)
      out.push_back({ops[q].op, ops[q].op == '+' ? b[ops[q].bi] : a[ops[q].ai]});
    k = end;
  }
  return out;
}

}  // namespace xops
