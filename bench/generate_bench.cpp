// Prefill and decode throughput of the xops engine on a fixed small GPT (the peer's shape),
// and tokenizer encode speed. Prints JSON; bench/generate.sh puts it beside the peer.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "core/engine/engine.hpp"
#include "core/util/fs.hpp"

using namespace xops;
using clk = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s AUSTEN.txt GPT2_TOKENIZER_DIR [layers d_model heads ctx threads]\n", argv[0]);
    return 2;
  }
  int layers = argc > 3 ? std::atoi(argv[3]) : 4, d = argc > 4 ? std::atoi(argv[4]) : 128;
  int heads = argc > 5 ? std::atoi(argv[5]) : 4, ctx = argc > 6 ? std::atoi(argv[6]) : 128;
  int threads = argc > 7 ? std::atoi(argv[7]) : 2;
  std::string text = read_file(argv[1]);
  nlohmann::json out;

  auto gpt2 = Tokenizer::load(argv[2]);
  gpt2.encode(text.substr(0, 100000));  // warm the regex JIT
  auto t0 = clk::now();
  auto ids = gpt2.encode(text);
  double enc_s = std::chrono::duration<double>(clk::now() - t0).count();
  out["tokenizer"] = {{"bytes", text.size()}, {"tokens", ids.size()}, {"seconds", enc_s},
                      {"mb_per_s", text.size() / enc_s / 1e6}};

  ModelConfig c;
  c.arch = Arch::Gpt2;
  c.vocab_size = 256;
  c.n_layer = layers;
  c.d_model = d;
  c.n_head = c.n_kv_head = heads;
  c.head_dim = d / heads;
  c.d_ff = 4 * d;
  c.max_positions = ctx;
  LoadOptions lo;
  lo.device = "cpu";
  lo.threads = threads;
  auto m = engine().create(c, Tokenizer::byte_level({}), 0, lo);
  std::vector<int32_t> prompt(ctx - 1);
  for (int i = 0; i < ctx - 1; ++i) prompt[i] = static_cast<unsigned char>(text[i]);
  SamplingOptions greedy;
  greedy.stop_at_eos = false;
  greedy.max_tokens = 1;
  GenerationStats st;
  for (int rep = 0; rep < 3; ++rep) m->generate({prompt}, greedy, {}, {}, &st);  // warm-up
  double best_prefill = 1e9;
  for (int rep = 0; rep < 5; ++rep) {
    m->generate({prompt}, greedy, {}, {}, &st);
    best_prefill = std::min(best_prefill, st.prefill_seconds);
  }
  out["prefill"] = {{"tokens", prompt.size()}, {"tokens_per_s", prompt.size() / best_prefill}};
  greedy.max_tokens = ctx - 1;
  for (int batch : {1, 8}) {
    std::vector<std::vector<int32_t>> prompts(batch, std::vector<int32_t>{static_cast<unsigned char>(text[0])});
    m->generate(prompts, greedy, {}, {}, &st);
    double best = 1e9;
    size_t toks = 0;
    for (int rep = 0; rep < 3; ++rep) {
      m->generate(prompts, greedy, {}, {}, &st);
      if (st.decode_seconds < best) best = st.decode_seconds, toks = st.decode_tokens;
    }
    out["decode_batch" + std::to_string(batch)] = {{"tokens", toks}, {"tokens_per_s", toks / best}};
  }
  out["model"] = {{"layers", layers}, {"d_model", d}, {"heads", heads}, {"ctx", ctx}, {"threads", threads},
                  {"params", c.parameter_count()}};
  std::printf("%s\n", out.dump().c_str());
}
