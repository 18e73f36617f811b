// `xops promote`: a gto-grammar tag registry whose gates accept only evaluations of exactly
// the content being promoted. Real git repos, the real tracking database, a real model.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Project {
  TempDir tmp;
  fs::path p;
  Project() : p(tmp / "p") {
    REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc ==
            0);
    fs::create_directories(p / "models");
    fs::copy(shared_dir() / "golden/models/gpt2-tiny", p / "models/m", fs::copy_options::recursive);
    fs::create_directories(p / "evals");
    // `regex: "^"` passes any output: the gate is about which content was evaluated.
    write_text(p / "evals/ok.yaml",
               "prompts: [\"Hello\"]\nproviders:\n  - {id: models/m, config: {max_tokens: 2}}\n"
               "tests:\n  - assert: [{type: regex, value: \"^\"}]\n");
    write_text(p / "evals/strict.yaml",
               "prompts: [\"Hello\"]\nproviders:\n  - {id: models/m, config: {max_tokens: 2}}\n"
               "tests:\n  - assert: [{type: equals, value: \"never this\"}]\nthresholds: "
               "{pass_rate: 1.0}\n");
    write_text(
        p / "xops.yaml",
        "name: p\nstages: [dev, staging, prod]\nartifacts:\n  m: {path: models/m, type: model}\n"
        "gates:\n  staging:\n    - {eval: evals/ok.yaml, min_pass_rate: 1.0}\n"
        "  prod:\n    - {eval: evals/ok.yaml, min_pass_rate: 1.0}\n    - {eval: evals/strict.yaml, "
        "min_pass_rate: 1.0}\n");
    REQUIRE(run_xops({"-q", "track", "add", "models/m"}, p).rc == 0);
    REQUIRE(sh("git add -A && git commit -qm 'model v1'", p).rc == 0);
  }
  ProcResult x(const std::vector<std::string>& args) const { return run_xops(args, p); }
  std::string tags() const { return sh("git tag -l | sort", p).out; }
  json show(const std::string& ref) const {
    auto r = x({"--json", "promote", "show", ref});
    REQUIRE(r.rc == 0);
    return json::parse(r.out);
  }
  std::string gen(const std::string& ref) const {
    auto r = x({"generate", ref, "Hello", "-n", "3"});
    REQUIRE(r.rc == 0);
    return r.out;
  }
};

// A project whose artifact `greet` is a prompt committed to git (no `track add`), evaluated by
// evals/greet.yaml with a provider that echoes what it is sent; registered as v0.0.1.
fs::path prompt_project(const TempDir& tmp, const std::string& prompt,
                        const std::string& tests_yaml, const std::string& gates_yaml) {
  auto p = tmp / "p";
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  fs::create_directories(p / "prompts");
  fs::create_directories(p / "evals");
  write_text(p / "prompts/greet.txt", prompt);
  write_text(p / "evals/echo.sh", "printf '%s' \"$1\"\n");
  write_text(p / "evals/greet.yaml",
             "prompts: [file://../prompts/greet.txt]\nproviders: [\"exec:sh echo.sh\"]\ntests:\n" +
                 tests_yaml);
  write_text(
      p / "xops.yaml",
      "name: p\nartifacts:\n  greet: {path: prompts/greet.txt, type: prompt}\n" + gates_yaml);
  REQUIRE(sh("git add -A && git commit -qm prompt", p).rc == 0);
  REQUIRE(run_xops({"-q", "promote", "register", "greet"}, p).rc == 0);
  return p;
}

const char* kHelloTest = "  - vars: {name: Ada}\n    assert: [{type: icontains, value: hello}]\n";
const char* kProdGate = "gates:\n  prod:\n    - {eval: evals/greet.yaml, min_pass_rate: 1.0}\n";

}  // namespace

TEST_CASE("promote: gates accept only an eval of exactly this content", "[e2e][promote]") {
  Project pr;
  auto reg = pr.x({"--json", "promote", "register", "m", "-m", "first"});
  REQUIRE(reg.rc == 0);
  CHECK(json::parse(reg.out)["tag"] == "m@v0.0.1");

  // No eval yet: refused, exit 4, nothing written.
  auto before = pr.tags();
  auto refused = pr.x({"promote", "m@v0.0.1", "--to", "staging"});
  CHECK(refused.rc == 4);
  CHECK_THAT(refused.out, Catch::Contains("no eval of exactly this content"));  // the gate table
  CHECK_THAT(refused.err, Catch::Contains("xops eval evals/ok.yaml --model m@v0.0.1"));
  CHECK(pr.tags() == before);
  auto attempts =
      json::parse(pr.x({"--json", "track", "runs", "--filter", "kind = 'promote'"}).out);
  REQUIRE(attempts.size() == 1);  // the refused attempt is on record, with its gates
  CHECK(attempts[0]["status"] == "failed");
  CHECK(attempts[0]["exit_code"] == 4);
  CHECK(attempts[0]["tags"]["allowed"] == "false");

  // An eval of that version (the registry ref materialises exactly its content).
  REQUIRE(pr.x({"-q", "eval", "evals/ok.yaml", "--model", "m@v0.0.1"}).rc == 0);
  auto dry = pr.x({"--json", "promote", "m@v0.0.1", "--to", "staging", "--dry-run"});
  REQUIRE(dry.rc == 0);
  CHECK(json::parse(dry.out)["tag"].is_null());
  CHECK(pr.tags() == before);
  auto ok = pr.x({"--json", "promote", "m@v0.0.1", "--to", "staging", "-m", "looks good"});
  REQUIRE(ok.rc == 0);
  auto okj = json::parse(ok.out);
  CHECK(okj["tag"] == "m#staging#1");
  CHECK(okj["gates"][0]["passed"] == true);
  CHECK(okj["gates"][0]["run"].is_string());
  CHECK(sh("git tag -l -n1 'm#staging#1'", pr.p).out.find("looks good") != std::string::npos);
  CHECK(pr.show("m#staging")["version"] == "v0.0.1");
  auto lineage = pr.show("m@v0.0.1");
  bool evaluated = false;  // lineage: the eval runs of exactly this content
  for (const auto& r : lineage["runs"])
    evaluated |= r["relation"] == "evaluated it" && r["kind"] == "eval";
  CHECK(evaluated);

  // prod also needs the strict suite; its eval fails (exit 4), so the gate refuses with that run.
  CHECK(pr.x({"-q", "eval", "evals/strict.yaml", "--model", "m@v0.0.1"}).rc == 4);
  auto prod = pr.x({"--json", "promote", "m@v0.0.1", "--to", "prod"});
  CHECK(prod.rc == 4);
  auto prodj = json::parse(prod.out.substr(0, prod.out.find("\n{\"error\"")));
  CHECK(prodj["gates"][0]["passed"] == true);
  CHECK(prodj["gates"][1]["passed"] == false);
  CHECK(prodj["gates"][1]["run"].is_string());  // the failed eval is the evidence
  CHECK(pr.tags().find("m#prod") == std::string::npos);

  // One byte of the model changes: a new version, and the old eval does not count for it.
  auto v1_text = pr.gen("m#staging");
  {
    std::fstream f(pr.p / "models/m/model.safetensors",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-1, std::ios::end);
    char c = 0;
    f.get(c);
    f.seekp(-1, std::ios::end);
    f.put(static_cast<char>(c ^ 1));
  }
  REQUIRE(pr.x({"-q", "track", "add", "models/m"}).rc == 0);
  REQUIRE(sh("git commit -qam 'model v2'", pr.p).rc == 0);
  auto reg2 = pr.x({"--json", "promote", "register", "m"});
  REQUIRE(reg2.rc == 0);
  CHECK(json::parse(reg2.out)["version"] == "v0.0.2");
  CHECK(pr.x({"promote", "m@v0.0.2", "--to", "staging"}).rc == 4);
  CHECK(pr.x({"promote", "m", "--to", "staging"}).rc == 4);  // a bare name is its latest version

  // Evaluated, promoted; then rolled back by promoting v0.0.1 again (a new tag, none moved).
  // --run-evals: the gate's suite runs on exactly v0.0.2 (recorded as an eval run), then counts.
  auto run = pr.x({"--json", "promote", "m@v0.0.2", "--to", "staging", "--run-evals"});
  REQUIRE(run.rc == 0);
  auto runj = json::parse(run.out);
  CHECK(runj["gates"][0]["passed"] == true);
  auto evals = json::parse(pr.x({"--json", "track", "runs", "--filter", "kind = 'eval'"}).out);
  CHECK(evals.size() == 3);
  CHECK(evals[0]["id"] == runj["gates"][0]["run"]);
  CHECK(pr.show("m#staging")["version"] == "v0.0.2");
  REQUIRE(pr.x({"-q", "promote", "m@v0.0.1", "--to", "staging", "-m", "rollback"}).rc == 0);
  CHECK(pr.show("m#staging")["version"] == "v0.0.1");
  CHECK(pr.gen("m#staging") == v1_text);  // generate follows the stage to v0.0.1's content
  CHECK(pr.tags() == "m#staging#1\nm#staging#2\nm#staging#3\nm@v0.0.1\nm@v0.0.2\n");

  // An eval provider named by a registry ref.
  write_text(pr.p / "evals/ref.yaml",
             "prompts: [\"Hello\"]\nproviders:\n  - {id: \"m#staging\", config: {max_tokens: 3}}\n"
             "tests:\n  - assert: [{type: regex, value: \"^\"}]\n");
  auto ev = pr.x({"--json", "eval", "evals/ref.yaml"});
  REQUIRE(ev.rc == 0);
  CHECK(json::parse(ev.out)["results"][0]["output"] == v1_text.substr(0, v1_text.size() - 1));

  // ls --json matches the tags.
  auto ls = pr.x({"--json", "promote", "ls"});
  REQUIRE(ls.rc == 0);
  auto lj = json::parse(ls.out);
  REQUIRE(lj.size() == 1);
  CHECK(lj[0]["latest"] == "v0.0.2");
  CHECK(lj[0]["versions"].size() == 2);
  CHECK(lj[0]["stages"]["staging"]["version"] == "v0.0.1");
  CHECK(lj[0]["stages"]["staging"]["tag"] == "m#staging#3");
  CHECK_FALSE(lj[0]["stages"].contains("prod"));
}

TEST_CASE("promote: a tag history written by hand in gto's grammar is read as gto reads it",
          "[e2e][promote]") {
  Project pr;
  // Times are explicit: gto orders events by tag time.
  auto tag = [&](const std::string& name, const std::string& rev, int t) {
    auto r = sh("GIT_COMMITTER_DATE='" + std::to_string(1700000000 + t) + " +0000' git tag -a '" +
                    name + "' " + rev + " -m 'by hand'",
                pr.p);
    REQUIRE(r.rc == 0);
  };
  REQUIRE(sh("git commit -q --allow-empty -m second", pr.p).rc == 0);
  tag("m@v1.0.0", "HEAD~1", 1);
  tag("m@v1.1.0", "HEAD", 2);
  tag("m#prod#1", "HEAD~1", 3);
  tag("m#staging#2", "HEAD", 4);
  tag("m#prod#3", "HEAD", 5);
  tag("m#prod!#4", "HEAD", 6);  // unassign v1.1.0 from prod: v1.0.0 holds it again
  tag("m#dev#5", "HEAD", 7);
  tag("m#dev!#6", "HEAD", 8);                                 // dev is empty again
  REQUIRE(sh("git tag 'm#staging#9' HEAD~1", pr.p).rc == 0);  // lightweight: ignored, as gto does
  tag("other@v0.1.0", "HEAD", 9);
  tag("other@deprecated#1", "HEAD", 10);
  tag("not-a-registry-tag", "HEAD", 11);
  auto ls = pr.x({"--json", "promote", "ls"});
  REQUIRE(ls.rc == 0);
  auto lj = json::parse(ls.out);
  json m, other;
  for (const auto& a : lj) {
    if (a["name"] == "m") m = a;
    if (a["name"] == "other") other = a;
  }
  CHECK(m["latest"] == "v1.1.0");
  CHECK(m["stages"]["prod"]["version"] == "v1.0.0");
  CHECK(m["stages"]["staging"]["version"] == "v1.1.0");
  CHECK_FALSE(m["stages"].contains("dev"));
  CHECK(other["deprecated"] == true);
  auto hist = json::parse(pr.x({"--json", "promote", "history", "m"}).out);
  REQUIRE(hist.size() == 8);
  CHECK(hist[5]["event"] == "unassign");
  CHECK(hist[5]["stage"] == "prod");
  CHECK(hist[5]["version"] == "v1.1.0");
  // The next assignment takes counter 7 (1 + the largest of the artifact's counters).
  auto dev = pr.x({"--json", "promote", "m@v1.0.0", "--to", "dev"});  // dev has no gates
  REQUIRE(dev.rc == 0);
  CHECK(json::parse(dev.out)["tag"] == "m#dev#7");
  CHECK(pr.show("m#dev")["version"] == "v1.0.0");

  // Unassign and deprecate write tags in the same grammar (nothing is deleted).
  auto un = pr.x({"--json", "promote", "unassign", "m", "--stage", "staging", "-m", "pulled"});
  REQUIRE(un.rc == 0);
  CHECK(json::parse(un.out)["tag"] == "m#staging!#8");
  CHECK(pr.x({"promote", "show", "m#staging"}).rc == 3);
  auto dep = pr.x({"--json", "promote", "deprecate", "m"});
  REQUIRE(dep.rc == 0);
  CHECK(json::parse(dep.out)["tag"] == "m@deprecated#9");
  CHECK(json::parse(pr.x({"--json", "promote", "ls"}).out)[0]["deprecated"] == true);
  CHECK(pr.x({"promote", "m@v1.0.0", "--to", "prod"}).rc ==
        3);                                        // a deprecated artifact is not promoted
  CHECK(pr.show("m#dev")["version"] == "v1.0.0");  // its refs still resolve
}

TEST_CASE("promote: a prompt is versioned, gated, shown and diffed like a model",
          "[e2e][promote]") {
  TempDir tmp;
  auto p = prompt_project(tmp, "Say hello to {{name}}.\nBe brief.\n", kHelloTest, kProdGate);
  auto refused = run_xops({"promote", "greet@v0.0.1", "--to", "prod"}, p);
  CHECK(refused.rc == 4);
  CHECK_THAT(refused.err, Catch::Contains("--prompt greet@v0.0.1"));
  REQUIRE(run_xops({"-q", "eval", "evals/greet.yaml", "--prompt", "greet@v0.0.1"}, p).rc == 0);
  REQUIRE(run_xops({"-q", "promote", "greet@v0.0.1", "--to", "prod"}, p).rc == 0);

  // A new wording: a new version whose old evidence does not count; --run-evals evaluates it.
  write_text(p / "prompts/greet.txt", "Say hello to {{name}}.\nBe warm.\n");
  REQUIRE(sh("git commit -qam 'warmer prompt'", p).rc == 0);
  REQUIRE(run_xops({"-q", "promote", "register", "greet", "--bump-minor"}, p).rc == 0);
  CHECK(run_xops({"promote", "greet@v0.1.0", "--to", "prod"}, p).rc == 4);
  auto diff = run_xops({"promote", "diff", "greet#prod", "greet@v0.1.0"}, p);
  REQUIRE(diff.rc == 0);
  CHECK_THAT(diff.out, Catch::Contains("-Be brief."));
  CHECK_THAT(diff.out, Catch::Contains("+Be warm."));
  CHECK_THAT(diff.out, Catch::Contains(" Say hello to {{name}}."));
  REQUIRE(run_xops({"-q", "promote", "greet@v0.1.0", "--to", "prod", "--run-evals"}, p).rc == 0);
  auto show = run_xops({"promote", "show", "greet#prod"}, p);
  REQUIRE(show.rc == 0);
  CHECK_THAT(show.out, Catch::Contains("Be warm."));
  // The eval of exactly that prompt version sent its text (the exec provider echoes it).
  auto ev =
      run_xops({"--json", "eval", "evals/greet.yaml", "--prompt", "greet#prod", "--no-track"}, p);
  REQUIRE(ev.rc == 0);
  CHECK(json::parse(ev.out)["results"][0]["output"] ==
        "Say hello to Ada.\nBe warm.");  // exec output is trimmed
}

TEST_CASE(
    "promote: no-regression gates compare with the version in the stage - sign-offs need --approve",
    "[e2e][promote]") {
  TempDir tmp;
  auto p = prompt_project(tmp, "Say hello to {{name}}. Be brief.",
                          "  - assert: [{type: icontains, value: hello}]\n  - assert: [{type: "
                          "icontains, value: brief}]\n"
                          // The suite passes at 0.5: the gate, not the suite, sees the regression.
                          "thresholds: {pass_rate: 0.5}\n",
                          "gates:\n  prod:\n    - {eval: evals/greet.yaml, min_pass_rate: 0.5, "
                          "no_regression: [pass_rate], "
                          "tolerance: 0.1}\n    - approve: true\n");
  auto unsigned_ =
      run_xops({"--json", "promote", "greet@v0.0.1", "--to", "prod", "--run-evals"}, p);
  CHECK(unsigned_.rc == 4);  // the eval passed, the sign-off is missing
  CHECK_THAT(unsigned_.err, Catch::Contains("--approve"));
  auto ok = run_xops({"--json", "promote", "greet@v0.0.1", "--to", "prod", "--approve"}, p);
  REQUIRE(ok.rc == 0);
  CHECK(sh("git tag -l -n9 'greet#prod#1'", p).out.find("xops-approved-by:") != std::string::npos);

  // v0.0.2 still clears min_pass_rate (0.5) but falls from 1.0 to 0.5: a regression.
  write_text(p / "prompts/greet.txt", "Say hello to {{name}}. Be warm.");
  REQUIRE(sh("git commit -qam warmer", p).rc == 0);
  REQUIRE(run_xops({"-q", "promote", "register", "greet"}, p).rc == 0);
  auto reg = run_xops(
      {"--json", "promote", "greet@v0.0.2", "--to", "prod", "--run-evals", "--approve"}, p);
  CHECK(reg.rc == 4);
  auto j = json::parse(reg.out.substr(0, reg.out.find("\n{\"error\"")));
  CHECK(j["gates"][0]["pass_rate"] == Approx(0.5));
  CHECK(j["gates"][0]["passed"] == false);
  CHECK(j["gates"][0]["baseline_version"] == "v0.0.1");
  CHECK(j["gates"][0]["no_regression"][0]["baseline"] == Approx(1.0));
  CHECK_THAT(j["gates"][0]["reason"].get<std::string>(), Catch::Contains("regresses"));
  CHECK(sh("git tag -l 'greet#prod*'", p).out == "greet#prod#1\n");
}

TEST_CASE("promote: --push sends the tags - a clone without tags is told to fetch them",
          "[e2e][promote]") {
  TempDir tmp;
  auto p = prompt_project(tmp, "Hello {{name}}", kHelloTest, "");
  // The bare remote's HEAD names the branch xops init made (main), so a clone checks it out.
  REQUIRE(sh("git init -q --bare -b main ../remote.git && git remote add origin ../remote.git && "
             "git push -q origin HEAD",
             p)
              .rc == 0);
  write_text(p / "prompts/greet.txt", "Hi {{name}}");
  REQUIRE(sh("git commit -qam v2", p).rc == 0);
  REQUIRE(run_xops({"-q", "promote", "register", "greet", "--push"}, p).rc == 0);  // v0.0.2
  REQUIRE(run_xops({"-q", "promote", "greet@v0.0.2", "--to", "dev", "--push", "origin"}, p).rc ==
          0);
  CHECK(
      sh("git ls-remote --tags ../remote.git | grep -v '\\^{}$' | sed 's/.*refs.tags.//' | sort", p)
          .out == "greet#dev#1\ngreet@v0.0.2\n");  // only what was pushed: v0.0.1 stayed local

  REQUIRE(sh("git clone -q --no-tags remote.git c", tmp.path()).rc == 0);
  auto r = run_xops({"promote", "show", "greet#dev"}, tmp / "c");
  CHECK(r.rc == 3);
  CHECK_THAT(r.err, Catch::Contains("git fetch --tags"));
  REQUIRE(sh("git fetch -q --tags", tmp / "c").rc == 0);
  CHECK(run_xops({"promote", "show", "greet#dev"}, tmp / "c").rc == 0);

  // A push that cannot happen leaves the tag here and says how to push it by hand.
  auto bad = run_xops({"promote", "greet@v0.0.2", "--to", "prod", "--push", "nowhere"}, p);
  CHECK(bad.rc == 1);
  CHECK_THAT(bad.err, Catch::Contains("git push nowhere 'greet#prod#2'"));
}

TEST_CASE("promote: the generated CI gate script re-checks a pushed stage tag in a fresh clone",
          "[e2e][promote][ci]") {
  TempDir tmp;
  auto p = prompt_project(tmp, "Say hello to {{name}}", kHelloTest, kProdGate);
  REQUIRE(fs::exists(p / "ci/xops-gate.sh"));
  REQUIRE(run_xops({"-q", "promote", "greet@v0.0.1", "--to", "prod", "--run-evals"}, p).rc == 0);
  // CI: a fresh clone (empty tracking database) and the pushed tag.
  REQUIRE(sh("git clone -q p ci && cd ci && git fetch -q --tags", tmp.path()).rc == 0);
  std::map<std::string, std::string> env = {{"XOPS_BIN", xops_binary()}};
  auto ok = run_process({"sh", "ci/xops-gate.sh", "greet#prod#1"}, tmp / "ci", env);
  CHECK(ok.rc == 0);
  CHECK_THAT(ok.err, Catch::Contains("running `xops eval evals/greet.yaml --prompt greet@v0.0.1`"));
  CHECK(run_process({"sh", "ci/xops-gate.sh", "other#prod#3"}, tmp / "ci", env).rc ==
        0);  // not ours
  CHECK(run_process({"sh", "ci/xops-gate.sh", "greet#prod!#4"}, tmp / "ci", env).rc ==
        0);  // an unassignment
  // The suite changed after the promotion: the same tag now fails its gate in CI.
  write_text(tmp / "ci/evals/greet.yaml",
             "prompts: [file://../prompts/greet.txt]\nproviders: [\"exec:sh echo.sh\"]\n"
             "tests:\n  - vars: {name: Ada}\n    assert: [{type: icontains, value: goodbye}]\n");
  CHECK(run_process({"sh", "ci/xops-gate.sh", "greet#prod#1"}, tmp / "ci", env).rc == 4);
}

TEST_CASE("promote: an adapter's eval is evidence for the adapter, not for its base",
          "[e2e][promote]") {
  Project pr;
  // A LoRA adapter on models/m, two steps of training.
  fs::create_directories(pr.p / "data");
  std::string rows;
  for (int i = 0; i < 8; ++i)
    rows += "{\"prompt\": \"Say " + std::to_string(i) + ":\", \"completion\": \" " +
            std::to_string(i) + "\"}\n";
  write_text(pr.p / "data/train.jsonl", rows);
  write_text(pr.p / "lora.yaml",
             "model: models/m\ndata: {train: data/train.jsonl, seq_len: 16, packing: "
             "false}\nmethod: lora\n"
             "lora: {r: 2, alpha: 4, target_modules: [c_attn]}\nbatch_size: 2\nmax_steps: "
             "2\noutput: m-lora\n");
  auto cfg = read_text(pr.p / "xops.yaml");
  cfg.replace(cfg.find("  m: {path: models/m, type: model}\n"), 35,
              "  m: {path: models/m, type: model}\n  a: {path: models/m-lora, type: adapter}\n");
  write_text(pr.p / "xops.yaml", cfg);
  REQUIRE(pr.x({"-q", "finetune", "lora.yaml"}).rc == 0);
  REQUIRE(sh("git add -A && git commit -qm adapter", pr.p).rc == 0);
  // The adapter names its base as the config did, so it loads anywhere the project is.
  CHECK(json::parse(read_text(
            pr.p / "models/m-lora/adapter_config.json"))["base_model_name_or_path"] == "models/m");
  REQUIRE(pr.x({"-q", "promote", "register", "m"}).rc == 0);
  REQUIRE(pr.x({"-q", "promote", "register", "a"}).rc == 0);
  // The adapter as the model: it brings its base (the eval records both contents).
  REQUIRE(pr.x({"-q", "eval", "evals/ok.yaml", "--model", "a@v0.0.1"}).rc == 0);
  auto base = pr.x({"promote", "m@v0.0.1", "--to", "staging"});
  CHECK(base.rc == 4);  // its only eval ran under the adapter
  CHECK_THAT(base.out, Catch::Contains("no eval of exactly this content"));
  auto adapter = pr.x({"promote", "a@v0.0.1", "--to", "staging"});
  CHECK(adapter.rc == 0);
  // Served by its registry ref: the adapter answers for the served model's name.
  auto gen = pr.x({"generate", "a#staging", "Say 3:", "-n", "2"});
  CHECK(gen.rc == 0);
}

TEST_CASE("promote: the suite's own file:// prompt is evidence for that prompt version",
          "[e2e][promote]") {
  // The file ends in a newline, which prompt files lose when read (promptfoo trims them): the
  // evidence is still matched on the file's content, from the suite as from --prompt.
  TempDir tmp;
  auto p = prompt_project(tmp, "Say hello to {{name}}.\n\n", kHelloTest, kProdGate);
  REQUIRE(run_xops({"-q", "eval", "evals/greet.yaml"}, p).rc == 0);
  CHECK(run_xops({"-q", "promote", "greet@v0.0.1", "--to", "prod"}, p).rc == 0);
}
