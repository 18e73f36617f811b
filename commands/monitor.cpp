// `xops monitor`: what `xops serve` logged, per version (or adapter, route, arm, day, hour):
// requests, errors, latency and TTFT percentiles, tokens, feedback, each beside the group
// before it; `--check` holds it to xops.yaml's `monitor:` thresholds (exit 4).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "commands/commands.hpp"
#include "core/app/monitor.hpp"
#include "core/error.hpp"
#include "core/monitor/traffic_json.hpp"
#include "core/util/json_error.hpp"
#include "term/context.hpp"
#include "term/table.hpp"

namespace xops::commands {

namespace {

using nlohmann::json;

struct MonitorFlags {
  app::MonitorRequest req;
};

// The change from the group before: p95 latency in %, error rate and feedback mean in points.
std::string change(const TrafficGroup& g, const TrafficGroup* prev) {
  if (!prev) return "-";
  std::vector<std::string> parts;
  if (g.latency_ms.n && prev->latency_ms.n && prev->latency_ms.p95 > 0)
    parts.push_back(
        fmt::format("p95 {:+.0f}%", 100 * (g.latency_ms.p95 / prev->latency_ms.p95 - 1)));
  parts.push_back(fmt::format("err {:+.1f}pt", 100 * (g.error_rate() - prev->error_rate())));
  if (g.feedback_mean && prev->feedback_mean)
    parts.push_back(fmt::format("fb {:+.2f}", *g.feedback_mean - *prev->feedback_mean));
  return fmt::format("{}", fmt::join(parts, ", "));
}

// "score 12/0.83, helpful 4/4.25" (n/mean per name).
std::string scores_text(const TrafficGroup& g) {
  if (g.scores.empty()) return "0/-";
  std::vector<std::string> parts;
  for (const auto& [name, s] : g.scores)
    parts.push_back(g.scores.size() == 1 && name == "score"
                        ? fmt::format("{}/{:.2f}", s.n, s.mean)
                        : fmt::format("{} {}/{:.2f}", name, s.n, s.mean));
  return fmt::format("{}", fmt::join(parts, ", "));
}

std::string ms3(const Percentiles& p) {
  return p.n ? fmt::format("{:.0f}/{:.0f}/{:.0f}", p.p50, p.p95, p.p99) : "-";
}

json drift_json(const DriftReport& d) {
  json figures = json::array();
  for (const auto& f : d.figures)
    figures.push_back({{"name", f.name},
                       {"n_reference", f.n_reference},
                       {"n_current", f.n_current},
                       {"mean_reference", f.mean_reference},
                       {"mean_current", f.mean_current},
                       {"psi", f.psi},
                       {"ks", f.ks},
                       {"ks_critical", f.ks_critical},
                       {"drifted", f.drifted}});
  return {
      {"reference", {{"from_ms", d.reference.from_ms}, {"to_ms", d.reference.to_ms}}},
      {"current", {{"from_ms", d.current.from_ms}, {"to_ms", d.current.to_ms}}},
      {"figures", figures},
      {"truncated_share", {{"reference", d.truncated_reference}, {"current", d.truncated_current}}},
      {"empty_share", {{"reference", d.empty_reference}, {"current", d.empty_current}}},
      {"refused_share", {{"reference", d.refused_reference}, {"current", d.refused_current}}}};
}

void render_drift(cli::Output& out, const DriftReport& d) {
  if (out.json()) return;
  if (d.figures.empty() || !d.figures[0].n_reference || !d.figures[0].n_current) {
    out.info(
        "length drift: no traffic in the reference window or in the current one "
        "(--reference sets where the reference starts)");
    return;
  }
  cli::Table t(
      {"DRIFT", "REFERENCE n/mean", "CURRENT n/mean", "PSI", "KS (5% critical)", "DRIFTED"});
  for (const auto& f : d.figures)
    t.add({f.name, fmt::format("{}/{:.1f}", f.n_reference, f.mean_reference),
           fmt::format("{}/{:.1f}", f.n_current, f.mean_current), fmt::format("{:.3f}", f.psi),
           fmt::format("{:.3f} ({:.3f})", f.ks, f.ks_critical), f.drifted ? "yes" : "no"},
          {cli::Style::None, cli::Style::None, cli::Style::None, cli::Style::None, cli::Style::None,
           f.drifted ? cli::Style::Red : cli::Style::Green});
  t.print(out);
  out.info(
      fmt::format("truncated answers {:.1f}% -> {:.1f}%; empty {:.1f}% -> {:.1f}%; "
                  "refused (\"I can't\", \"I'm sorry\", ...) {:.1f}% -> {:.1f}%",
                  100 * d.truncated_reference, 100 * d.truncated_current, 100 * d.empty_reference,
                  100 * d.empty_current, 100 * d.refused_reference, 100 * d.refused_current));
}

json prompt_drift_json(const app::PromptDrift& d) {
  json examples = json::array();
  for (const auto& e : d.examples)
    examples.push_back(
        {{"prompt", e.prompt}, {"nearest_case", e.nearest_case}, {"similarity", e.similarity}});
  const auto& s = d.stats;
  return {{"suite", d.suite},
          {"embedding", d.embedding},
          {"n_reference", s.n_reference},
          {"n_current", s.n_current},
          {"centroid_distance", s.centroid_distance},
          {"threshold", s.threshold},
          {"quantile", s.quantile},
          {"share_beyond", s.share_beyond},
          {"p_value", s.p_value},
          {"drifted", s.drifted},
          {"examples", examples},
          {"length",
           {{"name", d.length.name},
            {"n_reference", d.length.n_reference},
            {"n_current", d.length.n_current},
            {"mean_reference", d.length.mean_reference},
            {"mean_current", d.length.mean_current},
            {"psi", d.length.psi},
            {"ks", d.length.ks},
            {"ks_critical", d.length.ks_critical},
            {"drifted", d.length.drifted}}}};
}

void render_prompt_drift(cli::Output& out, const app::PromptDrift& d) {
  if (out.json()) return;
  const auto& s = d.stats;
  out.info(fmt::format(
      "prompts vs {} ({} cases, {} served, embedded by {}): {:.1f}% of served prompts are "
      "farther from every case than the suite's {:g}th-percentile case is from its nearest "
      "(similarity {:.3f}); expected {:g}%, binomial p {:.2g}; centroid distance {:.4f} -> {}",
      d.suite, s.n_reference, s.n_current, d.embedding, 100 * s.share_beyond, 100 * s.quantile,
      s.threshold, 100 * s.quantile, s.p_value, s.centroid_distance,
      s.drifted ? "DRIFTED" : "no drift"));
  const auto& l = d.length;
  out.info(
      fmt::format("prompt length vs the suite's cases: {:.0f} -> {:.0f} characters on "
                  "average, PSI {:.3f}, KS {:.3f} (5% critical {:.3f}) -> {}",
                  l.mean_reference, l.mean_current, l.psi, l.ks, l.ks_critical,
                  l.drifted ? "DRIFTED" : "no drift"));
  if (!s.drifted) return;
  cli::Table t({"SIMILARITY", "SERVED PROMPT", "NEAREST CASE"});
  auto one_line = [](std::string v) {
    for (auto& c : v)
      if (c == '\n' || c == '\t') c = ' ';
    return escape_control(v.size() > 70 ? v.substr(0, 67) + "..." : v);
  };
  for (const auto& e : d.examples)
    t.add({fmt::format("{:.3f}", e.similarity), one_line(e.prompt), one_line(e.nearest_case)});
  t.print(out);
}

int run_monitor(cli::Context& ctx, const MonitorFlags& f) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto o = app::monitor_traffic(ctx.workspace(), f.req, now);
  auto& out = ctx.out();
  if (out.json()) {
    json groups = json::array(), alerts = json::array();
    for (size_t i = 0; i < o.groups.size(); ++i) {
      auto g = traffic_group_json(o.groups[i], i ? &o.groups[i - 1] : nullptr);
      if (!f.req.per.empty()) {  // each window beside the one before it, within the group
        json series = json::array();
        const auto& ss = o.groups[i].series;
        for (size_t k = 0; k < ss.size(); ++k)
          series.push_back(traffic_group_json(ss[k], k ? &ss[k - 1] : nullptr));
        g["series"] = series;
      }
      groups.push_back(g);
    }
    for (const auto& a : o.alerts)
      alerts.push_back({{"group", a.group},
                        {"figure", a.figure},
                        {"value", a.value},
                        {"threshold", a.threshold},
                        {"message", a.message}});
    out.print_json(
        {{"since_ms", o.since_ms},
         {"by", f.req.by},
         {"groups", groups},
         {"drift", o.drift ? drift_json(*o.drift) : json(nullptr)},
         {"prompt_drift", o.prompt_drift ? prompt_drift_json(*o.prompt_drift) : json(nullptr)},
         {"alerts", f.req.check ? alerts : json(nullptr)}});
  } else if (o.groups.empty()) {
    out.info("no interactions in that window");
  } else {
    cli::Table t({f.req.by == "version" ? "VERSION" : "GROUP", "REQUESTS", "ERRORS",
                  "REFUSED/CANCELLED", "LATENCY ms p50/95/99", "TTFT ms p50/95/99", "TOKENS IN/OUT",
                  "TOK/S", "FEEDBACK n/mean", "CHANGE"});
    for (size_t i = 0; i < o.groups.size(); ++i) {
      const auto& g = o.groups[i];
      t.add({g.key, std::to_string(g.requests),
             fmt::format("{} ({:.1f}%)", g.errors, 100 * g.error_rate()),
             fmt::format("{}/{}", g.refused, g.cancelled), ms3(g.latency_ms), ms3(g.ttft_ms),
             fmt::format("{}/{}", g.prompt_tokens, g.completion_tokens),
             fmt::format("{:.1f}", g.tokens_per_s), scores_text(g),
             change(g, i ? &o.groups[i - 1] : nullptr)});
      for (size_t k = 0; k < g.series.size(); ++k) {  // --per: the group over time
        const auto& w = g.series[k];
        t.add({"  " + w.key, std::to_string(w.requests),
               fmt::format("{} ({:.1f}%)", w.errors, 100 * w.error_rate()),
               fmt::format("{}/{}", w.refused, w.cancelled), ms3(w.latency_ms), ms3(w.ttft_ms),
               fmt::format("{}/{}", w.prompt_tokens, w.completion_tokens),
               fmt::format("{:.1f}", w.tokens_per_s), scores_text(w),
               change(w, k ? &g.series[k - 1] : nullptr)});
      }
      if (g.ttft_invalid)
        out.warn(
            fmt::format("{}: {} logged time(s) to first token were negative or above the "
                        "request's latency; left out",
                        g.key, g.ttft_invalid));
    }
    t.print(out);
    for (const auto& g : o.groups)
      if (!g.error_codes.empty()) {
        std::vector<std::string> codes;
        for (const auto& [code, n] : g.error_codes) codes.push_back(fmt::format("{} {}", code, n));
        out.info(fmt::format("{}: errors by code: {}", g.key, fmt::join(codes, ", ")));
      }
  }
  if (o.drift) render_drift(out, *o.drift);
  if (o.prompt_drift) render_prompt_drift(out, *o.prompt_drift);
  if (!f.req.check) return 0;
  for (const auto& a : o.alerts) out.warn(a.message);
  if (!o.alerts.empty())
    throw Error(ErrorKind::CheckFailed,
                fmt::format("{} threshold(s) crossed: {}", o.alerts.size(), o.alerts[0].message),
                "the monitor: section of xops.yaml sets them");
  out.info(fmt::format("monitor: {} version(s) within every threshold", o.groups.size()));
  return 0;
}

int run_feedback(cli::Context& ctx, const app::FeedbackListRequest& r) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto l = app::monitor_feedback(ctx.workspace(), r, now);
  auto& out = ctx.out();
  if (out.json()) {
    json rows = json::array(), versions = json::array(), schema = json::object();
    for (const auto& row : l.rows) {
      const auto& f = row.feedback;
      rows.push_back({{"interaction", f.interaction},
                      {"created_ms", f.created_ms},
                      {"name", f.name},
                      {"score", f.score ? json(*f.score) : json(nullptr)},
                      {"comment", f.comment},
                      {"user", f.user},
                      {"session", f.session},
                      {"version", row.version},
                      {"adapter", row.adapter},
                      {"model", row.model},
                      {"prompt", row.prompt.substr(0, 200)}});
    }
    for (const auto& g : l.versions)
      versions.push_back({{"version", g.key},
                          {"requests", g.requests},
                          {"scores", traffic_group_json(g)["scores"]}});
    for (const auto& [name, s] : l.schema)
      schema[name] = {{"min", s.min}, {"max", s.max}, {"integer", s.integer}};
    out.print_json(
        {{"since_ms", l.since_ms}, {"schema", schema}, {"versions", versions}, {"feedback", rows}});
    return 0;
  }
  if (l.rows.empty()) {
    out.info("no feedback in that window");
    return 0;
  }
  cli::Table s({"VERSION", "REQUESTS", "SCORES n/mean"});
  for (const auto& g : l.versions)
    if (!g.scores.empty()) s.add({g.key, std::to_string(g.requests), scores_text(g)});
  s.print(out);
  cli::Table t({"WHEN (UTC)", "VERSION", "NAME", "SCORE", "USER", "SESSION", "COMMENT", "ID"});
  for (const auto& row : l.rows) {
    const auto& f = row.feedback;
    auto when = std::time_t(f.created_ms / 1000);
    std::tm tm{};
    gmtime_r(&when, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    auto comment = f.comment.size() > 60 ? f.comment.substr(0, 57) + "..." : f.comment;
    t.add({buf, row.version.empty() ? "-" : row.version, f.name.empty() ? "-" : f.name,
           f.score ? fmt::format("{:g}", *f.score) : "-", f.user.empty() ? "-" : f.user,
           f.session.empty() ? "-" : f.session, escape_control(comment), f.interaction});
  }
  t.print(out);
  if (l.rows.size() == r.limit)
    out.info(fmt::format("the newest {} shown (--limit N shows more)", r.limit));
  return 0;
}

}  // namespace

void register_monitor(CLI::App& app, cli::Context& ctx) {
  auto f = std::make_shared<MonitorFlags>();
  auto* sub = app.add_subcommand(
      "monitor", "What `xops serve` logged, per version: traffic, errors, latency, feedback");
  sub->add_option("ref", f->req.only, "Only this served model id or version (NAME, NAME@vX.Y.Z)");
  sub->add_option("--since", f->req.since,
                  "Interactions since a date (2026-12-01) or an age (24h, 7d); default all "
                  "(with --check: monitor.since)");
  sub->add_option("--by", f->req.by, "Group by version, adapter, route, arm, day or hour")
      ->capture_default_str()
      ->check(CLI::IsMember({"version", "adapter", "route", "arm", "day", "hour"}));
  sub->add_option("--per", f->req.per,
                  "Each group over time too: per day or hour, each window beside the one before")
      ->check(CLI::IsMember({"day", "hour"}));
  sub->add_flag("--drift", f->req.drift,
                "Prompt and answer lengths of the window against a reference window (PSI, KS)");
  sub->add_option("--reference", f->req.reference,
                  "With --drift: the reference starts here (a date or an age); default the "
                  "same length just before the window");
  sub->add_option("--suite", f->req.suite,
                  "With --drift: served prompts against this eval suite's cases, in an embedding "
                  "space (default monitor.drift_suite)");
  sub->add_option("--embedding", f->req.embedding,
                  "The embedding provider for --suite: a local model or ref, or "
                  "openai:embedding:MODEL (default monitor.embedding)");
  sub->add_option("--max-prompts", f->req.max_prompts,
                  "Served prompts embedded for --suite (evenly spaced over the window)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  sub->add_flag("--check", f->req.check,
                "Hold each version to xops.yaml's monitor: thresholds; exit 4 naming what crossed");
  sub->callback([&ctx, f, sub] {
    if (sub->get_subcommands().empty()) ctx.action = [&ctx, f] { return run_monitor(ctx, *f); };
  });
  auto fr = std::make_shared<app::FeedbackListRequest>();
  auto* fb = sub->add_subcommand("feedback", "The feedback clients gave, newest first");
  fb->add_option("ref", fr->only, "Only this served model id or version");
  fb->add_option("--since", fr->since, "Feedback since a date or an age (24h, 7d)");
  fb->add_option("--name", fr->name, "Only this score name (xops.yaml's feedback: scores)");
  fb->add_option("--user", fr->user, "Only feedback from this user");
  fb->add_option("--session", fr->session, "Only feedback in this session");
  fb->add_option("--limit", fr->limit, "At most this many rows")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  fb->callback([&ctx, fr] { ctx.action = [&ctx, fr] { return run_feedback(ctx, *fr); }; });
}

}  // namespace xops::commands
