#include "core/app/finetune_job.hpp"

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <thread>

#include "core/engine/engine.hpp"
#include "core/app/notify.hpp"
#include "core/error.hpp"
#include "core/finetune/dataset.hpp"
#include "core/finetune/finetune_config.hpp"
#include "core/project/workspace.hpp"
#include "core/refs/model_ref.hpp"
#include "core/store/object_store.hpp"
#include "core/track/track.hpp"
#include "core/tracking/run_session.hpp"
#include "core/tracking/tracker.hpp"
#include "core/util/interrupt.hpp"

namespace xops::app {

namespace fs = std::filesystem;

namespace {

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

std::map<std::string, std::string> flat_params(const FinetuneConfig& c, const WorldSpec& world) {
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
  if (world.distributed()) {
    p["distributed.world_size"] = std::to_string(world.world_size);
    p["threads"] = std::to_string(c.threads);  // per rank
  }
  if (c.method == "lora") {
    p["lora.r"] = std::to_string(c.lora.r);
    p["lora.alpha"] = fmt::format("{}", c.lora.alpha);
    p["lora.target_modules"] = fmt::format("{}", fmt::join(c.lora.target_modules, ","));
  }
  return p;
}

// What training needs, prepared before a run is recorded.
struct Prepared {
  FinetuneConfig cfg;
  TrainJob job;
  PreparedData data;
  std::string name;  // the output's artifact name
};

struct TokenizerChoice {
  std::optional<Tokenizer> tok;
  int32_t eos = -1;
  std::string id;  // part of the data cache key
};

// A new model's tokenizer (init.vocab) or the base model's; the base is resolved into job.
TokenizerChoice choose_tokenizer(const FinetuneConfig& cfg, const Workspace* ws,
                                 const fs::path& data_base, TrainJob& job) {
  TokenizerChoice t;
  if (cfg.init) {
    if (cfg.init->vocab == "byte") {
      t.tok = Tokenizer::byte_level();
      t.id = "byte";
    } else {
      fs::path p = cfg.init->vocab;
      if (p.is_relative()) p = data_base / p;
      t.tok = fs::is_directory(p) ? Tokenizer::load(p) : Tokenizer::from_tokenizer_json(p);
      t.id = p.string();
    }
    t.eos = t.tok->special_id("<|endoftext|>");
  } else {
    job.base_dir = resolve_model_ref(cfg.model, ws);
    t.tok = Tokenizer::load(job.base_dir);
    auto mc = load_model_config(job.base_dir);
    t.eos = mc.eos_id >= 0 ? mc.eos_id : t.tok->special_id("<|endoftext|>");
    t.id = job.base_dir.string();
  }
  if (t.eos < 0)
    throw usage_error("the tokenizer has no end-of-text token",
                      "add <|endoftext|> to the vocabulary");
  return t;
}

void place_outputs(Prepared& p, const FinetuneRequest& req, const Workspace* ws,
                   const fs::path& root) {
  const auto& cfg = p.cfg;
  p.name = cfg.output.empty() ? fs::path(cfg.output_dir).filename().string() : cfg.output;
  auto& job = p.job;
  job.output_dir = cfg.output_dir.empty() ? root / "models" / p.name : fs::path(cfg.output_dir);
  if (job.output_dir.is_relative()) job.output_dir = root / job.output_dir;
  if (req.merge) {
    if (cfg.method != "lora") throw usage_error("--merge applies to method: lora");
    job.merged_dir = job.output_dir.string() + "-merged";
  }
  job.checkpoint_dir = (ws ? ws->state_dir() / "checkpoints" : root / ".xops-checkpoints") / p.name;
  job.resume = req.resume;
}

std::unique_ptr<Prepared> prepare(const FinetuneRequest& req, const Workspace* ws,
                                  const FinetuneObserver& obs) {
  auto p = std::make_unique<Prepared>();
  std::vector<std::string> warnings;
  p->cfg = load_finetune_config(req.config, req.sets, &warnings);
  for (const auto& w : warnings) tell(obs.on_warning, w);
  if (!ws)
    tell(obs.on_warning,
         "not inside an xops project: the run is not tracked and the output not stored");
  const auto& cfg = p->cfg;
  auto root = ws ? ws->root() : fs::current_path();
  auto cfg_dir = fs::absolute(cfg.file).parent_path();
  auto data_base = ws ? root : cfg_dir;  // data paths: the project root, else the config's dir
  auto t = choose_tokenizer(cfg, ws, data_base, p->job);
  // Before any window is allocated: a window longer than the model's context cannot train.
  int context = cfg.init ? cfg.init->ctx : load_model_config(p->job.base_dir).max_positions;
  if (cfg.data.seq_len > context)
    throw usage_error(fmt::format("data.seq_len {} exceeds the model's context of {} tokens",
                                  cfg.data.seq_len, context),
                      fmt::format("set data.seq_len to at most {}", context));
  auto cache_dir = ws ? ws->state_dir() / "cache" : cfg_dir / ".xops-cache";
  p->data = prepare_data(cfg, *t.tok, t.eos, t.id, data_base, cache_dir);
  const auto& d = p->data;
  tell(obs.on_info,
       fmt::format("data: {} {} examples -> {} training windows of {} tokens ({} target tokens), "
                   "{} validation windows{}",
                   d.examples, d.format, d.train.count(), cfg.data.seq_len + 1, d.target_tokens,
                   d.val.count(), d.from_cache ? " (tokenised data from cache)" : ""));
  if (cfg.init) {
    p->job.init_config = init_model_config(*cfg.init, *t.tok, t.eos);
    p->job.init_tokenizer = std::make_shared<const Tokenizer>(std::move(*t.tok));
  }
  // LoRA's targets as trained, not "" (the run's params and config.yaml say what was adapted).
  if (p->cfg.method == "lora" && p->cfg.lora.target_modules.empty())
    p->cfg.lora.target_modules =
        default_lora_targets(cfg.init ? p->job.init_config : load_model_config(p->job.base_dir));
  place_outputs(*p, req, ws, root);
  // Ranks on one machine share its cores: each takes its share unless threads is set.
  if (req.world.distributed() && p->cfg.threads <= 0)
    p->cfg.threads = std::max(
        1, static_cast<int>(std::thread::hardware_concurrency()) / req.world.local_world_size);
  p->job.world = req.world;
  p->job.cfg = p->cfg;
  p->job.train = &p->data.train;
  p->job.val = &p->data.val;
  return p;
}

// The tracking side of one fine-tune: the run (with its config as an artifact) and a
// batched metric logger. Nothing when outside a project.
struct Tracked {
  std::optional<Tracker> tracker;
  std::optional<RunSession> session;  // marks the run killed/failed if we leave early
  std::optional<MetricLogger> logger;
  std::string run_id;

  void start(const Workspace& ws, const Prepared& p, const FinetuneRequest& req) {
    tracker.emplace(Tracker::for_workspace(ws));
    RunStart rs;
    rs.name = p.name;
    rs.kind = "finetune";
    rs.command = "xops finetune " + req.config.string();
    for (const auto& s : req.sets) rs.command += " --set " + s;
    rs.params = flat_params(p.cfg, req.world);
    rs.tags = {{"data.sha256", p.data.key.substr(0, 16)}};
    session.emplace(*tracker, rs, &ws);
    run_id = session->id();
    ObjectStore store(ws.objects_dir(), ws.tmp_dir());
    auto obj = store.add_bytes(p.cfg.render_yaml());
    tracker->log_artifact(run_id, "config.yaml", obj.id, static_cast<int64_t>(obj.size), "");
    logger.emplace(*tracker, run_id, 512);
  }
  void log(const char* key, double v, int step) {
    if (logger) logger->log(key, v, step);
  }
  void flush_quietly() {
    try {
      if (logger) logger->flush();
    } catch (const std::exception&) {
    }
  }
};

TrainCallbacks callbacks(const FinetuneObserver& obs, Tracked& t, int log_interval) {
  TrainCallbacks cb;
  cb.on_info = obs.on_info;
  cb.on_step = [&obs, &t, log_interval](const TrainStep& s) {
    t.log("train/loss", s.loss, s.step);
    t.log("train/lr", s.lr, s.step);
    t.log("train/grad_norm", s.grad_norm, s.step);
    t.log("train/tokens_per_s", s.tokens_per_s, s.step);
    if (obs.on_step) obs.on_step(s, s.step % log_interval == 0 || s.step == s.total);
  };
  cb.on_world = [&t](const std::vector<std::string>& hosts) {
    if (!t.tracker) return;
    std::string list;
    for (size_t r = 0; r < hosts.size(); ++r)
      list += fmt::format("{}{}={}", r ? "," : "", r, hosts[r]);
    t.tracker->log_tags(t.run_id, {{"distributed.hosts", list}});
  };
  cb.on_eval = [&obs, &t](int step, double loss) {
    t.log("eval/loss", loss, step);
    if (obs.on_eval) obs.on_eval(step, loss);
  };
  cb.on_checkpoint = [&obs](int step, const fs::path& p) {
    tell(obs.on_detail, fmt::format("checkpoint at step {}: {}", step, p.string()));
  };
  // Ctrl-C (the one interrupt mechanism): training stops at the next step boundary after a
  // checkpoint, so --resume continues exactly.
  cb.should_stop = obs.should_stop ? obs.should_stop : [] { return interrupt::requested(); };
  return cb;
}

// The output into the content store and git (a pointer), like any tracked artifact.
void store_output(const Workspace& ws, const Prepared& p, Tracked& t, FinetuneOutcome& o) {
  const auto& cfg = p.cfg;
  if (cfg.method == "lora" && !cfg.model.empty()) record_adapter_base(o.output_dir, cfg.model);
  AddOptions add;
  add.paths = {o.output_dir.string()};
  if (!o.merged_dir.empty()) add.paths.push_back(o.merged_dir.string());
  auto added = track_add(ws, add, {});
  o.sha256 = added[0].sha256;
  t.tracker->log_artifact(t.run_id, cfg.method == "lora" ? "adapter" : "model", o.sha256,
                          static_cast<int64_t>(added[0].size), added[0].path);
  if (o.result.eval_loss)
    t.tracker->log_metrics(t.run_id, {{"eval/loss", *o.result.eval_loss, o.result.steps, 0}});
  t.session->finish(RunStatus::Finished, 0);
}

}  // namespace

void check_finetune(const FinetuneRequest& req, const Workspace* ws, const FinetuneObserver& obs) {
  FinetuneObserver warnings_only;
  warnings_only.on_warning = obs.on_warning;
  prepare(req, ws, warnings_only);
}

FinetuneOutcome run_finetune(const FinetuneRequest& req, const Workspace* ws,
                             const FinetuneObserver& observer) {
  // Ranks other than 0 train quietly: no messages, no tracking, no output written.
  const bool lead = req.world.rank == 0;
  FinetuneObserver quiet;
  quiet.should_stop = observer.should_stop;
  const FinetuneObserver& obs = lead ? observer : quiet;
  auto p = prepare(req, ws, obs);
  Tracked t;
  if (ws && lead) {
    t.start(*ws, *p, req);
    tell(obs.on_info, fmt::format("run {} ({})", t.run_id, p->cfg.method));
  }
  FinetuneOutcome o;
  o.run_id = t.run_id;
  o.output_dir = p->job.output_dir;
  o.merged_dir = p->job.merged_dir;
  try {
    o.result = engine().train(p->job, callbacks(obs, t, std::max(1, p->cfg.log_interval)));
  } catch (const std::exception& e) {
    t.flush_quietly();
    if (t.session) t.session->fail(e);  // killed after Ctrl-C, else failed with this exit code
    throw;
  }
  if (t.logger) t.logger->flush();
  if (o.result.interrupted) {
    if (t.session) t.session->finish(RunStatus::Killed, 130);
    throw Error(ErrorKind::Interrupted,
                fmt::format("interrupted at step {}; checkpoint {}", o.result.steps,
                            o.result.last_checkpoint.string()),
                "continue with --resume");
  }
  if (ws && lead) store_output(*ws, *p, t, o);
  return o;
}

}  // namespace xops::app
