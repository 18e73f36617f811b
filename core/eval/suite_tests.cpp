// A suite's tests: inline, and from JSONL, JSON, YAML and CSV files (promptfoo's columns).
#include "core/eval/suite_loader.hpp"
#include "core/util/json_error.hpp"

#include <glob.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/eval/assertion_shorthand.hpp"
#include "core/eval/assertions.hpp"
#include "core/eval/json_schema.hpp"
#include "core/eval/metric_expression.hpp"
#include "core/eval/retrieval.hpp"
#include "core/project/workspace.hpp"
#include "core/store/sha256.hpp"
#include "core/template/nunjucks.hpp"
#include "core/util/csv.hpp"
#include "core/util/fs.hpp"
#include "core/util/strings.hpp"
#include "core/util/text_distance.hpp"
#include "core/util/utf8.hpp"
#include "core/util/yaml_util.hpp"

namespace xops::suite_detail {

// What a test is apart from its vars: description, assertions, options, threshold, metadata.
TestSpec Loader::test_base(const YAML::Node& n, const TestOptions& o) {
  TestSpec proto;
  if (auto d = n["description"]) proto.description = doc.str(d, "description");
  proto.asserts = assertions(n["assert"]);
  proto.transform = o.transform;
  proto.prefix = o.prefix;
  proto.suffix = o.suffix;
  if (auto t = n["threshold"]) proto.threshold = doc.num(t, "threshold");
  if (auto f = n["assertScoringFunction"]) proto.scoring_function = scoring_function(f);
  if (auto m = n["metadata"]) {
    doc.expect_map(m, "metadata");
    auto meta = to_json(m);  // a named value: items() of a temporary would dangle
    for (auto& [k, v] : meta.items()) proto.metadata[k] = scalar_text(v);
  }
  return proto;
}

// A test whose vars and values are data (`options.literal`, as --from-logs writes them): a
// served user's prompt `file://.env` or `{{ 7*7 }}` stays exactly that text.
void Loader::add_literal_test(const YAML::Node& n, const nlohmann::json& vars, const TestOptions& o,
                              std::vector<TestSpec>& out) {
  auto t = test_base(n, o);
  for (auto& a : t.asserts) a.literal = true;
  for (auto& [k, v] : vars.items()) {
    t.vars[k] = scalar_text(v);
    t.values[k] = v;
  }
  out.push_back(std::move(t));
}

void Loader::add_test(const YAML::Node& n0, std::vector<TestSpec>& out) {
  auto n = deref(n0);
  doc.expect_map(n, "a test");
  strict(n,
         {"vars", "assert", "description", "options", "threshold", "metadata",
          "assertScoringFunction"},
         "a test");
  auto vars = n["vars"] ? to_json(n["vars"]) : nlohmann::json::object();
  if (!vars.is_object()) doc.fail(n["vars"], "'vars' must be a map");
  auto o = options(n["options"]);
  if (o.literal) return add_literal_test(n, vars, o, out);
  // promptfoo: a var whose value is a list (or a file:// glob) expands into one test per
  // value, the cartesian product over every such var; a list whose first item is not a
  // string ([1, 2], [{a: 1}]) is one value (generateVarCombinations).
  for (auto& [k, v] : vars.items())
    if (v.is_string() && v.get<std::string>().rfind("file://", 0) == 0 &&
        has_glob(v.get<std::string>())) {
      auto files = expand(v.get<std::string>());
      v = nlohmann::json(files);
    }
  // The product runs over the vars in the order the suite wrote them (the first var varies
  // slowest, as in promptfoo), not in the JSON object's sorted order.
  std::vector<std::string> order;
  if (n["vars"] && n["vars"].IsMap())
    for (const auto& kv : n["vars"]) {
      auto k = kv.first.Scalar();
      if (vars.contains(k) && std::find(order.begin(), order.end(), k) == order.end())
        order.push_back(k);
    }
  for (const auto& [k, v] : vars.items())
    if (std::find(order.begin(), order.end(), k) == order.end()) order.push_back(k);
  std::vector<nlohmann::json> combos = {nlohmann::json::object()};
  for (const auto& k : order) {
    const auto& v = vars[k];
    std::vector<nlohmann::json> next;
    for (const auto& c : combos) {
      if (v.is_array() && !v.empty() && v[0].is_string())
        for (const auto& x : v) {
          auto d = c;
          d[k] = x;
          next.push_back(std::move(d));
        }
      else {
        auto d = c;
        d[k] = v;
        next.push_back(std::move(d));
      }
    }
    combos = std::move(next);
    if (combos.size() > 100000) doc.fail(n["vars"], "its list values expand to over 100,000 tests");
  }
  TestSpec proto = test_base(n, o);
  for (auto& c : combos) {
    auto t = proto;
    for (auto& [k, v] : c.items()) {
      auto value = load_var(v, n["vars"]);
      // promptfoo drops one trailing newline of a string var before rendering.
      if (value.is_string() && ends_with(value.get<std::string>(), "\n")) {
        auto str = value.get<std::string>();
        str.pop_back();
        value = str;
      }
      if (value.is_object() && value.contains("retrieve")) {  // checked here, with the file's line
        try {
          retrieval_spec(value, "var " + k);
        } catch (const Error& e) {
          doc.fail(n["vars"][k], e.what(), e.hint());
        }
      }
      t.vars[k] = scalar_text(value);
      t.values[k] = value;
    }
    out.push_back(std::move(t));
  }
}

void Loader::add_tests(const YAML::Node& n, std::vector<TestSpec>& out) {
  if (n.IsSequence()) {
    for (const auto& x : n) add_tests(x, out);
  } else if (n.IsScalar() && n.Scalar().rfind("file://", 0) == 0) {
    for (const auto& f : expand(n.Scalar())) tests_from_file(f, out);
  } else {
    add_test(n, out);
  }
}

void Loader::tests_from_file(const std::string& ref, std::vector<TestSpec>& out) {
  auto text = read(ref);
  auto path = ref.substr(7);
  auto shown = std::filesystem::path(path).is_absolute() ? relative_inside(path, dir) : path;
  if (shown.empty()) shown = path;
  auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".jsonl") {
    size_t pos = 0, line = 0;
    while (pos < text.size()) {
      auto end = text.find('\n', pos);
      auto l = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      pos = end == std::string::npos ? text.size() : end + 1;
      ++line;
      if (l.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto where = fmt::format("{}:{}", shown, line);
      try {
        if (!nlohmann::json::parse(l).is_object())  // JSON lines are JSON objects, not any YAML
          throw runtime_error(fmt::format("{}: a test must be a JSON object", where));
      } catch (const nlohmann::json::exception& e) {
        throw runtime_error(fmt::format("{}: {}", where, json_error(e)));
      }
      with_doc(where, [&] { add_test(yaml::parse(l, where), out); });
    }
  } else if (ext == ".yaml" || ext == ".yml" || ext == ".json") {
    with_doc(shown, [&] {
      auto n = yaml::parse(text, shown);
      if (!n.IsSequence() && !n.IsMap()) doc.fail(n, "a tests file holds a list of tests");
      add_tests(n, out);
    });
  } else if (ext == ".csv") {
    tests_from_csv(text, shown, out);
  } else {
    throw runtime_error(
        fmt::format("{}: tests files must be .csv, .jsonl, .json, .yaml or .yml", shown));
  }
}

void Loader::tests_from_csv(const std::string& text, const std::string& path,
                            std::vector<TestSpec>& out) {
  auto rows = parse_csv(text);
  if (rows.empty()) return;
  YAML::Node here;  // CSV cells have no YAML position: errors name the row
  for (size_t r = 1; r < rows.size(); ++r) {
    TestSpec t;
    std::string metric;
    std::map<size_t, double> thresholds;  // __config:__expectedN:threshold, by assertion index
    auto where = fmt::format("{}: row {}", path, r + 1);
    for (size_t c = 0; c < rows[0].size() && c < rows[r].size(); ++c) {
      auto key = trim(rows[0][c]);
      const auto& val = rows[r][c];
      // promptfoo's CSV columns (src/csv.ts): __expected* (an assertion each, "type:value" or
      // a plain expected answer), __description, __metric (the metric of those assertions),
      // __threshold (the case passes when its weighted score reaches it), __prefix /
      // __suffix (around the prompt), __metadata:*, __config:__expectedN:threshold.
      if (key.rfind("__expected", 0) == 0) {
        if (trim(val).empty()) continue;
        auto a = assertion_from_string(trim(val));
        try {
          finish_assertion(a, here);
        } catch (const Error& e) {
          throw runtime_error(fmt::format("{}, column {}: {}", where, key, e.what()), e.hint());
        }
        t.asserts.push_back(a);
      } else if (key == "__description") {
        t.description = val;
      } else if (key == "__metric") {
        metric = val;
      } else if (key == "__threshold" || key.rfind("__config:", 0) == 0) {
        if (trim(val).empty()) continue;
        char* end = nullptr;
        double d = std::strtod(val.c_str(), &end);
        if (end == val.c_str() || *end)
          throw runtime_error(fmt::format("{}: {} '{}' is not a number", where, key, val));
        if (key == "__threshold") {
          t.threshold = d;
          continue;
        }
        auto rest = key.substr(9);  // __expected[N]:threshold
        auto colon = rest.find(':');
        auto target = rest.substr(0, colon);
        auto digits = target.substr(std::min<size_t>(10, target.size()));
        if (colon == std::string::npos || rest.substr(colon + 1) != "threshold" ||
            target.rfind("__expected", 0) != 0 ||
            digits.find_first_not_of("0123456789") != std::string::npos ||
            (digits.size() && std::stoul(digits) == 0))
          throw runtime_error(
              fmt::format("{}: column '{}' is not __config:__expected[N]:threshold", where, key));
        thresholds[digits.empty() ? 0 : std::stoul(digits) - 1] = d;
      } else if (key == "__prefix") {
        t.prefix = val;
      } else if (key == "__suffix") {
        t.suffix = val;
      } else if (key.rfind("__metadata:", 0) == 0) {
        if (!trim(val).empty()) t.metadata[key.substr(11)] = val;
      } else if (key.rfind("__", 0) == 0) {
        throw runtime_error(
            fmt::format("{}: column '{}' is not supported", path, key),
            "supported: __expected[N], __description, __metric, __threshold, __prefix, __suffix, "
            "__metadata:*, __config:__expected[N]:threshold");
      } else {
        t.vars[key] = val;
        t.values[key] = val;
      }
    }
    for (size_t i = 0; i < t.asserts.size(); ++i) {
      if (!metric.empty()) t.asserts[i].metric = metric;
      if (auto it = thresholds.find(i); it != thresholds.end()) t.asserts[i].threshold = it->second;
    }
    out.push_back(std::move(t));
  }
}

}  // namespace xops::suite_detail
