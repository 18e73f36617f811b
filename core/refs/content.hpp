#pragma once
// What a registry ref names, as content on disk: the workspace's registry (its tags), an
// artifact's tracked content at a commit, and that content materialised once per hash under
// .xops/refs/. Read-only: registering and promoting are core/registry/.
#include <filesystem>
#include <optional>
#include <string>

#include "core/plugins/git.hpp"
#include "core/project/config.hpp"
#include "core/refs/registry.hpp"
#include "core/store/pointer.hpp"
#include "core/track/track_context.hpp"

namespace xops {
class Workspace;
}

namespace xops::registry {

// The workspace's git repository; a precondition error (with a hint) when there is none.
git::Repo repo_of(const Workspace& ws);
std::string short_sha(const std::string& commit);

// The registry of the workspace's repository (its tags).
Registry load_registry(const Workspace& ws);

const ArtifactConfig& artifact_config(const Workspace& ws, const std::string& name);

// The artifact's tracked content at a commit: its pointer (PATH.xops) in that commit's tree.
// Throws a precondition error when the artifact was not tracked there.
Pointer artifact_pointer_at(const Workspace& ws, const ArtifactConfig& a,
                            const std::string& commit);

// The directory (or file) holding exactly this content, materialised once per content hash
// under .xops/refs/ from the local store (verified); a hint to `track pull` when objects are
// missing.
std::filesystem::path materialize_content(const Workspace& ws, const Pointer& p);

// A registry ref (name@v1.2.0, name@latest, name#prod) resolved to content on disk; nullopt
// when `ref` is not registry syntax.
struct ResolvedContent {
  Resolved version;
  Pointer pointer;
  std::filesystem::path path;
};
std::optional<ResolvedContent> resolve_content(const Workspace& ws, const std::string& ref);

// An artifact's content at a commit: its pointer when tracked by xops, else the file itself
// when committed to git directly (prompts and configs usually are); bytes are set then.
struct Content {
  Pointer ptr;
  std::optional<std::string> bytes;
};
std::optional<Content> content_at(const TrackContext& tc, const ArtifactConfig& a,
                                  const std::string& commit);
// content_at, or a precondition error naming the artifact and commit.
Content require_content(const Workspace& ws, const ArtifactConfig& a, const std::string& commit);

}  // namespace xops::registry
