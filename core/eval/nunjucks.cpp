#include "core/eval/nunjucks.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.hpp"

namespace xops::nunjucks {

namespace {

using json = nlohmann::json;

const json kUndefined = json(json::value_t::discarded);
bool undefined(const json& v) {
  return v.is_discarded();
}

// ---- values with JavaScript's conversions (Nunjucks compiles to JS)

bool truthy(const json& v) {
  if (undefined(v) || v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) {
    double d = v.get<double>();
    return d != 0 && !std::isnan(d);
  }
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  return true;  // arrays and objects, even empty ones
}

std::string number_text(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  if (d == std::floor(d) && std::fabs(d) < 1e21) return fmt::format("{:.0f}", d);
  return fmt::format("{}", d);
}

std::string text(const json& v) {
  if (undefined(v) || v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) return number_text(v.get<double>());
  if (v.is_array()) {  // Array.prototype.toString
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + text(v[i]);
    return s;
  }
  return "[object Object]";
}

double number(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  if (v.is_null()) return 0;
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    auto b = s.find_first_not_of(" \t\n\r");
    if (b == std::string::npos) return 0;
    char* end = nullptr;
    double d = std::strtod(s.c_str() + b, &end);
    while (end && *end && std::isspace(static_cast<unsigned char>(*end))) ++end;
    return end && *end == 0 ? d : NAN;
  }
  return NAN;
}

// A number from a template as an integer in [lo, hi] (NaN gives dflt): no undefined casts.
long long to_int(double d, long long lo, long long hi, long long dflt) {
  if (std::isnan(d)) return dflt;
  if (d <= static_cast<double>(lo)) return lo;
  if (d >= static_cast<double>(hi)) return hi;
  return static_cast<long long>(d);
}

json num_value(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15)
    return json(static_cast<long long>(d));
  return json(d);
}

bool loose_equal(const json& a, const json& b) {
  bool an = undefined(a) || a.is_null(), bn = undefined(b) || b.is_null();
  if (an || bn) return an && bn;
  if (a.is_string() && b.is_string()) return a == b;
  if ((a.is_number() || a.is_boolean() || a.is_string()) &&
      (b.is_number() || b.is_boolean() || b.is_string()))
    return number(a) == number(b);
  return a == b;  // arrays/objects: JS compares identity; equal structure is the closest here
}

int compare_values(const json& a, const json& b) {  // <0, 0, >0; strings lexicographic
  if (a.is_string() && b.is_string())
    return a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
  double x = number(a), y = number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// ---- tokens of an expression

struct Tok {
  enum Kind { Name, Num, Str, Op, End } kind = End;
  std::string s;
  double num = 0;
  int line = 1;
};

struct Error_ {
  std::string where;
  [[noreturn]] void at(int line, const std::string& msg, const std::string& hint = {}) const {
    throw runtime_error(
        fmt::format("{}:{}: {}", where, line, msg),
        hint.empty() ? "xops renders the Nunjucks subset promptfoo prompts use (docs/eval.md)"
                     : hint);
  }
};

// Lexes an expression from `pos` up to the closing delimiter `close` ("}}" or "%}"), leaving
// pos after it; `trim_after` reports a '-' before the delimiter.
std::vector<Tok> lex(const std::string& t, size_t& pos, int& line, const std::string& close,
                     bool& trim_after, const Error_& err) {
  std::vector<Tok> out;
  trim_after = false;
  int start_line = line;
  while (true) {
    if (pos >= t.size())
      err.at(start_line, fmt::format("'{}' is never closed", close == "}}" ? "{{" : "{%"));
    char c = t[pos];
    if (c == '\n') ++line;
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++pos;
      continue;
    }
    if (c == '-' && t.compare(pos + 1, close.size(), close) == 0) {
      trim_after = true;
      pos += 1 + close.size();
      break;
    }
    if (t.compare(pos, close.size(), close) == 0) {
      pos += close.size();
      break;
    }
    Tok k;
    k.line = line;
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t e = pos;
      while (e < t.size() &&
             (std::isdigit(static_cast<unsigned char>(t[e])) || t[e] == '.' || t[e] == '_')) {
        if (t[e] == '.' &&
            (e + 1 >= t.size() || !std::isdigit(static_cast<unsigned char>(t[e + 1]))))
          break;
        ++e;
      }
      std::string digits;
      for (size_t i = pos; i < e; ++i)
        if (t[i] != '_') digits += t[i];
      k.kind = Tok::Num;
      k.num = std::strtod(digits.c_str(), nullptr);
      k.s = digits;
      pos = e;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
               static_cast<unsigned char>(c) >= 0x80) {
      size_t e = pos;
      while (e < t.size() && (std::isalnum(static_cast<unsigned char>(t[e])) || t[e] == '_' ||
                              static_cast<unsigned char>(t[e]) >= 0x80))
        ++e;
      k.kind = Tok::Name;
      k.s = t.substr(pos, e - pos);
      pos = e;
    } else if (c == '"' || c == '\'') {
      std::string s;
      size_t e = pos + 1;
      for (; e < t.size() && t[e] != c; ++e) {
        if (t[e] == '\n') ++line;
        if (t[e] == '\\' && e + 1 < t.size()) {
          char n = t[++e];
          s += n == 'n' ? '\n' : n == 't' ? '\t' : n == 'r' ? '\r' : n;
        } else {
          s += t[e];
        }
      }
      if (e >= t.size()) err.at(k.line, "a string is never closed");
      k.kind = Tok::Str;
      k.s = s;
      pos = e + 1;
    } else {
      static const char* ops[] = {"===", "!==", "**", "//", "==", "!=", "<=", ">=", "(",
                                  ")",   "[",   "]",  "{",  "}",  ",",  ":",  ".",  "|",
                                  "+",   "-",   "*",  "/",  "%",  "~",  "<",  ">",  "="};
      bool found = false;
      for (const char* op : ops)
        if (t.compare(pos, std::strlen(op), op) == 0) {
          k.kind = Tok::Op;
          k.s = op;
          pos += std::strlen(op);
          found = true;
          break;
        }
      if (!found) err.at(line, fmt::format("unexpected character '{}' in an expression", c));
    }
    out.push_back(std::move(k));
  }
  Tok end;
  end.line = line;
  out.push_back(end);
  return out;
}

// ---- expressions

struct Expr;
using EP = std::unique_ptr<Expr>;
struct Expr {
  enum Kind {
    Lit,
    Var,
    Attr,
    Index,
    Not,
    Neg,
    Pos,
    Bin,
    And,
    Or,
    Filter,
    Test,
    Cond,
    List,
    Dict,
    Call
  } kind;
  json lit;
  std::string name;  // variable, attribute, operator, filter, test or function
  std::vector<EP> kids;
  int line = 1;
};

EP make(Expr::Kind k, int line, std::string name = {}) {
  auto e = std::make_unique<Expr>();
  e->kind = k;
  e->line = line;
  e->name = std::move(name);
  return e;
}

const std::vector<std::string>& filter_names() {
  static const std::vector<std::string> f = {
      "abs",       "capitalize", "d",         "default", "dump",    "e",        "escape",
      "first",     "float",      "int",       "join",    "last",    "length",   "list",
      "load",      "lower",      "nl2br",     "replace", "reverse", "round",    "safe",
      "sort",      "string",     "striptags", "title",   "trim",    "truncate", "upper",
      "urlencode", "wordcount",  "batch",     "sum",     "select",  "reject",   "indent"};
  return f;
}
const std::vector<std::string>& test_names() {
  static const std::vector<std::string> t = {
      "defined", "undefined", "none",   "null",    "number",      "string",
      "odd",     "even",      "truthy", "falsy",   "divisibleby", "iterable",
      "mapping", "sameas",    "eq",     "equalto", "lower",       "upper"};
  return t;
}

class ExprParser {
 public:
  ExprParser(std::vector<Tok> toks, const Error_& err) : t_(std::move(toks)), err_(err) {}

  EP parse_all() {
    auto e = expr();
    if (peek().kind != Tok::End) fail_here("unexpected '" + peek().s + "'");
    return e;
  }
  EP expr() {
    // Nesting is bounded: a template from a suite must not exhaust the stack.
    if (++depth_ > 100) err_.at(peek().line, "expression nested too deeply");
    auto e = cond();
    --depth_;
    return e;
  }
  const Tok& peek(size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  bool at_end() const { return peek().kind == Tok::End; }
  bool accept_op(const char* op) {
    if (peek().kind == Tok::Op && peek().s == op) return ++i_, true;
    return false;
  }
  bool accept_name(const char* n) {
    if (peek().kind == Tok::Name && peek().s == n) return ++i_, true;
    return false;
  }
  std::string name() {
    if (peek().kind != Tok::Name) fail_here("expected a name");
    return t_[i_++].s;
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) fail_here(fmt::format("expected '{}'", op));
  }
  [[noreturn]] void fail_here(const std::string& msg) {
    err_.at(peek().line, peek().kind == Tok::End ? msg + " at the end of the expression" : msg);
  }

 private:
  EP cond() {
    auto e = or_();
    if (peek().kind == Tok::Name && peek().s == "if") {
      ++i_;
      auto c = make(Expr::Cond, e->line);
      auto test = or_();
      EP otherwise;
      if (accept_name("else")) {
        otherwise = cond();
      } else {
        otherwise = make(Expr::Lit, e->line);
        otherwise->lit = kUndefined;
      }
      c->kids.push_back(std::move(test));
      c->kids.push_back(std::move(e));
      c->kids.push_back(std::move(otherwise));
      return c;
    }
    return e;
  }
  EP or_() {
    auto e = and_();
    while (accept_name("or")) {
      auto n = make(Expr::Or, e->line);
      n->kids.push_back(std::move(e));
      n->kids.push_back(and_());
      e = std::move(n);
    }
    return e;
  }
  EP and_() {
    auto e = not_();
    while (accept_name("and")) {
      auto n = make(Expr::And, e->line);
      n->kids.push_back(std::move(e));
      n->kids.push_back(not_());
      e = std::move(n);
    }
    return e;
  }
  EP not_() {
    if (peek().kind == Tok::Name && peek().s == "not") {
      int line = peek().line;
      ++i_;
      auto n = make(Expr::Not, line);
      n->kids.push_back(not_());
      return n;
    }
    return compare();
  }
  EP compare() {
    auto e = concat();
    while (true) {
      std::string op;
      if (peek().kind == Tok::Op &&
          (peek().s == "==" || peek().s == "!=" || peek().s == "===" || peek().s == "!==" ||
           peek().s == "<" || peek().s == ">" || peek().s == "<=" || peek().s == ">=")) {
        op = t_[i_++].s;
      } else if (accept_name("in")) {
        op = "in";
      } else if (peek().kind == Tok::Name && peek().s == "not" && peek(1).kind == Tok::Name &&
                 peek(1).s == "in") {
        i_ += 2;
        op = "not in";
      } else if (accept_name("is")) {
        bool negate = accept_name("not");
        auto test_name = name();
        if (std::find(test_names().begin(), test_names().end(), test_name) == test_names().end())
          err_.at(peek().line, fmt::format("unknown test '{}'", test_name),
                  fmt::format("tests: {}", fmt::join(test_names(), ", ")));
        auto n = make(Expr::Test, e->line, test_name);
        n->kids.push_back(std::move(e));
        if (accept_op("(")) {
          if (!accept_op(")")) {
            n->kids.push_back(expr());
            expect_op(")");
          }
        } else if (test_name == "divisibleby" || test_name == "sameas" || test_name == "eq" ||
                   test_name == "equalto") {
          n->kids.push_back(concat());
        }
        e = std::move(n);
        if (negate) {
          auto nn = make(Expr::Not, e->line);
          nn->kids.push_back(std::move(e));
          e = std::move(nn);
        }
        continue;
      } else {
        return e;
      }
      auto n = make(Expr::Bin, e->line, op);
      n->kids.push_back(std::move(e));
      n->kids.push_back(concat());
      e = std::move(n);
    }
  }
  EP binary_level(EP (ExprParser::*next)(), std::initializer_list<const char*> ops) {
    auto e = (this->*next)();
    while (true) {
      bool matched = false;
      for (const char* op : ops)
        if (peek().kind == Tok::Op && peek().s == op) {
          ++i_;
          auto n = make(Expr::Bin, e->line, op);
          n->kids.push_back(std::move(e));
          n->kids.push_back((this->*next)());
          e = std::move(n);
          matched = true;
          break;
        }
      if (!matched) return e;
    }
  }
  EP concat() { return binary_level(&ExprParser::add, {"~"}); }
  EP add() { return binary_level(&ExprParser::mul, {"+", "-"}); }
  EP mul() { return binary_level(&ExprParser::pow, {"*", "//", "/", "%"}); }
  EP pow() { return binary_level(&ExprParser::unary_filtered, {"**"}); }
  EP unary_filtered() { return unary(true); }
  // As in Nunjucks' parser, filters apply to the unary expression: -3 | abs is 3.
  EP unary(bool filters = true) {
    int line = peek().line;
    if (++depth_ > 200) err_.at(line, "expression nested too deeply");
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    EP e;
    if (accept_op("-")) {
      e = make(Expr::Neg, line);
      e->kids.push_back(unary(false));
    } else if (accept_op("+")) {
      e = make(Expr::Pos, line);
      e->kids.push_back(unary(false));
    } else {
      e = postfix();
    }
    while (filters && peek().kind == Tok::Op && peek().s == "|") {
      int fline = peek().line;
      ++i_;
      auto f = name();
      if (std::find(filter_names().begin(), filter_names().end(), f) == filter_names().end())
        err_.at(fline, fmt::format("unknown filter '{}'", f),
                fmt::format("filters: {}", fmt::join(filter_names(), ", ")));
      auto n = make(Expr::Filter, fline, f);
      n->kids.push_back(std::move(e));
      if (accept_op("(")) args(*n);
      e = std::move(n);
    }
    return e;
  }
  void args(Expr& into) {
    if (accept_op(")")) return;
    do {
      // keyword arguments (name=value) are taken by position
      if (peek().kind == Tok::Name && peek(1).kind == Tok::Op && peek(1).s == "=") i_ += 2;
      into.kids.push_back(expr());
    } while (accept_op(","));
    expect_op(")");
  }
  EP postfix() {
    auto e = primary();
    while (true) {
      int line = peek().line;
      if (accept_op(".")) {
        auto n = make(Expr::Attr, line, name());
        n->kids.push_back(std::move(e));
        e = std::move(n);
      } else if (accept_op("[")) {
        auto n = make(Expr::Index, line);
        n->kids.push_back(std::move(e));
        n->kids.push_back(expr());
        expect_op("]");
        e = std::move(n);
      } else if (peek().kind == Tok::Op && peek().s == "(") {
        if (e->kind != Expr::Var || e->name != "range")
          err_.at(line, "calling functions is not supported (only range())", "use filters instead");
        ++i_;
        auto n = make(Expr::Call, line, e->name);
        args(*n);
        e = std::move(n);
      } else {
        return e;
      }
    }
  }
  EP primary() {
    const Tok& k = peek();
    int line = k.line;
    if (k.kind == Tok::Num) {
      ++i_;
      auto e = make(Expr::Lit, line);
      e->lit = num_value(k.num);
      if (k.s.find('.') != std::string::npos && e->lit.is_number_integer()) e->lit = json(k.num);
      return e;
    }
    if (k.kind == Tok::Str) {
      ++i_;
      auto e = make(Expr::Lit, line);
      e->lit = k.s;
      return e;
    }
    if (k.kind == Tok::Name) {
      ++i_;
      auto e = make(Expr::Lit, line);
      if (k.s == "true" || k.s == "True")
        e->lit = true;
      else if (k.s == "false" || k.s == "False")
        e->lit = false;
      else if (k.s == "none" || k.s == "None" || k.s == "null")
        e->lit = nullptr;
      else
        return make(Expr::Var, line, k.s);
      return e;
    }
    if (accept_op("(")) {
      auto e = expr();
      expect_op(")");
      return e;
    }
    if (accept_op("[")) {
      auto e = make(Expr::List, line);
      if (!accept_op("]")) {
        do {
          if (peek().kind == Tok::Op && peek().s == "]") break;
          e->kids.push_back(expr());
        } while (accept_op(","));
        expect_op("]");
      }
      return e;
    }
    if (accept_op("{")) {
      auto e = make(Expr::Dict, line);
      if (!accept_op("}")) {
        do {
          if (peek().kind == Tok::Op && peek().s == "}") break;
          auto key = peek().kind == Tok::Name ? make(Expr::Lit, peek().line) : nullptr;
          if (key)
            key->lit = t_[i_++].s;
          else
            key = primary();
          expect_op(":");
          e->kids.push_back(std::move(key));
          e->kids.push_back(expr());
        } while (accept_op(","));
        expect_op("}");
      }
      return e;
    }
    fail_here(k.kind == Tok::End ? "expected an expression" : "unexpected '" + k.s + "'");
  }

  std::vector<Tok> t_;
  size_t i_ = 0;
  int depth_ = 0;
  const Error_& err_;
};

// ---- the template tree

struct Node {
  enum Kind { Text, Out, If, For, Set } kind = Text;
  std::string text;
  std::vector<std::pair<EP, std::vector<Node>>>
      branches;  // If: (condition, body); Out/Set: (expr, {})
  std::vector<Node> body, else_body;
  std::vector<std::string> names;  // For: loop variables; Set: the variable
  int line = 1;
};

struct Segment {
  enum Kind { Text, Out, Tag } kind;
  std::string text;       // Text
  std::string tag;        // Tag: its name
  std::vector<Tok> toks;  // Out, Tag (after the name)
  int line = 1;
};

std::vector<Segment> segments(const std::string& t, const Error_& err) {
  std::vector<Segment> out;
  size_t pos = 0;
  int line = 1;
  bool trim_next = false;
  const char* ws = " \t\r\n";
  auto push_text = [&](std::string s, bool trim_end) {
    if (trim_next) {
      auto b = s.find_first_not_of(ws);
      s = b == std::string::npos ? "" : s.substr(b);
    }
    if (trim_end) {
      auto e = s.find_last_not_of(ws);
      s = e == std::string::npos ? "" : s.substr(0, e + 1);
    }
    if (!s.empty()) out.push_back({Segment::Text, s, {}, {}, line});
  };
  while (pos < t.size()) {
    size_t open = t.find('{', pos);
    while (open != std::string::npos && open + 1 < t.size() && t[open + 1] != '{' &&
           t[open + 1] != '%' && t[open + 1] != '#')
      open = t.find('{', open + 1);
    if (open == std::string::npos || open + 1 >= t.size()) {
      push_text(t.substr(pos), false);
      trim_next = false;
      break;
    }
    bool trim_before = open + 2 < t.size() && t[open + 2] == '-';
    std::string before = t.substr(pos, open - pos);
    push_text(before, trim_before);
    line += static_cast<int>(std::count(before.begin(), before.end(), '\n'));
    trim_next = false;
    char kind = t[open + 1];
    size_t p = open + 2 + (trim_before ? 1 : 0);
    int seg_line = line;
    if (kind == '#') {
      auto close = t.find("#}", p);
      if (close == std::string::npos) err.at(seg_line, "'{#' comment is never closed");
      trim_next = close > p && t[close - 1] == '-';
      line += static_cast<int>(
          std::count(t.begin() + static_cast<long>(p), t.begin() + static_cast<long>(close), '\n'));
      pos = close + 2;
      continue;
    }
    bool trim_after = false;
    auto toks = lex(t, p, line, kind == '{' ? "}}" : "%}", trim_after, err);
    trim_next = trim_after;
    pos = p;
    if (kind == '{') {
      out.push_back({Segment::Out, {}, {}, std::move(toks), seg_line});
    } else {
      if (toks.empty() || toks[0].kind != Tok::Name) err.at(seg_line, "a '{%' tag needs a name");
      std::string tag = toks[0].s;
      toks.erase(toks.begin());
      out.push_back({Segment::Tag, {}, tag, std::move(toks), seg_line});
    }
  }
  return out;
}

class TreeParser {
 public:
  TreeParser(std::vector<Segment> segs, const Error_& err) : s_(std::move(segs)), err_(err) {}

  std::vector<Node> parse() {
    std::string end;
    auto nodes = body({}, end);
    return nodes;
  }

 private:
  // Parses nodes until one of `stops` (a tag name); its name goes to `stopped`.
  std::vector<Node> body(const std::vector<std::string>& stops, std::string& stopped) {
    std::vector<Node> out;
    if (stops.size() && ++depth_ > 64)
      err_.at(i_ < s_.size() ? s_[i_].line : 1, "blocks nested too deeply (64 levels)");
    struct Leave {
      int& d;
      bool on;
      ~Leave() {
        if (on) --d;
      }
    } leave{depth_, !stops.empty()};
    while (i_ < s_.size()) {
      auto& seg = s_[i_];
      if (seg.kind == Segment::Text) {
        Node n;
        n.kind = Node::Text;
        n.text = seg.text;
        n.line = seg.line;
        out.push_back(std::move(n));
        ++i_;
        continue;
      }
      if (seg.kind == Segment::Out) {
        Node n;
        n.kind = Node::Out;
        n.line = seg.line;
        ExprParser p(seg.toks, err_);
        n.branches.emplace_back(p.parse_all(), std::vector<Node>{});
        out.push_back(std::move(n));
        ++i_;
        continue;
      }
      if (std::find(stops.begin(), stops.end(), seg.tag) != stops.end()) {
        stopped = seg.tag;
        return out;
      }
      ++i_;
      if (seg.tag == "if") {
        out.push_back(if_node(seg));
      } else if (seg.tag == "for") {
        out.push_back(for_node(seg));
      } else if (seg.tag == "set") {
        Node n;
        n.kind = Node::Set;
        n.line = seg.line;
        ExprParser p(seg.toks, err_);
        n.names.push_back(p.name());
        if (!p.accept_op("="))
          err_.at(seg.line, "{% set %} without '='",
                  "{% set name = value %} (block set is not supported)");
        n.branches.emplace_back(p.expr(), std::vector<Node>{});
        if (!p.at_end()) p.fail_here("unexpected '" + p.peek().s + "'");
        out.push_back(std::move(n));
      } else if (seg.tag == "endif" || seg.tag == "endfor" || seg.tag == "else" ||
                 seg.tag == "elif" || seg.tag == "elseif") {
        err_.at(seg.line, fmt::format("{{% {} %}} without its opening tag", seg.tag));
      } else if (seg.tag == "raw") {
        err_.at(seg.line, "{% raw %} is not supported", "write the text without template syntax");
      } else {
        err_.at(seg.line, fmt::format("unsupported Nunjucks tag '{}'", seg.tag),
                "supported tags: if/elif/else/endif, for/else/endfor, set; and {# comments #}");
      }
    }
    if (!stops.empty()) {
      const auto& open = stops.back();
      err_.at(s_.empty() ? 1 : s_.back().line, fmt::format("missing {{% {} %}}", open));
    }
    return out;
  }

  Node if_node(const Segment& seg) {
    Node n;
    n.kind = Node::If;
    n.line = seg.line;
    ExprParser p(seg.toks, err_);
    EP cond = p.parse_all();
    while (true) {
      std::string stopped;
      auto b = body({"elif", "elseif", "else", "endif"}, stopped);
      n.branches.emplace_back(std::move(cond), std::move(b));
      auto& tag = s_[i_++];
      if (stopped == "endif") break;
      if (stopped == "else") {
        std::string end;
        n.else_body = body({"endif"}, end);
        ++i_;
        break;
      }
      ExprParser q(tag.toks, err_);
      cond = q.parse_all();
    }
    return n;
  }

  Node for_node(const Segment& seg) {
    Node n;
    n.kind = Node::For;
    n.line = seg.line;
    ExprParser p(seg.toks, err_);
    n.names.push_back(p.name());
    if (p.accept_op(",")) n.names.push_back(p.name());
    if (!p.accept_name("in")) p.fail_here("expected 'in'");
    n.branches.emplace_back(p.expr(), std::vector<Node>{});
    if (!p.at_end()) p.fail_here("unexpected '" + p.peek().s + "'");
    std::string stopped;
    n.body = body({"else", "endfor"}, stopped);
    ++i_;
    if (stopped == "else") {
      std::string end;
      n.else_body = body({"endfor"}, end);
      ++i_;
    }
    return n;
  }

  std::vector<Segment> s_;
  size_t i_ = 0;
  int depth_ = 0;
  const Error_& err_;
};

// ---- evaluation

class Renderer {
 public:
  explicit Renderer(const json& vars) {
    scopes_.push_back(vars.is_object() ? vars : json::object());
  }

  void run(const std::vector<Node>& nodes, std::string& out) {
    for (const auto& n : nodes) {
      // Bounded work: a rendered prompt is at most 16 MiB and a template runs at most 10^6
      // loop iterations, whatever a suite's loops multiply to.
      if (out.size() > (16u << 20))
        throw runtime_error("a rendered template exceeds 16 MiB", "check its loops");
      switch (n.kind) {
        case Node::Text:
          out += n.text;
          break;
        case Node::Out:
          out += text(eval(*n.branches[0].first));
          break;
        case Node::Set:
          scopes_.back()[n.names[0]] = eval(*n.branches[0].first);
          break;
        case Node::If: {
          bool done = false;
          for (const auto& [cond, body] : n.branches)
            if (truthy(eval(*cond))) {
              run(body, out);
              done = true;
              break;
            }
          if (!done) run(n.else_body, out);
          break;
        }
        case Node::For:
          loop(n, out);
          break;
      }
    }
  }

 private:
  void loop(const Node& n, std::string& out) {
    json seq = eval(*n.branches[0].first);
    std::vector<std::pair<json, json>> items;  // (key or item, value)
    if (seq.is_array())
      for (auto& v : seq) items.emplace_back(v, kUndefined);
    else if (seq.is_object())
      for (auto& [k, v] : seq.items()) items.emplace_back(json(k), v);
    else if (seq.is_string())  // Nunjucks iterates a string's characters
      for (size_t i = 0; i < seq.get_ref<const std::string&>().size();) {
        const auto& s = seq.get_ref<const std::string&>();
        size_t len = 1;
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0xF0)
          len = 4;
        else if (c >= 0xE0)
          len = 3;
        else if (c >= 0xC0)
          len = 2;
        items.emplace_back(json(s.substr(i, len)), kUndefined);
        i += len;
      }
    if (items.empty()) {
      run(n.else_body, out);
      return;
    }
    scopes_.push_back(json::object());
    const size_t N = items.size();
    for (size_t i = 0; i < N; ++i) {
      if (++iterations_ > 1000000)
        throw runtime_error("a template ran over 1,000,000 loop iterations", "check its loops");
      auto& scope = scopes_.back();
      if (n.names.size() == 2) {
        scope[n.names[0]] = items[i].first;
        scope[n.names[1]] =
            seq.is_object()
                ? items[i].second
                : (items[i].first.is_array() && items[i].first.size() > 1 ? items[i].first[1]
                                                                          : kUndefined);
        if (!seq.is_object() && items[i].first.is_array() && !items[i].first.empty())
          scope[n.names[0]] = items[i].first[0];
      } else {
        scope[n.names[0]] = items[i].first;
      }
      scope["loop"] = {
          {"index", i + 1},  {"index0", i},        {"revindex", N - i}, {"revindex0", N - i - 1},
          {"first", i == 0}, {"last", i + 1 == N}, {"length", N}};
      run(n.body, out);
    }
    scopes_.pop_back();
  }

  json lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (auto f = it->find(name); f != it->end()) return *f;
    return kUndefined;
  }

  static json member(const json& obj, const json& key) {
    if (obj.is_object()) {
      auto k = text(key);
      auto f = obj.find(k);
      return f == obj.end() ? kUndefined : *f;
    }
    if (obj.is_array() || obj.is_string()) {
      if (key.is_string() && key.get_ref<const std::string&>() == "length")
        return obj.is_array() ? json(obj.size())
                              : json(utf8_length(obj.get_ref<const std::string&>()));
      double d = number(key);
      if (std::isnan(d) || d < 0 || d > 1e15 || d != std::floor(d)) return kUndefined;
      auto i = static_cast<size_t>(d);
      if (obj.is_array()) return i < obj.size() ? obj[i] : kUndefined;
      const auto& s = obj.get_ref<const std::string&>();
      return i < s.size() ? json(s.substr(i, 1)) : kUndefined;
    }
    return kUndefined;
  }

  json eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Lit:
        return e.lit;
      case Expr::Var:
        return lookup(e.name);
      case Expr::Attr:
        return member(eval(*e.kids[0]), json(e.name));
      case Expr::Index:
        return member(eval(*e.kids[0]), eval(*e.kids[1]));
      case Expr::Not:
        return !truthy(eval(*e.kids[0]));
      case Expr::Neg:
        return num_value(-number(eval(*e.kids[0])));
      case Expr::Pos:
        return num_value(number(eval(*e.kids[0])));
      case Expr::And: {
        auto a = eval(*e.kids[0]);
        return truthy(a) ? eval(*e.kids[1]) : a;
      }
      case Expr::Or: {
        auto a = eval(*e.kids[0]);
        return truthy(a) ? a : eval(*e.kids[1]);
      }
      case Expr::Cond:
        return truthy(eval(*e.kids[0])) ? eval(*e.kids[1]) : eval(*e.kids[2]);
      case Expr::List: {
        json a = json::array();
        for (const auto& k : e.kids) a.push_back(eval(*k));
        return a;
      }
      case Expr::Dict: {
        json o = json::object();
        for (size_t i = 0; i + 1 < e.kids.size(); i += 2)
          o[text(eval(*e.kids[i]))] = eval(*e.kids[i + 1]);
        return o;
      }
      case Expr::Bin:
        return binary(e.name, eval(*e.kids[0]), eval(*e.kids[1]));
      case Expr::Filter: {
        std::vector<json> args;
        for (size_t i = 1; i < e.kids.size(); ++i) args.push_back(eval(*e.kids[i]));
        return filter(e.name, eval(*e.kids[0]), args);
      }
      case Expr::Test:
        return test(e.name, eval(*e.kids[0]), e.kids.size() > 1 ? eval(*e.kids[1]) : kUndefined);
      case Expr::Call: {  // range([start,] stop[, step])
        std::vector<double> a;
        for (const auto& k : e.kids) a.push_back(number(eval(*k)));
        double start = a.size() >= 2 ? a[0] : 0,
               stop = a.size() >= 2 ? a[1] : (a.empty() ? 0 : a[0]);
        double step = a.size() >= 3 ? a[2] : 1;
        json r = json::array();
        if (step == 0 || std::isnan(start) || std::isnan(stop) || std::isnan(step)) return r;
        for (double x = start; step > 0 ? x < stop : x > stop; x += step) {
          r.push_back(num_value(x));
          if (r.size() > 100000) break;
        }
        return r;
      }
    }
    return kUndefined;
  }

  static json binary(const std::string& op, const json& a, const json& b) {
    if (op == "+") {
      if (a.is_string() || b.is_string() || a.is_array() || b.is_array() || a.is_object() ||
          b.is_object())
        return text(a) + text(b);
      return num_value(number(a) + number(b));
    }
    if (op == "~") return text(a) + text(b);
    if (op == "-") return num_value(number(a) - number(b));
    if (op == "*") return num_value(number(a) * number(b));
    if (op == "/") return num_value(number(a) / number(b));
    if (op == "//") return num_value(std::floor(number(a) / number(b)));
    if (op == "%") return num_value(std::fmod(number(a), number(b)));
    if (op == "**") return num_value(std::pow(number(a), number(b)));
    if (op == "==") return loose_equal(a, b);
    if (op == "!=") return !loose_equal(a, b);
    if (op == "===") return a == b && !undefined(a);
    if (op == "!==") return !(a == b && !undefined(a));
    if (op == "<") return compare_values(a, b) < 0;
    if (op == ">") return compare_values(a, b) > 0;
    if (op == "<=") return compare_values(a, b) <= 0;
    if (op == ">=") return compare_values(a, b) >= 0;
    if (op == "in" || op == "not in") {
      bool in = false;
      if (b.is_string())
        in = b.get_ref<const std::string&>().find(text(a)) != std::string::npos;
      else if (b.is_array())
        for (const auto& x : b) in |= loose_equal(x, a);
      else if (b.is_object())
        in = b.contains(text(a));
      return op == "in" ? in : !in;
    }
    return kUndefined;
  }

  static json test(const std::string& t, const json& v, const json& arg) {
    if (t == "defined") return !undefined(v);
    if (t == "undefined") return undefined(v);
    if (t == "none" || t == "null") return v.is_null();
    if (t == "number") return v.is_number();
    if (t == "string") return v.is_string();
    if (t == "odd") return v.is_number() && std::fmod(std::fabs(number(v)), 2) == 1;
    if (t == "even") return v.is_number() && std::fmod(std::fabs(number(v)), 2) == 0;
    if (t == "truthy") return truthy(v);
    if (t == "falsy") return !truthy(v);
    if (t == "divisibleby") return std::fmod(number(v), number(arg)) == 0;
    if (t == "iterable") return v.is_array() || v.is_string() || v.is_object();
    if (t == "mapping") return v.is_object();
    if (t == "sameas" || t == "eq" || t == "equalto") return v == arg;
    if (t == "lower") {
      auto s = text(v);
      return std::none_of(s.begin(), s.end(),
                          [](char c) { return std::isupper(static_cast<unsigned char>(c)); });
    }
    if (t == "upper") {
      auto s = text(v);
      return std::none_of(s.begin(), s.end(),
                          [](char c) { return std::islower(static_cast<unsigned char>(c)); });
    }
    return false;
  }

  static std::string map_chars(std::string s, int (*f)(int)) {
    for (auto& c : s)
      if (static_cast<unsigned char>(c) < 0x80)
        c = static_cast<char>(f(static_cast<unsigned char>(c)));
    return s;
  }

  static std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t\r\n\f\v");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n\f\v") - b + 1);
  }

  static json filter(const std::string& f, const json& v, const std::vector<json>& a) {
    auto arg = [&](size_t i) { return i < a.size() ? a[i] : kUndefined; };
    if (f == "safe" || f == "string") return f == "string" ? json(text(v)) : v;
    if (f == "upper") return map_chars(text(v), ::toupper);
    if (f == "lower") return map_chars(text(v), ::tolower);
    if (f == "trim") return trim(text(v));
    if (f == "capitalize") {
      auto s = map_chars(text(v), ::tolower);
      if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
      return s;
    }
    if (f == "title") {
      auto s = map_chars(text(v), ::tolower);
      bool start = true;
      for (auto& c : s) {
        if (start && std::isalpha(static_cast<unsigned char>(c)))
          c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        start = std::isspace(static_cast<unsigned char>(c)) || c == '-';
      }
      return s;
    }
    if (f == "default" || f == "d") {
      bool falsy_too = truthy(arg(1));
      return (undefined(v) || (falsy_too && !truthy(v))) ? arg(0) : v;
    }
    if (f == "dump") {  // JSON.stringify(v, null, indent)
      if (undefined(v)) return "";
      int indent = a.empty() ? -1 : static_cast<int>(to_int(number(a[0]), -1, 16, -1));
      return v.dump(indent > 0 ? indent : -1, ' ', false, json::error_handler_t::replace);
    }
    if (f == "load") {  // promptfoo's: JSON.parse
      try {
        return json::parse(text(v));
      } catch (const json::exception&) {
        return kUndefined;
      }
    }
    if (f == "length") {
      if (v.is_array() || v.is_object()) return v.size();
      if (v.is_string()) return utf8_length(v.get_ref<const std::string&>());
      return 0;
    }
    if (f == "join") {
      std::string sep = undefined(arg(0)) ? "" : text(arg(0)), out;
      if (!v.is_array()) return text(v);
      for (size_t i = 0; i < v.size(); ++i)
        out += (i ? sep : "") + text(undefined(arg(1)) ? v[i] : member(v[i], arg(1)));
      return out;
    }
    if (f == "first" || f == "last") {
      if (v.is_array()) return v.empty() ? kUndefined : (f == "first" ? v.front() : v.back());
      if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        return s.empty() ? kUndefined
                         : json(f == "first" ? s.substr(0, 1) : s.substr(s.size() - 1));
      }
      return kUndefined;
    }
    if (f == "replace") {
      auto s = text(v), from = text(arg(0)), to = text(arg(1));
      long long max = undefined(arg(2)) ? -1 : to_int(number(arg(2)), -1, 1 << 30, -1);
      if (from.empty()) return s;
      std::string out;
      size_t pos = 0;
      long long n = 0;
      for (size_t hit; (max < 0 || n < max) && (hit = s.find(from, pos)) != std::string::npos;
           ++n) {
        out += s.substr(pos, hit - pos) + to;
        pos = hit + from.size();
      }
      return out + s.substr(pos);
    }
    if (f == "reverse") {
      if (v.is_array()) return json(std::vector<json>(v.rbegin(), v.rend()));
      auto s = text(v);
      return std::string(s.rbegin(), s.rend());
    }
    if (f == "list") {
      if (v.is_array()) return v;
      json out = json::array();
      if (v.is_string())
        for (char c : v.get<std::string>()) out.push_back(std::string(1, c));
      else if (v.is_object())
        for (auto& [k, x] : v.items()) out.push_back(k);
      return out;
    }
    if (f == "sort") {
      if (!v.is_array()) return v;
      std::vector<json> items(v.begin(), v.end());
      bool rev = truthy(arg(0));
      std::stable_sort(items.begin(), items.end(), [&](const json& x, const json& y) {
        json kx = undefined(arg(2)) ? x : member(x, arg(2)),
             ky = undefined(arg(2)) ? y : member(y, arg(2));
        int c = compare_values(kx, ky);
        return rev ? c > 0 : c < 0;
      });
      return json(items);
    }
    if (f == "abs") return num_value(std::fabs(number(v)));
    if (f == "int") {
      double d = number(v);
      return std::isnan(d) ? (undefined(arg(0)) ? json(0) : arg(0))
                           : json(to_int(d, -(1LL << 53), 1LL << 53, 0));
    }
    if (f == "float") {
      double d = number(v);
      return std::isnan(d) ? (undefined(arg(0)) ? json(0.0) : arg(0)) : json(d);
    }
    if (f == "round") {
      int prec = undefined(arg(0)) ? 0 : static_cast<int>(to_int(number(arg(0)), -20, 20, 0));
      auto method = undefined(arg(1)) ? std::string("common") : text(arg(1));
      double m = std::pow(10.0, prec), d = number(v) * m;
      d = method == "ceil" ? std::ceil(d) : method == "floor" ? std::floor(d) : std::round(d);
      return num_value(d / m);
    }
    if (f == "sum") {
      double s = 0;
      if (v.is_array())
        for (const auto& x : v) s += number(undefined(arg(0)) ? x : member(x, arg(0)));
      return num_value(s);
    }
    if (f == "wordcount") {
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
    if (f == "truncate") {
      auto s = text(v);
      size_t len =
          undefined(arg(0)) ? 255 : static_cast<size_t>(to_int(number(arg(0)), 0, 1 << 30, 255));
      if (s.size() <= len) return s;
      bool killwords = truthy(arg(1));
      std::string end = undefined(arg(2)) ? "..." : text(arg(2));
      auto cut = s.substr(0, len);
      if (!killwords) {
        auto sp = cut.find_last_of(' ');
        if (sp != std::string::npos) cut = cut.substr(0, sp);
      }
      return cut + end;
    }
    if (f == "escape" || f == "e") {
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
    if (f == "nl2br") {
      std::string out;
      for (char c : text(v)) out += c == '\n' ? std::string("<br />\n") : std::string(1, c);
      return out;
    }
    if (f == "striptags") {
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
      return trim(out);
    }
    if (f == "urlencode") {
      std::string out;
      for (unsigned char c : text(v)) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
          out += static_cast<char>(c);
        else
          out += fmt::format("%{:02X}", c);
      }
      return out;
    }
    if (f == "indent") {
      int width = undefined(arg(0)) ? 4 : static_cast<int>(to_int(number(arg(0)), 0, 256, 4));
      bool first = truthy(arg(1));
      std::string pad(static_cast<size_t>(std::max(0, width)), ' '), s = text(v), out;
      bool line_start = first;
      for (char c : s) {
        if (line_start && c != '\n') out += pad;
        out += c;
        line_start = c == '\n';
      }
      return out;
    }
    if (f == "batch") {
      json out = json::array();
      size_t n = static_cast<size_t>(to_int(number(arg(0)), 1, 1 << 30, 1));
      if (v.is_array())
        for (size_t i = 0; i < v.size(); i += n) {
          json row = json::array();
          for (size_t j = i; j < std::min(v.size(), i + n); ++j) row.push_back(v[j]);
          out.push_back(row);
        }
      return out;
    }
    if (f == "select" || f == "reject") {
      json out = json::array();
      if (v.is_array())
        for (const auto& x : v) {
          bool t = undefined(arg(0)) ? truthy(x) : truthy(test(text(arg(0)), x, arg(1)));
          if (t == (f == "select")) out.push_back(x);
        }
      return out;
    }
    return kUndefined;
  }

  std::vector<json> scopes_;
  size_t iterations_ = 0;
};

std::vector<Node> compile(const std::string& tpl, const std::string& where) {
  Error_ err{where};
  TreeParser p(segments(tpl, err), err);
  return p.parse();
}

}  // namespace

bool has_syntax(const std::string& tpl) {
  return tpl.find("{{") != std::string::npos || tpl.find("{%") != std::string::npos ||
         tpl.find("{#") != std::string::npos;
}

void check(const std::string& tpl, const std::string& where) {
  if (has_syntax(tpl)) compile(tpl, where);
}

std::string render(const std::string& tpl, const json& vars, const std::string& where) {
  if (!has_syntax(tpl)) return tpl;
  auto nodes = compile(tpl, where);
  std::string out;
  Renderer(vars).run(nodes, out);
  return out;
}

}  // namespace xops::nunjucks
