#pragma once
// The services ctest's `services` fixture starts for a run: a throw-away PostgreSQL cluster
// (tests/pg_cluster.sh) and an S3-compatible server (tests/s3_server.sh).
#include <string>

#include "tests/support/temp_dir.hpp"

namespace xops::test {

// "sqlite" -> a file in tmp; "postgres" -> a new, empty database on the test cluster (and
// PGPASSWORD set for this process and its children). Fails the test when the cluster is
// missing, also outside ctest: a case that could not run never passes.
std::string tracking_url(const std::string& backend, const TempDir& tmp);

// The cluster's URL without a database of our own (fails the test when there is none).
std::string pg_cluster_url();

// The S3 server's endpoint (http://127.0.0.1:PORT, bucket `xops-test`, key S3RVER/S3RVER);
// fails the test when there is none (outside ctest too).
std::string s3_endpoint();

}  // namespace xops::test
