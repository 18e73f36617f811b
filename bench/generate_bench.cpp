// The engine at realistic sizes, for bench/generate.sh:
//   make DIR gpt2|llama TOKENIZER_DIR [LAYERS]   a random GPT-2-small-shaped (12 x 768, vocab
//       50257) or Llama-shaped (12 x 768, GQA 12/4, SwiGLU 2048) model in HF layout
//   run DIR THREADS DTYPE PROMPT NEW SLOTS       prefill, decode and SLOTS-together decode
//       through the generation loop; prints JSON
//   tokenize TEXT TOKENIZER_DIR                  encode speed
//   agree DIR THREADS NEW                        bf16 against fp32: greedy tokens in common
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "core/engine/decoder.hpp"
#include "core/engine/engine.hpp"
#include "core/engine/generation.hpp"
#include "core/util/fs.hpp"

using namespace xops;
using clk = std::chrono::steady_clock;

namespace {

int make(const std::string& dir, const std::string& arch, const std::string& tok_dir, int layers) {
  ModelConfig c;
  c.arch = arch == "llama" ? Arch::Llama : Arch::Gpt2;
  c.vocab_size = 50257;
  c.n_layer = layers;
  c.d_model = 768;
  c.n_head = 12;
  c.n_kv_head = arch == "llama" ? 4 : 12;
  c.head_dim = 64;
  c.d_ff = arch == "llama" ? 2048 : 3072;
  c.max_positions = 1024;
  c.eos_id = 50256;
  c.bos_id = 50256;
  if (c.arch == Arch::Llama) {
    c.norm_eps = 1e-5;
    c.tie_embeddings = false;
  }
  LoadOptions lo;
  lo.device = "cpu";
  auto m = engine().create(c, Tokenizer::load(tok_dir), 1, lo);
  m->save(dir);
  return 0;
}

double seconds_since(clk::time_point t) {
  return std::chrono::duration<double>(clk::now() - t).count();
}

int run(const std::string& dir, int threads, const std::string& dtype, int prompt_len, int gen,
        int slots) {
  LoadOptions lo;
  lo.device = "cpu";
  lo.threads = threads;
  lo.dtype = dtype;
  auto m = engine().load(dir, lo);
  std::vector<int32_t> prompt(static_cast<size_t>(prompt_len));
  for (int i = 0; i < prompt_len; ++i) prompt[static_cast<size_t>(i)] = (i * 7919 + 13) % 50000;
  SamplingOptions o;
  o.stop_at_eos = false;
  nlohmann::json out;
  GenerationStats st;
  o.max_tokens = 1;
  generate(*m, {prompt}, o, {}, {}, &st);  // warm-up
  double best_prefill = 1e9;
  for (int rep = 0; rep < 3; ++rep) {
    generate(*m, {prompt}, o, {}, {}, &st);
    best_prefill = std::min(best_prefill, st.prefill_seconds);
  }
  out["prefill_tokens_per_s"] = prompt_len / best_prefill;
  // SLOTS sequences decoding together, timed once every slot has read its prompt (the way
  // llama-batched-bench reports its generation rate): SLOTS tokens per step. Also reports
  // the share of step time outside the weight-matrix products.
  auto decode = [&](int n_slots, const char* key) {
    DecoderOptions d;
    d.slots = n_slots;
    d.context = prompt_len + 2 * gen;  // slots that finish reading first decode meanwhile
    auto dec = m->decoder(d);
    for (int i = 0; i < n_slots; ++i) {
      auto p = prompt;
      p[0] = i;
      dec->admit(p);
    }
    const size_t V = dec->vocab_size();
    auto greedy = [&](const SlotLogits& r) {
      return static_cast<int32_t>(std::max_element(r.logits, r.logits + V) - r.logits);
    };
    std::vector<bool> ready(static_cast<size_t>(n_slots));
    while (std::count(ready.begin(), ready.end(), true) < n_slots)
      for (const auto& r : dec->step())
        dec->feed(r.slot, greedy(r)), ready[static_cast<size_t>(r.slot)] = true;
    auto before = dec->stats();
    auto t0 = clk::now();
    for (int k = 0; k < gen; ++k)
      for (const auto& r : dec->step()) dec->feed(r.slot, greedy(r));
    double wall = seconds_since(t0);
    auto after = dec->stats();
    double step_s = after.seconds - before.seconds,
           proj_s = after.projection_seconds - before.projection_seconds;
    out[key] = {{"tokens_per_s", double(n_slots) * gen / wall},
                {"ms_per_step", 1e3 * wall / gen},
                {"outside_projections", 1.0 - proj_s / step_s},
                {"kv_bytes_reserved", dec->kv_bytes_reserved()}};
  };
  decode(1, "decode");
  if (slots > 1) decode(slots, "batch_decode");
  out["slots"] = slots;
  out["params"] = m->config().parameter_count();
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// bf16 against fp32 on the same weights: greedy tokens in common from the start (of NEW),
// and the worst |logit difference| at the first step relative to the fp32 logits' spread.
int agree(const std::string& dir, int threads, int gen) {
  LoadOptions lo;
  lo.device = "cpu";
  lo.threads = threads;
  auto f32 = engine().load(dir, lo);
  lo.dtype = "bf16";
  auto b16 = engine().load(dir, lo);
  SamplingOptions o;
  o.stop_at_eos = false;
  o.max_tokens = gen;
  nlohmann::json out = nlohmann::json::array();
  for (const char* text :
       {"It is a truth universally acknowledged, that a single man in possession",
        "The capital of France is", "def fibonacci(n):\n    "}) {
    auto ids = f32->tokenizer().encode(text);
    std::vector<float> first32, first16;
    auto keep = [](std::vector<float>& v) {
      return [&v](size_t, size_t step, const float* row, size_t V) {
        if (step == 0) v.assign(row, row + V);
      };
    };
    auto a = generate(*f32, {ids}, o, {}, keep(first32))[0];
    auto b = generate(*b16, {ids}, o, {}, keep(first16))[0];
    size_t same = 0;
    while (same < a.ids.size() && same < b.ids.size() && a.ids[same] == b.ids[same]) ++same;
    double worst = 0;
    for (size_t i = 0; i < first32.size(); ++i)
      worst = std::max(worst, double(std::fabs(first32[i] - first16[i])));
    auto [lo_it, hi_it] = std::minmax_element(first32.begin(), first32.end());
    out.push_back({{"prompt", text},
                   {"same_greedy_tokens", same},
                   {"of", a.ids.size()},
                   {"step0_worst_logit_diff", worst},
                   {"step0_logit_spread", *hi_it - *lo_it}});
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int tokenize(const std::string& text_path, const std::string& tok_dir) {
  std::string text = read_file(text_path);
  auto gpt2 = Tokenizer::load(tok_dir);
  gpt2.encode(text.substr(0, 100000));  // warm the regex JIT
  auto t0 = clk::now();
  auto ids = gpt2.encode(text);
  double s = seconds_since(t0);
  nlohmann::json out = {{"bytes", text.size()},
                        {"tokens", ids.size()},
                        {"seconds", s},
                        {"mb_per_s", text.size() / s / 1e6}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "make" && argc >= 5)
    return make(argv[2], argv[3], argv[4], argc > 5 ? std::atoi(argv[5]) : 12);
  if (cmd == "run" && argc >= 8)
    return run(argv[2], std::atoi(argv[3]), argv[4], std::atoi(argv[5]), std::atoi(argv[6]),
               std::atoi(argv[7]));
  if (cmd == "tokenize" && argc >= 4) return tokenize(argv[2], argv[3]);
  if (cmd == "agree" && argc >= 5) return agree(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  std::fprintf(stderr,
               "usage: %s make DIR gpt2|llama TOKENIZER_DIR [LAYERS]\n"
               "       %s run DIR THREADS DTYPE PROMPT NEW SLOTS\n"
               "       %s tokenize TEXT TOKENIZER_DIR\n"
               "       %s agree DIR THREADS NEW\n",
               argv[0], argv[0], argv[0], argv[0]);
  return 2;
}
