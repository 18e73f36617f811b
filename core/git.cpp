#include "core/git.hpp"

#include <mutex>

#include "core/error.hpp"
#include "core/util/plugin.hpp"

namespace xops::git {

namespace {
Library& library() {
  static std::once_flag once;
  static Library* lib = nullptr;
  static std::string failure;
  std::call_once(once, [] {
    auto get = reinterpret_cast<Library* (*)(int)>(
        load_plugin_symbol("libxops_git.so", "XOPS_GIT_LIB", "xops_git_library", &failure));
    if (get && !(lib = get(kGitAbi))) failure = "libxops_git.so was built for another ABI";
  });
  if (!lib)
    throw runtime_error("cannot load the git backend: " + failure,
                        "keep libxops_git.so beside the xops binary (or set XOPS_GIT_LIB)");
  return *lib;
}
}  // namespace

std::optional<Repo> Repo::discover(const fs::path& path) {
  auto b = library().discover(path);
  if (!b) return std::nullopt;
  return Repo(std::move(b));
}
Repo Repo::open(const fs::path& path) { return Repo(library().open(path)); }
Repo Repo::init(const fs::path& path) { return Repo(library().init(path)); }

}  // namespace xops::git
