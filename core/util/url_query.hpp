#pragma once
// A URL query string ("a=1&b=x%20y") as a map: percent-decoded, '+' as a space; the last
// of a repeated key wins. Malformed escapes are kept as they are.
#include <map>
#include <string>

namespace xops {

std::map<std::string, std::string> parse_query(const std::string& query);
std::string percent_decode(const std::string& s);

}  // namespace xops
