// One copy of core's process-wide state: the interrupt flag the binary's signal handler sets
// is the flag every plugin's code reads (libxops_base.so), and a plugin that cannot load is
// one precondition error.
#include <dlfcn.h>
#include <signal.h>
#include <catch2/catch.hpp>

#include <filesystem>

#include "core/error.hpp"
#include "core/plugins/plugin.hpp"
#include "core/util/interrupt.hpp"
#include "tests/support/process.hpp"

using namespace xops;

namespace {

using Probe = int (*)();

// The plugin's own view of the flag, through the probe every plugin exports.
Probe probe_of(const std::string& lib) {
  auto path = std::filesystem::path(test::xops_binary()).parent_path() / lib;
  void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  INFO(lib << ": " << (h ? "" : ::dlerror()));
  REQUIRE(h);
  auto p = reinterpret_cast<Probe>(::dlsym(h, "xops_plugin_interrupt_requested"));
  REQUIRE(p);
  return p;
}

}  // namespace

TEST_CASE("every plugin sees the interrupt flag the binary sets", "[plugins]") {
  std::vector<std::string> libs = {"libxops_git.so", "libxops_http.so", "libxops_pg.so",
                                   "libxops_s3.so"};
  auto dir = std::filesystem::path(test::xops_binary()).parent_path();
  if (std::filesystem::exists(dir / "libxops_engine.so")) libs.push_back("libxops_engine.so");
  interrupt::install();
  interrupt::reset();
  for (const auto& lib : libs) {
    auto probe = probe_of(lib);
    INFO(lib);
    CHECK(probe() == 0);
    ::raise(SIGTERM);  // the first signal only sets the flag
    CHECK(interrupt::requested());
    CHECK(probe() == 1);
    interrupt::reset();
    CHECK(probe() == 0);
  }
}

TEST_CASE("a plugin that cannot load is one precondition error naming the library", "[plugins]") {
  setenv("XOPS_TEST_MISSING_LIB", "/nonexistent/libxops_missing.so", 1);
  struct Nothing {};
  try {
    require_plugin<Nothing>("libxops_missing.so", "XOPS_TEST_MISSING_LIB", "xops_missing", 1,
                            "missing part");
    FAIL("loaded a library that does not exist");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Precondition);
    CHECK(exit_code(e.kind()) == 3);
    CHECK(std::string(e.what()).find("cannot load the missing part") == 0);
    CHECK(e.hint().find("libxops_missing.so") != std::string::npos);
    CHECK(e.hint().find("XOPS_TEST_MISSING_LIB") != std::string::npos);
  }
  unsetenv("XOPS_TEST_MISSING_LIB");
}
