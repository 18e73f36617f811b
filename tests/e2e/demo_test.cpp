// The README's main job, quick: examples/loop/run.sh with DEMO_QUICK=1 (what scripts/demo.sh
// runs after set-up), so the demo never rots.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace xops::test;

TEST_CASE("e2e: the whole loop runs end to end (DEMO_QUICK=1)", "[e2e][examples][demo]") {
  TempDir tmp;
  auto r =
      run_process({std::string(XOPS_SOURCE_DIR) + "/examples/loop/run.sh", (tmp / "demo").string()},
                  tmp.path(), {{"DEMO_QUICK", "1"}, {"XOPS", XOPS_BINARY}});
  INFO(r.err.substr(r.err.size() > 6000 ? r.err.size() - 6000 : 0));
  REQUIRE(r.rc == 0);
  auto dir = tmp / "demo/loop";
  // Every step ran and the summary names each with its time.
  auto summary = read_text(dir / "summary.txt");
  for (const char* step :
       {"run it: pretrain -> LoRA -> eval", "nothing changed: nothing runs",
        "only LoRA and eval rerun", "reverted: the earlier runs come back from the run cache",
        "evaluate the base model", "promote the base model", "promote it to prod",
        "serve tiny-gpt-dates#prod", "a completion with curl", "feedback on the curl answer",
        "turn the logged traffic", "an HTML report", "the tuned adapter against its base"})
    CHECK_THAT(summary, Catch::Contains(step));
  CHECK_THAT(summary, Catch::Contains("exact match on held-out years: base "));
  // The commands are shown as a user types them.
  CHECK_THAT(r.err, Catch::Contains("$ xops repro && git add -A"));
  // The pipeline: a LoRA param change reran LoRA and eval only, the revert restored them.
  CHECK_THAT(r.out, Catch::Contains("pretrain\tunchanged\t\nlora\tran\tcommand changed; param "
                                    "lora.max_steps changed: 60 -> 30"));
  CHECK_THAT(r.out, Catch::Contains("lora\trestored\t"));
  CHECK_THAT(r.out, Catch::Contains("dvc.lock and the adapter pointer are as committed"));
  CHECK_THAT(r.err, Catch::Contains("$ xops promote tiny-gpt-dates@v0.0.1 --to prod"));
  // What it leaves behind is real: results, reports, registry tags, served traffic as cases.
  auto tuned = nlohmann::json::parse(read_text(dir / "eval-tuned.json"));
  CHECK(tuned["summary"]["cases"].get<int>() == 30);
  // Tuned against base: the same 30 cases on each, compared one by one.
  auto vs = nlohmann::json::parse(read_text(dir / "eval-vs-base.json"));
  REQUIRE(vs["summary"]["against_baseline"].size() == 1);
  CHECK(vs["summary"]["against_baseline"][0]["compared"].get<int>() == 30);
  CHECK(vs["summary"]["cases"].get<int>() == 60);
  CHECK_THAT(summary, Catch::Contains("LoRA-tuned against its base, case by case: "));
  // And judged pair by pair in both orders; the roles swapped give the complement.
  REQUIRE(vs["summary"]["pairwise"].size() == 1);
  const auto& pw = vs["summary"]["pairwise"][0];
  CHECK(pw["wins"].get<int>() + pw["ties"].get<int>() + pw["losses"].get<int>() == 30);
  auto swapped = nlohmann::json::parse(read_text(dir / "eval-base-vs-tuned.json"));
  REQUIRE(swapped["summary"]["pairwise"].size() == 1);
  CHECK(swapped["summary"]["pairwise"][0]["wins"] == pw["losses"]);
  CHECK(swapped["summary"]["pairwise"][0]["win_rate"].get<double>() ==
        Approx(1 - pw["win_rate"].get<double>()));
  CHECK_THAT(summary, Catch::Contains("judged in both orders: win rate "));
  // The prod promotion passed the pairwise gate on that comparison.
  auto promos = nlohmann::json::parse(
      run_xops({"--json", "track", "runs", "--filter", "kind = 'promote'"}, dir).out);
  bool pairwise_gate = false;
  for (const auto& p : promos)
    for (const auto& [k, v] : p["tags"].items())
      if (v.get<std::string>().rfind("pairwise evals/dates.yaml PASS", 0) == 0)
        pairwise_gate = v.get<std::string>().find("baseline=tiny-gpt@v0.0.1") != std::string::npos;
  CHECK(pairwise_gate);
  // And the base, judged against the adapter, is refused by the same kind of gate.
  CHECK_THAT(r.err, Catch::Contains("$ xops promote tiny-gpt@v0.0.1 --to prod"));
  CHECK_THAT(r.out + r.err, Catch::Contains("< 0.500 against tiny-gpt-dates@v0.0.1"));
  CHECK(fs::file_size(dir / "runs.html") > 1000);
  auto tags = sh("git tag", dir);
  CHECK_THAT(tags.out, !Catch::Contains("tiny-gpt#prod"));  // the refused base
  CHECK_THAT(tags.out, Catch::Contains("tiny-gpt-dates#prod#"));
  CHECK_THAT(tags.out, Catch::Contains("date-prompt#prod#"));
  auto cases = read_text(dir / "evals/from-traffic.jsonl");
  CHECK(std::count(cases.begin(), cases.end(), '\n') >= 1);
  auto curl = nlohmann::json::parse(read_text(dir / "curl.json"));
  CHECK(curl["model"] == "tiny-gpt-dates");
  // The adapter records its base as the config named it, not this machine's path.
  auto adapter =
      nlohmann::json::parse(read_text(dir / "models/tiny-gpt-dates/adapter_config.json"));
  CHECK(adapter["base_model_name_or_path"] == "models/tiny-gpt");
}
