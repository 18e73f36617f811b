// `xops generate REF [PROMPT]`: one-off generation (streams to stdout) or --tokenize.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "commands/commands.hpp"
#include "core/engine/engine.hpp"
#include "core/engine/generation.hpp"
#include "core/error.hpp"
#include "core/model/tokenizer.hpp"
#include "core/project/workspace.hpp"
#include "core/refs/model_ref.hpp"
#include "core/util/interrupt.hpp"
#include "term/context.hpp"

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
  std::string batch_file;
  int batch_size = 16;
};

// Per-token log-probabilities as JSON: the token's text (and its bytes, since one token may
// be part of a UTF-8 character), id, logprob and the top alternatives, in OpenAI's spirit.
nlohmann::json logprobs_json(const Tokenizer& tok, const std::vector<TokenLogprob>& lps) {
  auto entry = [&](int32_t id, double lp) {
    auto text = tok.decode({id});
    std::vector<int> bytes;
    for (unsigned char c : text) bytes.push_back(c);
    return nlohmann::json{{"token", text}, {"id", id}, {"logprob", lp}, {"bytes", bytes}};
  };
  auto out = nlohmann::json::array();
  for (const auto& t : lps) {
    auto j = entry(t.id, t.logprob);
    auto top = nlohmann::json::array();
    for (const auto& [id, lp] : t.top) top.push_back(entry(id, lp));
    j["top_logprobs"] = std::move(top);
    out.push_back(std::move(j));
  }
  return out;
}

// The text form of --logprobs: one line per generated token.
void print_logprobs(cli::Output& out, const Tokenizer& tok, const std::vector<TokenLogprob>& lps) {
  for (const auto& t : lps) {
    std::string alts;
    for (const auto& [id, lp] : t.top) alts += fmt::format("  {:?} {:.4f}", tok.decode({id}), lp);
    out.line(fmt::format("{:>14} {:9.4f} |{}", fmt::format("{:?}", tok.decode({t.id})), t.logprob,
                         alts));
  }
}

// --batch FILE: one JSON object per line with "prompt"; prints one JSON line per prompt with
// the generated "text" (other fields pass through), generating batch_size prompts at once.
int run_batch(cli::Context& ctx, LanguageModel& model, const GenerateFlags& f) {
  std::ifstream in(f.batch_file);
  if (!in) throw usage_error(fmt::format("cannot read {}", f.batch_file));
  std::vector<nlohmann::json> rows;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      rows.push_back(nlohmann::json::parse(line));
      rows.back().at("prompt").get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      throw runtime_error(fmt::format("{}:{}: needs a JSON object with a string \"prompt\": {}",
                                      f.batch_file, line_no, e.what()));
    }
  }
  for (size_t start = 0; start < rows.size(); start += static_cast<size_t>(f.batch_size)) {
    size_t end = std::min(rows.size(), start + static_cast<size_t>(f.batch_size));
    std::vector<std::vector<int32_t>> prompts;
    for (size_t i = start; i < end; ++i)
      prompts.push_back(model.tokenizer().encode(rows[i]["prompt"].get<std::string>(), f.special));
    // Ctrl-C stops at the next token (the callback) with exit 130; lines written so far stay.
    auto gens = generate(model, prompts, f.sampling, [](size_t, int32_t, const std::string&) {
      interrupt::check();
      return true;
    });
    for (size_t i = start; i < end; ++i) {
      auto j = rows[i];
      j["text"] = gens[i - start].text;
      j["finish_reason"] = gens[i - start].finish_reason;
      if (f.sampling.logprobs >= 0)
        j["logprobs"] = logprobs_json(model.tokenizer(), gens[i - start].logprobs);
      ctx.out().line(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  }
  return 0;
}

std::string read_prompt(const GenerateFlags& f) {
  if (f.prompt_given) return f.prompt;
  if (::isatty(STDIN_FILENO))
    throw usage_error("no prompt given", "pass PROMPT as an argument or pipe it on stdin");
  std::string s((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  return s;
}

int run_generate(cli::Context& ctx, GenerateFlags& f) {
  // An adapter named as the model (a directory, artifact or NAME#prod) brings its base.
  auto [dir, named_adapter] = resolve_model_or_adapter(f.ref, ctx.workspace_if_any());
  auto& out = ctx.out();
  auto prompt = f.batch_file.empty() ? read_prompt(f) : std::string();
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
  // An adapter is named like a model: a directory, an artifact, or a registry ref.
  if (!f.adapter.empty())
    lo.adapter = resolve_model_ref(f.adapter, ctx.workspace_if_any());
  else
    lo.adapter = named_adapter;
  auto model = engine().load(dir, lo);
  out.verbose(1, fmt::format("loaded {} ({} layers, d_model {}) on {} as {}",
                             model->config().arch_name(), model->config().n_layer,
                             model->config().d_model, model->device(), model->dtype()));
  if (!f.batch_file.empty()) return run_batch(ctx, *model, f);
  auto ids = model->tokenizer().encode(prompt, f.special);
  bool stream = !out.json() && !f.no_stream;
  GenerationStats stats;
  auto on_token = [&](size_t, int32_t, const std::string& piece) {
    interrupt::check();  // Ctrl-C: exit 130 at the next token
    if (stream && !piece.empty()) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  auto gen = generate(*model, {ids}, f.sampling, on_token, {}, &stats)[0];
  if (out.json()) {
    out.print_json(
        {{"model", dir.string()},
         {"device", model->device()},
         {"dtype", model->dtype()},
         {"prompt", prompt},
         {"prompt_ids", ids},
         {"ids", gen.ids},
         {"text", gen.text},
         {"finish_reason", gen.finish_reason},
         {"logprobs", f.sampling.logprobs >= 0 ? logprobs_json(model->tokenizer(), gen.logprobs)
                                               : nlohmann::json()},
         {"timing",
          {{"prefill_seconds", stats.prefill_seconds},
           {"decode_seconds", stats.decode_seconds},
           {"prefill_tokens_per_second",
            stats.prefill_seconds > 0 ? stats.prefill_tokens / stats.prefill_seconds : 0.0},
           {"decode_tokens_per_second",
            stats.decode_seconds > 0 ? stats.decode_tokens / stats.decode_seconds : 0.0}}}});
    return 0;
  }
  if (stream)
    std::fputc('\n', stdout);
  else
    out.line(gen.text);
  if (f.sampling.logprobs >= 0) print_logprobs(out, model->tokenizer(), gen.logprobs);
  out.verbose(
      1, fmt::format(
             "{} prompt tokens in {:.1f} ms; {} tokens in {:.1f} ms ({:.1f} tokens/s); finish: {}",
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
  sub->add_option("-n,--max-tokens", f->sampling.max_tokens, "Tokens to generate")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  sub->add_option("-t,--temperature", f->sampling.temperature, "0 = greedy")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--top-k", f->sampling.top_k, "Keep the K most likely tokens (0 = off)")
      ->check(CLI::Range(0, 1 << 24));
  sub->add_option("--top-p", f->sampling.top_p, "Nucleus sampling mass (1 = off)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--seed", f->sampling.seed, "Sampling seed");
  sub->add_option("--stop", f->sampling.stop, "Stop string (repeatable)")->allow_extra_args(false);
  sub->add_option("--logprobs", f->sampling.logprobs,
                  "Show each token's log-probability and the N most likely alternatives (0-20)")
      ->check(CLI::Range(0, 20));
  sub->add_flag(
      "--ignore-eos", [f](int64_t) { f->sampling.stop_at_eos = false; },
      "Do not stop at the end-of-text token");
  sub->add_option(
      "--adapter", f->adapter,
      "A PEFT LoRA adapter to apply: a directory, an artifact, or a registry ref (NAME#prod)");
  sub->add_option("--batch", f->batch_file,
                  "JSONL file of {\"prompt\": ...}: one JSON line out per prompt");
  sub->add_option("--batch-size", f->batch_size, "Prompts generated together with --batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  sub->add_flag("--tokenize", f->tokenize, "Print the prompt's token ids as a JSON array");
  sub->add_flag("--special", f->special, "Parse special tokens like <|endoftext|> in the prompt");
  sub->add_flag("--no-stream", f->no_stream, "Print the text when done instead of token by token");
  for (const char* key : {"device", "dtype", "threads"}) {
    std::string k = key;
    sub->add_option_function<std::string>(
        "--" + k, [&ctx, k](const std::string& v) { ctx.setting_flags[k] = v; },
        "Override the `" + k + "` setting");
  }
  sub->callback([&ctx, f, sub] {
    f->prompt_given = sub->get_option("prompt")->count() > 0;
    ctx.action = [&ctx, f] { return run_generate(ctx, *f); };
  });
}

}  // namespace xops::commands
