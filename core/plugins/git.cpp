#include "core/plugins/git.hpp"

#include "core/error.hpp"
#include "core/plugins/plugin.hpp"

namespace xops::git {

namespace {
Library& library() {
  return require_plugin<Library>("libxops_git.so", "XOPS_GIT_LIB", "xops_git_library", kGitAbi,
                                 "git backend");
}
}  // namespace

std::optional<Repo> Repo::discover(const fs::path& path) {
  auto b = library().discover(path);
  if (!b) return std::nullopt;
  return Repo(std::move(b));
}
Repo Repo::open(const fs::path& path) {
  return Repo(library().open(path));
}
Repo Repo::init(const fs::path& path) {
  return Repo(library().init(path));
}

}  // namespace xops::git
