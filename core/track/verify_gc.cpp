// xops track verify (re-hash objects) and gc (drop unreferenced objects).
#include <sys/stat.h>

#include <chrono>
#include <mutex>

#include "core/error.hpp"
#include "core/store/remote.hpp"
#include "core/track/track.hpp"
#include "core/track/track_context.hpp"
#include "core/util/parallel.hpp"

namespace xops {

VerifyResult track_verify(const Workspace& ws, bool head_only, int jobs, const TrackProgress& prog) {
  TrackContext ctx(ws);
  VerifyResult res;
  std::vector<std::string> unexpanded;
  auto needed = ctx.referenced_ids(true, &unexpanded);
  // Run artifacts (logs, `track log artifact` files, trained models) live only in the store.
  for (const auto& id : ctx.db_referenced_ids(false)) needed.insert(id);
  std::vector<std::string> ids;
  if (head_only) {
    for (const auto& id : needed)
      if (ctx.store.has(id)) ids.push_back(id);
  } else {
    ids = ctx.store.list();
  }
  for (const auto& id : needed)
    if (!ctx.store.has(id)) res.missing.push_back(id);
  uint64_t total = 0;
  for (const auto& id : ids) {
    struct stat st;
    if (::stat(ctx.store.path_of(id).c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_size);
  }
  if (prog.start) prog.start("verifying", total, true);
  std::mutex mu;
  parallel_for(ids.size(), jobs, [&](size_t i) {
    std::string got;
    try {
      got = ctx.store.rehash(ids[i], prog.advance);
    } catch (const std::exception&) {
      got = "";  // unreadable counts as corrupt
    }
    std::lock_guard<std::mutex> lock(mu);
    if (got != ids[i]) res.corrupt.push_back(ids[i]);
  });
  if (prog.finish) prog.finish();
  std::sort(res.corrupt.begin(), res.corrupt.end());
  res.checked = ids.size();
  res.bytes = total;
  return res;
}

RemoteVerifyResult track_verify_remote(const Workspace& ws, const std::string& name, int jobs,
                                       const TrackProgress& prog) {
  TrackContext ctx(ws);
  const auto& rc = pick_remote(ws, name);
  auto remote = open_remote(rc, ws.root());
  RemoteVerifyResult res;
  res.remote = rc.name;
  std::vector<std::string> ids;
  uint64_t total = 0;
  for (const auto& id : ctx.referenced_ids(false, nullptr)) {
    if (!remote->has(id)) {
      res.missing.push_back(id);
      continue;
    }
    ids.push_back(id);
    total += remote->size_of(id);
  }
  if (prog.start) prog.start("verifying remote", total, true);
  std::mutex mu;
  parallel_for(ids.size(), jobs, [&](size_t i) {
    const auto& id = ids[i];
    if (remote->rehash(id, prog.advance) == id) return;
    // Re-upload from a local copy that is itself verified (upload re-hashes what it sends).
    bool fixed = false;
    if (ctx.store.has(id)) {
      try {
        remote->upload(ctx.store, id, {});
        fixed = remote->rehash(id, {}) == id;
      } catch (const Error&) {
        fixed = false;
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    (fixed ? res.repaired : res.corrupt).push_back(id);
  });
  if (prog.finish) prog.finish();
  std::sort(res.corrupt.begin(), res.corrupt.end());
  std::sort(res.repaired.begin(), res.repaired.end());
  res.checked = ids.size();
  return res;
}

GcResult track_gc(const Workspace& ws, bool dry_run, bool workspace_only) {
  WorkspaceLock lock(ws);
  TrackContext ctx(ws, /*db_cache_only=*/false);
  std::vector<std::string> unexpanded;
  auto keep = ctx.referenced_ids(workspace_only, &unexpanded);
  // Never what a run references: its logs and artifacts exist nowhere else.
  for (const auto& id : ctx.db_referenced_ids(true)) keep.insert(id);
  GcResult res;
  for (const auto& id : ctx.store.list()) {
    if (keep.count(id)) {
      ++res.kept;
      continue;
    }
    struct stat st;
    if (::stat(ctx.store.path_of(id).c_str(), &st) == 0) res.bytes += static_cast<uint64_t>(st.st_size);
    res.removed.push_back(id);
    if (!dry_run) ctx.store.remove(id);
  }
  // Summaries vouch for objects being present: drop them once objects have gone.
  if (!dry_run && !res.removed.empty()) ctx.db.exec("DELETE FROM dir_summary");
  // Leftovers of killed processes in .xops/tmp (older than an hour, so never a live write).
  std::error_code ec;
  auto cutoff = fs::file_time_type::clock::now() - std::chrono::hours(1);
  for (const auto& e : fs::directory_iterator(ws.tmp_dir(), ec)) {
    if (e.last_write_time(ec) > cutoff) continue;
    ++res.tmp_removed;
    if (!dry_run) fs::remove(e.path(), ec);
  }
  return res;
}

}  // namespace xops
