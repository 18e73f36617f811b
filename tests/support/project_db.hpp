#pragma once
// The tracking database a project's commands use: its SQLite file, or under
// XOPS_TEST_TRACKING=postgres the test case's PostgreSQL database (XOPS_TRACKING). Tests that
// write or read the interaction log directly go through this, so they run on both backends.
#include <filesystem>
#include <string>
#include <vector>

#include "core/db/database.hpp"
#include "core/project/workspace.hpp"
#include "core/tracking/tracking_db.hpp"

namespace xops::test {

inline db::Database project_db(const std::filesystem::path& project) {
  std::vector<std::string> warnings;
  auto ws = Workspace::open(project, &warnings);
  return open_tracking_db(ws);
}

}  // namespace xops::test
