#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;

TEST_CASE("e2e: generate --tokenize, --json and stdin prompts", "[e2e][generate]") {
  TempDir tmp;
  auto model = (shared_dir() / "golden/models/gpt2-tiny").string();
  auto tok = run_xops({"generate", model, "--tokenize", "Hello, world!"}, tmp.path(), {{"LD_DEBUG", "libs"}});
  CHECK(tok.rc == 0);
  CHECK(tok.out == "[15496,11,995,0]\n");
  CHECK(tok.err.find("libtorch") == std::string::npos);  // tokenizing needs no LibTorch
  auto j = run_xops({"generate", model, "--json", "-n", "5", "--ignore-eos"}, tmp.path(), {},
                    "The quick brown fox jumps over the lazy dog.");
  REQUIRE(j.rc == 0);
  auto parsed = nlohmann::json::parse(j.out);
  // llama.cpp's greedy continuation of this prompt (../shared/golden/models/gpt2-tiny).
  CHECK(parsed["ids"] == nlohmann::json::array({29481, 10409, 10409, 10409, 10409}));
  CHECK(parsed["prompt_ids"].size() == 10);
  CHECK(parsed["finish_reason"] == "length");
  CHECK(parsed["timing"]["decode_tokens_per_second"].get<double>() > 0);
  auto streamed = run_xops({"generate", model, "Hi", "-n", "3"}, tmp.path());
  CHECK(streamed.rc == 0);
  CHECK(!streamed.out.empty());
}

TEST_CASE("e2e: generate --logprobs N shows each token's log-probability and the top N", "[e2e][generate]") {
  TempDir tmp;
  auto model = (shared_dir() / "golden/models/gpt2-tiny").string();
  auto j = run_xops({"generate", model, "--json", "-n", "3", "--ignore-eos", "--logprobs", "4"}, tmp.path(), {},
                    "The quick brown fox jumps over the lazy dog.");
  REQUIRE(j.rc == 0);
  auto parsed = nlohmann::json::parse(j.out);
  REQUIRE(parsed["logprobs"].size() == 3);
  for (size_t k = 0; k < 3; ++k) {
    const auto& e = parsed["logprobs"][k];
    CHECK(e["id"] == parsed["ids"][k]);
    CHECK(e["logprob"].get<double>() < 0);
    REQUIRE(e["top_logprobs"].size() == 4);
    CHECK(e["top_logprobs"][0]["id"] == e["id"]);  // greedy takes the most likely
    CHECK(e["top_logprobs"][0]["logprob"] == e["logprob"]);
    CHECK(e["top_logprobs"][3]["logprob"].get<double>() <= e["top_logprobs"][2]["logprob"].get<double>());
    std::string text = e["token"];
    CHECK(e["bytes"].size() == text.size());
  }
  CHECK(parsed["logprobs"][0]["token"] == " Hybrid");  // id 29481
  auto text = run_xops({"generate", model, "Hi", "-n", "2", "--logprobs", "1", "--ignore-eos"}, tmp.path());
  REQUIRE(text.rc == 0);
  CHECK(std::count(text.out.begin(), text.out.end(), '\n') == 3);  // the text, then one line per token
  auto bad = run_xops({"generate", model, "Hi", "--logprobs", "21"}, tmp.path());
  CHECK(bad.rc == 2);
}

TEST_CASE("e2e: generate errors: missing model, registry refs, bad device", "[e2e][generate]") {
  TempDir tmp;
  auto missing = run_xops({"generate", "no-such-model", "x"}, tmp.path());
  CHECK(missing.rc == 3);  // a missing model is 3 in every command
  CHECK_THAT(missing.err, Catch::Contains("no model 'no-such-model'"));
  auto reg = run_xops({"generate", "tiny@v1.0.0", "x"}, tmp.path());
  CHECK(reg.rc == 3);
  auto model = (shared_dir() / "golden/models/gpt2-tiny").string();
  auto dev = run_xops({"generate", model, "x", "--device", "tpu"}, tmp.path());
  CHECK(dev.rc == 2);
  auto notmodel = run_xops({"generate", tmp.path().string(), "x"}, tmp.path());
  CHECK(notmodel.rc == 3);
  CHECK_THAT(notmodel.err, Catch::Contains("config.json"));
}
