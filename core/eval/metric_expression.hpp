#pragma once
// promptfoo's derivedMetrics: arithmetic over named metrics, e.g. "(brevity + accuracy) / 2"
// (numbers, names, + - * / ^, unary minus, parentheses; promptfoo evaluates them with mathjs).
#include <map>
#include <string>

namespace xops {

// Throws Error(Usage) naming `where` when the expression does not parse.
void check_metric_expression(const std::string& expr, const std::string& where);
// Throws Error(Runtime) for a name not in `values`.
double eval_metric_expression(const std::string& expr, const std::map<std::string, double>& values);

}  // namespace xops
