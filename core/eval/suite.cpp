#include "core/eval/suite.hpp"

#include "core/eval/nunjucks.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/workspace.hpp"
#include "core/store/sha256.hpp"
#include "core/util/fs.hpp"
#include "core/util/utf8.hpp"
#include "core/yaml_util.hpp"

namespace xops {

namespace {

nlohmann::json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence: {
      auto a = nlohmann::json::array();
      for (const auto& x : n) a.push_back(to_json(x));
      return a;
    }
    case YAML::NodeType::Map: {
      auto o = nlohmann::json::object();
      for (const auto& kv : n) o[kv.first.Scalar()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Scalar: {
      const auto& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted in the YAML: keep it a string
      if (s == "true" || s == "false") return s == "true";
      try {  // integers stay integers: a provider's max_tokens: 128 is sent as 128, not 128.0
        size_t used = 0;
        long long i = std::stoll(s, &used, 10);
        if (used == s.size()) return i;
      } catch (...) {
      }
      try {
        size_t used = 0;
        double d = std::stod(s, &used);
        if (used == s.size()) return d;
      } catch (...) {
      }
      return s;
    }
    default: return nullptr;
  }
}

std::string scalar_text(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<long long>());
  if (j.is_number()) {
    double d = j.get<double>();
    // Range first: converting 1e300 to an integer is undefined behaviour.
    if (std::isfinite(d) && std::fabs(d) < 9e15 && d == std::floor(d)) return std::to_string(static_cast<long long>(d));
    return fmt::format("{}", d);
  }
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  return j.dump();
}

// Suites, prompts and cases are UTF-8 text: invalid bytes are refused where they come in
// (a JSON library would otherwise throw its own error much later, mid-run).
void require_utf8(const std::string& text, const std::string& file) {
  auto bad = invalid_utf8_offset(text);
  if (bad == std::string::npos) return;
  size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n'));
  throw runtime_error(fmt::format("{}:{}: not valid UTF-8 (byte offset {})", file, line, bad),
                      "save the file as UTF-8");
}

struct Loader {
  std::filesystem::path dir;
  Sha256 hash;
  yaml::Doc doc;

  std::filesystem::path root;  // file:// references must stay under it (the workspace, else the suite's dir)

  std::string read(const std::string& ref) {
    std::filesystem::path p = ref.substr(7);
    if (p.is_relative()) p = dir / p;
    std::error_code ec;
    if (!std::filesystem::exists(p, ec))
      throw runtime_error(fmt::format("{}: {} not found (paths are relative to the suite file)", doc.file, p.string()));
    // A suite may come from someone else's commit: it reads files of its own project, not
    // ~/.ssh (which a provider could then receive as a prompt). Symlinks are resolved first.
    if (relative_inside(std::filesystem::canonical(p, ec), root).empty())
      throw runtime_error(fmt::format("{}: {} is outside {}", doc.file, ref, root.string()),
                          "a suite reads files inside its project; copy the file there");
    auto text = read_file_limited(p, 256u << 20, "a suite file");
    require_utf8(text, p.string());
    hash.update(p.string().data(), p.string().size());
    hash.update(text.data(), text.size());
    return text;
  }

  AssertionSpec assertion(const YAML::Node& n) {
    doc.expect_map(n, "an assertion");
    doc.check_keys(n, {"type", "value", "threshold", "weight", "metric", "provider", "baseline", "timeout", "config"},
                   "an assertion");
    AssertionSpec a;
    a.type = doc.str(doc.require(n, "type", "an assertion"), "assert type");
    if (auto v = n["value"]) {
      a.value = to_json(v);
      if (a.value.is_string()) nunjucks::check(a.value.get<std::string>(), doc.where(v));
    }
    if (auto v = n["threshold"]) a.threshold = doc.num(v, "threshold");
    if (auto v = n["weight"]) a.weight = doc.num(v, "weight");
    if (auto v = n["timeout"]) a.timeout_ms = static_cast<int>(doc.integer_in(v, "timeout (ms)", 1, 3600000));
    if (auto v = n["metric"]) a.metric = doc.str(v, "metric");
    if (auto v = n["provider"]) a.provider = v.IsScalar() ? v.Scalar() : doc.str(v["id"], "provider id");
    if (auto v = n["baseline"]) a.baseline = doc.str(v, "baseline");
    if (auto v = n["config"]) a.config = to_json(v);
    static const char* known[] = {"equals", "contains", "icontains", "contains-any", "contains-all", "icontains-any",
                                  "icontains-all", "starts-with", "regex", "is-json", "levenshtein", "rouge-l",
                                  "rouge-n", "bleu", "perplexity", "latency", "llm-rubric", "similar", "pairwise",
                                  "javascript", "python"};
    auto base = a.type.rfind("not-", 0) == 0 ? a.type.substr(4) : a.type;
    bool ok = base.rfind("exec:", 0) == 0;
    for (const char* k : known) ok |= base == k;
    if (!ok) doc.fail(n["type"], fmt::format("unknown assertion type '{}'", a.type));
    if (base == "javascript" || base == "python") {
      if (!a.value.is_string()) doc.fail(n, fmt::format("a {} assertion needs code or file://PATH as its value", base));
      auto v = a.value.get<std::string>();
      if (v.rfind("file://", 0) == 0) a.value = script_ref(v);
    }
    return a;
  }

  // file://path.js[:function] of a script assertion or transform: checked (inside the
  // project), hashed like every file a suite reads, and made absolute for the worker.
  nlohmann::json script_ref(const std::string& v) {
    auto ref = v.substr(7), fn = std::string();
    auto colon = ref.rfind(':');
    if (colon != std::string::npos && ref.find('/', colon) == std::string::npos && ref.find('.', colon) == std::string::npos) {
      fn = ref.substr(colon + 1);
      ref = ref.substr(0, colon);
    }
    read("file://" + ref);
    std::filesystem::path p = ref;
    if (p.is_relative()) p = dir / p;
    return nlohmann::json{{"file", std::filesystem::weakly_canonical(p).string()}, {"function", fn}};
  }

  // A test's `options`: `transform` (JavaScript applied to the output) and `provider` (the
  // judge, for defaultTest); anything else is refused, not ignored.
  nlohmann::json options(const YAML::Node& o) {
    if (!o) return nullptr;
    doc.expect_map(o, "options");
    for (const auto& kv : o) {
      auto k = kv.first.Scalar();
      if (k != "transform" && k != "provider")
        doc.fail(kv.first, fmt::format("test option '{}' is not supported", k), "supported: transform, provider");
    }
    auto t = o["transform"];
    if (!t) return nullptr;
    auto code = doc.str(t, "options.transform");
    return code.rfind("file://", 0) == 0 ? script_ref(code) : nlohmann::json(code);
  }

  std::vector<AssertionSpec> assertions(const YAML::Node& n) {
    std::vector<AssertionSpec> out;
    if (!n) return out;
    if (!n.IsSequence()) doc.fail(n, "'assert' must be a list");
    for (const auto& a : n) out.push_back(assertion(a));
    return out;
  }

  TestSpec test(const nlohmann::json& j, const std::string& where) {
    TestSpec t;
    if (!j.is_object()) throw runtime_error(where + ": a test must be an object");
    t.description = j.value("description", "");
    if (j.contains("vars"))
      for (auto& [k, v] : j["vars"].items()) {
        t.vars[k] = scalar_text(v);
        t.values[k] = v;
      }
    if (j.contains("assert")) {
      for (const auto& a : j["assert"]) {
        // JSON test rows: go through YAML so validation is shared.
        auto node = YAML::Load(a.dump());
        t.asserts.push_back(assertion(node));
      }
    }
    return t;
  }

  std::vector<TestSpec> tests_from_file(const std::string& ref) {
    std::vector<TestSpec> out;
    auto text = read(ref);
    auto path = ref.substr(7);
    auto ext = std::filesystem::path(path).extension().string();
    if (ext == ".jsonl") {
      size_t pos = 0, line = 0;
      while (pos < text.size()) {
        auto end = text.find('\n', pos);
        auto l = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        pos = end == std::string::npos ? text.size() : end + 1;
        ++line;
        if (l.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto where = fmt::format("{}:{}", path, line);
        try {
          out.push_back(test(nlohmann::json::parse(l), where));
        } catch (const nlohmann::json::exception& e) {
          throw runtime_error(fmt::format("{}: {}", where, e.what()));
        }
      }
    } else if (ext == ".csv") {
      // Header = variable names; `__expected` is an assertion ("type:value" or equals).
      std::vector<std::vector<std::string>> rows;
      std::vector<std::string> row;
      std::string cell;
      bool quoted = false;
      for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quoted) {
          if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') cell += '"', ++i;
          else if (c == '"') quoted = false;
          else cell += c;
        } else if (c == '"') {
          quoted = true;
        } else if (c == ',') {
          row.push_back(cell), cell.clear();
        } else if (c == '\n' || c == '\r') {
          if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
          row.push_back(cell), cell.clear();
          if (!(row.size() == 1 && row[0].empty())) rows.push_back(row);
          row.clear();
        } else {
          cell += c;
        }
      }
      if (!cell.empty() || !row.empty()) row.push_back(cell), rows.push_back(row);
      if (rows.empty()) return out;
      for (size_t r = 1; r < rows.size(); ++r) {
        TestSpec t;
        std::string metric;
        for (size_t c = 0; c < rows[0].size() && c < rows[r].size(); ++c) {
          const auto& key = rows[0][c];
          const auto& val = rows[r][c];
          // promptfoo's CSV columns: __expected, __expected1..N (an assertion each, "type:value"
          // or a plain value for equals), __description, __metric (the metric of those
          // assertions), __threshold (the case passes when its weighted score reaches it),
          // __prefix / __suffix (around the prompt), __metadata:* (kept, not used).
          bool expected = key == "__expected" ||
                          (key.rfind("__expected", 0) == 0 && key.size() > 10 &&
                           key.find_first_not_of("0123456789", 10) == std::string::npos);
          if (expected) {
            if (val.empty()) continue;
            AssertionSpec a;
            auto colon = val.find(':');
            if (colon != std::string::npos && colon < 20 && val.find(' ') > colon) {
              a.type = val.substr(0, colon);
              a.value = val.substr(colon + 1);
            } else {
              a.type = "equals";
              a.value = val;
            }
            t.asserts.push_back(a);
          } else if (key == "__description") {
            t.description = val;
          } else if (key == "__metric") {
            metric = val;
          } else if (key == "__threshold") {
            if (!val.empty()) {
              char* end = nullptr;
              double d = std::strtod(val.c_str(), &end);
              if (end == val.c_str() || *end) throw runtime_error(fmt::format("{}: row {}: __threshold '{}' is not a number", path, r + 1, val));
              t.threshold = d;
            }
          } else if (key == "__prefix") {
            t.prefix = val;
          } else if (key == "__suffix") {
            t.suffix = val;
          } else if (key.rfind("__metadata:", 0) == 0) {
            t.metadata[key.substr(11)] = val;
          } else if (key.rfind("__", 0) == 0) {
            throw runtime_error(fmt::format("{}: column '{}' is not supported", path, key),
                                "supported: __expected[N], __description, __metric, __threshold, __prefix, __suffix, "
                                "__metadata:*");
          } else {
            t.vars[key] = val;
            t.values[key] = val;
          }
        }
        if (!metric.empty())
          for (auto& a : t.asserts) a.metric = metric;
        out.push_back(std::move(t));
      }
    } else {
      throw runtime_error(fmt::format("{}: tests files must be .jsonl or .csv", path));
    }
    return out;
  }
};

}  // namespace

std::string render_template(const std::string& tpl, const nlohmann::json& values, const std::string& where) {
  return nunjucks::render(tpl, values, where);
}

Suite load_suite(const std::filesystem::path& file, std::vector<std::string>* warnings) {
  Loader L{std::filesystem::absolute(file).parent_path(), {}, yaml::Doc{file.string(), warnings}, {}};
  auto ws_root = Workspace::find_root(L.dir);
  std::error_code ec;
  L.root = std::filesystem::weakly_canonical(ws_root ? *ws_root : L.dir, ec);
  auto text = read_file_limited(file, 64u << 20, "a suite");
  require_utf8(text, file.string());
  L.hash.update(text.data(), text.size());
  auto root = yaml::parse(text, file.string());
  auto& doc = L.doc;
  doc.expect_map(root, "the suite");
  doc.check_keys(root, {"description", "prompts", "providers", "tests", "defaultTest", "thresholds", "outputPath",
                        "sharing", "evaluateOptions"},
                 "the suite");
  Suite s;
  s.file = file;
  if (auto d = root["description"]) s.description = doc.str(d, "description");
  auto prompts = doc.require(root, "prompts", "the suite");
  auto add_prompt = [&](const YAML::Node& p) {
    PromptSpec ps;
    std::string raw;
    if (p.IsScalar()) {
      raw = p.Scalar();
    } else {
      doc.expect_map(p, "a prompt");
      raw = p["raw"] ? doc.str(p["raw"], "prompt raw") : doc.str(doc.require(p, "id", "a prompt"), "prompt id");
      if (p["label"]) ps.label = doc.str(p["label"], "prompt label");
    }
    if (raw.rfind("file://", 0) == 0) {
      auto text = L.read(raw);
      if (ps.label.empty()) ps.label = raw.substr(7);
      ps.where = raw.substr(7);
      // promptfoo: a text file holds several prompts separated by lines of `---`.
      std::vector<std::string> parts;
      size_t start = 0;
      for (size_t pos = 0; pos <= text.size();) {
        auto nl = text.find('\n', pos);
        auto line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        if (line == "---" || line == "---\r") {
          parts.push_back(text.substr(start, pos - start));
          start = nl == std::string::npos ? text.size() : nl + 1;
        }
        if (nl == std::string::npos) break;
        pos = nl + 1;
      }
      if (!parts.empty()) {
        parts.push_back(text.substr(start));
        for (size_t i = 0; i < parts.size(); ++i) {
          auto t = parts[i];
          while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
          PromptSpec part{fmt::format("{}: {}", ps.label, i + 1), t, ps.where};
          nunjucks::check(part.text, part.where);
          s.prompts.push_back(part);
        }
        return;
      }
      ps.text = text;
    } else {
      ps.text = raw;
      if (ps.label.empty()) ps.label = raw.substr(0, std::min<size_t>(40, raw.find('\n')));
      ps.where = fmt::format("{} (the prompt at line {})", file.string(), p.Mark().line + 1);
    }
    nunjucks::check(ps.text, ps.where);  // refused before any case runs, never sent as it is
    s.prompts.push_back(ps);
  };
  if (prompts.IsSequence()) {
    for (const auto& p : prompts) add_prompt(p);
  } else if (prompts.IsMap() && !prompts["id"] && !prompts["raw"]) {
    // promptfoo's map form: {file://prompt.txt: label, ...}
    for (const auto& kv : prompts) {
      YAML::Node p;
      p["raw"] = kv.first.Scalar();
      p["label"] = kv.second.Scalar();
      add_prompt(p);
    }
  } else {
    add_prompt(prompts);
  }
  if (s.prompts.empty()) doc.fail(prompts, "'prompts' is empty");

  auto providers = doc.require(root, "providers", "the suite");
  auto add_provider = [&](const YAML::Node& p) {
    ProviderSpec ps;
    if (p.IsScalar()) {
      ps.id = p.Scalar();
    } else {
      doc.expect_map(p, "a provider");
      doc.check_keys(p, {"id", "label", "config"}, "a provider");
      ps.id = doc.str(doc.require(p, "id", "a provider"), "provider id");
      if (p["label"]) ps.label = doc.str(p["label"], "provider label");
      if (p["config"]) ps.config = to_json(p["config"]);
    }
    if (ps.label.empty()) ps.label = ps.id;
    s.providers.push_back(ps);
  };
  if (providers.IsSequence()) for (const auto& p : providers) add_provider(p);
  else add_provider(providers);
  if (s.providers.empty()) doc.fail(providers, "'providers' is empty");

  TestSpec defaults;
  if (auto d = root["defaultTest"]) {
    doc.expect_map(d, "defaultTest");
    doc.check_keys(d, {"vars", "assert", "options", "description"}, "defaultTest");
    defaults = L.test(to_json(d).contains("assert") ? nlohmann::json{{"vars", to_json(d["vars"])}} : to_json(d), "defaultTest");
    defaults.asserts = L.assertions(d["assert"]);
    if (auto o = d["options"]; o && o["provider"])
      s.judge = o["provider"].IsScalar() ? o["provider"].Scalar() : doc.str(o["provider"]["id"], "judge provider id");
    defaults.transform = L.options(d["options"]);
  }
  std::vector<TestSpec> tests;
  if (auto t = root["tests"]) {
    auto add_ref_or_inline = [&](const YAML::Node& n) {
      if (n.IsScalar() && n.Scalar().rfind("file://", 0) == 0) {
        auto more = L.tests_from_file(n.Scalar());
        tests.insert(tests.end(), more.begin(), more.end());
      } else {
        doc.expect_map(n, "a test");
        doc.check_keys(n, {"vars", "assert", "description", "options"}, "a test");
        auto vars = n["vars"] ? to_json(n["vars"]) : nlohmann::json::object();
        // promptfoo: a var whose value is a list expands into one test per value (the
        // cartesian product over every such var).
        std::vector<nlohmann::json> combos = {nlohmann::json::object()};
        if (vars.is_object())
          for (auto& [k, v] : vars.items()) {
            std::vector<nlohmann::json> next;
            for (const auto& c : combos) {
              if (v.is_array() && !v.empty())
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
        auto asserts = L.assertions(n["assert"]);
        auto transform = L.options(n["options"]);
        for (auto& c : combos) {
          auto ts = L.test(nlohmann::json{{"vars", c}, {"description", n["description"] ? n["description"].Scalar() : ""}},
                           L.doc.where(n));
          ts.asserts = asserts;
          ts.transform = transform;
          tests.push_back(std::move(ts));
        }
      }
    };
    if (t.IsSequence()) for (const auto& n : t) add_ref_or_inline(n);
    else add_ref_or_inline(t);
  }
  if (tests.empty()) tests.push_back({});  // prompts without vars: one test
  for (auto& t : tests) {
    for (const auto& [k, v] : defaults.vars) t.vars.emplace(k, v);
    for (const auto& [k, v] : defaults.values.items())
      if (!t.values.contains(k)) t.values[k] = v;
    t.asserts.insert(t.asserts.begin(), defaults.asserts.begin(), defaults.asserts.end());
    if (t.transform.is_null()) t.transform = defaults.transform;
  }
  s.tests = std::move(tests);
  if (auto th = root["thresholds"]) {
    doc.expect_map(th, "thresholds");
    doc.check_keys(th, {"pass_rate", "metrics"}, "thresholds");
    if (auto v = th["pass_rate"]) {
      s.pass_rate = doc.num(v, "thresholds.pass_rate");
      if (*s.pass_rate < 0 || *s.pass_rate > 1) doc.fail(v, "pass_rate must be between 0 and 1");
    }
    if (auto m = th["metrics"]) {
      doc.expect_map(m, "thresholds.metrics");
      for (const auto& kv : m) s.metric_minimums[kv.first.Scalar()] = doc.num(kv.second, "a metric threshold");
    }
  }
  s.content_sha256 = L.hash.hex();
  return s;
}

}  // namespace xops
