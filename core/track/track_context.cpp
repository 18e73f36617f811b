#include "core/track/track_context.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <memory>
#include <mutex>

#include "core/error.hpp"
#include "core/project/config.hpp"
#include "core/store/sha256.hpp"
#include "core/tracking/tracking_db.hpp"
#include "core/util/fs.hpp"
#include "core/util/parallel.hpp"
#include "core/util/strings.hpp"

namespace xops {

namespace {

// The track verbs use the database only as a cache (stat cache, directory summaries): a
// corrupt .xops/xops.db must not block status, checkout, verify or push/pull. Those fall
// back to an in-memory cache; gc, which must see what runs reference, does not.
db::Database open_db(const Workspace& ws, bool cache_only) {
  ws.ensure_state_dirs();
  try {
    return db::Database::open(ws.db_path());
  } catch (const Error&) {
    if (!cache_only) throw;
    return db::Database::open(":memory:");
  }
}

git::Repo open_repo(const Workspace& ws) {
  auto repo = git::Repo::discover(ws.root());
  if (!repo)
    throw precondition_error(fmt::format("{} is not inside a git repository", ws.root().string()),
                             "run `git init` (or `xops init`) first: pointers are versioned by git");
  return std::move(*repo);
}

}  // namespace

TrackContext::TrackContext(const Workspace& w, bool db_cache_only)
    : ws(w),
      store(w.objects_dir(), w.tmp_dir()),
      db(open_db(w, db_cache_only)),
      cache(db),
      repo(open_repo(w)),
      root(w.root()) {
  auto rel = w.root().lexically_relative(repo.workdir()).generic_string();
  prefix = (rel.empty() || rel == ".") ? "" : rel + "/";
}

const RemoteConfig& pick_remote(const Workspace& ws, const std::string& name) {
  const auto& cfg = ws.config();
  if (!name.empty()) {
    if (auto* r = cfg.remote(name)) return *r;
    throw usage_error(fmt::format("no remote named '{}' in {}", name, cfg.file.string()),
                      "declare it under `remotes:` in xops.yaml");
  }
  if (auto* r = cfg.default_remote()) return *r;
  throw precondition_error(cfg.remotes.empty() ? "no remote is configured"
                                               : "several remotes and none is marked default",
                           "add one under `remotes:` in xops.yaml (url: DIRECTORY, default: true) "
                           "or pass --remote NAME");
}

std::vector<std::string> TrackContext::lexical_rels(const std::vector<std::string>& paths) const {
  std::vector<std::string> rels;
  for (const auto& p : paths) {
    auto abs = fs::absolute(p).lexically_normal();
    auto rel = abs.lexically_relative(ws.root()).generic_string();
    if (rel.empty() || rel.rfind("..", 0) == 0) throw usage_error(fmt::format("{} is outside the workspace", p));
    if (ends_with(rel, kPointerSuffix)) rel.resize(rel.size() - std::string(kPointerSuffix).size());
    if (!rel.empty() && rel.back() == '/') rel.pop_back();
    rels.push_back(rel);
  }
  return rels;
}

std::string TrackContext::to_rel(const std::string& user_path) const {
  fs::path p = fs::absolute(user_path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "dir/" -> "dir"
  std::error_code ec;
  // Resolve symlinks in the parent only: the last component may itself be a symlink.
  fs::path resolved = fs::weakly_canonical(p.parent_path(), ec) / p.filename();
  auto lexical = resolved.lexically_relative(fs::weakly_canonical(ws.root(), ec)).generic_string();
  if (lexical.empty() || lexical == "." || lexical.rfind("..", 0) == 0)
    throw usage_error(fmt::format("{} is outside the workspace {}", user_path, ws.root().string()),
                      "track files that live under the directory holding xops.yaml");
  auto first = lexical.substr(0, lexical.find('/'));
  if (first == ".xops" || first == ".git")
    throw usage_error(fmt::format("{} is inside {}/, which xops and git manage", user_path, first));
  if (ends_with(lexical, kPointerSuffix))
    throw usage_error(fmt::format("{} is a pointer file", user_path),
                      "name the data file itself, without the .xops suffix");
  if (lexical == kProjectFile) throw usage_error("xops.yaml is versioned by git itself");
  auto st = fs::symlink_status(resolved, ec);
  if (ec || !fs::exists(st))
    throw usage_error(fmt::format("{} does not exist", user_path));
  if (fs::is_symlink(st)) {
    auto target = fs::weakly_canonical(resolved, ec);
    if (relative_inside(target, ws.root()).empty())
      throw usage_error(fmt::format("{} is a symlink that points outside the workspace ({})",
                                    user_path, target.string()),
                        "copy the data into the workspace, or track it where it lives");
  }
  return lexical;
}

// Every pointer path passes the untrusted-path rule before anything uses it: a committed
// `.git.xops` or a tree entry `..` never reaches the filesystem.
static std::vector<PointerRef> parse_refs(
    const std::vector<std::pair<std::string, std::string>>& items, const std::string& origin) {
  std::vector<PointerRef> out;
  for (const auto& [rel_ptr, text] : items) {
    PointerRef r;
    r.rel = rel_ptr.substr(0, rel_ptr.size() - std::string(kPointerSuffix).size());
    require_safe_path(r.rel, "the pointer " + rel_ptr + " (" + origin + ")");
    if (r.rel == kProjectFile || ends_with(r.rel, kPointerSuffix))
      throw runtime_error(fmt::format("unsafe path '{}' in the pointer {} ({}): it would overwrite {}", r.rel,
                                      rel_ptr, origin, r.rel == kProjectFile ? "the project file" : "a pointer"),
                          "inspect the commit that brought it (git log -p) before using it");
    r.ptr = parse_pointer(text, rel_ptr);
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const PointerRef& a, const PointerRef& b) { return a.rel < b.rel; });
  return out;
}

std::vector<PointerRef> TrackContext::pointers_in_index() const {
  std::vector<std::pair<std::string, std::string>> items;
  for (const auto& p : repo.index_paths_with_suffix(kPointerSuffix)) {
    if (p.rfind(prefix, 0) != 0) continue;
    auto rel = p.substr(prefix.size());
    require_safe_path(rel, "the git index");
    auto fd = root.open_regular(rel);  // a committed symlink named x.xops is refused here
    if (!fd) continue;                  // deleted in the worktree, not yet in git
    // Bounded like pointer blobs from git trees: a pointer is a few hundred bytes.
    items.emplace_back(rel, read_fd_limited(fd.get(), 1 << 20, "a pointer file", rel));
  }
  return parse_refs(items, "the git index");
}

std::vector<PointerRef> TrackContext::pointers_at(const std::string& rev) const {
  std::vector<std::pair<std::string, std::string>> items;
  repo.for_each_blob(
      rev,
      [&](const std::string& p) { return p.rfind(prefix, 0) == 0 && ends_with(p, kPointerSuffix); },
      [&](const std::string& p, const std::string& content) {
        items.emplace_back(p.substr(prefix.size()), content);
      });
  return parse_refs(items, "revision " + rev);
}

std::vector<PointerRef> TrackContext::filter(std::vector<PointerRef> ptrs,
                                             const std::vector<std::string>& rels) {
  if (rels.empty()) return ptrs;
  std::vector<PointerRef> out;
  for (auto& p : ptrs)
    for (const auto& r : rels)
      if (p.rel == r || p.rel.rfind(r + "/", 0) == 0) {
        out.push_back(std::move(p));
        break;
      }
  return out;
}

std::string TrackContext::file_hash(const std::string& rel, uint64_t* hashed, const ByteCallback& cb,
                                    struct stat* st_out) {
  struct stat st;
  auto fd = root.open_regular(rel, &st);
  if (!fd) throw runtime_error(fmt::format("{} does not exist", rel));
  if (st_out) *st_out = st;
  if (auto h = cache.lookup(rel, st)) {
    if (cb) cb(static_cast<uint64_t>(st.st_size));
    return *h;
  }
  return hash_open(rel, fd.get(), st, hashed, cb);
}

std::string TrackContext::file_hash_stat(const std::string& rel, const struct stat& before,
                                         uint64_t* hashed, const ByteCallback& cb) {
  if (auto h = cache.lookup(rel, before)) {
    if (cb) cb(static_cast<uint64_t>(before.st_size));
    return *h;
  }
  struct stat st;
  auto fd = root.open_regular(rel, &st);
  if (!fd) throw runtime_error(fmt::format("{} disappeared while it was being read", rel));
  return hash_open(rel, fd.get(), st, hashed, cb);
}

std::string TrackContext::hash_open(const std::string& rel, int fd, const struct stat& before,
                                    uint64_t* hashed, const ByteCallback& cb) {
  auto h = sha256_fd(fd, cb);
  struct stat after;
  if (::fstat(fd, &after) == 0 && after.st_size == before.st_size &&
      after.st_mtim.tv_nsec == before.st_mtim.tv_nsec && after.st_mtim.tv_sec == before.st_mtim.tv_sec)
    cache.put(rel, after, h);
  if (hashed) *hashed += static_cast<uint64_t>(before.st_size);
  return h;
}

namespace {
void walk(int dirfd, const std::string& prefix, const std::string& shown, std::vector<ListedFile>& out,
          std::vector<std::string>* others) {
  DIR* d = ::fdopendir(dirfd);
  if (!d) {
    ::close(dirfd);
    throw runtime_error(fmt::format("cannot list {}: {}", shown, errno_text(errno)));
  }
  std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // raced away
    std::string rel = prefix.empty() ? name : prefix + "/" + name;
    if (S_ISDIR(st.st_mode)) {
      if (name == ".git" || name == ".xops") continue;
      // O_NOFOLLOW: a directory swapped for a symlink since the fstatat is not entered.
      int sub = ::openat(::dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) walk(sub, rel, shown + "/" + name, out, others);
    } else if (S_ISREG(st.st_mode)) {
      out.push_back({rel, st});
    } else if (others) {
      others->push_back(rel);
    } else if (S_ISLNK(st.st_mode)) {
      throw usage_error(fmt::format("{}/{} is a symlink: xops versions regular files only", shown, name),
                        "replace it with the file it points to, or remove it");
    }
  }
}
}  // namespace

std::vector<ListedFile> list_files_stat(const SafeRoot& root, const std::string& rel,
                                        std::vector<std::string>* others) {
  auto fd = root.open_dir(rel);
  if (!fd) throw runtime_error(fmt::format("cannot open {}: no such directory", rel));
  std::vector<ListedFile> out;
  out.reserve(1024);
  walk(fd.release(), "", rel, out, others);
  std::sort(out.begin(), out.end(), [](const ListedFile& a, const ListedFile& b) { return a.rel < b.rel; });
  if (others) std::sort(others->begin(), others->end());
  return out;
}

std::vector<ManifestEntry> TrackContext::scan_dir(const std::string& rel, int jobs, uint64_t* hashed,
                                                  const ByteCallback& cb) {
  return hash_listed(rel, list_files_stat(root, rel), jobs, hashed, cb);
}

std::vector<ManifestEntry> TrackContext::hash_listed(const std::string& rel, const std::vector<ListedFile>& files,
                                                     int jobs, uint64_t* hashed, const ByteCallback& cb) {
  std::vector<ManifestEntry> entries(files.size());
  std::atomic<uint64_t> hashed_total{0};
  parallel_for(files.size(), jobs, [&](size_t i) {
    uint64_t h = 0;
    const auto& st = files[i].st;
    entries[i].path = files[i].rel;
    entries[i].sha256 = file_hash_stat(rel + "/" + files[i].rel, st, &h, cb);
    entries[i].size = static_cast<uint64_t>(st.st_size);
    entries[i].executable = (st.st_mode & S_IXUSR) != 0;
    hashed_total += h;
  });
  if (hashed) *hashed += hashed_total;
  return entries;
}

std::string stat_digest(const std::vector<ListedFile>& files) {
  Sha256 h;
  for (const auto& f : files) {
    int64_t v[7] = {static_cast<int64_t>(f.st.st_dev), static_cast<int64_t>(f.st.st_ino),
                    static_cast<int64_t>(f.st.st_size), static_cast<int64_t>(f.st.st_mtim.tv_sec),
                    static_cast<int64_t>(f.st.st_mtim.tv_nsec), static_cast<int64_t>(f.st.st_ctim.tv_sec),
                    static_cast<int64_t>(f.st.st_ctim.tv_nsec) ^ (static_cast<int64_t>(f.st.st_mode) << 32)};
    h.update(f.rel.data(), f.rel.size() + 1);  // with the terminating NUL as a separator
    h.update(v, sizeof v);
  }
  return h.hex();
}

std::optional<TrackContext::PathHash> TrackContext::hash_path(const std::string& rel, int jobs) {
  struct stat st;
  auto kind = root.kind(rel, &st);
  if (kind == EntryKind::Missing) return std::nullopt;
  PathHash h;
  if (kind == EntryKind::Regular) {
    h.sha256 = file_hash_stat(rel, st, nullptr);
    h.size = static_cast<uint64_t>(st.st_size);
    h.files = 1;
    return h;
  }
  if (kind != EntryKind::Directory)
    throw runtime_error(fmt::format("{} is {}: not followed", rel, entry_kind_name(kind)),
                        "a pipeline reads and writes regular files and directories");
  auto files = list_files_stat(root, rel);
  auto digest = stat_digest(files);
  h.is_dir = true;
  h.files = files.size();
  for (const auto& f : files) h.size += static_cast<uint64_t>(f.st.st_size);
  // A directory whose files' stats are those of an earlier scan has that scan's manifest.
  if (auto s = dir_summary(rel); s && s->digest == digest) {
    h.sha256 = s->manifest;
    return h;
  }
  h.sha256 = sha256_of_manifest(hash_listed(rel, files, jobs, nullptr));
  save_dir_summary(rel, {digest, h.sha256, false});  // not known to be in the store
  return h;
}

std::optional<TrackContext::DirSummary> TrackContext::dir_summary(const std::string& rel) {
  auto st = db.prepare("SELECT digest, manifest, complete FROM dir_summary WHERE path = ?");
  st.bind(1, rel);
  if (!st.step()) return std::nullopt;
  return DirSummary{st.text(0), st.text(1), st.int64(2) != 0};
}

void TrackContext::save_dir_summary(const std::string& rel, const DirSummary& s) {
  auto st = db.prepare("INSERT OR REPLACE INTO dir_summary(path, digest, manifest, complete) VALUES (?,?,?,?)");
  st.bind(1, rel).bind(2, s.digest).bind(3, s.manifest).bind(4, int64_t{s.complete}).step();
}

void TrackContext::collect_ids(const Pointer& p, std::set<std::string>& out,
                               std::vector<std::string>* unexpanded) const {
  out.insert(p.sha256);
  if (!p.is_dir) return;
  if (!store.has(p.sha256)) {
    if (unexpanded) unexpanded->push_back(p.sha256);
    return;
  }
  for (const auto& e : parse_manifest(store.read(p.sha256), p.sha256)) out.insert(e.sha256);
}

std::set<std::string> TrackContext::db_referenced_ids(bool with_inputs) {
  std::set<std::string> ids, raw;
  auto collect = [&](db::Database& d) {
    auto st = d.prepare(with_inputs ? "SELECT sha256 FROM artifacts UNION SELECT sha256 FROM inputs"
                                    : "SELECT sha256 FROM artifacts");
    while (st.step()) raw.insert(st.text(0));
  };
  collect(db);
  // Runs recorded in a team database (tracking: postgresql://…) reference objects too; when it
  // cannot be read, that is an error: gc must not delete what it could not check.
  if (auto loc = tracking_location(ws); loc.url != ws.db_path().string()) {
    auto tracking = db::Database::open_url(loc.url);
    collect(tracking);
  }
  for (const auto& id : raw) {
    if (!is_sha256_hex(id)) continue;
    ids.insert(id);
    // A directory artifact is a manifest: keep what it lists too.
    if (!store.has(id)) continue;
    std::string head(32, '\0');
    if (FILE* f = std::fopen(store.path_of(id).c_str(), "rb")) {
      head.resize(std::fread(head.data(), 1, head.size(), f));
      std::fclose(f);
    }
    if (head.rfind("{\"version\":1,\"files\":[", 0) != 0) continue;
    try {
      for (const auto& e : parse_manifest(store.read(id), id)) ids.insert(e.sha256);
    } catch (const Error&) {
      // Not a manifest after all (a file whose text looks like one): the id itself is kept.
    }
  }
  return ids;
}

std::set<std::string> TrackContext::referenced_ids(bool workspace_only,
                                                   std::vector<std::string>* unexpanded) const {
  std::set<std::string> ids;
  for (const auto& r : pointers_in_index()) collect_ids(r.ptr, ids, unexpanded);
  std::vector<std::string> commits;
  if (workspace_only) {
    auto head = repo.head_commit();
    if (!head.empty()) commits.push_back(head);
  } else {
    commits = repo.all_local_commits();
  }
  std::set<std::string> seen_pointer_text;  // the same pointer in many commits: parse once
  for (const auto& c : commits) {
    repo.for_each_blob(
        c,
        [&](const std::string& p) { return p.rfind(prefix, 0) == 0 && ends_with(p, kPointerSuffix); },
        [&](const std::string& p, const std::string& content) {
          if (!seen_pointer_text.insert(content).second) return;
          collect_ids(parse_pointer(content, p + " in " + c.substr(0, 12)), ids, unexpanded);
        });
  }
  return ids;
}

}  // namespace xops
