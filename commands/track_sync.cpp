// xops track sync: publish a tracking database's runs to another (the team's PostgreSQL).
#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands/commands.hpp"
#include "core/error.hpp"
#include "core/project/workspace.hpp"
#include "core/tracking/sync.hpp"
#include "core/tracking/tracking_db.hpp"
#include "term/context.hpp"
#include "term/progress.hpp"

namespace xops::commands {

namespace {

struct SyncFlags {
  std::string to, from;
};

int run_sync(cli::Context& ctx, const SyncFlags& f) {
  const auto& ws = ctx.workspace();
  auto local = ws.db_path().string();
  std::string from = f.from.empty() ? local : f.from;
  std::string to = f.to;
  if (to.empty()) {
    auto loc = tracking_location(ws);
    if (loc.url == from)
      throw usage_error(
          "sync: where to? this project tracks into " + db::Database::redact(from) + " itself",
          "xops track sync --to postgresql://user@host:5432/db (or set tracking: in xops.yaml)");
    to = loc.url;
  }
  if (!db::Database::is_postgres_url(from) && !std::filesystem::exists(from))
    throw precondition_error(fmt::format("sync: {} does not exist", from),
                             "nothing has been tracked there yet");
  auto src = db::Database::open_url(from);
  auto dst = db::Database::open_url(to);
  std::unique_ptr<cli::ProgressBar> bar;
  auto res = sync_tracking(src, dst, [&](int64_t done, int64_t total) {
    if (!bar)
      bar = std::make_unique<cli::ProgressBar>(ctx.out(), "runs", static_cast<uint64_t>(total),
                                               false);
    bar->set(static_cast<uint64_t>(done));
  });
  if (bar) bar->finish();
  if (ctx.out().json()) {
    ctx.out().print_json({{"from", src.describe()},
                          {"to", dst.describe()},
                          {"runs_copied", res.runs_copied},
                          {"runs_updated", res.runs_updated},
                          {"runs_unchanged", res.runs_unchanged},
                          {"metric_points", res.metric_points},
                          {"interactions", res.interactions},
                          {"feedback", res.feedback}});
  } else {
    ctx.out().info(fmt::format(
        "{} -> {}: {} run{} copied, {} updated, {} already there ({} metric points); "
        "{} interaction{} and {} feedback new",
        src.describe(), dst.describe(), res.runs_copied, res.runs_copied == 1 ? "" : "s",
        res.runs_updated, res.runs_unchanged, res.metric_points, res.interactions,
        res.interactions == 1 ? "" : "s", res.feedback));
  }
  return 0;
}

}  // namespace

void register_track_sync(CLI::App* track, cli::Context& ctx) {
  auto f = std::make_shared<SyncFlags>();
  auto* sync = track->add_subcommand(
      "sync",
      "Copy this project's runs and served traffic into another tracking database (idempotent)");
  sync->add_option("--to", f->to,
                   "Target: postgresql://user@host:port/db or a SQLite file (default: tracking:)");
  sync->add_option("--from", f->from, "Source (default: .xops/xops.db)");
  sync->callback([&ctx, f] { ctx.action = [&ctx, f] { return run_sync(ctx, *f); }; });
}

}  // namespace xops::commands
