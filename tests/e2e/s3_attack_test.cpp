// A hostile or broken S3 endpoint (#26 finding 6), written for the test
// (tests/e2e/hostile_s3.py on loopback): `track pull` and `verify --remote` must end, with a
// clear error, in bounded time, memory and disk, whatever the endpoint sends.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "core/util/fs.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops::test;
namespace fs = std::filesystem;

namespace {

struct Hostile {
  TempDir tmp;
  fs::path dir;
  std::string id;
  int pid = -1;

  explicit Hostile(const std::string& mode) {
    REQUIRE(run_xops({"-q", "init", "h", "--no-hooks"}, tmp.path()).rc == 0);
    dir = tmp / "h";
    write_text(dir / "a.bin", std::string(200 << 10, 'a'));
    REQUIRE(run_xops({"-q", "track", "add", "a.bin"}, dir, env()).rc == 0);
    REQUIRE(sh("git add -A && git commit -qm a", dir).rc == 0);
    id = sh("sha256sum a.bin", dir).out.substr(0, 64);  // the store is content-addressed
    REQUIRE(fs::exists(dir / ".xops/objects" / id.substr(0, 2) / id.substr(2)));
    fs::copy_file(dir / "a.bin", tmp / "object");
    auto started = sh("python3 " + std::string(XOPS_SOURCE_DIR) + "/tests/e2e/hostile_s3.py " +
                          mode + " p/" + id.substr(0, 2) + "/" + id.substr(2) + " " +
                          (tmp / "object").string() + " " + (tmp / "requests").string() + " " +
                          (tmp / "port").string() + " >/dev/null 2>&1 & echo $!",
                      tmp.path());
    REQUIRE(started.rc == 0);
    pid = std::stoi(started.out);
    // The file can exist before its number is in it (a test once read it empty and wrote
    // `endpoint_url: http://127.0.0.1:`, which is not YAML).
    std::string port;
    for (int i = 0; i < 200; ++i, ::usleep(50000)) {
      port = fs::exists(tmp / "port") ? read_text(tmp / "port") : "";
      while (!port.empty() && (port.back() == '\n' || port.back() == ' ')) port.pop_back();
      if (!port.empty() && port.find_first_not_of("0123456789") == std::string::npos) break;
    }
    REQUIRE(!port.empty());
    auto yaml = read_text(dir / "xops.yaml");
    yaml.insert(yaml.find("\nremotes:\n") + 10,
                "  hostile:\n    url: s3://bkt-h/p\n    endpoint_url: http://127.0.0.1:" + port +
                    "\n    default: true\n");
    write_text(dir / "xops.yaml", yaml);
    // The object is only on the remote now.
    fs::remove_all(dir / ".xops/objects");
    fs::remove(dir / "a.bin");
  }
  ~Hostile() { ::kill(pid, SIGKILL); }

  static std::map<std::string, std::string> env() {
    return {{"AWS_ACCESS_KEY_ID", "AK"},
            {"AWS_SECRET_ACCESS_KEY", "s"},
            {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"},
            {"AWS_CONFIG_FILE", "/nonexistent"},
            {"XOPS_S3_STALL_S", "2"}};
  }
  // `xops ARGS` under a 90 s guard (the old client never ended): output, exit status, seconds.
  ProcResult xops(const std::string& args, double* seconds, const std::string& limits = "") {
    std::string e;
    for (const auto& [k, v] : env()) e += k + "=" + v + " ";
    auto t0 = std::chrono::steady_clock::now();
    auto r = sh(limits + e + "timeout -s KILL 90 " + xops_binary() + " " + args + " 2>&1", dir);
    *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }
  size_t requests() const {
    auto t = fs::exists(tmp / "requests") ? read_text(tmp / "requests") : "";
    return static_cast<size_t>(std::count(t.begin(), t.end(), '\n'));
  }
  size_t temp_bytes() const {
    size_t n = 0;
    if (fs::exists(dir / ".xops/tmp"))
      for (const auto& e : fs::recursive_directory_iterator(dir / ".xops/tmp"))
        if (e.is_regular_file()) n += fs::file_size(e.path());
    return n;
  }
};

}  // namespace

TEST_CASE("attack: an S3 listing that repeats its continuation token ends at once",
          "[e2e][track][attack]") {
  Hostile h("repeat-token");
  double s = 0;
  auto r = h.xops("track pull", &s);
  INFO(r.out);
  CHECK(r.rc != 0);
  CHECK(r.rc != 137);  // not the guard's kill
  CHECK_THAT(r.out, Catch::Contains("continuation token came back"));
  CHECK(h.requests() < 10);  // the old client: 910 requests in 40 s, forever
}

TEST_CASE("attack: an S3 listing of endless empty pages with new tokens ends",
          "[e2e][track][attack]") {
  Hostile h("fresh-tokens");
  double s = 0;
  auto r = h.xops("track pull", &s);
  INFO(r.out);
  CHECK(r.rc != 0);
  CHECK(r.rc != 137);
  CHECK_THAT(r.out, Catch::Contains("empty pages in a row"));
  CHECK(h.requests() <= 101);
}

TEST_CASE("attack: an endless S3 body is cut at the object's size, for pull and verify",
          "[e2e][track][attack]") {
  Hostile h("endless");
  double s = 0;
  auto r = h.xops("track pull", &s);
  INFO(r.out);
  CHECK(r.rc != 0);
  CHECK(r.rc != 137);
  CHECK_THAT(r.out, Catch::Contains("sent more than the object's 204800 bytes"));
  CHECK(h.temp_bytes() == 0);  // the old client: 10 GB of temp files in 20 s
  CHECK_FALSE(fs::exists(h.dir / "a.bin"));
  auto v = h.xops("track verify --remote", &s);
  INFO(v.out);
  CHECK(v.rc != 0);
  CHECK(v.rc != 137);  // the old client hashed the endless body forever
  CHECK_THAT(v.out, Catch::Contains("sent more than the object's"));
}

TEST_CASE("attack: an S3 endpoint that drips bytes is given up on", "[e2e][track][attack]") {
  Hostile h("drip");
  double s = 0;
  auto r = h.xops("track pull", &s);
  INFO(r.out);
  CHECK(r.rc != 0);
  CHECK_THAT(r.out, Catch::Contains("stalled"));
  CHECK(s < 30);  // XOPS_S3_STALL_S=2, two attempts; the old client never timed out
  CHECK(h.temp_bytes() == 0);
}

TEST_CASE("attack: a full disk during pull says so (not 'No such file or directory')",
          "[e2e][track][attack]") {
  Hostile h("honest");
  double s = 0;
  // Files may not grow past 100 KiB: the 200 KiB object cannot land (EFBIG, as ENOSPC would).
  auto r = h.xops("track pull", &s, "trap '' XFSZ; ulimit -f 200; ");
  INFO(r.out);
  CHECK(r.rc != 0);
  CHECK_THAT(r.out, Catch::Contains("into the local store: File too large"));
  CHECK_THAT(r.out, !Catch::Contains("No such file or directory"));
  CHECK(h.temp_bytes() == 0);
  // And with room, the same endpoint serves the object (the test's endpoint is sound).
  auto ok = h.xops("track pull", &s);
  INFO(ok.out);
  CHECK_THAT(ok.out, Catch::Contains("pulled 1 object(s) (200.0 KiB)"));
  CHECK(fs::exists(h.dir / ".xops/objects" / h.id.substr(0, 2) / h.id.substr(2)));
}
