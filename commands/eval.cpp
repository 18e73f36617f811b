// `xops eval SUITE.yaml`: run an evaluation suite; exit 0 when its thresholds hold, 4 when
// they do not, 1 when a provider failed. Recorded as a tracking run (kind eval).
#include <fmt/format.h>
#include <cstdlib>
#include <optional>

#include <CLI/CLI.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "commands/commands.hpp"
#include "core/app/coverage.hpp"
#include "core/app/evaluate.hpp"
#include "core/app/live_compare.hpp"
#include "core/db/database.hpp"
#include "core/error.hpp"
#include "core/eval/from_logs.hpp"
#include "core/eval/report_writers.hpp"
#include "core/eval/runner.hpp"
#include "core/project/workspace.hpp"
#include "core/tracking/tracking_db.hpp"
#include "core/util/env_file.hpp"
#include "core/util/fs.hpp"
#include "term/context.hpp"
#include "term/progress.hpp"
#include "term/table.hpp"

namespace xops::commands {

namespace {

using nlohmann::json;

struct EvalFlags {
  std::vector<std::string> models;
  std::string suite, config, prompt, jsonl, junit, html, judge, embedding, baseline;
  bool fail_on_regression = false;
  std::vector<std::string> vars;
  EvalOptions opts;
  bool no_cache = false, no_track = false;
  bool from_logs = false, pairwise = false;
  size_t max_pairs = 0;
  std::string since;
  std::vector<std::string> output;
  std::optional<double> min_score, max_score;
  std::string filter_pattern, filter_failing, env_file;
  size_t filter_first_n = 0;
  size_t novel = 0;
};

// --env-file: variables for providers and scripts (API keys); the shell's own values win, as
// with dotenv.
void load_env_file(const std::string& path) {
  auto vars = parse_env_file(read_file_limited(path, 1u << 20, "an env file"), path);
  for (const auto& [k, v] : vars) ::setenv(k.c_str(), v.c_str(), 0);
}

int64_t since_ms(const EvalFlags& f) {
  return f.since.empty()
             ? 0
             : parse_since(f.since, std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// --from-logs --pairwise: the logged shadow pairs, judged in both orders.
int run_live_pairwise(cli::Context& ctx, const EvalFlags& f) {
  if (f.min_score || f.max_score || !f.output.empty())
    throw usage_error("--pairwise judges the logged pairs: it takes --since, --judge, --max-pairs",
                      "--min-score/--max-score/-o write cases: run them without --pairwise");
  auto& ws = ctx.workspace();
  app::LiveCompareRequest req;
  req.since_ms = since_ms(f);
  req.judge = !f.judge.empty() ? f.judge : ctx.settings().get("eval.judge").value;
  req.key_hosts = key_hosts_with_env(f.opts.key_hosts);
  req.max_pairs = f.max_pairs;
  req.track = !f.no_track;
  auto o = app::judge_live_traffic(ws, req);
  auto& out = ctx.out();
  if (out.json()) {
    json groups = json::array();
    for (size_t i = 0; i < o.groups.size(); ++i) {
      const auto& g = o.groups[i];
      auto [low, high] = g.stats.interval();
      auto n = static_cast<double>(std::max<size_t>(1, g.stats.n()));
      json pairs = json::array();
      for (const auto& p : g.pairs) {
        json verdicts = json::array();
        for (size_t k = 0; k < p.verdicts.size(); ++k)
          verdicts.push_back({{"candidate", k ? "B" : "A"},
                              {"winner", p.verdicts[k].winner},
                              {"reason", p.verdicts[k].reason}});
        pairs.push_back({{"served", p.served_id},
                         {"shadow", p.shadow_id},
                         {"outcome", p.error.empty() ? json(p.outcome > 0   ? "win"
                                                            : p.outcome < 0 ? "loss"
                                                                            : "tie")
                                                     : json(nullptr)},
                         {"error", p.error.empty() ? json(nullptr) : json(p.error)},
                         {"verdicts", verdicts}});
      }
      groups.push_back({{"candidate", g.candidate_version},
                        {"served", g.served_version},
                        {"wins", g.stats.wins},
                        {"ties", g.stats.ties},
                        {"losses", g.stats.losses},
                        {"errors", g.errors},
                        {"win_rate", g.stats.win_rate()},
                        {"win_rate_95", {low, high}},
                        {"sign_test_p", g.stats.sign_test_p()},
                        {"mean_candidate_chars", g.stats.candidate_chars / n},
                        {"mean_served_chars", g.stats.baseline_chars / n},
                        {"run", i < o.run_ids.size() ? json(o.run_ids[i]) : json(nullptr)},
                        {"pairs", pairs}});
    }
    out.print_json({{"pairwise", groups}});
  } else {
    cli::Table t({"CANDIDATE", "SERVED", "WINS", "TIES", "LOSSES", "ERRORS", "WIN RATE", "95% CI",
                  "SIGN TEST p", "MEAN CHARS", "RUN"});
    for (size_t i = 0; i < o.groups.size(); ++i) {
      const auto& g = o.groups[i];
      auto [low, high] = g.stats.interval();
      auto n = static_cast<double>(std::max<size_t>(1, g.stats.n()));
      t.add(
          {g.candidate_version, g.served_version, std::to_string(g.stats.wins),
           std::to_string(g.stats.ties), std::to_string(g.stats.losses), std::to_string(g.errors),
           fmt::format("{:.3f}", g.stats.win_rate()), fmt::format("{:.3f}-{:.3f}", low, high),
           fmt::format("{:.3g}", g.stats.sign_test_p()),
           fmt::format("{:.0f} vs {:.0f}", g.stats.candidate_chars / n, g.stats.baseline_chars / n),
           i < o.run_ids.size() ? o.run_ids[i] : "-"});
    }
    t.print(out);
  }
  size_t errors = 0;
  for (const auto& g : o.groups) errors += g.errors;
  if (errors)
    throw runtime_error(fmt::format("{} pair(s) could not be judged", errors),
                        "the judge failed or answered without a winner; they count for neither");
  return 0;
}

// `xops eval coverage SUITE`: the share of traffic near a case, per version, and what is not.
int run_coverage(cli::Context& ctx, const app::CoverageRequest& r) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto rep = app::eval_coverage(ctx.workspace(), r, now);
  const auto& st = rep.stats;
  auto clip = [](std::string s) {
    for (auto& c : s)
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (s.size() > 120) {
      size_t cut = 120;
      while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
      s = s.substr(0, cut) + "…";
    }
    return s;
  };
  auto& out = ctx.out();
  if (out.json()) {
    json groups = json::object(), clusters = json::array();
    for (const auto& [g, c] : st.by_group)
      groups[g] = {{"covered", c.first},
                   {"prompts", c.second},
                   {"share", c.second ? double(c.first) / c.second : 0.0}};
    for (const auto& c : st.uncovered) {
      json ex = json::array();
      for (size_t k = 0; k < c.members.size() && k < r.examples; ++k)
        ex.push_back({{"interaction", rep.prompt_ids[c.members[k]]},
                      {"prompt", rep.prompt_texts[c.members[k]]},
                      {"similarity", st.nearest[c.members[k]]}});
      clusters.push_back({{"size", c.members.size()},
                          {"nearest_case", rep.case_texts[c.nearest_case]},
                          {"nearest_case_similarity", c.nearest_case_similarity},
                          {"examples", ex}});
    }
    out.print_json({{"suite", rep.suite},
                    {"embedding", rep.embedding},
                    {"since_ms", rep.since_ms},
                    {"cases", rep.cases},
                    {"logged", rep.logged},
                    {"prompts", st.prompts},
                    {"covered", st.covered},
                    {"share", st.share()},
                    {"threshold", st.threshold},
                    {"threshold_auto", st.threshold_auto},
                    {"by_version", groups},
                    {"uncovered", clusters}});
    return 0;
  }
  out.info(fmt::format(
      "{} of {} logged prompts ({:.1f}%) are within similarity {:.3f} of one of the suite's {} "
      "cases ({}; embedded by {})",
      st.covered, st.prompts, 100 * st.share(), st.threshold, rep.cases,
      st.threshold_auto ? "threshold from the suite's own spread" : "--threshold", rep.embedding));
  if (rep.logged > st.prompts)
    out.info(fmt::format("{} of {} logged prompts sampled", st.prompts, rep.logged));
  cli::Table t({"VERSION", "PROMPTS", "COVERED"});
  for (const auto& [g, c] : st.by_group)
    t.add({g, std::to_string(c.second),
           fmt::format("{} ({:.1f}%)", c.first, c.second ? 100.0 * c.first / c.second : 0.0)});
  t.print(out);
  for (size_t i = 0; i < st.uncovered.size(); ++i) {
    const auto& c = st.uncovered[i];
    out.line(fmt::format("uncovered cluster {}: {} prompt{}, nearest case at {:.3f}: {}", i + 1,
                         c.members.size(), c.members.size() == 1 ? "" : "s",
                         c.nearest_case_similarity, clip(rep.case_texts[c.nearest_case])));
    for (size_t k = 0; k < c.members.size() && k < r.examples; ++k)
      out.line(fmt::format("  - {}", clip(rep.prompt_texts[c.members[k]])));
  }
  return 0;
}

// --from-logs: logged serve traffic (and feedback) to eval cases, as JSON lines.
int run_from_logs(cli::Context& ctx, const EvalFlags& f) {
  if (f.pairwise) return run_live_pairwise(ctx, f);
  if (f.output.size() != 1)
    throw usage_error("--from-logs needs one -o FILE.jsonl",
                      "e.g. xops eval --from-logs --since 7d -o cases.jsonl");
  if (f.min_score && f.max_score) throw usage_error("give --min-score or --max-score, not both");
  auto& ws = ctx.workspace();
  FromLogsOptions o;
  o.since_ms = since_ms(f);
  o.min_score = f.min_score;
  o.max_score = f.max_score;
  auto where = tracking_location(ws);
  if (!db::Database::is_postgres_url(where.url) && !std::filesystem::exists(where.url))
    throw precondition_error("no interactions logged in this project yet",
                             "xops serve MODEL here logs them");
  if (f.novel) {  // the interactions farthest from the suite's cases
    if (f.suite.empty() && f.config.empty())
      throw usage_error("--novel compares the logs with a suite",
                        "xops eval SUITE --from-logs --novel N -o new.jsonl");
    app::CoverageRequest cr;
    cr.suite = !f.suite.empty() ? f.suite : f.config;
    cr.embedding = f.embedding;
    cr.since = f.since;
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    for (const auto& p : app::novel_interactions(ws, cr, f.novel, now)) {
      o.ids.push_back(p.interaction);
      o.nearest_similarity[p.interaction] = p.similarity;
    }
  }
  auto db = db::Database::open_url(where.url);
  auto cases = cases_from_logs(db, o);
  std::string text;
  for (const auto& c : cases) text += c + "\n";
  atomic_write_file(f.output[0], text);
  if (ctx.out().json())
    ctx.out().print_json({{"cases", cases.size()}, {"output", f.output[0]}});
  else
    ctx.out().info(fmt::format("wrote {} case{} to {}", cases.size(), cases.size() == 1 ? "" : "s",
                               f.output[0]));
  return 0;
}

EvalRequest eval_request(cli::Context& ctx, EvalFlags& f) {
  EvalRequest req;
  if (!f.suite.empty() && !f.config.empty() && f.suite != f.config)
    throw usage_error("give the suite once: as an argument or with -c");
  std::string suite_file = !f.suite.empty() ? f.suite : f.config;
  if (suite_file.empty()) {  // promptfoo's default file names
    for (const char* name : {"promptfooconfig.yaml", "promptfooconfig.yml"})
      if (std::filesystem::is_regular_file(name)) suite_file = name;
    if (suite_file.empty())
      throw usage_error("no suite given and no promptfooconfig.yaml here",
                        "xops eval SUITE.yaml (or -c SUITE.yaml)");
  }
  f.suite = suite_file;
  req.suite = suite_file;
  for (const auto& kv : f.vars) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw usage_error(fmt::format("--var {}: expected KEY=VALUE", kv),
                        "e.g. --var language=French");
    req.vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  req.models = f.models;
  req.prompt = f.prompt;
  req.judge = f.judge;
  req.baseline = f.baseline;
  req.fail_on_regression = f.fail_on_regression;
  req.embedding = f.embedding;
  req.default_judge = ctx.settings().get("eval.judge").value;
  req.default_embedding = ctx.settings().get("eval.embedding").value;
  req.opts = f.opts;
  req.opts.use_cache = !f.no_cache;
  req.opts.key_hosts = key_hosts_with_env(f.opts.key_hosts);
  req.track = !f.no_track;
  req.jsonl = f.jsonl, req.junit = f.junit, req.html = f.html;
  req.outputs = f.output;
  req.filter_pattern = f.filter_pattern;
  req.filter_failing = f.filter_failing;
  req.filter_first_n = f.filter_first_n;
  return req;
}

std::string case_name(const CaseResult& c) {
  return c.test_description.empty() ? fmt::format("test {}", c.index + 1) : c.test_description;
}

// The first failures, then a line per provider and the totals.
void render_summary(cli::Output& out, const EvalOutcome& o, const std::vector<CaseResult>& shown,
                    int repeat) {
  const auto& sum = o.summary;
  if (!shown.empty()) {
    cli::Table t({"RESULT", "TEST", "PROVIDER", "OUTPUT", "REASON"});
    for (const auto& c : shown) {
      std::string why = c.error;
      for (const auto& [a, r] : c.asserts)
        if (!r.pass && why.empty()) why = a.type + ": " + r.reason;
      auto text = c.output.substr(0, 40);
      for (auto& ch : text)
        if (ch == '\n') ch = ' ';
      t.add({c.error.empty() ? "FAIL" : "ERROR", case_name(c), c.provider_label, text,
             why.substr(0, 100)},
            {cli::Style::Red});
    }
    t.print(out);
    if (sum.failed + sum.errors > shown.size())
      out.info(fmt::format("... and {} more (see --jsonl/--html)",
                           sum.failed + sum.errors - shown.size()));
    out.line("");
  }
  cli::Table t({"PROVIDER", "CASES", "PASSED", "FAILED", "ERRORS", "PASS RATE", "MEAN LATENCY"});
  for (const auto& p : sum.providers)
    t.add({p.label, std::to_string(p.cases), std::to_string(p.passed), std::to_string(p.failed),
           std::to_string(p.errors),
           fmt::format("{:.1f}%", p.cases ? 100.0 * p.passed / p.cases : 0.0),
           fmt::format("{:.0f} ms", p.cases ? p.latency_ms_total / p.cases : 0.0)});
  t.print(out);
  for (const auto& [k, v] : sum.metrics)
    out.info(fmt::format("metric {}: mean {:.3f}", k, v.second ? v.first / v.second : 0));
  for (const auto& d : sum.against_baseline) {
    out.info(fmt::format("{} against {}: {} cases compared, {} regression(s), {} fix(es)",
                         d.provider, d.baseline, d.compared, d.regressions.size(), d.fixes.size()));
    size_t shown = 0;
    for (const auto& [what, list] :
         {std::pair{"regressed", &d.regressions}, std::pair{"fixed", &d.fixes}})
      for (const auto& c : *list)
        if (shown++ < 20)
          out.line(fmt::format(
              "  {} {} [{}]{}", what,
              c.description.empty() ? fmt::format("test {}", c.test + 1) : c.description, c.prompt,
              c.repeat ? fmt::format(" #{}", c.repeat + 1) : ""));
  }
  if (!sum.pairwise.empty()) {
    cli::Table pt({"PROVIDER", "BASELINE", "WINS", "TIES", "LOSSES", "WIN RATE", "95% CI",
                   "SIGN TEST p", "MEAN CHARS"});
    for (const auto& p : sum.pairwise) {
      auto [low, high] = p.stats.interval();
      auto n = static_cast<double>(std::max<size_t>(1, p.stats.n()));
      pt.add({p.provider, p.baseline, std::to_string(p.stats.wins), std::to_string(p.stats.ties),
              std::to_string(p.stats.losses), fmt::format("{:.3f}", p.stats.win_rate()),
              fmt::format("{:.3f}-{:.3f}", low, high), fmt::format("{:.3g}", p.stats.sign_test_p()),
              fmt::format("{:.0f} vs {:.0f}", p.stats.candidate_chars / n,
                          p.stats.baseline_chars / n)});
      for (const auto& [name, st] : p.by_group) {  // where it wins and where it loses
        auto [gl, gh] = st.interval();
        auto gn = static_cast<double>(std::max<size_t>(1, st.n()));
        pt.add({"  " + name, "", std::to_string(st.wins), std::to_string(st.ties),
                std::to_string(st.losses), fmt::format("{:.3f}", st.win_rate()),
                fmt::format("{:.3f}-{:.3f}", gl, gh), fmt::format("{:.3g}", st.sign_test_p()),
                fmt::format("{:.0f} vs {:.0f}", st.candidate_chars / gn, st.baseline_chars / gn)});
      }
    }
    pt.print(out);
  }
  if (!sum.flaky.empty())
    out.warn(fmt::format("{} flaky test(s) across {} repeats", sum.flaky.size(), repeat));
  out.info(fmt::format(
      "{} cases in {:.2f}s: {} passed, {} failed, {} errors, {} cached; pass rate {:.1f}%{}{}",
      sum.cases, sum.seconds, sum.passed, sum.failed, sum.errors, sum.cached, 100 * sum.pass_rate(),
      sum.baseline.empty() ? "" : " (the baseline's cases aside)",
      o.run_id.empty() ? "" : "; run " + o.run_id));
}

// Provider errors exit 1, missed thresholds 4 (after the report is out).
void raise_verdict(const EvalSummary& sum) {
  if (sum.errors)
    throw runtime_error(
        fmt::format("{} case(s) could not be evaluated (provider errors)", sum.errors),
        "a provider that is down is an error, not a failed test; see the ERROR rows");
  if (!sum.thresholds_met)
    throw Error(
        ErrorKind::CheckFailed,
        "thresholds not met: " + fmt::format("{}", fmt::join(sum.threshold_failures, "; ")));
}

int run_eval(cli::Context& ctx, EvalFlags& f) {
  if (f.from_logs) return run_from_logs(ctx, f);
  if (!f.env_file.empty()) load_env_file(f.env_file);
  auto& out = ctx.out();
  auto req = eval_request(ctx, f);
  const Workspace* ws =
      Workspace::find_root(std::filesystem::current_path()) ? &ctx.workspace() : nullptr;
  std::optional<cli::ProgressBar> bar;
  std::vector<CaseResult> shown;  // the first failures, for the terminal
  nlohmann::json results = nlohmann::json::array();
  const size_t kMaxJsonResults = 10000;
  EvalObserver obs;
  obs.on_warning = [&](const std::string& w) { out.warn(w); };
  obs.on_start = [&](size_t total) { bar.emplace(out, "eval", total, false); };
  obs.on_case = [&](const CaseResult& c) {
    bar->advance(1);
    if (out.json() && results.size() < kMaxJsonResults) results.push_back(case_json(c));
    if ((!c.pass || !c.error.empty()) && shown.size() < 25) shown.push_back(c);
    if (out.options().verbosity > 0 && !out.json())
      out.verbose(1, fmt::format("{} {} [{}] {}",
                                 c.pass            ? "PASS"
                                 : c.error.empty() ? "FAIL"
                                                   : "ERROR",
                                 case_name(c), c.provider_label,
                                 nlohmann::json(c.output.substr(0, 80)).dump()));
  };
  auto o = evaluate(req, ws, obs);
  if (bar) bar->finish();
  if (out.json()) {
    auto j = summary_json(o.summary, o.suite);
    j["run"] = o.run_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.run_id);
    j["results"] = results;
    j["results_truncated"] = o.summary.cases > results.size();
    out.print_json(j);
  } else {
    render_summary(out, o, shown, f.opts.repeat);
  }
  raise_verdict(o.summary);
  return 0;
}

}  // namespace

void register_eval(CLI::App& app, cli::Context& ctx) {
  auto f = std::make_shared<EvalFlags>();
  auto* sub =
      app.add_subcommand("eval", "Run an evaluation suite (exit 4 when its thresholds are missed)");
  sub->add_option("suite", f->suite,
                  "Suite YAML (promptfoo's shape); default promptfooconfig.yaml here")
      ->check(CLI::ExistingFile);
  sub->add_option("-c,--config", f->config, "The suite, as promptfoo's -c names it")
      ->check(CLI::ExistingFile);
  sub->add_option("--var", f->vars,
                  "Set a var in every test (k=v, repeatable), as promptfoo's --var")
      ->allow_extra_args(false);
  sub->add_option("--model", f->models,
                  "Evaluate this model (path, artifact or registry ref) instead of the suite's "
                  "providers; repeatable: every model on every case, under the same config")
      ->allow_extra_args(false);
  sub->add_option("--baseline", f->baseline,
                  "Also run every case on this version (a model ref or provider) and list the "
                  "regressions and fixes; with a judge, judge each pair in both orders");
  sub->add_flag("--fail-on-regression", f->fail_on_regression,
                "Exit 4 when a case that passed on the baseline fails");
  sub->add_option("--prompt", f->prompt,
                  "Send this prompt (a file, or a prompt artifact's version: NAME@vX.Y.Z, "
                  "NAME#STAGE) instead of the suite's");
  sub->add_option("-j,--jobs", f->opts.jobs, "Cases evaluated at once")->capture_default_str();
  sub->add_option("--repeat", f->opts.repeat, "Run every case N times and report flaky tests")
      ->capture_default_str();
  sub->add_flag("--no-cache", f->no_cache, "Ignore cached provider answers");
  sub->add_option("--jsonl", f->jsonl, "Write one JSON line per case");
  sub->add_option("--junit", f->junit, "Write JUnit XML (for CI systems)");
  sub->add_option("--html", f->html, "Write an HTML report (failures first)");
  sub->add_option("--judge", f->judge,
                  "Judge provider for llm-rubric / pairwise (overrides the suite's; default: the "
                  "eval.judge setting)");
  sub->add_option("--embedding", f->embedding,
                  "Embedding provider for `similar` (overrides the suite's; default: the "
                  "eval.embedding setting, else the judge)");
  sub->add_option(
         "--key-host", f->opts.key_hosts,
         "Host (host, host:port or URL) that may receive OPENAI_API_KEY from the environment; "
         "repeatable (also XOPS_KEY_HOSTS=a,b). Only https://api.openai.com and $OPENAI_BASE_URL "
         "get it otherwise")
      ->allow_extra_args(false);
  sub->add_flag("--no-track", f->no_track, "Do not record a tracking run");
  sub->add_flag("--from-logs", f->from_logs,
                "Write eval cases from `xops serve`'s logged traffic (-o FILE.jsonl) instead of "
                "running a suite");
  sub->add_flag("--pairwise", f->pairwise,
                "With --from-logs: judge the logged `serve --shadow` pairs (served answer vs the "
                "candidate's) in both orders into a win-rate table, recorded as a run that an "
                "online_pairwise gate reads");
  sub->add_option("--max-pairs", f->max_pairs,
                  "With --from-logs --pairwise: judge the newest N pairs per candidate");
  sub->add_option("--since", f->since,
                  "With --from-logs: interactions since a date (2026-12-01) or an age (24h, 7d)");
  sub->add_option("--min-score", f->min_score,
                  "With --from-logs: only responses whose mean feedback score is >= S; each case "
                  "asserts the answer again");
  sub->add_option("--max-score", f->max_score,
                  "With --from-logs: only responses scored <= S; each case asserts the answer does "
                  "not come back");
  sub->add_option("-o,--output", f->output,
                  "Write results, the type by extension: .json (summary and every case), .jsonl, "
                  ".xml (JUnit), .html, .csv; repeatable. With --from-logs: the cases file (JSON "
                  "lines, promptfoo's test shape)")
      ->allow_extra_args(false);
  sub->add_option("--filter-pattern", f->filter_pattern,
                  "Only tests whose description matches this regular expression");
  sub->add_option("--filter-first-n", f->filter_first_n, "Only the first N tests");
  sub->add_option("--filter-failing", f->filter_failing,
                  "Only tests that failed in this earlier results file (xops's or promptfoo's -o "
                  "results.json)")
      ->check(CLI::ExistingFile);
  sub->add_option("--env-file", f->env_file,
                  "Load environment variables (API keys) from this dotenv file; the shell's own "
                  "values win")
      ->check(CLI::ExistingFile);
  sub->add_option(
      "--novel", f->novel,
      "With --from-logs and a SUITE: the N logged interactions farthest from every case "
      "(embedded by --embedding), badly scored ones first among near-equals");
  sub->callback([&ctx, f, sub] {
    if (sub->get_subcommands().empty()) ctx.action = [&ctx, f] { return run_eval(ctx, *f); };
  });

  auto cr = std::make_shared<app::CoverageRequest>();
  auto* cov =
      sub->add_subcommand("coverage", "How much of the logged traffic the suite's cases cover");
  cov->add_option("suite", cr->suite, "The suite")->required()->check(CLI::ExistingFile);
  cov->add_option(
      "--embedding", cr->embedding,
      "The embedding model: a sentence encoder or model ref, or openai:embedding:MODEL (default "
      "the suite's, then monitor.embedding)");
  cov->add_option("--since", cr->since,
                  "Interactions since a date or an age (24h, 7d); default all");
  cov->add_option("--model", cr->only, "Only traffic of this served model or version");
  cov->add_option(
      "--threshold", cr->threshold,
      "Covered at this cosine similarity to some case; default: how near the suite's cases are "
      "to each other");
  cov->add_option("--max-prompts", cr->max_prompts, "Logged prompts embedded (evenly spaced)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  cov->add_option("--clusters", cr->clusters, "Uncovered clusters shown")->capture_default_str();
  cov->add_option("--examples", cr->examples, "Example prompts per cluster")->capture_default_str();
  cov->callback([&ctx, cr] { ctx.action = [&ctx, cr] { return run_coverage(ctx, *cr); }; });
}

}  // namespace xops::commands
