// XOPS_TRACKING in libpq's keyword form (#26 finding 8): it used to be taken as a SQLite path,
// creating a database file named with the password inside the project.
#include <catch2/catch.hpp>

#include <filesystem>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;

namespace {

// Every path under `dir` whose name holds `needle`.
std::vector<std::string> files_named_with(const std::filesystem::path& dir,
                                          const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(needle) != std::string::npos)
      out.push_back(e.path().string());
  return out;
}

}  // namespace

TEST_CASE("attack: a libpq keyword string is a PostgreSQL connection, never a file",
          "[e2e][tracking][attack]") {
  TempDir tmp;
  REQUIRE(run_xops({"-q", "init", "p", "--template", "minimal", "--no-hooks"}, tmp.path()).rc == 0);
  auto p = tmp / "p";
  // Nothing listens on port 1: a connection error from PostgreSQL, the password not shown.
  auto r = run_xops({"track", "runs"}, p,
                    {{"XOPS_TRACKING", "host=127.0.0.1 port=1 connect_timeout=2 password=SECRET"}});
  INFO(r.out << r.err);
  CHECK(r.rc != 0);
  CHECK_THAT(r.err, Catch::Contains("cannot connect to the tracking database host=127.0.0.1"));
  CHECK_THAT(r.err, Catch::Contains("password=***"));
  CHECK_THAT(r.err, Catch::Contains("XOPS_TRACKING=local"));  // the way to keep working
  CHECK_THAT(r.out + r.err, !Catch::Contains("SECRET"));
  // A near miss (a misspelt keyword) is refused as a usage error, not opened as a file.
  auto typo = run_xops({"track", "runs"}, p, {{"XOPS_TRACKING", "hots=127.0.0.1 password=SECRET"}});
  INFO(typo.err);
  CHECK(typo.rc == 2);
  CHECK_THAT(typo.err, Catch::Contains("connection string"));
  CHECK_THAT(typo.out + typo.err, !Catch::Contains("SECRET"));
  CHECK(files_named_with(tmp.path(), "SECRET").empty());
  CHECK(files_named_with(tmp.path(), "host=").empty());
}
