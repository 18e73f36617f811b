#pragma once
// Small string helpers shared by the parsers (suites, assertion shorthands, AWS settings).
#include <string>

namespace xops {

// s without leading and trailing characters from `ws`.
inline std::string trim(const std::string& s, const char* ws = " \t\r\n") {
  auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// ASCII lower case (bytes >= 0x80 unchanged).
inline std::string ascii_lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace xops
