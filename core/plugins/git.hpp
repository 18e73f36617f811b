#pragma once
// Git through libgit2: only what xops needs, every failure wrapped in Error. libgit2 (and the
// dozen libraries it pulls in) lives in libxops_git.so, loaded on the first Repo call, so
// commands that never touch git start without it.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xops::git {

namespace fs = std::filesystem;

using BlobPredicate = std::function<bool(const std::string&)>;
using BlobVisitor = std::function<void(const std::string&, const std::string&)>;

// A tag as the registry reads it (gto's grammar lives in core/registry).
struct TagInfo {
  std::string name;
  std::string target;      // the commit it points at (peeled)
  bool annotated = false;  // lightweight tags carry no tagger or message
  std::string tagger_name, tagger_email;
  int64_t time = 0;  // tagger time, seconds since the epoch
  std::string message;
};

// What libxops_git.so implements; see Repo for what each method does.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual fs::path workdir() const = 0;
  virtual fs::path gitdir() const = 0;
  virtual void add(const std::vector<std::string>& rel_paths) = 0;
  virtual std::string head_commit() const = 0;
  virtual bool dirty() const = 0;
  virtual std::string diff_head() const = 0;
  virtual std::string resolve_commit(const std::string& rev) const = 0;
  virtual void for_each_blob(const std::string& rev, const BlobPredicate& pred,
                             const BlobVisitor& fn) const = 0;
  virtual size_t remove_from_index(const std::string& rel) = 0;
  virtual std::vector<std::string> index_paths_with_suffix(const std::string& suffix) const = 0;
  virtual std::vector<std::string> all_local_commits() const = 0;
  virtual std::string commit_index(const std::string& message) = 0;
  virtual std::vector<TagInfo> tags() const = 0;
  virtual bool create_tag(const std::string& name, const std::string& commit,
                          const std::string& message) = 0;
  virtual bool is_shallow() const = 0;
  virtual void push_refs(const std::string& remote, const std::vector<std::string>& refspecs) = 0;
};

class Library {
 public:
  virtual ~Library() = default;
  virtual std::unique_ptr<Backend> discover(const fs::path& path) = 0;  // null when none
  virtual std::unique_ptr<Backend> open(const fs::path& path) = 0;
  virtual std::unique_ptr<Backend> init(const fs::path& path) = 0;
};
inline constexpr int kGitAbi = 3;

class Repo {
 public:
  // The repository containing `path` (walks up), or nullopt.
  static std::optional<Repo> discover(const fs::path& path);
  static Repo open(const fs::path& path);
  static Repo init(const fs::path& path);

  fs::path workdir() const { return b_->workdir(); }
  fs::path gitdir() const { return b_->gitdir(); }  // the .git directory (hooks live under it)
  // Stages paths (relative to workdir) like `git add`.
  void add(const std::vector<std::string>& rel_paths) { b_->add(rel_paths); }
  // Full hex id of HEAD's commit, or "" on an unborn branch.
  std::string head_commit() const { return b_->head_commit(); }
  // True when tracked files differ from HEAD (untracked files ignored).
  bool dirty() const { return b_->dirty(); }
  // Textual diff of the working tree (tracked files) against HEAD, for hashing.
  std::string diff_head() const { return b_->diff_head(); }
  // Resolves a revision (sha, branch, tag, HEAD~1) to a commit id.
  std::string resolve_commit(const std::string& rev) const { return b_->resolve_commit(rev); }
  // Calls fn(path, blob content) for every blob in `rev` whose path matches pred.
  void for_each_blob(const std::string& rev, const BlobPredicate& pred,
                     const BlobVisitor& fn) const {
    b_->for_each_blob(rev, pred, fn);
  }
  // Removes index entries at `rel` or under `rel/` (like `git rm --cached -r`); returns how many.
  size_t remove_from_index(const std::string& rel) { return b_->remove_from_index(rel); }
  // Paths in the index (repo-relative) that end with `suffix`.
  std::vector<std::string> index_paths_with_suffix(const std::string& suffix) const {
    return b_->index_paths_with_suffix(suffix);
  }
  // Every commit reachable from any local branch or tag.
  std::vector<std::string> all_local_commits() const { return b_->all_local_commits(); }
  // Commits a tree made from the index (for tests and init); returns the commit id.
  std::string commit_index(const std::string& message) { return b_->commit_index(message); }
  // Every tag (refs/tags/*), annotated or not.
  std::vector<TagInfo> tags() const { return b_->tags(); }
  // Creates an annotated tag at `commit`, tagged by $GIT_COMMITTER_NAME/EMAIL, else user.name/
  // user.email. Never moves a tag: false (nothing written) when the name is taken, which is
  // how two racing promotions end with one winner.
  bool create_tag(const std::string& name, const std::string& commit, const std::string& message) {
    return b_->create_tag(name, commit, message);
  }
  // Pushes refspecs ("refs/tags/X:refs/tags/X") to a configured remote (ssh through the agent).
  void push_refs(const std::string& remote, const std::vector<std::string>& refspecs) {
    b_->push_refs(remote, refspecs);
  }
  // A shallow clone lacks history (and usually tags).
  bool is_shallow() const { return b_->is_shallow(); }

 private:
  explicit Repo(std::unique_ptr<Backend> b) : b_(std::move(b)) {}
  std::unique_ptr<Backend> b_;
};

}  // namespace xops::git

extern "C" xops::git::Library* xops_git_library(int abi);
