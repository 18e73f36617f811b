#pragma once
// The parsed form of a Nunjucks template, shared by the parser (nunjucks_parse.cpp) and the
// renderer (nunjucks.cpp).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace xops::nunjucks::detail {

using json = nlohmann::json;

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

struct Node {
  enum Kind { Text, Out, If, For, Set } kind = Text;
  std::string text;
  std::vector<std::pair<EP, std::vector<Node>>>
      branches;  // If: (condition, body); Out/Set: (expr, {})
  std::vector<Node> body, else_body;
  std::vector<std::string> names;  // For: loop variables; Set: the variable
  int line = 1;
};

// Throws Error "WHERE:LINE: ..." for syntax errors, unknown tags, filters and tests.
std::vector<Node> parse(const std::string& tpl, const std::string& where);

}  // namespace xops::nunjucks::detail
