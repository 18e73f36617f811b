#include "core/pipeline/dvc_yaml.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/pipeline/interpolate.hpp"
#include "core/pipeline/values.hpp"
#include "core/util/fs.hpp"
#include "core/util/yaml_json.hpp"
#include "core/util/yaml_util.hpp"

namespace xops::pipeline {

namespace fs = std::filesystem;

const char* out_kind_name(OutKind k) {
  switch (k) {
    case OutKind::Out:
      return "out";
    case OutKind::Metric:
      return "metric";
    case OutKind::Plot:
      return "plot";
  }
  return "out";
}

const Stage* Pipeline::find(const std::string& name) const {
  for (const auto& s : stages)
    if (s.name == name) return &s;
  return nullptr;
}

std::string workspace_rel(const std::string& base, const std::string& path,
                          const std::string& where) {
  if (path.empty()) throw usage_error(fmt::format("{}: an empty path", where));
  if (path[0] == '/')
    throw usage_error(
        fmt::format("{}: '{}' is absolute; pipeline paths are relative to the stage's wdir", where,
                    path),
        "xops reads and stores only files inside the workspace");
  auto joined = (fs::path(base) / path).lexically_normal().generic_string();
  while (!joined.empty() && joined.back() == '/') joined.pop_back();
  if (joined.empty() || joined == ".") return "";
  if (joined == ".." || joined.rfind("../", 0) == 0)
    throw usage_error(fmt::format("{}: '{}' leaves the workspace", where, path),
                      "xops pipelines read and write inside the workspace only");
  auto first = joined.substr(0, joined.find('/'));
  if (first == ".git" || first == ".xops")
    throw usage_error(
        fmt::format("{}: '{}' is inside {}/, which xops manages", where, path, first));
  return joined;
}

namespace {

const char* const kStageKeys[] = {"cmd",   "wdir",   "deps",           "params", "outs", "metrics",
                                  "plots", "frozen", "always_changed", "desc",   "vars", "meta"};
const char* const kOutProps[] = {"cache", "persist", "desc", "type", "labels", "meta"};
const char* const kPlotProps[] = {"x", "y", "template", "title", "x_label", "y_label", "header"};

bool one_of(const std::string& k, const char* const* b, const char* const* e) {
  return std::find_if(b, e, [&](const char* s) { return k == s; }) != e;
}

struct Loader {
  fs::path root;
  std::string file, dir;
  yaml::Doc doc;
  Pipeline out;

  Loader(fs::path r, std::string f) : root(std::move(r)), file(std::move(f)), doc(file) {
    dir = fs::path(file).parent_path().generic_string();
  }

  std::string at(const YAML::Node& n, const std::string& what) const {
    return doc.where(n) + ": " + what;
  }

  std::string text(const YAML::Node& n, const Context& ctx, Context::Used* used,
                   const std::string& what) {
    if (!n.IsScalar()) doc.fail(n, what + " must be a string");
    auto v = ctx.resolve_string(n.Scalar(), at(n, what), used);
    if (v.is_object() || v.is_array())
      doc.fail(n, what + " must be a string, not a " + (v.is_object() ? "mapping" : "list"));
    return to_str(v);
  }

  bool flag(const YAML::Node& n, const Context& ctx, const std::string& what) {
    auto v = n.IsScalar() ? ctx.resolve_string(n.Scalar(), at(n, what), nullptr) : J();
    if (v.is_string()) v = yaml::to_json<J>(YAML::Node(v.get<std::string>()));
    if (!v.is_boolean()) doc.fail(n, what + " must be true or false");
    return v.get<bool>();
  }

  // `vars:` entries: "file", "file:key1,key2" or an inline mapping; files relative to `base`.
  void load_vars(Context& ctx, const YAML::Node& vars, const std::string& base,
                 const std::string& what) {
    if (!vars.IsSequence()) doc.fail(vars, what + " must be a list of files and mappings");
    for (const auto& v : vars) {
      if (v.IsMap()) {
        auto j = yaml::to_json<J>(v);
        for (auto it = j.begin(); it != j.end(); ++it)
          if (it.value().is_string() && has_interpolation(it.value().get<std::string>()))
            doc.fail(v, what + ": interpolating is not allowed in vars");
        ctx.merge(j, "", doc.where(v));
        continue;
      }
      if (!v.IsScalar()) doc.fail(v, what + " entries are file names or mappings");
      auto spec = v.Scalar();
      if (has_interpolation(spec)) doc.fail(v, what + ": interpolating is not allowed in vars");
      auto colon = spec.find(':');
      auto name = spec.substr(0, colon);
      auto rel = workspace_rel(base, name, doc.where(v));
      auto all = load_values(root / rel, rel);
      if (colon == std::string::npos) {
        if (!ctx.loaded(rel)) ctx.merge(all, rel, doc.where(v));
        continue;
      }
      J part = J::object();
      std::string keys = spec.substr(colon + 1);
      size_t pos = 0;
      while (pos <= keys.size()) {
        auto comma = keys.find(',', pos);
        auto key = keys.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (!key.empty()) {
          const J* x = lookup(all, key);
          if (!x) doc.fail(v, fmt::format("{}: '{}' has no key '{}'", what, rel, key));
          part[key] = *x;
        }
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
      ctx.merge(part, rel, doc.where(v));
    }
  }

  std::vector<std::string> cmd_of(const YAML::Node& n, const Context& ctx, Context::Used* used,
                                  const std::string& what) {
    std::vector<std::string> cmds;
    if (n.IsSequence()) {
      for (const auto& c : n) cmds.push_back(text(c, ctx, used, what));
    } else {
      cmds.push_back(text(n, ctx, used, what));
    }
    if (cmds.empty() ||
        std::all_of(cmds.begin(), cmds.end(), [](const std::string& c) { return c.empty(); }))
      doc.fail(n, what + " is empty");
    return cmds;
  }

  void add_outputs(Stage& s, const YAML::Node& list, OutKind kind, const Context& ctx,
                   Context::Used* used, const std::string& what) {
    if (!list.IsSequence()) doc.fail(list, what + " must be a list");
    for (const auto& e : list) {
      Output o;
      o.kind = kind;
      YAML::Node props;
      if (e.IsScalar()) {
        o.path = text(e, ctx, used, what);
      } else if (e.IsMap() && e.size() == 1) {
        auto kv = *e.begin();
        o.path = text(kv.first, ctx, used, what);
        props = kv.second;
      } else {
        doc.fail(e, what + " entries are paths, or a path with its options (PATH: {cache: false})");
      }
      if (props && !props.IsNull()) {
        if (!props.IsMap())
          doc.fail(props, fmt::format("the options of {} must be a mapping", o.path));
        for (const auto& p : props) {
          auto k = p.first.Scalar();
          if (k == "cache") {
            o.cache = flag(p.second, ctx, o.path + ".cache");
          } else if (k == "persist") {
            o.persist = flag(p.second, ctx, o.path + ".persist");
          } else if (k == "desc") {
            o.desc = text(p.second, ctx, used, o.path + ".desc");
          } else if (k == "remote" || k == "push") {
            doc.fail(p.first, fmt::format("'{}' on an output is not supported by xops", k),
                     "xops pushes every cached output to the workspace's remote (xops repro "
                     "--push); remove it");
          } else if (!one_of(k, std::begin(kOutProps), std::end(kOutProps)) &&
                     !(kind == OutKind::Plot &&
                       one_of(k, std::begin(kPlotProps), std::end(kPlotProps)))) {
            doc.fail(p.first,
                     fmt::format("unknown option '{}' of {} {}", k, out_kind_name(kind), o.path),
                     "outputs take cache, persist, desc (and plots their display options)");
          }
        }
      }
      o.rel = workspace_rel(s.wdir, o.path, doc.where(e));
      s.outs.push_back(std::move(o));
    }
  }

  void add_params(Stage& s, const YAML::Node& list, const Context& ctx, Context::Used* used) {
    if (!list.IsSequence()) doc.fail(list, "params must be a list");
    auto group = [&](const std::string& file, const YAML::Node& at) -> ParamsRef& {
      auto rel = workspace_rel(s.wdir, file, doc.where(at));
      for (auto& p : s.params)
        if (p.rel == rel) return p;
      s.params.push_back({file, rel, {}, false});
      return s.params.back();
    };
    for (const auto& e : list) {
      if (e.IsScalar()) {
        auto key = text(e, ctx, used, "params");
        auto& g = group("params.yaml", e);
        if (std::find(g.keys.begin(), g.keys.end(), key) == g.keys.end()) g.keys.push_back(key);
      } else if (e.IsMap()) {
        for (const auto& kv : e) {
          auto file = text(kv.first, ctx, used, "params file");
          auto& g = group(file, kv.first);
          if (kv.second.IsNull()) {
            g.all = true;
          } else if (kv.second.IsSequence()) {
            for (const auto& k : kv.second) {
              auto key = text(k, ctx, used, "params key");
              if (std::find(g.keys.begin(), g.keys.end(), key) == g.keys.end())
                g.keys.push_back(key);
            }
          } else {
            doc.fail(
                kv.second,
                fmt::format("the keys read from {} must be a list (or nothing, for all of them)",
                            file));
          }
        }
      } else {
        doc.fail(e, "params entries are keys of params.yaml or {FILE: [KEYS]}");
      }
    }
  }

  Stage build(const std::string& name, const YAML::Node& def, Context ctx) {
    if (!def.IsMap()) doc.fail(def, fmt::format("stage '{}' must be a mapping", name));
    Stage s;
    s.name = name;
    s.where = doc.line_of(def);
    for (const auto& kv : def) {
      auto k = kv.first.Scalar();
      if (!one_of(k, std::begin(kStageKeys), std::end(kStageKeys))) {
        if (k == "matrix" || k == "foreach" || k == "do")
          doc.fail(kv.first, fmt::format("'{}' is not allowed here", k));
        doc.fail(kv.first, fmt::format("unknown key '{}' in stage '{}'", k, name),
                 "stages take cmd, wdir, deps, params, outs, metrics, plots, frozen, "
                 "always_changed, desc, vars, meta");
      }
    }
    Context::Used used;
    s.wdir = dir;
    if (auto w = def["wdir"])
      s.wdir = workspace_rel(dir, text(w, ctx, &used, "wdir"), doc.where(w));
    if (auto v = def["vars"]) load_vars(ctx, v, s.wdir, "stages." + name + ".vars");
    auto cmd = def["cmd"];
    if (!cmd)
      doc.fail(def, fmt::format("stage '{}' has no cmd", name),
               "every stage runs a command: cmd: ...");
    s.cmd = cmd_of(cmd, ctx, &used, "stages." + name + ".cmd");
    if (auto d = def["deps"]) {
      if (!d.IsSequence()) doc.fail(d, "deps must be a list of paths");
      for (const auto& e : d) {
        if (!e.IsScalar()) doc.fail(e, "deps entries are paths");
        auto p = text(e, ctx, &used, "deps");
        s.deps.push_back({p, workspace_rel(s.wdir, p, doc.where(e))});
      }
    }
    if (auto p = def["params"]) add_params(s, p, ctx, &used);
    if (auto o = def["outs"]) add_outputs(s, o, OutKind::Out, ctx, &used, "outs");
    if (auto o = def["metrics"]) add_outputs(s, o, OutKind::Metric, ctx, &used, "metrics");
    if (auto o = def["plots"]) add_outputs(s, o, OutKind::Plot, ctx, &used, "plots");
    if (auto f = def["frozen"]) s.frozen = flag(f, ctx, "frozen");
    if (auto f = def["always_changed"]) s.always_changed = flag(f, ctx, "always_changed");
    if (auto d = def["desc"]) s.desc = text(d, ctx, &used, "desc");
    // Values read from params files by ${} are params of the stage (DVC's tracked vars).
    for (const auto& [file, keys] : used) {
      ParamsRef* g = nullptr;
      for (auto& p : s.params)
        if (p.rel == file) g = &p;
      if (!g) {
        auto shown =
            fs::path(file).lexically_relative(s.wdir.empty() ? "." : s.wdir).generic_string();
        s.params.push_back({shown, file, {}, false});
        g = &s.params.back();
      }
      if (g->all) continue;
      for (const auto& [k, v] : keys)
        if (std::find(g->keys.begin(), g->keys.end(), k) == g->keys.end()) g->keys.push_back(k);
    }
    return s;
  }

  void check_name(const std::string& name, const YAML::Node& at) {
    if (name.empty() || name.find_first_of(",.:;#\\/@") != std::string::npos)
      doc.fail(at, fmt::format("'{}' is not a valid stage name", name),
               "stage names cannot contain , . : ; # \\ / @ (as in DVC)");
  }

  void foreach_stage(const std::string& name, const YAML::Node& def, const Context& ctx) {
    for (const auto& kv : def) {
      auto k = kv.first.Scalar();
      if (k != "foreach" && k != "do")
        doc.fail(kv.first,
                 fmt::format("'{}' is not allowed beside foreach/do; put it inside do:", k));
    }
    auto each = def["foreach"];
    auto body = def["do"];
    if (!body) doc.fail(def, fmt::format("stage '{}' has foreach but no do", name));
    J items = each.IsScalar() ? ctx.resolve_string(each.Scalar(), at(each, "foreach"), nullptr)
                              : ctx.resolve(yaml::to_json<J>(each), at(each, "foreach"), nullptr);
    if (!items.is_object() && !items.is_array())
      doc.fail(each, fmt::format("foreach of '{}' must be a list or a mapping", name));
    bool composite = items.is_array() && std::any_of(items.begin(), items.end(), [](const J& x) {
                       return x.is_object() || x.is_array();
                     });
    size_t idx = 0;
    for (auto it = items.begin(); it != items.end(); ++it, ++idx) {
      std::string key = items.is_object() ? it.key()
                        : composite       ? std::to_string(idx)
                                          : to_str(*it);
      Context local = ctx;
      local.set_local("item", *it);
      if (items.is_object()) local.set_local("key", it.key());
      auto member = name + "@" + key;
      if (out.find(member))
        doc.fail(each, fmt::format("foreach of '{}' generates '{}' twice", name, member));
      out.stages.push_back(build(member, body, local));
    }
  }

  void top_list(const YAML::Node& n, const Context& ctx, std::vector<std::string>& into,
                const char* what) {
    if (!n.IsSequence()) doc.fail(n, fmt::format("{} must be a list of files", what));
    for (const auto& e : n) {
      if (e.IsMap() && std::string(what) == "plots") continue;  // a plot definition: display only
      if (!e.IsScalar()) doc.fail(e, fmt::format("{} entries are file paths", what));
      into.push_back(workspace_rel(dir, text(e, ctx, nullptr, what), doc.where(e)));
    }
  }

  void load() {
    auto path = root / file;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
      throw precondition_error(
          fmt::format("no {} in this workspace", file),
          "declare stages in dvc.yaml (stages: NAME: {cmd: ..., deps: [...], outs: [...]})");
    auto y = yaml::parse(read_file_limited(path, 16u << 20, "dvc.yaml"), file);
    if (y.IsNull()) return;
    if (!y.IsMap()) doc.fail(y, "dvc.yaml must be a mapping with a stages: section");
    for (const auto& kv : y) {
      auto k = kv.first.Scalar();
      if (k == "artifacts" || k == "datasets")
        doc.fail(kv.first, fmt::format("'{}:' is not supported by xops", k),
                 k == "artifacts"
                     ? "declare artifacts in xops.yaml (xops registers and promotes them)"
                     : "remove it; xops versions data with track add and pipeline outputs");
      if (k != "stages" && k != "vars" && k != "metrics" && k != "params" && k != "plots")
        doc.fail(kv.first, fmt::format("unknown top-level key '{}'", k),
                 "dvc.yaml takes stages, vars, metrics, params, plots");
    }
    Context ctx;
    auto default_params = workspace_rel(dir, "params.yaml", file);
    if (fs::is_regular_file(root / default_params, ec))
      ctx.merge(load_values(root / default_params, default_params), default_params, file);
    ctx.mark_loaded(default_params);
    if (auto v = y["vars"]) load_vars(ctx, v, dir, "vars");
    auto stages = y["stages"];
    if (stages && !stages.IsNull()) {
      if (!stages.IsMap())
        doc.fail(stages, "stages must be a mapping of stage names to definitions");
      for (const auto& kv : stages) {
        auto name = kv.first.Scalar();
        check_name(name, kv.first);
        if (out.find(name)) doc.fail(kv.first, fmt::format("stage '{}' is defined twice", name));
        if (kv.second.IsMap() && kv.second["matrix"])
          doc.fail(kv.second["matrix"], "matrix stages are not supported by xops",
                   "write the combinations as a foreach over a list of mappings");
        if (kv.second.IsMap() && kv.second["foreach"]) {
          foreach_stage(name, kv.second, ctx);
        } else {
          out.stages.push_back(build(name, kv.second, ctx));
        }
      }
    }
    if (auto m = y["metrics"]) top_list(m, ctx, out.metrics, "metrics");
    if (auto p = y["params"]) top_list(p, ctx, out.params, "params");
    if (auto p = y["plots"]) {
      std::vector<std::string> ignored;
      top_list(p, ctx, ignored, "plots");
    }
    bool plots =
        y["plots"] || std::any_of(out.stages.begin(), out.stages.end(), [](const Stage& s) {
          return std::any_of(s.outs.begin(), s.outs.end(),
                             [](const Output& o) { return o.kind == OutKind::Plot; });
        });
    if (plots)
      out.warnings.push_back(
          fmt::format("{}: plots are run and versioned as outputs; xops renders no plots (their "
                      "display options are not used)",
                      file));
  }
};

}  // namespace

Pipeline load_pipeline(const fs::path& root, const std::string& file) {
  Loader l(root, file);
  l.out.file = file;
  l.load();
  return std::move(l.out);
}

}  // namespace xops::pipeline
