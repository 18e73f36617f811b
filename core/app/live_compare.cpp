#include "core/app/live_compare.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/eval/providers.hpp"
#include "core/project/workspace.hpp"
#include "core/tracking/evidence.hpp"
#include "core/tracking/run_session.hpp"
#include "core/tracking/tracker.hpp"
#include "core/tracking/tracking_db.hpp"

namespace xops::app {

LiveCompareOutcome judge_live_traffic(const Workspace& ws, const LiveCompareRequest& req) {
  if (req.judge.empty())
    throw usage_error("--from-logs --pairwise needs a judge",
                      "--judge PROVIDER, or defaults: {eval: {judge: ...}} in xops.yaml");
  auto db = open_tracking_db(ws);
  auto pairs = logged_pairs(db, req.since_ms);
  if (pairs.empty())
    throw precondition_error(
        "no logged shadow pairs to judge" + std::string(req.since_ms ? " in that time" : ""),
        "serve the candidate beside the served version: xops serve NAME#prod --shadow "
        "NAME#staging");
  auto judge = make_provider(ProviderSpec{req.judge, req.judge, nlohmann::json::object(), {}}, &ws,
                             ws.root(), req.key_hosts);
  auto ask = [&](const std::string& prompt) {
    auto r = judge->call(prompt);
    if (!r.error.empty()) throw runtime_error(fmt::format("judge {}: {}", req.judge, r.error));
    return r.output;
  };
  LiveCompareOutcome out;
  out.groups = judge_logged_pairs(pairs, req.judge, ask, req.criteria, req.max_pairs);
  if (!req.track) return out;
  auto tracker = Tracker::for_workspace(ws);
  for (const auto& g : out.groups) {
    RunStart rs;
    rs.name = fmt::format("{} vs {} on live traffic", g.candidate_version, g.served_version);
    rs.kind = "online-pairwise";
    rs.command = "xops eval --from-logs --pairwise";
    rs.params = {
        {"judge", req.judge}, {"candidate", g.candidate_version}, {"served", g.served_version}};
    RunSession session(tracker, rs, &ws);
    // The candidate's content is what this run is evidence about; the served one's is apart.
    std::map<std::string, std::string> inputs;
    auto add = [&](const std::string& key, const std::string& hash) {
      if (!hash.empty()) inputs[key] = hash;
    };
    add(evidence::provider_key(g.candidate_version, "model"), g.candidate_model_hash);
    add(evidence::provider_key(g.candidate_version, "adapter"), g.candidate_adapter_hash);
    add(evidence::baseline_key(g.served_version + "/model"), g.served_model_hash);
    add(evidence::baseline_key(g.served_version + "/adapter"), g.served_adapter_hash);
    tracker.record_inputs(session.id(), inputs);
    std::vector<MetricPoint> pts = {{"errors", double(g.errors), 0, 0}};
    for (const auto& [k, v] : pairwise_figures(g.stats)) pts.push_back({"pairwise/" + k, v, 0, 0});
    tracker.log_metrics(session.id(), pts);
    session.finish(RunStatus::Finished, 0);
    out.run_ids.push_back(session.id());
  }
  return out;
}

}  // namespace xops::app
