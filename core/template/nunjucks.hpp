#pragma once
// The subset of Nunjucks that promptfoo prompts and assertion values use, hand-written (no C++
// Jinja/Nunjucks library is packaged in Debian 12), with Nunjucks' documented behaviour:
//   {{ expr }}  with variables, a.b, a[0], a["k"], literals (strings, numbers, true/false,
//               none/null, [lists], {dicts}), + - * / // % **, ~ (concatenate), comparisons,
//               and/or/not, `in`, `x if c else y`, and filters `| f` / `| f(args)`
//   {% if %}{% elif %}{% else %}{% endif %}, {% for x in xs %} / {% for k, v in obj %} with
//   loop.index/index0/revindex/revindex0/first/last/length and {% else %}, {% set x = e %},
//   {# comments #}, and whitespace control ({%- -%}, {{- -}}).
// Undefined values render as "" (as in Nunjucks); output is not HTML-escaped (promptfoo turns
// autoescape off). Anything else is an error naming the template and line, never sent as is.
#include <string>

#include <nlohmann/json.hpp>

namespace xops::nunjucks {

// Throws Error(Usage) "WHERE:LINE: ..." for syntax errors, unknown tags and unknown filters.
std::string render(const std::string& tpl, const nlohmann::json& vars,
                   const std::string& where = "template");
// Parses only (to refuse a bad template before any case runs).
void check(const std::string& tpl, const std::string& where = "template");
// Whether `tpl` uses template syntax at all ({{, {% or {#).
bool has_syntax(const std::string& tpl);

}  // namespace xops::nunjucks
