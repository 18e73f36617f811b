#include "core/refs/tag_name.hpp"

#include <cctype>
#include <cstdlib>

namespace xops::registry {

namespace {

// gto's `name`: [a-z0-9]([a-z0-9-/]*[a-z0-9])? (gto/constants.py), for artifacts and stages.
bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-' && c != '/') return false;
  return true;
}

// gto's `dirname`: [a-z0-9-_./]+, the optional prefix of a full name (`dirname:name`).
bool valid_dirname(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
          c == '/'))
      return false;
  return true;
}

// A full name, with `sep` between dirname and name (':' in names, '=' in tags).
bool valid_fullname(const std::string& s, char sep) {
  auto at = s.find(sep);
  if (at == std::string::npos) return valid_name(s);
  return valid_dirname(s.substr(0, at)) && valid_name(s.substr(at + 1));
}

// gto's counter: [0-9]+.
std::optional<int> counter_of(const std::string& s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  return std::atoi(s.c_str());
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
    case Action::Create:
      return "create";
  }
  return "?";
}

bool valid_artifact_name(const std::string& s) {
  return valid_fullname(s, ':');
}
bool valid_stage_name(const std::string& s) {
  return valid_name(s);
}

// gto's tag_re: ARTIFACT ( (#STAGE | @vSEMVER) !? | @deprecated | @created ) (#COUNTER)?,
// where ARTIFACT is a full name with '=' between dirname and name.
std::optional<TagName> parse_tag_name(const std::string& tag) {
  if (tag.size() > 512) return std::nullopt;
  auto mark = tag.find_first_of("@#");
  if (mark == std::string::npos) return std::nullopt;
  TagName t;
  t.artifact = tag.substr(0, mark);
  if (!valid_fullname(t.artifact, '=')) return std::nullopt;
  auto rest = tag.substr(mark + 1);
  // The counter: what follows the first '#' after the action part (neither a stage nor a
  // version has a '#').
  if (auto h = rest.find('#'); h != std::string::npos) {
    auto n = counter_of(rest.substr(h + 1));
    if (!n) return std::nullopt;
    t.counter = *n;
    rest.resize(h);
  }
  bool cancel = !rest.empty() && rest.back() == '!';
  if (tag[mark] == '#') {
    t.stage = cancel ? rest.substr(0, rest.size() - 1) : rest;
    t.action = cancel ? Action::Unassign : Action::Assign;
    if (!valid_name(t.stage)) return std::nullopt;
  } else if (rest == "deprecated" || rest == "created") {
    t.action = rest == "deprecated" ? Action::Deprecate : Action::Create;
  } else {
    t.version = cancel ? rest.substr(0, rest.size() - 1) : rest;
    t.action = cancel ? Action::Deregister : Action::Register;
    if (!parse_semver(t.version)) return std::nullopt;
  }
  if (auto eq = t.artifact.find('='); eq != std::string::npos) t.artifact[eq] = ':';
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
    case Action::Create:
      s += "@created";
      break;
  }
  if (auto colon = s.find(':'); colon != std::string::npos) s[colon] = '=';
  if (t.counter > 0) s += "#" + std::to_string(t.counter);
  return s;
}

}  // namespace xops::registry
