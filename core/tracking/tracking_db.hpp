#pragma once
// Where a project's runs, eval cache and served traffic live: XOPS_TRACKING, else xops.yaml's
// `tracking:`, else .xops/xops.db (also XOPS_TRACKING=local: work offline, `track sync` later).
// A relative SQLite path is taken from the project root.
#include <string>

#include "core/db/database.hpp"

namespace xops {

class Workspace;

struct TrackingLocation {
  std::string url;     // a postgresql:// URL or a SQLite path
  std::string origin;  // "env XOPS_TRACKING", "xops.yaml:12", "default"
};

TrackingLocation tracking_location(const Workspace& ws);
db::Database open_tracking_db(const Workspace& ws);

}  // namespace xops
