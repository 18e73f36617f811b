#pragma once
// Regular expressions as suites write them, through PCRE2 in UTF + UCP mode (promptfoo's are
// JavaScript's; the common subset behaves the same).
#include <string>

namespace xops {

inline constexpr unsigned kRegexMatchLimit = 10000000;  // backtracking steps per search
inline constexpr unsigned kRegexHeapLimitKiB = 20000;   // backtracking memory per search

// Whether `pattern` matches somewhere in `subject`. An invalid pattern matches nothing and,
// when `error` is given, says why there ("invalid regex at 3: missing )"). A search that
// cannot finish within the limits above throws Error (it is neither a match nor a non-match).
bool regex_search(const std::string& pattern, const std::string& subject,
                  std::string* error = nullptr, bool caseless = false);

}  // namespace xops
