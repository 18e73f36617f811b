// `xops track run|log|runs|show|diff|report`: experiment tracking.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "commands/commands.hpp"
#include "core/app/tracked_command.hpp"
#include "core/error.hpp"
#include "core/store/object_store.hpp"
#include "core/tracking/report_html.hpp"
#include "core/tracking/run_session.hpp"
#include "core/tracking/tracker.hpp"
#include "core/tracking/ulid.hpp"
#include "core/util/fs.hpp"
#include "term/context.hpp"
#include "term/table.hpp"

namespace xops::commands {

namespace {

using nlohmann::json;

// The database: $XOPS_DB inside a run (no workspace discovery needed), else the workspace's.
Tracker open_tracker(cli::Context& ctx) {
  if (const char* db = std::getenv("XOPS_DB"); db && *db)
    return Tracker(db::Database::open_url(db));
  return Tracker::for_workspace(ctx.workspace());
}

std::string run_id_of(Tracker& t, const std::string& flag) {
  if (!flag.empty()) return t.resolve(flag);
  if (const char* env = std::getenv("XOPS_RUN_ID"); env && *env) return t.resolve(env);
  throw usage_error("no run to log into", "run inside `xops track run -- CMD` (XOPS_RUN_ID) or pass --run ID");
}

std::map<std::string, std::string> parse_kvs(const std::vector<std::string>& args) {
  std::map<std::string, std::string> out;
  for (const auto& a : args) out.insert(split_kv(a));
  return out;
}

double parse_number(const std::string& key, const std::string& v) {
  try {
    size_t used = 0;
    double d = std::stod(v, &used);
    if (used == v.size()) return d;
  } catch (const std::exception&) {
  }
  throw usage_error(fmt::format("metric {}={} is not a number", key, v));
}

std::string time_text(int64_t ms) {
  std::time_t t = ms / 1000;
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string duration_text(const RunRecord& r) {
  double s = ((r.end_ms ? *r.end_ms : now_ms()) - r.start_ms) / 1000.0;
  if (s < 60) return fmt::format("{:.1f}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", int(s) / 60, int(s) % 60);
  return fmt::format("{}h{:02}m", int(s) / 3600, (int(s) % 3600) / 60);
}

json run_json(const RunRecord& r) {
  json metrics = json::object();
  for (const auto& m : r.metrics)
    metrics[m.key] = {{"last", m.last}, {"min", m.min}, {"max", m.max}, {"step", m.last_step}, {"count", m.count}};
  json arts = json::array();
  for (const auto& a : r.artifacts) arts.push_back({{"name", a.name}, {"sha256", a.sha256}, {"size", a.size}, {"path", a.path}});
  return {{"id", r.id}, {"name", r.name}, {"kind", r.kind}, {"status", r.status},
          {"start_ms", r.start_ms}, {"end_ms", r.end_ms ? json(*r.end_ms) : json(nullptr)},
          {"exit_code", r.exit_code ? json(*r.exit_code) : json(nullptr)}, {"command", r.command},
          {"git", {{"commit", r.git_commit}, {"dirty", r.git_dirty}, {"diff_sha256", r.diff_sha256}}},
          {"user", r.user}, {"host", r.host}, {"parent", r.parent.empty() ? json(nullptr) : json(r.parent)},
          {"params", r.params}, {"tags", r.tags}, {"metrics", metrics}, {"artifacts", arts}, {"inputs", r.inputs}};
}

std::string column_value(const RunRecord& r, const std::string& col) {
  if (col.rfind("metrics.", 0) == 0) {
    for (const auto& m : r.metrics)
      if (m.key == col.substr(8)) return fmt::format("{:.6g}", m.last);
    return "";
  }
  auto lookup = [](const std::map<std::string, std::string>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? std::string() : it->second;
  };
  if (col.rfind("params.", 0) == 0) return lookup(r.params, col.substr(7));
  if (col.rfind("tags.", 0) == 0) return lookup(r.tags, col.substr(5));
  if (col == "id") return r.id;
  if (col == "name") return r.name;
  if (col == "kind") return r.kind;
  if (col == "status") return r.status;
  if (col == "start_time" || col == "started") return time_text(r.start_ms);
  if (col == "duration") return duration_text(r);
  if (col == "exit_code") return r.exit_code ? std::to_string(*r.exit_code) : "";
  if (col == "git_commit") return r.git_commit.substr(0, 12) + (r.git_dirty ? "+" : "");
  if (col == "command") return r.command;
  if (col == "user") return r.user;
  throw usage_error(fmt::format("unknown column '{}'", col),
                    "columns: id, name, kind, status, started, duration, exit_code, git_commit, command, user, "
                    "metrics.KEY, params.KEY, tags.KEY");
}

cli::Style status_style(const std::string& s) {
  return s == "finished" ? cli::Style::Green : s == "running" ? cli::Style::Cyan : s == "crashed" ? cli::Style::Yellow
                                                                                                 : cli::Style::Red;
}

std::string sparkline(const std::vector<std::pair<int64_t, double>>& pts, size_t width = 24) {
  if (pts.empty()) return "";
  static const char* bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  double lo = pts[0].second, hi = lo;
  for (auto& p : pts) lo = std::min(lo, p.second), hi = std::max(hi, p.second);
  std::string s;
  size_t n = std::min(width, pts.size());
  for (size_t i = 0; i < n; ++i) {
    double v = pts[i * pts.size() / n].second;
    int b = hi > lo ? static_cast<int>((v - lo) / (hi - lo) * 7.999) : 3;
    s += bars[std::clamp(b, 0, 7)];
  }
  return s;
}

// ---- track run
struct RunFlags {
  std::string name;
  std::vector<std::string> params, tags, command;
  double sample_seconds = 5;
};

int run_run(cli::Context& ctx, const RunFlags& f) {
  auto& out = ctx.out();
  app::TrackedCommand req;
  req.argv = f.command;
  req.name = f.name;
  req.params = parse_kvs(f.params);
  req.tags = parse_kvs(f.tags);
  req.sample_seconds = f.sample_seconds;
  app::TrackedCommandObserver obs;
  obs.on_info = [&](const std::string& s) { out.info(s); };
  obs.on_warning = [&](const std::string& s) { out.warn(s); };
  auto o = app::run_tracked(ctx.workspace(), req, obs);
  out.info(fmt::format("run {} {} (exit {}) in {:.1f}s", o.run_id, run_status_name(o.status),
                       o.exit_code, o.seconds));
  // --json: the command's own stdout passes through as it is; this object is the last line.
  if (out.json())
    out.print_json({{"run", o.run_id},
                    {"name", o.name},
                    {"status", run_status_name(o.status)},
                    {"exit_code", o.exit_code},
                    {"seconds", o.seconds}});
  return o.exit_code;
}

// ---- track log
struct LogFlags {
  std::vector<std::string> kvs;
  std::string run, path, name;
  int64_t step = 0;
};

int run_log(cli::Context& ctx, const std::string& what, const LogFlags& f) {
  auto tracker = open_tracker(ctx);
  auto id = run_id_of(tracker, f.run);
  if (what == "metric") {
    std::vector<MetricPoint> pts;
    for (const auto& [k, v] : parse_kvs(f.kvs)) pts.push_back({k, parse_number(k, v), f.step, 0});
    tracker.log_metrics(id, pts);
  } else if (what == "param") {
    tracker.log_params(id, parse_kvs(f.kvs));
  } else if (what == "tag") {
    tracker.log_tags(id, parse_kvs(f.kvs));
  } else {
    std::filesystem::path root;
    if (const char* w = std::getenv("XOPS_WORKSPACE"); w && *w) root = w;
    else root = ctx.workspace().root();
    ObjectStore store(root / ".xops/objects", root / ".xops/tmp");
    if (!std::filesystem::is_regular_file(f.path))
      throw usage_error(fmt::format("{} is not a file", f.path));
    auto obj = store.add_file(f.path);
    store.sync();
    auto name = f.name.empty() ? std::filesystem::path(f.path).filename().string() : f.name;
    tracker.log_artifact(id, name, obj.id, static_cast<int64_t>(obj.size), f.path);
  }
  return 0;
}

// ---- runs / show / diff / report
struct QueryFlags {
  RunQuery q;
  std::string columns;
  std::vector<std::string> runs;
  std::string html;
};

int run_runs(cli::Context& ctx, const QueryFlags& f) {
  auto tracker = open_tracker(ctx);
  auto runs = tracker.list(f.q);
  auto& out = ctx.out();
  if (out.json()) {
    json arr = json::array();
    for (const auto& r : runs) arr.push_back(run_json(r));
    out.print_json(arr);
    return 0;
  }
  std::vector<std::string> cols = {"id", "name", "kind", "status", "started", "duration"};
  // By default also the metrics most runs listed here have (up to three, most common first):
  // what a comparison needs without knowing the keys.
  if (f.columns.empty()) {
    std::map<std::string, size_t> seen;
    for (const auto& r : runs)
      for (const auto& m : r.metrics) ++seen[m.key];
    std::vector<std::pair<std::string, size_t>> common(seen.begin(), seen.end());
    std::stable_sort(common.begin(), common.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    for (size_t i = 0; i < common.size() && i < 3; ++i)
      cols.push_back("metrics." + common[i].first);
  }
  if (!f.columns.empty()) {
    cols.clear();
    size_t pos = 0;
    while (pos <= f.columns.size()) {
      auto end = f.columns.find(',', pos);
      auto c = f.columns.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      if (!c.empty()) cols.push_back(c);
      if (end == std::string::npos) break;
      pos = end + 1;
    }
  }
  std::vector<std::string> headers;
  for (const auto& c : cols) {
    std::string h = c;
    for (auto& ch : h) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    headers.push_back(h);
  }
  cli::Table t(headers);
  for (const auto& r : runs) {
    std::vector<std::string> row;
    std::vector<cli::Style> styles;
    for (const auto& c : cols) {
      row.push_back(column_value(r, c));
      styles.push_back(c == "status" ? status_style(r.status) : cli::Style::None);
    }
    t.add(row, styles);
  }
  t.print(out);
  return 0;
}

int run_show(cli::Context& ctx, const std::string& ref) {
  auto tracker = open_tracker(ctx);
  auto r = tracker.get(tracker.resolve(ref));
  auto& out = ctx.out();
  if (out.json()) {
    auto j = run_json(r);
    for (const auto& m : r.metrics) j["series"][m.key] = tracker.series(r.id, m.key);
    out.print_json(j);
    return 0;
  }
  cli::Table head({"FIELD", "VALUE"});
  head.add({"id", r.id});
  head.add({"name", r.name});
  head.add({"kind", r.kind});
  head.add({"status", r.status}, {cli::Style::None, status_style(r.status)});
  head.add({"started", time_text(r.start_ms)});
  head.add({"duration", duration_text(r)});
  head.add({"exit code", r.exit_code ? std::to_string(*r.exit_code) : ""});
  head.add({"command", r.command});
  head.add({"git commit", r.git_commit + (r.git_dirty ? " (dirty, diff " + r.diff_sha256.substr(0, 12) + ")" : "")});
  head.add({"user@host", r.user + "@" + r.host});
  if (!r.parent.empty()) head.add({"parent", r.parent});
  for (const auto& [k, v] : r.params) head.add({"params." + k, v});
  for (const auto& [k, v] : r.tags) head.add({"tags." + k, v});
  head.print(out);
  if (!r.metrics.empty()) {
    out.line("");
    cli::Table mt({"METRIC", "LAST", "MIN", "MAX", "STEPS", "TREND"});
    for (const auto& m : r.metrics)
      mt.add({m.key, fmt::format("{:.6g}", m.last), fmt::format("{:.6g}", m.min), fmt::format("{:.6g}", m.max),
              std::to_string(m.count), sparkline(tracker.series(r.id, m.key))});
    mt.print(out);
  }
  if (!r.artifacts.empty()) {
    out.line("");
    cli::Table at({"ARTIFACT", "SHA256", "SIZE"});
    for (const auto& a : r.artifacts) at.add({a.name, a.sha256.substr(0, 12), std::to_string(a.size)});
    at.print(out);
  }
  if (!r.inputs.empty()) {
    out.line("");
    cli::Table it({"INPUT", "SHA256"});
    for (const auto& [p, h] : r.inputs) it.add({p, h.substr(0, 12)});
    it.print(out);
  }
  return 0;
}

int run_diff(cli::Context& ctx, const std::vector<std::string>& refs) {
  if (refs.size() != 2) throw usage_error("diff takes two runs", "xops track diff RUN_A RUN_B");
  auto tracker = open_tracker(ctx);
  auto a = tracker.get(tracker.resolve(refs[0])), b = tracker.get(tracker.resolve(refs[1]));
  std::vector<std::tuple<std::string, std::string, std::string>> rows;
  rows.emplace_back("name", a.name, b.name);
  rows.emplace_back("status", a.status, b.status);
  rows.emplace_back("git commit", a.git_commit.substr(0, 12) + (a.git_dirty ? "+dirty" : ""),
                    b.git_commit.substr(0, 12) + (b.git_dirty ? "+dirty" : ""));
  auto both = [&](const std::string& prefix, const std::map<std::string, std::string>& x,
                  const std::map<std::string, std::string>& y) {
    std::set<std::string> keys;
    for (auto& kv : x) keys.insert(kv.first);
    for (auto& kv : y) keys.insert(kv.first);
    for (const auto& k : keys) {
      auto ix = x.find(k), iy = y.find(k);
      rows.emplace_back(prefix + k, ix == x.end() ? "" : ix->second, iy == y.end() ? "" : iy->second);
    }
  };
  both("params.", a.params, b.params);
  std::map<std::string, std::string> ma, mb;
  for (const auto& m : a.metrics) ma[m.key] = fmt::format("{:.6g}", m.last);
  for (const auto& m : b.metrics) mb[m.key] = fmt::format("{:.6g}", m.last);
  both("metrics.", ma, mb);
  auto short_inputs = [](const std::map<std::string, std::string>& in) {
    std::map<std::string, std::string> o;
    for (const auto& [k, v] : in) o[k] = v.substr(0, 12);
    return o;
  };
  both("inputs.", short_inputs(a.inputs), short_inputs(b.inputs));
  auto& out = ctx.out();
  if (out.json()) {
    json arr = json::array();
    for (const auto& [k, x, y] : rows) arr.push_back({{"field", k}, {"a", x}, {"b", y}, {"differs", x != y}});
    out.print_json({{"a", a.id}, {"b", b.id}, {"rows", arr}});
    return 0;
  }
  cli::Table t({"FIELD", a.id.substr(0, 12) + "…", b.id.substr(0, 12) + "…", ""});
  for (const auto& [k, x, y] : rows)
    t.add({k, x, y, x != y ? "≠" : ""}, {cli::Style::None, cli::Style::None, cli::Style::None,
                                       x != y ? cli::Style::Yellow : cli::Style::None});
  t.print(out);
  return 0;
}

int run_report(cli::Context& ctx, const QueryFlags& f) {
  if (f.html.empty()) throw usage_error("--html FILE is required", "xops track report [RUN...] --html report.html");
  auto tracker = open_tracker(ctx);
  std::vector<RunRecord> runs;
  if (f.runs.empty()) {
    auto q = f.q;
    if (q.limit == 0) q.limit = 20;
    runs = tracker.list(q);
  } else {
    for (const auto& r : f.runs) runs.push_back(tracker.get(tracker.resolve(r)));
  }
  std::vector<MetricSeries> series;
  for (const auto& r : runs) {
    MetricSeries s;
    for (const auto& k : tracker.metric_keys(r.id)) s[k] = tracker.series(r.id, k);
    series.push_back(std::move(s));
  }
  atomic_write_file(f.html, render_report_html(runs, series));
  ctx.out().info(fmt::format("wrote {} ({} runs)", f.html, runs.size()));
  return 0;
}

}  // namespace

namespace {

void add_edits(CLI::App* track, cli::Context& ctx, const std::shared_ptr<QueryFlags>& qf) {
  auto* rm = track->add_subcommand("rm", "Delete runs (their objects stay in the store until `track gc`)");
  rm->add_option("runs", qf->runs, "Run ids (prefix) or names")->required();
  rm->callback([&ctx, qf] {
    ctx.action = [&ctx, qf] {
      auto tracker = open_tracker(ctx);
      std::vector<std::string> ids;
      for (const auto& r : qf->runs) ids.push_back(tracker.resolve(r));  // all resolve before any goes
      for (const auto& id : ids) tracker.remove(id);
      if (ctx.out().json()) ctx.out().print_json({{"deleted", ids}});
      else for (const auto& id : ids) ctx.out().info("deleted run " + id);
      return 0;
    };
  });
  // Two strings, not the shared run list: a vector positional takes every word and left none
  // for the name (`track rename RUN NAME` was refused).
  auto rename_args = std::make_shared<std::pair<std::string, std::string>>();  // run, new name
  auto* rename = track->add_subcommand("rename", "Rename a run");
  rename->add_option("run", rename_args->first, "Run id (prefix) or name")->required();
  rename->add_option("name", rename_args->second, "The new name")->required();
  rename->callback([&ctx, rename_args] {
    ctx.action = [&ctx, rename_args] {
      const auto& rename_name = rename_args->second;
      auto tracker = open_tracker(ctx);
      auto id = tracker.resolve(rename_args->first);
      tracker.rename(id, rename_name);
      if (ctx.out().json())
        ctx.out().print_json({{"id", id}, {"name", rename_name}});
      else
        ctx.out().info(fmt::format("run {} is now '{}'", id, rename_name));
      return 0;
    };
  });
}

// runs, show, diff, report: reading runs; rm and rename change them.
void add_queries(CLI::App* track, cli::Context& ctx) {
  auto qf = std::make_shared<QueryFlags>();
  auto query_opts = [qf](CLI::App* s) {
    s->add_option("--filter", qf->q.filter, "e.g. \"metrics.loss < 0.5 and params.lr = '0.001'\"");
    s->add_option("--sort", qf->q.sort, "e.g. metrics.loss, -start_time, 'params.lr desc'");
    s->add_option("--limit", qf->q.limit, "At most N runs");
  };
  auto* runs = track->add_subcommand("runs", "List and search runs");
  query_opts(runs);
  runs->add_option("--columns", qf->columns,
                   "Comma-separated: id,name,status,metrics.loss,params.lr,...");
  runs->callback([&ctx, qf] { ctx.action = [&ctx, qf] { return run_runs(ctx, *qf); }; });

  auto* show =
      track->add_subcommand("show", "One run: params, metrics with trends, artifacts, inputs");
  show->add_option("run", qf->runs, "Run id (prefix) or name")->required()->expected(1);
  show->callback([&ctx, qf] { ctx.action = [&ctx, qf] { return run_show(ctx, qf->runs.at(0)); }; });

  auto* diff = track->add_subcommand("diff", "Two runs side by side");
  diff->add_option("runs", qf->runs, "RUN_A RUN_B")->required()->expected(2);
  diff->callback([&ctx, qf] { ctx.action = [&ctx, qf] { return run_diff(ctx, qf->runs); }; });
  add_edits(track, ctx, qf);
  auto* report = track->add_subcommand("report", "Self-contained HTML report with metric charts");
  report->add_option("runs", qf->runs, "Runs (default: the latest 20 matching --filter)");
  report->add_option("--html", qf->html, "Output file")->required();
  query_opts(report);
  report->callback([&ctx, qf] { ctx.action = [&ctx, qf] { return run_report(ctx, *qf); }; });
}

}  // namespace

void register_track_runs(CLI::App* track, cli::Context& ctx) {
  auto rf = std::make_shared<RunFlags>();
  auto* run = track->add_subcommand(
      "run", "Run CMD as a recorded experiment (xops track run [-n NAME] -- CMD ARGS)");
  run->add_option("-n,--name", rf->name, "Run name (default: the command's name)");
  // One value per flag (-p a=1 -p b=2): a repeatable option before `--` must not swallow it.
  run->add_option("-p,--param", rf->params, "Parameter key=value (repeatable)")
      ->allow_extra_args(false);
  run->add_option("--tag", rf->tags, "Tag key=value (repeatable)")->allow_extra_args(false);
  run->add_option("--sample-seconds", rf->sample_seconds, "System metrics interval")
      ->capture_default_str();
  run->add_option("command", rf->command, "The command and its arguments (after --)");
  run->callback([&ctx, rf] { ctx.action = [&ctx, rf] { return run_run(ctx, *rf); }; });

  auto* log = track->add_subcommand("log", "Log into a run (XOPS_RUN_ID or --run ID)");
  log->require_subcommand(1);
  for (const char* what : {"metric", "param", "tag", "artifact"}) {
    auto lf = std::make_shared<LogFlags>();
    std::string w = what;
    auto* s =
        log->add_subcommand(w, w == "artifact" ? "Store a file in the content store and attach it"
                                               : "Log " + w + "s as key=value");
    if (w == "artifact") {
      s->add_option("path", lf->path, "File")->required();
      s->add_option("--name", lf->name, "Artifact name (default: the file name)");
    } else {
      s->add_option("pairs", lf->kvs, "key=value ...")->required();
    }
    if (w == "metric") s->add_option("--step", lf->step, "Step (default 0)");
    s->add_option("--run", lf->run, "Run id (prefix) or name");
    s->callback([&ctx, lf, w] { ctx.action = [&ctx, lf, w] { return run_log(ctx, w, *lf); }; });
  }
  add_queries(track, ctx);
}

}  // namespace xops::commands
