#include "core/app/monitor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "core/eval/from_logs.hpp"
#include "core/eval/providers.hpp"
#include "core/eval/suite.hpp"
#include "core/project/workspace.hpp"
#include "core/tracking/tracking_db.hpp"

namespace xops::app {

namespace {

// The suite's cases as the eval sends them (each prompt rendered with each test's vars), and
// the served prompts of the window (evenly spaced, at most max), embedded by one provider.
PromptDrift prompt_drift(const Workspace& ws, db::Database& db, const MonitorRequest& r,
                         const DriftWindow& window) {
  const auto& m = ws.config().monitor;
  PromptDrift out;
  // A flag's path is the user's (from the current directory); xops.yaml's, the project's.
  out.suite = !r.suite.empty() ? r.suite : (ws.root() / m.drift_suite).string();
  std::vector<std::string> warnings;
  auto suite = load_suite(out.suite, &warnings);
  out.embedding = !r.embedding.empty()   ? r.embedding
                  : !m.embedding.empty() ? m.embedding
                                         : suite.embedding;
  if (out.embedding.empty())
    throw usage_error("prompt drift needs an embedding provider",
                      "--embedding MODEL_OR_REF (a local model, or openai:embedding:MODEL), or "
                      "monitor: {embedding: ...} in xops.yaml");
  std::vector<std::string> cases;
  for (const auto& t : suite.tests)
    for (const auto& p : suite.prompts) cases.push_back(render_prompt(p, t.values));
  std::vector<std::string> served;
  for (const auto& l : read_interactions(db, window.from_ms)) {
    const auto& i = l.interaction;
    if (i.created_ms >= window.to_ms || i.arm == "shadow") continue;  // not what users got
    if (!r.only.empty() && i.model != r.only && i.version != r.only &&
        i.version.rfind(r.only + "@", 0) != 0)
      continue;
    served.push_back(i.prompt);
  }
  auto chars = [](const std::string& t) {  // code points: a UTF-8 byte that starts one
    return static_cast<double>(
        std::count_if(t.begin(), t.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  };
  std::vector<double> case_len, served_len;
  for (const auto& c : cases) case_len.push_back(chars(c));
  for (const auto& p : served) served_len.push_back(chars(p));
  out.length = compare_samples("prompt_chars vs suite", case_len, served_len,
                               ws.config().monitor.max_psi.value_or(0.25));
  if (served.size() > r.max_prompts) {  // evenly spaced: every part of the window is seen
    std::vector<std::string> picked;
    for (size_t k = 0; k < r.max_prompts; ++k)
      picked.push_back(served[k * served.size() / r.max_prompts]);
    served.swap(picked);
  }
  ProviderSpec spec;
  spec.id = out.embedding;
  spec.label = out.embedding;
  auto provider = make_provider(spec, &ws, std::filesystem::path(out.suite).parent_path());
  std::vector<std::vector<float>> ref, cur;
  for (const auto& c : cases) ref.push_back(provider->embed(c));
  for (const auto& s : served) cur.push_back(provider->embed(s));
  out.stats = embedding_drift(ref, cur);
  for (const auto& e : out.stats.farthest)
    out.examples.push_back(
        {served[e.current].substr(0, 300), cases[e.nearest].substr(0, 300), e.similarity});
  return out;
}

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
  out.versions = traffic_stats(db, {out.since_ms, "version", r.only, ""});
  return out;
}

MonitorOutcome monitor_traffic(const Workspace& ws, const MonitorRequest& r, int64_t now_ms) {
  const auto& m = ws.config().monitor;
  if (r.check && !m.any())
    throw precondition_error("--check: xops.yaml has no monitor: thresholds",
                             "e.g. monitor: {since: 1d, max_p95_latency_ms: 2000, "
                             "max_error_rate: 0.01, min_feedback_mean: 0.6}");
  const bool drift = r.drift || !r.suite.empty() || (r.check && (m.max_psi || m.max_prompt_drift));
  auto since = !r.since.empty() ? r.since : r.check || drift ? m.since : std::string();
  MonitorOutcome o;
  o.since_ms = since.empty() ? 0 : parse_since(since, now_ms);
  auto db = open_log(ws);
  if (!r.per.empty() && r.per == r.by)
    throw usage_error(fmt::format("--per {} with --by {}: the same grouping twice", r.per, r.by),
                      "e.g. --by version --per day");
  o.groups = traffic_stats(db, {o.since_ms, r.by, r.only, r.per});
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
    if (!r.suite.empty() || !m.drift_suite.empty()) {
      o.prompt_drift = prompt_drift(ws, db, r, cur);
      const auto& st = o.prompt_drift->stats;
      if (r.check && m.max_prompt_drift && st.share_beyond > *m.max_prompt_drift)
        o.alerts.push_back(
            {"prompts", "prompt drift", st.share_beyond, *m.max_prompt_drift,
             fmt::format("served prompts drifted from {}: {:.1f}% are farther from every case "
                         "than its cases are from each other (> {:g}%; binomial p {:.2g}; "
                         "monitor: in {})",
                         o.prompt_drift->suite, 100 * st.share_beyond, 100 * *m.max_prompt_drift,
                         st.p_value, m.where)});
    }
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
