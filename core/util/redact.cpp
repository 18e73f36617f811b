#include "core/util/redact.hpp"

#include <algorithm>
#include <cctype>

namespace xops {

std::string redact(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    if (s.size() < 4) continue;  // too short to be a key, too likely to be ordinary text
    for (size_t p = text.find(s); p != std::string::npos; p = text.find(s, p + 3))
      text.replace(p, s.size(), "***");
  }
  // user:password@ after a scheme
  for (size_t p = text.find("://"); p != std::string::npos; p = text.find("://", p + 3)) {
    size_t start = p + 3, end = start;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])) &&
           text[end] != '/' && text[end] != '@' && text[end] != '"' && text[end] != '\'')
      ++end;
    if (end < text.size() && text[end] == '@' && end > start)
      text.replace(start, end - start, "***");
  }
  return text;
}

std::string url_origin(const std::string& url) {
  auto sep = url.find("://");
  if (sep == std::string::npos) return {};
  std::string scheme = url.substr(0, sep);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (scheme != "http" && scheme != "https") return {};
  auto rest = url.substr(sep + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  std::transform(rest.begin(), rest.end(), rest.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (rest.empty()) return {};
  bool has_port = false;
  if (rest.front() == '[')
    has_port = rest.find("]:") != std::string::npos;  // [::1]:8080
  else
    has_port = rest.find(':') != std::string::npos;
  if (!has_port) rest += scheme == "https" ? ":443" : ":80";
  return scheme + "://" + rest;
}

}  // namespace xops
