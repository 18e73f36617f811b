#pragma once
// The tracking backends the tests run against: a SQLite file, and a fresh database on the
// throw-away PostgreSQL cluster that ctest's pg fixture starts (tests/pg_cluster.sh).
#include <string>

#include "tests/support/temp_dir.hpp"

namespace xops::test {

// "sqlite" -> a file in tmp; "postgres" -> a new, empty database on the test cluster (and
// PGPASSWORD set for this process and its children). Fails the test when the cluster is
// missing under ctest; "" (skip) only when run outside ctest without XOPS_TEST_PG_DIR.
std::string tracking_url(const std::string& backend, const TempDir& tmp);

// The cluster's URL without a database of our own ("" when there is none).
std::string pg_cluster_url();

}  // namespace xops::test
