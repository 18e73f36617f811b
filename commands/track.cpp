// `xops track add|status|checkout|push|pull|verify|gc`: thin wrappers over core/track.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands/commands.hpp"
#include "core/error.hpp"
#include "core/track/track.hpp"
#include "term/context.hpp"
#include "term/progress.hpp"
#include "term/table.hpp"

namespace xops::commands {

namespace {

using nlohmann::json;

// Bridges core's progress callbacks to a terminal progress bar.
struct BarProgress {
  explicit BarProgress(const cli::Output& o) : out(o) {
    p.start = [this](const std::string& phase, uint64_t total, bool bytes) {
      bar = std::make_unique<cli::ProgressBar>(out, phase, total, bytes);
    };
    p.advance = [this](uint64_t n) {
      if (bar) bar->advance(n);
    };
    p.finish = [this] {
      if (bar) bar->finish();
    };
  }
  const cli::Output& out;
  std::unique_ptr<cli::ProgressBar> bar;
  TrackProgress p;
};

int jobs_of(cli::Context& ctx, int flag) { return flag > 0 ? flag : ctx.settings().get_int("jobs"); }

std::string short_id(const std::string& id) { return id.substr(0, 12); }

int run_add(cli::Context& ctx, const AddOptions& in, int jobs) {
  auto& ws = ctx.workspace();
  AddOptions o = in;
  o.jobs = jobs_of(ctx, jobs);
  BarProgress bar(ctx.out());
  auto results = track_add(ws, o, bar.p);
  auto& out = ctx.out();
  if (out.json()) {
    json arr = json::array();
    for (const auto& r : results)
      arr.push_back({{"path", r.path}, {"pointer", r.pointer}, {"type", r.is_dir ? "dir" : "file"},
                     {"sha256", r.sha256}, {"size", r.size}, {"files", r.files},
                     {"new_objects", r.new_objects}, {"hashed_bytes", r.hashed_bytes},
                     {"changed", r.changed}});
    out.print_json(arr);
    return 0;
  }
  cli::Table t({"PATH", "TYPE", "SHA256", "SIZE", "FILES", "NEW OBJECTS"});
  for (const auto& r : results)
    t.add({r.path, r.is_dir ? "dir" : "file", short_id(r.sha256), cli::human_bytes(r.size),
           std::to_string(r.files), std::to_string(r.new_objects)});
  t.print(out);
  for (const auto& r : results)
    if (r.untracked_from_git)
      out.info(fmt::format("{}: removed {} file(s) from git's index; the store versions it now", r.path,
                           r.untracked_from_git));
  out.info("pointers staged in git; commit them with `git commit`");
  return 0;
}

int run_status(cli::Context& ctx, bool exit_code, int jobs, const std::vector<std::string>& paths) {
  auto& ws = ctx.workspace();
  auto entries = track_status(ws, jobs_of(ctx, jobs), paths);
  auto& out = ctx.out();
  bool differs = false;
  for (const auto& e : entries) differs |= e.state != TrackState::Unchanged;
  if (out.json()) {
    json arr = json::array();
    for (const auto& e : entries)
      arr.push_back({{"path", e.path}, {"type", e.is_dir ? "dir" : "file"},
                     {"state", state_name(e.state)}, {"in_workspace", e.in_workspace},
                     {"in_store", e.in_store}, {"sha256", e.sha256}, {"changed", e.changed}});
    out.print_json(arr);
  } else {
    // -q silences stderr (info, warnings, progress) in every command; data on stdout stays.
    cli::Table t({"STATE", "PATH"});
    for (const auto& e : entries) {
      auto style = e.state == TrackState::Unchanged ? cli::Style::Green
                   : e.state == TrackState::Modified ? cli::Style::Yellow
                                                     : cli::Style::Red;
      t.add({state_name(e.state), e.path + (e.is_dir ? "/" : "")}, {style});
      for (const auto& c : e.changed) t.add({"", "  " + c});
    }
    if (t.size() > 0) t.print(out);
    if (entries.empty()) out.info("no tracked paths (add some with `xops track add PATH`)");
  }
  if (exit_code && differs)
    throw Error(ErrorKind::CheckFailed, "tracked paths differ from their pointers",
                "`xops track add PATH` records new content; `xops track checkout` restores the "
                "pointed-to content");
  return 0;
}

// Prints what a checkout did; throws (exit 3) when a path could not be restored.
void report_checkout(cli::Context& ctx, const CheckoutResult& r, bool json) {
  auto& out = ctx.out();
  if (json) {
    out.print_json({{"restored", r.restored}, {"unchanged", r.unchanged}, {"removed", r.removed},
                    {"skipped_modified", r.skipped_modified}, {"missing_objects", r.missing_objects},
                    {"refused", r.refused}});
  } else {
    for (const auto& p : r.restored) out.verbose(1, "restored " + p);
    for (const auto& p : r.skipped_modified)
      out.warn(fmt::format("skipped {}: it has changes the store does not hold (use --force to "
                           "overwrite, or `xops track add` to keep them)", p));
    for (const auto& p : r.missing_objects)
      out.warn(fmt::format("cannot restore {}: its content is not in the store (run `xops track pull`)", p));
    for (const auto& p : r.refused) out.warn("refused " + p);
    out.info(fmt::format("{} restored, {} unchanged, {} removed, {} skipped, {} missing",
                         r.restored.size(), r.unchanged.size(), r.removed.size(),
                         r.skipped_modified.size(), r.missing_objects.size()));
  }
  if (!r.missing_objects.empty())
    throw precondition_error(fmt::format("{} path(s) could not be restored: content missing from the store",
                                         r.missing_objects.size()),
                             "run `xops track pull` first");
  if (!r.refused.empty())
    throw precondition_error(fmt::format("{} path(s) were refused: a symlink or special file is in the way",
                                         r.refused.size()),
                             "xops never writes through a symlink; remove it, or pass --force to replace "
                             "the entry itself");
  if (!r.skipped_modified.empty())
    throw precondition_error(fmt::format("{} path(s) were not restored: they hold changes the store does not have",
                                         r.skipped_modified.size()),
                             "`xops track add PATH` keeps the changes; `xops track checkout --force PATH` drops them");
}

int run_checkout(cli::Context& ctx, CheckoutOptions o, const std::string& link, int jobs) {
  auto& ws = ctx.workspace();
  o.mode = parse_link_mode(link);
  o.jobs = jobs_of(ctx, jobs);
  BarProgress bar(ctx.out());
  auto r = track_checkout(ws, o, bar.p);
  report_checkout(ctx, r, ctx.out().json());
  return 0;
}

int run_sync(cli::Context& ctx, bool push, const std::string& remote, int jobs, bool skip_if_none, bool checkout) {
  auto& ws = ctx.workspace();
  SyncOptions o;
  o.remote = !remote.empty() ? remote : ctx.settings().get("remote").value;
  o.jobs = jobs_of(ctx, jobs);
  if (skip_if_none && o.remote.empty() && !ws.config().default_remote()) {
    ctx.out().info(fmt::format("xops: no remote configured; nothing {}", push ? "pushed" : "pulled"));
    return 0;
  }
  BarProgress bar(ctx.out());
  auto r = push ? track_push(ws, o, bar.p) : track_pull(ws, o, bar.p);
  auto& out = ctx.out();
  if (out.json()) {
    out.print_json({{"remote", r.remote}, {"transferred", r.transferred}, {"bytes", r.bytes},
                    {"already_present", r.already}, {"missing", r.missing}});
  } else {
    out.info(fmt::format("{} {} object(s) ({}) {} '{}', {} already there", push ? "pushed" : "pulled",
                         r.transferred, cli::human_bytes(r.bytes), push ? "to" : "from", r.remote,
                         r.already));
  }
  if (!r.missing.empty()) {
    for (const auto& id : r.missing)
      out.warn(fmt::format("object {} is {}", short_id(id), push ? "missing locally" : "not on the remote"));
    throw precondition_error(fmt::format("{} object(s) could not be {}", r.missing.size(),
                                         push ? "pushed" : "pulled"),
                             push ? "the objects were never added here; push from where they were added"
                                  : "push them from the machine that added them");
  }
  // As `dvc pull`: what was fetched is checked out too (--no-checkout to skip).
  if (!push && checkout) {
    CheckoutOptions co;
    co.jobs = o.jobs;
    BarProgress cbar(ctx.out());
    auto cr = track_checkout(ws, co, cbar.p);
    report_checkout(ctx, cr, false);
  }
  return 0;
}

int run_verify(cli::Context& ctx, bool head_only, int jobs) {
  auto& ws = ctx.workspace();
  BarProgress bar(ctx.out());
  auto r = track_verify(ws, head_only, jobs_of(ctx, jobs), bar.p);
  auto& out = ctx.out();
  if (out.json()) {
    out.print_json({{"checked", r.checked}, {"bytes", r.bytes}, {"corrupt", r.corrupt}, {"missing", r.missing}});
  } else {
    for (const auto& id : r.corrupt) out.line("corrupt\t" + id);
    for (const auto& id : r.missing) out.line("missing\t" + id);
    out.info(fmt::format("{} object(s) verified ({}): {} corrupt, {} missing", r.checked,
                         cli::human_bytes(r.bytes), r.corrupt.size(), r.missing.size()));
  }
  if (!r.corrupt.empty() || !r.missing.empty())
    throw Error(ErrorKind::CheckFailed, "the store has corrupt or missing objects",
                "`xops track pull` re-fetches from a remote; `xops track add` re-stores from the workspace");
  return 0;
}

int run_verify_remote(cli::Context& ctx, const std::string& remote, int jobs) {
  auto& ws = ctx.workspace();
  BarProgress bar(ctx.out());
  auto name = !remote.empty() ? remote : ctx.settings().get("remote").value;
  auto r = track_verify_remote(ws, name, jobs_of(ctx, jobs), bar.p);
  auto& out = ctx.out();
  if (out.json()) {
    out.print_json({{"remote", r.remote}, {"checked", r.checked}, {"corrupt", r.corrupt},
                    {"repaired", r.repaired}, {"missing", r.missing}});
  } else {
    for (const auto& id : r.corrupt) out.line("corrupt\t" + id);
    for (const auto& id : r.repaired) out.line("repaired\t" + id);
    for (const auto& id : r.missing) out.line("missing\t" + id);
    out.info(fmt::format("{} object(s) verified on '{}': {} corrupt, {} re-uploaded, {} missing", r.checked,
                         r.remote, r.corrupt.size(), r.repaired.size(), r.missing.size()));
  }
  if (!r.corrupt.empty())
    throw Error(ErrorKind::CheckFailed, fmt::format("remote '{}' holds corrupt objects that no good local copy can replace", r.remote),
                "push them from a machine whose `xops track verify` is clean");
  return 0;
}

int run_gc(cli::Context& ctx, bool dry_run, bool workspace_only) {
  auto& ws = ctx.workspace();
  auto r = track_gc(ws, dry_run, workspace_only);
  auto& out = ctx.out();
  if (out.json()) {
    out.print_json({{"dry_run", dry_run}, {"removed", r.removed}, {"bytes", r.bytes}, {"kept", r.kept},
                    {"tmp_removed", r.tmp_removed}});
    return 0;
  }
  for (const auto& id : r.removed) out.line(id);
  out.info(fmt::format("{} {} unreferenced object(s) ({}); kept {}", dry_run ? "would remove" : "removed",
                       r.removed.size(), cli::human_bytes(r.bytes), r.kept));
  return 0;
}

}  // namespace

namespace {

struct TrackFlags {
  AddOptions add;
  CheckoutOptions checkout;
  std::string link = "copy";
  std::string remote;
  int jobs = 0;
  bool exit_code = false, head_only = false, dry_run = false, workspace_only = false;
  bool skip_if_none = false, no_checkout = false;
  std::vector<std::string> status_paths;
};

void jobs_option(CLI::App* s, const std::shared_ptr<TrackFlags>& f) {
  s->add_option("-j,--jobs", f->jobs, "Parallel jobs (default: setting `jobs`, 0 = all cores)");
}

// add, status, checkout: the workspace side.
void add_file_cmds(CLI::App* track, cli::Context& ctx, const std::shared_ptr<TrackFlags>& f) {
  auto* add = track->add_subcommand("add", "Store files/directories and stage their PATH.xops pointers");
  add->add_option("paths", f->add.paths, "Files or directories")->required();
  add->add_option("--desc", f->add.desc, "Description kept in the pointer");
  add->add_option_function<std::string>(
         "--link", [f](const std::string& v) { f->add.mode = parse_link_mode(v); },
         "copy (default), hardlink (no second copy; files become read-only) or reflink")
      ->check(CLI::IsMember({"copy", "hardlink", "reflink"}));
  jobs_option(add, f);
  add->callback([&ctx, f] { ctx.action = [&ctx, f] { return run_add(ctx, f->add, f->jobs); }; });

  auto* status = track->add_subcommand("status", "Compare tracked paths with their pointers");
  status->add_flag("--exit-code", f->exit_code, "Exit 4 when anything differs");
  status->add_option("paths", f->status_paths, "Only these tracked paths (files or directories)");
  jobs_option(status, f);
  status->callback([&ctx, f] {
    ctx.action = [&ctx, f] { return run_status(ctx, f->exit_code, f->jobs, f->status_paths); };
  });

  auto* co = track->add_subcommand("checkout", "Materialise tracked files as of a git revision");
  co->add_option("rev", f->checkout.rev, "Git revision (default: the working tree's pointers)");
  co->add_option("paths", f->checkout.paths, "Limit to these tracked paths");
  co->add_option("--link", f->link, "copy (default), hardlink or reflink")
      ->check(CLI::IsMember({"copy", "hardlink", "reflink"}));
  co->add_flag("-f,--force", f->checkout.force, "Overwrite changes that the store does not hold");
  jobs_option(co, f);
  co->callback([&ctx, f] {
    // `checkout PATH` (no revision) is common: a first argument that is a tracked path or
    // exists on disk is taken as a path, not a revision.
    auto& c = f->checkout;
    if (!c.rev.empty() && (std::filesystem::exists(c.rev) || std::filesystem::exists(c.rev + ".xops"))) {
      c.paths.insert(c.paths.begin(), c.rev);
      c.rev.clear();
    }
    ctx.action = [&ctx, f] { return run_checkout(ctx, f->checkout, f->link, f->jobs); };
  });
}

// push, pull, verify, gc: the store side.
void add_store_cmds(CLI::App* track, cli::Context& ctx, const std::shared_ptr<TrackFlags>& f) {
  for (bool push : {true, false}) {
    auto* s = track->add_subcommand(push ? "push" : "pull",
                                    push ? "Upload missing objects to a remote"
                                         : "Download the objects HEAD needs from a remote");
    s->add_option("-r,--remote", f->remote, "Remote name (default: setting `remote`, then the default remote)");
    s->add_flag("--skip-if-no-remote", f->skip_if_none, "Succeed quietly when no remote is configured (hooks)");
    if (!push) s->add_flag("--no-checkout", f->no_checkout, "Only fetch into the store; do not check files out");
    jobs_option(s, f);
    s->callback([&ctx, f, push] {
      ctx.action = [&ctx, f, push] {
        return run_sync(ctx, push, f->remote, f->jobs, f->skip_if_none, !f->no_checkout);
      };
    });
  }

  auto* verify = track->add_subcommand("verify", "Re-hash the store; name corrupt or missing objects (exit 4)");
  verify->add_flag("--head", f->head_only, "Only the objects HEAD and the index need");
  auto* vremote = verify->add_option("--remote", f->remote,
                                     "Re-hash on this remote (no name: the default) what branches and tags "
                                     "reference; re-upload corrupt ones from good local copies")
                      ->expected(0, 1);
  jobs_option(verify, f);
  verify->callback([&ctx, f, vremote] {
    bool remote = vremote->count() > 0;
    ctx.action = [&ctx, f, remote] {
      return remote ? run_verify_remote(ctx, f->remote, f->jobs) : run_verify(ctx, f->head_only, f->jobs);
    };
  });

  auto* gc = track->add_subcommand("gc", "Remove objects no branch, tag or the index references");
  gc->add_flag("-n,--dry-run", f->dry_run, "List what would be removed");
  gc->add_flag("--workspace", f->workspace_only, "Keep only what HEAD and the index reference");
  gc->callback([&ctx, f] { ctx.action = [&ctx, f] { return run_gc(ctx, f->dry_run, f->workspace_only); }; });
}

}  // namespace

void register_track(CLI::App& app, cli::Context& ctx) {
  auto* track = app.add_subcommand("track", "Version data and model files; record experiments");
  track->require_subcommand(1);
  register_track_runs(track, ctx);
  register_track_sync(track, ctx);
  auto f = std::make_shared<TrackFlags>();
  add_file_cmds(track, ctx, f);
  add_store_cmds(track, ctx, f);
}

}  // namespace xops::commands
