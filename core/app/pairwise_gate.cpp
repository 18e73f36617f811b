#include "core/app/pairwise_gate.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/eval/suite.hpp"
#include "core/project/workspace.hpp"
#include "core/refs/content.hpp"
#include "core/refs/registry.hpp"
#include "core/tracking/evidence.hpp"

namespace xops::app {

using namespace registry;

namespace {

using evidence::metric_of;

}  // namespace

PairwiseBaseline pairwise_baseline(const Workspace& ws, const GateConfig& g,
                                   const PromotionPlan& plan) {
  const auto& artifact = plan.version.artifact;
  const auto& stages = ws.config().stages;
  auto repo = repo_of(ws);
  auto reg = Registry::from_tags(repo.tags());
  Resolved v;
  if (std::find(stages.begin(), stages.end(), g.baseline) != stages.end()) {
    const auto* st = reg.find(artifact);
    const StageHolder* h = st ? st->holder(g.baseline) : nullptr;
    if (h && h->version == plan.version.version) h = st->holder_before(g.baseline, 1);
    if (!h) {
      PairwiseBaseline none;
      none.none = st && st->holder(g.baseline)
                      ? fmt::format("no version of {} held {} before {}", artifact, g.baseline,
                                    plan.version.version)
                      : fmt::format("no version of {} is in {} yet", artifact, g.baseline);
      return none;
    }
    v = {artifact, h->version, h->commit, h->tag};
  } else {
    auto ref = parse_ref(g.baseline);
    if (!ref)
      throw usage_error(fmt::format("{}: pairwise baseline '{}' is not a stage nor a registry ref",
                                    g.where, g.baseline),
                        "NAME@vX.Y.Z, NAME#STAGE or NAME#STAGE~1");
    v = resolve(reg, *ref, repo.is_shallow());
  }
  PairwiseBaseline b;
  b.ref = v.artifact + "@" + v.version;
  b.content_hash = artifact_pointer_at(ws, artifact_config(ws, v.artifact), v.commit).sha256;
  if (b.content_hash == plan.content_hash)
    throw precondition_error(
        fmt::format("{}: the pairwise gate's baseline {} is the same content as {}@{}: a "
                    "comparison with itself says nothing",
                    g.where, b.ref, artifact, plan.version.version),
        "name another version as the baseline (a stage compares with the version before)");
  return b;
}

GateCheck check_pairwise_gate(const Workspace& ws, const std::vector<RunRecord>& runs,
                              const GateConfig& g, const std::string& content_hash,
                              const PairwiseBaseline& b) {
  GateCheck c;
  c.kind = "pairwise";
  c.suite = g.eval;
  c.min_pass_rate = 0;
  c.min_win_rate = g.min_win_rate;
  c.max_regressions = g.max_regressions;
  c.baseline_version = b.ref;
  c.baseline_hash = b.content_hash;
  if (!b.none.empty()) {
    c.passed = true;  // the first version in a stage has nothing to be compared with
    c.reason = b.none + ": nothing to compare with";
    return c;
  }
  std::vector<std::string> warnings;
  try {
    c.suite_hash = load_suite(ws.root() / g.eval, &warnings).content_sha256;
  } catch (const Error& e) {
    c.reason = fmt::format("the gate's suite cannot be read: {}", e.what());
    return c;
  }
  const RunRecord* run =
      evidence::find_comparison_of(runs, c.suite_hash, content_hash, b.content_hash);
  if (!run) {
    c.reason = fmt::format("no eval of exactly this content against {} with this suite", b.ref);
    return c;
  }
  c.run_id = run->id;
  // A run of several candidates (--model A --model B) keeps each one's figures under its
  // label: the label this content ran under.
  std::string label;
  for (const auto& [k, v] : run->inputs)
    if (v == content_hash && k.rfind("provider:", 0) == 0) label = k.substr(9, k.rfind('/') - 9);
  auto figure = [&](const std::string& key) {
    auto mine = label.empty() ? std::nullopt : metric_of(*run, key + "/" + label);
    return mine ? mine : metric_of(*run, key);
  };
  c.pass_rate = figure("pass_rate");
  c.win_rate = figure("pairwise/win_rate");
  c.win_rate_low = figure("pairwise/win_rate_low");
  c.win_rate_high = figure("pairwise/win_rate_high");
  c.sign_test_p = figure("pairwise/sign_test_p");
  c.pairs = figure("pairwise/pairs");
  c.regressions = figure("baseline/regressions");
  c.compared = figure("baseline/compared");
  auto errors = metric_of(*run, "errors");
  // A comparison with cases missing (a judge or an endpoint down) is not the comparison asked.
  if (errors && *errors > 0) {
    auto first = run->tags.find("first_error");
    c.reason = fmt::format("{} case(s) of that eval could not be evaluated{}", *errors,
                           first == run->tags.end() ? "" : " (" + first->second + ")");
  } else if (run->status != "finished" && run->status != "failed") {
    c.reason = fmt::format("that eval ended {}", run->status);
  } else if (g.min_win_rate && !c.win_rate) {
    c.reason =
        "that eval judged no pairs: the suite needs a judge (`judge:` or defaults.eval.judge)";
  } else if (g.max_regressions && !c.regressions) {
    c.reason = "that eval recorded no regressions count";
  } else if (g.min_win_rate && *c.win_rate + 1e-12 < *g.min_win_rate) {
    c.reason = fmt::format("win rate {:.3f} (95% CI {:.2f}-{:.2f}, {} pairs) < {:.3f} against {}",
                           *c.win_rate, c.win_rate_low.value_or(0), c.win_rate_high.value_or(1),
                           c.pairs.value_or(0), *g.min_win_rate, b.ref);
  } else if (g.max_regressions && *c.regressions > *g.max_regressions) {
    c.reason = fmt::format("{} regression(s) against {} > {} allowed", *c.regressions, b.ref,
                           *g.max_regressions);
  } else {
    c.passed = true;
    std::vector<std::string> parts;
    if (c.win_rate)
      parts.push_back(fmt::format("win rate {:.3f} (95% CI {:.2f}-{:.2f}, {} pairs)", *c.win_rate,
                                  c.win_rate_low.value_or(0), c.win_rate_high.value_or(1),
                                  c.pairs.value_or(0)));
    if (c.regressions)
      parts.push_back(
          fmt::format("{} regression(s) of {}", *c.regressions, c.compared.value_or(0)));
    c.reason = fmt::format("{} against {}", fmt::join(parts, ", "), b.ref);
  }
  return c;
}

GateCheck check_online_pairwise_gate(const std::vector<RunRecord>& runs, const GateConfig& g,
                                     const std::string& content_hash) {
  GateCheck c;
  c.kind = "online_pairwise";
  c.min_pass_rate = 0;
  c.min_win_rate = g.min_win_rate;
  c.min_pairs = g.min_pairs;
  const RunRecord* run = evidence::find_live_comparison_of(runs, content_hash);
  if (!run) {
    c.reason =
        "no judged live traffic of exactly this content: serve it with --shadow, then "
        "`xops eval --from-logs --pairwise`";
    return c;
  }
  c.run_id = run->id;
  if (auto served = run->params.find("served"); served != run->params.end())
    c.baseline_version = served->second;
  for (const auto& [k, v] : run->inputs)  // the served adapter's hash, else its model's
    if (k.rfind("baseline:", 0) == 0 &&
        (c.baseline_hash.empty() || k.find("/adapter") != std::string::npos))
      c.baseline_hash = v;
  c.win_rate = metric_of(*run, "pairwise/win_rate");
  c.win_rate_low = metric_of(*run, "pairwise/win_rate_low");
  c.win_rate_high = metric_of(*run, "pairwise/win_rate_high");
  c.sign_test_p = metric_of(*run, "pairwise/sign_test_p");
  c.pairs = metric_of(*run, "pairwise/pairs");
  if (!c.win_rate || !c.pairs) {
    c.reason = "that run recorded no win rate";
  } else if (*c.pairs < g.min_pairs) {
    c.reason =
        fmt::format("{} judged pair(s) < {} required (run {})", *c.pairs, g.min_pairs, run->id);
  } else if (*c.win_rate + 1e-12 < *g.min_win_rate) {
    c.reason =
        fmt::format("live win rate {:.3f} (95% CI {:.2f}-{:.2f}, {} pairs) < {:.3f} against {}",
                    *c.win_rate, c.win_rate_low.value_or(0), c.win_rate_high.value_or(1), *c.pairs,
                    *g.min_win_rate, c.baseline_version);
  } else {
    c.passed = true;
    c.reason = fmt::format("live win rate {:.3f} (95% CI {:.2f}-{:.2f}, {} pairs) against {}",
                           *c.win_rate, c.win_rate_low.value_or(0), c.win_rate_high.value_or(1),
                           *c.pairs, c.baseline_version);
  }
  return c;
}

}  // namespace xops::app
