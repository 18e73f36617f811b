#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <cstdlib>
#include <memory>

#include "tests/support/services.hpp"

// XOPS_TEST_TRACKING=postgres: every test case gets a fresh PostgreSQL database as its
// XOPS_TRACKING (ctest runs the tracking-related end-to-end tests a second time this way).
struct TrackingBackendListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  std::unique_ptr<xops::test::TempDir> tmp;
  void testCaseStarting(const Catch::TestCaseInfo&) override {
    const char* want = std::getenv("XOPS_TEST_TRACKING");
    if (!want || std::string(want) != "postgres") return;
    tmp = std::make_unique<xops::test::TempDir>();
    auto url = xops::test::tracking_url("postgres", *tmp);
    if (url.empty()) std::abort();  // asked for PostgreSQL, and there is none: never pass silently
    ::setenv("XOPS_TRACKING", url.c_str(), 1);
  }
  void testCaseEnded(const Catch::TestCaseStats&) override {
    ::unsetenv("XOPS_TRACKING");
    tmp.reset();
  }
};
CATCH_REGISTER_LISTENER(TrackingBackendListener)
