#include "core/util/regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>

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
  int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(subject.c_str()), subject.size(), 0, 0, md,
                       nullptr);
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return rc >= 0;
}

}  // namespace xops
