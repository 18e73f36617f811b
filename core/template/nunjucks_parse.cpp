// The Nunjucks subset's front end: template text -> segments -> a tree of nodes and
// expressions, with every syntax error naming the template and line.
#include "core/template/nunjucks_ast.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.hpp"
#include "core/template/nunjucks_builtins.hpp"

namespace xops::nunjucks::detail {

namespace {

using json = nlohmann::json;
using namespace builtins;

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

EP make(Expr::Kind k, int line, std::string name = {}) {
  auto e = std::make_unique<Expr>();
  e->kind = k;
  e->line = line;
  e->name = std::move(name);
  return e;
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

}  // namespace

std::vector<Node> parse(const std::string& tpl, const std::string& where) {
  Error_ err{where};
  TreeParser p(segments(tpl, err), err);
  return p.parse();
}

}  // namespace xops::nunjucks::detail
