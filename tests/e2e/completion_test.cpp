// Completion scripts, the man page and help examples, generated from the CLI definition.
#include <catch2/catch.hpp>

#include <cstdio>
#include <regex>
#include <set>
#include <sstream>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;

namespace {
std::string xops_out(const std::vector<std::string>& args, const std::filesystem::path& cwd) {
  auto r = run_xops(args, cwd);
  REQUIRE(r.rc == 0);
  return r.out;
}
// Every visible command path, from `xops help` output recursively ("track runs", ...).
std::vector<std::string> verbs(const std::filesystem::path& cwd) {
  std::vector<std::string> out, todo = {""};
  std::regex sub(R"(^  ([a-z][a-z0-9-]*)\s{2,}\S)");
  while (!todo.empty()) {
    auto path = todo.back();
    todo.pop_back();
    std::vector<std::string> args = {"help"};
    for (std::istringstream in(path); in;) {
      std::string w;
      if (in >> w) args.push_back(w);
    }
    if (path.empty()) args = {"--help"};
    auto help = xops_out(args, cwd);
    bool in_subs = false;
    for (std::istringstream in(help); in;) {
      std::string line;
      std::getline(in, line);
      if (line.rfind("Subcommands:", 0) == 0)
        in_subs = true;
      else if (!line.empty() && line[0] != ' ')
        in_subs = false;
      std::smatch m;
      if (in_subs && std::regex_search(line, m, sub)) {
        auto p = path.empty() ? m[1].str() : path + " " + m[1].str();
        out.push_back(p);
        todo.push_back(p);
      }
    }
  }
  return out;
}
}  // namespace

TEST_CASE("cli: every command's help ends with examples", "[cli][completion]") {
  TempDir tmp;
  auto all = verbs(tmp.path());
  REQUIRE(all.size() > 25);
  for (const auto& v : all) {
    std::vector<std::string> args = {"help"};
    for (std::istringstream in(v); in;) {
      std::string w;
      if (in >> w) args.push_back(w);
    }
    INFO(v);
    auto help = xops_out(args, tmp.path());
    auto at = help.find("Examples:\n  ");
    REQUIRE(at != std::string::npos);
    CHECK_THAT(help.substr(at), Catch::Contains("xops " + v));
  }
}

TEST_CASE("cli: completion scripts and the man page cover every command", "[cli][completion]") {
  TempDir tmp;
  auto all = verbs(tmp.path());
  auto bash = xops_out({"completion", "bash"}, tmp.path());
  auto fish = xops_out({"completion", "fish"}, tmp.path());
  auto zsh = xops_out({"completion", "zsh"}, tmp.path());
  auto man = xops_out({"man"}, tmp.path());
  for (const auto& v : all) {
    INFO(v);
    auto last = v.substr(v.rfind(' ') == std::string::npos ? 0 : v.rfind(' ') + 1);
    CHECK_THAT(bash, Catch::Contains(":" + last + "\")"));
    CHECK_THAT(fish, Catch::Contains("-a " + last + " -d"));
    auto roff = std::regex_replace(v, std::regex("-"), "\\-");
    CHECK_THAT(man, Catch::Contains("xops " + roff + "\""));
  }
  CHECK_THAT(bash, Catch::Contains("--filter-pattern"));
  CHECK_THAT(zsh, Catch::Contains("bashcompinit"));
  CHECK_THAT(man, Catch::Contains(".SH EXIT STATUS"));
  // The bash script is valid bash and completes verbs, flags and a project's artifacts.
  write_text(tmp / "c.bash", bash);
  write_text(tmp / "t.sh",
             "source ./c.bash\n"
             "COMP_WORDS=(xops tr); COMP_CWORD=1; _xops; echo \"1:${COMPREPLY[*]}\"\n"
             "COMP_WORDS=(xops eval --filter-f); COMP_CWORD=2; _xops; echo \"2:${COMPREPLY[*]}\"\n"
             "COMP_WORDS=(xops promote sh); COMP_CWORD=2; _xops; echo \"3:${COMPREPLY[*]}\"\n");
  auto r = run_process({"bash", "t.sh"}, tmp.path());
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("1:track"));
  CHECK_THAT(r.out, Catch::Contains("--filter-failing"));
  CHECK_THAT(r.out, Catch::Contains("2:--filter-first-n"));
  CHECK_THAT(r.out, Catch::Contains("3:show"));
}

TEST_CASE("cli: completion lists a project's artifacts and runs", "[cli][completion]") {
  TempDir tmp;
  REQUIRE(run_xops({"init", "p", "--template", "minimal"}, tmp.path()).rc == 0);
  auto dir = tmp / "p";
  auto cfg = read_text(dir / "xops.yaml");
  cfg.replace(cfg.find("artifacts: {}"), 13,
              "artifacts:\n  base: {path: models/base, type: model}\n");
  write_text(dir / "xops.yaml", cfg);
  // Names, then what completes after NAME# (the stages); NAME@ gets registered versions.
  auto words = xops_out({"completion", "--list", "artifacts"}, dir);
  CHECK(words.rfind("base\n", 0) == 0);
  CHECK_THAT(words, Catch::Contains("\nbase#prod\n"));
  CHECK_THAT(words, Catch::Contains("\nbase#dev\n"));
  // Paths complete as paths: a directory gets '/' and no space.
  CHECK_THAT(xops_out({"completion", "bash"}, dir), Catch::Contains("compopt -o filenames"));
  // `xops help` alone is the main help, not the help of `help`.
  CHECK(xops_out({"help"}, dir).rfind("xops: version, track", 0) == 0);
  REQUIRE(run_xops({"track", "run", "-n", "one", "--", "true"}, dir).rc == 0);
  auto runs = xops_out({"completion", "--list", "runs"}, dir);
  CHECK(runs.size() == 27);                                               // one ULID and a newline
  CHECK(xops_out({"completion", "--list", "runs"}, tmp.path()).empty());  // no project: nothing
  CHECK(run_xops({"completion", "tcsh"}, tmp.path()).rc == 2);
}

TEST_CASE("cli: cmake --install lays out the binary, its plugins, the man page and completions",
          "[cli][completion]") {
  TempDir tmp;
  auto build = std::filesystem::path(xops_binary()).parent_path();
  auto prefix = tmp / "prefix";
  auto r =
      run_process({"cmake", "--install", build.string(), "--prefix", prefix.string()}, tmp.path());
  INFO(r.out << r.err);
  REQUIRE(r.rc == 0);
  for (const char* f :
       {"bin/xops", "lib/xops/libxops_base.so", "lib/xops/libxops_git.so",
        "lib/xops/libxops_http.so", "lib/xops/libxops_pg.so", "lib/xops/libxops_s3.so",
        "share/man/man1/xops.1", "share/bash-completion/completions/xops",
        "share/zsh/vendor-completions/_xops", "share/fish/vendor_completions.d/xops.fish"}) {
    INFO(f);
    CHECK(std::filesystem::exists(prefix / f));
  }
  CHECK(read_text(prefix / "share/man/man1/xops.1").rfind(".TH XOPS 1", 0) == 0);
  // The installed binary finds its plugins beside it (lib/xops), not in the build tree.
  auto init = run_process(
      {(prefix / "bin/xops").string(), "-q", "init", "p", "--template", "minimal", "--no-hooks"},
      tmp.path());
  INFO(init.err);
  CHECK(init.rc == 0);
  CHECK(std::filesystem::exists(tmp / "p/.git"));
}
