#pragma once
// The registry's grammar: git tag names as gto writes them, and SemVer 2 versions.
//   name@v1.2.3       register a version        name@v1.2.3!#N   deregister it
//   name#stage#N      assign a stage            name#stage!#N    unassign it
//   name@deprecated#N deprecate the artifact  name@created#N    create it (read, no-op)
// (#N, the counter, is 1 + the largest counter among the artifact's tags; gto's "simple"
// form without it is read too.) Tags that do not parse are not registry tags and are ignored.
// The grammar is gto's tag_re (gto/constants.py): tests/compat/gto records its verdicts.
#include <optional>
#include <string>

namespace xops::registry {

struct SemVer {
  long major = 0, minor = 0, patch = 0;
  std::string prerelease, build;  // without '-' / '+'
  std::string str() const;        // with the leading 'v'
};
// "v1.2.3", "v1.2.3-rc.1+sha.5" (the 'v' is required, as gto writes tags).
std::optional<SemVer> parse_semver(const std::string& s);
// SemVer 2 precedence (build metadata ignored): <0, 0, >0.
int compare(const SemVer& a, const SemVer& b);

enum class Action { Register, Deregister, Assign, Unassign, Deprecate, Create };
const char* action_name(Action a);

struct TagName {
  std::string artifact;
  Action action = Action::Register;
  std::string version;  // Register / Deregister
  std::string stage;    // Assign / Unassign
  int counter = 0;      // 0 when absent (gto's simple form)
};
std::optional<TagName> parse_tag_name(const std::string& tag);
std::string format_tag_name(const TagName& t);

// gto's names: lowercase letters, digits, '-' and '/', starting and ending with a letter or a
// digit; an artifact may have a `dirname:` prefix ([a-z0-9-_./]+; '=' in tags). Stages: a name.
bool valid_artifact_name(const std::string& s);
bool valid_stage_name(const std::string& s);

}  // namespace xops::registry
