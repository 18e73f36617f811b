#pragma once
// The run filter language (MLflow's, plus OR and parentheses) compiled to SQL over runs r:
//   metrics.loss < 0.5 and params.lr = '0.001' and status = 'finished' and tags.team like 'nlp%'
// Errors name the offending token and its column, with a caret under it.
#include <string>
#include <vector>

#include "core/db/database.hpp"

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

// The same filter means the same on both backends: LIKE is case-sensitive and ILIKE not,
// a param compared with a number reads as 0 when it is not one.
SqlFragment compile_filter(const std::string& expr, db::Dialect dialect = db::Dialect::Sqlite);
// "metrics.loss", "-start_time", "params.lr desc, name" -> ORDER BY body (never empty).
SqlFragment compile_sort(const std::string& spec, db::Dialect dialect = db::Dialect::Sqlite);

}  // namespace xops
