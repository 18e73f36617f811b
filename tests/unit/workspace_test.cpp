#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/project/workspace.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;

TEST_CASE("workspace: found from a nested directory, absent outside", "[workspace]") {
  test::TempDir tmp;
  test::write_text(tmp / "proj/xops.yaml", "name: p\n");
  std::filesystem::create_directories(tmp / "proj/a/b");
  auto root = Workspace::find_root(tmp / "proj/a/b");
  REQUIRE(root);
  CHECK(*root == tmp / "proj");
  CHECK_FALSE(Workspace::find_root(tmp.path()));
  std::vector<std::string> w;
  try {
    Workspace::open(tmp.path(), &w);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Precondition);
    CHECK_THAT(e.hint(), Catch::Contains("xops init"));
  }
}

TEST_CASE("workspace lock: a second holder is refused with exit 3", "[workspace]") {
  test::TempDir tmp;
  test::write_text(tmp / "xops.yaml", "name: p\n");
  std::vector<std::string> w;
  auto ws = Workspace::open(tmp.path(), &w);
  {
    WorkspaceLock first(ws);
    try {
      WorkspaceLock second(ws);
      FAIL("expected the lock to be held");
    } catch (const Error& e) {
      CHECK(exit_code(e.kind()) == 3);
      CHECK_THAT(std::string(e.what()), Catch::Contains("holds the workspace lock"));
    }
  }
  WorkspaceLock again(ws);  // released with the first
}

TEST_CASE("atomic_write_file: replaces whole files and leaves no temp files", "[fs]") {
  test::TempDir tmp;
  auto p = tmp / "f.txt";
  atomic_write_file(p, "one");
  atomic_write_file(p, "two", 0755);
  CHECK(test::read_text(p) == "two");
  CHECK((std::filesystem::status(p).permissions() & std::filesystem::perms::owner_exec) !=
        std::filesystem::perms::none);
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(tmp.path())) (void)e, ++entries;
  CHECK(entries == 1);
}
