#pragma once
// Regular expressions as suites write them, through PCRE2 in UTF + UCP mode (promptfoo's are
// JavaScript's; the common subset behaves the same).
#include <string>

namespace xops {

// Whether `pattern` matches somewhere in `subject`. An invalid pattern matches nothing and,
// when `error` is given, says why there ("invalid regex at 3: missing )").
bool regex_search(const std::string& pattern, const std::string& subject,
                  std::string* error = nullptr, bool caseless = false);

}  // namespace xops
