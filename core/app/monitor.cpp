#include "core/app/monitor.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "core/eval/from_logs.hpp"
#include "core/project/workspace.hpp"
#include "core/tracking/tracking_db.hpp"

namespace xops::app {

MonitorOutcome monitor_traffic(const Workspace& ws, const MonitorRequest& r, int64_t now_ms) {
  const auto& m = ws.config().monitor;
  if (r.check && !m.any())
    throw precondition_error("--check: xops.yaml has no monitor: thresholds",
                             "e.g. monitor: {since: 1d, max_p95_latency_ms: 2000, "
                             "max_error_rate: 0.01, min_feedback_mean: 0.6}");
  auto since = !r.since.empty() ? r.since : r.check ? m.since : std::string();
  MonitorOutcome o;
  o.since_ms = since.empty() ? 0 : parse_since(since, now_ms);
  auto where = tracking_location(ws);
  if (!db::Database::is_postgres_url(where.url) && !std::filesystem::exists(where.url))
    throw precondition_error("no interactions logged in this project yet",
                             "xops serve MODEL here logs them");
  auto db = open_tracking_db(ws);
  o.groups = traffic_stats(db, {o.since_ms, r.by, r.only});
  if (r.check) o.alerts = check_traffic(o.groups, m);
  return o;
}

}  // namespace xops::app
