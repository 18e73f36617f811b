#include "core/util/env_file.hpp"

#include <cctype>

#include "core/error.hpp"

namespace xops {

std::map<std::string, std::string> parse_env_file(const std::string& text,
                                                  const std::string& file) {
  std::map<std::string, std::string> out;
  size_t i = 0, line = 1;
  auto fail = [&](const std::string& what) {
    throw usage_error(fmt::format("{}:{}: {}", file, line, what),
                      "lines are KEY=VALUE (values may be quoted)");
  };
  while (i < text.size()) {
    size_t start_line = line;
    auto skip_blanks = [&] {
      while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    };
    skip_blanks();
    if (i >= text.size()) break;
    if (text[i] == '\n' || text[i] == '\r' || text[i] == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
      if (i < text.size()) ++i, ++line;
      continue;
    }
    if (text.compare(i, 7, "export ") == 0) i += 7, skip_blanks();
    size_t k = i;
    while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) ||
                               text[i] == '_' || text[i] == '.' || text[i] == '-'))
      ++i;
    auto key = text.substr(k, i - k);
    skip_blanks();
    if (key.empty() || i >= text.size() || text[i] != '=') fail("expected KEY=VALUE");
    ++i;
    skip_blanks();
    std::string value;
    if (i < text.size() && (text[i] == '"' || text[i] == '\'')) {
      char q = text[i++];
      bool closed = false;
      while (i < text.size()) {
        char c = text[i++];
        if (c == '\n') ++line;
        if (c == q) {
          closed = true;
          break;
        }
        if (q == '"' && c == '\\' && i < text.size()) {
          char e = text[i++];
          value += e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
        } else {
          value += c;
        }
      }
      if (!closed) {
        line = start_line;
        fail(fmt::format("the value of {} has no closing {}", key, q));
      }
      skip_blanks();
      if (i < text.size() && text[i] == '#')
        while (i < text.size() && text[i] != '\n') ++i;
      if (i < text.size() && text[i] == '\r') ++i;
      if (i < text.size() && text[i] != '\n') fail("unexpected text after the closing quote");
    } else {
      size_t b = i;
      while (i < text.size() && text[i] != '\n') ++i;
      value = text.substr(b, i - b);
      auto hash = value.find(" #");
      if (hash != std::string::npos) value.resize(hash);
      while (!value.empty() &&
             (value.back() == ' ' || value.back() == '\t' || value.back() == '\r'))
        value.pop_back();
    }
    out[key] = value;
    if (i < text.size() && text[i] == '\n') ++i, ++line;
  }
  return out;
}

}  // namespace xops
