#include "core/refs/tag_name.hpp"

#include <cctype>
#include <cstdlib>

namespace xops::registry {

namespace {

bool name_char(char c, bool slash) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         (slash && c == '/');
}

bool valid_name(const std::string& s, bool slash) {
  if (s.empty() || s.size() > 200) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!name_char(s[i], slash)) return false;
    if (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '/') return false;
  }
  return true;
}

// A non-negative decimal without leading zeros (SemVer's numeric identifier).
std::optional<long> numeric(const std::string& s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;
  return std::strtol(s.c_str(), nullptr, 10);
}

bool valid_identifiers(const std::string& s) {  // dot-separated [0-9A-Za-z-]+
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    auto dot = s.find('.', start);
    auto part = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) return false;
    for (char c : part)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

int compare_prerelease(const std::string& a, const std::string& b) {
  if (a == b) return 0;
  if (a.empty()) return 1;  // a release outranks its prereleases
  if (b.empty()) return -1;
  size_t i = 0, j = 0;
  while (i <= a.size() && j <= b.size()) {
    auto ea = a.find('.', i), eb = b.find('.', j);
    auto pa = a.substr(i, ea == std::string::npos ? std::string::npos : ea - i);
    auto pb = b.substr(j, eb == std::string::npos ? std::string::npos : eb - j);
    auto na = numeric(pa), nb = numeric(pb);
    int c = 0;
    if (na && nb)
      c = *na < *nb ? -1 : *na > *nb ? 1 : 0;
    else if (na)
      c = -1;  // numeric identifiers rank below alphanumeric ones
    else if (nb)
      c = 1;
    else
      c = pa.compare(pb) < 0 ? -1 : pa.compare(pb) > 0 ? 1 : 0;
    if (c) return c;
    if (ea == std::string::npos || eb == std::string::npos) {
      if (ea == eb) return 0;
      return ea == std::string::npos ? -1 : 1;  // fewer fields ranks lower
    }
    i = ea + 1, j = eb + 1;
  }
  return 0;
}

}  // namespace

std::string SemVer::str() const {
  auto s = "v" + std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  if (!prerelease.empty()) s += "-" + prerelease;
  if (!build.empty()) s += "+" + build;
  return s;
}

std::optional<SemVer> parse_semver(const std::string& s) {
  if (s.size() < 6 || s[0] != 'v') return std::nullopt;
  auto rest = s.substr(1);
  SemVer v;
  if (auto plus = rest.find('+'); plus != std::string::npos) {
    v.build = rest.substr(plus + 1);
    if (!valid_identifiers(v.build)) return std::nullopt;
    rest.resize(plus);
  }
  if (auto dash = rest.find('-'); dash != std::string::npos) {
    v.prerelease = rest.substr(dash + 1);
    if (!valid_identifiers(v.prerelease)) return std::nullopt;
    for (size_t i = 0, e; i <= v.prerelease.size(); i = e + 1) {  // numeric parts: no leading 0
      e = v.prerelease.find('.', i);
      if (e == std::string::npos) e = v.prerelease.size();
      auto part = v.prerelease.substr(i, e - i);
      bool digits = part.find_first_not_of("0123456789") == std::string::npos;
      if (digits && !numeric(part)) return std::nullopt;
    }
    rest.resize(dash);
  }
  auto d1 = rest.find('.'), d2 = d1 == std::string::npos ? d1 : rest.find('.', d1 + 1);
  if (d2 == std::string::npos || rest.find('.', d2 + 1) != std::string::npos) return std::nullopt;
  auto a = numeric(rest.substr(0, d1)), b = numeric(rest.substr(d1 + 1, d2 - d1 - 1)),
       c = numeric(rest.substr(d2 + 1));
  if (!a || !b || !c) return std::nullopt;
  v.major = *a, v.minor = *b, v.patch = *c;
  return v;
}

int compare(const SemVer& a, const SemVer& b) {
  for (auto [x, y] : {std::pair{a.major, b.major}, {a.minor, b.minor}, {a.patch, b.patch}})
    if (x != y) return x < y ? -1 : 1;
  return compare_prerelease(a.prerelease, b.prerelease);
}

const char* action_name(Action a) {
  switch (a) {
    case Action::Register:
      return "register";
    case Action::Deregister:
      return "deregister";
    case Action::Assign:
      return "assign";
    case Action::Unassign:
      return "unassign";
    case Action::Deprecate:
      return "deprecate";
  }
  return "?";
}

bool valid_artifact_name(const std::string& s) {
  return valid_name(s, true);
}
bool valid_stage_name(const std::string& s) {
  return valid_name(s, false);
}

std::optional<TagName> parse_tag_name(const std::string& tag) {
  if (tag.size() > 512) return std::nullopt;
  TagName t;
  std::string body = tag;
  // A trailing #N is the counter (the stage form's own '#' comes before it).
  auto last_hash = body.rfind('#');
  auto at = body.find('@');
  auto first_hash = body.find('#');
  if (last_hash != std::string::npos && last_hash != first_hash) {
    auto n = numeric(body.substr(last_hash + 1));
    if (!n || *n == 0) return std::nullopt;
    t.counter = static_cast<int>(*n);
    body.resize(last_hash);
  } else if (at != std::string::npos && last_hash != std::string::npos && last_hash > at) {
    auto n = numeric(body.substr(last_hash + 1));  // name@v1.0.0#3, name@deprecated#3
    if (!n || *n == 0) return std::nullopt;
    t.counter = static_cast<int>(*n);
    body.resize(last_hash);
  }
  at = body.find('@');
  first_hash = body.find('#');
  if (at != std::string::npos && first_hash == std::string::npos) {
    t.artifact = body.substr(0, at);
    auto what = body.substr(at + 1);
    if (what == "deprecated") {
      t.action = Action::Deprecate;
    } else {
      t.action = Action::Register;
      if (!what.empty() && what.back() == '!') {
        t.action = Action::Deregister;
        what.pop_back();
      }
      if (!parse_semver(what)) return std::nullopt;
      t.version = what;
    }
  } else if (first_hash != std::string::npos && at == std::string::npos) {
    t.artifact = body.substr(0, first_hash);
    t.stage = body.substr(first_hash + 1);
    t.action = Action::Assign;
    if (!t.stage.empty() && t.stage.back() == '!') {
      t.action = Action::Unassign;
      t.stage.pop_back();
    }
    if (!valid_stage_name(t.stage)) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (!valid_artifact_name(t.artifact)) return std::nullopt;
  return t;
}

std::string format_tag_name(const TagName& t) {
  std::string s = t.artifact;
  switch (t.action) {
    case Action::Register:
      s += "@" + t.version;
      break;
    case Action::Deregister:
      s += "@" + t.version + "!";
      break;
    case Action::Assign:
      s += "#" + t.stage;
      break;
    case Action::Unassign:
      s += "#" + t.stage + "!";
      break;
    case Action::Deprecate:
      s += "@deprecated";
      break;
  }
  if (t.counter > 0) s += "#" + std::to_string(t.counter);
  return s;
}

}  // namespace xops::registry
