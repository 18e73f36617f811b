#pragma once
// A project on disk: the directory holding xops.yaml, its parsed config and the paths
// under .xops/. Mutating commands take a WorkspaceLock.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/project/config.hpp"

namespace xops {

namespace fs = std::filesystem;

inline constexpr const char* kProjectFile = "xops.yaml";

class Workspace {
 public:
  // Walks up from `start` to the nearest directory holding xops.yaml.
  static std::optional<fs::path> find_root(const fs::path& start);
  // Opens the workspace containing `start`; Precondition error when there is none.
  static Workspace open(const fs::path& start, std::vector<std::string>* warnings);

  const fs::path& root() const { return root_; }
  const ProjectConfig& config() const { return config_; }
  fs::path state_dir() const { return root_ / ".xops"; }
  fs::path objects_dir() const { return state_dir() / "objects"; }
  fs::path tmp_dir() const { return state_dir() / "tmp"; }
  fs::path db_path() const { return state_dir() / "xops.db"; }
  // Creates .xops/{objects,tmp} when missing (a fresh clone has none).
  void ensure_state_dirs() const;

 private:
  fs::path root_;
  ProjectConfig config_;
};

// Advisory exclusive lock on .xops/lock (flock: released by the kernel if we die). `name`
// picks another lock file under .xops/ for work that must not run twice at once but runs
// commands that take the workspace lock themselves (`xops repro`: repro.lock).
class WorkspaceLock {
 public:
  explicit WorkspaceLock(const Workspace& ws, const char* name = "lock");
  ~WorkspaceLock();
  WorkspaceLock(const WorkspaceLock&) = delete;
  WorkspaceLock& operator=(const WorkspaceLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace xops
