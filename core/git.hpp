#pragma once
// Thin RAII wrapper over libgit2: only what xops needs, every failure wrapped in Error.
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct git_repository;

namespace xops::git {

namespace fs = std::filesystem;

class Repo {
 public:
  // The repository containing `path` (walks up), or nullopt.
  static std::optional<Repo> discover(const fs::path& path);
  static Repo open(const fs::path& path);
  static Repo init(const fs::path& path);

  Repo(Repo&&) noexcept;
  Repo& operator=(Repo&&) noexcept;
  ~Repo();

  fs::path workdir() const;
  fs::path gitdir() const;  // the .git directory (hooks live under it)
  // Stages paths (relative to workdir) like `git add`.
  void add(const std::vector<std::string>& rel_paths);
  // Full hex id of HEAD's commit, or "" on an unborn branch.
  std::string head_commit() const;
  // True when tracked files differ from HEAD (untracked files ignored).
  bool dirty() const;
  // Textual diff of the working tree (tracked files) against HEAD, for hashing.
  std::string diff_head() const;
  // Resolves a revision (sha, branch, tag, HEAD~1) to a commit id.
  std::string resolve_commit(const std::string& rev) const;
  // Calls fn(path, blob content) for every blob in `rev` whose path matches pred.
  void for_each_blob(const std::string& rev, const std::function<bool(const std::string&)>& pred,
                     const std::function<void(const std::string&, const std::string&)>& fn) const;
  // Removes index entries at `rel` or under `rel/` (like `git rm --cached -r`); returns how many.
  size_t remove_from_index(const std::string& rel);
  // Paths in the index (repo-relative) that end with `suffix`.
  std::vector<std::string> index_paths_with_suffix(const std::string& suffix) const;
  // Every commit reachable from any local branch or tag.
  std::vector<std::string> all_local_commits() const;
  // Commits a tree made from the index (for tests and init); returns the commit id.
  std::string commit_index(const std::string& message);

  git_repository* raw() const { return repo_; }

 private:
  explicit Repo(git_repository* r) : repo_(r) {}
  git_repository* repo_ = nullptr;
};

}  // namespace xops::git
