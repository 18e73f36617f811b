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
    // Something with `key=value` that libpq would not take is a mistyped connection string,
    // not a file name: never create a database file named with a password in it.
    if (loc.url.find('=') != std::string::npos && loc.url.rfind("./", 0) != 0 &&
        loc.url.rfind("/", 0) != 0)
      throw usage_error(
          fmt::format("tracking database ({}): the value holds '=', like a connection string, "
                      "but not one libpq reads (keywords: host, port, dbname, user, password, "
                      "sslmode, ...); it is not shown, it may hold a password",
                      loc.origin),
          "use postgresql://user@host:port/db, host=H dbname=D, or a SQLite path (./name.db)");
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
