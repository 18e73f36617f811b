#include "core/eval/suite.hpp"

#include <glob.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/eval/assertion_shorthand.hpp"
#include "core/eval/assertions.hpp"
#include "core/eval/json_schema.hpp"
#include "core/eval/metric_expression.hpp"
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

namespace {

// J is nlohmann::json, or nlohmann::ordered_json where key order is sent on (chat prompts).
template <class J = nlohmann::json>
J to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence: {
      auto a = J::array();
      for (const auto& x : n) a.push_back(to_json<J>(x));
      return a;
    }
    case YAML::NodeType::Map: {
      auto o = J::object();
      for (const auto& kv : n) o[kv.first.Scalar()] = to_json<J>(kv.second);
      return o;
    }
    case YAML::NodeType::Scalar: {
      const auto& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted in the YAML: keep it a string
      // YAML 1.2's core schema, as js-yaml (promptfoo) reads it.
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
      if (s == "null" || s == "Null" || s == "NULL" || s == "~") return nullptr;
      try {  // integers stay integers: a provider's max_tokens: 128 is sent as 128, not 128.0
        size_t used = 0;
        long long i = std::stoll(s, &used, 10);
        if (used == s.size()) return i;
      } catch (...) {
      }
      try {
        size_t used = 0;
        double d = std::stod(s, &used);
        if (used == s.size() && s.find_first_of("xXnN") == std::string::npos)
          return d;  // not 0x1F, nan, inf
      } catch (...) {
      }
      return s;
    }
    default:
      return nullptr;
  }
}

std::string scalar_text(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<long long>());
  if (j.is_number()) {
    double d = j.get<double>();
    // Range first: converting 1e300 to an integer is undefined behaviour.
    if (std::isfinite(d) && std::fabs(d) < 9e15 && d == std::floor(d))
      return std::to_string(static_cast<long long>(d));
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
  size_t line = 1 + static_cast<size_t>(std::count(
                        text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n'));
  throw runtime_error(fmt::format("{}:{}: not valid UTF-8 (byte offset {})", file, line, bad),
                      "save the file as UTF-8");
}

bool has_glob(const std::string& s) {
  return s.find_first_of("*?[") != std::string::npos;
}

// A suite's test options (`options:`), as far as xops runs them.
struct TestOptions {
  nlohmann::json transform;  // null, code, or {"file", "function"}
  std::string prefix, suffix, provider, embedding;
};

struct Loader {
  std::filesystem::path dir;
  Sha256 hash;
  yaml::Doc doc;
  std::vector<std::string>* warnings = nullptr;
  std::filesystem::path
      root;           // file:// references must stay under it (the workspace, else the suite's dir)
  YAML::Node config;  // the suite document, for `$ref: '#/...'`

  std::filesystem::path resolve(const std::string& path) {
    std::filesystem::path p = path;
    return p.is_relative() ? dir / p : p;
  }

  std::string read(const std::string& ref) {
    auto p = resolve(ref.rfind("file://", 0) == 0 ? ref.substr(7) : ref);
    std::error_code ec;
    if (!std::filesystem::exists(p, ec))
      throw runtime_error(fmt::format("{}: {} not found (paths are relative to the suite file)",
                                      doc.file, p.string()));
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

  // file://dir/*.txt -> the matching files, sorted; a pattern that matches nothing is an error
  // (promptfoo would silently run fewer cases).
  std::vector<std::string> expand(const std::string& ref) {
    auto pattern = ref.substr(7);
    if (!has_glob(pattern)) return {ref};
    glob_t g{};
    auto full = resolve(pattern).string();
    int rc = ::glob(full.c_str(), GLOB_NOSORT, nullptr, &g);
    std::vector<std::string> out;
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; ++i)
      if (std::filesystem::is_regular_file(g.gl_pathv[i]))
        out.push_back(std::string("file://") + g.gl_pathv[i]);
    globfree(&g);
    if (out.empty()) throw runtime_error(fmt::format("{}: {} matches no file", doc.file, ref));
    if (out.size() > 10000)
      throw runtime_error(fmt::format("{}: {} matches over 10,000 files", doc.file, ref));
    std::sort(out.begin(), out.end());
    return out;
  }

  // `$ref: '#/path/to/node'` (JSON pointer into this suite), as promptfoo resolves it.
  YAML::Node deref(const YAML::Node& n, int depth = 0) {
    if (!n.IsMap() || !n["$ref"]) return n;
    if (n.size() != 1) doc.fail(n, "a $ref must stand alone (promptfoo ignores the other keys)");
    auto ref = doc.str(n["$ref"], "$ref");
    if (ref.rfind("#/", 0) != 0)
      doc.fail(n["$ref"], fmt::format("$ref '{}' is not supported", ref),
               "refer into this suite: '#/assertionTemplates/NAME'");
    if (depth > 16) doc.fail(n["$ref"], "$ref chain is too deep");
    YAML::Node cur = YAML::Clone(config);
    size_t pos = 2;
    while (pos <= ref.size()) {
      auto slash = ref.find('/', pos);
      auto part = ref.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
      for (size_t k; (k = part.find("~1")) != std::string::npos;) part.replace(k, 2, "/");
      for (size_t k; (k = part.find("~0")) != std::string::npos;) part.replace(k, 2, "~");
      YAML::Node next;
      if (cur.IsMap() && cur[part])
        next = cur[part];
      else if (cur.IsSequence() && !part.empty() &&
               part.find_first_not_of("0123456789") == std::string::npos &&
               std::stoul(part) < cur.size())
        next = cur[std::stoul(part)];
      else
        doc.fail(n["$ref"], fmt::format("$ref '{}' names nothing in this suite", ref));
      cur = next;
      if (slash == std::string::npos) break;
      pos = slash + 1;
    }
    return deref(cur, depth + 1);
  }

  // file://path.js[:function] of a script assertion or transform: checked (inside the
  // project), hashed like every file a suite reads, and made absolute for the worker.
  nlohmann::json script_ref(const std::string& v) {
    auto ref = v.substr(7), fn = std::string();
    auto colon = ref.rfind(':');
    if (colon != std::string::npos && ref.find('/', colon) == std::string::npos &&
        ref.find('.', colon) == std::string::npos) {
      fn = ref.substr(colon + 1);
      ref = ref.substr(0, colon);
    }
    read("file://" + ref);
    return nlohmann::json{{"file", std::filesystem::weakly_canonical(resolve(ref)).string()},
                          {"function", fn}};
  }

  nlohmann::json transform(const YAML::Node& t, const std::string& what) {
    auto code = doc.str(t, what);
    if (code.rfind("file://", 0) == 0) {
      auto path = code.substr(7);
      auto colon = path.rfind(':');
      auto file = colon != std::string::npos && path.find('.', colon) == std::string::npos
                      ? path.substr(0, colon)
                      : path;
      if (ends_with(file, ".py")) {
        // promptfoo: a Python transform file exports get_transform(output, context).
        auto ref = script_ref(code);
        if (ref["function"].get<std::string>().empty()) ref["function"] = "get_transform";
        ref["language"] = "python";
        return ref;
      }
      if (!is_javascript_file(path))
        doc.fail(
            t, fmt::format("{}: a transform is JavaScript (inline or .js) or Python (.py)", what));
      return script_ref(code);
    }
    return code;  // inline transforms are JavaScript, as in promptfoo
  }

  // Checks an assertion whatever its source (YAML, a CSV cell): type, value shape, files.
  void finish_assertion(AssertionSpec& a, const YAML::Node& at) {
    auto base = a.type.rfind("not-", 0) == 0 ? a.type.substr(4) : a.type;
    if (!known_assertion_type(base))
      doc.fail(at, fmt::format("unknown assertion type '{}'", a.type),
               fmt::format("supported: {}, each with a not- form",
                           fmt::join(assertion_type_names(), ", ")));
    if (a.value.is_string()) nunjucks::check(a.value.get<std::string>(), doc.where(at));
    if (base == "javascript" || base == "python") {
      // promptfoo fails each such case at run time; refusing up front says why once.
      if (!a.value.is_string())
        doc.fail(at, fmt::format("a {} assertion needs code or file://PATH as its value", base));
      auto v = a.value.get<std::string>();
      if (v.rfind("file://", 0) == 0) a.value = script_ref(v);
    }
    if ((base == "is-json" || base == "contains-json") && a.value.is_string()) {
      // A schema given as text (YAML or JSON), or file://schema.json.
      auto text = a.value.get<std::string>();
      if (text.rfind("file://", 0) == 0) text = read(text);
      try {
        a.value = to_json(yaml::parse(text, doc.where(at)));
      } catch (const Error& e) {
        doc.fail(at, fmt::format("the JSON schema does not parse: {}", e.what()));
      }
      if (!a.value.is_object()) doc.fail(at, "a JSON schema must be an object");
    }
    if ((base == "is-json" || base == "contains-json") && a.value.is_object())
      check_json_schema(a.value, doc.where(at));
  }

  AssertionSpec assertion(const YAML::Node& n0) {
    auto n = deref(n0);
    doc.expect_map(n, "an assertion");
    strict(n,
           {"type", "value", "threshold", "weight", "metric", "provider", "baseline", "timeout",
            "config", "transform"},
           "an assertion");
    AssertionSpec a;
    a.type = doc.str(doc.require(n, "type", "an assertion"), "assert type");
    if (auto v = n["value"]) a.value = to_json(v);
    if (auto v = n["threshold"]) a.threshold = doc.num(v, "threshold");
    if (auto v = n["weight"]) a.weight = doc.num(v, "weight");
    if (a.weight < 0) doc.fail(n["weight"], "weight must be 0 or more");
    if (auto v = n["timeout"])
      a.timeout_ms = static_cast<int>(doc.integer_in(v, "timeout (ms)", 1, 3600000));
    if (auto v = n["metric"]) a.metric = doc.str(v, "metric");
    if (auto v = n["provider"])
      a.provider = v.IsScalar() ? v.Scalar() : doc.str(v["id"], "provider id");
    if (auto v = n["baseline"]) a.baseline = doc.str(v, "baseline");
    if (auto v = n["config"]) a.config = to_json(v);
    if (auto v = n["transform"]) a.transform = transform(v, "an assertion's transform");
    finish_assertion(a, n["type"]);
    return a;
  }

  std::vector<AssertionSpec> assertions(const YAML::Node& n) {
    std::vector<AssertionSpec> out;
    if (!n) return out;
    if (!n.IsSequence()) doc.fail(n, "'assert' must be a list");
    for (const auto& a : n) out.push_back(assertion(a));
    return out;
  }

  // Unknown keys are refused, not ignored: a setting xops does not run would change the
  // verdicts silently.
  void strict(const YAML::Node& n, std::initializer_list<const char*> allowed,
              const std::string& what) {
    for (const auto& kv : n) {
      auto k = kv.first.Scalar();
      bool ok = false;
      std::string list, near;
      for (const char* a : allowed) {
        ok |= k == a;
        list += (list.empty() ? "" : ", ") + std::string(a);
        if (edit_distance(k, std::string(a)) <= 2) near = fmt::format(" (did you mean '{}'?)", a);
      }
      if (!ok)
        doc.fail(kv.first, fmt::format("{}: '{}' is not supported{}", what, k, near),
                 "supported: " + list);
    }
  }

  TestOptions options(const YAML::Node& o) {
    TestOptions t;
    if (!o) return t;
    doc.expect_map(o, "options");
    strict(o, {"transform", "provider", "prefix", "suffix"}, "a test's options");
    if (auto v = o["transform"]) t.transform = transform(v, "options.transform");
    if (auto v = o["prefix"]) t.prefix = doc.str(v, "options.prefix");
    if (auto v = o["suffix"]) t.suffix = doc.str(v, "options.suffix");
    if (auto v = o["provider"]) {
      if (v.IsScalar())
        t.provider = v.Scalar();
      else if (v["id"])
        t.provider = doc.str(v["id"], "options.provider id");
      else if (v["text"] || v["embedding"]) {
        strict(v, {"text", "embedding"}, "options.provider");
        auto id = [&](const YAML::Node& x) {
          return x.IsScalar() ? x.Scalar() : doc.str(x["id"], "provider id");
        };
        if (v["text"]) t.provider = id(v["text"]);
        if (v["embedding"]) t.embedding = id(v["embedding"]);
      } else {
        doc.fail(v, "options.provider: give an id, or {text, embedding}");
      }
    }
    return t;
  }

  // A var's value as promptfoo loads it: file://x.txt is the file's text (trimmed),
  // file://x.yaml its data as JSON text; script-computed vars are refused.
  nlohmann::json load_var(const nlohmann::json& v, const YAML::Node& at) {
    if (!v.is_string()) return v;
    auto s = v.get<std::string>();
    if (s.rfind("file://", 0) != 0) return s;
    auto path = s.substr(7);
    if (is_javascript_file(path) || ends_with(path, ".py"))
      doc.fail(at, fmt::format("var {}: vars computed by scripts are not supported", s),
               "compute it into a file first");
    auto text = read(s);
    if (ends_with(path, ".yaml") || ends_with(path, ".yml"))
      return to_json(yaml::parse(text, path)).dump();
    return trim(text);
  }

  void add_test(const YAML::Node& n0, std::vector<TestSpec>& out) {
    auto n = deref(n0);
    doc.expect_map(n, "a test");
    strict(n, {"vars", "assert", "description", "options", "threshold", "metadata"}, "a test");
    auto vars = n["vars"] ? to_json(n["vars"]) : nlohmann::json::object();
    if (!vars.is_object()) doc.fail(n["vars"], "'vars' must be a map");
    // promptfoo: a var whose value is a list (or a file:// glob) expands into one test per
    // value, the cartesian product over every such var.
    for (auto& [k, v] : vars.items())
      if (v.is_string() && v.get<std::string>().rfind("file://", 0) == 0 &&
          has_glob(v.get<std::string>())) {
        auto files = expand(v.get<std::string>());
        v = nlohmann::json(files);
      }
    std::vector<nlohmann::json> combos = {nlohmann::json::object()};
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
      if (combos.size() > 100000)
        doc.fail(n["vars"], "its list values expand to over 100,000 tests");
    }
    TestSpec proto;
    if (auto d = n["description"]) proto.description = doc.str(d, "description");
    proto.asserts = assertions(n["assert"]);
    auto o = options(n["options"]);
    proto.transform = o.transform;
    proto.prefix = o.prefix;
    proto.suffix = o.suffix;
    if (auto t = n["threshold"]) proto.threshold = doc.num(t, "threshold");
    if (auto m = n["metadata"]) {
      doc.expect_map(m, "metadata");
      auto meta = to_json(m);  // a named value: items() of a temporary would dangle
      for (auto& [k, v] : meta.items()) proto.metadata[k] = scalar_text(v);
    }
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
        t.vars[k] = scalar_text(value);
        t.values[k] = value;
      }
      out.push_back(std::move(t));
    }
  }

  void add_tests(const YAML::Node& n, std::vector<TestSpec>& out) {
    if (n.IsSequence()) {
      for (const auto& x : n) add_tests(x, out);
    } else if (n.IsScalar() && n.Scalar().rfind("file://", 0) == 0) {
      for (const auto& f : expand(n.Scalar())) tests_from_file(f, out);
    } else {
      add_test(n, out);
    }
  }

  // Loads another file's tests with that file's name in error messages.
  template <class F>
  void with_doc(const std::string& name, F&& f) {
    auto saved = doc.file;
    doc.file = name;
    try {
      f();
    } catch (...) {
      doc.file = saved;
      throw;
    }
    doc.file = saved;
  }

  void tests_from_file(const std::string& ref, std::vector<TestSpec>& out) {
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
          throw runtime_error(fmt::format("{}: {}", where, e.what()));
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

  void tests_from_csv(const std::string& text, const std::string& path,
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
        if (auto it = thresholds.find(i); it != thresholds.end())
          t.asserts[i].threshold = it->second;
      }
      out.push_back(std::move(t));
    }
  }

  // One `prompts:` entry: inline text, or file:// (a glob, several prompts per file).
  void add_prompt(const YAML::Node& p, std::vector<PromptSpec>& out,
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
            throw runtime_error(fmt::format("{}: not valid JSON: {}", shown, e.what()));
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
            throw runtime_error(fmt::format("{}:{}: not valid JSON: {}", shown, line, e.what()));
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

  ProviderSpec provider(const YAML::Node& p) {
    ProviderSpec ps;
    YAML::Node opts;
    if (p.IsScalar()) {
      ps.id = p.Scalar();
    } else {
      doc.expect_map(p, "a provider");
      if (!p["id"] && p.size() == 1) {  // promptfoo's map form: {"openai:gpt-4o": {config: ...}}
        auto kv = *p.begin();
        ps.id = kv.first.Scalar();
        opts = kv.second;
        if (opts && !opts.IsNull()) doc.expect_map(opts, "a provider's options");
      } else {
        ps.id = doc.str(doc.require(p, "id", "a provider"), "provider id");
        opts = p;
      }
    }
    if (opts && opts.IsMap()) {
      strict(opts, {"id", "label", "config", "prompts"}, "a provider");
      if (opts["label"]) ps.label = doc.str(opts["label"], "provider label");
      if (opts["config"]) ps.config = to_json(opts["config"]);
      if (opts["prompts"]) ps.prompts = doc.str_list(opts["prompts"], "provider prompts");
    }
    if (ps.label.empty()) ps.label = ps.id;
    return ps;
  }
};

}  // namespace

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
            "tags", "metadata", "writeLatestResults"},
           "the suite");
  Suite s;
  s.file = file;
  if (auto d = root["description"]) s.description = doc.str(d, "description");
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
    L.strict(d, {"vars", "assert", "options", "description", "threshold", "metadata"},
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
    s.judge = o.provider;
    s.embedding = o.embedding;
    defaults.transform = o.transform;
    defaults.prefix = o.prefix;
    defaults.suffix = o.suffix;
    if (auto t = d["threshold"]) defaults.threshold = doc.num(t, "threshold");
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
  s.content_sha256 = L.hash.hex();
  return s;
}

bool prompt_matches(const PromptSpec& p, const std::string& want) {
  return p.label == want || p.ref == want || p.label.rfind(want + ":", 0) == 0 || p.text == want;
}

}  // namespace xops
