// `xops export` end to end: GGUF of each type with an Ollama Modelfile, GGUF -> HF, an
// exported GGUF registered, promoted and served by NAME#prod, and the refusals.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/model/gguf.hpp"
#include "core/model/safetensors.hpp"
#include "core/util/fs.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/xops_server.hpp"

using namespace xops;
using namespace xops::test;
namespace fs = std::filesystem;
using nlohmann::json;

TEST_CASE("e2e: export writes GGUF of every type, a Modelfile, and reads back",
          "[e2e][export][gguf]") {
  TempDir tmp;
  auto model = (shared_dir() / "golden/models/llama-tiny").string();
  std::string prompt = "The quick brown fox jumps over the lazy dog.";
  auto want = run_xops({"generate", model, prompt, "-n", "12", "-t", "0"}, tmp.path());
  REQUIRE(want.rc == 0);
  int64_t held = 0;  // the source's parameter count, from its safetensors header
  auto src = Checkpoint::open(model);
  for (const auto& n : src.names()) held += src.get(n).numel();
  for (auto type : {"f32", "f16", "bf16", "q8_0"}) {
    INFO(type);
    auto out = tmp / (std::string("m-") + type + ".gguf");
    auto r = run_xops({"--json", "export", model, "-o", out.string(), "--type", type}, tmp.path());
    REQUIRE(r.rc == 0);
    auto j = json::parse(r.out);
    CHECK(j["format"] == "gguf");
    CHECK(j["type"] == type);
    CHECK(j["arch"] == "llama");
    CHECK(j["bytes"].get<uint64_t>() == fs::file_size(out));
    CHECK(j["parameters"].get<int64_t>() == held);  // what model.safetensors holds
    CHECK(j["adapter"].is_null());
    CHECK(j["seconds"].get<double>() > 0);
    CHECK(j["modelfile"] == (tmp / "Modelfile").string());
    auto f = GgufFile::open(out);
    CHECK(f->get_string("general.architecture") == "llama");
    CHECK(f->get_string("general.name") == "llama-tiny");
    CHECK(f->get_uint("general.file_type") == (std::string(type) == "f32"    ? 0u
                                               : std::string(type) == "f16"  ? 1u
                                               : std::string(type) == "q8_0" ? 7u
                                                                             : 32u));
    CHECK(f->tensor("blk.0.attn_norm.weight")->type == GgmlType::F32);  // norms stay F32
    CHECK(!f->get_string("tokenizer.chat_template").value_or("").empty());
    auto gen = run_xops({"generate", out.string(), prompt, "-n", "12", "-t", "0"}, tmp.path());
    REQUIRE(gen.rc == 0);
    auto gj = run_xops({"--json", "generate", out.string(), prompt, "-n", "1"}, tmp.path());
    REQUIRE(gj.rc == 0);
    CHECK(json::parse(gj.out)["dtype"] == (std::string(type) == "q8_0" ? "q8_0" : "fp32"));
    CHECK(json::parse(gj.out)["device"] == "cpu");
    if (std::string(type) == "f32") CHECK(gen.out == want.out);  // the same weights, bit for bit
  }
  auto mf = read_file(tmp / "Modelfile");
  CHECK_THAT(mf, Catch::Contains("FROM ./m-q8_0.gguf"));
  CHECK_THAT(mf, Catch::Contains("TEMPLATE \"\"\"{{- range .Messages }}<|{{ .Role }}|>"));
  CHECK_THAT(mf, Catch::Contains("PARAMETER stop \"<|endoftext|>\""));

  // GGUF back to a Hugging Face directory, which generates the same text.
  auto back = run_xops(
      {"export", (tmp / "m-f32.gguf").string(), "--format", "hf", "-o", (tmp / "hf").string()},
      tmp.path());
  REQUIRE(back.rc == 0);
  CHECK(fs::exists(tmp / "hf/config.json"));
  CHECK(fs::exists(tmp / "hf/model.safetensors"));
  auto again =
      run_xops({"generate", (tmp / "hf").string(), prompt, "-n", "12", "-t", "0"}, tmp.path());
  CHECK(again.out == want.out);
  // An existing directory is kept unless --force.
  auto exists = run_xops(
      {"export", (tmp / "m-f32.gguf").string(), "--format", "hf", "-o", (tmp / "hf").string()},
      tmp.path());
  CHECK(exists.rc == 3);
  CHECK_THAT(exists.err, Catch::Contains("already exists"));
}

TEST_CASE("e2e: export refuses what it cannot do, with a hint and nothing written",
          "[e2e][export][gguf]") {
  TempDir tmp;
  auto model = (shared_dir() / "golden/models/gpt2-tiny").string();
  auto out = (tmp / "x.gguf").string();
  auto bad_type = run_xops({"export", model, "-o", out, "--type", "q4_k"}, tmp.path());
  CHECK(bad_type.rc == 2);
  CHECK_THAT(bad_type.err, Catch::Contains("use f32, f16, bf16 or q8_0"));
  auto bad_format = run_xops({"export", model, "-o", out, "--format", "onnx"}, tmp.path());
  CHECK(bad_format.rc == 2);
  auto only = run_xops({"export", model, "-o", out, "--adapter-only"}, tmp.path());
  CHECK(only.rc == 2);
  CHECK_THAT(only.err, Catch::Contains("convert_lora_to_gguf.py"));
  auto hf_type =
      run_xops({"export", model, "--format", "hf", "-o", (tmp / "d").string(), "--type", "q8_0"},
               tmp.path());
  CHECK(hf_type.rc == 2);
  auto missing = run_xops({"export", "no-such-model", "-o", out}, tmp.path());
  CHECK(missing.rc == 3);
  CHECK_THAT(missing.err, Catch::Contains("GGUF"));
  CHECK(!fs::exists(out));
  // A file that is not GGUF is not a model; a truncated GGUF is refused by the reader.
  write_text(tmp / "fake.gguf", "GGUF\x03");
  auto truncated = run_xops({"generate", (tmp / "fake.gguf").string(), "hi"}, tmp.path());
  CHECK(truncated.rc != 0);
  CHECK_THAT(truncated.err, Catch::Contains("invalid GGUF file"));
  CHECK(truncated.err.find("terminate") == std::string::npos);
}

TEST_CASE("e2e: an exported GGUF is an artifact: registered, promoted, served by NAME#prod",
          "[e2e][export][gguf][serve]") {
  TempDir tmp;
  auto p = tmp / "p";
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  fs::create_directories(p / "models");
  auto exp = run_xops({"export", (shared_dir() / "golden/models/gpt2-tiny").string(), "-o",
                       (p / "models/tiny.gguf").string(), "--type", "q8_0"},
                      tmp.path());
  REQUIRE(exp.rc == 0);
  write_text(p / "xops.yaml",
             "name: p\nstages: [dev, staging, prod]\nartifacts:\n  tiny: {path: models/tiny.gguf, "
             "type: model}\n");
  REQUIRE(run_xops({"-q", "track", "add", "models/tiny.gguf"}, p).rc == 0);
  REQUIRE(sh("git add -A && git commit -qm 'tiny as gguf'", p).rc == 0);
  REQUIRE(run_xops({"-q", "promote", "register", "tiny"}, p).rc == 0);
  auto promote = run_xops({"promote", "tiny@v0.0.1", "--to", "prod"}, p);
  REQUIRE(promote.rc == 0);
  auto direct =
      run_xops({"generate", "tiny#prod", "Hello", "-n", "4", "-t", "0", "--ignore-eos"}, p);
  REQUIRE(direct.rc == 0);
  Server s(tmp.path(), {"tiny#prod"}, {}, p);
  auto r = s.post("/v1/completions",
                  R"({"prompt": "Hello", "max_tokens": 4, "temperature": 0, "ignore_eos": true})");
  REQUIRE(r.status == 200);
  CHECK(r.j()["choices"][0]["text"] == direct.out.substr(0, direct.out.size() - 1));
}
