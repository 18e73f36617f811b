#include "core/store/object_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/error.hpp"
#include "core/store/file_copy.hpp"
#include "core/store/sha256.hpp"
#include "core/util/fs.hpp"
#include "core/util/safe_path.hpp"

namespace xops {

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

}  // namespace

LinkMode parse_link_mode(const std::string& s) {
  if (s == "copy") return LinkMode::Copy;
  if (s == "hardlink") return LinkMode::Hardlink;
  if (s == "reflink") return LinkMode::Reflink;
  throw usage_error(fmt::format("unknown link mode '{}'", s), "use copy, hardlink or reflink");
}

ObjectStore::ObjectStore(fs::path objects_dir, fs::path tmp_dir)
    : objects_(std::move(objects_dir)), tmp_(std::move(tmp_dir)) {}

fs::path ObjectStore::path_of(const std::string& id) const {
  return objects_ / id.substr(0, 2) / id.substr(2);
}

bool ObjectStore::has(const std::string& id) const {
  struct stat st;
  return ::stat(path_of(id).c_str(), &st) == 0;
}

std::vector<std::string> ObjectStore::list() const {
  // readdir directly: this runs over every object on status and gc.
  std::vector<std::string> ids;
  DIR* top = ::opendir(objects_.c_str());
  if (!top) return ids;
  while (auto* d = ::readdir(top)) {
    if (std::strlen(d->d_name) != 2 || d->d_name[0] == '.') continue;
    int fd = ::openat(::dirfd(top), d->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) continue;
    DIR* sub = ::fdopendir(fd);
    if (!sub) {
      ::close(fd);
      continue;
    }
    while (auto* f = ::readdir(sub)) {
      if (std::strlen(f->d_name) != 62) continue;
      std::string id = std::string(d->d_name) + f->d_name;
      if (is_sha256_hex(id)) ids.push_back(std::move(id));
    }
    ::closedir(sub);
  }
  ::closedir(top);
  std::sort(ids.begin(), ids.end());
  return ids;
}

namespace {

// Temp objects of processes that are gone (killed mid-download, SIGKILL leaves no chance to
// clean up): removed the first time this process makes one, so they cannot pile up.
void remove_orphaned_temps(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    int pid = 0;
    if (std::sscanf(name.c_str(), "obj-%d-", &pid) != 1 || pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) fs::remove(it->path(), ec);
  }
}

}  // namespace

fs::path ObjectStore::new_temp() const {
  static std::atomic<uint64_t> counter{0};
  static std::once_flag swept;
  std::error_code ec;
  fs::create_directories(tmp_, ec);
  std::call_once(swept, [this] { remove_orphaned_temps(tmp_); });
  return tmp_ / fmt::format("obj-{}-{}", ::getpid(), counter++);
}

void ObjectStore::commit_temp(const fs::path& tmp, const std::string& id, bool* added) const {
  auto final_path = path_of(id);
  if (has(id)) {  // identical content is stored once
    ::unlink(tmp.c_str());
    if (added) *added = false;
    return;
  }
  std::error_code ec;
  fs::create_directories(final_path.parent_path(), ec);
  // Two threads (or processes) storing the same content at once: exactly one adds it. With
  // RENAME_NOREPLACE the loser sees EEXIST; filesystems without it fall back to rename.
  int rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && errno == EEXIST) {
    ::unlink(tmp.c_str());
    if (added) *added = false;
    return;
  }
  if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) rc = ::rename(tmp.c_str(), final_path.c_str());
  if (rc != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw runtime_error(fmt::format("cannot store object {}: {}", id, errno_text(err)));
  }
  if (added) *added = true;
}

namespace {
[[noreturn]] void changed_while_reading(const fs::path& src) {
  throw runtime_error(fmt::format("{} changed while it was being read", src.string()),
                      "wait until whatever writes it has finished, then run the command again");
}
bool same_version(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_size == b.st_size && mtime_ns(a) == mtime_ns(b);
}
}  // namespace

StoredObject ObjectStore::add_file(const fs::path& src, const ByteCallback& on_bytes, LinkMode mode) {
  Fd in;
  in.fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) throw runtime_error(fmt::format("cannot open {}: {}", src.string(), errno_text(errno)));
  struct stat before;
  ::fstat(in.fd, &before);
  if (mode == LinkMode::Hardlink) {
    auto id = sha256_fd(in.fd, on_bytes);
    struct stat after;
    if (::stat(src.c_str(), &after) != 0 || !same_version(before, after)) changed_while_reading(src);
    StoredObject r{id, static_cast<uint64_t>(before.st_size), false};
    if (has(id)) {
      // Share the existing object's inode instead of keeping a second copy.
      auto link_tmp = temp_path_beside(src);
      if (::link(path_of(id).c_str(), link_tmp.c_str()) == 0) {
        struct stat again;
        if (::stat(src.c_str(), &again) == 0 && same_version(before, again)) ::rename(link_tmp.c_str(), src.c_str());
        else ::unlink(link_tmp.c_str());
      }
      return r;
    }
    auto tmp = new_temp();
    if (::link(src.c_str(), tmp.c_str()) == 0) {
      ::chmod(tmp.c_str(), 0444);
      struct stat linked;
      if (::stat(tmp.c_str(), &linked) != 0 || !same_version(before, linked)) {
        ::unlink(tmp.c_str());
        changed_while_reading(src);
      }
      commit_temp(tmp, id, &r.added);
      return r;
    }
    // EXDEV / EPERM / EMLINK: fall through to a copy.
  }
  auto tmp = new_temp();
  Fd out;
  out.fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (out.fd < 0) throw runtime_error(fmt::format("cannot create {}: {}", tmp.string(), errno_text(errno)));
  std::string id;
  try {
    uint64_t size = static_cast<uint64_t>(before.st_size);
    if (size >= (8u << 20) && try_reflink(in.fd, out.fd))
      id = sha256_fd(out.fd, on_bytes);  // hash the clone itself: exactly what is stored
    else
      id = copy_and_hash(in.fd, size, out.fd, on_bytes);
    struct stat after_path;
    if (::stat(src.c_str(), &after_path) != 0 || !same_version(before, after_path)) changed_while_reading(src);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(out.fd);
  out.fd = -1;
  StoredObject r{id, static_cast<uint64_t>(before.st_size), false};
  commit_temp(tmp, id, &r.added);
  return r;
}

StoredObject ObjectStore::add_bytes(std::string_view data) {
  StoredObject r{sha256_hex(data), data.size(), false};
  if (has(r.id)) return r;
  auto tmp = new_temp();
  atomic_write_file(tmp, data, 0444);
  commit_temp(tmp, r.id, &r.added);
  return r;
}

std::string ObjectStore::read(const std::string& id) const {
  if (!has(id))
    throw precondition_error(fmt::format("object {} is not in the store", id.substr(0, 12)),
                             "run `xops track pull` to fetch it from a remote");
  return read_file(path_of(id));
}

void ObjectStore::import_verified(const fs::path& src, const std::string& id,
                                  const ByteCallback& on_bytes) {
  if (has(id)) return;
  Fd in;
  in.fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) throw runtime_error(fmt::format("cannot open {}: {}", src.string(), errno_text(errno)));
  struct stat st;
  ::fstat(in.fd, &st);
  auto tmp = new_temp();
  Fd out;
  out.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (out.fd < 0) throw runtime_error(fmt::format("cannot create {}: {}", tmp.string(), errno_text(errno)));
  std::string got;
  try {
    got = copy_and_hash(in.fd, static_cast<uint64_t>(st.st_size), out.fd, on_bytes);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(out.fd);
  out.fd = -1;
  if (got != id) {
    ::unlink(tmp.c_str());
    throw runtime_error(fmt::format("object {} from {} is corrupt (its content hashes to {})",
                                    id.substr(0, 12), src.string(), got.substr(0, 12)),
                        "run `xops track verify` where it came from");
  }
  commit_temp(tmp, id, nullptr);
}

void ObjectStore::adopt_verified(const fs::path& tmp, const std::string& id, const std::string& got,
                                 const std::string& from) {
  if (got != id) {
    ::unlink(tmp.c_str());
    throw runtime_error(fmt::format("object {} from {} is corrupt (its content hashes to {})",
                                    id.substr(0, 12), from, got.substr(0, 12)),
                        "run `xops track verify --remote` there, then pull again");
  }
  commit_temp(tmp, id, nullptr);
}

std::string ObjectStore::rehash(const std::string& id, const ByteCallback& on_bytes) const {
  return sha256_file(path_of(id), on_bytes);
}

void ObjectStore::materialize(const std::string& id, const SafeRoot& root, const std::string& rel,
                              LinkMode mode, bool executable) const {
  static std::atomic<uint64_t> counter{0};
  auto obj = path_of(id);
  Fd in;
  in.fd = ::open(obj.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0)
    throw precondition_error(fmt::format("object {} is not in the store", id.substr(0, 12)),
                             "run `xops track pull` to fetch it from a remote");
  struct stat st;
  ::fstat(in.fd, &st);
  // The parent is opened without following any symlink (created when missing); the file is
  // written there under a temp name and renamed over the leaf, which replaces a symlink at
  // the leaf instead of writing through it.
  auto [parent, leaf] = split_parent(rel);
  auto dir = root.open_dir(parent, true);
  auto tmp = fmt::format(".{}.tmp-{}-{}", leaf.substr(0, 200), ::getpid(), counter++);
  // Every byte that lands in the workspace is verified against the id first: a corrupt
  // object (a hard-linked file edited in place, a damaged disk) is never restored.
  auto corrupt = [&](const std::string& got) {
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    // Its bytes are not the content of `id`: drop it so that `pull` can fetch a good copy.
    // (A hard-linked workspace file keeps the edited bytes under its own name.)
    ::unlink(obj.c_str());
    return precondition_error(
        fmt::format("object {} in the store is corrupt (its content hashes to {}); {} was not written",
                    id.substr(0, 12), got.substr(0, 12), rel),
        "the corrupt copy was removed from the store: `xops track pull` fetches a good one. "
        "A file tracked with --link hardlink shares its bytes with the store: edit a copy, not the file");
  };
  bool done = false;
  if (mode == LinkMode::Hardlink) {
    auto got = sha256_fd(in.fd);
    if (got != id) throw corrupt(got);
    done = ::linkat(AT_FDCWD, obj.c_str(), dir.get(), tmp.c_str(), 0) == 0;
  }
  if (!done) {
    Fd out;
    out.fd = ::openat(dir.get(), tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      executable ? 0755 : 0644);
    if (out.fd < 0)
      throw runtime_error(fmt::format("cannot create {}: {}", (root.path() / tmp).string(), errno_text(errno)));
    std::string got;
    try {
      if (mode == LinkMode::Reflink && try_reflink(in.fd, out.fd)) got = sha256_fd(out.fd);
      else got = copy_and_hash(in.fd, static_cast<uint64_t>(st.st_size), out.fd, {});
      ::fchmod(out.fd, executable ? 0755 : 0644);
    } catch (...) {
      ::unlinkat(dir.get(), tmp.c_str(), 0);
      throw;
    }
    if (got != id) throw corrupt(got);
  }
  if (::renameat(dir.get(), tmp.c_str(), dir.get(), leaf.c_str()) != 0) {
    int err = errno;
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    throw runtime_error(fmt::format("cannot write {}: {}", (root.path() / rel).string(), errno_text(err)));
  }
}

void ObjectStore::remove(const std::string& id) {
  auto p = path_of(id);
  ::unlink(p.c_str());
  ::rmdir(p.parent_path().c_str());  // only succeeds when the prefix directory is empty
}

void ObjectStore::sync() const {
  int fd = ::open(objects_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::syncfs(fd);
  ::close(fd);
}

}  // namespace xops
