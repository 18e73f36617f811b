// Hostile model directories: sizes in config.json and adapter_config.json are bounded by what
// the files hold before anything is allocated; LibTorch errors never escape raw.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/engine/engine.hpp"
#include "core/error.hpp"
#include "core/model/safetensors.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {
// A copy of the tiny GPT-2 with config.json edited.
fs::path tampered(const test::TempDir& tmp, const std::function<void(nlohmann::json&)>& edit) {
  auto src = test::shared_dir() / "golden/models/gpt2-tiny";
  auto dir = tmp / "m";
  fs::create_directories(dir);
  for (const char* f : {"model.safetensors", "tokenizer.json", "vocab.json", "merges.txt"})
    fs::copy_file(src / f, dir / f);
  auto cfg = nlohmann::json::parse(read_file(src / "config.json"));
  edit(cfg);
  test::write_text(dir / "config.json", cfg.dump());
  return dir;
}
std::string load_error(const fs::path& dir, const fs::path& adapter = {}) {
  LoadOptions o;
  o.device = "cpu";
  o.adapter = adapter;
  try {
    engine().load(dir, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("attack: config.json larger than its checkpoint is refused before allocation",
          "[engine][attack]") {
  test::TempDir tmp;
  // Within the per-key bounds, far beyond what model.safetensors holds (before: tens of GB of
  // allocations, then "checkpoint lacks tensor").
  auto dir = tampered(tmp, [](nlohmann::json& c) {
    c["n_layer"] = 1000;
    c["n_embd"] = 4096;
    c["n_head"] = 32;
  });
  CHECK_THAT(load_error(dir), Contains("parameters but the checkpoint holds only"));
  test::TempDir tmp2;
  auto neg = tampered(tmp2, [](nlohmann::json& c) { c["n_head"] = -2; });
  auto msg = load_error(neg);
  CHECK_THAT(msg, Contains("config.json") && Contains("n_head"));
  CHECK(msg.find('\n') == std::string::npos);  // one line, not a LibTorch backtrace
}

TEST_CASE("attack: a LoRA rank that the adapter file does not hold is refused",
          "[engine][attack]") {
  test::TempDir tmp;
  auto base = test::shared_dir() / "golden/models/gpt2-tiny";
  auto cfg = nlohmann::json::parse(read_file(base / "config.json"));
  int64_t d = cfg.value("n_embd", 0);
  auto adapter = tmp / "adapter";
  fs::create_directories(adapter);
  std::vector<float> a(static_cast<size_t>(4 * d), 0.f);
  write_safetensors(adapter / "adapter_model.safetensors",
                    {{"base_model.model.transformer.h.0.attn.c_attn.lora_A.weight",
                      DType::F32,
                      {4, d},
                      a.data(),
                      a.size() * sizeof(float)}});
  // r: 20000000 allocated 10 GB before any tensor was compared.
  test::write_text(adapter / "adapter_config.json", R"({"peft_type": "LORA", "r": 20000000})");
  CHECK_THAT(load_error(base, adapter), Contains("adapter_config.json") && Contains("20000000"));
  test::write_text(adapter / "adapter_config.json", R"({"peft_type": "LORA", "r": 64})");
  CHECK_THAT(load_error(base, adapter), Contains("r = 64") && Contains("rank 4"));
}
