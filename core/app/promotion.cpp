#include "core/app/promotion.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/app/notify.hpp"
#include "core/app/pairwise_gate.hpp"
#include "core/eval/suite.hpp"
#include "core/project/workspace.hpp"
#include "core/refs/content.hpp"
#include "core/tracking/evidence.hpp"
#include "core/tracking/tracker.hpp"

namespace xops::app {

namespace fs = std::filesystem;
using namespace registry;

namespace {

using evidence::metric_of;

GateCheck check_eval_gate(const std::vector<RunRecord>& runs, const GateConfig& g,
                          const fs::path& root, const std::string& content_hash) {
  GateCheck c;
  c.suite = g.eval;
  c.min_pass_rate = g.min_pass_rate;
  std::vector<std::string> warnings;
  try {
    c.suite_hash = load_suite(root / g.eval, &warnings).content_sha256;
  } catch (const Error& e) {
    c.reason = fmt::format("the gate's suite cannot be read: {}", e.what());
    return c;
  }
  const RunRecord* run = evidence::find_eval_of(runs, c.suite_hash, content_hash);
  if (!run) {
    c.reason = "no eval of exactly this content with this suite";
    return c;
  }
  c.run_id = run->id;
  c.pass_rate = metric_of(*run, "pass_rate");
  if (run->status != "finished") {
    // Why: thresholds missed, or cases that could not be evaluated (a judge or endpoint down).
    std::string why;
    if (run->exit_code && *run->exit_code == 4) why = ": its suite's thresholds missed";
    if (auto errors = metric_of(*run, "errors"); errors && *errors > 0) {
      auto first = run->tags.find("first_error");
      why = fmt::format(": {} case(s) could not be evaluated{}", *errors,
                        first == run->tags.end() ? "" : " (" + first->second + ")");
    }
    c.reason = fmt::format("the latest eval of this content ended {}{}{}", run->status,
                           run->exit_code ? fmt::format(" (exit {}{})", *run->exit_code, why) : "",
                           c.pass_rate ? fmt::format("; pass_rate {:.3f}", *c.pass_rate) : "");
  } else if (!c.pass_rate) {
    c.reason = "that eval recorded no pass_rate";
  } else if (*c.pass_rate + 1e-12 < g.min_pass_rate) {
    c.reason = fmt::format("pass_rate {:.3f} < {:.3f}", *c.pass_rate, g.min_pass_rate);
  } else {
    c.passed = true;
    c.reason = fmt::format("pass_rate {:.3f} >= {:.3f}", *c.pass_rate, g.min_pass_rate);
  }
  return c;
}

// no_regression: each named metric of this content's eval against the stage holder's eval of
// the same suite, within the tolerance.
void check_regression(GateCheck& c, const std::vector<RunRecord>& runs, const GateConfig& g,
                      const std::string& holder_version, const std::string& holder_hash) {
  if (g.no_regression.empty() || holder_version.empty() || c.run_id.empty()) return;
  c.baseline_version = holder_version;
  const RunRecord* mine = nullptr;
  for (const auto& r : runs)
    if (r.id == c.run_id) mine = &r;
  const RunRecord* base = evidence::find_eval_of(runs, c.suite_hash, holder_hash);
  if (!base) {
    c.passed = false;
    c.reason = fmt::format("no eval of {} (now in the stage) with this suite to compare with",
                           holder_version);
    return;
  }
  c.baseline_run = base->id;
  for (const auto& key : g.no_regression) {
    GateCheck::Comparison cmp{key, mine ? metric_of(*mine, key) : std::nullopt,
                              metric_of(*base, key), false};
    cmp.ok = cmp.value && cmp.baseline && *cmp.value + g.tolerance + 1e-12 >= *cmp.baseline;
    if (!cmp.ok && c.passed) {
      c.passed = false;
      c.reason = !cmp.value || !cmp.baseline
                     ? fmt::format("metric {} is not recorded by both evals", key)
                     : fmt::format("{} {:.3f} regresses from {:.3f} ({}) beyond tolerance {:.3f}",
                                   key, *cmp.value, *cmp.baseline, holder_version, g.tolerance);
    }
    c.comparisons.push_back(cmp);
  }
  if (c.passed) c.reason += fmt::format("; no regression vs {}", holder_version);
}

}  // namespace

PromotionPlan plan_promotion(const Workspace& ws, const std::string& ref_text,
                             const std::string& stage, const GateRunner& run_missing,
                             bool approved) {
  const auto& stages = ws.config().stages;
  if (std::find(stages.begin(), stages.end(), stage) == stages.end())
    throw usage_error(fmt::format("unknown stage '{}'", stage),
                      fmt::format("stages in {}: {}", ws.config().file.filename().string(),
                                  fmt::join(stages, ", ")));
  auto ref = parse_ref(ref_text);
  if (!ref) {
    if (!valid_artifact_name(ref_text))
      throw usage_error(fmt::format("'{}' is not a version reference", ref_text),
                        "use NAME@vX.Y.Z, NAME@latest or NAME");
    ref = Ref{ref_text, Ref::Latest, "latest"};
  }
  const auto& a = artifact_config(ws, ref->artifact);
  auto repo = repo_of(ws);
  auto reg = Registry::from_tags(repo.tags());
  PromotionPlan plan;
  plan.stage = stage;
  plan.type = a.type;
  plan.version = resolve(reg, *ref, repo.is_shallow());
  plan.content_hash = artifact_pointer_at(ws, a, plan.version.commit).sha256;
  const auto* st = reg.find(ref->artifact);
  if (st) {
    if (const auto* h = st->holder(stage)) plan.current = h->version;
    if (st->deprecated)
      throw precondition_error(fmt::format("artifact '{}' is deprecated", ref->artifact),
                               "register it again under a new name");
  }
  plan.tag =
      format_tag_name({ref->artifact, Action::Assign, "", stage, (st ? st->max_counter : 0) + 1});
  // The version now in the stage, for no_regression gates.
  std::string holder_hash;
  if (const StageHolder* h = st ? st->holder(stage) : nullptr) {
    TrackContext tc(ws);
    if (auto c = content_at(tc, a, h->commit)) holder_hash = c->ptr.sha256;
  }
  RunQuery q;
  q.sort = "-start_time";
  auto runs = Tracker::for_workspace(ws).list(q);
  for (const auto& g : ws.config().gates) {
    if (g.stage != stage || !g.applies_to(ref->artifact, a.type)) continue;
    if (g.approval) {
      GateCheck c;
      c.kind = "approval";
      c.passed = approved;
      c.reason = approved ? "signed off with --approve" : "needs a sign-off: --approve";
      plan.gates.push_back(std::move(c));
      continue;
    }
    auto candidate = plan.version.artifact + "@" + plan.version.version;
    if (g.online_pairwise) {
      plan.gates.push_back(check_online_pairwise_gate(runs, g, plan.content_hash));
      continue;
    }
    if (g.pairwise) {
      auto base = pairwise_baseline(ws, g, plan);
      auto check = check_pairwise_gate(ws, runs, g, plan.content_hash, base);
      if (!check.passed && check.run_id.empty() && run_missing && !check.suite_hash.empty()) {
        run_missing(g, candidate, a.type, base.ref);
        runs = Tracker::for_workspace(ws).list(q);
        check = check_pairwise_gate(ws, runs, g, plan.content_hash, base);
      }
      plan.gates.push_back(std::move(check));
      continue;
    }
    auto check = check_eval_gate(runs, g, ws.root(), plan.content_hash);
    if (!check.passed && run_missing && !check.suite_hash.empty()) {
      run_missing(g, candidate, a.type, "");
      runs = Tracker::for_workspace(ws).list(q);
      check = check_eval_gate(runs, g, ws.root(), plan.content_hash);
    }
    bool compare = check.passed && !g.no_regression.empty() && !holder_hash.empty() &&
                   holder_hash != plan.content_hash;
    if (compare && run_missing && !evidence::find_eval_of(runs, check.suite_hash, holder_hash) &&
        parse_semver(plan.current)) {
      run_missing(g, plan.version.artifact + "@" + plan.current, a.type,
                  "");  // the baseline, evaluated the same way
      runs = Tracker::for_workspace(ws).list(q);
    }
    if (compare) check_regression(check, runs, g, plan.current, holder_hash);
    plan.gates.push_back(std::move(check));
  }
  plan.allowed = std::all_of(plan.gates.begin(), plan.gates.end(),
                             [](const GateCheck& c) { return c.passed; });
  return plan;
}

namespace {

// A gate's suite on exactly this version, recorded like `xops eval`: the gate then reads that run.
GateRunner eval_runner(const Workspace& ws, const PromotionRequest& req,
                       const PromotionObserver& obs) {
  return [&ws, &req, &obs](const GateConfig& g, const std::string& ref, const std::string& type,
                           const std::string& baseline) {
    bool prompt = type == "prompt";
    tell(obs.on_info,
         fmt::format("gate {}: no {} of this content; running `xops eval {} {} {}{}`", g.eval,
                     baseline.empty() ? "passing eval" : "comparison with " + baseline, g.eval,
                     prompt ? "--prompt" : "--model", ref,
                     baseline.empty() ? "" : " --baseline " + baseline));
    EvalRequest er;
    er.suite = g.eval;
    er.base_dir = ws.root();  // gate suites are relative to the project, wherever we run
    if (prompt)
      er.prompt = ref;
    else
      er.models = {ref};
    er.baseline = baseline;
    er.opts.key_hosts = req.key_hosts;
    er.default_judge = req.default_judge;
    er.default_embedding = req.default_embedding;
    auto o = evaluate(er, &ws, obs.eval);
    if (obs.on_eval_done) obs.on_eval_done(o);
  };
}

}  // namespace

PromotionOutcome promote(const Workspace& ws, const PromotionRequest& req,
                         const PromotionObserver& obs) {
  if (req.stage.empty())
    throw usage_error("which stage? give --to STAGE", "xops promote NAME@vX.Y.Z --to staging");
  if (auto r = parse_ref(req.ref);
      r && r->kind == Ref::Stage && r->value == req.stage && !req.dry_run)
    throw usage_error(fmt::format("{} is already the version in {}", req.ref, req.stage),
                      "re-check its gates with --dry-run (CI does, on every pushed stage tag)");
  PromotionOutcome out;
  out.plan = plan_promotion(ws, req.ref, req.stage,
                            req.run_evals ? eval_runner(ws, req, obs) : GateRunner{}, req.approve);
  out.written = out.plan.allowed && !req.dry_run;
  if (!req.dry_run) out.run_id = record_promotion(ws, out.plan, req.message);  // tags if allowed
  if (out.written && !req.push.empty()) push_tag(ws, req.push, out.plan.tag);
  return out;
}

Error refusal(const PromotionPlan& plan) {
  size_t failed = 0;
  const GateCheck* first = nullptr;
  for (const auto& g : plan.gates)
    if (!g.passed && !failed++) first = &g;
  std::string hint;
  if (first && !first->run_id.empty() &&
      (first->kind == "pairwise" || first->kind == "online_pairwise"))
    hint = fmt::format(
        "run {} compared it with {} and it fell short: `xops track show {}` has "
        "the figures, the eval's HTML report (-o report.html) the pairs side by "
        "side; a better version, not another eval, changes this",
        first->run_id, first->baseline_version, first->run_id);
  else if (first &&
           !first->run_id.empty())  // evaluated and did not pass: evaluating again changes nothing
    hint = fmt::format("this version's eval with {} did not pass (run {}): `xops track show {}` "
                       "says why; fix the cause (the model, or a judge or endpoint that was down) "
                       "and evaluate again",
                       first->suite, first->run_id, first->run_id);
  else if (!first || first->kind == "approval")
    hint = "a sign-off gate needs --approve (recorded in the tag message)";
  else
    hint = fmt::format(
        "evaluate exactly this version: `xops eval {} {} {}@{}{}` (or promote with "
        "--run-evals), then promote again",
        first->suite, plan.type == "prompt" ? "--prompt" : "--model", plan.version.artifact,
        plan.version.version,
        first->kind == "pairwise" && !first->baseline_version.empty()
            ? " --baseline " + first->baseline_version
            : "");
  return Error(
      ErrorKind::CheckFailed,
      fmt::format("promotion of {}@{} to {} refused: {} of {} gate(s) failed; nothing was written",
                  plan.version.artifact, plan.version.version, plan.stage, failed,
                  plan.gates.size()),
      hint);
}

}  // namespace xops::app
