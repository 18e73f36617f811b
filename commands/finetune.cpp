// `xops finetune CONFIG.yaml [--set k=v]... [--resume] [--merge]`: pretraining, full
// fine-tuning or LoRA, recorded as a tracking run; the output is tracked in the store.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "commands/commands.hpp"
#include "core/app/finetune_job.hpp"
#include "core/project/workspace.hpp"
#include "term/context.hpp"
#include "term/progress.hpp"

namespace xops::commands {

namespace {

struct FinetuneFlags {
  std::string config;
  std::vector<std::string> sets;
  bool resume = false, merge = false;
};

void render(cli::Output& out, const app::FinetuneOutcome& o) {
  const auto& res = o.result;
  using nlohmann::json;
  if (out.json()) {
    out.print_json({{"run", o.run_id.empty() ? json(nullptr) : json(o.run_id)},
                    {"output", o.output_dir.string()},
                    {"merged", o.merged_dir.empty() ? json(nullptr) : json(o.merged_dir.string())},
                    {"sha256", o.sha256},
                    {"steps", res.steps},
                    {"resumed_from", res.resumed_from},
                    {"final_loss", res.final_loss},
                    {"eval_loss", res.eval_loss ? json(*res.eval_loss) : json(nullptr)},
                    {"tokens_per_s", res.tokens_per_s},
                    {"seconds", res.seconds},
                    {"trainable_params", res.trainable_params},
                    {"total_params", res.total_params},
                    {"losses", res.losses}});
    return;
  }
  out.info(fmt::format("done: {} steps in {:.1f}s ({:.0f} tokens/s), final loss {:.4f}{}",
                       res.steps, res.seconds, res.tokens_per_s, res.final_loss,
                       res.eval_loss ? fmt::format(", eval loss {:.4f}", *res.eval_loss) : ""));
  out.line(o.output_dir.string());
  if (!o.merged_dir.empty()) out.line(o.merged_dir.string());
  if (!o.run_id.empty()) out.info("commit the new pointer with `git commit`");
}

int run_finetune(cli::Context& ctx, const FinetuneFlags& f) {
  auto& out = ctx.out();
  const Workspace* ws =
      Workspace::find_root(std::filesystem::current_path()) ? &ctx.workspace() : nullptr;
  std::unique_ptr<cli::ProgressBar> bar;
  app::FinetuneObserver obs;
  obs.on_warning = [&](const std::string& s) { out.warn(s); };
  obs.on_info = [&](const std::string& s) { out.info(s); };
  obs.on_detail = [&](const std::string& s) { out.verbose(1, s); };
  obs.on_step = [&](const TrainStep& s, bool log_line) {
    if (!bar)
      bar = std::make_unique<cli::ProgressBar>(out, "finetune", static_cast<uint64_t>(s.total),
                                               false);
    bar->set_suffix(
        fmt::format("loss {:.4f} lr {:.2e} {:.0f} tok/s", s.loss, s.lr, s.tokens_per_s));
    bar->set(static_cast<uint64_t>(s.step));
    if (!bar->enabled() && log_line)
      out.info(fmt::format("step {}/{} loss {:.4f} lr {:.3e} grad_norm {:.3f} {:.0f} tokens/s",
                           s.step, s.total, s.loss, s.lr, s.grad_norm, s.tokens_per_s));
  };
  obs.on_eval = [&](int step, double loss) {
    out.info(fmt::format("step {} eval loss {:.4f}", step, loss));
  };
  auto o = app::run_finetune({f.config, f.sets, f.resume, f.merge}, ws, obs);
  if (bar) bar->finish();
  render(out, o);
  return 0;
}

}  // namespace

void register_finetune(CLI::App& app, cli::Context& ctx) {
  auto f = std::make_shared<FinetuneFlags>();
  auto* sub = app.add_subcommand(
      "finetune", "Pretrain, fully fine-tune or LoRA-tune a model from one YAML file");
  sub->add_option("config", f->config, "Finetune config (see docs/finetune.md)")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--set", f->sets, "Override a config key: --set optimizer.lr=1e-3 (repeatable)")
      ->allow_extra_args(false);
  sub->add_flag("--resume", f->resume, "Continue from the latest checkpoint");
  sub->add_flag("--merge", f->merge, "LoRA: also write the base model with the adapter merged in");
  sub->callback([&ctx, f] { ctx.action = [&ctx, f] { return run_finetune(ctx, *f); }; });
}

}  // namespace xops::commands
