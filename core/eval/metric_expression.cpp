#include "core/eval/metric_expression.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "core/error.hpp"

namespace xops {

namespace {

// Recursive descent over the text; `values` null means "parse only".
struct Parser {
  const std::string& s;
  const std::map<std::string, double>* values;
  size_t i = 0;
  int depth = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw usage_error(fmt::format("derived metric '{}': {} at offset {}", s, what, i),
                      "use numbers, metric names, + - * / ^ and parentheses");
  }
  void skip() {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  }
  bool eat(char c) {
    skip();
    if (i < s.size() && s[i] == c) return ++i, true;
    return false;
  }
  double expr() {
    if (++depth > 200) fail("nesting too deep");
    double v = term();
    for (;;) {
      if (eat('+'))
        v += term();
      else if (eat('-'))
        v -= term();
      else
        break;
    }
    --depth;
    return v;
  }
  double term() {
    double v = unary();
    for (;;) {
      if (eat('*'))
        v *= unary();
      else if (eat('/'))
        v /= unary();
      else
        break;
    }
    return v;
  }
  // As in mathjs, ^ binds tighter than a sign: -2 ^ 2 is -4, 2 ^ -1 is 0.5.
  double unary() {
    if (eat('-')) return -unary();
    if (eat('+')) return unary();
    return power();
  }
  double power() {
    double v = atom();
    if (eat('^')) v = std::pow(v, unary());  // right-associative
    return v;
  }
  double atom() {
    skip();
    if (eat('(')) {
      double v = expr();
      if (!eat(')')) fail("missing ')'");
      return v;
    }
    if (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
      char* end = nullptr;
      double v = std::strtod(s.c_str() + i, &end);
      if (end == s.c_str() + i) fail("bad number");
      i = static_cast<size_t>(end - s.c_str());
      return v;
    }
    if (i < s.size() && (std::isalpha(static_cast<unsigned char>(s[i])) || s[i] == '_')) {
      size_t b = i;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
      auto name = s.substr(b, i - b);
      if (!values) return 0;
      auto it = values->find(name);
      if (it == values->end())
        throw runtime_error(fmt::format("derived metric '{}': no metric named '{}'", s, name));
      return it->second;
    }
    fail(i < s.size() ? fmt::format("unexpected '{}'", s[i]) : "unexpected end");
  }
  double all() {
    double v = expr();
    skip();
    if (i != s.size()) fail(fmt::format("unexpected '{}'", s[i]));
    return v;
  }
};

}  // namespace

void check_metric_expression(const std::string& expr, const std::string& where) {
  try {
    Parser{expr, nullptr}.all();
  } catch (const Error& e) {
    throw usage_error(fmt::format("{}: {}", where, e.what()), e.hint());
  }
}

double eval_metric_expression(const std::string& expr,
                              const std::map<std::string, double>& values) {
  return Parser{expr, &values}.all();
}

}  // namespace xops
