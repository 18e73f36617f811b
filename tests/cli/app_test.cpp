// Parsing and rendering through cli::run, with stdout/stderr captured from the real fds.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/app.hpp"
#include "tests/support/temp_dir.hpp"

namespace {
struct Captured {
  int rc;
  std::string out, err;
};

Captured run_cli(std::vector<std::string> args) {
  xops::test::TempDir tmp;
  auto cwd = std::filesystem::current_path();  // -C changes it; restore for the next case
  auto out_path = tmp / "out", err_path = tmp / "err";
  std::fflush(stdout);
  std::fflush(stderr);
  int saved_out = dup(1), saved_err = dup(2);
  int fo = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int fe = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fo, 1);
  dup2(fe, 2);
  args.insert(args.begin(), "xops");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int rc = xops::cli::run(static_cast<int>(argv.size()), argv.data());
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(saved_out, 1);
  dup2(saved_err, 2);
  close(fo), close(fe), close(saved_out), close(saved_err);
  std::filesystem::current_path(cwd);
  return {rc, xops::test::read_text(out_path), xops::test::read_text(err_path)};
}
}  // namespace

TEST_CASE("app: --version prints version and commit, --json is valid JSON", "[cli]") {
  auto r = run_cli({"--version"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("xops 0."));
  CHECK_THAT(r.out, Catch::Contains("commit"));
  auto j = run_cli({"--version", "--json"});
  auto parsed = nlohmann::json::parse(j.out);
  CHECK(parsed.contains("version"));
  CHECK_FALSE(parsed.contains("torch"));  // only with -v
}

TEST_CASE("app: a mistyped verb is exit 2 with a suggestion", "[cli]") {
  auto r = run_cli({"inti"});
  CHECK(r.rc == 2);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::Contains("xops: error: 'inti' is not a command of xops (did you mean 'init'?)"));
  CHECK_THAT(r.err, Catch::Contains("hint: "));
}

TEST_CASE("app: bad flags are usage errors (exit 2), --help is success", "[cli]") {
  CHECK(run_cli({"--color", "sometimes", "--version"}).rc == 2);
  CHECK(run_cli({"init", "--bogus"}).rc == 2);
  auto h = run_cli({"init", "--help"});
  CHECK(h.rc == 0);
  CHECK_THAT(h.out, Catch::Contains("--template"));
  CHECK(run_cli({}).rc == 2);
}

TEST_CASE("app: errors go to stderr with exit codes from DESIGN.md", "[cli]") {
  xops::test::TempDir tmp;
  auto r = run_cli({"-C", tmp.path().string(), "config", "--threads", "-1"});
  CHECK(r.rc == 2);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::Contains("non-negative integer"));
  auto missing = run_cli({"-C", (tmp / "nope").string(), "config"});
  CHECK(missing.rc == 2);
}

TEST_CASE("app: config lists settings as TSV when piped, JSON with --json", "[cli]") {
  xops::test::TempDir tmp;
  xops::test::write_text(tmp / "xops.yaml", "name: p\ndefaults:\n  device: cpu\n");
  auto r = run_cli({"-C", tmp.path().string(), "config"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("KEY\tVALUE\tORIGIN\n"));
  CHECK_THAT(r.out, Catch::Contains("device\tcpu\t"));
  auto j = run_cli({"-C", tmp.path().string(), "--json", "config", "--jobs", "4"});
  auto parsed = nlohmann::json::parse(j.out);
  CHECK(parsed["jobs"]["value"] == "4");
  CHECK(parsed["jobs"]["origin"] == "flag --jobs");
  CHECK(parsed["device"]["value"] == "cpu");
}
