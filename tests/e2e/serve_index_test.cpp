// serve --index and --embedding (#30): a chat request that asks for retrieval gets the
// index's chunks first in its context, returns them, and the interaction log keeps their ids;
// filters narrow them; /v1/embeddings answers with the sentence encoder's vectors (equal to
// the numpy reference); a server without an index refuses retrieval.
#include <catch2/catch.hpp>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/tracking/interaction_log.hpp"
#include "tests/support/process.hpp"
#include "tests/support/project_db.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/xops_server.hpp"

using namespace xops;
using namespace xops::test;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("e2e: serve --index puts retrieved chunks in the context and logs them",
          "[e2e][serve][index]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  fs::copy(fs::path(XOPS_SOURCE_DIR) / "tests/fixtures/bert-tiny", p / "models/enc",
           fs::copy_options::recursive);
  fs::create_directories(p / "kb");
  write_text(p / "kb/facts.jsonl",
             "{\"text\": \"The code word for apples is zebra.\", \"fruit\": \"apples\"}\n"
             "{\"text\": \"The code word for pears is violin.\", \"fruit\": \"pears\"}\n"
             "{\"text\": \"The code word for plums is harbour.\", \"fruit\": \"plums\"}\n");
  REQUIRE(run_xops({"-q", "index", "build", "kb", "--from", "kb", "--embedding", "models/enc",
                    "--chunk", "0"},
                   p)
              .rc == 0);
  auto content = json::parse(run_xops({"--json", "index", "info", "kb"}, p).out)["content_sha256"];

  std::string with_id;
  json with_chunks;
  {
    Server s(tmp.path(), {"--index", "kb", "--embedding", "models/enc"}, {}, p);
    auto ask = [&](const json& extra) {
      json body = {
          {"messages", {{{"role", "user"}, {"content", "what is the code word for apples?"}}}},
          {"max_tokens", 3},
          {"temperature", 0}};
      for (auto& [k, v] : extra.items()) body[k] = v;
      return s.post("/v1/chat/completions", body.dump());
    };
    auto plain = ask(json::object());
    REQUIRE(plain.status == 200);
    CHECK_FALSE(plain.j().contains("retrieval"));
    auto with = ask({{"retrieval", {{"k", 2}}}});
    INFO(with.body);
    REQUIRE(with.status == 200);
    auto r = with.j()["retrieval"];
    CHECK(r["index"] == "kb");
    CHECK(r["content_sha256"] == content);
    CHECK(r["query"] == "what is the code word for apples?");
    REQUIRE(r["chunks"].size() == 2);
    CHECK(r["chunks"][0]["score"].get<double>() >= r["chunks"][1]["score"].get<double>());
    // The context costs prompt tokens: the two facts are in it.
    CHECK(with.j()["usage"]["prompt_tokens"].get<int>() >
          plain.j()["usage"]["prompt_tokens"].get<int>() + 10);
    with_id = with.j()["id"];
    with_chunks = r["chunks"];
    // A filter: only the pears line can be retrieved.
    auto pears =
        ask({{"retrieval", {{"k", 3}, {"where", {{"fruit", "pears"}}}, {"query", "anything"}}}});
    REQUIRE(pears.status == 200);
    REQUIRE(pears.j()["retrieval"]["chunks"].size() == 1);
    CHECK(pears.j()["retrieval"]["chunks"][0]["source"] == "kb/facts.jsonl");
    CHECK(pears.j()["retrieval"]["query"] == "anything");
    // Refused: retrieval on completions, unknown fields, k out of range.
    CHECK(s.post("/v1/completions", R"({"prompt": "x", "retrieval": true})").status == 400);
    CHECK(ask({{"retrieval", {{"top_k", 2}}}}).status == 400);
    CHECK(ask({{"retrieval", {{"k", 0}}}}).status == 400);
    CHECK(ask({{"retrieval", "yes"}}).status == 400);

    // /v1/embeddings by the encoder's name: the numpy reference's vector for the same text.
    auto expected = json::parse(
        read_text(fs::path(XOPS_SOURCE_DIR) / "tests/compat/bert/embeddings_expected.json"));
    auto e = s.post(
        "/v1/embeddings",
        json{{"model", "enc"}, {"input", {expected[0]["text"], expected[4]["text"]}}}.dump());
    REQUIRE(e.status == 200);
    CHECK(e.j()["model"] == "enc");
    for (int i = 0; i < 2; ++i) {
      auto got = e.j()["data"][i]["embedding"].get<std::vector<double>>();
      auto want = expected[i == 0 ? 0 : 4]["mean_normalized"].get<std::vector<double>>();
      REQUIRE(got.size() == want.size());
      double diff = 0;
      for (size_t k = 0; k < got.size(); ++k) diff = std::max(diff, std::abs(got[k] - want[k]));
      CHECK(diff < 1e-5);
    }
    auto models = s.get("/v1/models").j();
    bool listed = false;
    for (const auto& m : models["data"]) listed |= m["id"] == "enc";
    CHECK(listed);
    // An input longer than the encoder reads is refused, not cut.
    std::string longtext;
    for (int i = 0; i < 40; ++i) longtext += "word ";
    CHECK(s.post("/v1/embeddings", json{{"model", "enc"}, {"input", longtext}}.dump()).status ==
          400);
  }
  // The log: the retrieved chunk ids with the interaction, the context in its prompt.
  auto db = project_db(p);
  bool found = false;
  for (const auto& l : read_interactions(db, 0, false)) {
    if (l.interaction.id != with_id) continue;
    found = true;
    auto logged = json::parse(l.interaction.retrieval);
    CHECK(logged["chunks"] == with_chunks);
    CHECK(logged["index"] == "kb");
    CHECK(l.interaction.prompt.find("Use the following context") != std::string::npos);
  }
  CHECK(found);

  // No index: retrieval is refused with its own code.
  Server bare(tmp.path(), {}, {}, p);
  auto refused = bare.post(
      "/v1/chat/completions",
      R"({"messages": [{"role": "user", "content": "hi"}], "retrieval": true, "max_tokens": 1})");
  CHECK(refused.status == 400);
  CHECK(refused.j()["error"]["code"] == "retrieval_unavailable");
}
