// `xops generate REF [PROMPT]`: one-off generation (streams to stdout) or --tokenize.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/context.hpp"
#include "commands/commands.hpp"
#include "core/engine/engine.hpp"
#include "core/error.hpp"
#include "core/model/model_ref.hpp"
#include "core/model/tokenizer.hpp"
#include "core/workspace.hpp"

namespace xops::commands {

namespace {

struct GenerateFlags {
  std::string ref;
  std::string prompt;
  bool prompt_given = false;
  SamplingOptions sampling;
  bool tokenize = false;
  bool special = false;
  bool no_stream = false;
  std::string adapter;
};

std::string read_prompt(const GenerateFlags& f) {
  if (f.prompt_given) return f.prompt;
  if (::isatty(STDIN_FILENO))
    throw usage_error("no prompt given", "pass PROMPT as an argument or pipe it on stdin");
  std::string s((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  return s;
}

const Workspace* maybe_workspace(cli::Context& ctx) {
  if (!Workspace::find_root(std::filesystem::current_path())) return nullptr;
  return &ctx.workspace();
}

int run_generate(cli::Context& ctx, GenerateFlags& f) {
  auto dir = resolve_model_ref(f.ref, maybe_workspace(ctx));
  auto& out = ctx.out();
  auto prompt = read_prompt(f);
  if (f.tokenize) {  // the tokenizer lives in core: no LibTorch needed
    auto tok = Tokenizer::load(dir);
    out.line(nlohmann::json(tok.encode(prompt, f.special)).dump());
    return 0;
  }
  const auto& s = ctx.settings();
  LoadOptions lo;
  lo.device = s.get("device").value;
  lo.dtype = s.get("dtype").value;
  lo.threads = s.get_int("threads");
  lo.adapter = f.adapter;
  auto model = engine().load(dir, lo);
  out.verbose(1, fmt::format("loaded {} ({} layers, d_model {}) on {} as {}", model->config().arch_name(),
                             model->config().n_layer, model->config().d_model, model->device(), model->dtype()));
  auto ids = model->tokenizer().encode(prompt, f.special);
  bool stream = !out.json() && !f.no_stream;
  GenerationStats stats;
  auto on_token = [&](size_t, int32_t, const std::string& piece) {
    if (stream && !piece.empty()) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  auto gen = model->generate({ids}, f.sampling, on_token, {}, &stats)[0];
  if (out.json()) {
    out.print_json({{"model", dir.string()},
                    {"prompt", prompt},
                    {"prompt_ids", ids},
                    {"ids", gen.ids},
                    {"text", gen.text},
                    {"finish_reason", gen.finish_reason},
                    {"timing",
                     {{"prefill_seconds", stats.prefill_seconds},
                      {"decode_seconds", stats.decode_seconds},
                      {"prefill_tokens_per_second", stats.prefill_seconds > 0 ? stats.prefill_tokens / stats.prefill_seconds : 0.0},
                      {"decode_tokens_per_second", stats.decode_seconds > 0 ? stats.decode_tokens / stats.decode_seconds : 0.0}}}});
    return 0;
  }
  if (stream) std::fputc('\n', stdout);
  else out.line(gen.text);
  out.verbose(1, fmt::format("{} prompt tokens in {:.1f} ms; {} tokens in {:.1f} ms ({:.1f} tokens/s); finish: {}",
                             stats.prefill_tokens, stats.prefill_seconds * 1e3, stats.decode_tokens,
                             stats.decode_seconds * 1e3,
                             stats.decode_seconds > 0 ? stats.decode_tokens / stats.decode_seconds : 0.0,
                             gen.finish_reason));
  return 0;
}

}  // namespace

void register_generate(CLI::App& app, cli::Context& ctx) {
  auto f = std::make_shared<GenerateFlags>();
  auto* sub = app.add_subcommand("generate", "Generate text from a model (or --tokenize a text)");
  sub->add_option("ref", f->ref, "Model: a directory or an artifact name")->required();
  sub->add_option("prompt", f->prompt, "Prompt text (default: read stdin)");
  sub->add_option("-n,--max-tokens", f->sampling.max_tokens, "Tokens to generate")->capture_default_str();
  sub->add_option("-t,--temperature", f->sampling.temperature, "0 = greedy")->capture_default_str();
  sub->add_option("--top-k", f->sampling.top_k, "Keep the K most likely tokens (0 = off)");
  sub->add_option("--top-p", f->sampling.top_p, "Nucleus sampling mass (1 = off)");
  sub->add_option("--seed", f->sampling.seed, "Sampling seed");
  sub->add_option("--stop", f->sampling.stop, "Stop string (repeatable)");
  sub->add_flag("--ignore-eos", [f](int64_t) { f->sampling.stop_at_eos = false; }, "Do not stop at the end-of-text token");
  sub->add_option("--adapter", f->adapter, "A PEFT LoRA adapter directory to apply");
  sub->add_flag("--tokenize", f->tokenize, "Print the prompt's token ids as a JSON array");
  sub->add_flag("--special", f->special, "Parse special tokens like <|endoftext|> in the prompt");
  sub->add_flag("--no-stream", f->no_stream, "Print the text when done instead of token by token");
  for (const char* key : {"device", "dtype", "threads"}) {
    std::string k = key;
    sub->add_option_function<std::string>("--" + k, [&ctx, k](const std::string& v) { ctx.setting_flags[k] = v; },
                                          "Override the `" + k + "` setting");
  }
  sub->callback([&ctx, f, sub] {
    f->prompt_given = sub->get_option("prompt")->count() > 0;
    ctx.action = [&ctx, f] { return run_generate(ctx, *f); };
  });
}

}  // namespace xops::commands
