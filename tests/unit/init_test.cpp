#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/app/init_project.hpp"
#include "core/error.hpp"
#include "core/plugins/git.hpp"
#include "core/project/config.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
namespace fs = std::filesystem;

static bool executable(const fs::path& p) {
  return (fs::status(p).permissions() & fs::perms::owner_exec) != fs::perms::none;
}

TEST_CASE("init: llm template writes the layout, a git repo and executable hooks", "[init]") {
  test::TempDir tmp;
  InitOptions o;
  o.dir = tmp / "demo";
  auto r = init_project(o);
  CHECK(r.git_initialized);
  CHECK(r.name == "demo");
  for (const char* f : {"xops.yaml", ".gitignore", "configs/finetune.yaml", "evals/basic.yaml",
                        "prompts/date.txt", "data/dates-train.jsonl", ".github/workflows/xops.yml",
                        "ci/xops-check.sh"})
    CHECK(fs::exists(tmp / "demo" / f));
  CHECK(executable(tmp / "demo/ci/xops-check.sh"));
  for (const char* h : {"pre-commit", "pre-push", "post-checkout"})
    CHECK(executable(tmp / "demo/.git/hooks" / h));
  CHECK_THAT(test::read_text(tmp / "demo/.gitignore"), Catch::Contains(".xops/"));
  std::vector<std::string> w;
  auto cfg = load_project_config(tmp / "demo/xops.yaml", &w);
  CHECK(w.empty());
  CHECK(cfg.name == "demo");
  CHECK(git::Repo::discover(tmp / "demo"));
}

// Workflow trust: a gate that scores the model on its own training data proves nothing.
TEST_CASE("init: the llm template's eval cases are held out of its training data", "[init][workflow]") {
  test::TempDir tmp;
  InitOptions o;
  o.dir = tmp / "demo";
  o.hooks = false;
  init_project(o);
  auto suite = YAML::LoadFile((tmp / "demo/evals/basic.yaml").string());
  auto tests_ref = suite["tests"].as<std::string>();
  REQUIRE(tests_ref.rfind("file://", 0) == 0);
  auto train = YAML::LoadFile((tmp / "demo/configs/finetune.yaml").string())["data"]["train"].as<std::string>();
  auto training = test::read_text(tmp / "demo" / train);
  std::ifstream cases(tmp / "demo/evals" / tests_ref.substr(7));
  REQUIRE(cases.good());
  std::string line;
  size_t n = 0;
  while (std::getline(cases, line)) {
    if (line.empty()) continue;
    auto vars = nlohmann::json::parse(line)["vars"];
    ++n;
    for (const auto& [k, v] : vars.items()) {
      INFO(k << " = " << v);
      CHECK(training.find(v.get<std::string>()) == std::string::npos);  // no value seen in training
    }
    // Nor its year: the model must map digits it never saw in that position together.
    auto year = vars["date"].get<std::string>().substr(0, 4);
    CHECK(training.find("Date: " + year + "-") == std::string::npos);
  }
  CHECK(n >= 20);
}

TEST_CASE("init: a second run refuses with a precondition error, --force rewrites", "[init]") {
  test::TempDir tmp;
  InitOptions o;
  o.dir = tmp.path();
  o.template_name = "minimal";
  init_project(o);
  try {
    init_project(o);
    FAIL("expected refusal");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Precondition);
  }
  test::write_text(tmp / "xops.yaml", "name: broken\n");
  test::write_text(tmp / "notes.txt", "mine");
  o.force = true;
  init_project(o);
  CHECK_THAT(test::read_text(tmp / "xops.yaml"), Catch::Contains("template `minimal`"));
  CHECK(test::read_text(tmp / "notes.txt") == "mine");
}

TEST_CASE("init: existing foreign hooks are appended to (shell) or left alone", "[init]") {
  test::TempDir tmp;
  git::Repo::init(tmp.path());
  test::write_text(tmp / ".git/hooks/pre-commit", "#!/bin/sh\necho mine\n");
  test::write_text(tmp / ".git/hooks/pre-push", "#!/usr/bin/python3\nprint('mine')\n");
  InitOptions o;
  o.dir = tmp.path();
  auto r = init_project(o);
  CHECK_FALSE(r.git_initialized);
  auto pc = test::read_text(tmp / ".git/hooks/pre-commit");
  CHECK_THAT(pc, Catch::StartsWith("#!/bin/sh\necho mine\n"));
  CHECK_THAT(pc, Catch::Contains("track status --exit-code"));
  CHECK(test::read_text(tmp / ".git/hooks/pre-push") == "#!/usr/bin/python3\nprint('mine')\n");
  REQUIRE(r.warnings.size() == 1);
  CHECK_THAT(r.warnings[0], Catch::Contains("pre-push"));
  // Re-running with --force refreshes our block instead of appending a second one.
  o.force = true;
  init_project(o);
  auto again = test::read_text(tmp / ".git/hooks/pre-commit");
  CHECK(again == pc);
}

TEST_CASE("init: a failure half-way leaves nothing behind", "[init]") {
  test::TempDir tmp;
  fs::create_directories(tmp / "p");
  test::write_text(tmp / "p/configs", "a file where a directory must go");
  InitOptions o;
  o.dir = tmp / "p";
  CHECK_THROWS_AS(init_project(o), Error);
  CHECK_FALSE(fs::exists(tmp / "p/xops.yaml"));
  CHECK_FALSE(fs::exists(tmp / "p/.git"));
  CHECK_FALSE(fs::exists(tmp / "p/data"));
  CHECK(test::read_text(tmp / "p/configs") == "a file where a directory must go");
}

TEST_CASE("init: unknown template is a usage error listing the templates", "[init]") {
  test::TempDir tmp;
  InitOptions o;
  o.dir = tmp.path();
  o.template_name = "nope";
  try {
    init_project(o);
    FAIL("expected error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK_THAT(e.hint(), Catch::Contains("llm") && Catch::Contains("minimal"));
  }
}
