// `xops finetune CONFIG.yaml [--set k=v]... [--resume] [--merge]`: pretraining, full
// fine-tuning or LoRA, recorded as a tracking run; the output is tracked in the store.
#include <fmt/format.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/context.hpp"
#include "cli/progress.hpp"
#include "commands/commands.hpp"
#include "core/engine/engine.hpp"
#include "core/error.hpp"
#include "core/finetune/dataset.hpp"
#include "core/finetune/finetune_config.hpp"
#include "core/model/model_ref.hpp"
#include "core/store/object_store.hpp"
#include "core/track/track.hpp"
#include "core/tracking/run_session.hpp"
#include "core/tracking/tracker.hpp"
#include "core/util/interrupt.hpp"
#include "core/workspace.hpp"

namespace xops::commands {

namespace {

struct FinetuneFlags {
  std::string config;
  std::vector<std::string> sets;
  bool resume = false, merge = false;
};

ModelConfig init_model_config(const InitSpec& s, const Tokenizer& tok, int32_t eos) {
  ModelConfig c;
  c.arch = s.arch == "llama" ? Arch::Llama : Arch::Gpt2;
  c.vocab_size = static_cast<int>(tok.vocab_size());
  c.n_layer = s.layers;
  c.d_model = s.d_model;
  c.n_head = s.heads;
  c.n_kv_head = s.kv_heads > 0 ? s.kv_heads : s.heads;
  c.head_dim = s.d_model / s.heads;
  c.d_ff = s.d_ff > 0
               ? s.d_ff
               : (c.arch == Arch::Gpt2 ? 4 * s.d_model : ((8 * s.d_model / 3 + 15) / 16) * 16);
  c.max_positions = s.ctx;
  c.tie_embeddings = c.arch == Arch::Gpt2;
  c.bos_id = c.eos_id = eos;
  if (c.n_head % c.n_kv_head) throw usage_error("model.init.heads must be a multiple of kv_heads");
  return c;
}

std::map<std::string, std::string> flat_params(const FinetuneConfig& c) {
  std::map<std::string, std::string> p = {
      {"method", c.method},
      {"optimizer.lr", fmt::format("{}", c.optimizer.lr)},
      {"batch_size", std::to_string(c.batch_size)},
      {"grad_accum", std::to_string(c.grad_accum)},
      {"max_steps", std::to_string(c.max_steps)},
      {"epochs", std::to_string(c.epochs)},
      {"seq_len", std::to_string(c.data.seq_len)},
      {"seed", std::to_string(c.seed)},
      {"dtype", c.dtype},
      {"schedule", c.schedule.type},
      {"warmup_steps", std::to_string(c.schedule.warmup_steps)},
      {"weight_decay", fmt::format("{}", c.optimizer.weight_decay)},
      {"model", c.init ? "init:" + c.init->arch : c.model}};
  if (c.init)
    p["model.init"] = fmt::format("{}x{} heads {} ctx {} vocab {}", c.init->layers, c.init->d_model,
                                  c.init->heads, c.init->ctx, c.init->vocab);
  if (c.method == "lora") {
    p["lora.r"] = std::to_string(c.lora.r);
    p["lora.alpha"] = fmt::format("{}", c.lora.alpha);
    p["lora.target_modules"] = fmt::format("{}", fmt::join(c.lora.target_modules, ","));
  }
  return p;
}

int run_finetune(cli::Context& ctx, const FinetuneFlags& f) {
  auto& out = ctx.out();
  std::vector<std::string> warnings;
  auto cfg = load_finetune_config(f.config, f.sets, &warnings);
  for (const auto& w : warnings) out.warn(w);
  const Workspace* ws =
      Workspace::find_root(std::filesystem::current_path()) ? &ctx.workspace() : nullptr;
  if (!ws) out.warn("not inside an xops project: the run is not tracked and the output not stored");
  auto root = ws ? ws->root() : std::filesystem::current_path();
  auto cfg_dir = std::filesystem::absolute(cfg.file).parent_path();
  // Data paths resolve against the project root (else the config's directory).
  auto data_base = ws ? root : cfg_dir;

  TrainJob job;
  std::optional<Tokenizer> tok;
  int32_t eos = -1;
  std::string tokenizer_id;
  if (cfg.init) {
    if (cfg.init->vocab == "byte") {
      tok = Tokenizer::byte_level();
      tokenizer_id = "byte";
    } else {
      std::filesystem::path p = cfg.init->vocab;
      if (p.is_relative()) p = data_base / p;
      tok =
          std::filesystem::is_directory(p) ? Tokenizer::load(p) : Tokenizer::from_tokenizer_json(p);
      tokenizer_id = p.string();
    }
    eos = tok->special_id("<|endoftext|>");
  } else {
    job.base_dir = resolve_model_ref(cfg.model, ws);
    tok = Tokenizer::load(job.base_dir);
    auto mc = load_model_config(job.base_dir);
    eos = mc.eos_id >= 0 ? mc.eos_id : tok->special_id("<|endoftext|>");
    tokenizer_id = job.base_dir.string();
  }
  if (eos < 0)
    throw usage_error("the tokenizer has no end-of-text token",
                      "add <|endoftext|> to the vocabulary");
  // Before any window is allocated: a window longer than the model's context cannot train.
  int context = cfg.init ? cfg.init->ctx : load_model_config(job.base_dir).max_positions;
  if (cfg.data.seq_len > context)
    throw usage_error(fmt::format("data.seq_len {} exceeds the model's context of {} tokens",
                                  cfg.data.seq_len, context),
                      fmt::format("set data.seq_len to at most {}", context));
  auto cache_dir = ws ? ws->state_dir() / "cache" : cfg_dir / ".xops-cache";
  auto data = prepare_data(cfg, *tok, eos, tokenizer_id, data_base, cache_dir);
  out.info(fmt::format(
      "data: {} {} examples -> {} training windows of {} tokens ({} target tokens), {} validation "
      "windows{}",
      data.examples, data.format, data.train.count(), cfg.data.seq_len + 1, data.target_tokens,
      data.val.count(), data.from_cache ? " (tokenised data from cache)" : ""));
  if (cfg.init) {
    job.init_config = init_model_config(*cfg.init, *tok, eos);
    job.init_tokenizer = std::make_shared<const Tokenizer>(std::move(*tok));
  }
  auto name =
      cfg.output.empty() ? std::filesystem::path(cfg.output_dir).filename().string() : cfg.output;
  job.output_dir =
      cfg.output_dir.empty() ? root / "models" / name : std::filesystem::path(cfg.output_dir);
  if (job.output_dir.is_relative()) job.output_dir = root / job.output_dir;
  if (f.merge) {
    if (cfg.method != "lora") throw usage_error("--merge applies to method: lora");
    job.merged_dir = job.output_dir.string() + "-merged";
  }
  job.checkpoint_dir = (ws ? ws->state_dir() / "checkpoints" : root / ".xops-checkpoints") / name;
  job.resume = f.resume;
  job.cfg = cfg;
  job.train = &data.train;
  job.val = &data.val;

  std::optional<Tracker> tracker;
  std::optional<RunSession> session;  // marks the run killed/failed if we leave early
  std::string run_id;
  if (ws) {
    tracker.emplace(Tracker::for_workspace(*ws));
    RunStart rs;
    rs.name = name;
    rs.kind = "finetune";
    rs.command = "xops finetune " + f.config;
    for (const auto& s : f.sets) rs.command += " --set " + s;
    rs.params = flat_params(cfg);
    rs.tags = {{"data.sha256", data.key.substr(0, 16)}};
    session.emplace(*tracker, rs, ws);
    run_id = session->id();
    ObjectStore store(ws->objects_dir(), ws->tmp_dir());
    auto obj = store.add_bytes(cfg.render_yaml());
    tracker->log_artifact(run_id, "config.yaml", obj.id, static_cast<int64_t>(obj.size), "");
    out.info(fmt::format("run {} ({})", run_id, cfg.method));
  }
  std::optional<MetricLogger> logger;
  if (tracker) logger.emplace(*tracker, run_id, 512);

  std::unique_ptr<cli::ProgressBar> bar;
  TrainCallbacks cb;
  cb.on_info = [&](const std::string& s) { out.info(s); };
  cb.on_step = [&](const TrainStep& s) {
    if (!bar)
      bar = std::make_unique<cli::ProgressBar>(out, "finetune", static_cast<uint64_t>(s.total),
                                               false);
    bar->set_suffix(
        fmt::format("loss {:.4f} lr {:.2e} {:.0f} tok/s", s.loss, s.lr, s.tokens_per_s));
    bar->set(static_cast<uint64_t>(s.step));
    if (logger) {
      logger->log("train/loss", s.loss, s.step);
      logger->log("train/lr", s.lr, s.step);
      logger->log("train/grad_norm", s.grad_norm, s.step);
      logger->log("train/tokens_per_s", s.tokens_per_s, s.step);
    }
    if (!bar->enabled() && (s.step % cfg.log_interval == 0 || s.step == s.total))
      out.info(fmt::format("step {}/{} loss {:.4f} lr {:.3e} grad_norm {:.3f} {:.0f} tokens/s",
                           s.step, s.total, s.loss, s.lr, s.grad_norm, s.tokens_per_s));
  };
  cb.on_eval = [&](int step, double loss) {
    if (logger) logger->log("eval/loss", loss, step);
    out.info(fmt::format("step {} eval loss {:.4f}", step, loss));
  };
  cb.on_checkpoint = [&](int step, const std::filesystem::path& p) {
    out.verbose(1, fmt::format("checkpoint at step {}: {}", step, p.string()));
  };
  // Ctrl-C (the one interrupt mechanism): training stops at the next step boundary after a
  // checkpoint, so --resume continues exactly.
  cb.should_stop = [] { return interrupt::requested(); };
  TrainResult res;
  try {
    res = engine().train(job, cb);
  } catch (const std::exception& e) {
    if (logger) {
      try {
        logger->flush();
      } catch (const std::exception&) {
      }
    }
    if (session) session->fail(e);  // killed after Ctrl-C, else failed with this exit code
    throw;
  }
  if (bar) bar->finish();
  if (logger) logger->flush();
  if (res.interrupted) {
    if (session) session->finish(RunStatus::Killed, 130);
    throw Error(ErrorKind::Interrupted,
                fmt::format("interrupted at step {}; checkpoint {}", res.steps,
                            res.last_checkpoint.string()),
                "continue with --resume");
  }
  std::string sha;
  if (ws && cfg.method == "lora" && !cfg.model.empty())
    record_adapter_base(job.output_dir, cfg.model);
  if (ws) {
    // The output goes into the content store and git (a pointer), like any tracked artifact.
    AddOptions add;
    add.paths = {job.output_dir.string()};
    if (!job.merged_dir.empty()) add.paths.push_back(job.merged_dir.string());
    auto added = track_add(*ws, add, {});
    sha = added[0].sha256;
    tracker->log_artifact(run_id, cfg.method == "lora" ? "adapter" : "model", sha,
                          static_cast<int64_t>(added[0].size), added[0].path);
    if (res.eval_loss) tracker->log_metrics(run_id, {{"eval/loss", *res.eval_loss, res.steps, 0}});
    session->finish(RunStatus::Finished, 0);
  }
  if (out.json()) {
    out.print_json(
        {{"run", run_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(run_id)},
         {"output", job.output_dir.string()},
         {"merged", job.merged_dir.empty() ? nlohmann::json(nullptr)
                                           : nlohmann::json(job.merged_dir.string())},
         {"sha256", sha},
         {"steps", res.steps},
         {"resumed_from", res.resumed_from},
         {"final_loss", res.final_loss},
         {"eval_loss", res.eval_loss ? nlohmann::json(*res.eval_loss) : nlohmann::json(nullptr)},
         {"tokens_per_s", res.tokens_per_s},
         {"seconds", res.seconds},
         {"trainable_params", res.trainable_params},
         {"total_params", res.total_params},
         {"losses", res.losses}});
    return 0;
  }
  out.info(fmt::format("done: {} steps in {:.1f}s ({:.0f} tokens/s), final loss {:.4f}{}",
                       res.steps, res.seconds, res.tokens_per_s, res.final_loss,
                       res.eval_loss ? fmt::format(", eval loss {:.4f}", *res.eval_loss) : ""));
  out.line(job.output_dir.string());
  if (!job.merged_dir.empty()) out.line(job.merged_dir.string());
  if (ws) out.info("commit the new pointer with `git commit`");
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
