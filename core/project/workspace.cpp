#include "core/project/workspace.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/error.hpp"
#include "core/util/fs.hpp"

namespace xops {

std::optional<fs::path> Workspace::find_root(const fs::path& start) {
  std::error_code ec;
  fs::path dir = fs::absolute(start, ec).lexically_normal();
  if (ec) return std::nullopt;
  while (true) {
    if (fs::is_regular_file(dir / kProjectFile, ec)) return dir;
    auto parent = dir.parent_path();
    if (parent == dir || parent.empty()) return std::nullopt;
    dir = parent;
  }
}

Workspace Workspace::open(const fs::path& start, std::vector<std::string>* warnings) {
  auto root = find_root(start);
  if (!root)
    throw precondition_error(
        fmt::format("not an xops project (no {} in {} or any parent)", kProjectFile,
                    fs::absolute(start).lexically_normal().string()),
        "run `xops init` to create one, or use -C DIR to point at a project");
  Workspace ws;
  ws.root_ = *root;
  ws.config_ = load_project_config(*root / kProjectFile, warnings);
  return ws;
}

void Workspace::ensure_state_dirs() const {
  std::error_code ec;
  for (const auto& d : {state_dir(), objects_dir(), tmp_dir()}) {
    fs::create_directories(d, ec);
    if (ec) throw runtime_error(fmt::format("cannot create {}: {}", d.string(), ec.message()));
  }
}

WorkspaceLock::WorkspaceLock(const Workspace& ws, const char* name) {
  ws.ensure_state_dirs();
  auto path = ws.state_dir() / name;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw runtime_error(fmt::format("cannot open {}: {}", path.string(), errno_text(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    std::string holder;
    char buf[64] = {};
    if (::pread(fd_, buf, sizeof buf - 1, 0) > 0) holder = buf;
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    ::close(fd_);
    fd_ = -1;
    throw precondition_error(
        fmt::format("another xops process{} holds the {} lock {}",
                    holder.empty() ? "" : " (pid " + holder + ")",
                    std::string(name) == "lock" ? "workspace" : fs::path(name).stem().string(),
                    path.string()),
        "wait for it to finish and retry; the lock is released automatically when it exits");
  }
  auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    ssize_t ignored = ::pwrite(fd_, pid.data(), pid.size(), 0);
    (void)ignored;
  }
}

WorkspaceLock::~WorkspaceLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

}  // namespace xops
