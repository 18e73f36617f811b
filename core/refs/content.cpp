#include "core/refs/content.hpp"

#include <unistd.h>

#include "core/error.hpp"
#include "core/project/workspace.hpp"
#include "core/store/object_store.hpp"
#include "core/store/sha256.hpp"
#include "core/util/safe_path.hpp"

namespace xops::registry {

namespace fs = std::filesystem;

namespace {

std::optional<Pointer> find_pointer(const TrackContext& tc, const std::string& rel,
                                    const std::string& commit) {
  for (auto& p : tc.pointers_at(commit))
    if (p.rel == rel) return p.ptr;
  return std::nullopt;
}

}  // namespace

git::Repo repo_of(const Workspace& ws) {
  auto repo = git::Repo::discover(ws.root());
  if (!repo)
    throw precondition_error("the registry needs a git repository",
                             "run `git init` (or `xops init`)");
  return std::move(*repo);
}

std::string short_sha(const std::string& c) {
  return c.substr(0, 12);
}

// An artifact's content at a commit: its pointer when tracked by xops, else the file itself
// when committed to git directly (prompts and configs usually are); bytes are set then.
std::optional<Content> content_at(const TrackContext& tc, const ArtifactConfig& a,
                                  const std::string& commit) {
  if (auto p = find_pointer(tc, a.path, commit)) return Content{*p, std::nullopt};
  std::optional<Content> out;
  auto full = tc.prefix + a.path;
  tc.repo.for_each_blob(
      commit, [&](const std::string& p) { return p == full; },
      [&](const std::string&, const std::string& data) {
        Pointer p;
        p.sha256 = sha256_hex(data);
        p.size = data.size();
        p.name = fs::path(a.path).filename().string();
        out = Content{p, data};
      });
  return out;
}

Content require_content(const Workspace& ws, const ArtifactConfig& a, const std::string& commit) {
  TrackContext tc(ws);
  if (auto c = content_at(tc, a, commit)) return *c;
  throw precondition_error(
      fmt::format("artifact '{}' ({}) is neither tracked nor committed at commit {}", a.name,
                  a.path, short_sha(commit)),
      fmt::format("track it with `xops track add {}` (or commit the file) first", a.path));
}

Registry load_registry(const Workspace& ws) {
  return Registry::from_tags(repo_of(ws).tags());
}

const ArtifactConfig& artifact_config(const Workspace& ws, const std::string& name) {
  for (const auto& a : ws.config().artifacts)
    if (a.name == name) return a;
  throw precondition_error(
      fmt::format("no artifact '{}' in {}", name, ws.config().file.filename().string()),
      "declare it under `artifacts:` (name: {path, type, description})");
}

Pointer artifact_pointer_at(const Workspace& ws, const ArtifactConfig& a,
                            const std::string& commit) {
  return require_content(ws, a, commit).ptr;
}

fs::path materialize_content(const Workspace& ws, const Pointer& p) {
  auto base = ws.state_dir() / "refs";
  // A directory by its manifest id; a file by its content and name (two names, two copies).
  auto dest = base / (p.is_dir ? p.sha256 : sha256_hex(p.sha256 + "\n" + p.name));
  auto result = p.is_dir ? dest : dest / p.name;
  std::error_code ec;
  if (fs::exists(dest, ec)) return result;  // complete: written under a temp name, then renamed
  ws.ensure_state_dirs();
  fs::create_directories(base);
  ObjectStore store(ws.objects_dir(), ws.tmp_dir());
  std::vector<ManifestEntry> entries;
  if (p.is_dir) {
    if (!store.has(p.sha256))
      throw precondition_error(
          fmt::format("the content of this version ({}) is not in the local store",
                      short_sha(p.sha256)),
          "fetch it with `xops track pull`");
    entries = parse_manifest(store.read(p.sha256), p.sha256);
  } else {
    entries.push_back({p.name, p.sha256, p.size, false});
  }
  for (const auto& e : entries)
    if (!store.has(e.sha256))
      throw precondition_error(
          fmt::format("object {} ({}) of this version is not in the local store",
                      short_sha(e.sha256), e.path),
          "fetch it with `xops track pull`");
  auto tmp = ws.tmp_dir() / fmt::format("ref-{}-{}", p.sha256.substr(0, 16), ::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  try {
    SafeRoot root(tmp);
    for (const auto& e : entries) {
      require_safe_path(e.path, "manifest " + short_sha(p.sha256));
      store.materialize(e.sha256, root, e.path, LinkMode::Copy, e.executable);
    }
    fs::rename(tmp, dest, ec);  // a racing process may have won: its copy is as good
    if (ec) fs::remove_all(tmp, ec);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return result;
}

std::optional<ResolvedContent> resolve_content(const Workspace& ws, const std::string& ref) {
  auto r = parse_ref(ref);
  if (!r) return std::nullopt;
  const auto& a = artifact_config(ws, r->artifact);
  auto repo = repo_of(ws);
  auto reg = Registry::from_tags(repo.tags());
  ResolvedContent out;
  out.version = resolve(reg, *r, repo.is_shallow());
  auto c = require_content(ws, a, out.version.commit);
  out.pointer = c.ptr;
  if (c.bytes) {  // a file committed to git: into the store, so it materialises like the rest
    ws.ensure_state_dirs();
    ObjectStore(ws.objects_dir(), ws.tmp_dir()).add_bytes(*c.bytes);
  }
  out.path = materialize_content(ws, out.pointer);
  return out;
}

}  // namespace xops::registry
