#include "core/project/s3_url.hpp"

#include <fmt/format.h>

#include <cctype>

#include "core/error.hpp"

namespace xops {

namespace {

// DNS-compatible names (S3's rules, loosely): 3-63 of [a-z0-9.-], starting and ending alphanumeric.
bool valid_bucket(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b)
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.'))
      return false;
  return std::isalnum(static_cast<unsigned char>(b.front())) &&
         std::isalnum(static_cast<unsigned char>(b.back()));
}

}  // namespace

S3Location parse_s3_url(const std::string& url) {
  if (url.rfind("s3://", 0) != 0) throw usage_error(fmt::format("'{}' is not an s3:// URL", url));
  auto rest = url.substr(5);
  auto slash = rest.find('/');
  S3Location l;
  l.bucket = rest.substr(0, slash);
  if (slash != std::string::npos) l.prefix = rest.substr(slash + 1);
  while (!l.prefix.empty() && l.prefix.back() == '/') l.prefix.pop_back();
  if (!valid_bucket(l.bucket))
    throw usage_error(
        fmt::format("'{}': '{}' is not a bucket name", url, l.bucket),
        "3-63 characters: lower-case letters, digits, '-' and '.'; e.g. s3://my-bucket/xops");
  for (const auto& bad : {"//", "/./", "/../"})
    if (("/" + l.prefix + "/").find(bad) != std::string::npos && !l.prefix.empty())
      throw usage_error(
          fmt::format("'{}': the prefix '{}' has an empty, '.' or '..' part", url, l.prefix));
  for (char c : l.prefix)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\')
      throw usage_error(
          fmt::format("'{}': the prefix has a control character or a backslash", url));
  return l;
}

}  // namespace xops
