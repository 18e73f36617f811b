#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include "core/app/init_project.hpp"
#include "core/error.hpp"
#include "core/plugins/git.hpp"
#include "core/project/workspace.hpp"
#include "core/store/object_store.hpp"
#include "core/store/sha256.hpp"
#include "core/track/track.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
namespace fs = std::filesystem;

namespace {

struct Project {
  test::TempDir tmp;
  fs::path root;
  Project() : root(tmp / "p") {
    InitOptions o;
    o.dir = root;
    o.template_name = "minimal";
    o.hooks = false;
    init_project(o);
    test::write_text(root / "xops.yaml",
                     "name: p\nremotes:\n  shared:\n    url: " + (tmp / "remote").string() +
                         "\n    default: true\n");
  }
  Workspace ws() const {
    std::vector<std::string> w;
    return Workspace::open(root, &w);
  }
  std::string commit(const std::string& msg) {
    auto repo = git::Repo::open(root);
    repo.add({"xops.yaml"});
    return repo.commit_index(msg);
  }
  std::vector<AddResult> add(std::vector<std::string> rels) {
    AddOptions o;
    for (auto& r : rels) o.paths.push_back((root / r).string());
    return track_add(ws(), o, {});
  }
};

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

void make_dataset(const fs::path& dir, unsigned seed) {
  for (int i = 0; i < 20; ++i)
    test::write_text(dir / ("part " + std::to_string(i % 3)) / ("ünï " + std::to_string(i) + ".bin"),
                     random_bytes(1000 + i * 37, seed + i));
}

std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> m;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) m[e.path().lexically_relative(dir).string()] = test::read_text(e.path());
  return m;
}

}  // namespace

TEST_CASE("track: round trip through revisions and a directory remote", "[track]") {
  Project p;
  make_dataset(p.root / "data/set", 1);
  test::write_text(p.root / "models/big.bin", random_bytes(12 << 20, 7));  // parallel copy path
  auto r1 = p.add({"data/set", "models/big.bin"});
  REQUIRE(r1.size() == 2);
  CHECK(r1[0].is_dir);
  CHECK(r1[0].files == 20);
  CHECK(r1[1].size == (12u << 20));
  CHECK(test::read_text(p.root / "models/.gitignore") == "/big.bin\n");
  auto set1 = snapshot(p.root / "data/set");
  auto big1 = test::read_text(p.root / "models/big.bin");
  auto c1 = p.commit("v1");

  make_dataset(p.root / "data/set", 100);
  fs::remove(p.root / "data/set/part 0/ünï 0.bin");
  test::write_text(p.root / "data/set/new file.txt", "new");
  test::write_text(p.root / "models/big.bin", random_bytes(12 << 20, 8));
  auto st = track_status(p.ws(), 2);
  REQUIRE(st.size() == 2);
  CHECK(st[0].state == TrackState::Modified);
  CHECK(st[1].state == TrackState::Modified);
  p.add({"data/set", "models/big.bin"});
  p.commit("v2");
  auto set2 = snapshot(p.root / "data/set");

  CheckoutOptions co;
  co.rev = c1;
  auto res = track_checkout(p.ws(), co, {});
  CHECK(res.skipped_modified.empty());
  CHECK(res.removed == std::vector<std::string>{"data/set/new file.txt"});
  CHECK(snapshot(p.root / "data/set") == set1);
  CHECK(test::read_text(p.root / "models/big.bin") == big1);

  // Push, lose the local store, pull, and check out the latest pointers again.
  auto pushed = track_push(p.ws(), {}, {});
  CHECK(pushed.missing.empty());
  CHECK(pushed.transferred > 0);
  CHECK(track_push(p.ws(), {}, {}).transferred == 0);  // nothing left to send
  fs::remove_all(p.root / ".xops/objects");
  CheckoutOptions head;
  head.force = true;
  auto pulled = track_pull(p.ws(), {}, {});
  CHECK(pulled.missing.empty());
  track_checkout(p.ws(), head, {});
  CHECK(snapshot(p.root / "data/set") == set2);
  for (const auto& e : track_status(p.ws(), 2)) CHECK(e.state == TrackState::Unchanged);
}

TEST_CASE("track: unchanged files are not re-hashed, identical content is stored once", "[track]") {
  Project p;
  test::write_text(p.root / "data/a.txt", "same");
  test::write_text(p.root / "data/b.txt", "same");
  auto r = p.add({"data/a.txt", "data/b.txt"});
  CHECK(r[0].sha256 == r[1].sha256);
  CHECK(r[0].new_objects + r[1].new_objects == 1);
  auto again = p.add({"data/a.txt"});
  CHECK(again[0].hashed_bytes == 0);
  CHECK_FALSE(again[0].changed);
}

TEST_CASE("track: verify names corrupt and missing objects", "[track]") {
  Project p;
  test::write_text(p.root / "data/x.txt", "hello");
  auto r = p.add({"data/x.txt"});
  ObjectStore store(p.root / ".xops/objects", p.root / ".xops/tmp");
  auto obj = store.path_of(r[0].sha256);
  fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
  test::write_text(obj, "hellO");
  auto v = track_verify(p.ws(), false, 2, {});
  CHECK(v.corrupt == std::vector<std::string>{r[0].sha256});
  fs::remove(obj);
  auto v2 = track_verify(p.ws(), true, 2, {});
  CHECK(v2.missing == std::vector<std::string>{r[0].sha256});
}

TEST_CASE("track: gc --dry-run lists exactly the unreferenced objects", "[track]") {
  Project p;
  test::write_text(p.root / "data/x.txt", "v1");
  auto v1 = p.add({"data/x.txt"})[0].sha256;
  p.commit("v1");
  test::write_text(p.root / "data/x.txt", "v2");
  auto v2 = p.add({"data/x.txt"})[0].sha256;  // staged, not committed: still referenced
  test::write_text(p.root / "data/y.txt", "orphan");
  auto orphan = p.add({"data/y.txt"})[0].sha256;
  git::Repo::open(p.root).remove_from_index("data/y.txt.xops");
  fs::remove(p.root / "data/y.txt.xops");
  auto dry = track_gc(p.ws(), true, false);
  CHECK(dry.removed == std::vector<std::string>{orphan});
  ObjectStore store(p.root / ".xops/objects", p.root / ".xops/tmp");
  CHECK(store.has(orphan));
  auto ws_only = track_gc(p.ws(), true, true);
  CHECK(ws_only.removed.size() == 1);  // v1 is in HEAD: still kept
  auto real = track_gc(p.ws(), false, false);
  CHECK(real.removed == std::vector<std::string>{orphan});
  CHECK_FALSE(store.has(orphan));
  CHECK(store.has(v1));
  CHECK(store.has(v2));
}

TEST_CASE("track: bad paths are refused and nothing is written", "[track]") {
  Project p;
  test::TempDir outside;
  test::write_text(outside / "secret.txt", "x");
  test::write_text(p.root / "data/ok.txt", "ok");
  fs::create_symlink(outside / "secret.txt", p.root / "data/link.txt");
  test::write_text(p.root / ".xops/evil", "x");
  for (const auto& bad : {(outside / "secret.txt").string(), (p.root / ".xops/evil").string(),
                          (p.root / "data/link.txt").string(), (p.root / "nope").string()}) {
    AddOptions o;
    o.paths = {(p.root / "data/ok.txt").string(), bad};
    try {
      track_add(p.ws(), o, {});
      FAIL("expected refusal of " << bad);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Usage);
    }
    CHECK_FALSE(fs::exists(p.root / "data/ok.txt.xops"));
  }
  ObjectStore store(p.root / ".xops/objects", p.root / ".xops/tmp");
  CHECK(store.list().empty());
}

TEST_CASE("track: a file that changes while it is hashed is refused", "[track]") {
  Project p;
  auto path = p.root / "data/growing.bin";
  test::write_text(path, random_bytes(64 << 20, 3));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) {
      std::ofstream(path, std::ios::app) << "more";
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  bool refused = false;
  try {
    p.add({"data/growing.bin"});
  } catch (const Error& e) {
    refused = std::string(e.what()).find("changed while it was being read") != std::string::npos;
  }
  stop = true;
  writer.join();
  CHECK(refused);
  CHECK_FALSE(fs::exists(p.root / "data/growing.bin.xops"));
  CHECK(fs::is_empty(p.root / ".xops/tmp"));
}

TEST_CASE("track: checkout never overwrites unsaved changes without force", "[track]") {
  Project p;
  test::write_text(p.root / "data/x.txt", "v1");
  p.add({"data/x.txt"});
  test::write_text(p.root / "data/x.txt", "local edit");
  auto r = track_checkout(p.ws(), {}, {});
  CHECK(r.skipped_modified == std::vector<std::string>{"data/x.txt"});
  CHECK(test::read_text(p.root / "data/x.txt") == "local edit");
  CheckoutOptions f;
  f.force = true;
  f.mode = LinkMode::Hardlink;
  track_checkout(p.ws(), f, {});
  CHECK(test::read_text(p.root / "data/x.txt") == "v1");
  struct stat st;
  ::stat((p.root / "data/x.txt").c_str(), &st);
  CHECK(st.st_nlink == 2);  // shares the store's read-only object
}

TEST_CASE("track: files over 4 GiB", "[track][.slow]") {
  Project p;
  auto path = p.root / "models/huge.bin";
  fs::create_directories(path.parent_path());
  {
    std::ofstream o(path, std::ios::binary);
    o.seekp((4ull << 30) + 12345);
    o << "end";
  }
  auto r = p.add({"models/huge.bin"});
  CHECK(r[0].size == (4ull << 30) + 12348);
  CHECK(r[0].sha256 == sha256_file(path));
  fs::remove(path);
  track_checkout(p.ws(), {}, {});
  CHECK(fs::file_size(path) == (4ull << 30) + 12348);
}

TEST_CASE("track: add --link hardlink keeps one copy and locks the file read-only", "[track]") {
  Project p;
  test::write_text(p.root / "data/a.bin", random_bytes(100000, 5));
  test::write_text(p.root / "data/b.bin", random_bytes(100000, 5));  // same content
  AddOptions o;
  o.paths = {(p.root / "data/a.bin").string(), (p.root / "data/b.bin").string()};
  o.mode = LinkMode::Hardlink;
  o.jobs = 1;
  auto r = track_add(p.ws(), o, {});
  CHECK(r[0].sha256 == r[1].sha256);
  struct stat sa, sb;
  ::stat((p.root / "data/a.bin").c_str(), &sa);
  ::stat((p.root / "data/b.bin").c_str(), &sb);
  CHECK(sa.st_ino == sb.st_ino);  // both share the store's object
  CHECK(sa.st_nlink == 3);
  CHECK((sa.st_mode & 0222) == 0);
  for (const auto& e : track_status(p.ws(), 1)) CHECK(e.state == TrackState::Unchanged);
  CHECK(track_verify(p.ws(), false, 1, {}).corrupt.empty());
}

TEST_CASE("track: status trusts a directory summary only while every stat is unchanged", "[track]") {
  Project p;
  make_dataset(p.root / "data/set", 11);
  p.add({"data/set"});
  for (int round = 0; round < 2; ++round)  // the second round is served by the summary
    for (const auto& e : track_status(p.ws(), 2)) CHECK(e.state == TrackState::Unchanged);
  // Same size, same second: only the content and the nanosecond mtime move.
  auto f = p.root / "data/set/part 1/ünï 1.bin";
  auto content = test::read_text(f);
  content[0] = static_cast<char>(content[0] ^ 1);
  test::write_text(f, content);
  auto st = track_status(p.ws(), 2);
  REQUIRE(st.size() == 1);
  CHECK(st[0].state == TrackState::Modified);
  CHECK(st[0].changed == std::vector<std::string>{"modified: part 1/ünï 1.bin"});
}
