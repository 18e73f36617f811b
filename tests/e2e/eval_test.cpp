// xops eval through the binary: exec and HTTP providers, a local model, gates, outputs, cache.
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tests/support/openai_stub.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
namespace fs = std::filesystem;

namespace {

const char* kSuite = R"(description: arithmetic by shell
prompts: ["{{a}} + {{b}}"]
providers:
  - id: exec:sh add.sh
tests:
  - vars: {a: 1, b: 2}
    assert: [{type: equals, value: "3"}]
  - vars: {a: 2, b: 2}
    assert: [{type: equals, value: "4"}, {type: is-json}]
  - vars: {a: 10, b: 5}
    assert: [{type: not-contains, value: "7"}, {type: regex, value: "^1[0-9]$"}, {type: equals, value: "16"}]
thresholds: {pass_rate: THRESHOLD}
)";

std::string suite_with(double threshold) {
  std::string s = kSuite;
  s.replace(s.find("THRESHOLD"), 9, std::to_string(threshold));
  return s;
}

}  // namespace

TEST_CASE("e2e: eval with an exec provider: gates, JUnit, JSONL, HTML and the cache",
          "[e2e][eval]") {
  TempDir tmp;
  // The prompt arrives as the first argument (promptfoo's convention) and on stdin.
  write_text(
      tmp / "add.sh",
      "read line\n[ \"$line\" = \"$1\" ] || { echo mismatch >&2; exit 3; }\necho $(( $1 ))\n");
  write_text(tmp / "suite.yaml", suite_with(0.5));
  auto r =
      run_xops({"eval", "suite.yaml", "--junit", "j.xml", "--jsonl", "r.jsonl", "--html", "r.html"},
               tmp.path());
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("FAIL"));  // 10 + 5 is not 16
  auto lint = run_process({"xmllint", "--noout", (tmp / "j.xml").string()}, tmp.path());
  CHECK(lint.rc == 0);
  auto xml = read_text(tmp / "j.xml");
  CHECK_THAT(xml, Catch::Contains("tests=\"3\""));
  size_t lines = 0;
  for (char c : read_text(tmp / "r.jsonl")) lines += c == '\n';
  CHECK(lines == 3);
  CHECK_THAT(read_text(tmp / "r.html"), Catch::Contains("<table>"));
  auto again = run_xops({"--json", "eval", "suite.yaml"}, tmp.path());
  auto j = nlohmann::json::parse(again.out);
  CHECK(j["cached"] == 0);  // outside a project there is no database, so no cache
  CHECK(j["cases"] == 3);
  CHECK(j["passed"].get<int>() + j["failed"].get<int>() == 3);
  write_text(tmp / "suite.yaml", suite_with(1.0));
  auto strict = run_xops({"eval", "suite.yaml"}, tmp.path());
  CHECK(strict.rc == 4);
  CHECK_THAT(strict.err, Catch::Contains("thresholds not met"));
}

TEST_CASE("e2e: eval reports to a device node or a FIFO write through it, never replace it",
          "[e2e][eval]") {
  TempDir tmp;
  write_text(tmp / "add.sh", "echo $(( $1 ))\n");
  write_text(tmp / "suite.yaml", suite_with(0.5));
  fs::create_directories(tmp / "out");
  // Private nodes with /dev/null's numbers (never the real one): needs root, as CI has.
  for (const char* n : {"null.jsonl", "null.xml", "null.html", "null.json"})
    if (::mknod((tmp / "out" / n).c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
      WARN("mknod needs root: skipped");
      return;
    }
  REQUIRE(::mkfifo((tmp / "out/pipe.csv").c_str(), 0600) == 0);
  std::string csv;
  std::thread reader([&] {
    std::ifstream in(tmp / "out/pipe.csv", std::ios::binary);
    csv.assign(std::istreambuf_iterator<char>(in), {});
  });
  auto r = run_xops({"eval", "suite.yaml", "--jsonl", "out/null.jsonl", "--junit", "out/null.xml",
                     "--html", "out/null.html", "-o", "out/null.json", "-o", "out/pipe.csv"},
                    tmp.path());
  reader.join();
  CHECK(r.rc == 0);
  for (const char* n : {"null.jsonl", "null.xml", "null.html", "null.json"}) {
    struct stat st;
    REQUIRE(::lstat((tmp / "out" / n).c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
  }
  CHECK_THAT(csv, Catch::StartsWith("test,description,prompt,provider"));
  size_t n = 0;
  for (auto it = fs::directory_iterator(tmp / "out"); it != fs::directory_iterator(); ++it) ++n;
  CHECK(n == 5);  // nothing written beside them
  auto dir = run_xops({"eval", "suite.yaml", "--junit", "out"}, tmp.path());
  CHECK(dir.rc == 2);
  CHECK_THAT(dir.err, Catch::Contains("is a directory"));
}

TEST_CASE(
    "e2e: --filter-pattern, --filter-first-n and --filter-failing pick the tests, -o by "
    "extension",
    "[e2e][eval]") {
  TempDir tmp;
  write_text(tmp / "add.sh", "echo $(( $1 ))\n");
  write_text(tmp / "s.yaml",
             "prompts: [\"{{a}} + {{b}}\"]\nproviders: [\"exec:sh add.sh\"]\ntests:\n"
             "  - {description: alpha, vars: {a: 1, b: 1}, assert: [{type: equals, value: '2'}]}\n"
             "  - {description: beta, vars: {a: 1, b: 2}, assert: [{type: equals, value: '4'}]}\n"
             "  - {description: gamma, vars: {a: 2, b: 2}, assert: [{type: equals, value: '4'}]}\n"
             "  - {description: delta, vars: {a: 3, b: 3}, assert: [{type: equals, value: '7'}]}\n"
             "thresholds: {pass_rate: 0}\n");
  auto names = [](const ProcResult& r) {
    std::vector<std::string> out;
    auto j = nlohmann::json::parse(r.out);
    for (const auto& c : j["results"]) out.push_back(c["description"]);
    return out;
  };
  auto all = run_xops({"--json", "eval", "s.yaml", "-o", "r.json", "-o", "r.csv", "-o", "r.xml"},
                      tmp.path());
  REQUIRE(all.rc == 0);
  CHECK(names(all) == std::vector<std::string>{"alpha", "beta", "gamma", "delta"});
  CHECK(nlohmann::json::parse(read_text(tmp / "r.json"))["results"].size() == 4);
  CHECK_THAT(read_text(tmp / "r.xml"),
             Catch::Contains("<testsuites") && Catch::Contains("tests=\"4\""));
  size_t rows = 0;
  for (char c : read_text(tmp / "r.csv")) rows += c == '\n';
  CHECK(rows == 5);  // header + 4
  auto pattern =
      run_xops({"--json", "eval", "s.yaml", "--filter-pattern", "^(beta|delta)$"}, tmp.path());
  CHECK(names(pattern) == std::vector<std::string>{"beta", "delta"});
  auto first = run_xops({"--json", "eval", "s.yaml", "--filter-first-n", "2"}, tmp.path());
  CHECK(names(first) == std::vector<std::string>{"alpha", "beta"});
  auto failing = run_xops({"--json", "eval", "s.yaml", "--filter-failing", "r.json"}, tmp.path());
  CHECK(names(failing) == std::vector<std::string>{"beta", "delta"});  // 1+2 != 4, 3+3 != 7
  auto none = run_xops({"eval", "s.yaml", "--filter-pattern", "nothing-matches"}, tmp.path());
  CHECK(none.rc == 2);
}

TEST_CASE("e2e: eval in a project is tracked with lineage and cached", "[e2e][eval]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  write_text(p / "evals/add.sh", "echo $(( $1 ))\n");
  write_text(p / "evals/suite.yaml", suite_with(0.5));
  auto first = run_xops({"--json", "eval", "evals/suite.yaml"}, p);
  REQUIRE(first.rc == 0);
  auto second = nlohmann::json::parse(run_xops({"--json", "eval", "evals/suite.yaml"}, p).out);
  CHECK(second["cached"] == 3);
  auto fresh =
      nlohmann::json::parse(run_xops({"--json", "eval", "evals/suite.yaml", "--no-cache"}, p).out);
  CHECK(fresh["cached"] == 0);
  auto runs = nlohmann::json::parse(
      run_xops({"--json", "track", "runs", "--filter", "kind = 'eval'"}, p).out);
  REQUIRE(runs.size() == 3);
  CHECK(runs[0]["metrics"].contains("pass_rate"));
  bool has_suite = false, has_prompt = false;
  for (auto& [k, v] : runs[0]["inputs"].items()) {
    has_suite |= k.rfind("eval-suite:", 0) == 0 && v.get<std::string>().size() == 64;
    has_prompt |= k.rfind("prompt:", 0) == 0;
  }
  CHECK(has_suite);
  CHECK(has_prompt);
}

TEST_CASE("e2e: eval against an OpenAI-compatible endpoint, and a provider that is down",
          "[e2e][eval]") {
  TempDir tmp;
  Stub stub;
  auto base = "http://127.0.0.1:" + std::to_string(stub.port) + "/v1";
  write_text(tmp / "s.yaml",
             "prompts: [\"say {{w}}\"]\nproviders:\n"
             "  - id: openai:chat:stub\n    config: {apiBaseUrl: " +
                 base +
                 "}\n"
                 "  - id: openai:completion:stub\n    config: {apiBaseUrl: " +
                 base +
                 "}\n"
                 "tests:\n  - vars: {w: hello}\n    assert:\n"
                 "      - {type: icontains, value: 'say hello'}\n"
                 "      - {type: similar, value: 'SAY HELLO', provider: 'openai:embedding:stub', "
                 "threshold: 0.99}\n");
  auto r = run_xops({"--json", "eval", "s.yaml"}, tmp.path(), {{"OPENAI_BASE_URL", base}});
  INFO(r.err);
  REQUIRE(r.rc == 4);  // the completion provider reverses the text: its case fails
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["providers"][0]["passed"] == 1);
  CHECK(j["providers"][1]["failed"] == 1);
  write_text(tmp / "down.yaml",
             "prompts: [x]\nproviders:\n  - id: openai:chat:m\n"
             "    config: {apiBaseUrl: 'http://127.0.0.1:9/v1', retries: 1, timeout: 2000}\n"
             "tests:\n  - assert: [{type: contains, value: x}]\n");
  auto down = run_xops({"eval", "down.yaml"}, tmp.path());
  CHECK(down.rc == 1);
  CHECK_THAT(down.out + down.err, Catch::Contains("provider errors"));
}

TEST_CASE("e2e: a judge given as {id, config} is called where its config says, nowhere else",
          "[e2e][eval]") {
  TempDir tmp;
  Stub stub((tmp / "requests.log").string());
  auto base = "http://127.0.0.1:" + std::to_string(stub.port) + "/v1";
  write_text(tmp / "echo.sh", "printf '%s' \"$1\"\n");
  write_text(tmp / "s.yaml",
             "prompts: [\"say {{w}}\"]\nproviders: [\"exec:sh echo.sh\"]\n"
             "defaultTest:\n  options:\n    provider:\n      id: openai:chat:judge-yes\n"
             "      config: {apiBaseUrl: '" +
                 base +
                 "'}\n"
                 "tests:\n  - vars: {w: hello}\n    assert: [{type: llm-rubric, value: polite}]\n"
                 "  - vars: {w: bye}\n    assert:\n      - type: llm-rubric\n        value: short\n"
                 "        provider: {id: openai:chat:judge-yes, config: {apiBaseUrl: '" +
                 base + "'}}\n");
  // A key in the environment and no OPENAI_BASE_URL: a dropped config would send the rubric
  // and the output to api.openai.com (unreachable here: provider errors, exit 1).
  std::map<std::string, std::string> env = {{"OPENAI_API_KEY", "sk-test-not-real"},
                                            {"OPENAI_BASE_URL", ""}};
  auto r = run_xops({"--json", "eval", "s.yaml", "--no-cache"}, tmp.path(), env);
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK(nlohmann::json::parse(r.out)["passed"] == 2);
  CHECK(read_text(tmp / "requests.log") ==
        "/v1/chat/completions judge-yes\n/v1/chat/completions judge-yes\n");
  // A provider object xops cannot honour in full is refused before any request.
  write_text(tmp / "bad.yaml",
             "prompts: [x]\nproviders: [\"exec:sh echo.sh\"]\ntests:\n  - assert:\n"
             "      - type: llm-rubric\n        value: ok\n"
             "        provider: {id: openai:chat:judge-yes, config: {apiBaseUrl: '" +
                 base + "'}, transform: x}\n");
  auto bad = run_xops({"eval", "bad.yaml"}, tmp.path(), env);
  CHECK(bad.rc == 1);  // a suite error, as every refused suite key
  CHECK_THAT(bad.err, Catch::Contains("bad.yaml:7:") &&
                          Catch::Contains("an assertion's provider: 'transform' is not supported"));
  CHECK(read_text(tmp / "requests.log").size() ==
        2 * std::string("/v1/chat/completions judge-yes\n").size());
}

TEST_CASE("e2e: judges that refuse, score low, prefer the baseline or answer garbage fail the case",
          "[e2e][eval]") {
  TempDir tmp;
  Stub stub;
  auto judge = [&](const std::string& model) {
    return "{id: 'openai:chat:" + model +
           "', config: {apiBaseUrl: 'http://127.0.0.1:" + std::to_string(stub.port) + "/v1'}}";
  };
  write_text(tmp / "echo.sh", "printf '%s' \"$1\"\n");
  write_text(tmp / "other.sh", "printf 'something else'\n");
  auto test = [&](const std::string& desc, const std::string& assertion) {
    return "  - description: " + desc + "\n    assert: [" + assertion + "]\n";
  };
  write_text(tmp / "s.yaml",
             "prompts: [hello]\nproviders: [\"exec:sh echo.sh\"]\ntests:\n" +
                 test("approves",
                      "{type: llm-rubric, value: polite, provider: " + judge("judge-yes") + "}") +
                 test("refuses",
                      "{type: llm-rubric, value: polite, provider: " + judge("judge-no") + "}") +
                 test("low", "{type: llm-rubric, value: polite, threshold: 0.5, provider: " +
                                 judge("judge-low") + "}") +
                 test("garbage", "{type: llm-rubric, value: polite, provider: " +
                                     judge("judge-garbage") + "}") +
                 test("loses", "{type: pairwise, baseline: 'exec:sh other.sh', provider: " +
                                   judge("judge-longer") + "}") +
                 test("wins", "{type: pairwise, baseline: 'exec:sh other.sh', provider: " +
                                  judge("judge-shorter") + "}") +
                 // Always B: judged in both orders, a position bias is a tie, never a loss.
                 test("biased", "{type: pairwise, baseline: 'exec:sh other.sh', provider: " +
                                    judge("judge-no") + "}") +
                 "thresholds: {pass_rate: 0}\n");
  auto r = run_xops({"--json", "eval", "s.yaml", "--no-cache"}, tmp.path());
  INFO(r.err);
  REQUIRE(r.rc == 0);
  auto out = nlohmann::json::parse(r.out);
  std::map<std::string, nlohmann::json> by;
  for (const auto& c : out["results"]) by[c["description"].get<std::string>()] = c;
  REQUIRE(by.size() == 7);
  CHECK(by["approves"]["pass"] == true);
  CHECK(by["refuses"]["pass"] == false);
  CHECK(by["low"]["pass"] == false);
  CHECK(by["low"]["score"].get<double>() == Approx(0.2));
  CHECK(by["garbage"]["pass"] == false);
  CHECK_THAT(by["garbage"].dump(), Catch::Contains("did not answer with JSON"));
  CHECK(by["loses"]["pass"] == false);
  CHECK(by["loses"]["score"].get<double>() == 0.0);
  CHECK(by["wins"]["pass"] == true);
  CHECK(by["wins"]["score"].get<double>() == 1.0);
  CHECK(by["biased"]["pass"] == true);
  CHECK(by["biased"]["score"].get<double>() == 0.5);
}

TEST_CASE("e2e: eval a local model, with judge-based and embedding assertions", "[e2e][eval]") {
  TempDir tmp;
  auto model = (shared_dir() / "golden/models/gpt2-tiny").string();
  write_text(tmp / "judge.sh", "echo '{\"pass\": true, \"score\": 0.8, \"reason\": \"fine\"}'\n");
  write_text(tmp / "pick.sh", "echo '{\"winner\": \"A\", \"reason\": \"longer\"}'\n");
  write_text(
      tmp / "s.yaml",
      "prompts: ['The quick brown fox jumps over the lazy dog.']\n"
      "providers:\n  - id: " +
          model +
          "\n    config: {max_tokens: 2}\n"
          "tests:\n  - assert:\n"
          "      - {type: equals, value: ' Hybrid ESPN'}\n"
          "      - {type: perplexity, threshold: 1000000}\n"
          "      - {type: llm-rubric, value: 'is a continuation', provider: 'exec:sh judge.sh'}\n"
          "      - {type: pairwise, baseline: 'exec:echo short', provider: 'exec:sh pick.sh'}\n"
          "      - {type: similar, value: ' Hybrid ESPN', provider: " +
          model + ", threshold: 0.999}\n");
  auto r = run_xops({"--json", "eval", "s.yaml"}, tmp.path());
  INFO(r.err);
  REQUIRE(r.rc == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["passed"] == 1);
  auto asserts = j["results"][0]["asserts"];
  CHECK(asserts.size() == 5);
  for (const auto& a : asserts) CHECK(a["pass"] == true);
}

TEST_CASE("e2e: --repeat reports flaky tests", "[e2e][eval]") {
  TempDir tmp;
  write_text(tmp / "coin.sh",
             "if [ -e flip ]; then rm flip; echo heads; else touch flip; echo tails; fi\n");
  write_text(tmp / "s.yaml",
             "prompts: [x]\nproviders: ['exec:sh coin.sh']\ntests:\n  - assert: [{type: equals, "
             "value: heads}]\n");
  auto r = run_xops({"--json", "eval", "s.yaml", "--repeat", "4", "-j", "1"}, tmp.path());
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["cases"] == 4);
  CHECK(j["passed"] == 2);
  CHECK(j["flaky"].size() == 1);
}

TEST_CASE("attack: a suite cannot collect the environment's API key", "[e2e][eval][attack]") {
  TempDir tmp;
  Stub stub;
  auto base = "http://127.0.0.1:" + std::to_string(stub.port) + "/v1";
  write_text(
      tmp / "suite.yaml",
      "prompts: [\"hi\"]\nproviders:\n  - id: openai:chat:echo-auth\n    config: {apiBaseUrl: \"" +
          base + "\"}\ntests:\n  - assert: [{type: equals, value: none}]\n");
  std::map<std::string, std::string> env{{"OPENAI_API_KEY", "sk-secret-victim-key"}};
  // Named only by the suite: the key stays home (before: "Bearer sk-secret-victim-key").
  auto r = run_xops({"eval", "suite.yaml", "--no-track", "--no-cache"}, tmp.path(), env);
  INFO(r.out << r.err);
  CHECK(r.rc == 0);
  CHECK_THAT(r.out + r.err, !Catch::Contains("sk-secret"));
  // Allowed by the user (flag or XOPS_KEY_HOSTS): sent.
  write_text(
      tmp / "allowed.yaml",
      "prompts: [\"hi\"]\nproviders:\n  - id: openai:chat:echo-auth\n    config: {apiBaseUrl: \"" +
          base +
          "\"}\ntests:\n  - assert: [{type: equals, value: \"Bearer sk-secret-victim-key\"}]\n");
  CHECK(run_xops({"eval", "allowed.yaml", "--no-track", "--no-cache", "--key-host",
                  "127.0.0.1:" + std::to_string(stub.port)},
                 tmp.path(), env)
            .rc == 0);
  env["XOPS_KEY_HOSTS"] = "example.org, 127.0.0.1";
  CHECK(run_xops({"eval", "allowed.yaml", "--no-track", "--no-cache"}, tmp.path(), env).rc == 0);
}

TEST_CASE("attack: keys and URL credentials never reach reports or stderr", "[e2e][eval][attack]") {
  TempDir tmp;
  Stub stub;
  auto base = "http://user:hunter2pass@127.0.0.1:" + std::to_string(stub.port) + "/v1";
  write_text(
      tmp / "suite.yaml",
      "prompts: [\"hi\"]\nproviders:\n  - id: openai:chat:need-auth\n    config: {apiBaseUrl: \"" +
          base + "\", apiKey: sk-suite-own-key}\ntests:\n  - assert: [{type: equals, value: x}]\n");
  auto r = run_xops({"--json", "eval", "suite.yaml", "--no-track", "--no-cache", "--jsonl",
                     "r.jsonl", "--junit", "j.xml", "--html", "r.html"},
                    tmp.path());
  INFO(r.out << r.err);
  CHECK(r.rc == 1);  // a provider error
  std::string all = r.out + r.err + read_text(tmp / "r.jsonl") + read_text(tmp / "j.xml") +
                    read_text(tmp / "r.html");
  CHECK_THAT(all, Catch::Contains("HTTP 401"));
  CHECK_THAT(all, !Catch::Contains("sk-suite-own-key") && !Catch::Contains("hunter2pass"));
}

TEST_CASE("attack: exec providers and assertions are bounded in time and output",
          "[e2e][eval][attack]") {
  TempDir tmp;
  // Closes its output and sleeps on (before: the 1 s timeout was ignored), prints without end,
  // and an assertion that hangs.
  write_text(tmp / "suite.yaml", R"(prompts: ["p"]
providers:
  - id: "exec:sh -c 'exec >&- 2>&-; sleep 30'"
    config: {timeout: 1000}
  - id: "exec:yes"
  - id: "exec:echo ok"
tests:
  - assert: [{type: "exec:sleep 30; echo true", timeout: 1000}]
)");
  auto t0 = std::chrono::steady_clock::now();
  auto r =
      run_xops({"eval", "suite.yaml", "--no-track", "--jsonl", "r.jsonl", "-j", "3"}, tmp.path());
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(r.out << r.err);
  CHECK(r.rc == 1);  // provider errors
  auto jsonl = read_text(tmp / "r.jsonl");
  CHECK_THAT(jsonl, Catch::Contains("timed out after 1000 ms"));
  CHECK_THAT(jsonl, Catch::Contains("printed more than"));
  CHECK_THAT(jsonl, Catch::Contains("assertion script timed out after 1000 ms"));
  CHECK(jsonl.size() < (1u << 20));
  CHECK(secs < 25);  // a bound on a hang (each limit is 1 s), not a timing assertion
}

TEST_CASE(
    "e2e: prompts are Nunjucks templates - unsupported syntax is refused before any case runs",
    "[e2e][eval][nunjucks]") {
  TempDir tmp;
  write_text(tmp / "echo.sh", "printf '%s' \"$1\"\n");
  write_text(tmp / "p.txt",
             "Items:{% for it in order.items %} {{ loop.index }}.{{ it | upper }}{% endfor %}"
             "{% if user.vip %} (VIP {{ user.name }}){% endif %}");
  write_text(tmp / "s.yaml",
             "prompts: [file://p.txt]\nproviders: [\"exec:sh echo.sh\"]\ntests:\n"
             // A list given directly as a var would expand into one case per item (promptfoo).
             "  - vars: {order: {items: [a, b]}, user: {name: Ada, vip: true}}\n"
             "    assert: [{type: equals, value: \"Items: 1.A 2.B (VIP {{ user.name }})\"}]\n");
  auto r = run_xops({"--json", "eval", "s.yaml", "--no-track"}, tmp.path());
  REQUIRE(r.rc == 0);
  CHECK(nlohmann::json::parse(r.out)["results"][0]["output"] == "Items: 1.A 2.B (VIP Ada)");

  write_text(tmp / "bad.txt", "Hello\n{% include 'other.txt' %}\n");
  write_text(tmp / "calls.log", "");
  write_text(tmp / "bad.yaml",
             "prompts: [file://bad.txt]\nproviders: [\"exec:sh -c 'echo called >> "
             "calls.log'\"]\ntests:\n  - vars: {}\n");
  auto bad = run_xops({"eval", "bad.yaml", "--no-track"}, tmp.path());
  CHECK(bad.rc == 1);
  CHECK_THAT(bad.err, Catch::Contains("bad.txt:2: unsupported Nunjucks tag 'include'"));
  CHECK(read_text(tmp / "calls.log").empty());  // refused before the provider ever ran
}

TEST_CASE(
    "e2e: javascript and python assertions run in long-lived workers with promptfoo's contract",
    "[e2e][eval][scripts]") {
  TempDir tmp;
  write_text(tmp / "echo.sh", "printf '%s' \"$1\"\n");
  write_text(tmp / "check.js",
             "module.exports.named = (output, context) => { console.log('noise'); "
             "return context.vars.name === 'Ada' && output.length > 3; };\n");
  write_text(tmp / "check.py",
             "def get_assert(output, context):\n    print('noise')\n"
             "    return {'pass': 'Ada' in output, 'score': 0.75, 'reason': 'found Ada'}\n");
  write_text(tmp / "s.yaml", R"Y(prompts: ["Hello {{ name }}"]
providers: ["exec:sh echo.sh"]
tests:
  - vars: {name: Ada}
    assert:
      - {type: javascript, value: "output.includes('Ada')"}
      - type: javascript
        value: |
          const words = output.split(' ');
          return {pass: words.length === 2, score: 0.5, reason: 'two words'};
      - {type: javascript, value: "output.length / 10", threshold: 0.5}
      - {type: javascript, value: "file://check.js:named"}
      - {type: javascript, value: "context.config.want === output", config: {want: "Hello Ada"}}
      - {type: not-javascript, value: "output.includes('Bob')"}
      - {type: python, value: "output.startswith('Hello')"}
      - type: python
        value: |
          n = len(output.split())
          return n == 2
      - {type: python, value: "file://check.py"}
      - {type: javascript, value: "context.vars.name + '' === '{{ name }}'"}
  - vars: {name: Bob}
    assert:
      - {type: javascript, value: "(() => { throw new Error('boom'); })()"}
  - vars: {name: Cy}
    assert:
      - {type: python, value: "__import__('time').sleep(30)", timeout: 1000}
  - vars: {name: Di}
    assert:
      - {type: python, value: "output == 'Hello Di'"}
)Y");
  auto r = run_xops({"--json", "eval", "s.yaml", "--no-track"}, tmp.path());
  CHECK(r.rc == 4);  // two cases fail, so the default all-must-pass threshold is missed
  auto j = nlohmann::json::parse(r.out);
  auto results = j["results"];
  REQUIRE(results.size() == 4);
  INFO(results[0].dump(2));
  CHECK(results[0]["pass"] == true);
  for (const auto& a : results[0]["asserts"]) CHECK(a["pass"] == true);
  CHECK(results[0]["asserts"][1]["score"] == Approx(0.5));
  CHECK(results[0]["asserts"][2]["score"] == Approx(0.9));
  CHECK(results[0]["asserts"][8]["reason"] == "found Ada");
  CHECK(results[1]["pass"] == false);
  CHECK_THAT(results[1]["asserts"][0]["reason"].get<std::string>(),
             Catch::Contains("Custom function threw error: boom"));
  CHECK(results[2]["pass"] == false);
  CHECK_THAT(results[2]["asserts"][0]["reason"].get<std::string>(),
             Catch::Contains("timed out after 1000 ms"));
  CHECK(results[3]["pass"] == true);  // a new worker after the one that hung was killed
}

TEST_CASE("e2e: a script assertion file outside the project is refused at load",
          "[e2e][eval][scripts]") {
  TempDir tmp;
  write_text(tmp / "outside.js", "module.exports = () => true;\n");
  std::filesystem::create_directories(tmp / "p");
  write_text(tmp / "p/s.yaml",
             "prompts: [x]\nproviders: [\"exec:echo hi\"]\ntests:\n  - assert:\n"
             "      - {type: javascript, value: \"file://../outside.js\"}\n");
  auto r = run_xops({"eval", "s.yaml", "--no-track"}, tmp / "p");
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("is outside"));
  // A tests file outside the project that does not exist: the reason is where it is, not
  // that it is missing (it used to say "not found").
  write_text(tmp / "p/t.yaml", "prompts: [x]\nproviders: [echo]\ntests: file://../outside.jsonl\n");
  auto t = run_xops({"eval", "t.yaml", "--no-track"}, tmp / "p");
  CHECK(t.rc == 1);
  CHECK_THAT(t.err, Catch::Contains("../outside.jsonl is outside"));
  CHECK_THAT(t.err, !Catch::Contains("not found"));
}

TEST_CASE(
    "e2e: promptfoo suite habits: echo, list vars expand, --- prompt files, options.transform",
    "[e2e][eval][compat]") {
  TempDir tmp;
  write_text(tmp / "prompts.txt",
             "Translate {{ text }} to {{ lang }}\n---\nSay {{ text }} in {{ lang }}\n");
  write_text(tmp / "up.js", "module.exports = (output) => output.toUpperCase();\n");
  write_text(tmp / "s.yaml", R"Y(prompts: [file://prompts.txt]
providers: [echo]
tests:
  - vars: {text: hi, lang: [French, German]}
    options: {transform: "output + '!'"}
    assert: [{type: javascript, value: "output.endsWith('!')"}]
  - vars: {text: yo, lang: Spanish}
    options: {transform: file://up.js}
    assert: [{type: contains, value: SPANISH}]
)Y");
  auto r = run_xops({"--json", "eval", "s.yaml", "--no-track"}, tmp.path());
  REQUIRE(r.rc == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["cases"] == 6);  // (2 + 1 tests) x 2 prompts
  std::set<std::string> outputs;
  for (const auto& c : j["results"]) outputs.insert(c["output"].get<std::string>());
  CHECK(outputs.count("Translate hi to German!"));
  CHECK(outputs.count("Say hi in French!"));
  CHECK(outputs.count("SAY YO IN SPANISH"));

  write_text(tmp / "bad.yaml",
             "prompts: [x]\nproviders: [echo]\ntests:\n  - options: {storeOutputAs: y}\n");
  auto bad = run_xops({"eval", "bad.yaml", "--no-track"}, tmp.path());
  CHECK(bad.rc == 1);
  CHECK_THAT(bad.err, Catch::Contains("bad.yaml:4:"));
  CHECK_THAT(bad.err, Catch::Contains("'storeOutputAs' is not supported"));
}

TEST_CASE("e2e: eval takes promptfoo's -c, its default file name and --var",
          "[e2e][eval][compat]") {
  TempDir tmp;
  write_text(tmp / "promptfooconfig.yaml",
             "prompts: [\"Hi {{ who }}\"]\nproviders: [echo]\ntests:\n  - vars: {who: Ada}\n"
             "    assert: [{type: equals, value: \"Hi {{ who }}\"}]\n");
  auto d = run_xops({"--json", "eval", "--no-track"}, tmp.path());
  REQUIRE(d.rc == 0);
  CHECK(nlohmann::json::parse(d.out)["results"][0]["output"] == "Hi Ada");
  auto c =
      run_xops({"--json", "eval", "-c", "promptfooconfig.yaml", "--var", "who=Bob", "--no-track"},
               tmp.path());
  REQUIRE(c.rc == 0);
  CHECK(nlohmann::json::parse(c.out)["results"][0]["output"] == "Hi Bob");
  auto none = run_xops({"eval", "--no-track"}, tmp / "..");
  CHECK(none.rc == 2);
}

TEST_CASE("e2e: promptfoo CSV columns, prompt maps and weight-0 metrics", "[e2e][eval][compat]") {
  TempDir tmp;
  write_text(tmp / "p.txt", "Say {{ text }}");
  write_text(tmp / "cases.csv",
             "text,__expected,__expected2,__metric,__prefix,__threshold,__metadata:owner\n"
             "hi,contains:hi,icontains:SAY,greeting,> ,,ada\n"
             "yo,contains:yo,contains:nope,partial,,0.5,bob\n");
  write_text(
      tmp / "s.yaml",
      "prompts:\n  file://p.txt: the say prompt\nproviders: [echo]\ntests: file://cases.csv\n"
      "defaultTest:\n  assert: [{type: contains, value: never, weight: 0, metric: zero}]\n");
  auto r = run_xops({"--json", "eval", "s.yaml", "--no-track"}, tmp.path());
  REQUIRE(r.rc == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["results"].size() == 2);
  CHECK(j["results"][0]["prompt"] == "the say prompt");
  CHECK(j["results"][0]["output"] == "> Say hi");  // __prefix
  CHECK(j["results"][0]["pass"] == true);  // the weight-0 assertion fails but only feeds its metric
  CHECK(j["results"][1]["pass"] ==
        true);  // 1 of 2 weighted assertions: score 0.5 >= __threshold 0.5
  CHECK(j["metrics"].contains("greeting"));
  CHECK(j["metrics"].contains("zero"));

  write_text(tmp / "bad.csv", "text,__bogus\nhi,1\n");
  write_text(tmp / "bad.yaml", "prompts: [x]\nproviders: [echo]\ntests: file://bad.csv\n");
  auto bad = run_xops({"eval", "bad.yaml", "--no-track"}, tmp.path());
  CHECK(bad.rc == 1);
  CHECK_THAT(bad.err, Catch::Contains("column '__bogus' is not supported"));
  write_text(tmp / "bad.csv", "text,__expected,__config:__expected:weight\nhi,hi,1\n");
  bad = run_xops({"eval", "bad.yaml", "--no-track"}, tmp.path());
  CHECK(bad.rc == 1);
  CHECK_THAT(bad.err, Catch::Contains("is not __config:__expected[N]:threshold"));
}

TEST_CASE("e2e: chat prompts reach an OpenAI endpoint as messages, with the prompt's config",
          "[e2e][eval][compat]") {
  Stub stub;
  TempDir tmp;
  write_text(tmp / "chat.yaml",
             "- role: system\n  content: You answer for {{ company }}.\n- role: user\n  content: "
             "'{{ q }}'\n");
  write_text(tmp / "s.yaml", fmt::format(R"(prompts:
  - id: file://chat.yaml
    label: support
    config:
      response_format: {{type: json_object}}
      temperature: 0
providers:
  - id: openai:chat:echo-request
    config: {{apiBaseUrl: "http://127.0.0.1:{}/v1", temperature: 0.7, max_tokens: 64}}
tests:
  - vars: {{company: Acme, q: Open on Sunday?}}
    assert:
      - type: javascript
        value: |
          const body = JSON.parse(output);
          return body.messages.length === 2 && body.messages[0].role === 'system' &&
            body.messages[0].content === 'You answer for Acme.' && body.messages[1].content === 'Open on Sunday?' &&
            body.response_format.type === 'json_object' && body.temperature === 0 && body.max_tokens === 64;
)",
                                         stub.port));
  auto r = run_xops({"--json", "eval", "s.yaml", "--no-track", "--no-cache"}, tmp.path());
  INFO(r.out << r.err);
  REQUIRE(r.rc == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["results"][0]["prompt"] == "support");
  // The prompt as sent to scripts and recorded: the rendered messages as indented JSON.
  auto sent = nlohmann::json::parse(j["results"][0]["rendered_prompt"].get<std::string>());
  CHECK(sent[1]["content"] == "Open on Sunday?");
}

TEST_CASE("e2e: eval reads defaults.eval.judge from xops.yaml when the suite names no judge",
          "[e2e][eval][compat]") {
  TempDir tmp;
  REQUIRE(run_xops({"init"}, tmp.path()).rc == 0);
  auto cfg = read_text(tmp / "xops.yaml");
  auto at = cfg.find("\ndefaults:\n");
  REQUIRE(at != std::string::npos);
  cfg.insert(at + 11, "  eval:\n    judge: 'exec:python3 judge.py'\n");
  write_text(tmp / "xops.yaml", cfg);
  write_text(tmp / "judge.py",
             "print('{\"pass\": true, \"score\": 0.9, \"reason\": \"polite\"}')\n");
  write_text(tmp / "s.yaml",
             "prompts: ['{{x}}']\nproviders: [echo]\ntests:\n  - vars: {x: hello}\n"
             "    assert: [{type: llm-rubric, value: is polite}]\n");
  auto r = run_xops({"--json", "eval", "s.yaml", "--no-track"}, tmp.path());
  INFO(r.out << r.err);
  REQUIRE(r.rc == 0);
  CHECK(nlohmann::json::parse(r.out)["results"][0]["asserts"][0]["score"] == Approx(0.9));
}

TEST_CASE("e2e: an eval run is named after what it evaluated, and track runs shows kinds and metrics",
          "[e2e][eval][tracking]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  write_text(p / "s.yaml",
             "prompts: ['{{w}}']\nproviders: [echo]\ntests:\n  - vars: {w: hi}\n"
             "    assert: [{type: equals, value: hi}]\n");
  REQUIRE(run_xops({"-q", "eval", "s.yaml"}, p).rc == 0);
  auto runs = nlohmann::json::parse(run_xops({"--json", "track", "runs"}, p).out);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["name"] == "echo on s");  // it used to be the suite's name alone
  auto table = run_xops({"track", "runs"}, p).out;
  auto header = table.substr(0, table.find('\n'));
  CHECK_THAT(header, Catch::Contains("KIND"));
  CHECK_THAT(header, Catch::Contains("METRICS.PASS_RATE"));
  CHECK_THAT(table, Catch::Contains("\teval\t"));
}
