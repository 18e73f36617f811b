#include "core/project/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <regex>

#include "core/error.hpp"
#include "core/project/s3_url.hpp"
#include "core/util/fs.hpp"
#include "core/util/safe_path.hpp"
#include "core/util/yaml_util.hpp"

namespace xops {

const RemoteConfig* ProjectConfig::default_remote() const {
  for (const auto& r : remotes)
    if (r.is_default) return &r;
  return remotes.size() == 1 ? &remotes[0] : nullptr;
}

bool GateConfig::applies_to(const std::string& artifact, const std::string& type) const {
  if (!artifacts.empty())
    return std::find(artifacts.begin(), artifacts.end(), artifact) != artifacts.end();
  return !(pairwise || online_pairwise) || type == "model" || type == "adapter";
}

const RemoteConfig* ProjectConfig::remote(const std::string& name) const {
  for (const auto& r : remotes)
    if (r.name == name) return &r;
  return nullptr;
}

// `pairwise:` of a gate. Its keys are strict: a misspelt threshold would leave a gate that
// checks less than its author thinks.
static void read_pairwise_gate(const yaml::Doc& doc, const YAML::Node& pw, const std::string& what,
                               GateConfig& gc, const std::vector<std::string>& stages) {
  auto w = what + " pairwise";
  doc.expect_map(pw, w);
  for (const auto& kv : pw) {
    auto key = kv.first.Scalar();
    if (key != "suite" && key != "baseline" && key != "min_win_rate" && key != "max_regressions")
      doc.fail(kv.first, fmt::format("unknown key '{}' in {}", key, w),
               "its keys: suite, baseline, min_win_rate, max_regressions");
  }
  gc.pairwise = true;
  gc.min_pass_rate = 0;  // a pairwise gate judges the comparison, not the pass rate
  gc.eval = doc.str(doc.require(pw, "suite", w), w + " suite");
  auto b = doc.require(pw, "baseline", w);
  gc.baseline = doc.str(b, w + " baseline");
  bool stage = std::find(stages.begin(), stages.end(), gc.baseline) != stages.end();
  if (!stage && gc.baseline.find_first_of("@#") == std::string::npos)
    doc.fail(
        b, fmt::format("pairwise baseline '{}' is neither a stage nor a registry ref", gc.baseline),
        "a stage (the version that held it before the candidate), or NAME@vX.Y.Z, "
        "NAME#STAGE, NAME#STAGE~1");
  if (auto m = pw["min_win_rate"]) {
    gc.min_win_rate = doc.num(m, w + " min_win_rate");
    if (*gc.min_win_rate < 0 || *gc.min_win_rate > 1)
      doc.fail(m, "min_win_rate must be between 0 and 1", "0.5: no worse than the baseline");
  }
  if (auto m = pw["max_regressions"])
    gc.max_regressions = static_cast<int>(doc.integer_in(m, w + " max_regressions", 0, 1000000));
  if (!gc.min_win_rate && !gc.max_regressions)
    doc.fail(pw, "a pairwise gate needs min_win_rate or max_regressions (or both)",
             "e.g. {suite: evals/x.yaml, baseline: prod, min_win_rate: 0.5, max_regressions: 0}");
}

// `monitor:` thresholds. Strict keys: a misspelt threshold would be an alert that never fires.
static void read_monitor(const yaml::Doc& doc, const YAML::Node& m, MonitorConfig& out);
static void check_monitor(const yaml::Doc& doc, const YAML::Node& m, MonitorConfig& out) {
  read_monitor(doc, m, out);
  if (out.max_prompt_drift && out.drift_suite.empty())
    doc.fail(m["max_prompt_drift"],
             "monitor.max_prompt_drift needs monitor.drift_suite (the suite served prompts are "
             "compared with)",
             "e.g. monitor: {drift_suite: evals/qa.yaml, embedding: models/m, "
             "max_prompt_drift: 0.15}");
}
static void read_monitor(const yaml::Doc& doc, const YAML::Node& m, MonitorConfig& out) {
  doc.expect_map(m, "'monitor'");
  out.where = doc.line_of(m);
  for (const auto& kv : m) {
    auto key = kv.first.Scalar();
    const auto& v = kv.second;
    auto what = "monitor." + key;
    auto at_least_0 = [&] {
      double x = doc.num(v, what);
      if (x < 0) doc.fail(v, what + " must be >= 0");
      return x;
    };
    if (key == "since")
      out.since = doc.str(v, what);
    else if (key == "max_p95_latency_ms")
      out.max_p95_latency_ms = at_least_0();
    else if (key == "max_p95_ttft_ms")
      out.max_p95_ttft_ms = at_least_0();
    else if (key == "max_error_rate") {
      out.max_error_rate = at_least_0();
      if (*out.max_error_rate > 1) doc.fail(v, "monitor.max_error_rate is a share: 0 to 1");
    } else if (key == "min_feedback_mean") {
      if (v.IsMap())
        for (const auto& s : v) out.min_feedback_mean[s.first.Scalar()] = doc.num(s.second, what);
      else
        out.min_feedback_mean["score"] = doc.num(v, what);
    } else if (key == "max_psi")
      out.max_psi = at_least_0();
    else if (key == "drift_suite")
      out.drift_suite = doc.str(v, what);
    else if (key == "embedding")
      out.embedding = doc.str(v, what);
    else if (key == "max_prompt_drift") {
      out.max_prompt_drift = at_least_0();
      if (*out.max_prompt_drift > 1) doc.fail(v, "monitor.max_prompt_drift is a share: 0 to 1");
    } else if (key == "min_requests")
      out.min_requests = static_cast<size_t>(doc.integer_in(v, what, 1, 1000000000));
    else
      doc.fail(kv.first, fmt::format("unknown key '{}' in 'monitor'", key),
               "its keys: since, max_p95_latency_ms, max_p95_ttft_ms, max_error_rate, "
               "min_feedback_mean, max_psi, drift_suite, embedding, max_prompt_drift, "
               "min_requests");
  }
}

// `feedback: {scores: {NAME: {min, max, integer, description}}}`. Strict: a score a client
// sends that is not declared is refused, so a typo cannot start a new series.
static void read_feedback(const yaml::Doc& doc, const YAML::Node& f, ProjectConfig& cfg) {
  doc.expect_map(f, "'feedback'");
  auto strict = [&](const YAML::Node& m, std::initializer_list<const char*> keys,
                    const std::string& what) {
    for (const auto& kv : m)
      if (std::none_of(keys.begin(), keys.end(),
                       [&](const char* k) { return kv.first.Scalar() == k; }))
        doc.fail(kv.first, fmt::format("unknown key '{}' in {}", kv.first.Scalar(), what),
                 fmt::format("its keys: {}", fmt::join(keys, ", ")));
  };
  strict(f, {"scores"}, "'feedback'");
  cfg.feedback_where = doc.line_of(f);
  auto scores = doc.require(f, "scores", "'feedback'");
  doc.expect_map(scores, "'feedback.scores'");
  cfg.feedback_scores.clear();
  static const std::regex name_re("[A-Za-z][A-Za-z0-9_.-]{0,63}");
  for (const auto& kv : scores) {
    auto name = kv.first.Scalar();
    if (!std::regex_match(name, name_re))
      doc.fail(kv.first, fmt::format("feedback score name '{}' is not a plain name", name),
               "letters, digits, _ . - (up to 64), starting with a letter");
    auto what = "feedback.scores." + name;
    ScoreSpec spec;
    const auto& v = kv.second;
    doc.expect_map(v, "'" + what + "'");
    strict(v, {"min", "max", "integer", "description"}, "'" + what + "'");
    spec.min = doc.num(doc.require(v, "min", what), what + ".min");
    spec.max = doc.num(doc.require(v, "max", what), what + ".max");
    if (!(spec.min < spec.max))
      doc.fail(v, fmt::format("{}: min ({:g}) must be below max ({:g})", what, spec.min, spec.max));
    if (auto i = v["integer"]) spec.integer = doc.boolean(i, what + ".integer");
    if (auto d = v["description"]) spec.description = doc.str(d, what + ".description");
    cfg.feedback_scores[name] = spec;
  }
  if (cfg.feedback_scores.empty())
    doc.fail(scores, "'feedback.scores' declares no score",
             "e.g. scores: {score: {min: 0, max: 1}}");
}

static void read_defaults(const yaml::Doc& doc, const YAML::Node& node,
                          std::map<std::string, std::string>& out,
                          std::map<std::string, std::string>& where) {
  doc.expect_map(node, "'defaults'");
  std::initializer_list<const char*> keys = {"device", "threads", "jobs",
                                             "remote", "dtype",   "eval"};
  doc.check_keys(node, keys, "'defaults'");
  for (const auto& kv : node) {
    auto key = kv.first.Scalar();
    if (key == "eval") {  // eval: {judge, embedding} -> the settings eval.judge / eval.embedding
      doc.expect_map(kv.second, "'defaults.eval'");
      doc.check_keys(kv.second, {"judge", "embedding"}, "'defaults.eval'");
      for (const auto& e : kv.second) {
        auto sub = "eval." + e.first.Scalar();
        out[sub] = doc.str(e.second, "defaults." + sub);
        where[sub] = doc.line_of(e.second);
      }
      continue;
    }
    out[key] = doc.str(kv.second, "defaults." + key);
    where[key] = doc.line_of(kv.second);
  }
}

ProjectConfig parse_project_config(const std::string& text, const std::string& display_name,
                                   std::vector<std::string>* warnings) {
  yaml::Doc doc{display_name, warnings};
  YAML::Node root = yaml::parse(text, display_name);
  ProjectConfig cfg;
  cfg.file = display_name;
  if (!root.IsMap())
    throw runtime_error(
        fmt::format("{}: the project file must be a mapping of keys", doc.where(root)),
        "start from the file that `xops init` writes");
  doc.check_keys(root,
                 {"name", "stages", "artifacts", "remotes", "gates", "defaults", "tracking",
                  "monitor", "feedback"},
                 "the project file");
  cfg.name = doc.str(doc.require(root, "name", "the project file"), "'name'");
  if (cfg.name.empty()) doc.fail(root["name"], "'name' must not be empty");

  if (auto st = root["stages"]) {
    cfg.stages = doc.str_list(st, "'stages'");
    if (cfg.stages.empty()) doc.fail(st, "'stages' must name at least one stage");
  }
  if (auto arts = root["artifacts"]; arts && !arts.IsNull()) {
    doc.expect_map(arts, "'artifacts'");
    for (const auto& kv : arts) {
      ArtifactConfig a;
      a.name = kv.first.Scalar();
      auto what = "artifact '" + a.name + "'";
      doc.expect_map(kv.second, what);
      doc.check_keys(kv.second, {"path", "type", "description"}, what);
      auto path_node = doc.require(kv.second, "path", what);
      a.path = doc.str(path_node, what + " path");
      while (a.path.size() > 1 && a.path.back() == '/') a.path.pop_back();
      if (auto why = unsafe_path_reason(a.path); !why.empty())
        doc.fail(path_node, fmt::format("{} path '{}' {}", what, a.path, why),
                 "a path relative to the project, inside it");
      if (auto t = kv.second["type"]) {
        a.type = doc.str(t, what + " type");
        if (a.type != "model" && a.type != "adapter" && a.type != "dataset" && a.type != "prompt" &&
            a.type != "index" && a.type != "other")
          doc.fail(t,
                   fmt::format(
                       "{} type '{}' is not one of model, adapter, dataset, prompt, index, other",
                       what, a.type));
      }
      if (auto d = kv.second["description"]) a.description = doc.str(d, what + " description");
      cfg.artifacts.push_back(std::move(a));
    }
  }
  if (auto tr = root["tracking"]; tr && !tr.IsNull()) {
    cfg.tracking = doc.str(tr, "'tracking'");
    cfg.tracking_where = fmt::format("{}:{}", display_name, tr.Mark().line + 1);
    if (cfg.tracking.empty())
      doc.fail(tr, "'tracking' must not be empty", "remove it to track in .xops/xops.db");
    // A password in a committed file is a leaked password.
    auto scheme = cfg.tracking.find("://");
    auto at = cfg.tracking.find('@');
    auto colon =
        scheme == std::string::npos ? std::string::npos : cfg.tracking.find(':', scheme + 3);
    if ((at != std::string::npos && colon != std::string::npos && colon < at) ||
        cfg.tracking.find("password=") != std::string::npos)
      doc.fail(tr, "'tracking' holds a password; xops.yaml is committed and shared",
               "remove it from the URL and set PGPASSWORD or a ~/.pgpass line instead");
  }
  if (auto rem = root["remotes"]; rem && !rem.IsNull()) {
    doc.expect_map(rem, "'remotes'");
    for (const auto& kv : rem) {
      RemoteConfig r;
      r.name = kv.first.Scalar();
      auto what = "remote '" + r.name + "'";
      doc.expect_map(kv.second, what);
      doc.check_keys(kv.second, {"url", "default", "endpoint_url", "region", "profile"}, what);
      auto url_node = doc.require(kv.second, "url", what);
      r.url = doc.str(url_node, what + " url");
      for (auto [key, field] : {std::pair{"endpoint_url", &r.endpoint_url},
                                {"region", &r.region},
                                {"profile", &r.profile}})
        if (auto n = kv.second[key]) {
          *field = doc.str(n, what + " " + key);
          if (r.url.rfind("s3://", 0) != 0)
            doc.fail(n, fmt::format("{}: '{}' is for s3:// remotes", what, key),
                     "remove it, or use an s3:// url");
        }
      if (r.url.rfind("s3://", 0) == 0) {
        try {
          parse_s3_url(r.url);
        } catch (const Error& e) {
          doc.fail(url_node, e.what(), e.hint());
        }
      }
      if (auto d = kv.second["default"]) r.is_default = doc.boolean(d, what + " default");
      cfg.remotes.push_back(std::move(r));
    }
  }
  if (auto gates = root["gates"]; gates && !gates.IsNull()) {
    doc.expect_map(gates, "'gates'");
    for (const auto& kv : gates) {
      auto stage = kv.first.Scalar();
      if (std::find(cfg.stages.begin(), cfg.stages.end(), stage) == cfg.stages.end())
        doc.fail(kv.first, fmt::format("gate for unknown stage '{}'", stage),
                 "gates are keyed by a stage listed under 'stages'");
      if (!kv.second.IsSequence())
        doc.fail(kv.second, fmt::format("gates for '{}' must be a list", stage));
      for (const auto& g : kv.second) {
        GateConfig gc;
        gc.stage = stage;
        auto what = "gate for '" + stage + "'";
        doc.expect_map(g, what);
        doc.check_keys(g,
                       {"eval", "min_pass_rate", "no_regression", "tolerance", "approve",
                        "pairwise", "online_pairwise", "artifacts"},
                       what);
        gc.where = fmt::format("{}:{}", display_name, g.Mark().line + 1);
        if (auto an = g["artifacts"]) {
          gc.artifacts = doc.str_list(an, what + " artifacts");
          for (const auto& name : gc.artifacts) {
            auto known = std::find_if(cfg.artifacts.begin(), cfg.artifacts.end(),
                                      [&](const ArtifactConfig& a) { return a.name == name; });
            if (known == cfg.artifacts.end())
              doc.fail(
                  an,
                  fmt::format("{} names artifact '{}', which is not under 'artifacts'", what, name),
                  "a gate's artifacts: are names declared in this file");
            if ((g["pairwise"] || g["online_pairwise"]) && known->type != "model" &&
                known->type != "adapter")
              doc.fail(an, fmt::format("a pairwise gate compares models and adapters; '{}' is a {}",
                                       name, known->type));
          }
        }
        if (auto op = g["online_pairwise"]) {
          if (g["eval"] || g["approve"] || g["pairwise"] || g["min_pass_rate"] ||
              g["no_regression"])
            doc.fail(op, "an online_pairwise gate stands alone", "write each gate as its own item");
          auto w = what + " online_pairwise";
          doc.expect_map(op, w);
          for (const auto& kv : op)
            if (kv.first.Scalar() != "min_win_rate" && kv.first.Scalar() != "min_pairs")
              doc.fail(kv.first, fmt::format("unknown key '{}' in {}", kv.first.Scalar(), w),
                       "its keys: min_win_rate, min_pairs");
          gc.online_pairwise = true;
          gc.min_pass_rate = 0;
          auto m = doc.require(op, "min_win_rate", w);
          gc.min_win_rate = doc.num(m, w + " min_win_rate");
          if (*gc.min_win_rate < 0 || *gc.min_win_rate > 1)
            doc.fail(m, "min_win_rate must be between 0 and 1");
          if (auto n = op["min_pairs"])
            gc.min_pairs = static_cast<int>(doc.integer_in(n, w + " min_pairs", 1, 100000000));
          cfg.gates.push_back(std::move(gc));
          continue;
        }
        if (auto pw = g["pairwise"]) {
          if (g["eval"] || g["approve"] || g["min_pass_rate"] || g["no_regression"])
            doc.fail(pw, "a pairwise gate stands alone: its suite is under pairwise.suite",
                     "write the eval gate and the pairwise gate as two list items");
          read_pairwise_gate(doc, pw, what, gc, cfg.stages);
          cfg.gates.push_back(std::move(gc));
          continue;
        }
        if (auto ap = g["approve"]) {
          gc.approval = doc.boolean(ap, what + " approve");
          if (g["eval"])
            doc.fail(ap, "a gate is either an eval or a sign-off (approve: true), not both",
                     "write them as two gates");
          if (!gc.approval) doc.fail(ap, "approve: false is not a gate", "remove it");
          cfg.gates.push_back(std::move(gc));
          continue;
        }
        gc.eval = doc.str(doc.require(g, "eval", what), what + " eval");
        if (auto m = g["min_pass_rate"]) {
          gc.min_pass_rate = doc.num(m, what + " min_pass_rate");
          if (gc.min_pass_rate < 0 || gc.min_pass_rate > 1)
            doc.fail(m, "min_pass_rate must be between 0 and 1");
        }
        if (auto nr = g["no_regression"]) {
          if (nr.IsScalar())
            gc.no_regression.push_back(doc.str(nr, what + " no_regression"));
          else if (nr.IsSequence())
            for (const auto& k : nr)
              gc.no_regression.push_back(doc.str(k, what + " no_regression"));
          else
            doc.fail(nr, "no_regression must be a metric name or a list of them",
                     "e.g. [pass_rate, metric/accuracy]");
        }
        if (auto t = g["tolerance"]) {
          gc.tolerance = doc.num(t, what + " tolerance");
          if (gc.tolerance < 0) doc.fail(t, "tolerance must be >= 0");
        }
        cfg.gates.push_back(std::move(gc));
      }
    }
  }
  if (auto f = root["feedback"]; f && !f.IsNull()) read_feedback(doc, f, cfg);
  if (auto m = root["monitor"]; m && !m.IsNull()) {
    check_monitor(doc, m, cfg.monitor);
    for (const auto& kv : m["min_feedback_mean"].IsMap() ? m["min_feedback_mean"] : YAML::Node())
      if (!cfg.feedback_scores.count(kv.first.Scalar()))
        doc.fail(kv.first,
                 fmt::format("monitor.min_feedback_mean names '{}', which feedback.scores does "
                             "not declare",
                             kv.first.Scalar()),
                 "declare it under feedback: {scores: {NAME: {min, max}}}");
    if (m["min_feedback_mean"] && !m["min_feedback_mean"].IsMap() &&
        !cfg.feedback_scores.count("score"))
      doc.fail(m["min_feedback_mean"],
               "monitor.min_feedback_mean as a number is for the score 'score', which "
               "feedback.scores does not declare; name the score: {NAME: 0.6}");
  }
  if (auto d = root["defaults"]; d && !d.IsNull())
    read_defaults(doc, d, cfg.defaults, cfg.defaults_where);
  return cfg;
}

ProjectConfig load_project_config(const std::filesystem::path& file,
                                  std::vector<std::string>* warnings) {
  auto cfg = parse_project_config(read_file(file), file.string(), warnings);
  cfg.file = file;
  return cfg;
}

const std::vector<SettingSpec>& setting_specs() {
  static const std::vector<SettingSpec> specs = {
      {"device", "auto", "where models run: auto, cpu or cuda"},
      {"dtype", "fp32", "default compute dtype: fp32, bf16 or fp16"},
      {"threads", "0", "CPU threads for LibTorch (0 = number of cores)"},
      {"jobs", "0", "parallel jobs for hashing and transfers (0 = number of cores)"},
      {"remote", "", "default content-store remote (overrides the one marked default)"},
      {"eval.judge", "", "judge provider for llm-rubric / pairwise when a suite names none"},
      {"eval.embedding", "", "embedding provider for `similar` when a suite names none"},
  };
  return specs;
}

std::optional<std::filesystem::path> default_user_config_path() {
  if (const char* x = std::getenv("XOPS_CONFIG_HOME"); x && *x)
    return std::filesystem::path(x) / "config.yaml";
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x)
    return std::filesystem::path(x) / "xops" / "config.yaml";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::filesystem::path(h) / ".config" / "xops" / "config.yaml";
  return std::nullopt;
}

static std::string env_name(const std::string& key) {
  std::string s = "XOPS_";
  for (char c : key) s += static_cast<char>(c == '.' ? '_' : std::toupper(c));
  return s;
}

static void validate(const std::string& key, const Setting& s) {
  auto bad = [&](const char* expected) {
    throw usage_error(fmt::format("setting '{}' = '{}' (from {}) is invalid: expected {}", key,
                                  s.value, s.origin, expected));
  };
  if (key == "device" && s.value != "auto" && s.value != "cpu" && s.value.rfind("cuda", 0) != 0)
    bad("auto, cpu, cuda or cuda:N");
  if (key == "dtype" && s.value != "fp32" && s.value != "bf16" && s.value != "fp16")
    bad("fp32, bf16 or fp16");
  if (key == "threads" || key == "jobs") {
    try {
      size_t pos = 0;
      int v = std::stoi(s.value, &pos);
      if (pos != s.value.size() || v < 0) bad("a non-negative integer");
    } catch (const std::logic_error&) {
      bad("a non-negative integer");
    }
  }
}

Settings Settings::resolve(const std::map<std::string, std::string>& flags,
                           const ProjectConfig* project,
                           const std::optional<std::filesystem::path>& user_file,
                           std::vector<std::string>* warnings) {
  Settings out;
  std::map<std::string, std::string> user, user_where;
  if (user_file && std::filesystem::exists(*user_file)) {
    yaml::Doc doc{user_file->string(), warnings};
    auto root = yaml::parse(read_file(*user_file), doc.file);
    if (!root.IsNull()) {
      doc.expect_map(root, "the user config");
      doc.check_keys(root, {"defaults"}, "the user config");
      if (auto d = root["defaults"]; d && !d.IsNull()) read_defaults(doc, d, user, user_where);
    }
  }
  for (const auto& spec : setting_specs()) {
    std::string key = spec.key;
    Setting s{spec.default_value, "default"};
    if (auto it = user.find(key); it != user.end()) s = {it->second, user_where[key]};
    if (project) {
      if (auto it = project->defaults.find(key); it != project->defaults.end())
        s = {it->second, project->defaults_where.at(key)};
    }
    auto env = env_name(key);
    if (const char* v = std::getenv(env.c_str()); v && *v) s = {v, "env " + env};
    if (auto it = flags.find(key); it != flags.end()) s = {it->second, "flag --" + key};
    validate(key, s);
    out.values_[key] = s;
  }
  return out;
}

const Setting& Settings::get(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw runtime_error(fmt::format("internal: unknown setting '{}'", key));
  return it->second;
}

int Settings::get_int(const std::string& key) const {
  return std::stoi(get(key).value);
}

}  // namespace xops
