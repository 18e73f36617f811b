#pragma once
// Shared machinery of the track operations (internal to core/track/).
#include <sys/stat.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/db/database.hpp"
#include "core/plugins/git.hpp"
#include "core/project/workspace.hpp"
#include "core/store/object_store.hpp"
#include "core/store/pointer.hpp"
#include "core/store/stat_cache.hpp"
#include "core/util/safe_path.hpp"

namespace xops {

struct RemoteConfig;
// The remote named `name`, else the default one; errors say how to configure one.
const RemoteConfig& pick_remote(const Workspace& ws, const std::string& name);

struct PointerRef {
  std::string rel;  // workspace-relative path of the tracked file or directory
  Pointer ptr;
};

class TrackContext {
 public:
  // db_cache_only: a database that cannot be opened (corrupt) is replaced by an empty
  // in-memory one, since the caller uses it only as a cache.
  explicit TrackContext(const Workspace& ws, bool db_cache_only = true);

  const Workspace& ws;
  ObjectStore store;
  db::Database db;
  StatCache cache;
  git::Repo repo;
  SafeRoot root;       // every workspace file a pointer names is reached through this
  std::string prefix;  // the workspace root relative to the repo's workdir, "" or "a/b/"

  // A user-typed path -> workspace-relative, refusing paths outside the workspace, inside
  // .xops/ or .git/, pointer files, and symlinks that lead out.
  std::string to_rel(const std::string& user_path) const;
  fs::path abs(const std::string& rel) const { return ws.root() / rel; }
  // User-typed paths that may not exist yet (checkout, status) -> workspace-relative, resolved
  // lexically; a trailing ".xops" names the tracked path. Outside the workspace: usage error.
  std::vector<std::string> lexical_rels(const std::vector<std::string>& paths) const;

  std::vector<PointerRef> pointers_in_index() const;
  std::vector<PointerRef> pointers_at(const std::string& rev) const;
  // Keeps pointers at or under any of `rels` (all when empty).
  static std::vector<PointerRef> filter(std::vector<PointerRef> ptrs, const std::vector<std::string>& rels);

  // sha256 of a workspace file; from the stat cache when current, else hashed (and cached).
  // st_out (optional) receives the file's stat. Only a regular file reached without any
  // symlink is hashed: anything else throws (see SafeRoot).
  std::string file_hash(const std::string& rel, uint64_t* hashed_bytes, const ByteCallback& cb = {},
                        struct stat* st_out = nullptr);
  // Same, for a file whose stat the caller already has.
  std::string file_hash_stat(const std::string& rel, const struct stat& st, uint64_t* hashed_bytes,
                             const ByteCallback& cb = {});
  // Hashes the open regular file `fd` (stat `st`) and records the result in the stat cache.
  std::string hash_open(const std::string& rel, int fd, const struct stat& st, uint64_t* hashed_bytes,
                        const ByteCallback& cb = {});
  // Every file under a workspace directory as manifest entries (hashed in parallel).
  std::vector<ManifestEntry> scan_dir(const std::string& rel, int jobs, uint64_t* hashed_bytes,
                                      const ByteCallback& cb = {});
  // Hashes already-listed files of a workspace directory (in parallel, via the stat cache).
  std::vector<ManifestEntry> hash_listed(const std::string& rel, const std::vector<struct ListedFile>& files,
                                         int jobs, uint64_t* hashed_bytes, const ByteCallback& cb = {});
  // Directory summaries (see migration 4).
  struct DirSummary {
    std::string digest, manifest;
    bool complete = false;
  };
  std::optional<DirSummary> dir_summary(const std::string& rel);
  void save_dir_summary(const std::string& rel, const DirSummary& s);
  // The content hash of a workspace path as a pointer would name it (a file's sha256, a
  // directory's manifest id), without storing anything; nullopt when it does not exist.
  // A symlink or special file throws: nothing is followed.
  struct PathHash {
    bool is_dir = false;
    std::string sha256;
    uint64_t size = 0, files = 0;
  };
  std::optional<PathHash> hash_path(const std::string& rel, int jobs);
  // Ids a pointer needs: the object, and for a directory its manifest's entries (when the
  // manifest is in the local store; otherwise its id goes to `unexpanded`).
  void collect_ids(const Pointer& p, std::set<std::string>& out,
                   std::vector<std::string>* unexpanded = nullptr) const;
  // Ids the tracking database references: run artifacts (and, with inputs, each run's
  // input content), expanded through directory manifests the store holds. gc keeps them.
  std::set<std::string> db_referenced_ids(bool with_inputs);
  // Ids that every pointer in every local branch and tag, plus the index, needs.
  std::set<std::string> referenced_ids(bool workspace_only, std::vector<std::string>* unexpanded) const;
};

struct ListedFile {
  std::string rel;  // relative to the listed directory, '/'-separated
  struct stat st;   // of the entry itself (lstat: a symlink is never followed)
};
// A digest of every listed file's path and stat (dev, inode, size, mtimes, mode).
std::string stat_digest(const std::vector<ListedFile>& files);
// Regular files under the workspace directory `rel`, sorted, with their stat (one fstatat per
// entry, relative to the directory's fd: no repeated path walks, no symlink followed).
// Other entries (symlinks, devices, FIFOs) go to `others` when given; otherwise a symlink
// throws, naming it (`track add` refuses to version a link).
std::vector<ListedFile> list_files_stat(const SafeRoot& root, const std::string& rel,
                                        std::vector<std::string>* others = nullptr);

}  // namespace xops
