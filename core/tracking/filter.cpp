#include "core/tracking/filter.hpp"

#include <cctype>
#include <chrono>

#include "core/error.hpp"

namespace xops {

namespace {

enum class Tok { Ident, String, Number, Op, LParen, RParen, Comma, End };

struct Token {
  Tok type;
  std::string text;
  size_t col;  // 0-based
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

[[noreturn]] void fail_at(const std::string& src, size_t col, const std::string& what) {
  throw usage_error(fmt::format("filter: {} at column {}\n  {}\n  {}^", what, col + 1, src, std::string(col, ' ')),
                    "example: metrics.loss < 0.5 and params.lr = '0.001' and status = 'finished'");
}

std::vector<Token> lex(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    size_t start = i;
    if (c == '\'' || c == '"') {
      std::string v;
      ++i;
      while (i < s.size() && s[i] != c) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        v += s[i++];
      }
      if (i >= s.size()) fail_at(s, start, "unterminated string");
      ++i;
      out.push_back({Tok::String, v, start});
    } else if (std::isdigit(static_cast<unsigned char>(c)) || ((c == '-' || c == '.') && i + 1 < s.size() &&
                                                                 (std::isdigit(static_cast<unsigned char>(s[i + 1])) || s[i + 1] == '.'))) {
      ++i;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '.' ||
                              ((s[i] == '-' || s[i] == '+') && (s[i - 1] == 'e' || s[i - 1] == 'E'))))
        ++i;
      out.push_back({Tok::Number, s.substr(start, i - start), start});
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '`') {
      std::string v;
      while (i < s.size()) {
        if (s[i] == '`') {  // metrics.`f1 score`
          size_t close = s.find('`', i + 1);
          if (close == std::string::npos) fail_at(s, i, "unterminated `name`");
          v += s.substr(i + 1, close - i - 1);
          i = close + 1;
        } else if (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_' || s[i] == '.' || s[i] == '-' ||
                   s[i] == '/') {
          v += s[i++];
        } else {
          break;
        }
      }
      out.push_back({Tok::Ident, v, start});
    } else if (c == '(') {
      out.push_back({Tok::LParen, "(", i++});
    } else if (c == ')') {
      out.push_back({Tok::RParen, ")", i++});
    } else if (c == ',') {
      out.push_back({Tok::Comma, ",", i++});
    } else if (c == '<' || c == '>' || c == '=' || c == '!') {
      std::string op(1, c);
      if (i + 1 < s.size() && (s[i + 1] == '=' || (c == '<' && s[i + 1] == '>'))) op += s[i + 1];
      if (op == "!") fail_at(s, i, "'!' must be followed by '='");
      i += op.size();
      out.push_back({Tok::Op, op == "==" ? "=" : op == "<>" ? "!=" : op, start});
    } else {
      fail_at(s, i, fmt::format("unexpected character '{}'", c));
    }
  }
  out.push_back({Tok::End, "", s.size()});
  return out;
}

// The SQL expression for an identifier; numeric tells params/tags to compare as numbers.
std::string column_sql(const std::string& src, const Token& t, bool numeric,
                       std::vector<SqlBind>& binds, db::Dialect dialect) {
  auto dot = t.text.find('.');
  std::string scope = dot == std::string::npos ? "attributes" : lower(t.text.substr(0, dot));
  std::string name = dot == std::string::npos ? t.text : t.text.substr(dot + 1);
  if (scope == "metrics" || scope == "metric") {
    binds.push_back({false, 0, name});
    return "(SELECT m.value FROM metrics m WHERE m.run = r.seq AND m.key = (SELECT id FROM metric_keys WHERE name = ?) "
           "ORDER BY m.step DESC, m.rowid DESC LIMIT 1)";
  }
  if (scope == "params" || scope == "param" || scope == "tags" || scope == "tag") {
    binds.push_back({false, 0, name});
    std::string table = scope[0] == 'p' ? "params" : "tags";
    std::string q = fmt::format("(SELECT value FROM {} WHERE run = r.seq AND key = ?)", table);
    if (!numeric) return q;
    return dialect == db::Dialect::Postgres ? "xops_real(" + q + ")" : "CAST(" + q + " AS REAL)";
  }
  if (scope == "attributes" || scope == "attribute" || scope == "attr" || scope == "run") {
    auto a = lower(name);
    if (a == "id" || a == "run_id") return "r.id";
    if (a == "name" || a == "run_name") return "r.name";
    if (a == "user") return "r.\"user\"";  // a reserved word in PostgreSQL
    if (a == "kind" || a == "status" || a == "command" || a == "git_commit" || a == "host" ||
        a == "exit_code")
      return "r." + a;
    if (a == "start_time") return "r.start_ms";
    if (a == "end_time") return "r.end_ms";
    if (a == "duration") {  // a running run's duration is up to now
      binds.push_back({true,
                       static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count()),
                       ""});
      return "((COALESCE(r.end_ms, ?) - r.start_ms) / 1000.0)";
    }
    fail_at(src, t.col, fmt::format("unknown attribute '{}' (id, name, kind, status, start_time, end_time, "
                                    "duration, exit_code, git_commit, user, host, command)", name));
  }
  fail_at(src, t.col, fmt::format("unknown scope '{}' (use metrics., params., tags. or an attribute)", scope));
}

std::string like_to_glob(const std::string& like) {
  std::string g;
  for (char c : like) {
    if (c == '%') g += '*';
    else if (c == '_') g += '?';
    else if (c == '*' || c == '?' || c == '[') g += std::string("[") + c + "]";
    else g += c;
  }
  return g;
}

class Parser {
 public:
  Parser(const std::string& src, db::Dialect dialect)
      : src_(src), toks_(lex(src)), dialect_(dialect) {}

  SqlFragment parse() {
    SqlFragment f;
    if (toks_[0].type == Tok::End) return f;
    f.sql = expr(f.binds);
    if (peek().type != Tok::End) fail_at(src_, peek().col, fmt::format("unexpected '{}'", peek().text));
    return f;
  }

 private:
  const Token& peek() const { return toks_[pos_]; }
  const Token& next() { return toks_[pos_++]; }
  bool keyword(const char* kw) const { return peek().type == Tok::Ident && lower(peek().text) == kw; }

  std::string expr(std::vector<SqlBind>& b) {
    std::string s = term(b);
    while (keyword("or")) {
      next();
      s = "(" + s + " OR " + term(b) + ")";
    }
    return s;
  }
  std::string term(std::vector<SqlBind>& b) {
    std::string s = factor(b);
    while (keyword("and")) {
      next();
      s = "(" + s + " AND " + factor(b) + ")";
    }
    return s;
  }
  // Nesting and length are bounded: a 10,000-deep filter once overflowed the stack, and
  // SQLite refuses expressions deeper than 1,000 with a less helpful message.
  static constexpr int kMaxDepth = 64, kMaxTerms = 256;
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxDepth)
        fail_at(p.src_, p.peek().col, fmt::format("the filter nests deeper than {} levels", kMaxDepth));
    }
    ~DepthGuard() { --p.depth_; }
  };
  std::string factor(std::vector<SqlBind>& b) {
    DepthGuard guard(*this);
    if (++terms_ > kMaxTerms)
      fail_at(src_, peek().col, fmt::format("the filter has more than {} terms", kMaxTerms));
    if (peek().type == Tok::LParen) {
      next();
      auto s = expr(b);
      if (peek().type != Tok::RParen) fail_at(src_, peek().col, "expected ')'");
      next();
      return "(" + s + ")";
    }
    if (keyword("not")) {
      next();
      return "(NOT " + factor(b) + ")";
    }
    return comparison(b);
  }
  std::string value(std::vector<SqlBind>& b, bool* numeric) {
    const auto& v = next();
    if (v.type == Tok::String) {
      b.push_back({false, 0, v.text});
      *numeric = false;
    } else if (v.type == Tok::Number) {
      try {
        size_t used = 0;
        double d = std::stod(v.text, &used);
        if (used != v.text.size()) throw std::invalid_argument("trailing");
        b.push_back({true, d, ""});
      } catch (const std::exception&) {
        fail_at(src_, v.col, fmt::format("'{}' is not a number", v.text));
      }
      *numeric = true;
    } else {
      fail_at(src_, v.col, v.type == Tok::End ? "expected a value after the operator"
                                              : fmt::format("expected a quoted string or a number, found '{}'", v.text));
    }
    return "?";
  }
  std::string comparison(std::vector<SqlBind>& b) {
    const auto& id = next();
    if (id.type != Tok::Ident)
      fail_at(src_, id.col, id.type == Tok::End ? "expected a condition" : fmt::format("expected a name, found '{}'", id.text));
    // Peek at the value to know whether params/tags compare as numbers.
    bool is_null_test = keyword("is");
    bool negate_like = false;
    std::string op;
    if (is_null_test) {
      next();
      bool neg = keyword("not");
      if (neg) next();
      if (!keyword("null")) fail_at(src_, peek().col, "expected NULL after IS");
      next();
      std::vector<SqlBind> cb;
      auto col = column_sql(src_, id, false, cb, dialect_);
      b.insert(b.end(), cb.begin(), cb.end());
      return col + (neg ? " IS NOT NULL" : " IS NULL");
    }
    if (keyword("not")) {
      next();
      negate_like = true;
    }
    const auto& o = next();
    if (o.type == Tok::Op) op = o.text;
    else if (o.type == Tok::Ident && (lower(o.text) == "like" || lower(o.text) == "ilike" || lower(o.text) == "in"))
      op = lower(o.text);
    else
      fail_at(src_, o.col, o.type == Tok::End ? "expected an operator (=, !=, <, <=, >, >=, like, ilike, in)"
                                              : fmt::format("unknown operator '{}'", o.text));
    if (negate_like && op != "like" && op != "ilike" && op != "in") fail_at(src_, o.col, "NOT goes with LIKE, ILIKE or IN");
    if (op == "in") {
      if (peek().type != Tok::LParen) fail_at(src_, peek().col, "expected '(' after IN");
      next();
      std::vector<SqlBind> vals;
      bool numeric = false;
      std::vector<std::string> qs;
      while (true) {
        qs.push_back(value(vals, &numeric));
        if (peek().type == Tok::Comma) {
          next();
          continue;
        }
        if (peek().type != Tok::RParen) fail_at(src_, peek().col, "expected ',' or ')'");
        next();
        break;
      }
      std::vector<SqlBind> cb;
      auto col = column_sql(src_, id, numeric, cb, dialect_);
      b.insert(b.end(), cb.begin(), cb.end());
      b.insert(b.end(), vals.begin(), vals.end());
      std::string list;
      for (size_t i = 0; i < qs.size(); ++i) list += (i ? ", " : "") + qs[i];
      return fmt::format("{} {}IN ({})", col, negate_like ? "NOT " : "", list);
    }
    std::vector<SqlBind> vb;
    bool numeric = false;
    size_t vcol = peek().col;
    value(vb, &numeric);
    std::vector<SqlBind> cb;
    auto col = column_sql(src_, id, numeric, cb, dialect_);
    b.insert(b.end(), cb.begin(), cb.end());
    if (op == "like" || op == "ilike") {
      if (numeric) fail_at(src_, vcol, "LIKE needs a quoted pattern");
      if (dialect_ == db::Dialect::Postgres) {  // LIKE is case-sensitive there; no escape character
        b.insert(b.end(), vb.begin(), vb.end());
        return fmt::format("{}{} {} ? ESCAPE ''", negate_like ? "NOT " : "", col,
                           op == "like" ? "LIKE" : "ILIKE");
      }
      if (op == "like") vb[0].text = like_to_glob(vb[0].text);  // case-sensitive, as MLflow's LIKE
      b.insert(b.end(), vb.begin(), vb.end());
      return fmt::format("{}{} {} ?", negate_like ? "NOT " : "", col, op == "like" ? "GLOB" : "LIKE");
    }
    b.insert(b.end(), vb.begin(), vb.end());
    return fmt::format("{} {} ?", col, op == "!=" ? "!=" : op);
  }

  const std::string& src_;
  std::vector<Token> toks_;
  db::Dialect dialect_;
  size_t pos_ = 0;
  int depth_ = 0, terms_ = 0;
};

}  // namespace

SqlFragment compile_filter(const std::string& expr, db::Dialect dialect) {
  return Parser(expr, dialect).parse();
}

SqlFragment compile_sort(const std::string& spec, db::Dialect dialect) {
  SqlFragment f;
  size_t start = 0;
  while (start < spec.size()) {
    auto end = spec.find(',', start);
    std::string part = spec.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? spec.size() : end + 1;
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.front()))) part.erase(0, 1);
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.back()))) part.pop_back();
    if (part.empty()) continue;
    bool desc = false;
    if (part[0] == '-') {
      desc = true;
      part.erase(0, 1);
    }
    auto sp = part.find(' ');
    if (sp != std::string::npos) {
      auto dir = lower(part.substr(sp + 1));
      part = part.substr(0, sp);
      if (dir == "desc") desc = true;
      else if (dir != "asc") fail_at(spec, 0, fmt::format("sort direction '{}' is not asc or desc", dir));
    }
    Token t{Tok::Ident, part, 0};
    auto col = column_sql(spec, t, false, f.binds, dialect);
    f.sql += fmt::format("{}{} IS NULL, {} {}", f.sql.empty() ? "" : ", ", col, col, desc ? "DESC" : "ASC");
    // The column expression appears twice: bind its parameter twice.
    if (!f.binds.empty() && col.find('?') != std::string::npos) f.binds.push_back(f.binds.back());
  }
  f.sql += std::string(f.sql.empty() ? "" : ", ") + "r.start_ms DESC, r.seq DESC";
  return f;
}

}  // namespace xops
