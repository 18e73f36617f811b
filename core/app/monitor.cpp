#include "core/app/monitor.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "core/error.hpp"
#include "core/eval/from_logs.hpp"
#include "core/project/workspace.hpp"
#include "core/tracking/tracking_db.hpp"

namespace xops::app {

namespace {
db::Database open_log(const Workspace& ws) {
  auto where = tracking_location(ws);
  if (!db::Database::is_postgres_url(where.url) && !std::filesystem::exists(where.url))
    throw precondition_error("no interactions logged in this project yet",
                             "xops serve MODEL here logs them");
  return open_tracking_db(ws);
}
}  // namespace

FeedbackListing monitor_feedback(const Workspace& ws, const FeedbackListRequest& r,
                                 int64_t now_ms) {
  FeedbackListing out;
  out.schema = ws.config().feedback_scores;
  if (!r.name.empty() && !out.schema.count(r.name))
    throw usage_error(fmt::format("--name {}: xops.yaml declares no such feedback score", r.name),
                      "feedback: {scores: {NAME: {min, max}}} declares them");
  out.since_ms = r.since.empty() ? 0 : parse_since(r.since, now_ms);
  auto db = open_log(ws);
  out.rows = read_feedback(db, {out.since_ms, r.name, r.user, r.session, r.only, r.limit});
  // Per version: the scores of interactions in the window (feedback on them, whenever given).
  out.versions = traffic_stats(db, {out.since_ms, "version", r.only});
  return out;
}

MonitorOutcome monitor_traffic(const Workspace& ws, const MonitorRequest& r, int64_t now_ms) {
  const auto& m = ws.config().monitor;
  if (r.check && !m.any())
    throw precondition_error("--check: xops.yaml has no monitor: thresholds",
                             "e.g. monitor: {since: 1d, max_p95_latency_ms: 2000, "
                             "max_error_rate: 0.01, min_feedback_mean: 0.6}");
  const bool drift = r.drift || (r.check && m.max_psi);
  auto since = !r.since.empty() ? r.since : r.check || drift ? m.since : std::string();
  MonitorOutcome o;
  o.since_ms = since.empty() ? 0 : parse_since(since, now_ms);
  auto db = open_log(ws);
  o.groups = traffic_stats(db, {o.since_ms, r.by, r.only});
  if (r.check) o.alerts = check_traffic(o.groups, m);
  if (drift) {
    DriftWindow cur{o.since_ms, now_ms + 1};
    DriftWindow ref{
        r.reference.empty() ? 2 * o.since_ms - now_ms : parse_since(r.reference, now_ms),
        o.since_ms};
    if (ref.from_ms >= ref.to_ms)
      throw usage_error("--reference must start before the window --since starts",
                        "e.g. --since 1d --reference 8d: the week before today");
    o.drift = traffic_drift(db, ref, cur, r.only, m.max_psi.value_or(0.25));
    if (r.check && m.max_psi)
      for (const auto& f : o.drift->figures)
        if (f.drifted)
          o.alerts.push_back(
              {f.name, "drift (PSI)", f.psi, *m.max_psi,
               fmt::format("{} drifted: PSI {:.3f} > {:g}, KS {:.3f} > {:.3f} (mean {:.1f} -> "
                           "{:.1f}; monitor: in {})",
                           f.name, f.psi, *m.max_psi, f.ks, f.ks_critical, f.mean_reference,
                           f.mean_current, m.where)});
  }
  return o;
}

}  // namespace xops::app
