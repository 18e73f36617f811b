#pragma once
// dvc.lock in DVC's schema 2.0: per stage the command, each dependency and output with its
// hash and size (a directory's hash ends in ".dir" and carries nfiles), and the params
// values read. xops writes `hash: sha256` and a `sha256:` field (DVC writes md5); a lock
// written by DVC is read, and its md5 entries simply never match, so those stages run once.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/pipeline/pipeline.hpp"

namespace xops::pipeline {

struct LockedPath {
  std::string path;  // as written in dvc.yaml (relative to the stage's wdir)
  std::string algo = "sha256";
  std::string hash;  // a directory: its manifest id + ".dir"
  uint64_t size = 0, nfiles = 0;
  bool is_dir() const { return hash.size() > 4 && hash.compare(hash.size() - 4, 4, ".dir") == 0; }
  std::string object() const { return is_dir() ? hash.substr(0, hash.size() - 4) : hash; }
  bool same_content(const LockedPath& o) const { return algo == o.algo && hash == o.hash; }
};

struct LockedStage {
  std::vector<std::string> cmd;
  bool cmd_is_list = false;
  std::vector<LockedPath> deps, outs;
  J params = J::object();  // file -> {key -> value}
  const LockedPath* dep(const std::string& path) const;
  const LockedPath* out(const std::string& path) const;
};

struct LockFile {
  std::map<std::string, LockedStage> stages;
  const LockedStage* find(const std::string& name) const;
};

// Missing file: an empty lock. A malformed one: an error naming dvc.lock:LINE.
LockFile read_lock(const std::filesystem::path& file, const std::string& shown);
LockFile parse_lock(const std::string& text, const std::string& shown);
// Stages in `order` first (the pipeline's), then any others the lock still holds.
std::string render_lock(const LockFile& lock, const std::vector<std::string>& order);

}  // namespace xops::pipeline
