// Pipelines in DVC's dvc.yaml: `xops repro`, `xops dag`, `xops stage status|list`,
// `xops params diff` and `xops metrics show|diff`.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands/commands.hpp"
#include "core/app/pipeline_views.hpp"
#include "core/app/repro.hpp"
#include "core/error.hpp"
#include "core/pipeline/values.hpp"
#include "term/context.hpp"
#include "term/table.hpp"

namespace xops::commands {

namespace {

using nlohmann::json;

json report_json(const app::StageReport& r) {
  return {{"stage", r.name},      {"action", r.action},
          {"reasons", r.reasons}, {"run", r.run_id.empty() ? json(nullptr) : json(r.run_id)},
          {"seconds", r.seconds}, {"error", r.error.empty() ? json(nullptr) : json(r.error)}};
}

int render_repro(cli::Context& ctx, const app::ReproResult& res, bool dry) {
  auto& out = ctx.out();
  for (const auto& w : res.warnings) out.warn(w);
  if (out.json()) {
    json stages = json::array();
    for (const auto& r : res.stages) stages.push_back(report_json(r));
    out.print_json({{"stages", stages}, {"failed", res.failed}, {"dry", dry}});
  } else {
    cli::Table t({"STAGE", "ACTION", "WHY"});
    for (const auto& r : res.stages) {
      std::string why = r.error.empty() ? "" : r.error;
      for (const auto& x : r.reasons) why += (why.empty() ? "" : "; ") + x;
      t.add({r.name, r.action, why});
    }
    t.print(out);
  }
  if (res.interrupted)
    throw Error(ErrorKind::Interrupted, "interrupted", "the interrupted stage committed nothing");
  return res.failed ? 1 : 0;
}

int run_repro(cli::Context& ctx, app::ReproOptions o, bool skip_if_no_remote = false) {
  auto& out = ctx.out();
  if (o.remote.empty()) o.remote = ctx.settings().get("remote").value;
  if ((o.pull || o.push) && skip_if_no_remote && o.remote.empty() &&
      !ctx.workspace().config().default_remote()) {
    out.info("xops: no remote configured; nothing pulled or pushed");
    o.pull = o.push = false;
  }
  app::ReproObserver obs;
  obs.on_info = [&out](const std::string& s) { out.info(s); };
  obs.on_stage_start = [&out](const std::string& name, const std::vector<std::string>& why) {
    out.info(fmt::format("running stage {}{}", name, why.empty() ? "" : " (" + why.front() + ")"));
  };
  obs.on_stage_end = [&out](const app::StageReport& r) {
    if (r.action == "failed") out.warn(fmt::format("stage {} failed: {}", r.name, r.error));
  };
  // Stage output goes to stderr: stdout carries the report (and --json) only.
  obs.on_output = [](const std::string&, int, const char* data, size_t n) {
    ssize_t ignored = ::write(2, data, n);
    (void)ignored;
  };
  auto res = app::repro(ctx.workspace(), o, obs);
  return render_repro(ctx, res, o.dry);
}

std::string value_text(const std::optional<nlohmann::ordered_json>& v) {
  return v ? pipeline::to_str(*v) : "-";
}

std::string number_text(std::optional<double> v) {
  return v ? fmt::format("{}", *v) : "-";
}

json opt_json(const std::optional<nlohmann::ordered_json>& v) {
  return v ? json::parse(v->dump()) : json(nullptr);
}
json opt_json(std::optional<double> v) {
  return v ? json(*v) : json(nullptr);
}

struct DiffArgs {
  std::vector<std::string> revs;
  bool all = false;
  std::string file = "dvc.yaml";
};

std::pair<std::string, std::string> sides(const DiffArgs& a) {
  if (a.revs.size() > 2)
    throw usage_error("at most two revisions", "xops params diff [A_REV [B_REV]]");
  std::string ra = a.revs.empty() ? "HEAD" : a.revs[0];
  std::string rb = a.revs.size() > 1 ? a.revs[1] : "";
  return {ra, rb};
}

int run_params_diff(cli::Context& ctx, const DiffArgs& a) {
  auto [ra, rb] = sides(a);
  auto rows = app::params_diff(ctx.workspace(), ra, rb, a.all, a.file);
  auto& out = ctx.out();
  std::string lb = rb.empty() ? "workspace" : rb;
  if (out.json()) {
    json j = json::object();
    for (const auto& r : rows)
      j[r.file][r.key] = {{"old", opt_json(r.old_value)}, {"new", opt_json(r.new_value)}};
    out.print_json(j);
    return 0;
  }
  if (rows.empty()) {
    out.info(fmt::format("no params changed between {} and {}", ra, lb));
    return 0;
  }
  cli::Table t({"PATH", "PARAM", ra, lb});
  for (const auto& r : rows)
    t.add({r.file, r.key, value_text(r.old_value), value_text(r.new_value)});
  t.print(out);
  return 0;
}

int run_metrics_show(cli::Context& ctx, const std::string& rev, const std::string& file) {
  auto rows = app::metrics_show(ctx.workspace(), rev, file);
  auto& out = ctx.out();
  if (out.json()) {
    json j = json::object();
    for (const auto& r : rows) j[r.file][r.key] = *r.new_value;
    out.print_json(j);
    return 0;
  }
  if (rows.empty()) {
    out.info(
        "no metrics: declare metrics files in dvc.yaml (metrics: or a stage's metrics:) and run "
        "them");
    return 0;
  }
  cli::Table t({"PATH", "METRIC", "VALUE"});
  for (const auto& r : rows) t.add({r.file, r.key, number_text(r.new_value)});
  t.print(out);
  return 0;
}

int run_metrics_diff(cli::Context& ctx, const DiffArgs& a) {
  auto [ra, rb] = sides(a);
  auto rows = app::metrics_diff(ctx.workspace(), ra, rb, a.all, a.file);
  auto& out = ctx.out();
  std::string lb = rb.empty() ? "workspace" : rb;
  if (out.json()) {
    json j = json::object();
    for (const auto& r : rows) {
      json d = r.old_value && r.new_value ? json(*r.new_value - *r.old_value) : json(nullptr);
      j[r.file][r.key] = {
          {"old", opt_json(r.old_value)}, {"new", opt_json(r.new_value)}, {"diff", d}};
    }
    out.print_json(j);
    return 0;
  }
  if (rows.empty()) {
    out.info(fmt::format("no metrics changed between {} and {}", ra, lb));
    return 0;
  }
  cli::Table t({"PATH", "METRIC", ra, lb, "CHANGE"});
  for (const auto& r : rows)
    t.add({r.file, r.key, number_text(r.old_value), number_text(r.new_value),
           r.old_value && r.new_value ? fmt::format("{:+}", *r.new_value - *r.old_value) : "-"});
  t.print(out);
  return 0;
}

int run_stage_list(cli::Context& ctx, const std::string& file) {
  auto p = app::list_stages(ctx.workspace(), file);
  auto& out = ctx.out();
  if (out.json()) {
    json a = json::array();
    for (const auto& s : p.stages) {
      json deps = json::array(), outs = json::array();
      for (const auto& d : s.deps) deps.push_back(d.rel);
      for (const auto& o : s.outs)
        outs.push_back(
            {{"path", o.rel}, {"kind", pipeline::out_kind_name(o.kind)}, {"cache", o.cache}});
      a.push_back({{"stage", s.name},
                   {"cmd", s.cmd},
                   {"wdir", s.wdir},
                   {"deps", deps},
                   {"outs", outs},
                   {"frozen", s.frozen},
                   {"desc", s.desc},
                   {"where", s.where}});
    }
    out.print_json(a);
    return 0;
  }
  cli::Table t({"STAGE", "OUTPUTS", "DESCRIPTION"});
  for (const auto& s : p.stages) {
    std::string outs;
    for (const auto& o : s.outs) outs += (outs.empty() ? "" : ", ") + o.rel;
    t.add({s.name, outs, s.desc});
  }
  t.print(out);
  return 0;
}

void add_repro_flags(CLI::App* c, app::ReproOptions& o) {
  c->add_option("stages", o.targets,
                "Stages to reproduce (NAME selects every NAME@KEY); default: all");
  c->add_option("--file", o.file, "The pipeline file, relative to the workspace")
      ->capture_default_str();
  c->add_flag("-s,--single-item", o.single_item,
              "Only the named stages, not their upstream stages");
  c->add_flag("--downstream", o.downstream, "Also every stage downstream of the named ones");
}

}  // namespace

void register_pipeline(CLI::App& app, cli::Context& ctx) {
  auto ro = std::make_shared<app::ReproOptions>();
  auto* r = app.add_subcommand(
      "repro", "Run a dvc.yaml pipeline's changed stages (and restore cached runs)");
  add_repro_flags(r, *ro);
  r->add_flag("-f,--force", ro->force, "Run the selected stages even when nothing changed");
  r->add_flag("--dry", ro->dry, "Say what would run and why; run nothing");
  r->add_option("-j,--jobs", ro->jobs, "Stages run at once (independent stages only)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  r->add_flag("--pull", ro->pull, "Pull the store's objects from the remote first");
  r->add_flag("--push", ro->push, "Push the store's objects to the remote after a successful run");
  r->add_option("--remote", ro->remote, "The remote for --pull/--push (default: the workspace's)");
  r->add_flag("!--no-run-cache", ro->run_cache,
              "Never restore outputs from earlier identical runs");
  auto skip = std::make_shared<bool>(false);
  r->add_flag("--skip-if-no-remote", *skip,
              "With --pull/--push: run without syncing when no remote is configured (CI)");
  r->callback(
      [&ctx, ro, skip] { ctx.action = [&ctx, ro, skip] { return run_repro(ctx, *ro, *skip); }; });

  auto dopt = std::make_shared<app::DagOptions>();
  auto* d = app.add_subcommand("dag", "The pipeline's stages in order with what each reads from");
  d->add_option("stages", dopt->targets, "Only these stages and their upstream stages");
  d->add_flag("--dot", dopt->dot, "Graphviz dot instead of text");
  d->add_option("--file", dopt->file, "The pipeline file")->capture_default_str();
  d->callback([&ctx, dopt] {
    ctx.action = [&ctx, dopt] {
      auto text = app::render_dag(ctx.workspace(), *dopt);
      ctx.out().line(text.empty() ? text : text.substr(0, text.size() - 1));
      return 0;
    };
  });

  auto* st = app.add_subcommand("stage", "Pipeline stages: status (what changed and why), list");
  st->require_subcommand(1);
  auto so = std::make_shared<app::ReproOptions>();
  auto* sst = st->add_subcommand("status", "Which stages would run and why (xops repro --dry)");
  add_repro_flags(sst, *so);
  sst->callback([&ctx, so] {
    ctx.action = [&ctx, so] {
      so->dry = true;
      return run_repro(ctx, *so);
    };
  });
  auto lf = std::make_shared<std::string>("dvc.yaml");
  auto* sl = st->add_subcommand("list", "The stages dvc.yaml declares, foreach members expanded");
  sl->add_option("--file", *lf, "The pipeline file")->capture_default_str();
  sl->callback([&ctx, lf] { ctx.action = [&ctx, lf] { return run_stage_list(ctx, *lf); }; });

  auto* pa = app.add_subcommand("params", "Pipeline params across revisions");
  pa->require_subcommand(1);
  auto pd = std::make_shared<DiffArgs>();
  auto* pdc = pa->add_subcommand(
      "diff", "Params that differ between two revisions (default: HEAD and the workspace)");
  pdc->add_option("revs", pd->revs, "A_REV [B_REV]; B_REV omitted: the workspace");
  pdc->add_flag("--all", pd->all, "Also the params that did not change");
  pdc->add_option("--file", pd->file, "The pipeline file")->capture_default_str();
  pdc->callback([&ctx, pd] { ctx.action = [&ctx, pd] { return run_params_diff(ctx, *pd); }; });

  auto* me = app.add_subcommand("metrics", "Pipeline metrics files across revisions");
  me->require_subcommand(1);
  auto ms = std::make_shared<std::pair<std::string, std::string>>("", "dvc.yaml");
  auto* msc = me->add_subcommand("show", "Every metric the pipeline's metrics files hold");
  msc->add_option("--rev", ms->first, "A git revision (default: the workspace)");
  msc->add_option("--file", ms->second, "The pipeline file")->capture_default_str();
  msc->callback([&ctx, ms] {
    ctx.action = [&ctx, ms] { return run_metrics_show(ctx, ms->first, ms->second); };
  });
  auto md = std::make_shared<DiffArgs>();
  auto* mdc = me->add_subcommand(
      "diff", "Metrics that differ between two revisions (default: HEAD and the workspace)");
  mdc->add_option("revs", md->revs, "A_REV [B_REV]; B_REV omitted: the workspace");
  mdc->add_flag("--all", md->all, "Also the metrics that did not change");
  mdc->add_option("--file", md->file, "The pipeline file")->capture_default_str();
  mdc->callback([&ctx, md] { ctx.action = [&ctx, md] { return run_metrics_diff(ctx, *md); }; });
}

}  // namespace xops::commands
