// `xops init [DIR] [--template NAME] [--name NAME] [--no-hooks] [--force]`
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "commands/commands.hpp"
#include "core/app/init_project.hpp"
#include "term/context.hpp"

namespace xops::commands {

namespace {
struct InitFlags {
  std::string dir = ".";
  std::string tpl = "llm";
  std::string name;
  bool no_hooks = false;
  bool force = false;
};

int run_init(cli::Context& ctx, const InitFlags& f) {
  InitOptions opts;
  opts.dir = f.dir;
  opts.template_name = f.tpl;
  opts.name = f.name;
  opts.hooks = !f.no_hooks;
  opts.force = f.force;
  auto res = init_project(opts);
  auto& o = ctx.out();
  for (const auto& w : res.warnings) o.warn(w);
  if (o.json()) {
    o.print_json({{"root", res.root.string()},
                  {"name", res.name},
                  {"template", res.template_name},
                  {"git_initialized", res.git_initialized},
                  {"written", res.written},
                  {"kept", res.kept},
                  {"hooks", res.hooks},
                  {"tracked", res.tracked}});
    return 0;
  }
  for (const auto& w : res.written) o.verbose(1, "wrote " + w);
  for (const auto& k : res.kept) o.verbose(1, "kept existing " + k);
  o.info(fmt::format("Initialized xops project '{}' in {} (template {}{}, {} files{})", res.name,
                     res.root.string(), res.template_name,
                     res.git_initialized ? ", new git repository" : "", res.written.size(),
                     res.hooks.empty() ? "" : ", hooks: " + fmt::format("{}", fmt::join(res.hooks, ", "))));
  for (const auto& t : res.tracked) o.verbose(1, "tracked " + t + " in the content store");
  o.info("next: git add -A && git commit -m 'xops init'");
  o.line(res.root.string());
  return 0;
}
}  // namespace

void register_init(CLI::App& app, cli::Context& ctx) {
  auto f = std::make_shared<InitFlags>();
  auto* sub = app.add_subcommand("init", "Scaffold a git-backed xops project in DIR");
  sub->add_option("dir", f->dir, "Project directory (created if needed)")->capture_default_str();
  sub->add_option("-t,--template", f->tpl, "Template: llm (default) or minimal")->capture_default_str();
  sub->add_option("--name", f->name, "Project name (default: the directory name)");
  sub->add_flag("--no-hooks", f->no_hooks, "Do not install git hooks");
  sub->add_flag("--force", f->force, "Rewrite the files xops owns in an existing project");
  sub->callback([&ctx, f] { ctx.action = [&ctx, f] { return run_init(ctx, *f); }; });

  // A fresh clone has no hooks (git never copies them): this installs them and touches nothing
  // else (init --force would rewrite xops.yaml).
  auto* hooks = app.add_subcommand("install-hooks", "Install or refresh this project's git hooks (idempotent)");
  hooks->callback([&ctx] {
    ctx.action = [&ctx] {
      auto res = install_hooks(ctx.workspace().root());
      auto& o = ctx.out();
      for (const auto& w : res.warnings) o.warn(w);
      if (o.json()) o.print_json({{"hooks", res.hooks}});
      else o.info(fmt::format("hooks: {}", res.hooks.empty() ? "none" : fmt::format("{}", fmt::join(res.hooks, ", "))));
      return 0;
    };
  });
}

}  // namespace xops::commands
