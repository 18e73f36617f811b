#include "core/eval/evaluate.hpp"

#include <cstdlib>
#include <optional>

#include "core/error.hpp"
#include "core/eval/report_writers.hpp"
#include "core/registry/promote.hpp"
#include "core/store/sha256.hpp"
#include "core/tracking/run_session.hpp"
#include "core/tracking/tracker.hpp"
#include "core/util/fs.hpp"
#include "core/workspace.hpp"

namespace xops {

std::vector<std::string> key_hosts_with_env(std::vector<std::string> hosts) {
  if (const char* e = std::getenv("XOPS_KEY_HOSTS")) {
    std::string v = e;
    for (size_t p = 0; p <= v.size();) {
      auto c = v.find(',', p);
      if (c == std::string::npos) c = v.size();
      auto item = v.substr(p, c - p);
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      if (!item.empty()) hosts.push_back(item);
      p = c + 1;
    }
  }
  return hosts;
}

EvalOutcome evaluate(const EvalRequest& req, const Workspace* ws, const EvalObserver& obs) {
  EvalOutcome o;
  std::vector<std::string> warnings;
  o.suite = load_suite(req.suite, &warnings);
  if (obs.on_warning)
    for (const auto& w : warnings) obs.on_warning(w);
  auto& suite = o.suite;
  if (!req.model.empty()) {
    // Evaluate this model instead of the suite's providers (keeping the first one's config
    // when it was a local model: max_tokens, stop, ...).
    const auto& first = suite.providers[0].id;
    bool remote = first.rfind("exec:", 0) == 0 || first.rfind("openai:", 0) == 0;
    suite.providers = {ProviderSpec{req.model, req.model,
                                    remote ? nlohmann::json::object() : suite.providers[0].config}};
  }
  if (!req.prompt.empty()) {
    // Exactly one version of a prompt (a registry ref) or a file, instead of the suite's.
    std::filesystem::path file = req.prompt;
    if (ws)
      if (auto r = registry::resolve_content(*ws, req.prompt)) file = r->path;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec))
      throw precondition_error(
          fmt::format("no prompt '{}': not a file nor a registry reference", req.prompt),
          "give a prompt file or NAME@vX.Y.Z / NAME#STAGE of a prompt artifact");
    suite.prompts = {PromptSpec{req.prompt, read_file_limited(file, 16u << 20, "prompt"), req.prompt}};
  }
  if (!req.judge.empty()) suite.judge = req.judge;
  for (auto& t : suite.tests)
    for (const auto& [k, v] : req.vars) {
      t.vars[k] = v;
      t.values[k] = v;
    }
  std::optional<Tracker> tracker;
  std::optional<RunSession> session;  // marks the run killed/failed if we leave early
  if (ws && req.track) {
    tracker.emplace(Tracker::for_workspace(*ws));
    RunStart rs;
    rs.name = req.suite.stem().string();
    rs.kind = "eval";
    rs.command = "xops eval " + req.suite.string() +
                 (req.model.empty() ? "" : " --model " + req.model) +
                 (req.prompt.empty() ? "" : " --prompt " + req.prompt);
    rs.params = {{"suite", req.suite.string()},
                 {"repeat", std::to_string(req.opts.repeat)},
                 {"jobs", std::to_string(req.opts.jobs)}};
    for (size_t i = 0; i < suite.providers.size(); ++i)
      rs.params["provider." + std::to_string(i)] = suite.providers[i].id;
    session.emplace(*tracker, ws->db_path(), rs, ws);
    o.run_id = session->id();
  }
  ReportWriters writers(req.jsonl, req.junit, req.html);
  size_t total = suite.tests.size() * suite.prompts.size() * suite.providers.size() *
                 std::max(1, req.opts.repeat);
  if (obs.on_start) obs.on_start(total);
  try {
    o.summary = run_suite(suite, ws, tracker ? &tracker->db() : nullptr, req.opts,
                          [&](const CaseResult& c) {
                            writers.add(c);
                            if (obs.on_case) obs.on_case(c);
                          });
    writers.finish(o.summary, suite);
  } catch (const std::exception& e) {
    if (session) session->fail(e);  // the run records the exit code the command returns
    throw;
  }
  const auto& sum = o.summary;
  if (tracker) {
    std::vector<MetricPoint> pts = {{"pass_rate", sum.pass_rate(), 0, 0},
                                    {"cases", double(sum.cases), 0, 0},
                                    {"errors", double(sum.errors), 0, 0}};
    for (const auto& p : sum.providers)
      pts.push_back({"pass_rate/" + p.label, p.cases ? double(p.passed) / p.cases : 0.0, 0, 0});
    for (const auto& [k, v] : sum.metrics)
      pts.push_back({"metric/" + k, v.second ? v.first / v.second : 0.0, 0, 0});
    tracker->log_metrics(o.run_id, pts);
    // Lineage: the exact suite, prompts and model/adapter contents this result is about.
    std::map<std::string, std::string> inputs = {
        {"eval-suite:" + req.suite.string(), suite.content_sha256}};
    for (const auto& p : suite.prompts) inputs["prompt:" + p.label] = sha256_hex(p.text);
    for (const auto& [k, h] : sum.content_hashes) inputs["provider:" + k] = h;
    tracker->record_inputs(o.run_id, inputs);
    tracker->log_tags(o.run_id, {{"thresholds_met", sum.thresholds_met ? "true" : "false"}});
    // Missed thresholds are a failure: the run records the exit code the command returns.
    int code = o.exit_code();
    session->finish(code ? RunStatus::Failed : RunStatus::Finished, code);
  }
  return o;
}

}  // namespace xops
