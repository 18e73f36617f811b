#pragma once
// The one place where paths that arrive in someone else's content (a pointer, a directory
// manifest, a git tree) are checked and then used. Two halves:
//  - unsafe_path_reason: the lexical rule. Relative, no empty / `.` / `..` components, nothing
//    under `.git` or `.xops` (any case), no NUL.
//  - SafeRoot: every filesystem operation beneath a workspace root without following a symlink
//    at any component (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it,
//    an O_NOFOLLOW walk otherwise), and regular files only.
// A violation throws an Error that names the path and why; callers check everything before
// they write anything.
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace xops {

namespace fs = std::filesystem;

// Why `rel` may not be used as a workspace path taken from untrusted content; "" when it may.
std::string unsafe_path_reason(std::string_view rel);
// Throws a runtime Error: "unsafe path 'rel' in ORIGIN: reason".
void require_safe_path(std::string_view rel, std::string_view origin);

// An owned file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_ = -1;
};

enum class EntryKind { Missing, Regular, Directory, Symlink, Other };
const char* entry_kind_name(EntryKind k);

class SafeRoot {
 public:
  explicit SafeRoot(const fs::path& root);
  const fs::path& path() const { return root_; }

  // The directory `rel` ("" = the root). Missing components are created when `create`;
  // otherwise an absent directory gives an empty fd. A symlink or non-directory on the way
  // throws.
  UniqueFd open_dir(const std::string& rel, bool create = false) const;
  // What `rel` is, without following a symlink at its last component (lstat beneath the
  // root). A symlink or non-directory among the parents throws.
  EntryKind kind(const std::string& rel, struct stat* st = nullptr) const;
  // A regular file, opened for reading (no symlink, FIFO or device is ever opened: a FIFO
  // would block and /dev/zero never ends). Empty fd when absent; anything else throws.
  UniqueFd open_regular(const std::string& rel, struct stat* st = nullptr) const;
  // Removes the entry `rel` itself (a symlink is removed, never followed); false when absent.
  bool remove(const std::string& rel) const;

 private:
  fs::path root_;
  UniqueFd fd_;
};

// "a/b/c" -> {"a/b", "c"}; "c" -> {"", "c"}.
std::pair<std::string, std::string> split_parent(const std::string& rel);

}  // namespace xops
