#include "core/tracking/tracking_db.hpp"

#include <cstdlib>

#include "core/error.hpp"
#include "core/project/workspace.hpp"

namespace xops {

TrackingLocation tracking_location(const Workspace& ws) {
  TrackingLocation loc;
  const char* env = std::getenv("XOPS_TRACKING");
  if (env && std::string(env) == "local") return {ws.db_path().string(), "env XOPS_TRACKING"};
  if (env && *env)
    loc = {env, "env XOPS_TRACKING"};
  else if (!ws.config().tracking.empty())
    loc = {ws.config().tracking, ws.config().tracking_where};
  else
    return {ws.db_path().string(), "default"};
  if (!db::Database::is_postgres_url(loc.url)) {
    if (loc.url.find("://") != std::string::npos)
      throw usage_error(fmt::format("tracking database '{}' ({}): unsupported URL",
                                    db::Database::redact(loc.url), loc.origin),
                        "use postgresql://user@host:port/db or a SQLite file path");
    std::filesystem::path p(loc.url);
    if (p.is_relative()) loc.url = (ws.root() / p).string();
  }
  return loc;
}

db::Database open_tracking_db(const Workspace& ws) {
  ws.ensure_state_dirs();
  return db::Database::open_url(tracking_location(ws).url);
}

}  // namespace xops
