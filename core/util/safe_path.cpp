#include "core/util/safe_path.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>

#include "core/error.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

[[noreturn]] void unsafe(const std::string& rel, const std::string& why) {
  throw runtime_error(fmt::format("refusing '{}': {}", rel, why),
                      "xops never follows a symlink or writes through one inside a tracked path; "
                      "remove or replace it, then run the command again");
}

// openat2 exists from Linux 5.6; remember when the kernel (or a seccomp filter) lacks it.
std::atomic<bool> g_no_openat2{false};

int openat2_beneath(int dirfd, const std::string& rel, int flags) {
  if (g_no_openat2.load(std::memory_order_relaxed)) return -2;
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == ENOSYS || errno == EPERM) {
      g_no_openat2 = true;
      return -2;
    }
    return -1;
  }
}

}  // namespace

std::string unsafe_path_reason(std::string_view rel) {
  if (rel.empty()) return "the path is empty";
  if (rel.find('\0') != std::string_view::npos) return "the path holds a NUL byte";
  if (rel.front() == '/') return "the path is absolute";
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    auto comp = rel.substr(start, end - start);
    if (comp.empty()) return "the path has an empty component";
    if (comp == ".") return "the path has a '.' component";
    if (comp == "..") return "the path has a '..' component";
    if (iequals(comp, ".git")) return "the path is inside .git/";
    if (iequals(comp, ".xops")) return "the path is inside .xops/";
    start = end + 1;
  }
  return {};
}

void require_safe_path(std::string_view rel, std::string_view origin) {
  auto why = unsafe_path_reason(rel);
  if (why.empty()) return;
  // Quote control characters so a crafted name cannot rewrite the terminal.
  std::string shown;
  for (unsigned char c : rel.substr(0, 200)) {
    if (c < 0x20 || c == 0x7f)
      shown += fmt::format("\\x{:02x}", c);
    else
      shown += static_cast<char>(c);
  }
  throw runtime_error(
      fmt::format("unsafe path '{}' in {}: {}", shown, origin, why),
      "this content was written by someone else: inspect the commit that brought it "
      "(git log -p) before using it");
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

const char* entry_kind_name(EntryKind k) {
  switch (k) {
    case EntryKind::Missing:
      return "missing";
    case EntryKind::Regular:
      return "a regular file";
    case EntryKind::Directory:
      return "a directory";
    case EntryKind::Symlink:
      return "a symlink";
    case EntryKind::Other:
      return "not a regular file (a device, FIFO or socket)";
  }
  return "?";
}

std::pair<std::string, std::string> split_parent(const std::string& rel) {
  auto slash = rel.rfind('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

SafeRoot::SafeRoot(const fs::path& root) : root_(root) {
  fd_ = UniqueFd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd_)
    throw runtime_error(fmt::format("cannot open {}: {}", root.string(), errno_text(errno)));
}

UniqueFd SafeRoot::open_dir(const std::string& rel, bool create) const {
  const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW;
  if (rel.empty()) return UniqueFd(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (auto why = unsafe_path_reason(rel); !why.empty()) unsafe(rel, why);
  if (!create) {
    int fd = openat2_beneath(fd_.get(), rel, flags);
    if (fd >= 0) return UniqueFd(fd);
    if (fd == -1 && errno == ENOENT) return UniqueFd();
    // -2 (no openat2) or ELOOP / ENOTDIR / EXDEV: the walk below says exactly what is wrong.
  }
  // The O_NOFOLLOW walk: each component opened relative to its parent's descriptor, so a
  // symlink swapped in between two steps is still never followed.
  UniqueFd cur(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  std::string walked;
  size_t start = 0;
  while (start < rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    std::string comp = rel.substr(start, end - start);
    walked += (walked.empty() ? "" : "/") + comp;
    int fd = ::openat(cur.get(), comp.c_str(), flags);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(cur.get(), comp.c_str(), 0755) != 0 && errno != EEXIST)
        throw runtime_error(
            fmt::format("cannot create {}: {}", (root_ / walked).string(), errno_text(errno)));
      fd = ::openat(cur.get(), comp.c_str(), flags);
    }
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT) return UniqueFd();
      struct stat st;
      if (::fstatat(cur.get(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode)) unsafe(walked, "it is a symlink where a directory belongs");
        if (!S_ISDIR(st.st_mode)) unsafe(walked, "it is not a directory");
      }
      throw runtime_error(
          fmt::format("cannot open {}: {}", (root_ / walked).string(), errno_text(err)));
    }
    cur = UniqueFd(fd);
    start = end + 1;
  }
  return cur;
}

EntryKind SafeRoot::kind(const std::string& rel, struct stat* st_out) const {
  auto [parent, leaf] = split_parent(rel);
  if (auto why = unsafe_path_reason(rel); !why.empty()) unsafe(rel, why);
  auto dir = open_dir(parent);
  if (!dir) return EntryKind::Missing;
  struct stat st;
  if (::fstatat(dir.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return EntryKind::Missing;
    throw runtime_error(
        fmt::format("cannot stat {}: {}", (root_ / rel).string(), errno_text(errno)));
  }
  if (st_out) *st_out = st;
  if (S_ISREG(st.st_mode)) return EntryKind::Regular;
  if (S_ISDIR(st.st_mode)) return EntryKind::Directory;
  if (S_ISLNK(st.st_mode)) return EntryKind::Symlink;
  return EntryKind::Other;
}

UniqueFd SafeRoot::open_regular(const std::string& rel, struct stat* st_out) const {
  if (auto why = unsafe_path_reason(rel); !why.empty()) unsafe(rel, why);
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
  const int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
  int fd = openat2_beneath(fd_.get(), rel, flags);
  if (fd == -1 && errno == ENOENT) return UniqueFd();  // openat2 answered: absent
  if (fd < 0) {  // no openat2, or a symlink / non-directory on the way: the walk says which
    auto [parent, leaf] = split_parent(rel);
    auto dir = open_dir(parent);  // throws on a symlinked parent
    if (!dir) return UniqueFd();
    fd = ::openat(dir.get(), leaf.c_str(), flags);
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT) return UniqueFd();
      if (err == ELOOP) unsafe(rel, "it is a symlink where a regular file belongs");
      throw runtime_error(
          fmt::format("cannot open {}: {}", (root_ / rel).string(), errno_text(err)));
    }
  }
  UniqueFd out(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0)
    throw runtime_error(
        fmt::format("cannot stat {}: {}", (root_ / rel).string(), errno_text(errno)));
  if (!S_ISREG(st.st_mode))
    unsafe(rel, fmt::format("it is {}, not a regular file",
                            entry_kind_name(S_ISDIR(st.st_mode) ? EntryKind::Directory
                                                                : EntryKind::Other)));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  if (st_out) *st_out = st;
  return out;
}

bool SafeRoot::remove(const std::string& rel) const {
  auto [parent, leaf] = split_parent(rel);
  if (auto why = unsafe_path_reason(rel); !why.empty()) unsafe(rel, why);
  auto dir = open_dir(parent);
  if (!dir) return false;
  if (::unlinkat(dir.get(), leaf.c_str(), 0) == 0) return true;
  if (errno == ENOENT) return false;
  throw runtime_error(
      fmt::format("cannot remove {}: {}", (root_ / rel).string(), errno_text(errno)));
}

}  // namespace xops
