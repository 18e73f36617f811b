#include "core/app/init_project.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/plugins/git.hpp"
#include "core/project/config.hpp"
#include "core/project/workspace.hpp"
#include "core/store/pointer.hpp"
#include "core/templates.hpp"
#include "core/track/track.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {

// Each project's block carries its path in the repository ("." at the root), so that several
// projects of a monorepo keep one block each in the same hook.
std::string hook_begin(const std::string& rel) {
  return "# >>> xops hook " + rel + " >>>";
}
std::string hook_end(const std::string& rel) {
  return "# <<< xops hook " + rel + " <<<";
}
constexpr const char* kLegacyBegin = "# >>> xops hook >>>";  // written before per-project blocks
constexpr const char* kLegacyEnd = "# <<< xops hook <<<";
const char* kHookNames[] = {"pre-commit", "pre-push", "post-checkout"};

struct PlannedFile {
  std::string rel;
  std::string content;
  bool executable;
};

std::string substitute(std::string s, const std::string& name) {
  const std::string key = "{{name}}";
  for (size_t pos = 0; (pos = s.find(key, pos)) != std::string::npos; pos += name.size())
    s.replace(pos, key.size(), name);
  return s;
}

// templates/<tpl>/dot-github/x -> .github/x
std::string output_path(const std::string& rel) {
  std::string out;
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    std::string part =
        rel.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (part.rfind("dot-", 0) == 0) part = "." + part.substr(4);
    out += (out.empty() ? "" : "/") + part;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

std::vector<PlannedFile> plan_files(const std::string& tpl, const std::string& name) {
  std::vector<PlannedFile> files;
  for (const auto& f : embedded_templates()) {
    std::string path = f.path;
    for (const std::string& prefix : {std::string("common/"), tpl + "/"}) {
      if (path.rfind(prefix, 0) != 0) continue;
      files.push_back({output_path(path.substr(prefix.size())),
                       substitute(std::string(f.data, f.size), name), f.executable});
    }
  }
  return files;
}

std::string hook_body(const std::string& hook) {
  for (const auto& f : embedded_templates())
    if (std::string(f.path) == "hooks/" + hook) return std::string(f.data, f.size);
  throw runtime_error("internal: missing hook template " + hook);
}

// The project name, also the start of the llm template's artifact name (NAME-model): gto's
// name rule, so it can be registered — lowercase letters, digits and '-', ending in a letter
// or digit ("My_Project" -> "my-project").
std::string valid_name(const std::string& raw) {
  std::string s;
  for (char c : raw) {
    auto u = static_cast<unsigned char>(c);
    s += std::isalnum(u) && u < 0x80 ? static_cast<char>(std::tolower(u)) : '-';
  }
  auto first = s.find_first_not_of('-'), last = s.find_last_not_of('-');
  return first == std::string::npos ? "project" : s.substr(first, last - first + 1);
}

}  // namespace

HookResult install_hooks(const fs::path& project_root) {
  auto repo = git::Repo::discover(project_root);
  if (!repo)
    throw precondition_error(
        fmt::format("{} is not inside a git repository", project_root.string()),
        "run `git init` first");
  HookResult res;
  std::error_code ec;
  auto rel = fs::weakly_canonical(project_root, ec)
                 .lexically_relative(fs::weakly_canonical(repo->workdir(), ec))
                 .generic_string();
  if (rel.empty()) rel = ".";
  const std::string project = rel == "." ? "" : rel;
  const std::string relative_flag = rel == "." ? "" : "--relative='" + rel + "'";
  fs::path hooks_dir = repo->gitdir() / "hooks";
  fs::create_directories(hooks_dir, ec);
  for (const char* hook : kHookNames) {
    fs::path target = hooks_dir / hook;
    auto body = hook_body(hook);
    for (auto [key, value] : {std::pair<std::string, std::string>{"{{project}}", project},
                              {"{{relative}}", relative_flag}})
      for (size_t pos = 0; (pos = body.find(key, pos)) != std::string::npos; pos += value.size())
        body.replace(pos, key.size(), value);
    auto begin = hook_begin(rel), end = hook_end(rel);
    std::string block = begin + "\n" + body + end + "\n";
    if (!fs::exists(target, ec)) {
      atomic_write_file(target, "#!/bin/sh\n" + block, 0755);
      res.created.push_back(target);
      res.hooks.push_back(hook);
      continue;
    }
    std::string existing = read_file(target);
    // Ours already (this project's block, or the root's legacy block): refresh it in place.
    for (auto [b_marker, e_marker] :
         {std::pair<std::string, std::string>{begin, end},
          {rel == "." ? kLegacyBegin : "", rel == "." ? kLegacyEnd : ""}}) {
      if (b_marker.empty()) continue;
      auto b = existing.find(b_marker), e = existing.find(e_marker);
      if (b == std::string::npos || e == std::string::npos || e < b) continue;
      existing.replace(b, e + e_marker.size() + 1 - b, block);
      atomic_write_file(target, existing, 0755);
      res.hooks.push_back(hook);
      block.clear();
      break;
    }
    if (block.empty()) continue;
    bool shell = existing.rfind("#!/bin/sh", 0) == 0 || existing.rfind("#!/bin/bash", 0) == 0 ||
                 existing.rfind("#!/usr/bin/env bash", 0) == 0 ||
                 existing.rfind("#!/usr/bin/env sh", 0) == 0;
    if (!shell) {
      res.warnings.push_back(
          fmt::format("existing {} hook is not a shell script; left it alone (call `xops -C {} "
                      "track ...` from it by hand)",
                      hook, project_root.string()));
      continue;
    }
    if (!existing.empty() && existing.back() != '\n') existing += '\n';
    atomic_write_file(target, existing + block, 0755);
    res.hooks.push_back(std::string(hook) + " (appended)");
  }
  return res;
}

std::vector<std::string> template_names() {
  std::set<std::string> names;
  for (const auto& f : embedded_templates()) {
    std::string p = f.path;
    auto top = p.substr(0, p.find('/'));
    if (top != "common" && top != "hooks") names.insert(top);
  }
  return {names.begin(), names.end()};
}

InitResult init_project(const InitOptions& opts) {
  auto names = template_names();
  if (std::find(names.begin(), names.end(), opts.template_name) == names.end())
    throw usage_error(fmt::format("unknown template '{}'", opts.template_name),
                      fmt::format("available templates: {}", fmt::join(names, ", ")));

  std::error_code ec;
  fs::path root = fs::absolute(opts.dir.empty() ? fs::path(".") : opts.dir).lexically_normal();
  if (root.filename().empty()) root = root.parent_path();
  if (fs::exists(root, ec) && !fs::is_directory(root, ec))
    throw precondition_error(fmt::format("{} exists and is not a directory", root.string()));

  InitResult res;
  res.root = root;
  res.template_name = opts.template_name;
  res.name = valid_name(opts.name.empty() ? root.filename().string() : opts.name);

  if (fs::exists(root / kProjectFile, ec) && !opts.force)
    throw precondition_error(
        fmt::format("{} is already an xops project ({} exists)", root.string(), kProjectFile),
        "use --force to rewrite the files xops owns (your other files are left alone)");
  if (auto outer = Workspace::find_root(root.parent_path()); outer && !opts.force)
    res.warnings.push_back(
        fmt::format("creating a project inside another project at {}", outer->string()));

  // Everything is planned and rendered in memory first, then written; on failure the files
  // and directories created by this call are removed again.
  auto files = plan_files(opts.template_name, res.name);
  std::vector<fs::path> created;
  bool created_root = !fs::exists(root, ec);
  try {
    fs::create_directories(root, ec);
    if (ec) throw runtime_error(fmt::format("cannot create {}: {}", root.string(), ec.message()));

    auto repo = git::Repo::discover(root);
    if (!repo) {
      repo = git::Repo::init(root);
      res.git_initialized = true;
    }

    // A project in a subdirectory of a repository: CI files go where the forge reads them,
    // the repository's root, named after the project and running its check from there.
    auto proj_rel = fs::weakly_canonical(root, ec)
                        .lexically_relative(fs::weakly_canonical(repo->workdir(), ec))
                        .generic_string();
    bool nested = !proj_rel.empty() && proj_rel != ".";
    for (auto& f : files) {
      if (!nested || f.rel.rfind(".github/", 0) != 0) continue;
      auto at_root = repo->workdir() / ".github/workflows" / ("xops-" + res.name + ".yml");
      f.rel = at_root.lexically_relative(root).generic_string();
      for (size_t pos = 0; (pos = f.content.find("./ci/", pos)) != std::string::npos;) {
        f.content.replace(pos, 5, "./" + proj_rel + "/ci/");
        pos += proj_rel.size() + 7;
      }
    }
    for (const auto& f : files) {
      fs::path target = (root / f.rel).lexically_normal();
      bool exists = fs::exists(target, ec);
      // Without --force nothing pre-existing is touched; with it, template files are rewritten.
      if (exists && !opts.force) {
        res.kept.push_back(f.rel);
        continue;
      }
      std::vector<fs::path> new_dirs;  // deepest first
      for (auto d = target.parent_path(); !fs::exists(d, ec); d = d.parent_path())
        new_dirs.push_back(d);
      created.insert(created.end(), new_dirs.rbegin(), new_dirs.rend());
      fs::create_directories(target.parent_path(), ec);
      if (ec)
        throw runtime_error(
            fmt::format("cannot create {}: {}", target.parent_path().string(), ec.message()));
      if (!exists) created.push_back(target);
      atomic_write_file(target, f.content, f.executable ? 0755 : 0644);
      res.written.push_back(f.rel);
    }

    // Validate what we wrote, so a broken template can never produce a broken project.
    std::vector<std::string> ignored;
    load_project_config(root / kProjectFile, &ignored);

    if (opts.hooks) {
      auto h = install_hooks(root);
      res.hooks = h.hooks;
      res.warnings.insert(res.warnings.end(), h.warnings.begin(), h.warnings.end());
      created.insert(created.end(), h.created.begin(), h.created.end());
    }
    // Data that ships with the template goes into the store, not into git.
    std::vector<std::string> data;
    for (const auto& rel : res.written)
      if ((rel.rfind("data/", 0) == 0 || rel.rfind("models/", 0) == 0) &&
          fs::path(rel).filename() != ".gitkeep")
        data.push_back(rel);
    if (!data.empty()) {
      if (!fs::exists(root / ".xops", ec)) created.push_back(root / ".xops");
      AddOptions add;
      for (const auto& rel : data) {
        add.paths.push_back((root / rel).string());
        created.push_back(root / (rel + kPointerSuffix));
        auto gi = root / fs::path(rel).parent_path() / ".gitignore";
        if (!fs::exists(gi, ec)) created.push_back(gi);
      }
      std::vector<std::string> ignored_warnings;
      track_add(Workspace::open(root, &ignored_warnings), add, {});
      res.tracked = data;
    }
  } catch (...) {
    for (auto it = created.rbegin(); it != created.rend(); ++it) fs::remove_all(*it, ec);
    if (created_root)
      fs::remove_all(root, ec);
    else if (res.git_initialized)
      fs::remove_all(root / ".git", ec);
    throw;
  }
  return res;
}

}  // namespace xops
