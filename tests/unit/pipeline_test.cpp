// core/pipeline: values as DVC's templating writes them (Python's str(), printed by
// /usr/bin/python3 for the expectations below), ${} resolution and its errors, foreach
// naming, dvc.lock written and read back, and the graph's checks and selections.
#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/pipeline/dvc_yaml.hpp"
#include "core/pipeline/graph.hpp"
#include "core/pipeline/interpolate.hpp"
#include "core/pipeline/lock.hpp"
#include "core/pipeline/values.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using namespace xops::pipeline;
using xops::test::TempDir;
using xops::test::write_text;

TEST_CASE("pipeline values: Python's str() of numbers, dotted and indexed lookups", "[pipeline]") {
  // python3 -c "print(str(1e-05), str(100.0), str(0.1+0.2), str(1e16), str(123456789.0), ...)"
  CHECK(to_str(J(1e-05)) == "1e-05");
  CHECK(to_str(J(100.0)) == "100.0");
  CHECK(to_str(J(0.1 + 0.2)) == "0.30000000000000004");
  CHECK(to_str(J(1e16)) == "1e+16");
  CHECK(to_str(J(123456789.0)) == "123456789.0");
  CHECK(to_str(J(1.5e-4)) == "0.00015");
  CHECK(to_str(J(0.0001)) == "0.0001");
  CHECK(to_str(J(-2.5e22)) == "-2.5e+22");
  CHECK(to_str(J(true)) == "true");  // DVC's to_str lowers booleans
  CHECK(to_str(J(42)) == "42");
  J doc = J::parse(R"({"a": {"b": [10, {"c": "x"}]}, "n": 1})");
  REQUIRE(lookup(doc, "a.b[1].c"));
  CHECK(*lookup(doc, "a.b[1].c") == "x");
  CHECK(*lookup(doc, "a.b[0]") == 10);
  CHECK(lookup(doc, "a.b[2]") == nullptr);
  CHECK(lookup(doc, "a.z") == nullptr);
  CHECK(lookup(doc, "n.x") == nullptr);
  J flat = J::object();
  flatten(doc, "", flat);
  CHECK(flat.size() == 2);
  CHECK(flat["a.b"].is_array());
}

TEST_CASE("pipeline interpolation: types kept whole, text inside strings, escapes, errors",
          "[pipeline]") {
  Context ctx;
  ctx.merge(J::parse(R"({"lr": 0.001, "layers": [64, 32], "train": {"epochs": 3}, "flag": false})"),
            "params.yaml", "params.yaml");
  ctx.merge(J::parse(R"({"name": "m"})"), "", "vars");
  Context::Used used;
  CHECK(ctx.resolve_string("${lr}", "w", &used) == J(0.001));
  CHECK(ctx.resolve_string("${layers}", "w", &used) == J::parse("[64, 32]"));
  CHECK(ctx.resolve_string("--lr ${lr} --e ${ train.epochs } ${flag}", "w", &used) ==
        "--lr 0.001 --e 3 false");
  CHECK(ctx.resolve_string("${name}-${layers[1]}.bin", "w", &used) == "m-32.bin");
  CHECK(ctx.resolve_string("cost \\${lr}", "w", &used) == "cost ${lr}");
  // Only keys read from params files are tracked, by the path used.
  CHECK(used.size() == 1);
  CHECK(used["params.yaml"].count("lr"));
  CHECK(used["params.yaml"].count("train.epochs"));
  CHECK(used["params.yaml"].count("layers[1]"));
  CHECK_FALSE(used["params.yaml"].count("name"));
  CHECK_THROWS_WITH(ctx.resolve_string("echo ${nope}", "dvc.yaml:3:10: cmd", nullptr),
                    Catch::Contains("dvc.yaml:3:10: cmd: could not find 'nope'"));
  CHECK_THROWS_WITH(ctx.resolve_string("x ${train}", "w", nullptr),
                    Catch::Contains("'train' is a mapping"));
  CHECK_THROWS_WITH(ctx.resolve_string("x ${lr", "w", nullptr), Catch::Contains("unterminated"));
  // A second source redefining a value is refused (DVC: MergeError); mappings merge.
  CHECK_THROWS_WITH(ctx.merge(J::parse(R"({"lr": 1})"), "other.yaml", "vars"),
                    Catch::Contains("cannot redefine 'lr'"));
  ctx.merge(J::parse(R"({"train": {"batch": 8}})"), "other.yaml", "vars");
  Context::Used merged;
  CHECK(ctx.resolve_string("${train.batch} ${train.epochs}", "w", &merged) == "8 3");
  // Each key is tracked against the file that holds it, though both merged into `train`.
  CHECK(merged["other.yaml"].count("train.batch"));
  CHECK_FALSE(merged["params.yaml"].count("train.batch"));
  CHECK(merged["params.yaml"].count("train.epochs"));
}

TEST_CASE("pipeline dvc.yaml: foreach names, wdir paths, params groups, strict keys",
          "[pipeline]") {
  TempDir tmp;
  write_text(tmp / "params.yaml", "seeds: [1, 2]\nsets: [{n: a}, {n: b}]\nlr: 0.5\n");
  fs::create_directories(tmp / "sub");
  write_text(tmp / "sub/p.json", R"({"k": {"v": 1}, "w": 2})");
  write_text(tmp / "dvc.yaml", R"(stages:
  s:
    foreach: ${seeds}
    do:
      cmd: run ${item}
      outs: ["out-${item}"]
  m:
    foreach: ${sets}
    do:
      cmd: make ${item.n}
  t:
    wdir: sub
    cmd: [first, "second ${lr}"]
    deps: [../in.txt, data]
    params:
    - p.json: [k.v]
    - p.json:
    outs:
    - model:
        cache: false
        persist: true
    plots:
    - curve.json:
        x: step
        y: loss
)");
  auto p = load_pipeline(tmp.path());
  REQUIRE(p.stages.size() == 5);
  CHECK(p.stages[0].name == "s@1");
  CHECK(p.stages[1].name == "s@2");
  CHECK(p.stages[1].outs[0].rel == "out-2");
  CHECK(p.stages[2].name == "m@0");  // a list of mappings is named by position, as DVC does
  CHECK(p.stages[3].cmd == std::vector<std::string>{"make b"});
  const auto& t = p.stages[4];
  CHECK(t.wdir == "sub");
  CHECK(t.cmd == std::vector<std::string>{"first", "second 0.5"});
  CHECK(t.deps[0].rel == "in.txt");
  CHECK(t.deps[0].path == "../in.txt");
  CHECK(t.deps[1].rel == "sub/data");
  REQUIRE(t.params.size() == 2);
  CHECK(t.params[0].rel == "sub/p.json");
  CHECK(t.params[0].all);
  CHECK(t.params[1].rel == "params.yaml");  // lr, read through ${}
  CHECK(t.params[1].file == "../params.yaml");
  CHECK(t.outs[0].rel == "sub/model");
  CHECK_FALSE(t.outs[0].cache);
  CHECK(t.outs[0].persist);
  CHECK(t.outs[1].kind == OutKind::Plot);
  CHECK(t.where == "dvc.yaml:12");
  CHECK(p.warnings.size() == 1);

  write_text(tmp / "dvc.yaml",
             "stages:\n  a:\n    cmd: x\n    outs:\n    - o:\n        cach: false\n");
  CHECK_THROWS_WITH(load_pipeline(tmp.path()),
                    Catch::Contains("dvc.yaml:6:9: unknown option 'cach' of out o"));
  write_text(tmp / "dvc.yaml", "stages:\n  a:\n    foreach: [1, 1]\n    do:\n      cmd: x\n");
  CHECK_THROWS_WITH(load_pipeline(tmp.path()), Catch::Contains("generates 'a@1' twice"));
  write_text(tmp / "dvc.yaml", "stages:\n  a:\n    foreach: ${lr}\n    do:\n      cmd: x\n");
  CHECK_THROWS_WITH(load_pipeline(tmp.path()), Catch::Contains("must be a list or a mapping"));
  write_text(tmp / "dvc.yaml", "stages:\n  a:\n    cmd: x\n    outs: [/etc/passwd]\n");
  CHECK_THROWS_WITH(load_pipeline(tmp.path()), Catch::Contains("is absolute"));
  write_text(tmp / "dvc.yaml", "stages:\n  a:\n    cmd: x\n    outs: [.git/hooks/pre-commit]\n");
  CHECK_THROWS_WITH(load_pipeline(tmp.path()), Catch::Contains("inside .git/"));
  write_text(tmp / "dvc.yaml", "vars:\n  - x: ${lr}\nstages: {}\n");
  CHECK_THROWS_WITH(load_pipeline(tmp.path()),
                    Catch::Contains("interpolating is not allowed in vars"));
}

TEST_CASE("pipeline dvc.lock: written in DVC's layout and read back the same", "[pipeline]") {
  LockFile l;
  LockedStage s;
  s.cmd = {"python train.py"};
  s.deps.push_back({"data", "sha256", std::string(64, 'a') + ".dir", 10, 2});
  s.outs.push_back({"model.pkl", "sha256", std::string(64, 'b'), 7, 0});
  s.params = J::parse(
      R"({"params.yaml": {"lr": 0.0001, "name": "007", "on": true, "tags": ["x", "1"], "none": null}})");
  l.stages["train"] = s;
  auto text = render_lock(l, {"train"});
  CHECK_THAT(text, Catch::StartsWith(
                       "schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    deps:\n"
                       "      - path: data\n        hash: sha256\n        sha256: " +
                       std::string(64, 'a') + ".dir\n        size: 10\n        nfiles: 2\n"));
  CHECK_THAT(text, Catch::Contains("lr: 0.0001\n"));
  CHECK_THAT(text,
             Catch::Contains("name: '007'\n"));  // a string that looks like a number stays a string
  auto back = parse_lock(text, "dvc.lock");
  const auto* b = back.find("train");
  REQUIRE(b);
  CHECK(b->cmd == s.cmd);
  CHECK(b->params == s.params);
  REQUIRE(b->deps.size() == 1);
  CHECK(b->deps[0].is_dir());
  CHECK(b->deps[0].object() == std::string(64, 'a'));
  CHECK(b->deps[0].nfiles == 2);
  CHECK(b->outs[0].same_content(s.outs[0]));
  // A lock DVC wrote (md5) is read; its hashes never match ours.
  auto dvc = parse_lock(
      "schema: '2.0'\nstages:\n  a:\n    cmd: x\n    deps:\n    - path: f\n      md5: "
      "0cc175b9c0f1b6a831c399e269772661\n      size: 1\n",
      "dvc.lock");
  CHECK(dvc.find("a")->deps[0].algo == "md5");
  CHECK_FALSE(dvc.find("a")->deps[0].same_content(
      {"f", "sha256", "0cc175b9c0f1b6a831c399e269772661", 1, 0}));
  CHECK_THROWS_WITH(parse_lock("schema: '1.0'\n", "dvc.lock"),
                    Catch::Contains("dvc.lock:1:9: schema '1.0'"));
}

TEST_CASE("pipeline graph: edges through files and directories, order, selections, cycles",
          "[pipeline]") {
  Pipeline p;
  p.file = "dvc.yaml";
  auto stage = [&](const std::string& n, std::vector<std::string> deps,
                   std::vector<std::string> outs) {
    Stage s;
    s.name = n;
    s.where = "dvc.yaml:" + std::to_string(p.stages.size() + 2);
    for (auto& d : deps) s.deps.push_back({d, d});
    for (auto& o : outs) {
      Output out;
      out.path = out.rel = o;
      s.outs.push_back(out);
    }
    p.stages.push_back(s);
  };
  stage("eval", {"model/w.bin", "data"}, {"m.json"});
  stage("prep", {"raw"}, {"data/clean"});
  stage("train", {"data/clean/a.txt"}, {"model"});
  stage("other", {"x"}, {"y"});
  auto g = build_graph(p);
  CHECK(g.order == std::vector<size_t>{1, 2, 0, 3});
  CHECK(g.upstream[0] ==
        std::vector<size_t>{1, 2});  // a file in model/ and data/ holding data/clean
  CHECK(select_stages(g, {"train"}, false, false) == std::vector<size_t>{1, 2});
  CHECK(select_stages(g, {"train"}, true, false) == std::vector<size_t>{2});
  CHECK(select_stages(g, {"prep"}, true, true) == std::vector<size_t>{1, 2, 0});
  CHECK_THROWS_WITH(select_stages(g, {"nope"}, false, false),
                    Catch::Contains("no stage 'nope' in dvc.yaml"));
  CHECK(render_dag_text(g, g.order) == "prep\ntrain <- prep\neval <- prep, train\nother\n");
  stage("loop", {"m.json"}, {"raw"});
  CHECK_THROWS_WITH(build_graph(p), Catch::Contains("the stages form a cycle: "));
  // A real cycle, written the way data flows: loop writes raw, which prep reads; prep writes
  // data/clean, inside the data eval reads; eval writes m.json, which loop reads.
  CHECK_THROWS_WITH(build_graph(p), Catch::Contains("loop -> prep -> eval -> loop"));
}
