// `xops finetune CONFIG.yaml [--set k=v]... [--resume] [--merge]`: pretraining, full
// fine-tuning or LoRA, recorded as a tracking run; the output is tracked in the store.
// `--nproc-per-node N [--nnodes M --node-rank R --master-addr A --master-port P]` launches N
// data-parallel workers (torchrun's way); a process started with torchrun's environment is
// one of those workers.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "commands/commands.hpp"
#include "core/app/finetune_job.hpp"
#include "core/app/finetune_launch.hpp"
#include "core/error.hpp"
#include "core/project/workspace.hpp"
#include "term/context.hpp"
#include "term/progress.hpp"

namespace xops::commands {

namespace {

struct FinetuneFlags {
  std::string config;
  std::vector<std::string> sets;
  bool resume = false, merge = false;
  int nproc_per_node = 0, nnodes = 1, node_rank = 0, master_port = 0, dist_timeout = 0;
  std::string master_addr;
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
                    {"world_size", res.world_size},
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

// The launcher: the config checked and the data tokenised once, then the node's workers.
int launch(cli::Context& ctx, const FinetuneFlags& f, const Workspace* ws) {
  auto& out = ctx.out();
  if (app::world_from_env())
    throw usage_error("--nproc-per-node inside a worker: WORLD_SIZE and RANK are already set",
                      "run the launcher from a plain shell, or drop --nproc-per-node here");
  app::FinetuneObserver obs;
  obs.on_warning = [&](const std::string& s) { out.warn(s); };
  app::check_finetune({f.config, f.sets, f.resume, f.merge}, ws, obs);
  app::LaunchSpec spec;
  spec.nproc_per_node = f.nproc_per_node;
  spec.nnodes = f.nnodes;
  spec.node_rank = f.node_rank;
  spec.master_addr = f.master_addr;
  spec.master_port = f.master_port;
  spec.timeout_s = f.dist_timeout;
  spec.worker_argv = app::strip_launcher_args(app::own_command_line());
  app::LaunchObserver lo;
  lo.on_info = [&](const std::string& s) { out.info(s); };
  app::launch_workers(spec, lo);
  return 0;
}

int run_finetune(cli::Context& ctx, const FinetuneFlags& f) {
  auto& out = ctx.out();
  const Workspace* ws =
      Workspace::find_root(std::filesystem::current_path()) ? &ctx.workspace() : nullptr;
  if (f.nproc_per_node > 0) return launch(ctx, f, ws);
  if (f.nnodes != 1 || f.node_rank != 0 || !f.master_addr.empty() || f.master_port != 0 ||
      f.dist_timeout != 0)
    throw usage_error(
        "--nnodes, --node-rank, --master-addr, --master-port and --dist-timeout "
        "go with --nproc-per-node",
        "add --nproc-per-node N (workers per node)");
  app::FinetuneRequest req{f.config, f.sets, f.resume, f.merge};
  if (auto world = app::world_from_env()) req.world = *world;
  const int rank = req.world.rank;
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
  app::FinetuneOutcome o;
  try {
    o = app::run_finetune(req, ws, obs);
  } catch (const Error& e) {
    // A worker's error says which rank it is (the launcher's says which one failed first).
    std::string msg = e.what();
    if (req.world.distributed() && msg.rfind("rank ", 0) != 0)
      throw Error(e.kind(), fmt::format("rank {}: {}", rank, msg), e.hint());
    throw;
  }
  if (bar) bar->finish();
  if (rank == 0) render(out, o);  // stdout is rank 0's alone
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
  sub->add_option("--nproc-per-node", f->nproc_per_node,
                  "Data-parallel: start N worker processes on this node (torchrun's flag)")
      ->check(CLI::Range(1, 1024));
  sub->add_option("--nnodes", f->nnodes, "Data-parallel: how many nodes (machines) take part")
      ->check(CLI::Range(1, 4096));
  sub->add_option("--node-rank", f->node_rank, "Data-parallel: this node's index, 0 to nnodes-1")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--master-addr", f->master_addr,
                  "Data-parallel: node 0's address, where rank 0 hosts the rendezvous "
                  "(default 127.0.0.1)");
  sub->add_option("--master-port", f->master_port,
                  "Data-parallel: the rendezvous port (default: a free one on one node, 29500 "
                  "with several)")
      ->check(CLI::Range(1, 65535));
  sub->add_option("--dist-timeout", f->dist_timeout,
                  "Data-parallel: seconds to wait for the rendezvous and each collective "
                  "(default 300)")
      ->check(CLI::Range(1, 86400));
  sub->callback([&ctx, f] { ctx.action = [&ctx, f] { return run_finetune(ctx, *f); }; });
}

}  // namespace xops::commands
