#pragma once
// promptfoo's assertion shorthands: the "type:value" text of CSV __expected cells, the
// comma-separated lists of contains-any/all, and which script files xops knows
// (src/assertions/index.ts and src/csv.ts in promptfoo); the types are assertions.hpp's.
#include <string>
#include <vector>

#include "core/eval/suite.hpp"

namespace xops {

// x.js, x.mjs, x.ts, ... optionally followed by :function.
bool is_javascript_file(const std::string& path);
// promptfoo's "type:value" assertion shorthand (CSV __expected columns): `contains: x`,
// `not-icontains: y`, `levenshtein(3): z`, `javascript: code`, `file://check.py`, or a plain
// expected answer (equals).
AssertionSpec assertion_from_string(const std::string& text);
// promptfoo's comma-separated list for contains-any / contains-all given as one string
// ("a, b, \"c, d\""): fields trimmed, double quotes group a field with commas.
std::vector<std::string> split_comma_list(const std::string& value);

}  // namespace xops
