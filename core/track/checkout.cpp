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
  auto rels = ctx.lexical_rels(o.paths);
  auto ptrs = TrackContext::filter(o.rev.empty() ? ctx.pointers_in_index() : ctx.pointers_at(o.rev), rels);
  if (!rels.empty() && ptrs.empty())
    throw usage_error(fmt::format("no tracked path matches {}", fmt::join(o.paths, ", ")),
                      "`xops track status` lists the tracked paths");

  CheckoutResult res;
  std::vector<FileTask> tasks;
  // What is in the way is checked before anything is written: a symlink is never written
  // through or followed (it is replaced only with --force, and then only the link itself
  // goes), and nothing but regular files is ever read.
  auto refuse = [&](const std::string& rel, const std::string& why) { res.refused.push_back(rel + ": " + why); };
  auto obstacle = [&](const std::string& rel, EntryKind want) -> bool {
    EntryKind k;
    try {
      k = ctx.root.kind(rel);
    } catch (const Error& e) {
      refuse(rel, e.what());
      return true;
    }
    if (k == EntryKind::Missing || k == want) return false;
    if (k == EntryKind::Symlink || k == EntryKind::Other) {
      if (o.force) return false;  // the rename (or removal) replaces the entry, never its target
      refuse(rel, fmt::format("it is {} (--force replaces the entry itself)", entry_kind_name(k)));
      return true;
    }
    return false;  // a directory where a file belongs (or the reverse): skipped below
  };
  for (const auto& r : ptrs) {
    if (!r.ptr.is_dir) {
      if (!obstacle(r.rel, EntryKind::Regular)) tasks.push_back({r.rel, r.ptr.sha256, r.ptr.size, false});
      continue;
    }
    if (!ctx.store.has(r.ptr.sha256)) {
      res.missing_objects.push_back(r.rel);
      continue;
    }
    if (obstacle(r.rel, EntryKind::Directory)) continue;
    if (o.force) {
      auto k = ctx.root.kind(r.rel);
      if (k == EntryKind::Symlink || k == EntryKind::Other) ctx.root.remove(r.rel);  // the link only
    }
    auto entries = parse_manifest(ctx.store.read(r.ptr.sha256), r.ptr.sha256);
    std::set<std::string> wanted;
    for (const auto& e : entries) {
      auto rel = r.rel + "/" + e.path;
      if (!obstacle(rel, EntryKind::Regular)) tasks.push_back({rel, e.sha256, e.size, e.executable});
      wanted.insert(e.path);
    }
    // Files in the directory that the manifest does not list go, if their content is saved.
    struct stat st;
    if (ctx.root.kind(r.rel, &st) == EntryKind::Directory) {
      std::vector<std::string> others;
      auto files = list_files_stat(ctx.root, r.rel, &others);
      for (const auto& f : files) {
        if (wanted.count(f.rel)) continue;
        auto frel = r.rel + "/" + f.rel;
        if (o.force || ctx.store.has(ctx.file_hash_stat(frel, f.st, nullptr))) {
          ctx.root.remove(frel);
          res.removed.push_back(frel);
        } else {
          res.skipped_modified.push_back(frel);
        }
      }
      for (const auto& f : others) {
        if (wanted.count(f)) continue;
        auto frel = r.rel + "/" + f;
        if (o.force) {
          ctx.root.remove(frel);  // the link itself, never what it points to
          res.removed.push_back(frel);
        } else {
          refuse(frel, "it is not a regular file (--force removes the entry itself)");
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
    struct stat st;
    auto kind = ctx.root.kind(t.rel, &st);
    if (kind == EntryKind::Directory) {
      actions[i] = Action::SkipModified;
      return;
    }
    if (kind == EntryKind::Regular) {
      auto current = ctx.file_hash_stat(t.rel, st, nullptr);
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
    ctx.store.materialize(t.sha256, ctx.root, t.rel, o.mode, t.executable);
    struct stat after;
    if (ctx.root.kind(t.rel, &after) == EntryKind::Regular) ctx.cache.put(t.rel, after, t.sha256);
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
