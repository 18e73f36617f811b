// The suite loader: files and globs under the root, $ref, scripts and transforms, assertions,
// test options, vars from files, providers.
#include "core/eval/suite_loader.hpp"

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
#include "core/util/node_glob.hpp"
#include "core/util/strings.hpp"
#include "core/util/text_distance.hpp"
#include "core/util/utf8.hpp"
#include "core/util/yaml_util.hpp"

namespace xops::suite_detail {

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

std::filesystem::path
    root;           // file:// references must stay under it (the workspace, else the suite's dir)
YAML::Node config;  // the suite document, for `$ref: '#/...'`

std::filesystem::path Loader::resolve(const std::string& path) {
  std::filesystem::path p = path;
  return p.is_relative() ? dir / p : p;
}

std::string Loader::read(const std::string& ref) {
  auto p = resolve(ref.rfind("file://", 0) == 0 ? ref.substr(7) : ref);
  std::error_code ec;
  // A suite may come from someone else's commit: it reads files of its own project, not
  // ~/.ssh (which a provider could then receive as a prompt). Symlinks are resolved first;
  // a path outside is said to be outside whether or not it exists.
  auto real = std::filesystem::weakly_canonical(p, ec);
  if (ec || relative_inside(real, root).empty())
    throw runtime_error(fmt::format("{}: {} is outside {}", doc.file, ref, root.string()),
                        "a suite reads files inside its project; copy the file there");
  if (!std::filesystem::exists(p, ec))
    throw runtime_error(fmt::format("{}: {} not found (paths are relative to the suite file)",
                                    doc.file, p.string()));
  auto text = read_file_limited(p, 256u << 20, "a suite file");
  require_utf8(text, p.string());
  hash.update(p.string().data(), p.string().size());
  hash.update(text.data(), text.size());
  return text;
}

std::vector<std::string> Loader::expand(const std::string& ref) {
  auto pattern = ref.substr(7);
  if (!has_glob(pattern)) return {ref};
  std::vector<std::string> out;
  try {
    for (const auto& p : node_glob(resolve(pattern).string()))
      if (std::filesystem::is_regular_file(p)) out.push_back("file://" + p.string());
  } catch (const Error& e) {
    throw runtime_error(fmt::format("{}: {}", doc.file, e.what()), e.hint());
  }
  if (out.empty()) throw runtime_error(fmt::format("{}: {} matches no file", doc.file, ref));
  return out;  // in promptfoo's order (core/util/node_glob.hpp), not sorted
}

YAML::Node Loader::deref(const YAML::Node& n, int depth) {
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

nlohmann::json Loader::script_ref(const std::string& v) {
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

nlohmann::json Loader::transform(const YAML::Node& t, const std::string& what) {
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
      doc.fail(t,
               fmt::format("{}: a transform is JavaScript (inline or .js) or Python (.py)", what));
    return script_ref(code);
  }
  return code;  // inline transforms are JavaScript, as in promptfoo
}

nlohmann::json Loader::scoring_function(const YAML::Node& n) {
  auto ref = doc.str(n, "assertScoringFunction");
  const std::string hint =
      "give file://path.js[:function] or file://path.py[:function] (promptfoo takes no inline "
      "code here)";
  if (ref.rfind("file://", 0) != 0)
    doc.fail(n, "assertScoringFunction must be a file:// reference", hint);
  auto path = ref.substr(7);
  auto colon = path.rfind(':');
  auto file = colon != std::string::npos && path.find('.', colon) == std::string::npos &&
                      path.find('/', colon) == std::string::npos
                  ? path.substr(0, colon)
                  : path;
  bool python = ends_with(file, ".py");
  if (!python && !is_javascript_file(file))
    doc.fail(n, fmt::format("assertScoringFunction '{}' is not a JavaScript or Python file", ref),
             hint);
  auto out = script_ref(ref);
  if (python && out["function"].get<std::string>().empty()) out["function"] = "func";
  out["language"] = python ? "python" : "javascript";
  out["ref"] = ref;
  return out;
}

void Loader::finish_assertion(AssertionSpec& a, const YAML::Node& at) {
  auto base = a.type.rfind("not-", 0) == 0 ? a.type.substr(4) : a.type;
  if (!known_assertion_type(base))
    doc.fail(at, fmt::format("unknown assertion type '{}'", a.type),
             fmt::format("supported: {}, each with a not- form",
                         fmt::join(assertion_type_names(), ", ")));
  if (a.value.is_string()) nunjucks::check(a.value.get<std::string>(), doc.where(at));
  if (base == "select-best" || base == "max-score") {
    if (base != a.type) doc.fail(at, fmt::format("{} has no not- form", base));
    if (base == "select-best" && !a.value.is_string())
      doc.fail(at, "select-best needs its criteria as the value (a string)");
    if (base == "max-score" && !a.value.is_null()) {
      if (!a.value.is_object()) doc.fail(at, "max-score's value is {method, weights, threshold}");
      for (const auto& [k, v] : a.value.items()) {
        bool ok = (k == "method" && v.is_string() &&
                   (v.get<std::string>() == "average" || v.get<std::string>() == "sum")) ||
                  (k == "threshold" && v.is_number()) ||
                  (k == "weights" && v.is_object() &&
                   std::all_of(v.begin(), v.end(), [](const auto& w) { return w.is_number(); }));
        if (!ok)
          doc.fail(at, fmt::format("max-score: '{}' is not method (average|sum), weights "
                                   "({{TYPE: number}}) or threshold (a number)",
                                   k));
      }
    }
  }
  if (base == "feedback-addressed") {
    bool ok = a.value.is_object() && a.value.contains("comment") && a.value["comment"].is_string();
    if (a.value.is_object())
      for (const auto& [k, v] : a.value.items())
        ok = ok && (k == "comment" || k == "previous") && v.is_string();
    if (!ok)
      doc.fail(at, "feedback-addressed's value is {comment: TEXT, previous: TEXT}",
               "the user's comment and the answer it was about (`xops eval --from-logs "
               "--max-score S` writes them)");
  }
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

AssertionSpec Loader::assertion(const YAML::Node& n0) {
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
  if (auto v = n["provider"]) a.provider = provider_ref(v, "an assertion's provider");
  if (auto v = n["baseline"]) a.baseline = doc.str(v, "baseline");
  if (auto v = n["config"]) a.config = to_json(v);
  if (auto v = n["transform"]) a.transform = transform(v, "an assertion's transform");
  finish_assertion(a, n["type"]);
  return a;
}

std::vector<AssertionSpec> Loader::assertions(const YAML::Node& n) {
  std::vector<AssertionSpec> out;
  if (!n) return out;
  if (!n.IsSequence()) doc.fail(n, "'assert' must be a list");
  for (const auto& a : n) out.push_back(assertion(a));
  return out;
}

void Loader::strict(const YAML::Node& n, std::initializer_list<const char*> allowed,
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

TestOptions Loader::options(const YAML::Node& o) {
  TestOptions t;
  if (!o) return t;
  doc.expect_map(o, "options");
  strict(o, {"transform", "provider", "prefix", "suffix", "literal"}, "a test's options");
  if (auto v = o["literal"]) t.literal = doc.boolean(v, "options.literal");
  if (auto v = o["transform"]) t.transform = transform(v, "options.transform");
  if (auto v = o["prefix"]) t.prefix = doc.str(v, "options.prefix");
  if (auto v = o["suffix"]) t.suffix = doc.str(v, "options.suffix");
  if (auto v = o["provider"]) {
    if (v.IsScalar() || v["id"]) {
      t.provider = provider_ref(v, "options.provider");
    } else if (v["text"] || v["embedding"]) {
      strict(v, {"text", "embedding"}, "options.provider");
      if (v["text"]) t.provider = provider_ref(v["text"], "options.provider.text");
      if (v["embedding"]) t.embedding = provider_ref(v["embedding"], "options.provider.embedding");
    } else {
      doc.fail(v, "options.provider: give an id, or {text, embedding}");
    }
  }
  return t;
}

nlohmann::json Loader::load_var(const nlohmann::json& v, const YAML::Node& at) {
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

ProviderSpec Loader::provider(const YAML::Node& p) {
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

std::string Loader::provider_ref(const YAML::Node& v, const std::string& what) {
  if (v.IsScalar()) return v.Scalar();
  doc.expect_map(v, what);
  strict(v, {"id", "label", "config"}, what);
  ProviderSpec ps;
  ps.id = doc.str(doc.require(v, "id", what), what + " id");
  if (v["label"]) ps.label = doc.str(v["label"], what + " label");
  if (v["config"]) {
    doc.expect_map(v["config"], what + " config");
    ps.config = to_json(v["config"]);
  }
  if (ps.label.empty() && ps.config.empty()) return ps.id;
  // The name assertions refer to it by: its label, else its id and a number (two objects
  // with one id and different configs are two providers).
  auto name =
      !ps.label.empty() ? ps.label : fmt::format("{}#{}", ps.id, named_providers.size() + 1);
  if (ps.label.empty()) ps.label = name;
  auto [it, fresh] = named_providers.emplace(name, ps);
  if (!fresh && (it->second.id != ps.id || it->second.config != ps.config))
    doc.fail(v, fmt::format("{}: the label '{}' names another provider already", what, name));
  return name;
}

}  // namespace xops::suite_detail
