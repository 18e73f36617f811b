#pragma once
// `xops track add/status/checkout/verify/gc/push/pull`: data and model files versioned by
// pointer files in git and content in the store. core never prints: progress arrives
// through TrackProgress callbacks and results come back as structs.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/store/object_store.hpp"

namespace xops {

class Workspace;

struct TrackProgress {
  std::function<void(const std::string& phase, uint64_t total, bool bytes)> start;
  std::function<void(uint64_t n)> advance;
  std::function<void()> finish;
};

// ---- add
struct AddOptions {
  std::vector<std::string> paths;  // as the user typed them (relative to cwd or absolute)
  std::string desc;
  int jobs = 0;
  bool stage = true;  // git add the pointer and .gitignore
  LinkMode mode = LinkMode::Copy;  // Hardlink: no second copy; the workspace file turns read-only
};
struct AddResult {
  std::string path;     // workspace-relative
  std::string pointer;  // workspace-relative PATH.xops
  bool is_dir = false;
  std::string sha256;
  uint64_t size = 0;
  uint64_t files = 1;
  uint64_t new_objects = 0;
  uint64_t hashed_bytes = 0;  // bytes actually read (the rest came from the stat cache)
  bool changed = true;        // false when the pointer already said this
  size_t untracked_from_git = 0;  // files that git itself versioned until now
};
std::vector<AddResult> track_add(const Workspace& ws, const AddOptions& o, const TrackProgress& p);

// ---- status
enum class TrackState { Unchanged, Modified, Missing, NotInStore };
const char* state_name(TrackState s);
struct StatusEntry {
  std::string path;
  bool is_dir = false;
  TrackState state = TrackState::Unchanged;
  bool in_workspace = false;
  bool in_store = false;
  std::string sha256;                  // what the pointer names
  std::vector<std::string> changed;    // directories: files added/removed/modified (first 20)
};
// paths: only these tracked paths (user-typed, relative to the cwd); empty: all.
std::vector<StatusEntry> track_status(const Workspace& ws, int jobs, const std::vector<std::string>& paths = {});

// ---- checkout
struct CheckoutOptions {
  std::string rev;                 // empty: the working tree's pointers
  std::vector<std::string> paths;  // empty: all
  LinkMode mode = LinkMode::Copy;
  bool force = false;
  int jobs = 0;
};
struct CheckoutResult {
  std::vector<std::string> restored, unchanged, removed;
  std::vector<std::string> skipped_modified;  // workspace content not in the store
  std::vector<std::string> missing_objects;   // pointer names content the store lacks
  std::vector<std::string> refused;           // "path: why": a symlink or special file in the way
};
CheckoutResult track_checkout(const Workspace& ws, const CheckoutOptions& o, const TrackProgress& p);

// ---- verify / gc
struct VerifyResult {
  uint64_t checked = 0, bytes = 0;
  std::vector<std::string> corrupt;  // object ids whose content no longer matches
  std::vector<std::string> missing;  // ids HEAD/workspace pointers need but the store lacks
};
VerifyResult track_verify(const Workspace& ws, bool head_only, int jobs, const TrackProgress& p);
// Re-hashes, on a remote, every object a local branch, tag or the index references. A corrupt
// remote object is re-uploaded when the local store holds a good copy (listed in `repaired`);
// the rest are listed in `corrupt`. `missing`: referenced objects the remote lacks.
struct RemoteVerifyResult {
  std::string remote;
  uint64_t checked = 0;
  std::vector<std::string> corrupt, repaired, missing;
};
RemoteVerifyResult track_verify_remote(const Workspace& ws, const std::string& remote, int jobs,
                                       const TrackProgress& p);

struct GcResult {
  std::vector<std::string> removed;  // ids (or, with dry_run, the ids that would be)
  uint64_t bytes = 0;
  uint64_t kept = 0;
  uint64_t tmp_removed = 0;
};
GcResult track_gc(const Workspace& ws, bool dry_run, bool workspace_only);

// ---- push / pull
struct SyncOptions {
  std::string remote;  // empty: settings' remote, then the default remote
  int jobs = 0;
};
struct SyncResult {
  std::string remote;
  uint64_t transferred = 0, bytes = 0, already = 0;
  std::vector<std::string> missing;  // push: referenced objects absent locally; pull: absent remotely
};
SyncResult track_push(const Workspace& ws, const SyncOptions& o, const TrackProgress& p);
SyncResult track_pull(const Workspace& ws, const SyncOptions& o, const TrackProgress& p);

}  // namespace xops
