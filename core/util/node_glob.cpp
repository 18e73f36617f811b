#include "core/util/node_glob.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <set>

#include "core/error.hpp"

namespace xops {

namespace fs = std::filesystem;

namespace {

bool is_pattern(const std::string& seg) {
  return seg.find_first_of("*?[") != std::string::npos;
}

struct Walk {
  const std::vector<std::string>& segs;
  const NodeGlobLimits& limits;
  const std::string& pattern;
  std::vector<fs::path> out;
  std::set<std::string> seen;
  size_t entries = 0;

  // The directory's entries, last to first in byte order (glob 13 over Node's sorted listing).
  std::vector<fs::directory_entry> listing(const fs::path& dir) {
    std::vector<fs::directory_entry> list;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (++entries > limits.max_entries)
        throw runtime_error(
            fmt::format("{} looks at over {} directory entries", pattern, limits.max_entries),
            "narrow the pattern");
      list.push_back(*it);
    }
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
      return a.path().filename().string() > b.path().filename().string();
    });
    return list;
  }

  void emit(const fs::path& p) {
    if (!seen.insert(p.string()).second) return;
    if (out.size() >= limits.max_matches)
      throw runtime_error(fmt::format("{} matches over {} files", pattern, limits.max_matches),
                          "narrow the pattern");
    out.push_back(p);
  }

  void walk(const fs::path& at, size_t i) {
    std::error_code ec;
    if (i == segs.size()) {
      if (fs::exists(at, ec)) emit(at);
      return;
    }
    const auto& seg = segs[i];
    if (seg == "**") {
      walk(at, i + 1);  // no directory at all
      if (!fs::is_directory(at, ec)) return;
      for (const auto& e : listing(at)) {
        auto name = e.path().filename().string();
        if (name[0] == '.') continue;
        if (i + 1 == segs.size()) emit(e.path());  // a trailing ** matches files too
        if (e.is_directory(ec) && !e.is_symlink(ec)) walk(e.path(), i);
      }
      return;
    }
    if (!is_pattern(seg)) {
      walk(at / seg, i + 1);
      return;
    }
    if (!fs::is_directory(at, ec)) return;
    for (const auto& e : listing(at)) {
      auto name = e.path().filename().string();
      if (fnmatch(seg.c_str(), name.c_str(), FNM_PERIOD) != 0) continue;
      if (i + 1 == segs.size())
        emit(e.path());
      else if (e.is_directory(ec))
        walk(e.path(), i + 1);
    }
  }
};

}  // namespace

std::vector<fs::path> node_glob(const std::string& pattern, const NodeGlobLimits& limits) {
  std::vector<std::string> segs;
  size_t start = 0;
  while (start <= pattern.size()) {
    auto slash = pattern.find('/', start);
    auto seg =
        pattern.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!seg.empty() && seg != ".") segs.push_back(seg);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  Walk w{segs, limits, pattern, {}, {}, 0};
  w.walk(!pattern.empty() && pattern[0] == '/' ? fs::path("/") : fs::path("."), 0);
  return std::move(w.out);
}

}  // namespace xops
