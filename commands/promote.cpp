// `xops promote`: the git-tag registry (gto's grammar) and promotion through stages behind
// evaluation gates. The registry logic lives in core/registry; this file parses and renders.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands/commands.hpp"
#include "core/app/promotion.hpp"
#include "core/error.hpp"
#include "core/project/workspace.hpp"
#include "core/registry/promote.hpp"
#include "core/tracking/tracker.hpp"
#include "core/util/fs.hpp"
#include "term/context.hpp"
#include "term/progress.hpp"
#include "term/table.hpp"

namespace xops::commands {

namespace {

using nlohmann::json;
using namespace registry;

std::string when(int64_t t) {
  if (!t) return "";
  std::time_t tt = static_cast<std::time_t>(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::gmtime(&tt));
  return buf;
}

std::string short_hash(const std::string& h) {
  return h.substr(0, 12);
}

json gate_json(const GateCheck& g) {
  json cmp = json::array();
  for (const auto& c : g.comparisons)
    cmp.push_back({{"metric", c.metric},
                   {"value", c.value ? json(*c.value) : json(nullptr)},
                   {"baseline", c.baseline ? json(*c.baseline) : json(nullptr)},
                   {"ok", c.ok}});
  auto opt = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  auto count = [](const std::optional<double>& v) {  // recorded as metrics, counted in units
    return v ? json(static_cast<int64_t>(*v)) : json(nullptr);
  };
  json pairwise = nullptr;
  if (g.kind == "pairwise" || g.kind == "online_pairwise")
    pairwise = {
        {"baseline", g.baseline_version.empty() ? json(nullptr) : json(g.baseline_version)},
        {"baseline_sha256", g.baseline_hash.empty() ? json(nullptr) : json(g.baseline_hash)},
        {"min_win_rate", opt(g.min_win_rate)},
        {"max_regressions", opt(g.max_regressions)},
        {"win_rate", opt(g.win_rate)},
        {"win_rate_95", g.win_rate_low && g.win_rate_high
                            ? json::array({*g.win_rate_low, *g.win_rate_high})
                            : json(nullptr)},
        {"sign_test_p", opt(g.sign_test_p)},
        {"pairs", count(g.pairs)},
        {"regressions", count(g.regressions)},
        {"compared", count(g.compared)}};
  return {
      {"kind", g.kind},
      {"pairwise", pairwise},
      {"suite", g.suite.empty() ? json(nullptr) : json(g.suite)},
      {"suite_sha256", g.suite_hash},
      {"min_pass_rate", g.min_pass_rate},
      {"passed", g.passed},
      {"run", g.run_id.empty() ? json(nullptr) : json(g.run_id)},
      {"pass_rate", g.pass_rate ? json(*g.pass_rate) : json(nullptr)},
      {"reason", g.reason},
      {"no_regression", cmp},
      {"baseline_version", g.baseline_version.empty() ? json(nullptr) : json(g.baseline_version)},
      {"baseline_run", g.baseline_run.empty() ? json(nullptr) : json(g.baseline_run)}};
}

struct PromoteFlags {
  std::string ref, to, message;
  bool dry_run = false, run_evals = false, approve = false;
  std::string push;  // remote name ("" = do not push)
};

void render_plan(cli::Output& out, const app::PromotionOutcome& o, const std::string& push,
                 bool dry_run) {
  const auto& plan = o.plan;
  if (out.json()) {
    json gates = json::array();
    for (const auto& g : plan.gates) gates.push_back(gate_json(g));
    out.print_json({{"artifact", plan.version.artifact},
                    {"version", plan.version.version},
                    {"commit", plan.version.commit},
                    {"content_sha256", plan.content_hash},
                    {"stage", plan.stage},
                    {"previous", plan.current.empty() ? json(nullptr) : json(plan.current)},
                    {"allowed", plan.allowed},
                    {"dry_run", dry_run},
                    {"tag", o.written ? json(plan.tag) : json(nullptr)},
                    {"run", o.run_id.empty() ? json(nullptr) : json(o.run_id)},
                    {"gates", gates}});
    return;
  }
  out.info(fmt::format("{}@{} (commit {}, content {}) -> {}{}", plan.version.artifact,
                       plan.version.version, short_hash(plan.version.commit),
                       short_hash(plan.content_hash), plan.stage,
                       plan.current.empty() ? "" : fmt::format(" (now {})", plan.current)));
  if (plan.gates.empty()) out.info(fmt::format("no gates for {} in xops.yaml", plan.stage));
  cli::Table t({"GATE", "SUITE", "NEED", "RESULT", "EVIDENCE", "WHY"});
  for (const auto& g : plan.gates) {
    std::string need =
        g.kind == "approval" ? "sign-off" : fmt::format("pass_rate >= {:.2f}", g.min_pass_rate);
    if (g.kind == "pairwise" || g.kind == "online_pairwise") {
      std::vector<std::string> parts;
      if (g.min_pairs) parts.push_back(fmt::format("pairs >= {}", *g.min_pairs));
      if (g.min_win_rate) parts.push_back(fmt::format("win rate >= {:.2f}", *g.min_win_rate));
      if (g.max_regressions) parts.push_back(fmt::format("regressions <= {}", *g.max_regressions));
      need = fmt::format("{} vs {}", fmt::join(parts, ", "),
                         g.baseline_version.empty() ? "-" : g.baseline_version);
    }
    for (const auto& c : g.comparisons)
      need += fmt::format(", {} >= {}", c.metric, g.baseline_version);
    std::string evidence = g.run_id.empty() ? "-" : "run " + g.run_id;
    if (!g.baseline_run.empty()) evidence += " vs run " + g.baseline_run;
    t.add({g.kind, g.suite.empty() ? "-" : g.suite, need, g.passed ? "PASS" : "FAIL", evidence,
           g.reason},
          {cli::Style::None, cli::Style::None, cli::Style::None,
           g.passed ? cli::Style::Green : cli::Style::Red});
  }
  if (t.size()) t.print(out);
  if (o.written && !push.empty())
    out.info(fmt::format("promoted: tag {} written and pushed to {}", plan.tag, push));
  else if (o.written)
    out.info(fmt::format("promoted: tag {} written (push it with --push or `git push origin {}`)",
                         plan.tag, plan.tag));
  else if (plan.allowed)
    out.info(fmt::format("dry run: every gate passes; would write tag {}", plan.tag));
}

int run_promote(cli::Context& ctx, const PromoteFlags& f) {
  auto& out = ctx.out();
  app::PromotionRequest req;
  req.ref = f.ref;
  req.stage = f.to;
  req.message = f.message;
  req.dry_run = f.dry_run;
  req.run_evals = f.run_evals;
  req.approve = f.approve;
  req.push = f.push;
  if (f.run_evals) {  // the gate's eval runs as `xops eval` would
    req.key_hosts = key_hosts_with_env({});
    req.default_judge = ctx.settings().get("eval.judge").value;
    req.default_embedding = ctx.settings().get("eval.embedding").value;
  }
  std::optional<cli::ProgressBar> bar;
  app::PromotionObserver obs;
  obs.on_info = [&](const std::string& s) { out.info(s); };
  obs.eval.on_warning = [&](const std::string& w) { out.warn(w); };
  obs.eval.on_start = [&](size_t total) { bar.emplace(out, "eval", total, false); };
  obs.eval.on_case = [&](const CaseResult&) { bar->advance(1); };
  obs.on_eval_done = [&](const EvalOutcome& o) {
    if (bar) bar->finish();
    bar.reset();
    out.info(fmt::format("  {} cases, pass rate {:.1f}%, run {}", o.summary.cases,
                         100 * o.summary.pass_rate(), o.run_id));
  };
  auto o = app::promote(ctx.workspace(), req, obs);
  render_plan(out, o, f.push, f.dry_run);
  if (!o.plan.allowed) throw app::refusal(o.plan);
  return 0;
}

struct RegisterFlags {
  RegisterRequest r;
  bool minor = false, major = false;
  std::string push;
};

int run_register(cli::Context& ctx, RegisterFlags& f) {
  auto& out = ctx.out();
  if (f.minor && f.major) throw usage_error("--bump-minor and --bump-major exclude each other");
  if (!f.r.version.empty() && (f.minor || f.major))
    throw usage_error("--version excludes --bump-*");
  f.r.bump = f.major   ? RegisterRequest::Major
             : f.minor ? RegisterRequest::Minor
                       : RegisterRequest::Patch;
  auto res = register_version(ctx.workspace(), f.r);
  if (!f.push.empty()) push_tag(ctx.workspace(), f.push, res.tag);
  if (out.json())
    out.print_json({{"artifact", f.r.artifact},
                    {"version", res.version},
                    {"commit", res.commit},
                    {"content_sha256", res.content_hash},
                    {"tag", res.tag}});
  else
    out.info(fmt::format("registered {}@{} at commit {} (content {}): tag {}", f.r.artifact,
                         res.version, short_hash(res.commit), short_hash(res.content_hash),
                         res.tag));
  return 0;
}

int run_ls(cli::Context& ctx) {
  auto& out = ctx.out();
  auto& ws = ctx.workspace();
  auto reg = load_registry(ws);
  const auto& stages = ws.config().stages;
  std::vector<std::string> names;
  for (const auto& a : ws.config().artifacts) names.push_back(a.name);
  for (const auto& [n, a] : reg.artifacts())
    if (std::find(names.begin(), names.end(), n) == names.end())
      names.push_back(n);  // tags of undeclared ones
  json arr = json::array();
  std::vector<std::string> headers = {"ARTIFACT", "TYPE", "LATEST"};
  for (const auto& s : stages) headers.push_back(s);
  cli::Table t(headers);
  for (const auto& n : names) {
    const ArtifactState* st = reg.find(n);
    std::string type = "";
    for (const auto& a : ws.config().artifacts)
      if (a.name == n) type = a.type;
    const VersionInfo* latest = st ? st->latest() : nullptr;
    json j = {{"name", n},
              {"type", type.empty() ? json(nullptr) : json(type)},
              {"deprecated", st && st->deprecated},
              {"latest", latest ? json(latest->version) : json(nullptr)}};
    json vs = json::array(), js = json::object();
    if (st) {
      for (const auto& v : st->versions)
        vs.push_back({{"version", v.version},
                      {"commit", v.commit},
                      {"tag", v.tag},
                      {"registered", v.registered},
                      {"deregistered", v.deregistered},
                      {"author", v.author},
                      {"time", v.time}});
      for (const auto& [stage, h] : st->stages)
        js[stage] = {
            {"version", h.version}, {"commit", h.commit}, {"tag", h.tag}, {"time", h.time}};
    }
    j["versions"] = vs;
    j["stages"] = js;
    arr.push_back(j);
    std::vector<std::string> row = {n + (st && st->deprecated ? " (deprecated)" : ""), type,
                                    latest ? latest->version : "-"};
    for (const auto& s : stages) {
      const StageHolder* h = st ? st->holder(s) : nullptr;
      row.push_back(h ? h->version : "-");
    }
    t.add(row);
  }
  if (out.json())
    out.print_json(arr);
  else
    t.print(out);
  return 0;
}

int run_history(cli::Context& ctx, const std::string& name) {
  auto& out = ctx.out();
  auto reg = load_registry(ctx.workspace());
  const ArtifactState* st = reg.find(name);
  if (!st)
    throw precondition_error(fmt::format("no registry tags for '{}'", name),
                             "`xops promote ls` lists artifacts; maybe `git fetch --tags`");
  json arr = json::array();
  cli::Table t({"TIME (UTC)", "EVENT", "VERSION", "STAGE", "BY", "TAG", "MESSAGE"});
  for (const auto& e : st->history) {
    const std::string& version = e.version;  // assignments: resolved as the registry replayed them
    auto first_line = e.message.substr(0, e.message.find('\n'));
    arr.push_back({{"time", e.time},
                   {"event", action_name(e.action)},
                   {"version", version},
                   {"stage", e.stage},
                   {"author", e.author},
                   {"author_email", e.author_email},
                   {"commit", e.commit},
                   {"tag", e.tag},
                   {"message", e.message}});
    t.add({when(e.time), action_name(e.action), version, e.stage, e.author, e.tag, first_line});
  }
  if (out.json())
    out.print_json(arr);
  else
    t.print(out);
  return 0;
}

int run_show(cli::Context& ctx, const std::string& ref_text) {
  auto& out = ctx.out();
  auto& ws = ctx.workspace();
  auto ref = parse_ref(ref_text);
  if (!ref) ref = Ref{ref_text, Ref::Latest, "latest"};
  auto reg = load_registry(ws);
  auto v = resolve(reg, *ref);
  const auto& a = artifact_config(ws, v.artifact);
  auto ptr = artifact_pointer_at(ws, a, v.commit);
  // Lineage: the runs whose recorded content is exactly this version's.
  auto tracker = Tracker::for_workspace(ws);
  RunQuery q;
  q.sort = "-start_time";
  json runs = json::array();
  cli::Table t({"RUN", "KIND", "NAME", "STATUS", "RELATION", "PASS RATE"});
  std::vector<RunRecord> producers;
  for (const auto& r : tracker.list(q)) {
    std::string relation;
    for (const auto& [k, h] : r.inputs)
      if (h == ptr.sha256) relation = k.rfind("provider:", 0) == 0 ? "evaluated it" : "read it";
    for (const auto& art : r.artifacts)
      if (art.sha256 == ptr.sha256) relation = "produced it";
    if (relation.empty()) continue;
    std::optional<double> pr;
    for (const auto& m : r.metrics)
      if (m.key == "pass_rate") pr = m.last;
    json jr = {{"run", r.id},          {"kind", r.kind},
               {"name", r.name},       {"status", r.status},
               {"relation", relation}, {"pass_rate", pr ? json(*pr) : json(nullptr)}};
    if (relation == "produced it") {  // the training run: what it was given
      jr["params"] = r.params;
      jr["inputs"] = r.inputs;
      producers.push_back(r);
    }
    runs.push_back(jr);
    t.add({r.id, r.kind, r.name, r.status, relation, pr ? fmt::format("{:.3f}", *pr) : ""});
  }
  if (out.json()) {
    out.print_json({{"artifact", v.artifact},
                    {"version", v.version},
                    {"commit", v.commit},
                    {"tag", v.tag},
                    {"path", a.path},
                    {"type", a.type},
                    {"content_sha256", ptr.sha256},
                    {"size", ptr.size},
                    {"runs", runs}});
    return 0;
  }
  out.line(fmt::format("{}@{}  ({})", v.artifact, v.version, a.type));
  out.line(fmt::format("  commit   {}", v.commit));
  out.line(fmt::format("  tag      {}", v.tag.empty() ? "-" : v.tag));
  out.line(fmt::format("  path     {}", a.path));
  out.line(fmt::format("  content  {} ({} bytes{})", ptr.sha256, ptr.size,
                       ptr.is_dir ? fmt::format(", {} files", ptr.files) : ""));
  if (a.type == "prompt" && !ptr.is_dir) {  // a prompt is shown as it is sent
    auto content = resolve_content(ws, v.artifact + "@" + v.version);
    if (!content) content = resolve_content(ws, ref_text);
    if (content) {
      out.line("");
      out.line(read_file_limited(content->path, 1u << 20, "prompt"));
    }
  }
  for (const auto& r : producers) {
    out.line(fmt::format("  made by  run {} ({}, {})", r.id, r.kind, r.name));
    for (const auto& [k, val] : r.params) out.line(fmt::format("    param  {} = {}", k, val));
    for (const auto& [path, h] : r.inputs)
      out.line(fmt::format("    input  {} {}", path, short_hash(h)));
  }
  if (t.size()) {
    out.line("");
    t.print(out);
  }
  return 0;
}

int run_diff(cli::Context& ctx, const std::string& a, const std::string& b) {
  auto& out = ctx.out();
  auto d = diff_versions(ctx.workspace(), a, b);
  if (out.json()) {
    json files = json::array();
    for (const auto& f : d.files) {
      json lines = json::array();
      for (const auto& l : f.lines) lines.push_back(std::string(1, l.op) + l.text);
      files.push_back({{"path", f.path},
                       {"status", f.status},
                       {"binary", f.binary},
                       {"size_a", f.size_a},
                       {"size_b", f.size_b},
                       {"lines", lines}});
    }
    out.print_json(
        {{"a",
          {{"ref", a}, {"version", d.a.version.version}, {"content_sha256", d.a.pointer.sha256}}},
         {"b",
          {{"ref", b}, {"version", d.b.version.version}, {"content_sha256", d.b.pointer.sha256}}},
         {"identical", d.a.pointer.sha256 == d.b.pointer.sha256},
         {"files", files}});
    return 0;
  }
  if (d.a.pointer.sha256 == d.b.pointer.sha256) {
    out.info(
        fmt::format("{} and {} have the same content ({})", a, b, short_hash(d.a.pointer.sha256)));
    return 0;
  }
  for (const auto& f : d.files) {
    out.line(out.paint(fmt::format("{} {} ({} -> {} bytes)", f.status, f.path, f.size_a, f.size_b),
                       cli::Style::Bold));
    if (f.binary) out.line("  binary or large: contents differ");
    for (const auto& l : f.lines) {
      auto style = l.op == '-'   ? cli::Style::Red
                   : l.op == '+' ? cli::Style::Green
                   : l.op == '@' ? cli::Style::Cyan
                                 : cli::Style::None;
      out.line(out.paint(l.op == '@' ? l.text : std::string(1, l.op) + l.text, style));
    }
  }
  return 0;
}

}  // namespace

namespace {

void add_register(CLI::App* sub, cli::Context& ctx) {
  auto rf = std::make_shared<RegisterFlags>();
  auto* reg = sub->add_subcommand(
      "register", "Register a version of an artifact at a commit (a tag NAME@vX.Y.Z)");
  reg->add_option("name", rf->r.artifact, "Artifact name (declared under artifacts: in xops.yaml)")
      ->required();
  reg->add_option("rev", rf->r.rev, "Commit, branch or tag")->capture_default_str();
  reg->add_option("--version", rf->r.version,
                  "Explicit SemVer (default: bump the patch of the latest)");
  reg->add_flag("--bump-minor", rf->minor, "Bump the minor version");
  reg->add_flag("--bump-major", rf->major, "Bump the major version");
  reg->add_option("-m,--message", rf->r.message, "Why (kept in the tag's message)");
  reg->add_option("--push", rf->push, "Push the new tag to this git remote (default origin)")
      ->expected(0, 1)
      ->default_str("origin");
  reg->callback([&ctx, rf] { ctx.action = [&ctx, rf] { return run_register(ctx, *rf); }; });
}

void add_queries(CLI::App* sub, cli::Context& ctx) {
  auto* ls = sub->add_subcommand(
      "ls", "Artifacts, their latest versions and which version holds each stage");
  ls->callback([&ctx] { ctx.action = [&ctx] { return run_ls(ctx); }; });

  auto hist = std::make_shared<std::string>();
  auto* h = sub->add_subcommand("history",
                                "Every registration, assignment and deprecation of an artifact");
  h->add_option("name", *hist, "Artifact name")->required();
  h->callback([&ctx, hist] { ctx.action = [&ctx, hist] { return run_history(ctx, *hist); }; });

  auto diff = std::make_shared<std::pair<std::string, std::string>>();
  auto* df = sub->add_subcommand(
      "diff", "How two versions differ (lines of a prompt or config; files of a model)");
  df->add_option("a", diff->first, "NAME@vX.Y.Z, NAME#STAGE or NAME@latest")->required();
  df->add_option("b", diff->second, "the other version")->required();
  df->callback([&ctx, diff] {
    ctx.action = [&ctx, diff] { return run_diff(ctx, diff->first, diff->second); };
  });

  auto show = std::make_shared<std::string>();
  auto* sh = sub->add_subcommand(
      "show", "A version: commit, content hash, and the runs that made or evaluated it");
  sh->add_option("ref", *show, "NAME@vX.Y.Z, NAME#STAGE, NAME@latest or NAME")->required();
  sh->callback([&ctx, show] { ctx.action = [&ctx, show] { return run_show(ctx, *show); }; });
}

void add_stage_tags(CLI::App* sub, cli::Context& ctx) {
  struct TagFlags {
    std::string name, stage, message, push;
  };
  auto uf = std::make_shared<TagFlags>();
  auto* un = sub->add_subcommand(
      "unassign", "Take the version out of a stage (a tag NAME#STAGE!#N; nothing is deleted)");
  un->add_option("name", uf->name, "Artifact name")->required();
  un->add_option("--stage", uf->stage, "The stage to empty")->required();
  un->add_option("-m,--message", uf->message, "Why (kept in the tag's message)");
  un->add_option("--push", uf->push, "Push the new tag to this git remote (default origin)")
      ->expected(0, 1)
      ->default_str("origin");
  un->callback([&ctx, uf] {
    ctx.action = [&ctx, uf] {
      auto tag = unassign_stage(ctx.workspace(), uf->name, uf->stage, uf->message);
      if (!uf->push.empty()) push_tag(ctx.workspace(), uf->push, tag);
      if (ctx.out().json())
        ctx.out().print_json({{"tag", tag}});
      else
        ctx.out().info(fmt::format("{} is no longer in {}: tag {}", uf->name, uf->stage, tag));
      return 0;
    };
  });
  auto df_ = std::make_shared<TagFlags>();
  auto* dp = sub->add_subcommand(
      "deprecate", "Mark an artifact deprecated (a tag NAME@deprecated#N); refs keep working");
  dp->add_option("name", df_->name, "Artifact name")->required();
  dp->add_option("-m,--message", df_->message, "Why (kept in the tag's message)");
  dp->add_option("--push", df_->push, "Push the new tag to this git remote (default origin)")
      ->expected(0, 1)
      ->default_str("origin");
  dp->callback([&ctx, df_] {
    ctx.action = [&ctx, df_] {
      auto tag = deprecate_artifact(ctx.workspace(), df_->name, df_->message);
      if (!df_->push.empty()) push_tag(ctx.workspace(), df_->push, tag);
      if (ctx.out().json())
        ctx.out().print_json({{"tag", tag}});
      else
        ctx.out().info(fmt::format("{} is deprecated: tag {}", df_->name, tag));
      return 0;
    };
  });
}

}  // namespace

void register_promote(CLI::App& app, cli::Context& ctx) {
  auto* sub = app.add_subcommand(
      "promote", "Version registry (git tags, gto's grammar) and gated promotion through stages");
  auto pf = std::make_shared<PromoteFlags>();
  sub->add_option("ref", pf->ref, "NAME@vX.Y.Z, NAME@latest or NAME (its latest version)");
  sub->add_option("--to", pf->to, "Stage to promote to (stages: in xops.yaml)");
  sub->add_flag("--dry-run", pf->dry_run, "Check the gates, write nothing");
  sub->add_option("--push", pf->push, "Push the new tag to this git remote (default origin)")
      ->expected(0, 1)
      ->default_str("origin");
  sub->add_flag("--approve", pf->approve,
                "Sign off (for `approve: true` gates); recorded in the tag message");
  sub->add_flag(
      "--run-evals", pf->run_evals,
      "Run each gate's suite on exactly this version when no passing eval of it is recorded");
  sub->add_option("-m,--message", pf->message, "Why (kept in the tag's message)");
  sub->require_subcommand(0, 1);
  sub->callback([&ctx, pf, sub] {
    if (!sub->get_subcommands().empty()) return;
    if (pf->ref.empty()) throw CLI::RequiredError("ref");
    ctx.action = [&ctx, pf] { return run_promote(ctx, *pf); };
  });
  add_register(sub, ctx);
  add_queries(sub, ctx);
  add_stage_tags(sub, ctx);
}

}  // namespace xops::commands
