// The forward pass against llama.cpp's outputs for the tiny GPT-2 and Llama fixtures
// (../shared/golden/models; tolerances from its README): greedy ids token for token, and
// logits at prefill positions and every generated step, alone/batched, with/without cache.
// Each model twice: its HF files and the model.gguf that llama.cpp's converter made of them
// ("NAME.gguf" below), read by xops's own GGUF reader.
#include <catch2/catch.hpp>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/engine/engine.hpp"
#include "core/engine/generation.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using nlohmann::json;

namespace {

struct Fixture {
  std::string name;
  double tol;
  std::filesystem::path dir;
  json golden;
  std::unique_ptr<LanguageModel> model;
};

Fixture& fixture(const std::string& name) {
  static std::map<std::string, Fixture> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  Fixture f;
  f.name = name;
  // Tolerances from the fixtures' README (fp32). XOPS_TEST_DEVICE=cuda runs the same checks on
  // a GPU (scripts/gpu-check.sh); cuBLAS's different summation order stays well inside them.
  f.tol = name.rfind("gpt2-tiny", 0) == 0 ? 3e-4 : 1e-5;
  REQUIRE(!test::shared_dir().empty());
  bool gguf = name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0;
  auto base =
      test::shared_dir() / "golden/models" / (gguf ? name.substr(0, name.size() - 5) : name);
  f.dir = gguf ? base / "model.gguf" : base;
  f.golden = json::parse(read_file(base / "golden.json"));
  LoadOptions o;
  const char* dev = std::getenv("XOPS_TEST_DEVICE");
  o.device = dev && *dev ? dev : "cpu";
  o.threads = 2;
  f.model = engine().load(f.dir, o);
  return cache.emplace(name, std::move(f)).first->second;
}

std::vector<int32_t> prompt_ids(const json& p) { return p["prompt_ids"].get<std::vector<int32_t>>(); }

// Compares every [id, logit] pair of `expected` against a logits row.
void check_row(const float* row, const json& expected, double tol, const std::string& where) {
  double worst = 0;
  for (const auto& pair : expected) {
    auto id = pair[0].get<size_t>();
    double want = pair[1].get<double>();
    worst = std::max(worst, std::fabs(row[id] - want));
  }
  INFO(where << ": worst |logit difference| " << worst);
  CHECK(worst <= tol);
}

void check_generation(Fixture& f, bool batched, bool use_cache) {
  auto& prompts = f.golden["prompts"];
  SamplingOptions o;
  o.max_tokens = 24;
  o.stop_at_eos = false;
  o.use_cache = use_cache;
  std::vector<std::vector<int32_t>> all;
  for (const auto& p : prompts) all.push_back(prompt_ids(p));
  std::vector<std::vector<std::vector<float>>> step_logits(all.size());
  auto capture = [&](size_t base) {
    return [&, base](size_t i, size_t step, const float* row, size_t V) {
      auto& v = step_logits[base + i];
      if (v.size() <= step) v.resize(step + 1);
      v[step].assign(row, row + V);
    };
  };
  std::vector<Generation> gens;
  if (batched) {
    gens = generate(*f.model, all, o, {}, capture(0));
  } else {
    for (size_t i = 0; i < all.size(); ++i) gens.push_back(generate(*f.model, {all[i]}, o, {}, capture(i))[0]);
  }
  for (size_t i = 0; i < all.size(); ++i) {
    const auto& p = prompts[i];
    auto name = f.name + "/" + p["name"].get<std::string>() + (batched ? " batched" : " alone") +
                (use_cache ? " cached" : " uncached");
    INFO(name);
    CHECK(gens[i].ids == p["greedy"]["ids"].get<std::vector<int32_t>>());
    for (const auto& step : p["top50_logits_per_step"]) {
      auto k = step["step"].get<size_t>();
      REQUIRE(k < step_logits[i].size());
      check_row(step_logits[i][k].data(), step["top"], f.tol, name + " step " + std::to_string(k));
    }
  }
}

}  // namespace

TEST_CASE("golden: prompts tokenize to llama.cpp's ids", "[engine][golden]") {
  for (auto name : {"gpt2-tiny", "llama-tiny", "gpt2-tiny.gguf", "llama-tiny.gguf"}) {
    auto& f = fixture(name);
    for (const auto& p : f.golden["prompts"]) {
      if (p["prompt_given_to_llama_cpp_as"] != "text") continue;
      INFO(p["name"]);
      CHECK(f.model->tokenizer().encode(p["text"].get<std::string>()) == prompt_ids(p));
    }
  }
}

TEST_CASE("golden: prefill logits at every prompt position (alone and batched)", "[engine][golden]") {
  for (auto name : {"gpt2-tiny", "llama-tiny", "gpt2-tiny.gguf", "llama-tiny.gguf"}) {
    auto& f = fixture(name);
    std::vector<std::vector<int32_t>> all;
    for (const auto& p : f.golden["prompts"]) all.push_back(prompt_ids(p));
    auto batched = f.model->forward_logits(all);
    size_t V = static_cast<size_t>(f.model->config().vocab_size);
    for (size_t i = 0; i < all.size(); ++i) {
      const auto& p = f.golden["prompts"][i];
      auto alone = f.model->forward_logits({all[i]})[0];
      for (const auto* logits : {&alone, &batched[i]}) {
        for (const auto& pos : p["prefill_top10_logits_per_position"]) {
          auto k = pos["position"].get<size_t>();
          check_row(logits->data() + k * V, pos["top"], f.tol,
                    f.name + "/" + p["name"].get<std::string>() + " position " + std::to_string(k));
        }
        const auto& strided = p["last_prompt_position_logits_strided"];
        auto k = strided["position"].get<size_t>();
        json pairs = json::array();
        for (size_t j = 0; j < strided["ids"].size(); ++j) pairs.push_back({strided["ids"][j], strided["logits"][j]});
        check_row(logits->data() + k * V, pairs, f.tol, f.name + "/" + p["name"].get<std::string>() + " strided");
      }
    }
  }
}

TEST_CASE("golden: GPT-2 greedy with the KV cache, alone", "[engine][golden]") { check_generation(fixture("gpt2-tiny"), false, true); }
TEST_CASE("golden: GPT-2 greedy without the KV cache, alone", "[engine][golden]") { check_generation(fixture("gpt2-tiny"), false, false); }
TEST_CASE("golden: GPT-2 greedy with the KV cache, batched", "[engine][golden]") { check_generation(fixture("gpt2-tiny"), true, true); }
TEST_CASE("golden: GPT-2 greedy without the KV cache, batched", "[engine][golden]") { check_generation(fixture("gpt2-tiny"), true, false); }
TEST_CASE("golden: Llama greedy with the KV cache, alone", "[engine][golden]") { check_generation(fixture("llama-tiny"), false, true); }
TEST_CASE("golden: Llama greedy without the KV cache, alone", "[engine][golden]") { check_generation(fixture("llama-tiny"), false, false); }
TEST_CASE("golden: Llama greedy with the KV cache, batched", "[engine][golden]") { check_generation(fixture("llama-tiny"), true, true); }
TEST_CASE("golden: Llama greedy without the KV cache, batched", "[engine][golden]") { check_generation(fixture("llama-tiny"), true, false); }
TEST_CASE("golden: GPT-2 from GGUF greedy with the KV cache, alone and batched",
          "[engine][golden][gguf]") {
  check_generation(fixture("gpt2-tiny.gguf"), false, true);
  check_generation(fixture("gpt2-tiny.gguf"), true, true);
}
TEST_CASE("golden: Llama from GGUF greedy with the KV cache, alone and batched",
          "[engine][golden][gguf]") {
  check_generation(fixture("llama-tiny.gguf"), false, true);
  check_generation(fixture("llama-tiny.gguf"), true, true);
}
TEST_CASE("golden: GGUF and HF hold the same model", "[engine][golden][gguf]") {
  for (auto name : {"gpt2-tiny", "llama-tiny"}) {
    auto& hf = fixture(name);
    auto& gg = fixture(std::string(name) + ".gguf");
    const auto &a = hf.model->config(), &b = gg.model->config();
    CHECK(a.arch == b.arch);
    CHECK(a.n_layer == b.n_layer);
    CHECK(a.d_model == b.d_model);
    CHECK(a.n_head == b.n_head);
    CHECK(a.n_kv_head == b.n_kv_head);
    CHECK(a.head_dim == b.head_dim);
    CHECK(a.d_ff == b.d_ff);
    CHECK(a.vocab_size == b.vocab_size);
    CHECK(a.max_positions == b.max_positions);
    CHECK(a.norm_eps == b.norm_eps);
    CHECK(a.tie_embeddings == b.tie_embeddings);
    CHECK(hf.model->tokenizer().vocab_size() == gg.model->tokenizer().vocab_size());
    // The same bits: both hold fp32 weights, so the logits agree exactly.
    std::vector<int32_t> ids = {464, 2068, 7586, 21831};
    CHECK(hf.model->forward_logits({ids})[0] == gg.model->forward_logits({ids})[0]);
  }
}
