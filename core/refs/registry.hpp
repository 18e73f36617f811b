#pragma once
// The registry as the repository's tags describe it (gto's semantics): versions registered at
// commits, stages assigned and unassigned, deprecation. Tags are never moved or deleted: the
// state is a replay of the annotated tags in time order (counter breaks ties); lightweight
// tags are ignored, as gto ignores them.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/plugins/git.hpp"
#include "core/refs/tag_name.hpp"

namespace xops::registry {

struct Event {
  Action action;
  std::string artifact, version, stage, commit, tag, author, author_email, message;
  int64_t time = 0;
  int counter = 0;
};

struct VersionInfo {
  std::string version;  // "v1.2.0"; an assigned commit that was never registered: its short sha
  std::string commit, tag, author, message;
  int64_t time = 0;
  bool registered = true, deregistered = false;
};

struct StageHolder {
  std::string version, commit, tag, author, message;
  int64_t time = 0;
};

struct ArtifactState {
  std::string name;
  std::vector<VersionInfo> versions;  // in registration order
  std::map<std::string, StageHolder> stages;
  // Every assignment to each stage, in time order (unassigned versions included): who held a
  // stage before whom, for NAME#STAGE~N and "the previous version" of a stage.
  std::map<std::string, std::vector<StageHolder>> assignments;
  bool deprecated = false;
  int max_counter = 0;
  std::vector<Event> history;  // time order

  const VersionInfo* find_version(const std::string& v) const;
  const VersionInfo* latest() const;  // the greatest registered, not deregistered, SemVer
  const VersionInfo* at_commit(const std::string& commit) const;
  const StageHolder* holder(const std::string& stage) const;  // null when the stage is empty
  // The n-th distinct version assigned to `stage` before the current holder's latest
  // assignment (n = 0: the holder); null when the stage is empty or its history is shorter.
  const StageHolder* holder_before(const std::string& stage, int n) const;
};

class Registry {
 public:
  static Registry from_tags(const std::vector<git::TagInfo>& tags);

  const std::map<std::string, ArtifactState>& artifacts() const { return artifacts_; }
  const ArtifactState* find(const std::string& name) const;

 private:
  std::map<std::string, ArtifactState> artifacts_;
};

// A registry reference: name@v1.2.0, name@latest, name#stage, name#stage~N (the N-th version
// that held the stage before the one in it now, as git's HEAD~N).
struct Ref {
  std::string artifact;
  enum Kind { Version, Latest, Stage } kind = Latest;
  std::string value;  // the version or the stage
  int back = 0;       // Stage: ~N
  std::string str() const;
};
std::optional<Ref> parse_ref(const std::string& s);

struct Resolved {
  std::string artifact, version, commit, tag;
};
// Throws precondition errors that name what is missing (unknown artifact, version or an
// empty stage) with a hint; `shallow` adds the `git fetch --tags` hint.
Resolved resolve(const Registry& reg, const Ref& ref, bool shallow = false);

}  // namespace xops::registry
