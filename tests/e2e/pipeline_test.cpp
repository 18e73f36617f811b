// `xops repro` through the binary (#31): DVC's get-started pipeline shape (prepare ->
// featurize -> train -> evaluate with params.yaml) and the skip decisions DVC makes, the run
// cache, dvc.lock in DVC's format read back against sha256sum, foreach and ${}, -j 2 running
// independent stages at once, failures that commit nothing, bad pipelines refused with
// dvc.yaml:LINE, params/metrics across revisions, and --push/--pull into a fresh clone.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Each command appends its stage's name to ran.log (not an output): what actually ran.
const char* kGetStarted = R"(stages:
  prepare:
    cmd: >-
      echo prepare >> ran.log && mkdir -p data/prepared &&
      awk -v s=${prepare.split} 'NR % 10 < s * 10 { print > "data/prepared/test.txt"; next } { print > "data/prepared/train.txt" }' data/data.xml
    deps:
    - data/data.xml
    params:
    - prepare.seed
    - prepare.split
    outs:
    - data/prepared
  featurize:
    cmd: >-
      echo featurize >> ran.log && mkdir -p data/features &&
      head -n ${featurize.max_features} data/prepared/train.txt > data/features/train.txt &&
      cp data/prepared/test.txt data/features/test.txt
    deps:
    - data/prepared
    params:
    - featurize.max_features
    - featurize.ngrams
    outs:
    - data/features
  train:
    cmd: echo train >> ran.log && wc -l data/features/train.txt > model.pkl && echo n_est=${train.n_est} >> model.pkl
    deps:
    - data/features
    params:
    - train.min_split
    - train.n_est
    - train.seed
    outs:
    - model.pkl
  evaluate:
    cmd: >-
      echo evaluate >> ran.log && mkdir -p eval &&
      awk '{ n += 1 } END { printf "{\"avg_prec\": %.4f, \"lines\": %d}\n", n / 1000, n }' model.pkl data/features/test.txt > eval/metrics.json
    deps:
    - data/features
    - model.pkl
    outs:
    - eval:
        cache: false
metrics:
- eval/metrics.json
)";

const char* kParams = R"(prepare:
  split: 0.2
  seed: 20170428
featurize:
  max_features: 50
  ngrams: 2
train:
  seed: 20170428
  n_est: 50
  min_split: 0.01
)";

struct Pipe {
  TempDir tmp;
  fs::path p;
  Pipe() {
    REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc ==
            0);
    p = tmp / "p";
  }
  ProcResult x(const std::vector<std::string>& args) const { return run_xops(args, p); }
  json j(const std::vector<std::string>& args) const {
    auto r = x(args);
    INFO(r.err);
    REQUIRE(r.rc == 0);
    return json::parse(r.out);
  }
  // stage -> action of a `--json repro` (or stage status) run.
  std::map<std::string, std::string> repro(std::vector<std::string> args = {}) const {
    args.insert(args.begin(), {"--json", "repro"});
    auto out = j(args);
    std::map<std::string, std::string> m;
    for (const auto& s : out["stages"]) m[s["stage"]] = s["action"];
    return m;
  }
  std::string ran() const {
    std::string s = fs::exists(p / "ran.log") ? read_text(p / "ran.log") : "";
    fs::remove(p / "ran.log");
    for (auto& c : s)
      if (c == '\n') c = ' ';
    return s;
  }
  void set(const std::string& from, const std::string& to,
           const std::string& file = "params.yaml") const {
    auto s = read_text(p / file);
    auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    s.replace(at, from.size(), to);
    write_text(p / file, s);
  }
};

void get_started(Pipe& t) {
  std::string data;
  for (int i = 0; i < 200; ++i)
    data += "<row id=\"" + std::to_string(i) + "\">post " + std::to_string(i * 7 % 13) + "</row>\n";
  fs::create_directories(t.p / "data");
  write_text(t.p / "data/data.xml", data);
  write_text(t.p / "params.yaml", kParams);
  write_text(t.p / "dvc.yaml", kGetStarted);
}

std::string sha256sum(const fs::path& f) {
  auto r = run_process({"sha256sum", f.string()}, f.parent_path());
  REQUIRE(r.rc == 0);
  return r.out.substr(0, 64);
}

using Actions = std::map<std::string, std::string>;

}  // namespace

TEST_CASE(
    "pipeline: DVC's get-started shape reruns exactly what DVC would, restoring reverted runs",
    "[e2e][pipeline]") {
  Pipe t;
  get_started(t);
  // First run: every stage, in dependency order.
  CHECK(t.repro() ==
        Actions{{"prepare", "ran"}, {"featurize", "ran"}, {"train", "ran"}, {"evaluate", "ran"}});
  CHECK(t.ran() == "prepare featurize train evaluate ");
  // dvc.lock in DVC's schema, each hash as sha256sum computes it.
  auto lock = read_text(t.p / "dvc.lock");
  CHECK_THAT(lock, Catch::StartsWith("schema: '2.0'\nstages:\n  prepare:\n"));
  CHECK_THAT(lock, Catch::Contains("- path: data/data.xml\n        hash: sha256\n        sha256: " +
                                   sha256sum(t.p / "data/data.xml") + "\n        size: " +
                                   std::to_string(fs::file_size(t.p / "data/data.xml"))));
  CHECK_THAT(lock, Catch::Contains("- path: model.pkl\n        hash: sha256\n        sha256: " +
                                   sha256sum(t.p / "model.pkl")));
  CHECK_THAT(
      lock,
      Catch::Contains(
          "      params.yaml:\n        prepare.seed: 20170428\n        prepare.split: 0.2\n"));
  CHECK_THAT(lock, Catch::Contains(".dir\n        size: "));
  CHECK_THAT(lock, Catch::Contains("nfiles: 2"));
  // Cached outputs are in the store behind pointers, like `track add`; cache: false stays in git.
  CHECK(fs::exists(t.p / "model.pkl.xops"));
  CHECK(fs::exists(t.p / "data/prepared.xops"));
  CHECK_FALSE(fs::exists(t.p / "eval.xops"));
  CHECK(run_xops({"track", "status", "--exit-code"}, t.p).rc == 0);
  REQUIRE(sh("git add -A && git commit -qm 'first run'", t.p).rc == 0);

  // Nothing changed: nothing runs.
  CHECK(t.repro() == Actions{{"prepare", "unchanged"},
                             {"featurize", "unchanged"},
                             {"train", "unchanged"},
                             {"evaluate", "unchanged"}});
  CHECK(t.ran().empty());

  // A param only train reads: train and what follows it.
  t.set("n_est: 50", "n_est: 60");
  auto dry = t.j({"--json", "stage", "status"});
  CHECK(dry["dry"] == true);
  CHECK(dry["stages"][2]["action"] == "would-run");
  CHECK(dry["stages"][2]["reasons"].dump().find("param train.n_est changed: 50 -> 60") !=
        std::string::npos);
  CHECK(dry["stages"][3]["action"] == "maybe");
  CHECK(t.ran().empty());  // --dry ran nothing
  CHECK(t.repro() == Actions{{"prepare", "unchanged"},
                             {"featurize", "unchanged"},
                             {"train", "ran"},
                             {"evaluate", "ran"}});
  CHECK(t.ran() == "train evaluate ");

  // A param featurize reads: from featurize on.
  t.set("ngrams: 2", "ngrams: 3");
  CHECK(t.repro() == Actions{{"prepare", "unchanged"},
                             {"featurize", "ran"},
                             {"train", "unchanged"},
                             {"evaluate", "unchanged"}});
  CHECK(t.ran() == "featurize ");  // ngrams is not used by the command: its outputs did not change
  t.set("max_features: 50", "max_features: 40");
  CHECK(t.repro() ==
        Actions{
            {"prepare", "unchanged"}, {"featurize", "ran"}, {"train", "ran"}, {"evaluate", "ran"}});
  CHECK(t.ran() == "featurize train evaluate ");

  // A dependency's content: from prepare on.
  write_text(t.p / "data/data.xml",
             read_text(t.p / "data/data.xml") + "<row id=\"200\">new</row>\n");
  // Only the named stages: train's upstream (featurize) is not part of this run, so prepare
  // rerunning says nothing about train.
  auto only = t.j({"--json", "stage", "status", "-s", "prepare", "train"});
  REQUIRE(only["stages"].size() == 2);
  CHECK(only["stages"][0]["action"] == "would-run");
  CHECK(only["stages"][1]["action"] == "unchanged");
  CHECK(t.repro() ==
        Actions{{"prepare", "ran"}, {"featurize", "ran"}, {"train", "ran"}, {"evaluate", "ran"}});
  CHECK(t.ran() == "prepare featurize train evaluate ");

  // Reverted: the run cache gives back earlier outputs without running (evaluate's output is
  // not cached, so it runs).
  sh("head -n 200 data/data.xml > d && mv d data/data.xml", t.p);
  t.set("max_features: 40", "max_features: 50");
  t.set("ngrams: 3", "ngrams: 2");
  t.set("n_est: 60", "n_est: 50");
  CHECK(t.repro() == Actions{{"prepare", "restored"},
                             {"featurize", "restored"},
                             {"train", "restored"},
                             {"evaluate", "ran"}});
  CHECK(t.ran() == "evaluate ");
  CHECK(sh("git diff --exit-code HEAD -- dvc.lock model.pkl.xops data/prepared.xops", t.p).rc == 0);
  CHECK(read_text(t.p / "model.pkl").find("n_est=50") != std::string::npos);

  // An output deleted: restored from the store, the command not run.
  fs::remove(t.p / "model.pkl");
  CHECK(t.repro()["train"] == "restored");
  CHECK(t.ran().empty());
  // An output edited by hand: put back as dvc.lock names it.
  write_text(t.p / "model.pkl", "tampered\n");
  CHECK(t.repro()["train"] == "restored");
  CHECK(read_text(t.p / "model.pkl").find("n_est=50") != std::string::npos);

  // -f runs even what is unchanged; a target brings its upstream stages; -s only itself.
  CHECK(t.repro({"-f", "train"}) ==
        Actions{{"prepare", "ran"}, {"featurize", "ran"}, {"train", "ran"}});
  CHECK(t.ran() == "prepare featurize train ");
  auto forced = t.j({"--json", "repro", "-f", "-s", "train"});
  REQUIRE(forced["stages"].size() == 1);
  CHECK(forced["stages"][0]["action"] == "ran");
  CHECK(forced["stages"][0]["reasons"] == json::array({"forced"}));
  CHECK(forced["stages"][0]["seconds"].get<double>() > 0);
  CHECK(forced["stages"][0]["error"].is_null());
  auto forced_run = forced["stages"][0]["run"].get<std::string>();
  CHECK(t.ran() == "train ");
  CHECK(t.repro({"--no-run-cache", "--downstream", "-s", "featurize"}).size() == 3);

  // Every run is a tracked run: the stage's params and its inputs' hashes.
  auto runs = t.j({"--json", "track", "runs", "--filter", "name = 'train'"});
  REQUIRE(runs.size() >= 3);
  auto show = t.j({"--json", "track", "show", forced_run});
  // Its output as an artifact, by the content sha256sum gives.
  REQUIRE(show["artifacts"].size() == 1);
  CHECK(show["artifacts"][0]["path"] == "model.pkl");
  CHECK(show["artifacts"][0]["sha256"] == sha256sum(t.p / "model.pkl"));
  CHECK(show["artifacts"][0]["size"] == fs::file_size(t.p / "model.pkl"));
  CHECK(show["params"]["train.n_est"] == "50");
  CHECK(show["params"]["train.min_split"] == "0.01");
  // Its inputs: the directory it read, by the manifest id dvc.lock names (without ".dir").
  auto lk = read_text(t.p / "dvc.lock");
  auto at = lk.find("sha256: ", lk.find("- path: data/features", lk.find("  train:\n")));
  REQUIRE(at != std::string::npos);
  CHECK(lk.substr(at + 8 + 64, 4) == ".dir");
  CHECK(show["inputs"]["data/features"] == lk.substr(at + 8, 64));
  CHECK(show["tags"]["stage"] == "train");
  CHECK(show["status"] == "finished");
}

TEST_CASE(
    "pipeline: foreach, vars and ${} interpolation, and -j 2 running independent stages at once",
    "[e2e][pipeline]") {
  Pipe t;
  write_text(t.p / "params.yaml", "lr: 0.001\nsizes: {small: 1, big: 3}\nname: run-a\n");
  write_text(t.p / "extra.yaml", "tag: v7\nunused: 1\n");
  // Two members rendezvous: each waits (up to 10 s) for the other to have started. With one
  // stage at a time the first one gives up and fails; with -j 2 both finish.
  write_text(t.p / "dvc.yaml", R"(vars:
  - extra.yaml:tag
  - greeting: hello
stages:
  gen:
    foreach: ${sizes}
    do:
      cmd: echo ${greeting} ${key} ${item} ${lr} ${tag} > out-${key}.txt
      outs:
      - out-${key}.txt
  meet:
    foreach: [a, b]
    do:
      cmd: >-
        touch started-${item} && other=$(test ${item} = a && echo b || echo a) &&
        for i in $(seq 100); do [ -f started-$other ] && break; sleep 0.1; done &&
        [ -f started-$other ] && echo met > met-${item}.txt
      outs:
      - met-${item}.txt
  join:
    cmd: cat out-small.txt out-big.txt > joined-${name}.txt
    deps: [out-small.txt, out-big.txt]
    outs: ["joined-${name}.txt"]
)");
  auto a = t.repro({"-j", "2"});
  CHECK(a == Actions{{"gen@small", "ran"},
                     {"gen@big", "ran"},
                     {"meet@a", "ran"},
                     {"meet@b", "ran"},
                     {"join", "ran"}});
  CHECK(read_text(t.p / "out-big.txt") == "hello big 3 0.001 v7\n");
  CHECK(read_text(t.p / "joined-run-a.txt") == "hello small 1 0.001 v7\nhello big 3 0.001 v7\n");
  // Values read through ${} from params files are params of the stage (DVC's tracked vars).
  auto lock = read_text(t.p / "dvc.lock");
  CHECK_THAT(lock,
             Catch::Contains(
                 "  gen@big:\n    cmd: echo hello big 3 0.001 v7 > out-big.txt\n    params:\n"));
  auto big = lock.substr(lock.find("  gen@big:"), lock.find("  meet@a:") - lock.find("  gen@big:"));
  CHECK_THAT(big, Catch::Contains("      extra.yaml:\n        tag: v7\n"));
  CHECK_THAT(big, Catch::Contains("      params.yaml:\n        lr: 0.001\n"));
  CHECK(lock.find("unused") == std::string::npos);
  auto listed = t.j({"--json", "stage", "list"});
  REQUIRE(listed.size() == 5);
  CHECK(listed[4]["stage"] == "join");
  CHECK(listed[4]["where"] == "dvc.yaml:21");  // its first key, as written above
  CHECK(listed[4]["wdir"] == "");
  CHECK(listed[4]["cmd"] == json::array({"cat out-small.txt out-big.txt > joined-run-a.txt"}));
  CHECK(listed[4]["deps"] == json::array({"out-small.txt", "out-big.txt"}));
  CHECK(listed[4]["outs"] ==
        json::parse(R"([{"path": "joined-run-a.txt", "kind": "out", "cache": true}])"));
  CHECK(listed[0]["frozen"] == false);
  CHECK(t.x({"dag"}).out == "gen@small\ngen@big\nmeet@a\nmeet@b\njoin <- gen@small, gen@big\n");
  CHECK_THAT(t.x({"dag", "--dot"}).out, Catch::Contains("\"gen@big\" -> \"join\";"));

  // One member's value changes: only that member and what reads it.
  t.set("big: 3", "big: 4");
  CHECK(t.repro() == Actions{{"gen@small", "unchanged"},
                             {"gen@big", "ran"},
                             {"meet@a", "unchanged"},
                             {"meet@b", "unchanged"},
                             {"join", "ran"}});
  CHECK(t.repro({"gen@small"}) == Actions{{"gen@small", "unchanged"}});
  CHECK(t.repro({"gen"}).size() == 2);  // NAME selects every NAME@KEY

  // One stage at a time, the rendezvous cannot happen: the first member fails, commits
  // nothing, and the lock keeps what the last good run wrote.
  auto before = read_text(t.p / "dvc.lock");
  fs::remove(t.p / "started-a");
  fs::remove(t.p / "started-b");
  auto r = t.x({"--json", "repro", "-f", "-s", "meet"});
  CHECK(r.rc == 1);
  auto res = json::parse(r.out);
  CHECK(res["failed"] == true);
  CHECK(res["stages"][0]["action"] == "failed");
  CHECK(res["stages"][0]["error"] == "the command exited with 1");
  CHECK(res["stages"][1]["action"] == "not-run");
  CHECK(read_text(t.p / "dvc.lock") == before);
}

TEST_CASE("pipeline: a failing stage commits nothing, and params and metrics across revisions",
          "[e2e][pipeline]") {
  Pipe t;
  write_text(t.p / "params.yaml", "train:\n  lr: 0.1\n  epochs: 3\n");
  write_text(t.p / "dvc.yaml", R"(stages:
  train:
    cmd:
    - echo lr=${train.lr} > model.txt
    - 'printf "{\"loss\": %s, \"acc\": 0.5}\n" ${train.lr} > metrics.json'
    - test ! -f fail
    params: [train.lr]
    outs: [model.txt]
    metrics:
    - metrics.json:
        cache: false
  report:
    cmd: 'cp model.txt report.json && printf "{\"words\": 2}" > scores.json'
    deps: [model.txt]
    outs: [report.json]
    metrics: [scores.json]
)");
  CHECK(t.repro() == Actions{{"train", "ran"}, {"report", "ran"}});
  REQUIRE(sh("git add -A && git commit -qm one", t.p).rc == 0);
  auto lock = read_text(t.p / "dvc.lock");
  CHECK_THAT(lock, Catch::Contains("    cmd:\n      - echo lr=0.1 > model.txt\n"));

  // The command list stops at the first failure: nothing is committed, dvc.lock unchanged,
  // the pointer still names the last good output.
  t.set("lr: 0.1", "lr: 0.2");
  write_text(t.p / "fail", "");
  auto pointer = read_text(t.p / "model.txt.xops");
  auto r = t.x({"--json", "repro"});
  CHECK(r.rc == 1);
  auto res = json::parse(r.out);
  CHECK(res["stages"][0]["action"] == "failed");
  CHECK(res["stages"][1]["action"] == "not-run");
  CHECK(read_text(t.p / "dvc.lock") == lock);
  CHECK(read_text(t.p / "model.txt.xops") == pointer);
  CHECK_THAT(r.err, Catch::Contains("stage train failed: the command exited with 1"));
  auto failed = t.j({"--json", "track", "runs", "--filter", "status = 'failed'"});
  CHECK(failed.size() == 1);

  fs::remove(t.p / "fail");
  CHECK(t.repro() == Actions{{"train", "ran"}, {"report", "ran"}});
  // Params and metrics against HEAD: the metrics file in git (cache: false) and the one in
  // the store, found through HEAD's dvc.lock.
  auto pd = t.j({"--json", "params", "diff"});
  CHECK(pd["params.yaml"]["train.lr"] == json({{"old", 0.1}, {"new", 0.2}}));
  CHECK_FALSE(pd["params.yaml"].contains("train.epochs"));
  CHECK(t.j({"--json", "params", "diff", "--all"})["params.yaml"].contains("train.epochs"));
  auto md = t.j({"--json", "metrics", "diff"});
  CHECK(md["metrics.json"]["loss"]["old"] == 0.1);
  CHECK(md["metrics.json"]["loss"]["new"] == 0.2);
  CHECK(md["metrics.json"]["loss"]["diff"].get<double>() == Approx(0.1));
  CHECK_FALSE(md["metrics.json"].contains("acc"));
  auto shown = t.j({"--json", "metrics", "show", "--rev", "HEAD"});
  CHECK(shown["metrics.json"]["loss"] == 0.1);
  CHECK(shown["scores.json"]["words"] == 2);  // cached: read from the store via HEAD's dvc.lock
  CHECK(t.j({"--json", "metrics", "show"})["metrics.json"]["loss"] == 0.2);
  // Metrics files logged into the stage's tracked run.
  auto runs =
      t.j({"--json", "track", "runs", "--filter", "name = 'train' and status = 'finished'"});
  REQUIRE(runs.size() == 2);
  CHECK(t.j({"--json", "track", "show", runs[0]["id"].get<std::string>()})["metrics"].dump().find(
            "loss") != std::string::npos);
}

TEST_CASE("pipeline: --push, then a fresh clone's --pull restores every output without running",
          "[e2e][pipeline]") {
  Pipe t;
  write_text(t.p / "xops.yaml", "name: p\nremotes:\n  r:\n    url: " + (t.tmp / "remote").string() +
                                    "\n    default: true\n");
  write_text(t.p / "raw.txt", "a\nb\nc\n");
  write_text(t.p / "dvc.yaml", R"(stages:
  up:
    cmd: echo up >> ran.log && tr a-z A-Z < raw.txt > upper.txt
    deps: [raw.txt]
    outs: [upper.txt]
  count:
    cmd: echo count >> ran.log && wc -l < upper.txt > n.txt
    deps: [upper.txt]
    outs: [n.txt]
)");
  CHECK(t.repro({"--push"}) == Actions{{"up", "ran"}, {"count", "ran"}});
  REQUIRE(
      sh("rm ran.log && git add -A && git commit -qm pipeline && cd .. && git clone -q p c", t.p)
          .rc == 0);
  auto c = t.tmp / "c";
  CHECK_FALSE(fs::exists(c / "upper.txt"));
  auto r = run_xops({"--json", "repro", "--pull"}, c);
  INFO(r.err);
  REQUIRE(r.rc == 0);
  auto res = json::parse(r.out);
  CHECK(res["stages"][0]["action"] == "unchanged");
  CHECK(res["stages"][1]["action"] == "unchanged");
  CHECK(read_text(c / "n.txt") == read_text(t.p / "n.txt"));
  CHECK_FALSE(fs::exists(c / "ran.log"));
}

TEST_CASE("pipeline: bad pipelines are refused with dvc.yaml:LINE and a hint", "[e2e][pipeline]") {
  Pipe t;
  write_text(t.p / "params.yaml", "a: 1\n");
  auto refuse = [&](const std::string& yaml, const std::string& want, int rc = 2) {
    write_text(t.p / "dvc.yaml", yaml);
    auto r = t.x({"repro"});
    INFO(yaml);
    CHECK(r.rc == rc);
    CHECK_THAT(r.err, Catch::Contains(want));
    CHECK_FALSE(fs::exists(t.p / "dvc.lock"));
  };
  refuse(
      "stages:\n  a:\n    cmd: cp y x\n    deps: [y]\n    outs: [x]\n  b:\n    cmd: cp x y\n    "
      "deps: [x]\n    outs: [y]\n",
      "the stages form a cycle: ");
  refuse("stages:\n  a:\n    cmd: touch x\n    outs: [x]\n  b:\n    cmd: touch x\n    outs: [x]\n",
         "dvc.yaml:6: output 'x' of stage 'b' is also an output of stage 'a' (dvc.yaml:3)");
  refuse(
      "stages:\n  a:\n    cmd: mkdir -p d\n    outs: [d]\n  b:\n    cmd: touch d/x\n    outs: "
      "[d/x]\n",
      "output 'd/x' of stage 'b' overlaps output 'd' of stage 'a'");
  refuse("stages:\n  a:\n    cmd: touch x\n    deps: [x]\n    outs: [x]\n",
         "stage 'a' depends on its own output 'x'");
  refuse("stages:\n  a:\n    cmd: touch x\n    outz: [x]\n",
         "dvc.yaml:4:5: unknown key 'outz' in stage 'a'", 1);
  refuse("stages:\n  a:\n    matrix:\n      x: [1, 2]\n    cmd: echo\n",
         "dvc.yaml:4:7: matrix stages are not supported", 1);
  refuse("stages:\n  a:\n    cmd: touch x\n    outs:\n    - x:\n        remote: s3\n",
         "dvc.yaml:6:9: 'remote' on an output is not supported by xops", 1);
  refuse("stages:\n  a:\n    cmd: echo ${nope}\n",
         "dvc.yaml:3:10: stages.a.cmd: could not find 'nope'");
  refuse("stages:\n  a:\n    cmd: echo\n    params:\n    - p.toml:\n      - x\n",
         "xops reads params from YAML and JSON files");
  refuse("stages:\n  a:\n    cmd: echo\n    params: [b]\n",
         "stage 'a' reads param 'b', which params.yaml does not define");
  refuse("stages:\n  a:\n    cmd: echo\n    outs: [../x]\n", "'../x' leaves the workspace");
  refuse("stages:\n  a.b:\n    cmd: echo\n", "'a.b' is not a valid stage name", 1);
  refuse("artifacts:\n  m: {path: m}\n", "'artifacts:' is not supported by xops", 1);
  // An output where `track add` would refuse it: inside a directory tracked as one.
  fs::create_directories(t.p / "raw");
  write_text(t.p / "raw/a.txt", "a");
  REQUIRE(t.x({"-q", "track", "add", "raw"}).rc == 0);
  refuse("stages:\n  a:\n    cmd: touch raw/b.txt\n    outs: [raw/b.txt]\n",
         "dvc.yaml:3: output 'raw/b.txt' of stage 'a' is inside raw, which `xops track add` "
         "versions as one directory");
  // Runtime failures: a missing dependency, an output the command did not write.
  refuse("stages:\n  a:\n    cmd: echo\n    deps: [missing.txt]\n", "", 1);
  auto r = t.x({"--json", "repro"});
  CHECK(json::parse(r.out)["stages"][0]["error"] == "dependency missing.txt does not exist");
  refuse("stages:\n  a:\n    cmd: echo hi\n    outs: [never.txt]\n",
         "stage a failed: the command did not produce its output never.txt", 1);
  CHECK_FALSE(fs::exists(t.p / "never.txt.xops"));
  // No dvc.yaml at all.
  fs::remove(t.p / "dvc.yaml");
  auto none = t.x({"repro"});
  CHECK(none.rc == 3);
  CHECK_THAT(none.err, Catch::Contains("no dvc.yaml in this workspace"));
}

TEST_CASE("pipeline: an interrupted stage stops with everything it started and commits nothing",
          "[e2e][pipeline]") {
  Pipe t;
  // The shell starts a child (sleep) that holds the output pipes: the signal must reach it
  // too, or repro would wait for it. `trap` shows the stage itself received the signal.
  write_text(t.p / "dvc.yaml", R"(stages:
  slow:
    cmd: trap 'echo got-int > signalled; exit 130' INT; echo partial > out.txt; touch started; sleep 60; echo done
    outs: [out.txt]
)");
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(t.p.c_str()) != 0) _exit(99);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(XOPS_BINARY, XOPS_BINARY, "repro", (char*)nullptr);
    _exit(98);
  }
  for (int i = 0; i < 200 && !fs::exists(t.p / "started"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(fs::exists(t.p / "started"));
  auto t0 = std::chrono::steady_clock::now();
  kill(pid, SIGINT);
  int st = 0;
  waitpid(pid, &st, 0);
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(WEXITSTATUS(st) == 130);
  CHECK(waited < std::chrono::seconds(30));  // not the sleep's 60 s: the whole group stopped
  CHECK(read_text(t.p / "signalled") == "got-int\n");
  CHECK_FALSE(fs::exists(t.p / "dvc.lock"));
  CHECK_FALSE(fs::exists(t.p / "out.txt.xops"));
  auto runs = t.j({"--json", "track", "runs"});
  REQUIRE(runs.size() == 1);
  CHECK(runs[0]["status"] == "killed");
}
