#include "tests/support/services.hpp"

#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>

#include "core/db/database.hpp"

namespace xops::test {

namespace {
std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace

std::string pg_cluster_url() {
  const char* dir = std::getenv("XOPS_TEST_PG_DIR");
  // Never a pass without the service: a case that cannot run fails and says why.
  if (!dir || !*dir)
    FAIL("this case needs the throw-away PostgreSQL cluster that ctest starts "
         "(XOPS_TEST_PG_DIR is unset): run it through ctest");
  std::filesystem::path d(dir);
  if (!std::filesystem::exists(d / "url"))
    FAIL("the test PostgreSQL cluster is not running ("
         << d.string() << "/url missing): ctest's pg fixture starts it");
  ::setenv("PGPASSWORD", trimmed(read_text(d / "password")).c_str(), 1);
  return trimmed(read_text(d / "url"));
}

std::string s3_endpoint() {
  const char* dir = std::getenv("XOPS_TEST_S3_DIR");
  if (!dir || !*dir)
    FAIL("this case needs the S3 server that ctest starts (XOPS_TEST_S3_DIR is unset): run it "
         "through ctest");
  std::filesystem::path d(dir);
  if (!std::filesystem::exists(d / "endpoint"))
    FAIL("the test S3 server is not running (" << d.string()
                                               << "/endpoint missing): ctest's fixture starts it");
  return trimmed(read_text(d / "endpoint"));
}

std::string tracking_url(const std::string& backend, const TempDir& tmp) {
  if (backend == "sqlite") return (tmp / "tracking.db").string();
  auto cluster = pg_cluster_url();
  static std::atomic<int> n{0};
  auto name = "t_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + "_" +
              std::to_string(std::hash<std::string>{}(tmp.path().string()) % 1000000);
  auto admin = db::Database::open_url(cluster, false);
  admin.exec("CREATE DATABASE " + name);
  return cluster.substr(0, cluster.rfind('/') + 1) + name;
}

}  // namespace xops::test
