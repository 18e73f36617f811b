#include "core/util/regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>

#include "core/error.hpp"

namespace xops {

bool regex_search(const std::string& pattern, const std::string& subject, std::string* error,
                  bool caseless) {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* re =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | (caseless ? PCRE2_CASELESS : 0), &err, &off, nullptr);
  if (!re) {
    if (error) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(err, buf, sizeof buf);
      *error = fmt::format("invalid regex at {}: {}", off, reinterpret_cast<char*>(buf));
    }
    return false;
  }
  auto* md = pcre2_match_data_create_from_pattern(re, nullptr);
  // Explicit bounds on backtracking (the library's defaults, stated): a pattern such as
  // (.*a){20} on a long output stops here instead of running for minutes.
  auto* mc = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(mc, kRegexMatchLimit);
  pcre2_set_heap_limit(mc, kRegexHeapLimitKiB);
  int rc =
      pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(subject.c_str()), subject.size(), 0, 0, md, mc);
  pcre2_match_context_free(mc);
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  if (rc >= 0) return true;
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  // Not "no match": the search could not finish. Read as a non-match, a not-regex guard would
  // pass on an output built to exhaust it.
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(rc, buf, sizeof buf);
  throw runtime_error(
      fmt::format("the regex /{}/ could not be decided on this {}-byte text: {}", pattern,
                  subject.size(), reinterpret_cast<char*>(buf)),
      "simplify the pattern (nested quantifiers such as (.*a){20} backtrack exponentially)");
}

}  // namespace xops
