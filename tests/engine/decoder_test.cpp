// The step-level decoder and the generation loop on top of it: sequences that join a running
// batch at different steps, mixed LoRA adapters in one batch, KV memory figures, logprobs,
// stop strings in a stream, and errors at the engine boundary.
#include <catch2/catch.hpp>

#include <c10/util/Exception.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "core/engine/decoder.hpp"
#include "core/engine/engine.hpp"
#include "core/engine/generation.hpp"
#include "core/model/safetensors.hpp"
#include "core/torch/guarded.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using nlohmann::json;

namespace {

std::filesystem::path golden_dir(const std::string& name) {
  return test::shared_dir() / "golden/models" / name;
}

std::unique_ptr<LanguageModel> load(const std::filesystem::path& dir,
                                    const std::filesystem::path& adapter = {}) {
  LoadOptions o;
  o.device = "cpu";
  o.threads = 2;
  o.adapter = adapter;
  return engine().load(dir, o);
}

std::vector<std::vector<int32_t>> golden_prompts(const std::string& name) {
  auto g = json::parse(read_file(golden_dir(name) / "golden.json"));
  std::vector<std::vector<int32_t>> out;
  for (const auto& p : g["prompts"]) out.push_back(p["prompt_ids"].get<std::vector<int32_t>>());
  return out;
}

struct Trace {
  std::vector<int32_t> ids;
  std::vector<std::vector<float>> logits;  // one row per generated token
};

// Greedy through generate() alone: the reference (golden_test checks it against llama.cpp).
Trace alone(LanguageModel& m, const std::vector<int32_t>& prompt, int n, int adapter = -1) {
  SamplingOptions o;
  o.max_tokens = n;
  o.stop_at_eos = false;
  Trace t;
  auto g = generate(
      m, {prompt}, o, {},
      [&](size_t, size_t, const float* row, size_t V) { t.logits.emplace_back(row, row + V); },
      nullptr, adapter);
  t.ids = g[0].ids;
  return t;
}

double worst_diff(const Trace& a, const Trace& b) {
  double w = 0;
  for (size_t k = 0; k < std::min(a.logits.size(), b.logits.size()); ++k)
    for (size_t i = 0; i < a.logits[k].size(); ++i)
      w = std::max(w, double(std::fabs(a.logits[k][i] - b.logits[k][i])));
  return w;
}

// Drives a decoder by hand: `starts[i]` is the step at which request i is admitted (with
// `adapters[i]`); each decodes `n` greedy tokens and leaves. Returns each request's trace.
std::vector<Trace> staggered(LanguageModel& m, Decoder& dec,
                             const std::vector<std::vector<int32_t>>& prompts,
                             const std::vector<int>& starts, const std::vector<int>& adapters,
                             int n) {
  std::vector<Trace> out(prompts.size());
  std::map<int, size_t> req_of_slot;
  size_t admitted = 0, finished = 0;
  const size_t V = dec.vocab_size();
  for (int step = 0; finished < prompts.size(); ++step) {
    REQUIRE(step < 10000);
    while (admitted < prompts.size() && starts[admitted] <= step) {
      int s = dec.admit(prompts[admitted], adapters[admitted]);
      if (s < 0) break;  // every slot taken: wait for one to be released, as a server queue does
      req_of_slot[s] = admitted++;
    }
    for (const auto& r : dec.step()) {
      auto& t = out[req_of_slot.at(r.slot)];
      t.logits.emplace_back(r.logits, r.logits + V);
      auto id = static_cast<int32_t>(std::max_element(r.logits, r.logits + V) - r.logits);
      t.ids.push_back(id);
      if (static_cast<int>(t.ids.size()) == n) {
        dec.release(r.slot);
        req_of_slot.erase(r.slot);
        ++finished;
      } else {
        dec.feed(r.slot, id);
      }
    }
  }
  (void)m;
  return out;
}

// A PEFT LoRA adapter with random A and B (B is not zero, so it moves the outputs).
void write_adapter(const std::filesystem::path& dir, const std::string& arch,
                   const std::vector<std::string>& targets, int r, uint32_t seed) {
  std::filesystem::create_directories(dir);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 0.3f);
  std::vector<std::vector<float>> keep;
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, int64_t rows, int64_t cols) {
    keep.emplace_back(static_cast<size_t>(rows * cols));
    for (auto& x : keep.back()) x = nd(rng);
    tensors.push_back(
        {name, DType::F32, {rows, cols}, keep.back().data(), keep.back().size() * sizeof(float)});
  };
  keep.reserve(64);
  for (int l = 0; l < 2; ++l)
    for (const auto& t : targets) {
      std::string p;
      int64_t in = 32, out = 32;
      if (arch == "gpt2") {
        p = "base_model.model.transformer.h." + std::to_string(l) +
            (t == "c_fc" ? ".mlp." : ".attn.") + t;
        out = t == "c_attn" ? 96 : t == "c_fc" ? 128 : 32;
      } else {
        p = "base_model.model.model.layers." + std::to_string(l) + ".self_attn." + t;
        out = t == "q_proj" ? 32 : 16;  // 4 heads of 8; 2 KV heads of 8
      }
      add(p + ".lora_A.weight", r, in);
      add(p + ".lora_B.weight", out, r);
    }
  write_safetensors(dir / "adapter_model.safetensors", tensors);
  json cfg = {{"peft_type", "LORA"},
              {"r", r},
              {"lora_alpha", 2 * r},
              {"target_modules", targets},
              {"fan_in_fan_out", arch == "gpt2"},
              {"bias", "none"}};
  atomic_write_file(dir / "adapter_config.json", cfg.dump(2));
}

}  // namespace

TEST_CASE("decoder: sequences admitted at different steps give the tokens and logits of each alone",
          "[engine][decoder]") {
  for (std::string name : {"gpt2-tiny", "llama-tiny"}) {
    INFO(name);
    auto m = load(golden_dir(name));
    auto prompts = golden_prompts(name);
    prompts.push_back(prompts[0]);  // the first prompt again, into the slot the first one left
    const int n = 20;
    std::vector<Trace> ref;
    for (const auto& p : prompts) ref.push_back(alone(*m, p, n));
    DecoderOptions d;
    d.slots = 3;
    d.max_step_tokens = 5;  // prompts are read in chunks across several steps
    auto dec = m->decoder(d);
    std::vector<int> starts{0, 3, 9, 10};  // the last one waits until a slot is free
    std::vector<int> adapters(prompts.size(), -1);
    while (starts.size() < prompts.size()) starts.push_back(starts.back() + 4);
    auto got = staggered(*m, *dec, prompts, starts, adapters, n);
    for (size_t i = 0; i < prompts.size(); ++i) {
      INFO("prompt " << i);
      CHECK(got[i].ids == ref[i].ids);
      CHECK(worst_diff(got[i], ref[i]) <= 1e-4);
    }
    CHECK(dec->active() == 0);
    CHECK(dec->kv_bytes_in_use() == 0);
  }
}

// The prefix cache: a prompt starting with tokens some slot's KV rows hold skips their
// prefill (its own slot's rows, rows copied from a running slot, never another adapter's),
// and gives the tokens and logits of a full prefill.
TEST_CASE("decoder: cached prompt prefixes are reused with the logits of a full prefill",
          "[engine][decoder]") {
  for (std::string name : {"gpt2-tiny", "llama-tiny"}) {
    INFO(name);
    test::TempDir tmp;
    auto m = load(golden_dir(name));
    auto g = golden_prompts(name);
    auto cat = [](std::vector<int32_t> a, const std::vector<int32_t>& b) {
      a.insert(a.end(), b.begin(), b.end());
      return a;
    };
    const auto A = cat(g[2], g[1]), B = cat(g[2], g[3]), C = g[3];  // A, B share g[2] (49)
    const int n = 12;
    DecoderOptions d;
    d.slots = 3;
    d.max_step_tokens = 16;  // prompts read in chunks
    auto dec = m->decoder(d);
    auto check = [&](const std::vector<Trace>& got, const std::vector<std::vector<int32_t>>& ps) {
      for (size_t i = 0; i < ps.size(); ++i) {
        INFO("prompt " << i);
        auto ref = alone(*m, ps[i], n);
        CHECK(got[i].ids == ref.ids);
        CHECK(worst_diff(got[i], ref) <= 1e-4);
      }
    };
    // B joins while A runs: A's slot is busy, so g[2]'s rows are copied from it. C shares nothing.
    check(staggered(*m, *dec, {A, B, C}, {0, 6, 6}, {-1, -1, -1}, n), {A, B, C});
    CHECK(dec->stats().reused_tokens == g[2].size());
    // A again, all slots free: its own rows, all but the last token.
    check(staggered(*m, *dec, {A}, {0}, {-1}, n), {A});
    CHECK(dec->stats().reused_tokens == g[2].size() + A.size() - 1);
    CHECK(dec->stats().prompt_tokens == 2 * A.size() + B.size() + C.size());
    // What admit() would reuse now (the scheduler admits the longest first).
    CHECK(dec->cached_prefix(A) == A.size() - 1);
    CHECK(dec->cached_prefix(cat(g[2], g[0])) == g[2].size());
    CHECK(dec->cached_prefix(g[4]) == 0);
    if (name == "gpt2-tiny") {  // KV rows computed without an adapter are not another's
      write_adapter(tmp / "lora", "gpt2", {"c_attn"}, 4, 3);
      int id = m->add_adapter(tmp / "lora");
      auto dec2 = m->decoder(d);
      auto plain = staggered(*m, *dec2, {A}, {0}, {-1}, n);
      auto with = staggered(*m, *dec2, {A}, {0}, {id}, n);
      CHECK(dec2->stats().reused_tokens == 0);
      auto ref = alone(*m, A, n, id);
      CHECK(with[0].ids == ref.ids);
      CHECK(worst_diff(with[0], ref) <= 1e-4);
      CHECK(worst_diff(with[0], plain[0]) > 1e-2);
    }
    d.prefix_cache = false;
    auto off = m->decoder(d);
    check(staggered(*m, *off, {A, A}, {0, 20}, {-1, -1}, n), {A, A});
    CHECK(off->stats().reused_tokens == 0);
  }
}

// A prompt that shares only a first token with a cached one ("jolly…" and "jumps…" both start
// with GPT-2's "j") takes the least recently used slot, not that cache: the one token is
// copied, the other prompt's rows stay. A prompt that is mostly its cache takes its own slot.
TEST_CASE("decoder: a chance shared first token does not evict another prompt's cache",
          "[engine][decoder]") {
  auto m = load(golden_dir("gpt2-tiny"));
  auto g = golden_prompts("gpt2-tiny");
  const auto P = g[2], Q = g[3];
  auto R = g[7];
  R.insert(R.begin(), P[0]);  // R shares P's first token, nothing more
  REQUIRE(Q[0] != P[0]);
  REQUIRE(R[1] != P[1]);
  const int n = 6;
  DecoderOptions d;
  d.slots = 2;
  auto dec = m->decoder(d);
  staggered(*m, *dec, {Q}, {0}, {-1}, n);  // Q's rows: the older cache
  staggered(*m, *dec, {P}, {0}, {-1}, n);  // P's rows in the other slot
  REQUIRE(dec->cached_prefix(P) == P.size() - 1);
  auto got = staggered(*m, *dec, {R}, {0}, {-1}, n);
  auto ref = alone(*m, R, n);
  CHECK(got[0].ids == ref.ids);
  CHECK(worst_diff(got[0], ref) <= 1e-4);
  CHECK(dec->stats().reused_tokens == 1);        // the shared token, copied
  CHECK(dec->cached_prefix(P) == P.size() - 1);  // P's cache survived
  CHECK(dec->cached_prefix(Q) == 0);             // the least recently used one went
  staggered(*m, *dec, {P}, {0}, {-1}, n);        // P again: its own slot
  CHECK(dec->stats().reused_tokens == 1 + P.size() - 1);
  CHECK(dec->cached_prefix(R) == R.size() - 1);  // so R's rows stay too
}

TEST_CASE("decoder: KV memory is reserved per slot, counted in use, and free at release",
          "[engine][decoder]") {
  auto m = load(golden_dir("llama-tiny"));  // 2 layers, 2 KV heads of 8
  DecoderOptions d;
  d.slots = 2;
  d.context = 40;
  auto dec = m->decoder(d);
  const size_t per_token = 2 * 2 * 2 * 8 * sizeof(float);
  CHECK(dec->kv_bytes_reserved() == per_token * 2 * 40);
  CHECK(dec->kv_bytes_in_use() == 0);
  int a = dec->admit({1, 2, 3, 4, 5});
  int b = dec->admit({7, 8});
  CHECK(dec->admit({9}) == -1);  // both slots taken
  CHECK(dec->kv_bytes_in_use() == per_token * 7);
  auto ready = dec->step();
  REQUIRE(ready.size() == 2);
  dec->feed(a, 11);
  dec->step();
  CHECK(dec->length(a) == 6);
  CHECK(dec->length(b) == 2);
  CHECK(dec->kv_bytes_in_use() == per_token * 8);
  dec->release(a);
  CHECK(dec->length(a) == -1);
  CHECK(dec->kv_bytes_in_use() == per_token * 2);
  CHECK(dec->admit({9}) == a);  // the freed slot is usable at once

  CHECK_THROWS_WITH(dec->admit({}), Catch::Contains("empty"));
  CHECK_THROWS_WITH(dec->admit(std::vector<int32_t>(41, 1)),
                    Catch::Contains("a decoder slot holds 40"));
  CHECK_THROWS_WITH(dec->admit({50257}), Catch::Contains("outside the vocabulary"));
  CHECK_THROWS_WITH(dec->admit({1}, 7), Catch::Contains("no adapter with id 7"));
  dec->feed(b, 1);
  CHECK_THROWS_WITH(dec->feed(b, 1), Catch::Contains("not waiting for a token"));
}

TEST_CASE("decoder: sequences with different LoRA adapters in one batch equal each adapter alone",
          "[engine][decoder][lora]") {
  struct Arch {
    std::string name, arch;
    std::vector<std::string> t1, t2;
  };
  for (const auto& a : {Arch{"gpt2-tiny", "gpt2", {"c_attn"}, {"c_attn", "c_fc"}},
                        Arch{"llama-tiny", "llama", {"q_proj", "v_proj"}, {"k_proj"}}}) {
    INFO(a.name);
    test::TempDir tmp;
    write_adapter(tmp / "one", a.arch, a.t1, 4, 1);
    write_adapter(tmp / "two", a.arch, a.t2, 2, 2);
    auto base = load(golden_dir(a.name));
    int one = base->add_adapter(tmp / "one");
    int two = base->add_adapter(tmp / "two");
    CHECK(one != two);
    // References from independent loads, each with its adapter applied at load time.
    auto m1 = load(golden_dir(a.name), tmp / "one");
    auto m2 = load(golden_dir(a.name), tmp / "two");
    auto prompts = golden_prompts(a.name);
    std::vector<std::vector<int32_t>> reqs{prompts[0], prompts[0], prompts[1], prompts[0],
                                           prompts[1]};
    std::vector<int> adapters{-1, one, two, two, one};
    std::vector<LanguageModel*> ref_model{base.get(), m1.get(), m2.get(), m2.get(), m1.get()};
    const int n = 12;
    DecoderOptions d;
    d.slots = 5;
    auto dec = base->decoder(d);
    auto got = staggered(*base, *dec, reqs, {0, 0, 0, 2, 5}, adapters, n);
    auto plain = alone(*base, prompts[0], n);
    for (size_t i = 0; i < reqs.size(); ++i) {
      INFO("request " << i << " adapter " << adapters[i]);
      auto ref = alone(*ref_model[i], reqs[i], n);
      CHECK(got[i].ids == ref.ids);
      CHECK(worst_diff(got[i], ref) <= 1e-4);
      // generate() with the adapter id goes the same way.
      auto via_generate = alone(*base, reqs[i], n, adapters[i]);
      CHECK(worst_diff(via_generate, ref) <= 1e-4);
    }
    CHECK(worst_diff(got[1], plain) > 1e-2);  // the adapters really move the outputs
    CHECK(worst_diff(got[3], plain) > 1e-2);
  }
}

TEST_CASE("generate: logprobs are the log-softmax of the logits, and match llama.cpp's",
          "[engine][logprobs]") {
  for (std::string name : {"gpt2-tiny", "llama-tiny"}) {
    INFO(name);
    auto g = json::parse(read_file(golden_dir(name) / "golden.json"));
    auto m = load(golden_dir(name));
    const double tol = name == "gpt2-tiny" ? 3e-4 : 1e-5;  // the fixtures' README
    for (const auto& p : g["prompts"]) {
      INFO(p["name"]);
      SamplingOptions o;
      o.max_tokens = 8;
      o.stop_at_eos = false;
      o.logprobs = 5;
      std::vector<std::vector<float>> rows;
      auto gen = generate(
          *m, {p["prompt_ids"].get<std::vector<int32_t>>()}, o, {},
          [&](size_t, size_t, const float* r, size_t V) { rows.emplace_back(r, r + V); })[0];
      REQUIRE(gen.logprobs.size() == 8);
      for (size_t k = 0; k < gen.logprobs.size(); ++k) {
        const auto& lp = gen.logprobs[k];
        const auto& row = rows[k];
        double mx = *std::max_element(row.begin(), row.end()), sum = 0;
        for (float x : row) sum += std::exp(double(x) - mx);
        const double norm = mx + std::log(sum);
        CHECK(lp.id == gen.ids[k]);
        CHECK(std::fabs(lp.logprob - (row[static_cast<size_t>(lp.id)] - norm)) < 1e-9);
        REQUIRE(lp.top.size() == 5);
        CHECK(lp.top[0].first == lp.id);  // greedy picks the most likely
        for (size_t j = 0; j < 5; ++j) {
          CHECK(std::fabs(lp.top[j].second - (row[static_cast<size_t>(lp.top[j].first)] - norm)) <
                1e-9);
          if (j) CHECK(lp.top[j].second <= lp.top[j - 1].second);
        }
      }
      // Against llama.cpp: the top ids per step are its top ids, and logprob differences are
      // its logit differences (log-softmax only shifts a row).
      for (const auto& step : p["top50_logits_per_step"]) {
        auto k = step["step"].get<size_t>();
        if (k >= gen.logprobs.size()) continue;
        const auto& lp = gen.logprobs[k];
        const auto& top = step["top"];
        double ref0 = top[0][1].get<double>();
        for (size_t j = 0; j < 5; ++j) {
          // Only where llama.cpp's order is not a near-tie.
          if (std::fabs(top[j][1].get<double>() - top[j + 1][1].get<double>()) > 4 * tol)
            CHECK(lp.top[j].first == top[j][0].get<int32_t>());
          double ours = lp.top[j].second - lp.top[0].second;
          double theirs = top[j][1].get<double>() - ref0;
          if (lp.top[j].first == top[j][0].get<int32_t>())
            CHECK(std::fabs(ours - theirs) <= 2 * tol);
        }
      }
    }
  }
}

TEST_CASE("generate: a stop string in the stream is held back, cut, and never emitted",
          "[engine][stop]") {
  auto m = load(golden_dir("gpt2-tiny"));
  const auto& tok = m->tokenizer();
  const size_t V = m->config().vocab_size;
  // Forces the "sampled" tokens by one-hot logits: the stream is the encoding of `text`.
  auto run = [&](const std::string& text, const std::vector<std::string>& stops, int max_new,
                 std::string& streamed) {
    SamplingOptions o;
    o.stop = stops;
    Sequence seq(tok, m->config().eos_id, o, 1, max_new, 0);
    std::vector<float> logits(V);
    std::string piece;
    streamed.clear();
    for (auto id : tok.encode(text)) {
      if (seq.done()) break;
      std::fill(logits.begin(), logits.end(), 0.f);
      logits[static_cast<size_t>(id)] = 10.f;
      CHECK(seq.accept(logits.data(), V, piece) == id);
      CHECK(piece.find("END") == std::string::npos);
      streamed += piece;
    }
    return seq.take();
  };
  std::string streamed;
  auto g = run("one two ENDthree four", {"END"}, 100, streamed);
  CHECK(g.text == "one two ");
  CHECK(streamed == "one two ");
  CHECK(g.finish_reason == "stop");

  // A prefix of a stop string that turns out not to be one is emitted once it is decided.
  g = run("one EN two E", {"END"}, 100, streamed);
  CHECK(g.finish_reason.empty());    // the stream ran out before max_new
  CHECK(streamed == "one EN two ");  // the trailing "E" is still undecided
  g = run("one EN two E", {"END"}, static_cast<int>(tok.encode("one EN two E").size()), streamed);
  CHECK(g.finish_reason == "length");
  CHECK(streamed == "one EN two E");  // at the length limit everything is flushed

  // Multi-byte characters split across tokens arrive whole.
  g = run("café ☕ naïve", {}, 100, streamed);
  CHECK(streamed == "café ☕ naïve");

  // EOS ends the sequence without entering the text.
  SamplingOptions o;
  Sequence seq(tok, m->config().eos_id, o, 1, 10, 0);
  std::vector<float> logits(V, 0.f);
  logits[static_cast<size_t>(m->config().eos_id)] = 5.f;
  std::string piece;
  seq.accept(logits.data(), V, piece);
  CHECK(seq.done());
  CHECK(seq.result().finish_reason == "stop");
  CHECK(seq.result().ids.empty());
}

TEST_CASE("engine: fp16 on the CPU is refused with a hint, not a LibTorch trace",
          "[engine][errors]") {
  LoadOptions o;
  o.device = "cpu";
  o.dtype = "fp16";
  try {
    engine().load(golden_dir("gpt2-tiny"), o);
    FAIL("fp16 on the CPU loaded");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK_THAT(std::string(e.what()), Catch::Contains("fp16 runs only on CUDA"));
    CHECK_THAT(std::string(e.hint()), Catch::Contains("bf16"));
  }
  auto m = load(golden_dir("gpt2-tiny"));
  CHECK_THROWS_WITH(m->forward_logits({{1, 99999}}),
                    Catch::Contains("token id 99999 is outside the vocabulary"));
}

TEST_CASE("engine: a LibTorch error becomes an xops error with one line and a hint",
          "[engine][errors]") {
  try {
    guarded("decoding", [] {
      TORCH_CHECK(false, "addmm_impl_cpu_ not implemented for 'Half'");
      return 0;
    });
    FAIL("no error");
  } catch (const Error& e) {
    std::string what = e.what();
    CHECK(what == "decoding: LibTorch: addmm_impl_cpu_ not implemented for 'Half'");
    CHECK(what.find("frame #") == std::string::npos);
    CHECK(!std::string(e.hint()).empty());
  }
  CHECK_THROWS_WITH(guarded("loading", []() -> int { throw std::bad_alloc(); }),
                    Catch::Contains("loading: out of memory"));
}

TEST_CASE("decoder: the small-batch decode kernels equal LibTorch's matrix products, fp32 and bf16",
          "[engine][decoder][kernels]") {
  // Sizes that take the AVX-512 decode path (N a multiple of 64 for GPT-2's Conv1D layout);
  // odd vocabularies and K not a multiple of 16 exercise the tails.
  for (std::string arch : {"gpt2", "llama"}) {
    INFO(arch);
    ModelConfig c;
    c.arch = arch == "gpt2" ? Arch::Gpt2 : Arch::Llama;
    c.vocab_size = 50257;
    c.n_layer = 2;
    c.d_model = 128;
    c.n_head = 4;
    c.n_kv_head = arch == "gpt2" ? 4 : 2;
    c.head_dim = 32;
    c.d_ff = arch == "gpt2" ? 512 : 200;
    c.max_positions = 64;
    c.eos_id = c.bos_id = 50256;
    c.tie_embeddings = arch == "gpt2";
    test::TempDir tmp;
    LoadOptions lo;
    lo.device = "cpu";
    engine().create(c, Tokenizer::load(golden_dir("gpt2-tiny")), 7, lo)->save(tmp / "m");
    auto ref = load(tmp / "m");
    std::vector<std::vector<int32_t>> prompts;
    for (int i = 0; i < 8; ++i)
      prompts.push_back({int32_t(100 + i), int32_t(2000 + 37 * i), int32_t(40000 + i), 5});
    auto full = ref->forward_logits(prompts);  // LibTorch's GEMMs over whole sequences
    const size_t V = 50257;
    for (std::string dtype : {"fp32", "bf16"}) {
      INFO(dtype);
      LoadOptions o;
      o.device = "cpu";
      o.threads = 2;
      o.dtype = dtype;
      auto m = engine().load(tmp / "m", o);
      for (int batch : {1, 3, 5, 8}) {
        INFO("batch " << batch);
        DecoderOptions d;
        d.slots = batch;
        d.max_step_tokens = batch;  // one token per slot per step: every step has M = batch rows
        auto dec = m->decoder(d);
        for (int i = 0; i < batch; ++i) dec->admit(prompts[static_cast<size_t>(i)]);
        double worst = 0, scale = 0;
        int argmax_same = 0, rows = 0;
        for (int step = 0; dec->active() > 0 && step < 64; ++step)
          for (const auto& r : dec->step()) {
            const float* want =
                full[static_cast<size_t>(r.slot)].data() + 3 * V;  // last prompt position
            for (size_t i = 0; i < V; ++i) {
              worst = std::max(worst, double(std::fabs(r.logits[i] - want[i])));
              scale = std::max(scale, double(std::fabs(want[i])));
            }
            argmax_same += std::max_element(r.logits, r.logits + V) - r.logits ==
                           std::max_element(want, want + V) - want;
            ++rows;
            dec->release(r.slot);
          }
        CHECK(rows == batch);
        INFO("worst " << worst << " of logits up to " << scale);
        // bf16 weights are rounded, activations kept in bf16 between ops: a looser bound,
        // but accumulation in fp32 keeps it at bf16's own rounding, not a 20x worse one.
        CHECK(worst <= (dtype == "fp32" ? 1e-4 : 0.05 * scale));
        if (dtype == "fp32") CHECK(argmax_same == rows);
      }
      // Prefill: three 40-token prompts in one step (M = 120 rows).
      std::vector<std::vector<int32_t>> longer;
      for (int i = 0; i < 3; ++i) {
        longer.emplace_back();
        for (int t = 0; t < 40; ++t) longer.back().push_back((i * 977 + t * 131) % 50000);
      }
      auto want_rows = ref->forward_logits(longer);
      DecoderOptions d;
      d.slots = 3;
      auto dec = m->decoder(d);
      for (const auto& p : longer) dec->admit(p);
      auto ready = dec->step();
      REQUIRE(ready.size() == 3);
      double worst = 0;
      for (const auto& r : ready) {
        const float* want = want_rows[static_cast<size_t>(r.slot)].data() + 39 * V;
        for (size_t i = 0; i < V; ++i)
          worst = std::max(worst, double(std::fabs(r.logits[i] - want[i])));
      }
      INFO("prefill worst " << worst);
      CHECK(worst <= (dtype == "fp32" ? 1e-4 : 0.05));
    }
  }
}
