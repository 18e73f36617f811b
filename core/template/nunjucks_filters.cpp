// Nunjucks' built-in filters as a table: name -> function. The parser accepts exactly these
// names (filter_names) and apply_filter dispatches through the same table, so a filter cannot
// be listed without being implemented, or implemented without being listed.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/template/nunjucks_budget.hpp"
#include "core/template/nunjucks_builtins.hpp"
#include "core/util/strings.hpp"

namespace xops::nunjucks::builtins {

namespace {

// A filter's arguments; a missing one is undefined, as in JavaScript.
struct Args {
  const std::string& filter;  // the name it was called by (aliases share a function)
  const std::vector<json>& list;
  json operator[](size_t i) const { return i < list.size() ? list[i] : kUndefined; }
  bool empty() const { return list.empty(); }
};

std::string map_chars(std::string s, int (*f)(int)) {
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x80)
      c = static_cast<char>(f(static_cast<unsigned char>(c)));
  return s;
}

std::string js_trim(const std::string& s) {
  return trim(s, " \t\r\n\f\v");
}  // String.prototype.trim

json filter_safe(const json& v, const Args& a) {
  return a.filter == "string" ? json(text(v)) : v;
}

json filter_upper(const json& v, const Args& /*a*/) {
  return map_chars(text(v), ::toupper);
}

json filter_lower(const json& v, const Args& /*a*/) {
  return map_chars(text(v), ::tolower);
}

json filter_trim(const json& v, const Args& /*a*/) {
  return js_trim(text(v));
}

json filter_capitalize(const json& v, const Args& /*a*/) {
  auto s = map_chars(text(v), ::tolower);
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

// Nunjucks: each ' '-separated word capitalized (lower-cased, its first letter upper).
json filter_title(const json& v, const Args& /*a*/) {
  auto s = map_chars(text(v), ::tolower);
  bool start = true;
  for (auto& c : s) {
    if (start) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    start = c == ' ';
  }
  return s;
}

json filter_default(const json& v, const Args& a) {
  bool falsy_too = truthy(a[1]);
  return (undefined(v) || (falsy_too && !truthy(v))) ? a[0] : v;
}

// The most bytes one string takes in a dump: control characters escape to up to 6 bytes,
// quotes and backslashes to 2, an invalid UTF-8 byte becomes U+FFFD (3).
size_t dumped_string_bound(const std::string& s) {
  size_t n = 2;
  for (unsigned char c : s) n += c < 0x20 ? 6 : (c == '"' || c == '\\') ? 2 : c >= 0x80 ? 3 : 1;
  return n;
}

// An upper bound on v.dump(indent)'s length: each item in a pretty dump sits on its own
// indented line.
size_t dumped_size_bound(const json& v, int indent) {
  size_t total = 0;
  std::vector<std::pair<const json*, size_t>> todo{{&v, 1}};
  while (!todo.empty() && total <= budget::kMaxValueBytes) {
    auto [j, depth] = todo.back();
    todo.pop_back();
    total += 32 + (indent > 0 ? static_cast<size_t>(indent) * depth : 0);
    if (j->is_string()) total += dumped_string_bound(j->get_ref<const std::string&>());
    if (j->is_array())
      for (const auto& x : *j) todo.emplace_back(&x, depth + 1);
    if (j->is_object())
      for (auto it = j->begin(); it != j->end(); ++it) {
        total += dumped_string_bound(it.key());
        todo.emplace_back(&it.value(), depth + 1);
      }
  }
  return total;
}

// JSON.stringify(v, null, indent)
json filter_dump(const json& v, const Args& a) {
  if (undefined(v)) return "";
  int indent = a.empty() ? -1 : static_cast<int>(to_int(number(a[0]), -1, 16, -1));
  budget::check_growth(dumped_size_bound(v, indent), "dump's output");
  return v.dump(indent > 0 ? indent : -1, ' ', false, json::error_handler_t::replace);
}

// promptfoo's: JSON.parse
json filter_load(const json& v, const Args& /*a*/) {
  try {
    return json::parse(text(v));
  } catch (const json::exception&) {
    return kUndefined;
  }
}

json filter_length(const json& v, const Args& /*a*/) {
  if (v.is_array() || v.is_object()) return v.size();
  if (v.is_string()) return utf8_length(v.get_ref<const std::string&>());
  return 0;
}

json filter_join(const json& v, const Args& a) {
  std::string sep = undefined(a[0]) ? "" : text(a[0]), out;
  if (!v.is_array()) return text(v);
  for (size_t i = 0; i < v.size(); ++i) {
    out += (i ? sep : "") + text(undefined(a[1]) ? v[i] : member(v[i], a[1]));
    budget::check_growth(out.size(), "join's output");
  }
  return out;
}

json filter_first(const json& v, const Args& a) {
  if (v.is_array()) return v.empty() ? kUndefined : (a.filter == "first" ? v.front() : v.back());
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return s.empty() ? kUndefined
                     : json(a.filter == "first" ? s.substr(0, 1) : s.substr(s.size() - 1));
  }
  return kUndefined;
}

json filter_replace(const json& v, const Args& a) {
  auto s = text(v), from = text(a[0]), to = text(a[1]);
  long long max = undefined(a[2]) ? -1 : to_int(number(a[2]), -1, 1 << 30, -1);
  if (from.empty()) {  // Nunjucks (as Python): "abc"|replace("", ".") is ".a.b.c."
    budget::check_growth(s.size() + (s.size() + 1) * to.size(), "replace's output");
    std::string out = to;
    for (size_t i = 0; i < s.size(); ++i) {
      out += s[i];
      bool continues = i + 1 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80;
      if (!continues) out += to;  // between characters, not inside a UTF-8 sequence
    }
    return out;
  }
  std::string out;
  size_t pos = 0;
  long long n = 0;
  for (size_t hit; (max < 0 || n < max) && (hit = s.find(from, pos)) != std::string::npos; ++n) {
    out += s.substr(pos, hit - pos) + to;
    pos = hit + from.size();
    budget::check_growth(out.size(), "replace's output");
  }
  return out + s.substr(pos);
}

json filter_reverse(const json& v, const Args& /*a*/) {
  if (v.is_array()) return json(std::vector<json>(v.rbegin(), v.rend()));
  auto s = text(v);
  return std::string(s.rbegin(), s.rend());
}

json filter_list(const json& v, const Args& /*a*/) {
  if (v.is_array()) return v;
  json out = json::array();
  if (v.is_string()) {
    budget::check_growth(v.get_ref<const std::string&>().size() * 17, "list's output");
    for (char c : v.get<std::string>()) out.push_back(std::string(1, c));
  } else if (v.is_object())
    for (auto& [k, x] : v.items()) out.push_back(k);
  return out;
}

json filter_sort(const json& v, const Args& a) {
  if (!v.is_array()) return v;
  std::vector<json> items(v.begin(), v.end());
  bool rev = truthy(a[0]);
  std::stable_sort(items.begin(), items.end(), [&](const json& x, const json& y) {
    json kx = undefined(a[2]) ? x : member(x, a[2]), ky = undefined(a[2]) ? y : member(y, a[2]);
    int c = compare_values(kx, ky);
    return rev ? c > 0 : c < 0;
  });
  return json(items);
}

json filter_abs(const json& v, const Args& /*a*/) {
  return num_value(std::fabs(number(v)));
}

json filter_int(const json& v, const Args& a) {
  double d = number(v);
  return std::isnan(d) ? (undefined(a[0]) ? json(0) : a[0])
                       : json(to_int(d, -(1LL << 53), 1LL << 53, 0));
}

json filter_float(const json& v, const Args& a) {
  double d = number(v);
  return std::isnan(d) ? (undefined(a[0]) ? json(0.0) : a[0]) : json(d);
}

json filter_round(const json& v, const Args& a) {
  int prec = undefined(a[0]) ? 0 : static_cast<int>(to_int(number(a[0]), -20, 20, 0));
  auto method = undefined(a[1]) ? std::string("common") : text(a[1]);
  double m = std::pow(10.0, prec), d = number(v) * m;
  d = method == "ceil" ? std::ceil(d) : method == "floor" ? std::floor(d) : std::round(d);
  return num_value(d / m);
}

json filter_sum(const json& v, const Args& a) {
  double s = 0;
  if (v.is_array())
    for (const auto& x : v) s += number(undefined(a[0]) ? x : member(x, a[0]));
  return num_value(s);
}

json filter_wordcount(const json& v, const Args& /*a*/) {
  auto s = text(v);
  size_t n = 0;
  bool in = false;
  for (char c : s) {
    bool w = !std::isspace(static_cast<unsigned char>(c));
    n += w && !in;
    in = w;
  }
  return n;
}

// Nunjucks: `length || 255`; without killwords, cut at the last space at or before `length`
// (lastIndexOf(' ', length)), else at `length`. Lengths count bytes (JavaScript: UTF-16 units).
json filter_truncate(const json& v, const Args& a) {
  auto s = text(v);
  size_t len = static_cast<size_t>(to_int(number(a[0]), 0, 1 << 30, 0));
  if (len == 0) len = 255;
  if (s.size() <= len) return s;
  bool killwords = truthy(a[1]);
  std::string end = undefined(a[2]) || a[2].is_null() ? "..." : text(a[2]);
  size_t cut = len;
  if (!killwords) {
    auto sp = s.rfind(' ', len);
    if (sp != std::string::npos) cut = sp;
  }
  return s.substr(0, cut) + end;
}

json filter_escape(const json& v, const Args& /*a*/) {
  std::string out;
  for (char c : text(v)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

json filter_nl2br(const json& v, const Args& /*a*/) {
  std::string out;
  for (char c : text(v)) out += c == '\n' ? std::string("<br />\n") : std::string(1, c);
  return out;
}

json filter_striptags(const json& v, const Args& /*a*/) {
  std::string out;
  bool in = false;
  for (char c : text(v)) {
    if (c == '<')
      in = true;
    else if (c == '>')
      in = false;
    else if (!in)
      out += c;
  }
  return js_trim(out);
}

json filter_urlencode(const json& v, const Args& /*a*/) {
  std::string out;
  for (unsigned char c : text(v)) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

json filter_indent(const json& v, const Args& a) {
  int width = undefined(a[0]) ? 4 : static_cast<int>(to_int(number(a[0]), 0, 256, 4));
  bool first = truthy(a[1]);
  std::string pad(static_cast<size_t>(std::max(0, width)), ' '), s = text(v), out;
  bool line_start = first;
  for (char c : s) {
    if (line_start && c != '\n') {
      out += pad;
      budget::check_growth(out.size(), "indent's output");
    }
    out += c;
    line_start = c == '\n';
  }
  return out;
}

json filter_batch(const json& v, const Args& a) {
  json out = json::array();
  size_t n = static_cast<size_t>(to_int(number(a[0]), 1, 1 << 30, 1));
  if (v.is_array())
    for (size_t i = 0; i < v.size(); i += n) {
      json row = json::array();
      for (size_t j = i; j < std::min(v.size(), i + n); ++j) row.push_back(v[j]);
      out.push_back(row);
    }
  return out;
}

json filter_select(const json& v, const Args& a) {
  json out = json::array();
  if (v.is_array())
    for (const auto& x : v) {
      bool t = undefined(a[0]) ? truthy(x) : truthy(apply_test(text(a[0]), x, a[1]));
      if (t == (a.filter == "select")) out.push_back(x);
    }
  return out;
}

struct Filter {
  const char* name;
  json (*apply)(const json& v, const Args& a);
};

const Filter kFilters[] = {
    {"safe", filter_safe},
    {"string", filter_safe},
    {"upper", filter_upper},
    {"lower", filter_lower},
    {"trim", filter_trim},
    {"capitalize", filter_capitalize},
    {"title", filter_title},
    {"default", filter_default},
    {"d", filter_default},
    {"dump", filter_dump},
    {"load", filter_load},
    {"length", filter_length},
    {"join", filter_join},
    {"first", filter_first},
    {"last", filter_first},
    {"replace", filter_replace},
    {"reverse", filter_reverse},
    {"list", filter_list},
    {"sort", filter_sort},
    {"abs", filter_abs},
    {"int", filter_int},
    {"float", filter_float},
    {"round", filter_round},
    {"sum", filter_sum},
    {"wordcount", filter_wordcount},
    {"truncate", filter_truncate},
    {"escape", filter_escape},
    {"e", filter_escape},
    {"nl2br", filter_nl2br},
    {"striptags", filter_striptags},
    {"urlencode", filter_urlencode},
    {"indent", filter_indent},
    {"batch", filter_batch},
    {"select", filter_select},
    {"reject", filter_select},
};

}  // namespace

const std::vector<std::string>& filter_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& f : kFilters) n.push_back(f.name);
    return n;
  }();
  return names;
}

json apply_filter(const std::string& name, const json& v, const std::vector<json>& args) {
  for (const auto& f : kFilters)
    if (name == f.name) return f.apply(v, Args{name, args});
  return kUndefined;
}

}  // namespace xops::nunjucks::builtins
