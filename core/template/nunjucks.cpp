#include "core/template/nunjucks.hpp"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/template/nunjucks_ast.hpp"
#include "core/template/nunjucks_budget.hpp"
#include "core/template/nunjucks_builtins.hpp"

namespace xops::nunjucks {

namespace {

using namespace builtins;
using detail::Expr;
using detail::Node;

// ---- evaluation

class Renderer {
 public:
  explicit Renderer(const json& vars) {
    scopes_.push_back(vars.is_object() ? vars : json::object());
  }

  void run(const std::vector<Node>& nodes, std::string& out) {
    for (const auto& n : nodes) {
      // Bounded work (nunjucks_budget.hpp): the output, every value, loop iterations.
      if (out.size() > budget::kMaxOutputBytes)
        throw runtime_error(
            fmt::format("a rendered template exceeds {} MiB", budget::kMaxOutputBytes >> 20),
            "check its loops");
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
    else if (seq.is_string()) {  // Nunjucks iterates a string's characters
      if (seq.get_ref<const std::string&>().size() > budget::kMaxIterations)
        throw runtime_error("template: a for loop over a string longer than 1,000,000 bytes",
                            "templates are bounded (docs/security.md)");
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
    }
    if (items.empty()) {
      run(n.else_body, out);
      return;
    }
    scopes_.push_back(json::object());
    const size_t N = items.size();
    for (size_t i = 0; i < N; ++i) {
      if (++iterations_ > budget::kMaxIterations)
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

  // Every value an expression makes is measured: its size (and nesting) against the budget, and
  // the bytes built or copied, in all, against the work budget.
  json eval(const Expr& e) {
    json v = eval_unmeasured(e);
    work_ += budget::measure(v, "a value");
    if (work_ > budget::kMaxWorkBytes)
      throw runtime_error(fmt::format("template: the render built or copied more than {} MiB of "
                                      "values",
                                      budget::kMaxWorkBytes >> 20),
                          "templates are bounded (docs/security.md); check its loops");
    return v;
  }

  json eval_unmeasured(const Expr& e) {
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
        return apply_filter(e.name, eval(*e.kids[0]), args);
      }
      case Expr::Test:
        return apply_test(e.name, eval(*e.kids[0]),
                          e.kids.size() > 1 ? eval(*e.kids[1]) : kUndefined);
      case Expr::Call: {  // range([start,] stop[, step])
        std::vector<double> a;
        for (const auto& k : e.kids) a.push_back(number(eval(*k)));
        double start = a.size() >= 2 ? a[0] : 0,
               stop = a.size() >= 2 ? a[1] : (a.empty() ? 0 : a[0]);
        double step = a.size() >= 3 ? a[2] : 1;
        json r = json::array();
        if (step == 0 || std::isnan(start) || std::isnan(stop) || std::isnan(step)) return r;
        double count = std::ceil((stop - start) / step);
        if (count > static_cast<double>(budget::kMaxRange))
          throw runtime_error(fmt::format("template: range({}, {}, {}) would make {:.0f} items; "
                                          "at most {} are allowed",
                                          start, stop, step, count, budget::kMaxRange),
                              "templates are bounded (docs/security.md)");
        for (double x = start; step > 0 ? x < stop : x > stop; x += step) r.push_back(num_value(x));
        return r;
      }
    }
    return kUndefined;
  }

  std::vector<json> scopes_;
  size_t iterations_ = 0;
  size_t work_ = 0;
};

}  // namespace

bool has_syntax(const std::string& tpl) {
  return tpl.find("{{") != std::string::npos || tpl.find("{%") != std::string::npos ||
         tpl.find("{#") != std::string::npos;
}

void check(const std::string& tpl, const std::string& where) {
  if (has_syntax(tpl)) detail::parse(tpl, where);
}

std::string render(const std::string& tpl, const json& vars, const std::string& where) {
  if (!has_syntax(tpl)) return tpl;
  auto nodes = detail::parse(tpl, where);
  std::string out;
  Renderer(vars).run(nodes, out);
  return out;
}

}  // namespace xops::nunjucks
