// `xops index` through the binary (#30): build from files and JSONL with the BERT fixture,
// self-retrieval and score order, a deterministic content hash, incremental add/replace/rm,
// metadata filters, and the index as an artifact: registered, promoted, queried by NAME#stage,
// pushed to the S3 remote and pulled into a fresh clone that answers the same.
#include <unistd.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"
#include "tests/support/services.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const fs::path kEncoder = fs::path(XOPS_SOURCE_DIR) / "tests/fixtures/bert-tiny";

struct IndexProject {
  TempDir tmp;
  fs::path p;
  std::map<std::string, std::string> env;
  ProcResult x(const std::vector<std::string>& args) const { return run_xops(args, p, env); }
  json j(const std::vector<std::string>& args) const {
    auto r = x(args);
    INFO(r.err);
    REQUIRE(r.rc == 0);
    return json::parse(r.out);
  }
};

void make_project(IndexProject& ip, const std::string& remote_yaml = "") {
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, ip.tmp.path()).rc ==
          0);
  ip.p = ip.tmp / "p";
  fs::copy(kEncoder, ip.p / "models/enc", fs::copy_options::recursive);
  fs::create_directories(ip.p / "docs");
  write_text(ip.p / "docs/bennet.txt",
             "Mr. Bennet was among the earliest of those who waited on Mr. Bingley. He had always "
             "intended to "
             "visit him, though to the last always assuring his wife that he should not go.");
  write_text(ip.p / "docs/weather.md",
             "# Weather\n\nRain is expected in the north tomorrow, with snow on high ground.");
  write_text(
      ip.p / "docs/faq.jsonl",
      "{\"text\": \"Refunds are paid within fourteen days.\", \"lang\": \"en\"}\n"
      "{\"text\": \"Les remboursements sont payes sous quatorze jours.\", \"lang\": \"fr\"}\n");
  write_text(
      ip.p / "xops.yaml",
      "name: p\nstages: [dev, staging, prod]\nartifacts:\n  enc: {path: models/enc, type: model}\n"
      "  docs-index: {path: indexes/docs, type: index}\n" +
          remote_yaml);
  REQUIRE(ip.x({"-q", "track", "add", "models/enc"}).rc == 0);
  REQUIRE(sh("git add -A && git commit -qm 'encoder and docs'", ip.p).rc == 0);
}

std::vector<std::string> sources_of(const json& q) {
  std::vector<std::string> out;
  for (const auto& h : q["hits"]) out.push_back(h["source"]);
  return out;
}

}  // namespace

TEST_CASE("index: build, self-retrieval, a deterministic content hash, add, replace, rm, filters",
          "[e2e][index]") {
  IndexProject ip;
  make_project(ip);
  auto b = ip.j({"--json", "index", "build", "docs-index", "--from", "docs", "--embedding", "enc",
                 "--chunk", "12", "--overlap", "3"});
  CHECK(b["sources_indexed"] == 3);
  CHECK(b["search"] == "exact");
  CHECK(b["run"].is_string());
  CHECK(b["stored_sha256"].is_string());
  CHECK(fs::exists(ip.p / "indexes/docs.xops"));
  size_t chunks = b["chunks"];
  auto info = ip.j({"--json", "index", "info", "docs-index"});
  size_t per_source = 0;
  for (const auto& s : info["sources"]) per_source += s["chunks"].get<size_t>();
  CHECK(per_source == chunks);
  CHECK(info["embedding"]["dims"] == 32);
  CHECK(info["chunking"]["size"] == 12);

  // Every chunk finds itself first (identical text, identical vector), scores descending.
  std::vector<json> all;
  {
    std::ifstream in(ip.p / "indexes/docs/chunks.jsonl");
    std::string line;
    while (std::getline(in, line)) all.push_back(json::parse(line));
  }
  REQUIRE(all.size() == chunks);
  for (const auto& c : all) {
    auto q = ip.j({"--json", "index", "query", "docs-index", c["text"], "-k", "3"});
    REQUIRE(q["hits"].size() == std::min<size_t>(3, chunks));
    CHECK(q["hits"][0]["id"] == c["id"]);
    CHECK(q["hits"][0]["score"].get<double>() == Approx(1.0).margin(1e-4));
    for (size_t i = 1; i < q["hits"].size(); ++i)
      CHECK(q["hits"][i - 1]["score"].get<double>() >= q["hits"][i]["score"].get<double>());
    // The offsets point at the text in its source (a text file: the whole file).
    if (c["source"] == "docs/bennet.txt") {
      auto src = read_text(ip.p / "docs/bennet.txt");
      CHECK(src.substr(c["start"], c["end"].get<size_t>() - c["start"].get<size_t>()) == c["text"]);
    }
  }

  // The same input builds the same content.
  auto again = ip.j({"--json", "index", "build", "docs-index", "--from", "docs", "--embedding",
                     "enc", "--chunk", "12", "--overlap", "3"});
  CHECK(again["content_sha256"] == b["content_sha256"]);

  // Metadata filters: only French lines.
  auto fr =
      ip.j({"--json", "index", "query", "docs-index", "refunds", "-k", "10", "--where", "lang=fr"});
  REQUIRE(!fr["hits"].empty());
  for (const auto& h : fr["hits"]) {
    CHECK(h["meta"]["lang"] == "fr");
    CHECK(h["meta"]["line"] == 2);
  }

  // add: nothing changed -> nothing embedded; one file changed -> its chunks replaced.
  auto same = ip.j({"--json", "index", "add", "docs-index", "--from", "docs"});
  CHECK(same["sources_unchanged"] == 3);
  CHECK(same["chunks_added"] == 0);
  CHECK(same["content_sha256"] == b["content_sha256"]);
  write_text(ip.p / "docs/weather.md", "# Weather\n\nSunshine everywhere.");
  write_text(ip.p / "docs/new.txt", "A brand new page about trains and timetables.");
  auto upd = ip.j({"--json", "index", "add", "docs-index", "--from", "docs"});
  CHECK(upd["sources_indexed"] == 2);
  CHECK(upd["sources_unchanged"] == 2);
  CHECK(upd["chunks_removed"].get<size_t>() >= 1);
  CHECK(upd["content_sha256"] != b["content_sha256"]);
  std::string weather;
  {
    std::ifstream in(ip.p / "indexes/docs/chunks.jsonl");
    std::string line;
    while (std::getline(in, line))
      if (auto c = json::parse(line); c["source"] == "docs/weather.md")
        weather += c["text"].get<std::string>() + "|";
  }
  CHECK_THAT(weather, Catch::Contains("Sunshine"));
  CHECK_THAT(weather, !Catch::Contains("Rain"));
  // rm: the source's chunks are gone from every answer.
  auto rm = ip.j({"--json", "index", "rm", "docs-index", "--source", "docs/bennet.txt"});
  CHECK(rm["chunks_removed"].get<size_t>() >= 1);
  auto q = ip.j({"--json", "index", "query", "docs-index", all[0]["text"], "-k", "50"});
  for (const auto& s : sources_of(q)) CHECK(s != "docs/bennet.txt");
  CHECK(ip.x({"index", "rm", "docs-index", "--source", "docs/nope.txt"}).rc == 2);

  // Adding with another embedding model, or asking for more tokens than the encoder reads: refused.
  auto other =
      ip.x({"index", "add", "docs-index", "--from", "docs", "--embedding", "models/other"});
  CHECK(other.rc == 2);
  auto too_long =
      ip.x({"index", "build", "x", "--from", "docs", "--embedding", "enc", "--chunk", "500"});
  CHECK(too_long.rc == 2);
  CHECK_THAT(too_long.err, Catch::Contains("--chunk 22 or fewer"));
  // An index never overwrites a model that shares its name, nor a path that is not an index.
  auto clash = ip.x({"index", "build", "enc", "--from", "docs", "--embedding", "enc"});
  CHECK(clash.rc == 2);
  CHECK_THAT(clash.err, Catch::Contains("'enc' is a model artifact (models/enc), not an index"));
  CHECK(fs::exists(ip.p / "models/enc/config.json"));
  auto over = ip.x({"index", "build", "docs/bennet.txt", "--from", "docs", "--embedding", "enc"});
  CHECK(over.rc == 3);
  CHECK(fs::is_regular_file(ip.p / "docs/bennet.txt"));
}

TEST_CASE("index: a changed encoder or a damaged index is refused with a clear error",
          "[e2e][index]") {
  IndexProject ip;
  make_project(ip);
  REQUIRE(
      ip.x({"-q", "index", "build", "docs-index", "--from", "docs", "--embedding", "models/enc"})
          .rc == 0);
  // The encoder's weights change under the same path: its vectors no longer match the index.
  auto cfg = read_text(ip.p / "models/enc/1_Pooling/config.json");
  write_text(ip.p / "models/enc/1_Pooling/config.json",
             R"({"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false})");
  auto changed = ip.x({"index", "query", "docs-index", "hello"});
  CHECK(changed.rc == 3);
  CHECK_THAT(changed.err, Catch::Contains("was embedded by 'models/enc'"));
  write_text(ip.p / "models/enc/1_Pooling/config.json", cfg);
  REQUIRE(ip.x({"index", "query", "docs-index", "hello"}).rc == 0);
  // A chunk line removed: counts disagree.
  auto chunks = read_text(ip.p / "indexes/docs/chunks.jsonl");
  write_text(ip.p / "indexes/docs/chunks.jsonl", chunks.substr(chunks.find('\n') + 1));
  auto damaged = ip.x({"index", "query", "docs-index", "hello"});
  CHECK(damaged.rc == 1);
  CHECK_THAT(damaged.err, Catch::Contains("chunks but"));
  CHECK_THAT(damaged.err, Catch::Contains("rebuild the index"));
}

TEST_CASE("index: registered, promoted, queried by stage, pushed to S3 and pulled into a clone",
          "[e2e][index][s3]") {
  auto endpoint = s3_endpoint();
  if (endpoint.empty()) return;
  IndexProject ip;
  auto prefix = "index-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand());
  ip.env = {{"AWS_ACCESS_KEY_ID", "S3RVER"},
            {"AWS_SECRET_ACCESS_KEY", "S3RVER"},
            {"AWS_DEFAULT_REGION", "us-east-1"},
            {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"},
            {"AWS_CONFIG_FILE", "/nonexistent"}};
  make_project(ip, "remotes:\n  team:\n    url: s3://xops-test/" + prefix +
                       "\n    endpoint_url: " + endpoint + "\n    default: true\n");
  REQUIRE(ip.x({"-q", "index", "build", "docs-index", "--from", "docs", "--embedding", "enc",
                "--chunk", "12"})
              .rc == 0);
  REQUIRE(sh("git add -A && git commit -qm 'the index'", ip.p).rc == 0);
  REQUIRE(ip.x({"-q", "promote", "register", "enc"}).rc == 0);
  REQUIRE(ip.x({"-q", "promote", "register", "docs-index"}).rc == 0);
  auto pr = ip.j({"--json", "promote", "docs-index@v0.0.1", "--to", "staging"});
  CHECK(pr["tag"] == "docs-index#staging#1");
  auto want =
      ip.j({"--json", "index", "query", "docs-index#staging", "Refunds are paid", "-k", "3"});
  CHECK(want["version"] == "docs-index@v0.0.1");
  REQUIRE(ip.x({"-q", "track", "push"}).rc == 0);

  // A fresh clone has only pointers: pull, then the staged index answers the same.
  REQUIRE(sh("git clone -q p clone && cd clone && git fetch -q --tags", ip.tmp.path()).rc == 0);
  IndexProject c2;
  c2.p = ip.tmp / "clone";
  c2.env = ip.env;
  REQUIRE(c2.x({"-q", "track", "pull"}).rc == 0);
  auto got =
      c2.j({"--json", "index", "query", "docs-index#staging", "Refunds are paid", "-k", "3"});
  CHECK(got["hits"] == want["hits"]);
  CHECK(got["content_sha256"] == want["content_sha256"]);
}
