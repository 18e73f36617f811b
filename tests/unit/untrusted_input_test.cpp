// Attacks through files someone else wrote: model directories, configs, suites, the filter
// language, pointers and manifests. Each must be refused with an xops Error that names the
// file (and key), before anything large is allocated; none may crash or hang.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <thread>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/finetune/finetune_config.hpp"
#include "core/model/adapter_config.hpp"
#include "core/model/model_config.hpp"
#include "core/model/tokenizer.hpp"
#include "core/store/file_copy.hpp"
#include "core/store/pointer.hpp"
#include "core/store/sha256.hpp"
#include "core/tracking/filter.hpp"
#include "core/tracking/tracker.hpp"
#include "core/util/fs.hpp"
#include "core/util/parallel.hpp"
#include "core/util/redact.hpp"
#include "core/util/safe_path.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

// A valid small byte-level tokenizer.json (256 byte tokens, one merge, one special).
nlohmann::json small_tokenizer() {
  test::TempDir tmp;
  Tokenizer::byte_level({"<|endoftext|>"}).save(tmp.path());
  return nlohmann::json::parse(read_file(tmp / "tokenizer.json"));
}

std::string tokenizer_error(const nlohmann::json& j) {
  test::TempDir tmp;
  test::write_text(tmp / "tokenizer.json", j.dump());
  try {
    auto t = Tokenizer::from_tokenizer_json(tmp / "tokenizer.json");
    t.encode("hello <|endoftext|>", true);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string config_error(const std::string& text) {
  try {
    parse_model_config(text, "m/config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("untrusted tokenizer.json: ids are bounded before anything is sized by them",
          "[untrusted][tokenizer]") {
  auto base = small_tokenizer();
  REQUIRE(tokenizer_error(base).empty());
  // Before: an id of -1 corrupted the heap (SIGSEGV); 100,000,000 allocated 6.4 GB first.
  auto neg = base;
  neg["model"]["vocab"]["!"] = -1;
  CHECK_THAT(tokenizer_error(neg), Contains("tokenizer.json") && Contains("-1"));
  auto huge = base;
  huge["model"]["vocab"]["!"] = 100000000;
  CHECK_THAT(tokenizer_error(huge), Contains("100000000"));
  auto added_neg = base;
  added_neg["added_tokens"][0]["id"] = -1;
  CHECK_THAT(tokenizer_error(added_neg), Contains("added_tokens[0]"));
  // An empty added token looped (with specials parsed) until memory ran out.
  auto empty = base;
  empty["added_tokens"][0]["content"] = "";
  CHECK_THAT(tokenizer_error(empty), Contains("empty content"));
  // merges: null was silently accepted.
  auto null_merges = base;
  null_merges["model"]["merges"] = nullptr;
  CHECK_THAT(tokenizer_error(null_merges), Contains("model.merges must be a list"));
  auto bad_types = base;
  bad_types["model"]["vocab"]["!"] = "one";
  CHECK_THAT(tokenizer_error(bad_types), Contains("not an integer id"));
  auto not_obj = base;
  not_obj["model"] = 3;
  CHECK_THAT(tokenizer_error(not_obj), Contains("tokenizer.json"));
}

TEST_CASE("untrusted vocab.json + merges.txt: negative ids and missing merges",
          "[untrusted][tokenizer]") {
  test::TempDir tmp;
  nlohmann::json vocab = nlohmann::json::object();
  auto byte_tok = small_tokenizer()["model"]["vocab"];
  for (auto& [k, v] : byte_tok.items()) vocab[k] = v;
  for (int i = 0; i < 400; ++i) vocab["tok" + std::to_string(i)] = 300 + i;  // more than bytes
  test::write_text(tmp / "merges.txt", "#version: 0.2\n");
  test::write_text(tmp / "vocab.json", vocab.dump());
  // An empty merges.txt beside a 600-token vocabulary was accepted (every text became bytes).
  CHECK_THROWS_WITH(Tokenizer::from_files(tmp / "vocab.json", tmp / "merges.txt"),
                    Contains("no merges"));
  vocab["!"] = -1;
  test::write_text(tmp / "vocab.json", vocab.dump());
  CHECK_THROWS_WITH(Tokenizer::from_files(tmp / "vocab.json", tmp / "merges.txt"), Contains("-1"));
  test::write_text(tmp / "vocab.json", "[1, 2]");
  CHECK_THROWS_WITH(Tokenizer::from_files(tmp / "vocab.json", tmp / "merges.txt"),
                    Contains("vocab.json"));
}

TEST_CASE("untrusted config.json: sizes bounded, values validated with file and key",
          "[untrusted][model]") {
  const std::string ok =
      R"({"architectures": ["GPT2LMHeadModel"], "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 300})";
  REQUIRE(config_error(ok).empty());
  auto with = [&](const std::string& key, const std::string& value) {
    auto j = nlohmann::json::parse(ok);
    j[key] = nlohmann::json::parse(value);
    return config_error(j.dump());
  };
  CHECK_THAT(with("n_layer", "1000000"),
             Contains("m/config.json") && Contains("'n_layer'"));  // 24 GB RSS before
  CHECK_THAT(with("n_embd", "0"), Contains("'n_embd' is 0"));
  CHECK_THAT(with("n_embd", "4294967328"), Contains("4294967328"));  // wrapped to 32 before
  CHECK_THAT(with("n_head", "-4"), Contains("'n_head' is -4"));      // a LibTorch backtrace before
  CHECK_THAT(with("vocab_size", "1e9"), Contains("'vocab_size' must be an integer"));
  CHECK_THAT(with("layer_norm_epsilon", "\"small\""),
             Contains("m/config.json") && Contains("layer_norm_epsilon"));
  CHECK_THAT(with("tie_word_embeddings", "\"yes\""), Contains("tie_word_embeddings"));
  CHECK_THAT(with("eos_token_id", "-5"), Contains("eos_token_id"));
  CHECK_THAT(config_error("[1,2]"), Contains("m/config.json"));
  CHECK_THAT(config_error("{\"architectures\": [3]}"), Contains("m/config.json"));
  CHECK(config_error(ok + "x").find("m/config.json") == 0);
}

TEST_CASE("untrusted adapter_config.json: r bounded and typed", "[untrusted][model]") {
  CHECK(parse_adapter_config(R"({"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"]})", "a")
            .r == 8);
  CHECK_THROWS_WITH(
      parse_adapter_config(R"({"peft_type": "LORA", "r": 20000000})", "a/adapter_config.json"),
      Contains("a/adapter_config.json") && Contains("20000000"));
  CHECK_THROWS_WITH(parse_adapter_config(R"({"peft_type": "LORA", "r": "8"})", "a"),
                    Contains("'r' must be an integer"));
  CHECK_THROWS_WITH(
      parse_adapter_config(R"({"peft_type": "LORA", "r": 8, "target_modules": [1]})", "a"),
      Contains("target_modules"));
  CHECK_THROWS_AS(parse_adapter_config(R"({"peft_type": "PREFIX"})", "a"), Error);
}

TEST_CASE("untrusted finetune config: sizes bounded, --set errors name the argument",
          "[untrusted][finetune]") {
  const std::string base = "model: {path: m}\ndata: {train: t.jsonl}\nmax_steps: 1\noutput: o\n";
  std::vector<std::string> w;
  CHECK_NOTHROW(parse_finetune_config(base, "f.yaml", {}, &w));
  // --set data.seq_len=50000000 reached 16 GB, then std::bad_alloc.
  CHECK_THROWS_WITH(parse_finetune_config(base, "f.yaml", {"data.seq_len=50000000"}, &w),
                    Contains("--set data.seq_len=50000000:") && !Contains("f.yaml:1:1"));
  // An unknown key typed on the command line is a usage error (2), not a warning.
  try {
    parse_finetune_config(base, "f.yaml", {"data.seqlen=5"}, &w);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK_THAT(std::string(e.what()), Contains("did you mean 'seq_len'"));
  }
  CHECK_THROWS_WITH(parse_finetune_config(base + "lora: {r: 20000000}\n", "f.yaml", {}, &w),
                    Contains("lora.r"));
  CHECK_THROWS_WITH(parse_finetune_config(
                        "model: {init: {d_model: 0}}\ndata: {train: t}\nmax_steps: 1\noutput: o\n",
                        "f.yaml", {}, &w),
                    Contains("model.init.d_model"));
  CHECK_THROWS_WITH(parse_finetune_config(base + "batch_size: 1e12\n", "f.yaml", {}, &w),
                    Contains("batch_size"));
  CHECK_THROWS_WITH(parse_finetune_config(base + "grad_clip: .nan\n", "f.yaml", {}, &w),
                    Contains("grad_clip"));
}

TEST_CASE("untrusted filter: nesting and length are bounded", "[untrusted][tracking]") {
  // 10,000 parentheses overflowed the parser's stack (SIGSEGV).
  std::string deep = std::string(10000, '(') + "metrics.a > 1" + std::string(10000, ')');
  CHECK_THROWS_WITH(compile_filter(deep), Contains("deeper than"));
  std::string nots;
  for (int i = 0; i < 10000; ++i) nots += "not ";
  CHECK_THROWS_WITH(compile_filter(nots + "metrics.a > 1"), Contains("deeper than"));
  std::string wide = "metrics.a > 1";
  for (int i = 0; i < 5000; ++i) wide += " and metrics.a > 1";
  CHECK_THROWS_WITH(compile_filter(wide), Contains("terms"));
  CHECK_NOTHROW(compile_filter("((metrics.a > 1) and not (params.b = 'x'))"));
}

TEST_CASE("tracker: a NaN or infinite metric never loses the run", "[untrusted][tracking]") {
  test::TempDir tmp;
  Tracker t(tmp / "x.db");
  auto id = t.start_run(RunStart{}, nullptr);
  {
    MetricLogger log(t, id, 2);
    log.log("loss", 1.0, 0);
    log.log("loss", std::numeric_limits<double>::quiet_NaN(), 1);  // a diverging run
    log.log("grad", std::numeric_limits<double>::infinity(), 1);
    log.flush();  // failed before (SQLite stores NaN as NULL into a NOT NULL column)
  }
  t.finish_run(id, "finished", 0);
  auto r = t.get(id);
  CHECK(r.status == "finished");
  auto s = t.series(id, "loss");
  REQUIRE(s.size() == 2);
  CHECK(s[0].second == 1.0);
  CHECK(std::isnan(s[1].second));
  CHECK(std::isinf(t.series(id, "grad")[0].second));
}

TEST_CASE("the untrusted-path rule", "[untrusted][track]") {
  for (const char* ok :
       {"a", "data/x.bin", "a b/ü", ".gitignore", "x..y", "..a", "dir/.github/w.yml"})
    CHECK(unsafe_path_reason(ok).empty());
  for (const char* bad :
       {"", "/etc/passwd", "..", "a/../b", "a//b", "./a", "a/.", ".git", ".git/hooks/x",
        "sub/.git/config", ".GIT/x", ".xops", ".xops/objects/ab", "a/"})
    CHECK_FALSE(unsafe_path_reason(bad).empty());
  CHECK_FALSE(unsafe_path_reason(std::string("a\0b", 3)).empty());
  CHECK_THROWS_WITH(require_safe_path("../up", "the pointer x.xops"),
                    Contains("'..'") && Contains("x.xops"));
}

TEST_CASE("untrusted manifests and pointers: unsafe entries are refused", "[untrusted][track]") {
  auto entry = [](const std::string& path) {
    return nlohmann::json(
               {{"version", 1},
                {"files", {{{"path", path}, {"sha256", std::string(64, 'a')}, {"size", 1}}}}})
        .dump();
  };
  CHECK_NOTHROW(parse_manifest(entry("a/b"), "id"));
  for (const char* bad : {"../x", "hooks/../../x", ".git/hooks/post-merge", "/abs", "a//b", ""})
    CHECK_THROWS_WITH(parse_manifest(entry(bad), "0123456789abcdef"), Contains("0123456789ab"));
  CHECK_THROWS_AS(parse_manifest("{\"files\": 3}", "id"), Error);
  CHECK_THROWS_AS(
      parse_pointer("sha256: " + std::string(64, 'a') + "\nsize: 1\nfiles: -3\n", "p.xops"), Error);
}

TEST_CASE("SafeRoot never follows a symlink", "[untrusted][track]") {
  test::TempDir tmp;
  fs::create_directories(tmp / "ws/d");
  fs::create_directories(tmp / "out");
  test::write_text(tmp / "out/secret", "s");
  test::write_text(tmp / "ws/d/f", "f");
  fs::create_directory_symlink(tmp / "out", tmp / "ws/link");
  fs::create_symlink(tmp / "out/secret", tmp / "ws/d/l");
  SafeRoot root(tmp / "ws");
  CHECK(root.kind("d/f") == EntryKind::Regular);
  CHECK(root.kind("d/l") == EntryKind::Symlink);
  CHECK(root.kind("link") == EntryKind::Symlink);
  CHECK_THROWS_WITH(root.kind("link/secret"), Contains("symlink"));
  CHECK_THROWS_WITH(root.open_regular("d/l"), Contains("symlink"));
  CHECK_THROWS_WITH(root.open_dir("link/x", true), Contains("symlink"));
  CHECK_FALSE(fs::exists(tmp / "out/x"));
  CHECK(root.remove("d/l"));  // the link goes, its target stays
  CHECK(fs::exists(tmp / "out/secret"));
  CHECK_THROWS_WITH(root.open_regular("../out/secret"), Contains("'..'"));
  CHECK(root.open_regular("d/missing").get() < 0);
}

TEST_CASE("secrets are redacted", "[untrusted][eval]") {
  CHECK(redact("Bearer sk-abc123 failed", {"sk-abc123"}) == "Bearer *** failed");
  CHECK(redact("http://user:pw@host:1/v1: refused") == "http://***@host:1/v1: refused");
  CHECK(redact("see https://example.com/a@b") == "see https://example.com/a@b");
  CHECK(url_origin("HTTPS://API.openai.com/v1") == "https://api.openai.com:443");
  CHECK(url_origin("http://u:p@127.0.0.1:8080/x") == "http://127.0.0.1:8080");
  CHECK(url_origin("ftp://x").empty());
}

TEST_CASE("parallel_for survives threads that cannot be created", "[untrusted]") {
  // Before: std::system_error from std::thread, then std::terminate (abort) with threads
  // still joinable. An address-space limit makes thread stacks fail to map.
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    long pages = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
      std::fclose(f);
    }
    rlimit lim{};
    lim.rlim_cur = lim.rlim_max = static_cast<rlim_t>(pages) * 4096 + (48u << 20);
    ::setrlimit(RLIMIT_AS, &lim);
    std::atomic<int> done{0};
    parallel_for(10000, 64, [&](size_t) { ++done; });
    ::_exit(done == 10000 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("copy_and_hash hashes exactly the bytes it writes, even while the source changes",
          "[untrusted][track]") {
  // Before: objects of 8 MiB and more were copied by one thread and hashed by another read,
  // so a remote file rewritten during `pull` could be stored under another content's hash.
  test::TempDir tmp;
  const size_t size = 24u << 20;
  test::write_text(tmp / "src", std::string(size, 'a'));
  int src = ::open((tmp / "src").c_str(), O_RDWR);
  REQUIRE(src >= 0);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::string chunk(1 << 16, 'b');
    uint64_t k = 0;
    while (!stop) {
      chunk[0] = static_cast<char>('a' + (k % 26));
      ssize_t ignored = ::pwrite(src, chunk.data(), chunk.size(),
                                 static_cast<off_t>((k * 7919 * 65536) % (size - chunk.size())));
      (void)ignored;
      ++k;
    }
  });
  int mismatches = 0;
  for (int i = 0; i < 12; ++i) {
    int dst = ::open((tmp / "dst").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(dst >= 0);
    auto h = copy_and_hash(src, size, dst, {});
    ::close(dst);
    if (h != sha256_file(tmp / "dst")) ++mismatches;
  }
  stop = true;
  writer.join();
  ::close(src);
  CHECK(mismatches == 0);
}
