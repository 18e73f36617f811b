// xops track status: each tracked path against its pointer, through the stat cache.
#include <sys/stat.h>

#include <map>
#include <unordered_set>

#include "core/error.hpp"
#include "core/track/track.hpp"
#include "core/track/track_context.hpp"
#include "core/util/parallel.hpp"

namespace xops {

const char* state_name(TrackState s) {
  switch (s) {
    case TrackState::Unchanged: return "unchanged";
    case TrackState::Modified: return "modified";
    case TrackState::Missing: return "missing";
    case TrackState::NotInStore: return "not-in-store";
  }
  return "unchanged";
}

namespace {

std::vector<std::string> diff_manifests(const std::vector<ManifestEntry>& want,
                                        const std::vector<ManifestEntry>& have) {
  std::map<std::string, std::string> a, b;
  for (const auto& e : want) a[e.path] = e.sha256;
  for (const auto& e : have) b[e.path] = e.sha256;
  std::vector<std::string> out;
  for (const auto& [p, h] : a) {
    auto it = b.find(p);
    if (it == b.end()) out.push_back("deleted: " + p);
    else if (it->second != h) out.push_back("modified: " + p);
  }
  for (const auto& [p, h] : b)
    if (!a.count(p)) out.push_back("new: " + p);
  if (out.size() > 20) out.resize(20);
  return out;
}

}  // namespace

std::vector<StatusEntry> track_status(const Workspace& ws, int jobs, const std::vector<std::string>& paths) {
  TrackContext ctx(ws);
  auto ptrs = ctx.pointers_in_index();
  if (!paths.empty()) {
    auto rels = ctx.lexical_rels(paths);
    ptrs = TrackContext::filter(std::move(ptrs), rels);
    if (ptrs.empty())
      throw usage_error(fmt::format("no tracked path matches {}", fmt::join(paths, ", ")),
                        "`xops track status` lists the tracked paths");
  }
  std::vector<StatusEntry> out(ptrs.size());
  std::unordered_set<std::string> listing;
  bool listed = false;
  auto store_listing = [&]() -> const std::unordered_set<std::string>& {
    if (!listed) {
      auto ids = ctx.store.list();
      listing.insert(ids.begin(), ids.end());
      listed = true;
    }
    return listing;
  };
  // Files are checked in parallel; directories parallelise inside scan_dir.
  auto check = [&](size_t i, bool dirs) {
    const auto& r = ptrs[i];
    if (r.ptr.is_dir != dirs) return;
    auto& e = out[i];
    e.path = r.rel;
    e.is_dir = r.ptr.is_dir;
    e.sha256 = r.ptr.sha256;
    // Nothing is followed: a symlink (or device, FIFO) where tracked content belongs is
    // reported as a change, never read.
    struct stat st;
    EntryKind kind;
    try {
      kind = ctx.root.kind(r.rel, &st);
    } catch (const Error& err) {
      e.state = TrackState::Modified;
      e.in_store = ctx.store.has(r.ptr.sha256);
      e.changed.push_back(err.what());
      return;
    }
    if (kind == EntryKind::Symlink || kind == EntryKind::Other) {
      e.state = TrackState::Modified;
      e.in_workspace = true;
      e.in_store = ctx.store.has(r.ptr.sha256);
      e.changed.push_back(fmt::format("{} is {}: not followed", r.rel, entry_kind_name(kind)));
      return;
    }
    e.in_workspace = kind == (r.ptr.is_dir ? EntryKind::Directory : EntryKind::Regular);
    e.in_store = ctx.store.has(r.ptr.sha256);
    bool modified = false;
    if (!r.ptr.is_dir) {
      if (e.in_workspace) modified = ctx.file_hash_stat(r.rel, st, nullptr) != r.ptr.sha256;
      // A file added with --link hardlink shares its inode with the store object: an edit in
      // place changed the store's only copy too.
      struct stat obj;
      if (modified && ::stat(ctx.store.path_of(r.ptr.sha256).c_str(), &obj) == 0 && obj.st_ino == st.st_ino &&
          obj.st_dev == st.st_dev)
        e.changed.push_back(
            "edited in place while hard-linked to the store: the stored copy changed too "
            "(`xops track add` keeps the new content; `xops track pull` fetches the old one)");
    } else {
      std::vector<ManifestEntry> entries;
      std::vector<ListedFile> files;
      std::string digest;
      if (e.in_workspace) {
        std::vector<std::string> others;
        files = list_files_stat(ctx.root, r.rel, &others);
        digest = stat_digest(files);
        if (!others.empty()) {
          e.state = TrackState::Modified;
          for (const auto& o : others) e.changed.push_back("not a regular file (not followed): " + o);
          return;
        }
        // Fast path: no file's stat moved since a scan that found this very content complete.
        auto summary = ctx.dir_summary(r.rel);
        if (summary && summary->digest == digest && summary->manifest == r.ptr.sha256 && summary->complete) {
          e.state = e.in_store ? TrackState::Unchanged : TrackState::NotInStore;
          return;
        }
        // An unchanged directory's entries are the scan itself: no need to parse the manifest.
        entries = ctx.hash_listed(r.rel, files, jobs, nullptr);
        modified = sha256_of_manifest(entries) != r.ptr.sha256;
      }
      if (e.in_store && (modified || !e.in_workspace)) {
        auto stored = parse_manifest(ctx.store.read(r.ptr.sha256), r.ptr.sha256);
        if (modified) e.changed = diff_manifests(stored, entries);
        entries = std::move(stored);
      }
      if (e.in_store && !entries.empty()) {
        // One readdir per prefix beats one stat per object for big directories.
        auto present = store_listing();
        for (const auto& m : entries)
          if (!present.count(m.sha256)) e.in_store = false;
      }
      if (e.in_workspace && !modified)
        ctx.save_dir_summary(r.rel, {digest, r.ptr.sha256, e.in_store});
    }
    e.state = !e.in_workspace ? TrackState::Missing
              : modified      ? TrackState::Modified
              : !e.in_store   ? TrackState::NotInStore
                              : TrackState::Unchanged;
  };
  parallel_for(ptrs.size(), jobs, [&](size_t i) { check(i, false); });
  for (size_t i = 0; i < ptrs.size(); ++i) check(i, true);
  ctx.cache.flush();
  return out;
}

}  // namespace xops
