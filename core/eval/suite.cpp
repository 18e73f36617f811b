#include "core/eval/suite.hpp"
#include "core/util/json_error.hpp"

#include <glob.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/eval/assertion_shorthand.hpp"
#include "core/eval/assertions.hpp"
#include "core/eval/comparisons.hpp"
#include "core/eval/json_schema.hpp"
#include "core/eval/metric_expression.hpp"
#include "core/eval/suite_loader.hpp"
#include "core/project/workspace.hpp"
#include "core/store/sha256.hpp"
#include "core/template/nunjucks.hpp"
#include "core/util/csv.hpp"
#include "core/util/fs.hpp"
#include "core/util/strings.hpp"
#include "core/util/text_distance.hpp"
#include "core/util/utf8.hpp"
#include "core/util/yaml_util.hpp"

namespace xops {

namespace suite_detail {

void Loader::add_prompt(const YAML::Node& p, std::vector<PromptSpec>& out,
                        const std::string& suite_file) {
  std::string raw, label;
  auto config = nlohmann::json::object();  // promptfoo's prompt-level config
  if (p.IsScalar()) {
    raw = p.Scalar();
  } else {
    doc.expect_map(p, "a prompt");
    strict(p, {"id", "raw", "label", "config"}, "a prompt");
    raw = p["raw"] ? doc.str(p["raw"], "prompt raw")
                   : doc.str(doc.require(p, "id", "a prompt"), "prompt id");
    if (p["label"]) label = doc.str(p["label"], "prompt label");
    if (p["config"]) {
      doc.expect_map(p["config"], "a prompt's config");
      config = to_json(p["config"]);
    }
  }
  auto push = [&](PromptSpec ps) {
    ps.config = config;
    if (ps.json) {
      std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& j) {
        if (j.is_string()) nunjucks::check(j.get<std::string>(), ps.where);
        for (const auto& x : j)
          if (j.is_structured()) walk(x);
      };
      walk(nlohmann::json::parse(ps.text));  // key order does not matter for checking
    } else {
      nunjucks::check(ps.text, ps.where);  // refused before any case runs, never sent as it is
    }
    out.push_back(std::move(ps));
  };
  if (raw.rfind("file://", 0) != 0) {
    PromptSpec ps;
    ps.text = raw;
    ps.ref = raw;
    ps.label = !label.empty() ? label : raw.substr(0, std::min<size_t>(40, raw.find('\n')));
    ps.where = fmt::format("{} (the prompt at line {})", suite_file, p.Mark().line + 1);
    try {  // promptfoo renders any prompt that parses as JSON as a JSON document
      auto j = nlohmann::json::parse(raw);
      ps.json = j.is_structured();
    } catch (...) {
    }
    push(ps);
    return;
  }
  for (const auto& file : expand(raw)) {
    auto text = read(file);
    auto path = file.substr(7);
    auto shown = std::filesystem::path(path).is_absolute() ? relative_inside(path, dir) : path;
    if (shown.empty()) shown = path;
    auto base_label = label.empty() ? shown : label;
    if (is_javascript_file(path) || ends_with(path, ".py"))
      throw runtime_error(
          fmt::format("{}: prompt functions ({}) are not supported", doc.file, shown),
          "write the prompt as text, or as a JSON/YAML list of chat messages");
    PromptSpec ps;
    ps.ref = raw;
    ps.where = shown;
    ps.file_sha256 = sha256_hex(text);
    if (ends_with(path, ".json") || ends_with(path, ".yaml") || ends_with(path, ".yml")) {
      // A chat prompt ([{role, content}, ...]) or any JSON document, kept as compact JSON
      // with its keys in the order written.
      nlohmann::ordered_json j;
      if (ends_with(path, ".json")) {
        try {
          j = nlohmann::ordered_json::parse(text);
        } catch (const nlohmann::json::exception& e) {
          throw runtime_error(fmt::format("{}: not valid JSON: {}", shown, json_error(e)));
        }
      } else {
        j = to_json<nlohmann::ordered_json>(yaml::parse(text, shown));
      }
      ps.text = j.dump();
      ps.json = j.is_structured();
      ps.label = base_label;
      push(ps);
    } else if (ends_with(path, ".jsonl")) {
      size_t line = 0;
      std::vector<std::string> lines;
      for (size_t pos = 0; pos < text.size();) {
        auto nl = text.find('\n', pos);
        auto l = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        if (!l.empty() && l.back() == '\r') l.pop_back();
        if (!l.empty()) lines.push_back(l);
      }
      for (const auto& l : lines) {
        ++line;
        PromptSpec one = ps;
        try {
          one.json = nlohmann::json::parse(l).is_structured();
        } catch (const nlohmann::json::exception& e) {
          throw runtime_error(fmt::format("{}:{}: not valid JSON: {}", shown, line, json_error(e)));
        }
        one.text = l;
        one.label = lines.size() > 1 ? fmt::format("{}: {}", base_label, line) : base_label;
        push(one);
      }
    } else if (ends_with(path, ".md")) {
      ps.text = text;
      ps.label = base_label;
      push(ps);
    } else {
      // promptfoo (src/prompts/processors/text.ts): lines that are `---` separate prompts;
      // each prompt is trimmed and empty ones are dropped.
      std::vector<std::string> parts;
      std::string buf;
      bool any = false;
      auto flush = [&] {
        auto t = trim(buf);
        if (!t.empty()) parts.push_back(t);
        buf.clear();
        any = false;
      };
      for (size_t pos = 0; pos <= text.size();) {
        auto nl = text.find('\n', pos);
        auto l = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        if (!l.empty() && l.back() == '\r') l.pop_back();
        if (trim(l) == "---") {
          flush();
        } else {
          buf += (any ? "\n" : "") + l;
          any = true;
        }
        if (nl == std::string::npos) break;
        pos = nl + 1;
      }
      flush();
      for (size_t i = 0; i < parts.size(); ++i) {
        PromptSpec one = ps;
        one.text = parts[i];
        one.label = parts.size() > 1 ? fmt::format("{}: {}", base_label, i + 1) : base_label;
        push(one);
      }
    }
  }
}

}  // namespace suite_detail

using namespace suite_detail;  // the loader's helpers (suite_loader.hpp)

std::string render_template(const std::string& tpl, const nlohmann::json& values,
                            const std::string& where) {
  return nunjucks::render(tpl, values, where);
}

std::string render_prompt(const PromptSpec& p, const nlohmann::json& values) {
  if (!p.json) return render_template(p.text, values, p.where);
  using OJ = nlohmann::ordered_json;
  std::function<OJ(const OJ&)> walk = [&](const OJ& j) -> OJ {
    if (j.is_string()) return render_template(j.get<std::string>(), values, p.where);
    if (j.is_array()) {
      auto a = OJ::array();
      for (const auto& x : j) a.push_back(walk(x));
      return a;
    }
    if (j.is_object()) {
      auto o = OJ::object();
      for (auto& [k, v] : j.items()) o[k] = walk(v);
      return o;
    }
    return j;
  };
  return walk(OJ::parse(p.text)).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

Suite load_suite(const std::filesystem::path& file, std::vector<std::string>* warnings) {
  Loader L{std::filesystem::absolute(file).parent_path(),
           {},
           yaml::Doc{file.string(), warnings},
           warnings,
           {},
           {},
           {}};
  auto ws_root = Workspace::find_root(L.dir);
  std::error_code ec;
  L.root = std::filesystem::weakly_canonical(ws_root ? *ws_root : L.dir, ec);
  auto text = read_file_limited(file, 64u << 20, "a suite");
  require_utf8(text, file.string());
  L.hash.update(text.data(), text.size());
  auto root = yaml::parse(text, file.string());
  L.config = root;
  auto& doc = L.doc;
  doc.expect_map(root, "the suite");
  L.strict(root,
           {"description", "prompts", "providers", "tests", "defaultTest", "thresholds",
            "outputPath", "sharing", "evaluateOptions", "assertionTemplates", "derivedMetrics",
            "tags", "metadata", "writeLatestResults", "baseline"},
           "the suite");
  Suite s;
  s.file = file;
  if (auto d = root["description"]) s.description = doc.str(d, "description");
  if (auto b = root["baseline"]) s.baseline_ref = doc.str(b, "baseline");
  auto prompts = doc.require(root, "prompts", "the suite");
  if (prompts.IsSequence()) {
    for (const auto& p : prompts) L.add_prompt(p, s.prompts, file.string());
  } else if (prompts.IsMap() && !prompts["id"] && !prompts["raw"]) {
    // promptfoo's map form: {file://prompt.txt: label, ...}
    for (const auto& kv : prompts) {
      YAML::Node p;
      p["raw"] = kv.first.Scalar();
      p["label"] = kv.second.Scalar();
      L.add_prompt(p, s.prompts, file.string());
    }
  } else {
    L.add_prompt(prompts, s.prompts, file.string());
  }
  if (s.prompts.empty()) doc.fail(prompts, "'prompts' is empty");

  auto providers = doc.require(root, "providers", "the suite");
  if (providers.IsSequence())
    for (const auto& p : providers) s.providers.push_back(L.provider(p));
  else
    s.providers.push_back(L.provider(providers));
  if (s.providers.empty()) doc.fail(providers, "'providers' is empty");
  for (const auto& p : s.providers)
    for (const auto& want : p.prompts) {
      bool found = false;
      for (const auto& pr : s.prompts) found |= prompt_matches(pr, want);
      if (!found)
        throw usage_error(
            fmt::format("{}: provider {} lists prompt '{}', which is not in 'prompts'",
                        file.string(), p.label, want),
            "use a prompt's label (or its file://path)");
    }

  TestSpec defaults;
  if (auto d = L.deref(root["defaultTest"]); d && !d.IsNull()) {
    doc.expect_map(d, "defaultTest");
    L.strict(d,
             {"vars", "assert", "options", "description", "threshold", "metadata",
              "assertScoringFunction"},
             "defaultTest");
    YAML::Node plain(YAML::NodeType::Map);
    if (d["vars"]) plain["vars"] = d["vars"];
    if (d["metadata"]) plain["metadata"] = d["metadata"];
    std::vector<TestSpec> one;
    L.add_test(plain, one);
    if (one.size() != 1) doc.fail(d["vars"], "defaultTest vars cannot be lists");
    defaults = one[0];
    defaults.asserts = L.assertions(d["assert"]);
    auto o = L.options(d["options"]);
    if (o.literal)
      doc.fail(d["options"]["literal"],
               "options.literal applies to one test (its own vars), not to defaultTest");
    s.judge = o.provider;
    s.embedding = o.embedding;
    defaults.transform = o.transform;
    defaults.prefix = o.prefix;
    defaults.suffix = o.suffix;
    if (auto t = d["threshold"]) defaults.threshold = doc.num(t, "threshold");
    if (auto f = d["assertScoringFunction"]) defaults.scoring_function = L.scoring_function(f);
  }
  std::vector<TestSpec> tests;
  if (auto t = root["tests"]) L.add_tests(t, tests);
  if (tests.empty()) tests.push_back({});  // prompts without vars: one test
  for (auto& t : tests) {
    for (const auto& [k, v] : defaults.vars) t.vars.emplace(k, v);
    for (const auto& [k, v] : defaults.values.items())
      if (!t.values.contains(k)) t.values[k] = v;
    for (const auto& [k, v] : defaults.metadata) t.metadata.emplace(k, v);
    t.asserts.insert(t.asserts.begin(), defaults.asserts.begin(), defaults.asserts.end());
    if (t.transform.is_null()) t.transform = defaults.transform;
    if (t.prefix.empty()) t.prefix = defaults.prefix;
    if (t.suffix.empty()) t.suffix = defaults.suffix;
    if (!t.threshold) t.threshold = defaults.threshold;
    if (t.scoring_function.is_null()) t.scoring_function = defaults.scoring_function;
    size_t others = 0, max_scores = 0;
    for (const auto& a : t.asserts) {
      others += !is_comparison_assertion(a.type);
      max_scores += a.type == "max-score";
    }
    if (max_scores && !others)
      throw usage_error(
          fmt::format("{}: test '{}' has max-score but no assertion for it to add up",
                      file.string(), t.description.empty() ? "(no description)" : t.description),
          "max-score picks the output whose other assertions scored highest");
  }
  s.tests = std::move(tests);
  if (auto th = root["thresholds"]) {
    doc.expect_map(th, "thresholds");
    L.strict(th, {"pass_rate", "metrics"}, "thresholds");
    if (auto v = th["pass_rate"]) {
      s.pass_rate = doc.num(v, "thresholds.pass_rate");
      if (*s.pass_rate < 0 || *s.pass_rate > 1) doc.fail(v, "pass_rate must be between 0 and 1");
    }
    if (auto m = th["metrics"]) {
      doc.expect_map(m, "thresholds.metrics");
      for (const auto& kv : m)
        s.metric_minimums[kv.first.Scalar()] = doc.num(kv.second, "a metric threshold");
    }
  }
  if (auto dm = root["derivedMetrics"]) {
    if (!dm.IsSequence()) doc.fail(dm, "'derivedMetrics' must be a list of {name, value}");
    for (const auto& m : dm) {
      doc.expect_map(m, "a derived metric");
      L.strict(m, {"name", "value"}, "a derived metric");
      auto name = doc.str(doc.require(m, "name", "a derived metric"), "name");
      auto value = doc.str(doc.require(m, "value", "a derived metric"), "value");
      if (value.rfind("file://", 0) == 0)
        doc.fail(m["value"], "derived metrics computed by scripts are not supported",
                 "write an expression");
      check_metric_expression(value, doc.where(m["value"]));
      s.derived_metrics.emplace_back(name, value);
    }
  }
  s.named_providers = std::move(L.named_providers);
  s.content_sha256 = L.hash.hex();
  return s;
}

bool prompt_matches(const PromptSpec& p, const std::string& want) {
  return p.label == want || p.ref == want || p.label.rfind(want + ":", 0) == 0 || p.text == want;
}

}  // namespace xops
