// xops track push / pull: only missing objects move, in parallel, each verified by hash.
// An interrupted transfer resumes by running again: finished objects are skipped.
#include <sys/stat.h>

#include <mutex>

#include "core/error.hpp"
#include "core/project/config.hpp"
#include "core/store/remote.hpp"
#include "core/track/track.hpp"
#include "core/track/track_context.hpp"
#include "core/util/parallel.hpp"

namespace xops {

namespace {

// Moves `ids` with `move`, skipping those `done` says are already there.
void transfer(const std::vector<std::string>& ids, int jobs, const TrackProgress& prog,
              const std::function<bool(const std::string&)>& done,
              const std::function<uint64_t(const std::string&)>& size_of,
              const std::function<void(const std::string&)>& move, SyncResult& res) {
  std::vector<char> need(ids.size(), 0);
  parallel_for(ids.size(), jobs, [&](size_t i) { need[i] = done(ids[i]) ? 0 : 1; });
  std::vector<std::string> todo;
  uint64_t total = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!need[i]) {
      ++res.already;
      continue;
    }
    todo.push_back(ids[i]);
    total += size_of(ids[i]);
  }
  if (todo.empty()) return;
  if (prog.start) prog.start("transferring", total, true);
  parallel_for(todo.size(), jobs, [&](size_t i) { move(todo[i]); });
  if (prog.finish) prog.finish();
  res.transferred += todo.size();
  res.bytes += total;
}

// The `jobs` setting when one was given (0 = not set), else what the remote wants.
int jobs_for(const Remote& r, int jobs) {
  return jobs > 0 ? jobs : r.preferred_jobs();
}

uint64_t object_size(const fs::path& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

SyncResult track_push(const Workspace& ws, const SyncOptions& o, const TrackProgress& prog) {
  TrackContext ctx(ws);
  const auto& rc = pick_remote(ws, o.remote);
  auto remote = open_remote(rc, ws.root());
  SyncResult res;
  res.remote = rc.name;
  std::vector<std::string> ids;
  for (const auto& id : ctx.referenced_ids(false, nullptr)) {
    if (ctx.store.has(id)) ids.push_back(id);
    else res.missing.push_back(id);
  }
  transfer(
      ids, jobs_for(*remote, o.jobs), prog, [&](const std::string& id) { return remote->has(id); },
      [&](const std::string& id) { return object_size(ctx.store.path_of(id)); },
      [&](const std::string& id) { remote->upload(ctx.store, id, prog.advance); }, res);
  return res;
}

SyncResult track_pull(const Workspace& ws, const SyncOptions& o, const TrackProgress& prog) {
  WorkspaceLock lock(ws);
  TrackContext ctx(ws);
  const auto& rc = pick_remote(ws, o.remote);
  auto remote = open_remote(rc, ws.root());
  SyncResult res;
  res.remote = rc.name;
  std::mutex mu;
  auto pull = [&](const std::vector<std::string>& ids) {
    std::vector<std::string> available;
    for (const auto& id : ids) {
      if (ctx.store.has(id) || remote->has(id)) available.push_back(id);
      else res.missing.push_back(id);
    }
    transfer(
        available, jobs_for(*remote, o.jobs), prog,
        [&](const std::string& id) { return ctx.store.has(id); },
        [&](const std::string& id) { return remote->size_of(id); },
        [&](const std::string& id) { remote->download(ctx.store, id, prog.advance); }, res);
  };
  // Round 1: what the pointers name (files and directory manifests); round 2: the files
  // those manifests list, readable only once the manifests are here.
  std::vector<std::string> unexpanded;
  auto first = ctx.referenced_ids(true, &unexpanded);
  pull({first.begin(), first.end()});
  if (!unexpanded.empty()) {
    auto second = ctx.referenced_ids(true, nullptr);
    std::vector<std::string> rest;
    for (const auto& id : second)
      if (!first.count(id)) rest.push_back(id);
    pull(rest);
  }
  ctx.store.sync();
  return res;
}

}  // namespace xops
