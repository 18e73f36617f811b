// `xops serve` as a client sees it: the real binary on an ephemeral loopback port, talked to
// with curl and with xops eval's OpenAI provider.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/model/safetensors.hpp"
#include "core/util/fs.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/xops_server.hpp"

extern char** environ;

using namespace xops;
using namespace xops::test;
using nlohmann::json;

namespace {

json generate_json(const std::string& prompt, int n, const std::vector<std::string>& extra = {}) {
  TempDir tmp;
  std::vector<std::string> args{"generate", model_dir(), "--json", "-n", std::to_string(n)};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = run_xops(args, tmp.path(), {}, prompt);
  REQUIRE(r.rc == 0);
  return json::parse(r.out);
}

// A PEFT LoRA adapter for gpt2-tiny's c_attn with random A and B.
void write_adapter(const std::filesystem::path& dir, uint32_t seed) {
  std::filesystem::create_directories(dir);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 0.3f);
  std::vector<std::vector<float>> keep;
  keep.reserve(8);
  std::vector<TensorToWrite> ts;
  for (int l = 0; l < 2; ++l)
    for (auto [suffix, rows, cols] : {std::tuple{"lora_A", 4, 32}, std::tuple{"lora_B", 96, 4}}) {
      keep.emplace_back(static_cast<size_t>(rows * cols));
      for (auto& x : keep.back()) x = nd(rng);
      ts.push_back({"base_model.model.transformer.h." + std::to_string(l) + ".attn.c_attn." +
                        suffix + ".weight",
                    DType::F32,
                    {rows, cols},
                    keep.back().data(),
                    keep.back().size() * 4});
    }
  write_safetensors(dir / "adapter_model.safetensors", ts);
  atomic_write_file(
      dir / "adapter_config.json",
      R"({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["c_attn"], "fan_in_fan_out": true})");
}

}  // namespace

TEST_CASE("e2e: serve answers the OpenAI routes - greedy completions equal xops generate",
          "[e2e][serve]") {
  TempDir tmp;
  Server s(tmp.path(), {});
  CHECK(s.get("/health").body == R"({"status":"ok"})");
  auto models = s.get("/v1/models").j();
  CHECK(models["data"][0]["id"] == "gpt2-tiny");

  const std::string prompt = "The quick brown fox jumps over the lazy dog.";
  auto want = generate_json(prompt, 12, {"--ignore-eos"});
  auto c = s.post(
      "/v1/completions",
      json{{"model", "gpt2-tiny"}, {"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}}
          .dump());
  REQUIRE(c.status == 200);
  auto cj = c.j();
  CHECK(cj["object"] == "text_completion");
  CHECK(cj["choices"][0]["text"] == want["text"]);
  CHECK(cj["choices"][0]["finish_reason"] == "length");
  CHECK(cj["usage"]["prompt_tokens"] == 10);
  CHECK(cj["usage"]["completion_tokens"] == 12);
  CHECK(cj["usage"]["total_tokens"] == 22);

  // Token ids as the prompt; logprobs in the legacy shape.
  auto ids = s.post("/v1/completions", json{{"prompt", want["prompt_ids"]},
                                            {"max_tokens", 3},
                                            {"temperature", 0},
                                            {"logprobs", 2}}
                                           .dump())
                 .j();
  auto lp = ids["choices"][0]["logprobs"];
  REQUIRE(lp["tokens"].size() == 3);
  CHECK(lp["token_logprobs"][0].get<double>() < 0);
  CHECK(lp["top_logprobs"][0].size() == 2);

  // Streaming: the deltas put together are the whole text; it ends with [DONE] and usage.
  auto st = s.post("/v1/completions",
                   json{{"prompt", prompt},
                        {"max_tokens", 12},
                        {"temperature", 0},
                        {"stream", true},
                        {"stream_options", {{"include_usage", true}}}}
                       .dump(),
                   {"-N"});
  REQUIRE(st.status == 200);
  CHECK_THAT(st.headers, Catch::Contains("text/event-stream"));
  std::string text, finish;
  json usage;
  size_t pos = 0;
  bool done = false;
  while ((pos = st.body.find("data: ", pos)) != std::string::npos) {
    auto end = st.body.find("\n\n", pos);
    auto data = st.body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (data == "[DONE]") {
      done = true;
      continue;
    }
    auto ev = json::parse(data);
    if (ev.contains("usage")) usage = ev["usage"];
    if (ev["choices"].empty()) continue;
    text += ev["choices"][0]["text"].get<std::string>();
    if (!ev["choices"][0]["finish_reason"].is_null()) finish = ev["choices"][0]["finish_reason"];
  }
  CHECK(done);
  CHECK(text == want["text"]);
  CHECK(finish == "length");
  CHECK(usage["completion_tokens"] == 12);

  // Chat: the built-in template, same tokens as generate on the rendered prompt.
  auto chat_want = generate_json("<|user|>\nHello there\n<|assistant|>\n", 6, {"--ignore-eos"});
  auto ch = s.post("/v1/chat/completions",
                   json{{"messages", {{{"role", "user"}, {"content", "Hello there"}}}},
                        {"max_tokens", 6},
                        {"temperature", 0},
                        {"logprobs", true},
                        {"top_logprobs", 3}}
                       .dump());
  REQUIRE(ch.status == 200);
  auto chj = ch.j();
  CHECK(chj["object"] == "chat.completion");
  CHECK(chj["choices"][0]["message"]["role"] == "assistant");
  CHECK(chj["choices"][0]["message"]["content"] == chat_want["text"]);
  CHECK(chj["choices"][0]["logprobs"]["content"].size() == 6);
  CHECK(chj["choices"][0]["logprobs"]["content"][0]["top_logprobs"].size() == 3);

  auto emb = s.post("/v1/embeddings", R"({"input": ["hello", "world"]})");
  REQUIRE(emb.status == 200);
  CHECK(emb.j()["data"].size() == 2);
  CHECK(emb.j()["data"][1]["embedding"].size() == 32);

  auto metrics = s.get("/metrics");
  CHECK_THAT(metrics.headers, Catch::Contains("text/plain"));
  CHECK_THAT(
      metrics.body,
      Catch::Matches("[\\s\\S]*\nxops_requests_total\\{route=\"/v1/completions\",status=\"200\","
                     "version=\"[^\"]*gpt2-tiny\",adapter=\"\"\\} 3\n[\\s\\S]*"));
  CHECK_THAT(metrics.body, Catch::Contains("xops_time_to_first_token_seconds_count"));
  CHECK_THAT(metrics.body, Catch::Contains("xops_kv_cache_bytes_reserved"));
  CHECK_THAT(metrics.body, Catch::Contains("xops_model_info{model=\"gpt2-tiny\""));

  CHECK(s.stop(SIGTERM) == 0);  // graceful
}

TEST_CASE("e2e: serve batches 16 concurrent greedy requests and each equals its single run",
          "[e2e][serve]") {
  TempDir tmp;
  Server s(tmp.path(), {"--max-batch", "4", "--max-queue", "64"});
  std::vector<std::string> prompts;
  for (int i = 0; i < 16; ++i)
    prompts.push_back("Request number " + std::to_string(i) + " says" + std::string(i % 5, '!'));
  std::vector<std::string> singles;
  for (int i = 0; i < 16; ++i) {
    auto r = s.post("/v1/completions",
                    json{{"prompt", prompts[i]}, {"max_tokens", 8 + i}, {"temperature", 0}}.dump());
    REQUIRE(r.status == 200);
    singles.push_back(r.j()["choices"][0]["text"]);
  }
  // All at once: they queue, join the running batch as slots free up, and leave when done.
  std::string script;
  for (int i = 0; i < 16; ++i)
    script += "curl -s --max-time 60 " + s.url("/v1/completions") + " -d '" +
              json{{"prompt", prompts[i]}, {"max_tokens", 8 + i}, {"temperature", 0}}.dump() +
              "' > " + (tmp / ("r" + std::to_string(i))).string() + " &\n";
  script += "wait\n";
  REQUIRE(sh(script, tmp.path()).rc == 0);
  for (int i = 0; i < 16; ++i) {
    INFO("request " << i);
    auto j = json::parse(read_file(tmp / ("r" + std::to_string(i))));
    CHECK(j["choices"][0]["text"] == singles[static_cast<size_t>(i)]);
  }
  auto m = s.get("/metrics").body;
  CHECK_THAT(
      m, Catch::Matches("[\\s\\S]*\nxops_requests_total\\{route=\"/v1/completions\",status=\"200\","
                        "version=\"[^\"]*gpt2-tiny\",adapter=\"\"\\} 32\n[\\s\\S]*"));
  CHECK_THAT(m, Catch::Contains("xops_running_sequences 0"));
  // It batched: decoder steps carried several sequences at once (at most --max-batch).
  auto value = [&](const std::string& name) {
    auto at = m.find("\n" + name + " ");
    REQUIRE(at != std::string::npos);
    return std::stod(m.substr(at + name.size() + 2));
  };
  CHECK(value("xops_decoder_max_batch") >= 2);
  CHECK(value("xops_decoder_max_batch") <= 4);
  CHECK(value("xops_decoder_batched_steps_total") > 0);
}

TEST_CASE("e2e: serve with two LoRA adapters batches them and each equals its own run",
          "[e2e][serve][lora]") {
  TempDir tmp;
  write_adapter(tmp / "one", 1);
  write_adapter(tmp / "two", 2);
  Server s(tmp.path(), {"--adapter", "one=" + (tmp / "one").string(), "--adapter",
                        "two=" + (tmp / "two").string()});
  auto models = s.get("/v1/models").j();
  REQUIRE(models["data"].size() == 3);
  CHECK(models["data"][1]["id"] == "gpt2-tiny:one");
  const std::string prompt = "Once upon a time";
  std::string script;
  for (auto [name, file] : {std::pair{"gpt2-tiny", "base"},
                            {"gpt2-tiny:one", "a1"},
                            {"gpt2-tiny:two", "a2"},
                            {"one", "a1b"}})
    script +=
        "curl -s " + s.url("/v1/completions") + " -d '" +
        json{{"model", name}, {"prompt", prompt}, {"max_tokens", 10}, {"temperature", 0}}.dump() +
        "' > " + (tmp / file).string() + " &\n";
  REQUIRE(sh(script + "wait\n", tmp.path()).rc == 0);
  auto text = [&](const char* f) {
    return json::parse(read_file(tmp / f))["choices"][0]["text"].get<std::string>();
  };
  auto base = generate_json(prompt, 10, {"--ignore-eos"});
  auto one = generate_json(prompt, 10, {"--ignore-eos", "--adapter", (tmp / "one").string()});
  auto two = generate_json(prompt, 10, {"--ignore-eos", "--adapter", (tmp / "two").string()});
  CHECK(text("base") == base["text"]);
  CHECK(text("a1") == one["text"]);
  CHECK(text("a1b") == one["text"]);
  CHECK(text("a2") == two["text"]);
  CHECK(one["text"] != base["text"]);
  CHECK(two["text"] != one["text"]);
  auto missing = s.post("/v1/completions", R"({"model": "gpt2-tiny:three", "prompt": "x"})");
  CHECK(missing.status == 404);
  CHECK(missing.j()["error"]["code"] == "model_not_found");
}

TEST_CASE("e2e: serve refuses bad requests with OpenAI-style errors and keeps serving",
          "[e2e][serve]") {
  TempDir tmp;
  Server s(tmp.path(), {"--api-key-env", "TEST_KEY", "--max-body", "4096"},
           {{"TEST_KEY", "sekret-123"}});
  const std::vector<std::string> auth{"-H", "Authorization: Bearer sekret-123"};
  CHECK(s.get("/health").status == 200);  // no key needed
  auto no_key = s.post("/v1/completions", R"({"prompt": "hi"})");
  CHECK(no_key.status == 401);
  CHECK(no_key.j()["error"]["code"] == "invalid_api_key");
  CHECK(s.post("/v1/completions", R"({"prompt": "hi"})", {"-H", "Authorization: Bearer sekret-124"})
            .status == 401);
  CHECK(s.get("/metrics").status == 401);
  const std::vector<std::string> bodies{"",
                                        "{",
                                        "[]",
                                        "null",
                                        "42",
                                        R"({"prompt": 5})",
                                        R"({"prompt": ""})",
                                        R"({"prompt": "x", "max_tokens": -1})",
                                        R"({"prompt": "x", "max_tokens": "8"})",
                                        R"({"prompt": "x", "temperature": 9})",
                                        R"({"prompt": "x", "n": 2})",
                                        R"({"prompt": "x", "stop": [1, 2]})",
                                        R"({"prompt": "x", "stop": ""})",
                                        R"({"prompt": [99999999]})",
                                        R"({"prompt": "x", "top_p": null, "seed": "s"})",
                                        R"({"prompt": "x", "stream": "yes"})",
                                        R"({"prompt": "x", "echo": true})",
                                        R"({"prompt": ["a", "b"]})",
                                        R"({"prompt": "x", "model": 7})",
                                        "{\"prompt\": \"\xff\xfe\"}"};
  for (const auto& b : bodies) {
    INFO(b);
    auto r = s.post("/v1/completions", b, auth);
    CHECK(r.status == 400);
    REQUIRE(!r.body.empty());
    CHECK(r.j()["error"]["type"] == "invalid_request_error");
  }
  for (const auto& b :
       {R"({})", R"({"messages": []})", R"({"messages": [{"role": "wizard", "content": "x"}]})",
        R"({"messages": [{"role": "user"}]})", R"({"messages": "hi"})"}) {
    INFO(b);
    CHECK(s.post("/v1/chat/completions", b, auth).status == 400);
  }
  auto too_long = s.post("/v1/completions", json{{"prompt", std::string(2000, 'a')}}.dump(), auth);
  CHECK(too_long.status == 400);
  CHECK(too_long.j()["error"]["code"] == "context_length_exceeded");
  CHECK(s.post("/v1/completions", json{{"prompt", std::string(8000, 'a')}}.dump(), auth).status ==
        413);
  CHECK(s.get("/v1/completions", auth).status == 405);
  CHECK(s.get("/v2/nothing", auth).status == 404);
  // Still serving after all that.
  auto ok = s.post("/v1/completions", R"({"prompt": "hi", "max_tokens": 2})", auth);
  CHECK(ok.status == 200);
  CHECK(s.stop(SIGTERM) == 0);
}

TEST_CASE("e2e: serve says 429 with Retry-After when its queue is full", "[e2e][serve]") {
  TempDir tmp;
  Server s(tmp.path(), {"--max-batch", "1", "--max-queue", "1"});
  std::string script;
  for (int i = 0; i < 12; ++i)
    script += "curl -s -o /dev/null -D " + (tmp / ("h" + std::to_string(i))).string() + " " +
              s.url("/v1/completions") +
              " -d '{\"prompt\": \"Tell me\", \"max_tokens\": 100, \"temperature\": 0}' &\n";
  REQUIRE(sh(script + "wait\n", tmp.path()).rc == 0);
  int ok = 0, busy = 0;
  for (int i = 0; i < 12; ++i) {
    auto h = read_file(tmp / ("h" + std::to_string(i)));
    if (h.rfind("HTTP/1.1 200", 0) == 0) ++ok;
    if (h.rfind("HTTP/1.1 429", 0) == 0) {
      ++busy;
      CHECK_THAT(h, Catch::Contains("Retry-After: 1"));
    }
  }
  // The running one, and the queued one unless the burst filled the one queue place before the
  // scheduler took the first request out of it (seen under load: 1 answered, 11 refused).
  CHECK(ok >= 1);
  CHECK(busy >= 1);
  CHECK(ok + busy == 12);
}

TEST_CASE("e2e: serve refuses a non-loopback address without a key, and a taken port",
          "[e2e][serve]") {
  TempDir tmp;
  auto open = run_xops({"serve", model_dir(), "--host", "0.0.0.0", "--port", "0"}, tmp.path());
  CHECK(open.rc == 2);
  CHECK_THAT(open.err, Catch::Contains("without an API key"));
  auto no_env = run_xops({"serve", model_dir(), "--api-key-env", "XOPS_NO_SUCH_VAR"}, tmp.path());
  CHECK(no_env.rc == 2);
  // --insecure and a key each lift the refusal. Shown without binding anything but loopback:
  // a model that does not exist stops each run after the address check, before it listens.
  for (auto extra : {std::vector<std::string>{"--insecure"},
                     std::vector<std::string>{"--api-key-env", "XOPS_TEST_KEY"}}) {
    std::vector<std::string> args = {
        "serve", (tmp / "no-such-model").string(), "--host", "0.0.0.0", "--port", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run_xops(args, tmp.path(), {{"XOPS_TEST_KEY", "k"}});
    INFO(extra[0] << ": " << r.err);
    CHECK(r.rc != 0);
    CHECK_THAT(r.err, !Catch::Contains("without an API key") && Catch::Contains("no-such-model"));
    CHECK_THAT(r.err, !Catch::Contains("listening"));
  }
  Server s(tmp.path(), {});
  auto port = s.url().substr(s.url().rfind(':') + 1);
  auto taken = run_xops({"serve", model_dir(), "--port", port}, tmp.path());
  CHECK(taken.rc == 1);
  CHECK_THAT(taken.err, Catch::Contains("cannot listen on 127.0.0.1:" + port));
}

TEST_CASE("e2e: xops eval's OpenAI provider talks to xops serve", "[e2e][serve][eval]") {
  TempDir tmp;
  Server s(tmp.path(), {});
  auto want = generate_json("The quick brown fox", 5, {"--ignore-eos"});
  atomic_write_file(tmp / "suite.yaml",
                    "providers:\n"
                    "  - id: openai:completion:gpt2-tiny\n"
                    "    config: {apiBaseUrl: " +
                        s.url("/v1") +
                        ", temperature: 0, max_tokens: 5}\n"
                        "  - id: openai:chat:gpt2-tiny\n"
                        "    config: {apiBaseUrl: " +
                        s.url("/v1") +
                        ", temperature: 0, max_tokens: 5}\n"
                        "prompts: ['The quick brown fox']\n"
                        "tests:\n"
                        "  - assert:\n"
                        "      - {type: equals, value: " +
                        json(want["text"]).dump() + "}\n");
  auto r = run_xops({"--json", "eval", "suite.yaml", "--no-cache"}, tmp.path());
  INFO(r.out << r.err);
  auto j = json::parse(r.out);
  // The completion provider reproduces generate exactly; chat wraps the prompt in the template.
  REQUIRE(j["results"].size() == 2);
  int passed = 0;
  for (const auto& res : j["results"]) passed += res["pass"].get<bool>();
  CHECK(passed == 1);
}

TEST_CASE("e2e: serve logs traffic and feedback - eval --from-logs makes cases that pass again",
          "[e2e][serve][eval]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto proj = tmp / "p";
  std::string good_id, bad_id, chat_id;
  {
    Server s(tmp.path(), {"--log-retention", "30"}, {}, proj);
    CHECK_THAT(s.err(), Catch::Contains("logging interactions to"));
    auto a = s.post("/v1/completions",
                    R"({"prompt": "Once upon a time", "max_tokens": 6, "temperature": 0})")
                 .j();
    auto b = s.post("/v1/completions",
                    R"({"prompt": "It was a dark night", "max_tokens": 6, "temperature": 0})")
                 .j();
    s.post("/v1/chat/completions",
           R"({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3})");
    // A chat: its prompt is the template's rendering, which ends in a newline the replay must
    // keep (it used to be dropped, so the logged answer failed against the model that gave it).
    auto c = s.post("/v1/chat/completions",
                    R"({"messages": [{"role": "user", "content": "Tell me"}], "max_tokens": 6,
                        "temperature": 0})")
                 .j();
    good_id = a["id"], bad_id = b["id"], chat_id = c["id"];
    CHECK(s.post("/v1/feedback", json{{"id", chat_id}, {"score", 0.9}}.dump()).status == 200);
    CHECK(good_id.rfind("cmpl-", 0) == 0);
    CHECK(s.post("/v1/feedback", json{{"id", good_id}, {"score", 1}, {"comment", "spot on"}}.dump())
              .status == 200);
    CHECK(s.post("/v1/feedback", json{{"id", bad_id}, {"score", 0}}.dump()).status == 200);
    CHECK(s.post("/v1/feedback", R"({"id": "cmpl-none", "score": 1})").status == 404);
    CHECK(s.post("/v1/feedback", json{{"id", good_id}}.dump()).status == 400);
    for (double out_of_range : {5.0, -1.0, 1.5}) {  // a score is a fraction: 0 bad .. 1 good
      auto r = s.post("/v1/feedback", json{{"id", good_id}, {"score", out_of_range}}.dump());
      CHECK(r.status == 400);
      CHECK_THAT(r.body, Catch::Contains("'score' must be between 0 and 1"));
    }
    // A client that leaves mid-stream: `head` exits after the first bytes, curl dies on its
    // next write, and the server ends the generation at its next token (logged as cancelled).
    sh("curl -sN " + s.url("/v1/completions") +
           " -d '{\"prompt\": \"Tell a long story\", \"max_tokens\": 120, \"ignore_eos\": true, "
           "\"stream\": true}' | head -c 10 > /dev/null",
       tmp.path());
    for (int i = 0;
         i < 100 && s.get("/metrics").body.find("xops_running_sequences 0") == std::string::npos;
         ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(s.stop() == 0);
  }
  auto all = run_xops({"eval", "--from-logs", "-o", "all.jsonl"}, proj);
  REQUIRE(all.rc == 0);
  auto lines = read_file(proj / "all.jsonl");
  CHECK(std::count(lines.begin(), lines.end(), '\n') == 5);
  auto last = json::parse(lines.substr(lines.rfind('\n', lines.size() - 2) + 1));
  CHECK(last["metadata"]["finish_reason"] == "cancelled");
  CHECK(last["metadata"]["params"]["max_tokens"] == 120);
  REQUIRE(
      run_xops({"eval", "--from-logs", "--min-score", "0.5", "--since", "1h", "-o", "good.jsonl"},
               proj)
          .rc == 0);
  auto good_lines = read_file(proj / "good.jsonl");
  REQUIRE(std::count(good_lines.begin(), good_lines.end(), '\n') == 2);
  auto good = json::parse(good_lines.substr(0, good_lines.find('\n')));
  auto chat = json::parse(good_lines.substr(good_lines.find('\n') + 1));
  if (good["metadata"]["interaction"] != good_id) std::swap(good, chat);
  CHECK(chat["metadata"]["interaction"] == chat_id);
  CHECK(chat["vars"]["prompt"] == "<|user|>\nTell me\n<|assistant|>\n");
  CHECK(chat["options"]["literal"] == true);
  CHECK(good["metadata"]["interaction"] == good_id);
  CHECK(good["metadata"]["comments"][0] == "spot on");
  CHECK(good["assert"][0]["type"] == "equals");
  CHECK(good["vars"]["prompt"] == "Once upon a time");
  CHECK(good["metadata"]["model_hash"].get<std::string>().size() == 64);
  REQUIRE(run_xops({"eval", "--from-logs", "--max-score", "0", "-o", "bad.jsonl"}, proj).rc == 0);
  auto bad = json::parse(read_file(proj / "bad.jsonl"));
  CHECK(bad["metadata"]["interaction"] == bad_id);
  CHECK(bad["assert"][0]["type"] == "not-equals");
  // The logged good answer is a regression case: the same model passes it again.
  atomic_write_file(proj / "from_logs.yaml",
                    "providers:\n  - id: " + model_dir() +
                        "\n    config: {max_tokens: 6}\nprompts: ['{{prompt}}']\n"
                        "tests: file://good.jsonl\n");
  auto r = run_xops({"--json", "eval", "from_logs.yaml", "--no-track"}, proj);
  INFO(r.out << r.err);
  REQUIRE(r.rc == 0);
  CHECK(json::parse(r.out)["passed"] == 2);  // the completion and the chat, replayed exactly
  CHECK(run_xops({"eval", "--from-logs", "--since", "yesterday", "-o", "x.jsonl"}, proj).rc == 2);
  CHECK(run_xops({"eval", "--from-logs"}, proj).rc == 2);
}

TEST_CASE("e2e: serve --watch follows a stage to a new version under load without a failed request",
          "[e2e][serve][promote]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  std::filesystem::create_directories(p / "models");
  std::filesystem::copy(shared_dir() / "golden/models/gpt2-tiny", p / "models/m",
                        std::filesystem::copy_options::recursive);
  atomic_write_file(
      p / "xops.yaml",
      "name: p\nstages: [dev, staging, prod]\nartifacts:\n  m: {path: models/m, type: model}\n");
  auto x = [&](const std::vector<std::string>& args) {
    auto r = run_xops(args, p);
    INFO(r.err);
    REQUIRE(r.rc == 0);
    return r;
  };
  x({"-q", "track", "add", "models/m"});
  REQUIRE(sh("git add -A && git commit -qm 'model v1'", p).rc == 0);
  x({"-q", "promote", "register", "m"});
  x({"-q", "promote", "m@v0.0.1", "--to", "prod"});
  const std::string prompt = "Once upon a time";
  auto ask = [&](const Server& s) {
    return s.post("/v1/completions",
                  json{{"prompt", prompt}, {"max_tokens", 6}, {"temperature", 0}}.dump());
  };
  Server s(tmp.path(), {"m#prod", "--watch", "--watch-interval", "0.2", "--no-log"}, {}, p);
  auto v1 = ask(s);
  REQUIRE(v1.status == 200);
  CHECK_THAT(s.get("/metrics").body, Catch::Contains("version=\"m@v0.0.1\""));

  // Version 2 (other weights), promoted while a client keeps asking.
  std::filesystem::remove_all(p / "models/m");
  std::filesystem::copy(shared_dir() / "golden/models/llama-tiny", p / "models/m",
                        std::filesystem::copy_options::recursive);
  x({"-q", "track", "add", "models/m"});
  REQUIRE(sh("git add -A && git commit -qm 'model v2'", p).rc == 0);
  x({"-q", "promote", "register", "m"});
  std::string load =
      "for i in $(seq 1 40); do curl -s -o /dev/null -w '%{http_code}\\n' " +
      s.url("/v1/completions") +
      " -d '{\"prompt\": \"Hi\", \"max_tokens\": 20, \"stream\": true}'; done > codes.txt";
  std::thread client([&] { sh(load, tmp.path()); });
  x({"-q", "promote", "m@v0.0.2", "--to", "prod"});
  bool moved = false;
  for (int i = 0; i < 300 && !moved; ++i) {
    moved = s.get("/metrics").body.find("version=\"m@v0.0.2\"") != std::string::npos;
    if (!moved) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  client.join();
  CHECK(moved);
  auto codes = read_file(tmp / "codes.txt");
  CHECK(std::count(codes.begin(), codes.end(), '\n') == 40);
  CHECK(codes.find_first_not_of("200\n") == std::string::npos);  // every request answered 200
  auto v2 = ask(s);
  REQUIRE(v2.status == 200);
  auto want = run_xops({"--json", "generate", "m#prod", "-n", "6"}, p, {}, prompt);
  REQUIRE(want.rc == 0);
  CHECK(v2.j()["choices"][0]["text"] == json::parse(want.out)["text"]);
  CHECK(v2.j()["choices"][0]["text"] != v1.j()["choices"][0]["text"]);
  CHECK_THAT(s.err(), Catch::Contains("m#prod moved to m@v0.0.2"));
  // /metrics counters live in the server, not in a loaded version: the swap resets none. Every
  // completion request is counted (1 + 40 + 1), each under the version that answered it.
  auto m = s.get("/metrics").body;
  INFO(m);
  double answered = 0;
  const std::string series = "xops_requests_total{route=\"/v1/completions\",status=\"200\",";
  for (size_t at = m.find(series); at != std::string::npos; at = m.find(series, at + 1))
    answered += std::stod(m.substr(m.find("} ", at) + 2));
  CHECK(answered == 42);
  CHECK_THAT(m, Catch::Contains(series + "version=\"m@v0.0.1\""));
  CHECK_THAT(m, Catch::Contains(series + "version=\"m@v0.0.2\""));
  CHECK_THAT(m, Catch::Contains("xops_generation_tokens_total{version=\"m@v0.0.1\""));
  CHECK(s.stop() == 0);
}

TEST_CASE("e2e: serve renders chat with the model's own chat_template", "[e2e][serve]") {
  TempDir tmp;
  auto m = tmp / "chatml";
  std::filesystem::copy(shared_dir() / "golden/models/gpt2-tiny", m,
                        std::filesystem::copy_options::recursive);
  auto cfg = json::parse(read_file(m / "tokenizer_config.json"));
  cfg["chat_template"] =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
      "message['content'] + "
      "'<|im_end|>\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' "
      "}}{% endif %}";
  atomic_write_file(m / "tokenizer_config.json", cfg.dump());
  Server s(tmp.path(), {m.string()});
  CHECK_THAT(s.err(), Catch::Contains("using the model's chat_template"));
  auto r = s.post("/v1/chat/completions",
                  json{{"messages", {{{"role", "user"}, {"content", "Hello there"}}}},
                       {"max_tokens", 5},
                       {"temperature", 0},
                       {"ignore_eos", true}}
                      .dump());
  REQUIRE(r.status == 200);
  auto want = run_xops({"--json", "generate", m.string(), "-n", "5", "--ignore-eos"}, tmp.path(),
                       {}, "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n");
  REQUIRE(want.rc == 0);
  CHECK(r.j()["choices"][0]["message"]["content"] == json::parse(want.out)["text"]);
  CHECK(r.j()["usage"]["prompt_tokens"] == json::parse(want.out)["prompt_ids"].size());
}

TEST_CASE(
    "e2e: serve --system-prompt puts a prompt artifact first in chats that bring no system message",
    "[e2e][serve]") {
  TempDir tmp;
  atomic_write_file(tmp / "sys.txt", "You are terse.");
  Server s(tmp.path(), {"--system-prompt", (tmp / "sys.txt").string()});
  auto chat = [&](const json& messages) {
    auto r = s.post(
        "/v1/chat/completions",
        json{{"messages", messages}, {"max_tokens", 4}, {"temperature", 0}, {"ignore_eos", true}}
            .dump());
    REQUIRE(r.status == 200);
    return r.j()["choices"][0]["message"]["content"].get<std::string>();
  };
  auto want = [&](const std::string& rendered) {
    auto r = run_xops({"--json", "generate", model_dir(), "-n", "4", "--ignore-eos"}, tmp.path(),
                      {}, rendered);
    REQUIRE(r.rc == 0);
    return json::parse(r.out)["text"].get<std::string>();
  };
  CHECK(chat({{{"role", "user"}, {"content", "Hi"}}}) ==
        want("<|system|>\nYou are terse.\n<|user|>\nHi\n<|assistant|>\n"));
  CHECK(chat({{{"role", "system"}, {"content", "Be kind."}},
              {{"role", "user"}, {"content", "Hi"}}}) ==
        want("<|system|>\nBe kind.\n<|user|>\nHi\n<|assistant|>\n"));
  auto missing = run_xops({"serve", model_dir(), "--system-prompt", "nope#prod"}, tmp.path());
  CHECK(missing.rc == 3);
}

TEST_CASE("e2e: serve --max-step-tokens chunks a long prompt and the answer is unchanged",
          "[e2e][serve]") {
  TempDir tmp;
  Server s(tmp.path(), {"--max-step-tokens", "16"});
  std::string prompt;
  for (int i = 0; i < 12; ++i) prompt += "The quick brown fox jumps over the lazy dog. ";
  auto want = generate_json(prompt, 5, {"--ignore-eos"});
  const size_t prompt_tokens = want["prompt_ids"].size();
  REQUIRE(prompt_tokens > 64);
  auto r = s.post(
      "/v1/completions",
      json{{"prompt", prompt}, {"max_tokens", 5}, {"temperature", 0}, {"ignore_eos", true}}.dump());
  REQUIRE(r.status == 200);
  CHECK(r.j()["choices"][0]["text"] == want["text"]);
  // The prompt took ceil(tokens / 16) steps: the flag is honoured, not just accepted.
  auto metrics = s.get("/metrics").body;
  auto at = metrics.find("\nxops_decoder_steps_total ");
  REQUIRE(at != std::string::npos);
  const auto steps = std::stoul(metrics.substr(at + 26));
  CHECK(steps >= (prompt_tokens + 15) / 16 + 4);
}

namespace {
uint64_t metric(const std::string& body, const std::string& name) {
  auto at = body.find("\n" + name + " ");
  REQUIRE(at != std::string::npos);
  return std::stoull(body.substr(at + name.size() + 2));
}
}  // namespace

TEST_CASE("e2e: serve reuses a shared prompt prefix and the answers are unchanged",
          "[e2e][serve]") {
  TempDir tmp;
  const std::string system = "You are a terse assistant who answers in one short sentence. ";
  auto ask = [&](Server& s, const std::string& q) {
    auto r = s.post(
        "/v1/completions",
        json{{"prompt", system + q}, {"max_tokens", 6}, {"temperature", 0}, {"ignore_eos", true}}
            .dump());
    REQUIRE(r.status == 200);
    return r.j()["choices"][0]["text"].get<std::string>();
  };
  Server s(tmp.path(), {});
  for (std::string q : {"Where is Paris?", "Where is Rome?", "Where is Paris?"}) {
    INFO(q);
    CHECK(ask(s, q) == generate_json(system + q, 6, {"--ignore-eos"})["text"]);
  }
  // The second request reuses the shared system text; the third all but its last token.
  const auto prompt = generate_json(system + "Where is Paris?", 1)["prompt_ids"].size();
  const auto reused = metric(s.get("/metrics").body, "xops_prompt_tokens_reused_total");
  CHECK(reused >= 10 + (prompt - 1));
  CHECK(reused < 2 * prompt);

  Server off(tmp.path(), {"--no-prefix-cache"});
  CHECK(ask(off, "Where is Rome?") == ask(off, "Where is Rome?"));
  CHECK(metric(off.get("/metrics").body, "xops_prompt_tokens_reused_total") == 0);
}
