#pragma once
// `xops track sync`: copies one tracking database's runs (and served traffic with its
// feedback) into another, typically a laptop's .xops/xops.db into the team's PostgreSQL.
// Runs are matched by ULID, so a second sync copies nothing, and a run that changed since
// (finished, more metrics) is replaced whole in one transaction.
#include <cstdint>
#include <functional>
#include <string>

#include "core/db/database.hpp"

namespace xops {

struct SyncResult {
  int64_t runs_copied = 0, runs_updated = 0, runs_unchanged = 0;
  int64_t metric_points = 0;               // written
  int64_t interactions = 0, feedback = 0;  // new in the target
};

// progress(done, total) after each run.
SyncResult sync_tracking(db::Database& from, db::Database& to,
                         const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace xops
