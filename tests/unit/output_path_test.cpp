// Output paths: a regular file is replaced atomically; a device, a FIFO or a link is written
// as `>` would write it, never replaced (run as root, renaming over /dev/null replaced it);
// a directory is refused. Private device nodes and FIFOs only, never the real /dev/null.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace xops;
using namespace xops::test;
namespace fs = std::filesystem;

namespace {

bool is_char_device(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}

size_t entries(const fs::path& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("output: a device node stays a device node", "[unit][output]") {
  TempDir tmp;
  auto dev = tmp / "null";
  // The null device's numbers (1, 3), as a node of our own: needs root (CI and the
  // containers that hit this run as root); elsewhere there is nothing to replace.
  if (::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    WARN("mknod needs root: skipped");
    return;
  }
  atomic_write_file(dev, "report");
  CHECK(is_char_device(dev));
  {
    AtomicFileWriter w(dev);
    w.write("x", 1);
  }  // destroyed uncommitted: a device is never unlinked
  CHECK(is_char_device(dev));
  CHECK(entries(tmp.path()) == 1);  // no temp file beside it
}

TEST_CASE("output: a FIFO is written through and stays a FIFO", "[unit][output]") {
  TempDir tmp;
  auto fifo = tmp / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string got;
  std::thread reader([&] {
    std::ifstream in(fifo, std::ios::binary);
    got.assign(std::istreambuf_iterator<char>(in), {});
  });
  atomic_write_file(fifo, "through the pipe\n");
  reader.join();
  CHECK(got == "through the pipe\n");
  struct stat st;
  REQUIRE(::lstat(fifo.c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  CHECK(entries(tmp.path()) == 1);
}

TEST_CASE("output: a link is written through, a file replaced, a directory refused",
          "[unit][output]") {
  TempDir tmp;
  write_text(tmp / "target.txt", "old");
  fs::create_symlink(tmp / "target.txt", tmp / "link.txt");
  atomic_write_file(tmp / "link.txt", "new");
  CHECK(fs::is_symlink(tmp / "link.txt"));
  CHECK(read_text(tmp / "target.txt") == "new");

  write_text(tmp / "plain.txt", "old");
  atomic_write_file(tmp / "plain.txt", "replaced");
  CHECK(read_text(tmp / "plain.txt") == "replaced");
  atomic_write_file(tmp / "missing.txt", "created");
  CHECK(read_text(tmp / "missing.txt") == "created");
  CHECK(renamed_output(tmp / "plain.txt"));
  CHECK(renamed_output(tmp / "none-yet.txt"));
  CHECK_FALSE(renamed_output(tmp / "link.txt"));

  fs::create_directories(tmp / "dir");
  try {
    atomic_write_file(tmp / "dir", "x");
    FAIL("wrote over a directory");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK(std::string(e.what()).find("is a directory") != std::string::npos);
  }
  CHECK(fs::is_directory(tmp / "dir"));
}
