#pragma once
// The run filter language (MLflow's, plus OR and parentheses) compiled to SQL over runs r:
//   metrics.loss < 0.5 and params.lr = '0.001' and status = 'finished' and tags.team like 'nlp%'
// Errors name the offending token and its column, with a caret under it.
#include <string>
#include <vector>

namespace xops {

struct SqlBind {
  bool is_number = false;
  double number = 0;
  std::string text;
};

struct SqlFragment {
  std::string sql;
  std::vector<SqlBind> binds;
};

SqlFragment compile_filter(const std::string& expr);
// "metrics.loss", "-start_time", "params.lr desc, name" -> ORDER BY body (never empty).
SqlFragment compile_sort(const std::string& spec);

}  // namespace xops
