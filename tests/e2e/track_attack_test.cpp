// Attacks through versioned data: what a hostile commit or remote can do to a second
// workspace that clones it. Each case is a real git repository cloned by a victim project.
#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
namespace fs = std::filesystem;

namespace {

// An attacker project with a directory remote both sides use (its URL is absolute and
// committed in xops.yaml, as a team's shared remote would be).
struct Scene {
  TempDir tmp;
  fs::path attacker, victim, remote, outside;
  Scene() {
    attacker = tmp / "attacker";
    victim = tmp / "victim";
    remote = tmp / "remote";
    outside = tmp / "outside";
    fs::create_directories(outside);
    write_text(outside / "keep.txt", "the victim's file outside the workspace");
    REQUIRE(run_xops({"-q", "init", "attacker", "--template", "minimal", "--no-hooks"}, tmp.path())
                .rc == 0);
    write_text(attacker / "xops.yaml", "name: p\nremotes:\n  shared:\n    url: " + remote.string() +
                                           "\n    default: true\n");
    REQUIRE(sh("git add xops.yaml && git commit -qm remote", attacker).rc == 0);
  }
  // The victim clones the attacker's repository and pulls the objects.
  // A hostile pointer in the index makes `pull` refuse too (exit 1), naming it.
  void clone(int pull_rc = 0) {
    REQUIRE(
        sh("git clone -q '" + attacker.string() + "' '" + victim.string() + "'", tmp.path()).rc ==
        0);
    auto pull = run_xops({"track", "pull", "--no-checkout"}, victim);
    INFO(pull.err);
    REQUIRE(pull.rc == pull_rc);
  }
  size_t count_files(const fs::path& dir) const {
    size_t n = 0;
    for (auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
    return n;
  }
};

}  // namespace

TEST_CASE("attack: a committed .git.xops pointer cannot write git hooks", "[e2e][attack]") {
  Scene s;
  write_text(s.attacker / "evil/hooks/post-merge", "#!/bin/sh\ntouch /tmp/xops-pwned\n");
  fs::permissions(s.attacker / "evil/hooks/post-merge", fs::perms::owner_all);
  REQUIRE(run_xops({"-q", "track", "add", "evil"}, s.attacker).rc == 0);
  REQUIRE(run_xops({"-q", "track", "push"}, s.attacker).rc == 0);
  REQUIRE(sh("git mv evil.xops .git.xops && git commit -qm hooks", s.attacker).rc == 0);
  s.clone(1);
  // Even with every object present (a pull before the pointer was renamed), nothing lands.
  REQUIRE(fs::remove_all(s.victim / ".xops") >= 0);
  fs::create_directories(s.victim / ".xops");
  fs::copy(s.attacker / ".xops/objects", s.victim / ".xops/objects", fs::copy_options::recursive);
  auto git_files = s.count_files(s.victim / ".git");
  auto co = run_xops({"track", "checkout"}, s.victim);
  CHECK(co.rc == 1);
  CHECK_THAT(co.err, Catch::Contains("unsafe path '.git'") && Catch::Contains("inside .git/"));
  CHECK_FALSE(fs::exists(s.victim / ".git/hooks/post-merge"));
  auto forced = run_xops({"track", "checkout", "--force"}, s.victim);
  CHECK(forced.rc == 1);
  CHECK(s.count_files(s.victim / ".git") == git_files);  // --force deleted 43 of 44 before
  CHECK_FALSE(fs::exists(s.victim / ".git/hooks/post-merge"));
  // status and verify name the pointer instead of reading through it.
  auto st = run_xops({"track", "status"}, s.victim);
  CHECK(st.rc == 1);
  CHECK_THAT(st.err, Catch::Contains(".git.xops"));
}

TEST_CASE("attack: a committed .xops.xops pointer cannot empty the store", "[e2e][attack]") {
  Scene s;
  write_text(s.attacker / "d/x.txt", "x");
  REQUIRE(run_xops({"-q", "track", "add", "d"}, s.attacker).rc == 0);
  REQUIRE(run_xops({"-q", "track", "push"}, s.attacker).rc == 0);
  REQUIRE(sh("git commit -qm d", s.attacker).rc == 0);
  s.clone();
  write_text(s.victim / "mine.bin", "never pushed");
  REQUIRE(run_xops({"-q", "track", "add", "mine.bin"}, s.victim).rc == 0);
  REQUIRE(
      sh("cp d.xops .xops.xops && git add -f .xops.xops && git commit -qm store", s.attacker).rc ==
      0);
  REQUIRE(sh("git pull -q --no-rebase origin main", s.victim).rc == 0);
  auto objects = s.count_files(s.victim / ".xops/objects");
  auto co = run_xops({"track", "checkout", "--force"}, s.victim);
  CHECK(co.rc == 1);
  CHECK_THAT(co.err, Catch::Contains("inside .xops/"));
  CHECK(s.count_files(s.victim / ".xops/objects") == objects);
  // Once the hostile pointer is out of the index, the store checks out clean.
  REQUIRE(sh("git rm -q --cached .xops.xops", s.victim).rc == 0);
  CHECK(run_xops({"track", "verify"}, s.victim).rc == 0);
}

TEST_CASE("attack: a crafted tree entry '..' cannot write above the workspace", "[e2e][attack]") {
  Scene s;
  write_text(s.attacker / "payload.txt", "escaped");
  REQUIRE(run_xops({"-q", "track", "add", "payload.txt"}, s.attacker).rc == 0);
  REQUIRE(run_xops({"-q", "track", "push"}, s.attacker).rc == 0);
  REQUIRE(sh("git commit -qm payload", s.attacker).rc == 0);
  // A subtree holding the pointer, hung under the name '..' in the root tree.
  auto craft =
      sh("set -e; blob=$(git rev-parse HEAD:payload.txt.xops);"
         "sub=$(printf '100644 blob %s\\tescaped.txt.xops\\n' $blob | git mktree);"
         "root=$( (git ls-tree HEAD; printf '040000 tree %s\\t..\\n' $sub) | git mktree);"
         "c=$(git commit-tree $root -p HEAD -m dotdot); git update-ref refs/heads/evil $c",
         s.attacker);
  INFO(craft.err);
  REQUIRE(craft.rc == 0);
  s.clone();
  REQUIRE(sh("git fetch -q origin evil:evil", s.victim).rc == 0);
  auto co = run_xops({"track", "checkout", "evil"}, s.victim);
  CHECK(co.rc != 0);
  CHECK_THAT(co.err, Catch::Contains("'..'"));
  CHECK_FALSE(fs::exists(s.tmp / "escaped.txt"));
  CHECK_FALSE(fs::exists(s.victim / "payload.txt"));  // nothing written at all
}

TEST_CASE("attack: a tracked directory replaced by a symlink to outside", "[e2e][attack]") {
  Scene s;
  write_text(s.attacker / "data/set/a.txt", "a");
  write_text(s.attacker / "data/set/b.txt", "b");
  REQUIRE(run_xops({"-q", "track", "add", "data/set"}, s.attacker).rc == 0);
  REQUIRE(run_xops({"-q", "track", "push"}, s.attacker).rc == 0);
  REQUIRE(sh("git commit -qm set && rm -rf data/set && ln -s ../../outside data/set && "
             "git add -f data/set && git commit -qm link",
             s.attacker)
              .rc == 0);
  s.clone();
  REQUIRE(fs::is_symlink(s.victim / "data/set"));
  auto co = run_xops({"track", "checkout"}, s.victim);
  CHECK(co.rc == 3);
  CHECK_THAT(co.err, Catch::Contains("refused data/set"));
  CHECK_FALSE(fs::exists(s.outside / "a.txt"));
  auto forced = run_xops({"track", "checkout", "--force"}, s.victim);
  INFO(forced.err);
  CHECK(forced.rc == 0);
  CHECK(fs::exists(s.outside / "keep.txt"));  // --force deleted it before
  CHECK_FALSE(fs::exists(s.outside / "a.txt"));
  CHECK_FALSE(fs::is_symlink(s.victim / "data/set"));
  CHECK(read_text(s.victim / "data/set/a.txt") == "a");
}

TEST_CASE("attack: symlinks where tracked files belong are never read", "[e2e][attack]") {
  Scene s;
  write_text(s.attacker / "data/zero.bin", "z");
  write_text(s.attacker / "data/dangling.bin", "d");
  write_text(s.attacker / "data/fine.bin", "fine");
  REQUIRE(run_xops({"-q", "track", "add", "data/zero.bin", "data/dangling.bin", "data/fine.bin"},
                   s.attacker)
              .rc == 0);
  REQUIRE(run_xops({"-q", "track", "push"}, s.attacker).rc == 0);
  REQUIRE(sh("git commit -qm data && ln -s /dev/zero data/zero.bin.tmp && mv data/zero.bin.tmp "
             "data/zero.bin && "
             "ln -sf /nonexistent/target data/dangling.bin && git add -f data/zero.bin "
             "data/dangling.bin && "
             "git commit -qm links",
             s.attacker)
              .rc == 0);
  s.clone();
  // `timeout`: before, this hashed /dev/zero forever.
  auto st = sh("timeout 60 $XOPS_BIN track status", s.victim);
  CHECK(st.rc == 0);
  CHECK_THAT(st.out, Catch::Contains("data/zero.bin is a symlink: not followed"));
  auto co = sh("timeout 60 $XOPS_BIN track checkout", s.victim);
  CHECK(co.rc == 3);
  CHECK_THAT(co.err, Catch::Contains("refused data/zero.bin") &&
                         Catch::Contains("refused data/dangling.bin"));
  CHECK(read_text(s.victim / "data/fine.bin") == "fine");  // the rest is restored, not aborted
  CHECK(sh("timeout 60 $XOPS_BIN track checkout --force", s.victim).rc == 0);
  CHECK(read_text(s.victim / "data/zero.bin") == "z");
}

TEST_CASE("attack: corrupt objects on a remote are found and re-uploaded", "[e2e][attack]") {
  Scene s;
  write_text(s.attacker / "model.bin", std::string(100000, 'm'));
  REQUIRE(run_xops({"-q", "track", "add", "model.bin"}, s.attacker).rc == 0);
  REQUIRE(run_xops({"-q", "track", "push"}, s.attacker).rc == 0);
  REQUIRE(sh("git commit -qm model", s.attacker).rc == 0);
  fs::path obj;
  for (auto& e : fs::recursive_directory_iterator(s.remote))
    if (e.is_regular_file()) obj = e.path();
  REQUIRE(!obj.empty());
  fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
  write_text(obj, "tampered");
  CHECK(run_xops({"track", "push"}, s.attacker).rc == 0);  // push only asks whether it exists
  auto v = run_xops({"--json", "track", "verify", "--remote"}, s.attacker);
  INFO(v.err);
  CHECK(v.rc == 0);
  auto j = nlohmann::json::parse(v.out);
  CHECK(j["repaired"].size() == 1);
  CHECK(read_text(obj) == std::string(100000, 'm'));
  // With no good local copy the corruption is reported (exit 4).
  write_text(obj, "tampered again");
  fs::remove_all(s.attacker / ".xops/objects");
  auto bad = run_xops({"track", "verify", "--remote", "shared"}, s.attacker);
  CHECK(bad.rc == 4);
  CHECK_THAT(bad.out, Catch::Contains("corrupt\t"));
  // And a pull never stores those bytes.
  auto pull = run_xops({"track", "pull"}, s.attacker);
  CHECK(pull.rc != 0);
  CHECK_THAT(pull.err, Catch::Contains("is corrupt"));
}

TEST_CASE("attack: a hard-linked file edited in place is flagged and never restored",
          "[e2e][attack]") {
  Scene s;
  write_text(s.attacker / "w.bin", "original weights");
  REQUIRE(run_xops({"-q", "track", "add", "--link", "hardlink", "w.bin"}, s.attacker).rc == 0);
  // Root ignores the 0444 mode; an editor that writes in place does the same.
  fs::permissions(s.attacker / "w.bin", fs::perms::owner_write, fs::perm_options::add);
  {
    std::FILE* f = std::fopen((s.attacker / "w.bin").c_str(), "r+");
    REQUIRE(f);
    std::fputs("EDITED", f);
    std::fclose(f);
  }
  auto st = run_xops({"track", "status"}, s.attacker);
  CHECK_THAT(st.out, Catch::Contains("edited in place while hard-linked to the store"));
  auto co = run_xops({"track", "checkout", "--force"}, s.attacker);
  CHECK(co.rc == 3);  // before: exit 0, the corrupted bytes restored
  CHECK_THAT(co.err, Catch::Contains("is corrupt"));
  CHECK(read_text(s.attacker / "w.bin") == "EDITEDal weights");  // the user's edit is kept
  CHECK(run_xops({"track", "verify"}, s.attacker).rc == 4);      // the object is gone now
}
