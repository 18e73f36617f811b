#include <catch2/catch.hpp>

#include <cstdlib>

#include "core/engine/engine.hpp"
#include "core/engine/generation.hpp"
#include "core/error.hpp"
#include "core/model/safetensors.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;

TEST_CASE("engine: a saved model reloads with identical logits and tensor names", "[engine]") {
  for (auto name : {"gpt2-tiny", "llama-tiny"}) {
    auto src = test::shared_dir() / "golden/models" / name;
    LoadOptions o;
    o.device = "cpu";
    auto m = engine().load(src, o);
    test::TempDir tmp;
    m->save(tmp / "out");
    auto again = engine().load(tmp / "out", o);
    std::vector<int32_t> ids = m->tokenizer().encode("Hello there, world");
    CHECK(m->forward_logits({ids})[0] == again->forward_logits({ids})[0]);
    auto a = Checkpoint::open(src).names(), b = Checkpoint::open(tmp / "out").names();
    CHECK(a == b);  // the same HF tensor names (tied lm_head omitted like HF does)
  }
}

TEST_CASE("engine: bf16 weights stay close to fp32", "[engine]") {
  auto src = test::shared_dir() / "golden/models/llama-tiny";
  LoadOptions o;
  o.device = "cpu";
  auto f32 = engine().load(src, o);
  o.dtype = "bf16";
  auto b16 = engine().load(src, o);
  CHECK(b16->dtype() == "bf16");
  std::vector<int32_t> ids = f32->tokenizer().encode("The quick brown fox");
  auto a = f32->forward_logits({ids})[0], b = b16->forward_logits({ids})[0];
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::fabs(a[i] - b[i])));
  CHECK(worst < 0.05);
}

TEST_CASE("engine: sampling is seeded, stop strings cut the text", "[engine]") {
  LoadOptions o;
  o.device = "cpu";
  auto m = engine().load(test::shared_dir() / "golden/models/gpt2-tiny", o);
  auto ids = m->tokenizer().encode("Once upon a time");
  SamplingOptions s;
  s.temperature = 1.0;
  s.top_k = 50;
  s.top_p = 0.9;
  s.seed = 7;
  s.max_tokens = 12;
  auto a = generate(*m, {ids}, s)[0], b = generate(*m, {ids}, s)[0];
  CHECK(a.ids == b.ids);
  s.seed = 8;
  CHECK(generate(*m, {ids}, s)[0].ids != a.ids);
  SamplingOptions g;
  g.max_tokens = 24;
  auto full = generate(*m, {ids}, g)[0];
  REQUIRE(full.text.size() > 6);
  g.stop = {full.text.substr(3, 3)};
  auto cut = generate(*m, {ids}, g)[0];
  CHECK(cut.finish_reason == "stop");
  CHECK(cut.text == full.text.substr(0, 3));
  CHECK_THROWS_AS(generate(*m, {{}}, g), Error);
}

TEST_CASE("engine: loading it leaves the environment that child processes inherit as it was",
          "[engine]") {
  // The engine sets GOMP_SPINCOUNT only while LibTorch's libgomp loads (core/engine/
  // engine_loader.cpp); eval's exec providers and hooks must not inherit it.
  if (std::getenv("GOMP_SPINCOUNT") != nullptr) return;  // the user's own value is kept
  (void)engine();
  CHECK(std::getenv("GOMP_SPINCOUNT") == nullptr);
}
