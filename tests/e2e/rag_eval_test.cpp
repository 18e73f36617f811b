// RAG in eval suites (#30): a suite whose prompts take their facts from an index. The pass
// rate is 0 without retrieval and 1 when every chunk is retrieved; each case's recall@k, MRR
// and nDCG@k are worked out again here from the chunks it logged; the run records the index
// content it read; a retrieval written wrong is refused at its line.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kFacts[][2] = {{"apples", "zebra"},   {"pears", "violin"},  {"plums", "harbour"},
                           {"grapes", "lantern"}, {"lemons", "meadow"}, {"cherries", "anchor"}};

std::string suite(const std::string& context_var) {
  std::string s =
      "prompts:\n  - \"Facts: {{context}}\\nWhat is the code word for {{fruit}}?\"\nproviders:\n  "
      "- echo\ntests:\n";
  for (const auto& f : kFacts)
    s += std::string("  - vars:\n      fruit: ") + f[0] + "\n      context: " + context_var +
         "\n    assert:\n" + "      - type: contains\n        value: " + f[1] + "\n";
  return s;
}

}  // namespace

TEST_CASE("rag: the pass rate moves with retrieval, and retrieval metrics are right",
          "[e2e][eval][index]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  fs::copy(fs::path(XOPS_SOURCE_DIR) / "tests/fixtures/bert-tiny", p / "models/enc",
           fs::copy_options::recursive);
  fs::create_directories(p / "kb");
  std::string jsonl;
  for (const auto& f : kFacts)
    jsonl += std::string("{\"text\": \"The code word for ") + f[0] + " is " + f[1] +
             ".\", \"fruit\": \"" + f[0] + "\"}\n";
  write_text(p / "kb/facts.jsonl", jsonl);
  REQUIRE(run_xops({"-q", "index", "build", "kb", "--from", "kb", "--embedding", "models/enc",
                    "--chunk", "0"},
                   p)
              .rc == 0);

  // Without retrieval: the prompt has no facts.
  write_text(p / "evals/none.yaml", suite("\"\""));
  auto none = run_xops({"eval", "evals/none.yaml", "-o", "none.json", "--no-cache"}, p);
  REQUIRE(json::parse(read_text(p / "none.json"))["summary"]["pass_rate"] == 0.0);

  // Every chunk retrieved: every fact is in its prompt.
  write_text(p / "evals/all.yaml",
             suite("{retrieve: kb, query: \"code word for {{fruit}}\", k: 6}"));
  auto all = run_xops({"eval", "evals/all.yaml", "-o", "all.json", "--no-cache"}, p);
  INFO(all.err);
  auto aj = json::parse(read_text(p / "all.json"));
  CHECK(aj["summary"]["pass_rate"] == 1.0);
  CHECK(all.rc == 0);

  // Two chunks, with the fact's line labelled relevant: the metrics per case from its own log.
  write_text(
      p / "evals/two.yaml",
      suite(
          "{retrieve: kb, query: \"code word for {{fruit}}\", k: 2, relevant: [kb/facts.jsonl]}"));
  REQUIRE(run_xops({"eval", "evals/two.yaml", "-o", "two.json", "--no-cache"}, p).rc != 2);
  auto tj = json::parse(read_text(p / "two.json"));
  size_t checked = 0;
  for (const auto& c : tj["results"]) {
    REQUIRE(c["retrieval"].size() == 1);
    const auto& r = c["retrieval"][0];
    CHECK(r["var"] == "context");
    CHECK(r["index"] == "kb");
    CHECK(r["query"] == "code word for " + c["vars"]["fruit"].get<std::string>());
    REQUIRE(r["chunks"].size() == 2);
    // The one label (the file) is found at rank 1: every chunk comes from it.
    CHECK(c["named_scores"]["retrieval/recall@2"] == 1.0);
    CHECK(c["named_scores"]["retrieval/mrr"] == 1.0);
    CHECK(c["named_scores"]["retrieval/ndcg@2"] == 1.0);
    // The prompt holds exactly the two chunks' text, joined by a blank line.
    std::string facts;
    std::ifstream in(p / "indexes/kb/chunks.jsonl");
    std::map<uint64_t, std::string> text;
    for (std::string line; std::getline(in, line);) {
      auto ch = json::parse(line);
      text[ch["id"]] = ch["text"];
    }
    auto want = text[r["chunks"][0]["id"]] + "\n\n" + text[r["chunks"][1]["id"]];
    CHECK(c["vars"]["context"] == want);
    ++checked;
  }
  CHECK(checked == 6);

  // Labels by chunk id: the fact's own chunk; MRR is 1/rank where it appears, 0 where not.
  std::string s = "prompts:\n  - \"{{context}}\"\nproviders:\n  - echo\ntests:\n";
  for (size_t i = 0; i < 6; ++i)
    s += "  - vars:\n      context: {retrieve: kb, query: \"code word for " +
         std::string(kFacts[i][0]) + "\", k: 3, relevant: [" + std::to_string(i) + "]}\n";
  write_text(p / "evals/ids.yaml", s);
  REQUIRE(run_xops({"eval", "evals/ids.yaml", "-o", "ids.json", "--no-cache"}, p).rc == 0);
  auto ij = json::parse(read_text(p / "ids.json"));
  double mrr_sum = 0;
  for (const auto& c : ij["results"]) {
    uint64_t want = c["test"].get<uint64_t>();
    double mrr = 0, ndcg = 0;
    const auto& chunks = c["retrieval"][0]["chunks"];
    for (size_t r = 0; r < chunks.size(); ++r)
      if (chunks[r]["id"] == want) {
        mrr = 1.0 / double(r + 1);
        ndcg = 1.0 / std::log2(double(r) + 2.0);
        break;
      }
    CHECK(c["named_scores"]["retrieval/mrr"].get<double>() == Approx(mrr));
    CHECK(c["named_scores"]["retrieval/ndcg@3"].get<double>() == Approx(ndcg));
    CHECK(c["named_scores"]["retrieval/recall@3"].get<double>() == (mrr > 0 ? 1.0 : 0.0));
    mrr_sum += mrr;
  }
  CHECK(ij["summary"]["metrics"]["retrieval/mrr"].get<double>() == Approx(mrr_sum / 6));

  // The tracked run lists the index content it read.
  auto runs =
      json::parse(run_xops({"--json", "track", "runs", "--filter", "kind = 'eval'"}, p).out);
  REQUIRE(!runs.empty());
  auto show = json::parse(run_xops({"--json", "track", "show", runs[0]["id"]}, p).out);
  CHECK(show.dump().find("index:kb") != std::string::npos);

  // A retrieval written wrong: refused at its line, nothing run.
  write_text(p / "evals/bad.yaml",
             "prompts: ['{{context}}']\nproviders: [echo]\ntests:\n  - vars:\n"
             "      context: {retrieve: kb, query: q, top_k: 3}\n");
  auto bad = run_xops({"eval", "evals/bad.yaml"}, p);
  CHECK(bad.rc == 1);  // as every error in a suite file
  CHECK_THAT(bad.err, Catch::Contains("bad.yaml:5:16"));
  CHECK_THAT(bad.err, Catch::Contains("unknown key 'top_k'"));
  // An index that is not there stops the run (exit 3), it does not fail cases one by one.
  write_text(p / "evals/missing.yaml",
             "prompts: ['{{context}}']\nproviders: [echo]\ntests:\n  - vars:\n"
             "      context: {retrieve: nope, query: q}\n");
  CHECK(run_xops({"eval", "evals/missing.yaml"}, p).rc == 3);
}
