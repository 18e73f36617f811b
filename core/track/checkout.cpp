// xops track checkout: materialise what pointers name, never losing unsaved workspace data.
#include <sys/stat.h>

#include <mutex>
#include <set>

#include "core/error.hpp"
#include "core/track/track.hpp"
#include "core/track/track_context.hpp"
#include "core/util/parallel.hpp"

namespace xops {

namespace {

enum class Action { Restore, Unchanged, SkipModified, MissingObject };

struct FileTask {
  std::string rel;
  std::string sha256;
  uint64_t size;
  bool executable;
};

}  // namespace

CheckoutResult track_checkout(const Workspace& ws, const CheckoutOptions& o, const TrackProgress& prog) {
  WorkspaceLock lock(ws);
  TrackContext ctx(ws);
  std::vector<std::string> rels;
  for (const auto& p : o.paths) {
    // Paths may not exist yet (that is the point of checkout): resolve lexically.
    auto abs = fs::absolute(p).lexically_normal();
    auto rel = abs.lexically_relative(ws.root()).generic_string();
    if (rel.empty() || rel.rfind("..", 0) == 0)
      throw usage_error(fmt::format("{} is outside the workspace", p));
    if (rel.size() > 5 && rel.compare(rel.size() - 5, 5, kPointerSuffix) == 0) rel.resize(rel.size() - 5);
    if (!rel.empty() && rel.back() == '/') rel.pop_back();
    rels.push_back(rel);
  }
  auto ptrs = TrackContext::filter(o.rev.empty() ? ctx.pointers_in_index() : ctx.pointers_at(o.rev), rels);
  if (!rels.empty() && ptrs.empty())
    throw usage_error(fmt::format("no tracked path matches {}", fmt::join(o.paths, ", ")),
                      "`xops track status` lists the tracked paths");

  CheckoutResult res;
  std::vector<FileTask> tasks;
  for (const auto& r : ptrs) {
    if (!r.ptr.is_dir) {
      tasks.push_back({r.rel, r.ptr.sha256, r.ptr.size, false});
      continue;
    }
    if (!ctx.store.has(r.ptr.sha256)) {
      res.missing_objects.push_back(r.rel);
      continue;
    }
    auto entries = parse_manifest(ctx.store.read(r.ptr.sha256), r.ptr.sha256);
    std::set<std::string> wanted;
    for (const auto& e : entries) {
      tasks.push_back({r.rel + "/" + e.path, e.sha256, e.size, e.executable});
      wanted.insert(e.path);
    }
    // Files in the directory that the manifest does not list go, if their content is saved.
    std::error_code ec;
    if (fs::is_directory(ctx.abs(r.rel), ec)) {
      for (const auto& f : list_files(ctx.abs(r.rel), ws.root())) {
        if (wanted.count(f)) continue;
        auto frel = r.rel + "/" + f;
        if (o.force || ctx.store.has(ctx.file_hash(frel, nullptr))) {
          fs::remove(ctx.abs(frel), ec);
          res.removed.push_back(frel);
        } else {
          res.skipped_modified.push_back(frel);
        }
      }
    }
  }

  uint64_t total = 0;
  for (const auto& t : tasks) total += t.size;
  if (prog.start) prog.start("checkout", total, true);
  std::vector<Action> actions(tasks.size());
  parallel_for(tasks.size(), o.jobs, [&](size_t i) {
    const auto& t = tasks[i];
    auto path = ctx.abs(t.rel);
    std::error_code ec;
    auto st = fs::symlink_status(path, ec);
    if (fs::exists(st)) {
      if (fs::is_directory(st)) {
        actions[i] = Action::SkipModified;
        return;
      }
      auto current = ctx.file_hash(t.rel, nullptr);
      if (current == t.sha256) {
        actions[i] = Action::Unchanged;
        if (prog.advance) prog.advance(t.size);
        return;
      }
      // Overwrite only content that can be recovered from the store (or with --force).
      if (!o.force && !ctx.store.has(current)) {
        actions[i] = Action::SkipModified;
        return;
      }
    }
    if (!ctx.store.has(t.sha256)) {
      actions[i] = Action::MissingObject;
      return;
    }
    ctx.store.materialize(t.sha256, path, o.mode, t.executable);
    struct stat after;
    if (::stat(path.c_str(), &after) == 0) ctx.cache.put(t.rel, after, t.sha256);
    actions[i] = Action::Restore;
    if (prog.advance) prog.advance(t.size);
  });
  if (prog.finish) prog.finish();
  for (size_t i = 0; i < tasks.size(); ++i) {
    switch (actions[i]) {
      case Action::Restore: res.restored.push_back(tasks[i].rel); break;
      case Action::Unchanged: res.unchanged.push_back(tasks[i].rel); break;
      case Action::SkipModified: res.skipped_modified.push_back(tasks[i].rel); break;
      case Action::MissingObject: res.missing_objects.push_back(tasks[i].rel); break;
    }
  }
  ctx.cache.flush();
  return res;
}

}  // namespace xops
