// The libgit2 side of core/plugins/git.hpp; built into libxops_git.so only.
#include "core/plugins/git.hpp"

#include <git2.h>

#include <cstdlib>
#include <exception>
#include <mutex>

#include "core/error.hpp"
#include "core/plugins/plugin.hpp"

namespace xops::git {

namespace {

void ensure_init() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

[[noreturn]] void fail(int rc, const std::string& what) {
  const git_error* e = git_error_last();
  std::string msg = e && e->message ? e->message : "unknown libgit2 error";
  std::string hint;
  if (rc == GIT_EOWNER)
    hint = "the repository is owned by another user; if you trust it run "
           "`git config --global --add safe.directory <dir>`";
  throw runtime_error(fmt::format("git: {}: {}", what, msg), hint);
}

void check(int rc, const std::string& what) {
  if (rc < 0) fail(rc, what);
}

template <typename T, void (*Free)(T*)>
struct Ptr {
  T* p = nullptr;
  ~Ptr() {
    if (p) Free(p);
  }
  T** out() { return &p; }
  T* get() const { return p; }
};

using Object = Ptr<git_object, git_object_free>;
using Commit = Ptr<git_commit, git_commit_free>;
using Tree = Ptr<git_tree, git_tree_free>;
using Index = Ptr<git_index, git_index_free>;
using Signature = Ptr<git_signature, git_signature_free>;
using Diff = Ptr<git_diff, git_diff_free>;
using Revwalk = Ptr<git_revwalk, git_revwalk_free>;
using Blob = Ptr<git_blob, git_blob_free>;


std::string oid_hex(const git_oid* id) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, id);
  return buf;
}

}  // namespace

class LibGit2Repo final : public Backend {
 public:
  explicit LibGit2Repo(git_repository* r) : repo_(r) {}
  ~LibGit2Repo() override { git_repository_free(repo_); }
  fs::path workdir() const override;
  fs::path gitdir() const override;
  void add(const std::vector<std::string>& rel_paths) override;
  std::string head_commit() const override;
  bool dirty() const override;
  std::string diff_head() const override;
  std::string resolve_commit(const std::string& rev) const override;
  void for_each_blob(const std::string& rev, const BlobPredicate& pred,
                     const BlobVisitor& fn) const override;
  size_t remove_from_index(const std::string& rel) override;
  std::vector<std::string> index_paths_with_suffix(const std::string& suffix) const override;
  std::vector<std::string> all_local_commits() const override;
  std::string commit_index(const std::string& message) override;
  std::vector<TagInfo> tags() const override;
  bool create_tag(const std::string& name, const std::string& commit, const std::string& message) override;
  bool is_shallow() const override { return git_repository_is_shallow(repo_) == 1; }
  void push_refs(const std::string& remote, const std::vector<std::string>& refspecs) override;

 private:
  git_repository* repo_;
};

class LibGit2Library final : public Library {
 public:
  std::unique_ptr<Backend> discover(const fs::path& path) override {
    ensure_init();
    git_buf buf = GIT_BUF_INIT;
    int rc = git_repository_discover(&buf, path.c_str(), 0, nullptr);
    if (rc == GIT_ENOTFOUND) return nullptr;
    check(rc, "discover repository at " + path.string());
    std::string found(buf.ptr, buf.size);
    git_buf_dispose(&buf);
    return open(found);
  }
  std::unique_ptr<Backend> open(const fs::path& path) override {
    ensure_init();
    git_repository* r = nullptr;
    check(git_repository_open(&r, path.c_str()), "open repository " + path.string());
    return std::make_unique<LibGit2Repo>(r);
  }
  std::unique_ptr<Backend> init(const fs::path& path) override {
    ensure_init();
    git_repository* r = nullptr;
    git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
    opts.flags = GIT_REPOSITORY_INIT_MKPATH;
    opts.initial_head = "main";
    check(git_repository_init_ext(&r, path.c_str(), &opts), "init repository " + path.string());
    return std::make_unique<LibGit2Repo>(r);
  }
};

fs::path LibGit2Repo::workdir() const {
  const char* w = git_repository_workdir(repo_);
  if (!w) throw precondition_error("git repository is bare; xops needs a working tree");
  return fs::path(w).lexically_normal();
}

fs::path LibGit2Repo::gitdir() const { return fs::path(git_repository_path(repo_)).lexically_normal(); }

void LibGit2Repo::add(const std::vector<std::string>& rel_paths) {
  Index idx;
  check(git_repository_index(idx.out(), repo_), "open index");
  // The repository caches its index: another Repo in this process (or another process) may
  // have written it since. Re-read it when the file changed, or a write would drop their entries.
  check(git_index_read(idx.get(), 0), "read index");
  for (const auto& p : rel_paths) check(git_index_add_bypath(idx.get(), p.c_str()), "stage " + p);
  check(git_index_write(idx.get()), "write index");
}

std::string LibGit2Repo::head_commit() const {
  git_oid id;
  int rc = git_reference_name_to_id(&id, repo_, "HEAD");
  if (rc == GIT_ENOTFOUND || rc == GIT_EUNBORNBRANCH) return "";
  check(rc, "read HEAD");
  return oid_hex(&id);
}

static bool head_tree(git_repository* repo, Tree& tree) {
  Object obj;
  int rc = git_revparse_single(obj.out(), repo, "HEAD^{tree}");
  if (rc == GIT_ENOTFOUND || rc == GIT_EUNBORNBRANCH) return false;
  check(rc, "read HEAD tree");
  tree.p = reinterpret_cast<git_tree*>(obj.p);
  obj.p = nullptr;
  return true;
}

bool LibGit2Repo::dirty() const {
  git_status_options opts = GIT_STATUS_OPTIONS_INIT;
  opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
  opts.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
  git_status_list* list = nullptr;
  check(git_status_list_new(&list, repo_, &opts), "read status");
  size_t n = git_status_list_entrycount(list);
  git_status_list_free(list);
  return n > 0;
}

std::string LibGit2Repo::diff_head() const {
  Tree tree;
  head_tree(repo_, tree);
  Diff diff;
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  check(git_diff_tree_to_workdir_with_index(diff.out(), repo_, tree.get(), &opts), "diff");
  git_buf buf = GIT_BUF_INIT;
  check(git_diff_to_buf(&buf, diff.get(), GIT_DIFF_FORMAT_PATCH), "format diff");
  std::string out(buf.ptr, buf.size);
  git_buf_dispose(&buf);
  return out;
}

std::string LibGit2Repo::resolve_commit(const std::string& rev) const {
  Object obj;
  int rc = git_revparse_single(obj.out(), repo_, (rev + "^{commit}").c_str());
  if (rc == GIT_ENOTFOUND || rc == GIT_EAMBIGUOUS || rc == GIT_EINVALIDSPEC)
    throw precondition_error(fmt::format("unknown git revision '{}'", rev),
                             "use a commit id, branch, tag or an expression like HEAD~1");
  check(rc, "resolve " + rev);
  return oid_hex(git_object_id(obj.get()));
}

// Pointer files are a few hundred bytes; anything far larger is not one.
constexpr size_t kMaxBlobBytes = 1 << 20;

void LibGit2Repo::for_each_blob(
    const std::string& rev, const std::function<bool(const std::string&)>& pred,
    const std::function<void(const std::string&, const std::string&)>& fn) const {
  Commit commit;
  git_oid id;
  check(git_oid_fromstr(&id, resolve_commit(rev).c_str()), "parse oid");
  check(git_commit_lookup(commit.out(), repo_, &id), "lookup commit");
  Tree tree;
  check(git_commit_tree(tree.out(), commit.get()), "read tree");
  struct Ctx {
    git_repository* repo;
    const BlobPredicate* pred;
    const BlobVisitor* fn;
    std::exception_ptr error;
  } ctx{repo_, &pred, &fn, nullptr};
  auto cb = [](const char* root, const git_tree_entry* e, void* payload) -> int {
    auto* c = static_cast<Ctx*>(payload);
    if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) return 0;
    // Exceptions must not unwind through libgit2's C frames: park them and stop the walk.
    try {
      std::string path = std::string(root) + git_tree_entry_name(e);
      if (!(*c->pred)(path)) return 0;
      // A committed symlink is no file content (its blob is the link's target text).
      if (git_tree_entry_filemode(e) == GIT_FILEMODE_LINK) return 0;
      // The blob comes from someone else's commit: bound its size before loading it.
      git_odb* odb = nullptr;
      check(git_repository_odb(&odb, c->repo), "open object database");
      size_t len = 0;
      git_object_t type;
      int hrc = git_odb_read_header(&len, &type, odb, git_tree_entry_id(e));
      git_odb_free(odb);
      check(hrc, "read blob header " + path);
      if (len > kMaxBlobBytes)
        throw Error(ErrorKind::Runtime,
                    fmt::format("{} in the git tree is {} bytes; xops reads such files only up to {} bytes",
                                path, len, kMaxBlobBytes),
                    "a pointer file is a few hundred bytes: inspect the commit that brought it");
      Blob blob;
      check(git_blob_lookup(blob.out(), c->repo, git_tree_entry_id(e)), "read blob " + path);
      std::string content(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                          static_cast<size_t>(git_blob_rawsize(blob.get())));
      (*c->fn)(path, content);
    } catch (...) {
      c->error = std::current_exception();
      return -1;
    }
    return 0;
  };
  int rc = git_tree_walk(tree.get(), GIT_TREEWALK_PRE, cb, &ctx);
  if (ctx.error) std::rethrow_exception(ctx.error);
  check(rc, "walk tree");
}

size_t LibGit2Repo::remove_from_index(const std::string& rel) {
  Index idx;
  check(git_repository_index(idx.out(), repo_), "open index");
  // The repository caches its index: another Repo in this process (or another process) may
  // have written it since. Re-read it when the file changed, or a write would drop their entries.
  check(git_index_read(idx.get(), 0), "read index");
  std::vector<std::string> doomed;
  size_t n = git_index_entrycount(idx.get());
  for (size_t i = 0; i < n; ++i) {
    std::string path = git_index_get_byindex(idx.get(), i)->path;
    if (path == rel || path.rfind(rel + "/", 0) == 0) doomed.push_back(path);
  }
  for (const auto& p : doomed) check(git_index_remove_bypath(idx.get(), p.c_str()), "unstage " + p);
  if (!doomed.empty()) check(git_index_write(idx.get()), "write index");
  return doomed.size();
}

std::vector<std::string> LibGit2Repo::index_paths_with_suffix(const std::string& suffix) const {
  Index idx;
  check(git_repository_index(idx.out(), repo_), "open index");
  // The repository caches its index: another Repo in this process (or another process) may
  // have written it since. Re-read it when the file changed, or a write would drop their entries.
  check(git_index_read(idx.get(), 0), "read index");
  std::vector<std::string> out;
  size_t n = git_index_entrycount(idx.get());
  for (size_t i = 0; i < n; ++i) {
    const git_index_entry* e = git_index_get_byindex(idx.get(), i);
    std::string path = e->path;
    if (path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(std::move(path));
  }
  return out;
}

std::vector<std::string> LibGit2Repo::all_local_commits() const {
  Revwalk walk;
  check(git_revwalk_new(walk.out(), repo_), "revwalk");
  int rc = git_revwalk_push_glob(walk.get(), "refs/heads/*");
  if (rc < 0 && rc != GIT_ENOTFOUND) check(rc, "walk branches");
  rc = git_revwalk_push_glob(walk.get(), "refs/tags/*");
  if (rc < 0 && rc != GIT_ENOTFOUND) check(rc, "walk tags");
  std::vector<std::string> out;
  git_oid id;
  while (git_revwalk_next(&id, walk.get()) == 0) out.push_back(oid_hex(&id));
  return out;
}

std::string LibGit2Repo::commit_index(const std::string& message) {
  Index idx;
  check(git_repository_index(idx.out(), repo_), "open index");
  // The repository caches its index: another Repo in this process (or another process) may
  // have written it since. Re-read it when the file changed, or a write would drop their entries.
  check(git_index_read(idx.get(), 0), "read index");
  git_oid tree_id, commit_id;
  check(git_index_write_tree(&tree_id, idx.get()), "write tree");
  Tree tree;
  check(git_tree_lookup(tree.out(), repo_, &tree_id), "lookup tree");
  Signature sig;
  if (git_signature_default(sig.out(), repo_) < 0)
    check(git_signature_now(sig.out(), "xops", "xops@localhost"), "signature");
  Commit parent;
  std::vector<const git_commit*> parents;
  auto head = head_commit();
  if (!head.empty()) {
    git_oid pid;
    git_oid_fromstr(&pid, head.c_str());
    check(git_commit_lookup(parent.out(), repo_, &pid), "lookup HEAD");
    parents.push_back(parent.get());
  }
  check(git_commit_create(&commit_id, repo_, "HEAD", sig.get(), sig.get(), nullptr,
                          message.c_str(), tree.get(), parents.size(), parents.data()),
        "commit");
  return oid_hex(&commit_id);
}

std::vector<TagInfo> LibGit2Repo::tags() const {
  // Each tag by the object id its ref holds, never looked up again by name: a crafted
  // packed-refs (an unsorted or over-long line) cannot hide the tags around it, and a tag
  // that cannot be read is skipped alone.
  std::vector<std::pair<std::string, git_oid>> refs;
  git_reference_iterator* it = nullptr;
  check(git_reference_iterator_glob_new(&it, repo_, "refs/tags/*"), "list tags");
  for (int failures = 0; failures < 1000;) {
    git_reference* ref = nullptr;
    int rc = git_reference_next(&ref, it);
    if (rc == GIT_ITEROVER) break;
    if (rc < 0) {  // one unreadable ref: skip it, keep the others
      ++failures;
      continue;
    }
    const git_oid* oid = git_reference_target(ref);
    if (oid) refs.emplace_back(std::string(git_reference_name(ref)).substr(10), *oid);
    git_reference_free(ref);
  }
  git_reference_iterator_free(it);
  std::vector<TagInfo> out;
  for (auto& [name, oid] : refs) {
    TagInfo t;
    t.name = name;
    Object obj;
    if (git_object_lookup(obj.out(), repo_, &oid, GIT_OBJECT_ANY) < 0) continue;
    if (git_object_type(obj.get()) == GIT_OBJECT_TAG) {
      auto* tag = reinterpret_cast<git_tag*>(obj.get());
      t.annotated = true;
      if (const git_signature* s = git_tag_tagger(tag)) {
        t.tagger_name = s->name ? s->name : "";
        t.tagger_email = s->email ? s->email : "";
        t.time = s->when.time;
      }
      t.message = git_tag_message(tag) ? git_tag_message(tag) : "";
    }
    Object commit;
    if (git_object_peel(commit.out(), obj.get(), GIT_OBJECT_COMMIT) < 0) continue;  // a tag of a blob
    t.target = oid_hex(git_object_id(commit.get()));
    out.push_back(std::move(t));
  }
  return out;
}

bool LibGit2Repo::create_tag(const std::string& name, const std::string& commit, const std::string& message) {
  git_oid id;
  check(git_oid_fromstr(&id, commit.c_str()), "commit id " + commit);
  Object target;
  check(git_object_lookup(target.out(), repo_, &id, GIT_OBJECT_COMMIT), "lookup " + commit);
  Signature sig;
  const char* n = std::getenv("GIT_COMMITTER_NAME");
  const char* e = std::getenv("GIT_COMMITTER_EMAIL");
  if (n && *n && e && *e) check(git_signature_now(sig.out(), n, e), "signature");
  else if (git_signature_default(sig.out(), repo_) < 0)
    check(git_signature_now(sig.out(), "xops", "xops@localhost"), "signature");
  git_oid tag_id;
  int rc = git_tag_create(&tag_id, repo_, name.c_str(), target.get(), sig.get(), message.c_str(), 0);
  if (rc == GIT_EEXISTS) return false;
  check(rc, "create tag " + name);
  return true;
}

namespace {
int agent_credentials(git_credential** out, const char*, const char* user, unsigned int allowed, void*) {
  if (allowed & GIT_CREDENTIAL_SSH_KEY) return git_credential_ssh_key_from_agent(out, user ? user : "git");
  return GIT_PASSTHROUGH;  // no stored secrets: anything else fails with libgit2's message
}
}  // namespace

void LibGit2Repo::push_refs(const std::string& remote_name, const std::vector<std::string>& refspecs) {
  git_remote* remote = nullptr;
  check(git_remote_lookup(&remote, repo_, remote_name.c_str()), "remote " + remote_name);
  std::vector<char*> specs;
  for (const auto& r : refspecs) specs.push_back(const_cast<char*>(r.c_str()));
  git_strarray arr{specs.data(), specs.size()};
  git_push_options opts;
  git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
  opts.callbacks.credentials = agent_credentials;
  int rc = git_remote_push(remote, &arr, &opts);
  git_remote_free(remote);
  check(rc, "push to " + remote_name);
}

}  // namespace xops::git

XOPS_PLUGIN_EXPORT xops::git::Library* xops_git_library(int abi) {
  static xops::git::LibGit2Library lib;
  return abi == xops::git::kGitAbi ? &lib : nullptr;
}

XOPS_PLUGIN_PROBE
