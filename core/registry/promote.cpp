#include "core/registry/promote.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "core/error.hpp"
#include "core/project/workspace.hpp"
#include "core/store/object_store.hpp"
#include "core/store/sha256.hpp"
#include "core/track/track_context.hpp"
#include "core/tracking/run_session.hpp"
#include "core/tracking/tracker.hpp"
#include "core/util/fs.hpp"
#include "core/util/safe_path.hpp"
#include "core/util/utf8.hpp"

namespace xops::registry {

namespace fs = std::filesystem;

namespace {

// Who signs off: the git identity the tag is written with.
std::string approver() {
  const char* n = std::getenv("GIT_COMMITTER_NAME");
  const char* e = std::getenv("GIT_COMMITTER_EMAIL");
  if (n && *n) return e && *e ? fmt::format("{} <{}>", n, e) : n;
  const char* u = std::getenv("USER");
  return u && *u ? u : "unknown";
}

}  // namespace

RegisterResult register_version(const Workspace& ws, const RegisterRequest& r) {
  if (!valid_artifact_name(r.artifact))
    throw usage_error(
        fmt::format("'{}' is not a valid artifact name", r.artifact),
        "gto's names: lowercase letters, digits, '-' and '/', starting and ending with a "
        "letter or a digit");
  const auto& a = artifact_config(ws, r.artifact);
  auto repo = repo_of(ws);
  std::string commit;
  try {
    commit = repo.resolve_commit(r.rev);
  } catch (const Error&) {
    throw usage_error(fmt::format("cannot resolve '{}' to a commit", r.rev),
                      "give a commit, branch or tag");
  }
  auto ptr = artifact_pointer_at(ws, a, commit);
  auto reg = Registry::from_tags(repo.tags());
  const ArtifactState* st = reg.find(r.artifact);
  std::string version = r.version;
  if (version.empty()) {
    SemVer v{0, 0, 0, "", ""};
    const VersionInfo* latest = st ? st->latest() : nullptr;
    if (latest) v = *parse_semver(latest->version);
    v.prerelease.clear(), v.build.clear();
    if (r.bump == RegisterRequest::Major)
      v = {v.major + 1, 0, 0, "", ""};
    else if (r.bump == RegisterRequest::Minor)
      v = {v.major, v.minor + 1, 0, "", ""};
    else
      v.patch += 1;
    version = v.str();
  } else {
    if (!version.empty() && version[0] != 'v') version = "v" + version;
    auto v = parse_semver(version);
    if (!v)
      throw usage_error(fmt::format("'{}' is not a SemVer 2 version", r.version),
                        "for example v1.2.0 or v2.0.0-rc.1");
    if (st)
      if (auto* l = st->latest(); l && compare(*v, *parse_semver(l->version)) <= 0)
        throw usage_error(fmt::format("{} is not above the latest version {}", version, l->version),
                          "versions only go up; pick a greater one");
  }
  if (st) {
    if (auto* same = st->at_commit(commit))
      throw precondition_error(fmt::format("commit {} is already registered as {}@{}",
                                           short_sha(commit), r.artifact, same->version),
                               "commit the new content first, or promote that version");
    // One version per content: the same bytes under another commit are that version.
    TrackContext tc(ws);
    for (const auto& v : st->versions)
      if (auto c = v.registered && !v.deregistered ? content_at(tc, a, v.commit) : std::nullopt;
          c && c->ptr.sha256 == ptr.sha256)
        throw precondition_error(
            fmt::format("this content is already registered as {}@{}", r.artifact, v.version),
            "promote that version; register again after the artifact changes");
  }
  TagName t{r.artifact, Action::Register, version, "", 0};
  auto tag = format_tag_name(t);
  auto msg =
      r.message.empty() ? fmt::format("Registering {} version {}", r.artifact, version) : r.message;
  msg += fmt::format("\n\nxops-content: {}\n", ptr.sha256);
  if (!repo.create_tag(tag, commit, msg))
    throw precondition_error(fmt::format("tag {} exists already", tag),
                             "someone registered it first; run again to take the next version");
  return {tag, version, commit, ptr.sha256};
}

void apply_promotion(const Workspace& ws, PromotionPlan& plan, const std::string& message) {
  if (!plan.allowed)
    throw Error(ErrorKind::CheckFailed, "the gates did not pass; nothing was written");
  auto repo = repo_of(ws);
  std::string msg = message.empty() ? fmt::format("Promoting {}@{} to {}", plan.version.artifact,
                                                  plan.version.version, plan.stage)
                                    : message;
  msg += fmt::format("\n\nxops-content: {}\n", plan.content_hash);
  for (const auto& g : plan.gates)
    msg += g.kind == "approval"
               ? fmt::format("xops-approved-by: {}\n", approver())
               : fmt::format("xops-gate: {} run={} {}\n", g.suite, g.run_id, g.reason);
  if (!repo.create_tag(plan.tag, plan.version.commit, msg))
    throw precondition_error(
        fmt::format("tag {} was written by another promotion meanwhile", plan.tag),
        "run the promotion again: it takes the next counter");
}

namespace {
std::string write_tag(git::Repo& repo, const TagName& t, const std::string& commit,
                      const std::string& msg) {
  auto tag = format_tag_name(t);
  if (!repo.create_tag(tag, commit, msg))
    throw precondition_error(fmt::format("tag {} was written by someone else meanwhile", tag),
                             "run the command again");
  return tag;
}
}  // namespace

std::string unassign_stage(const Workspace& ws, const std::string& artifact,
                           const std::string& stage, const std::string& message) {
  auto repo = repo_of(ws);
  auto reg = Registry::from_tags(repo.tags());
  const auto* st = reg.find(artifact);
  const StageHolder* h = st ? st->holder(stage) : nullptr;
  if (!h)
    throw precondition_error(fmt::format("no version of '{}' is in stage '{}'", artifact, stage),
                             "`xops promote ls` shows the stages");
  return write_tag(repo, {artifact, Action::Unassign, "", stage, st->max_counter + 1}, h->commit,
                   message.empty()
                       ? fmt::format("Unassigning {} {} from {}", artifact, h->version, stage)
                       : message);
}

std::string deprecate_artifact(const Workspace& ws, const std::string& artifact,
                               const std::string& message) {
  if (!valid_artifact_name(artifact))
    throw usage_error(fmt::format("'{}' is not a valid artifact name", artifact));
  auto repo = repo_of(ws);
  auto reg = Registry::from_tags(repo.tags());
  const auto* st = reg.find(artifact);
  if (st && st->deprecated)
    throw precondition_error(fmt::format("'{}' is already deprecated", artifact));
  const VersionInfo* latest = st ? st->latest() : nullptr;
  auto commit = latest ? latest->commit : repo.head_commit();
  if (commit.empty()) throw precondition_error("nothing to tag: the repository has no commit yet");
  return write_tag(repo, {artifact, Action::Deprecate, "", "", (st ? st->max_counter : 0) + 1},
                   commit, message.empty() ? fmt::format("Deprecating {}", artifact) : message);
}

std::string record_promotion(const Workspace& ws, PromotionPlan& plan, const std::string& message) {
  auto tracker = Tracker::for_workspace(ws);
  RunStart rs;
  rs.kind = "promote";
  rs.name = fmt::format("{}@{} -> {}", plan.version.artifact, plan.version.version, plan.stage);
  rs.command = fmt::format("xops promote {}@{} --to {}", plan.version.artifact,
                           plan.version.version, plan.stage);
  rs.params = {{"artifact", plan.version.artifact},
               {"version", plan.version.version},
               {"stage", plan.stage},
               {"commit", plan.version.commit},
               {"previous", plan.current}};
  RunSession session(tracker, rs, &ws);
  tracker.record_inputs(session.id(), {{"artifact:" + plan.version.artifact, plan.content_hash}});
  std::map<std::string, std::string> tags = {{"allowed", plan.allowed ? "true" : "false"}};
  for (size_t i = 0; i < plan.gates.size(); ++i) {
    const auto& g = plan.gates[i];
    tags[fmt::format("gate.{}", i)] = fmt::format(
        "{} {} {}{}{}: {}", g.kind, g.suite, g.passed ? "PASS" : "FAIL",
        g.run_id.empty() ? "" : " run=" + g.run_id,
        g.baseline_hash.empty()
            ? ""
            : fmt::format(" baseline={} sha256={}", g.baseline_version, g.baseline_hash),
        g.reason);
  }
  if (plan.allowed) {
    apply_promotion(ws, plan, message);  // a lost race throws: the session marks the run failed
    tags["tag"] = plan.tag;
  }
  tracker.log_tags(session.id(), tags);
  session.finish(plan.allowed ? RunStatus::Finished : RunStatus::Failed, plan.allowed ? 0 : 4);
  return session.id();
}

void push_tag(const Workspace& ws, const std::string& remote, const std::string& tag) {
  try {
    repo_of(ws).push_refs(remote, {"refs/tags/" + tag + ":refs/tags/" + tag});
  } catch (const Error& e) {
    throw runtime_error(fmt::format("tag {} was written here but not pushed: {}", tag, e.what()),
                        fmt::format("push it by hand: git push {} '{}'", remote, tag));
  }
}

namespace {

bool texty(const std::string& s) {
  return s.size() <= (1u << 20) && s.find('\0') == std::string::npos &&
         invalid_utf8_offset(s) == std::string::npos;
}

FileDiff diff_file(const std::string& path, const std::string& a, const std::string& b) {
  FileDiff d;
  d.path = path;
  d.status = "changed";
  d.size_a = a.size(), d.size_b = b.size();
  if (texty(a) && texty(b))
    d.lines = diff_lines(a, b);
  else
    d.binary = true;
  return d;
}

}  // namespace

VersionDiff diff_versions(const Workspace& ws, const std::string& ref_a, const std::string& ref_b) {
  VersionDiff out;
  auto ra = resolve_content(ws, ref_a), rb = resolve_content(ws, ref_b);
  for (auto [r, text] : {std::pair{&ra, &ref_a}, {&rb, &ref_b}})
    if (!*r)
      throw usage_error(fmt::format("'{}' is not a registry reference", *text),
                        "use NAME@vX.Y.Z, NAME@latest or NAME#STAGE");
  out.a = *ra, out.b = *rb;
  const auto limit = 64u << 20;
  if (!out.a.pointer.is_dir && !out.b.pointer.is_dir) {
    if (out.a.pointer.sha256 != out.b.pointer.sha256)
      out.files.push_back(diff_file(out.a.pointer.name,
                                    read_file_limited(out.a.path, limit, "version content"),
                                    read_file_limited(out.b.path, limit, "version content")));
    return out;
  }
  if (out.a.pointer.is_dir != out.b.pointer.is_dir)
    throw usage_error(
        "one version is a directory and the other a file: nothing to compare line by line");
  ObjectStore store(ws.objects_dir(), ws.tmp_dir());
  std::map<std::string, ManifestEntry> ea, eb;
  for (auto& e : parse_manifest(store.read(out.a.pointer.sha256), out.a.pointer.sha256))
    ea[e.path] = e;
  for (auto& e : parse_manifest(store.read(out.b.pointer.sha256), out.b.pointer.sha256))
    eb[e.path] = e;
  for (const auto& [path, e] : ea) {
    auto it = eb.find(path);
    if (it == eb.end()) {
      out.files.push_back({path, "removed", false, e.size, 0, {}});
    } else if (it->second.sha256 != e.sha256) {
      if (e.size > limit || it->second.size > limit)
        out.files.push_back({path, "changed", true, e.size, it->second.size, {}});
      else
        out.files.push_back(
            diff_file(path, read_file_limited(out.a.path / path, limit, "version content"),
                      read_file_limited(out.b.path / path, limit, "version content")));
    }
  }
  for (const auto& [path, e] : eb)
    if (!ea.count(path)) out.files.push_back({path, "added", false, 0, e.size, {}});
  std::sort(out.files.begin(), out.files.end(),
            [](const FileDiff& x, const FileDiff& y) { return x.path < y.path; });
  return out;
}

}  // namespace xops::registry
