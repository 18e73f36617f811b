#pragma once
// A JSON library error as a person reads it: without nlohmann's "[json.exception.parse_error.101]"
// tag, with control bytes of the offending input shown as \xNN (a NUL would cut the message).
#include <cstdio>
#include <exception>
#include <string>

namespace xops {

// Control bytes as \xNN: text from outside (a model name, a tag message) quoted in a message.
inline std::string escape_control(const std::string& what) {
  std::string out;
  for (unsigned char c : what) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

inline std::string json_error(const std::exception& e) {
  std::string what = e.what();
  if (what.rfind("[json.exception.", 0) == 0) {
    auto end = what.find("] ");
    if (end != std::string::npos) what.erase(0, end + 2);
  }
  return escape_control(what);
}

}  // namespace xops
