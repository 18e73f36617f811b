#include "core/registry/promote.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "core/error.hpp"
#include "core/eval/suite.hpp"
#include "core/store/object_store.hpp"
#include "core/store/sha256.hpp"
#include "core/track/track_context.hpp"
#include "core/tracking/run_session.hpp"
#include "core/tracking/tracker.hpp"
#include "core/util/fs.hpp"
#include "core/util/safe_path.hpp"
#include "core/util/utf8.hpp"
#include "core/workspace.hpp"

namespace xops::registry {

namespace fs = std::filesystem;

namespace {

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

// Who signs off: the git identity the tag is written with.
std::string approver() {
  const char* n = std::getenv("GIT_COMMITTER_NAME");
  const char* e = std::getenv("GIT_COMMITTER_EMAIL");
  if (n && *n) return e && *e ? fmt::format("{} <{}>", n, e) : n;
  const char* u = std::getenv("USER");
  return u && *u ? u : "unknown";
}

std::optional<Pointer> find_pointer(const TrackContext& tc, const std::string& rel,
                                    const std::string& commit) {
  for (auto& p : tc.pointers_at(commit))
    if (p.rel == rel) return p.ptr;
  return std::nullopt;
}

// An artifact's content at a commit: its pointer when tracked by xops, else the file itself
// when committed to git directly (prompts and configs usually are); bytes are set then.
struct Content {
  Pointer ptr;
  std::optional<std::string> bytes;
};
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

}  // namespace

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

RegisterResult register_version(const Workspace& ws, const RegisterRequest& r) {
  if (!valid_artifact_name(r.artifact))
    throw usage_error(fmt::format("'{}' is not a valid artifact name", r.artifact),
                      "lowercase letters, digits, '-', '_' (and '/' between them)");
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

namespace {

// The most recent eval run of exactly this suite content and this artifact content.
// The most recent eval run of exactly this suite content and this artifact content.
const RunRecord* find_evidence(const std::vector<RunRecord>& runs, const std::string& suite_hash,
                               const std::string& content_hash) {
  for (const auto& run : runs) {  // newest first
    if (run.kind != "eval") continue;
    bool suite = false, content = false;
    for (const auto& [k, v] : run.inputs) {
      suite |= k.rfind("eval-suite:", 0) == 0 && v == suite_hash;
      if (v != content_hash) continue;
      // A model or adapter a provider ran, or a prompt the suite sent. A model that ran under
      // an adapter ("provider:L/model" beside "provider:L/adapter") is not evidence for that
      // model alone: the adapter's eval must not promote its base.
      if (k.rfind("provider:", 0) == 0 && k.size() > 6 &&
          k.compare(k.size() - 6, 6, "/model") == 0) {
        auto adapter_key = k.substr(0, k.size() - 6) + "/adapter";
        bool under_adapter = false;
        for (const auto& [k2, v2] : run.inputs) under_adapter |= k2 == adapter_key;
        if (under_adapter) continue;
      }
      content |= k.rfind("provider:", 0) == 0 || k.rfind("prompt:", 0) == 0;
    }
    if (suite && content) return &run;
  }
  return nullptr;
}

std::optional<double> metric_of(const RunRecord& r, const std::string& key) {
  for (const auto& m : r.metrics)
    if (m.key == key) return m.last;
  return std::nullopt;
}

GateCheck check_eval_gate(const std::vector<RunRecord>& runs, const GateConfig& g,
                          const fs::path& root, const std::string& content_hash) {
  GateCheck c;
  c.suite = g.eval;
  c.min_pass_rate = g.min_pass_rate;
  std::vector<std::string> warnings;
  try {
    c.suite_hash = load_suite(root / g.eval, &warnings).content_sha256;
  } catch (const Error& e) {
    c.reason = fmt::format("the gate's suite cannot be read: {}", e.what());
    return c;
  }
  const RunRecord* run = find_evidence(runs, c.suite_hash, content_hash);
  if (!run) {
    c.reason = "no eval of exactly this content with this suite";
    return c;
  }
  c.run_id = run->id;
  c.pass_rate = metric_of(*run, "pass_rate");
  if (run->status != "finished") {
    c.reason = fmt::format(
        "the latest eval of this content ended {}{}{}", run->status,
        run->exit_code ? fmt::format(" (exit {}{})", *run->exit_code,
                                     *run->exit_code == 4 ? ": its suite's thresholds missed" : "")
                       : "",
        c.pass_rate ? fmt::format("; pass_rate {:.3f}", *c.pass_rate) : "");
  } else if (!c.pass_rate) {
    c.reason = "that eval recorded no pass_rate";
  } else if (*c.pass_rate + 1e-12 < g.min_pass_rate) {
    c.reason = fmt::format("pass_rate {:.3f} < {:.3f}", *c.pass_rate, g.min_pass_rate);
  } else {
    c.passed = true;
    c.reason = fmt::format("pass_rate {:.3f} >= {:.3f}", *c.pass_rate, g.min_pass_rate);
  }
  return c;
}

// no_regression: each named metric of this content's eval against the stage holder's eval of
// the same suite, within the tolerance.
void check_regression(GateCheck& c, const std::vector<RunRecord>& runs, const GateConfig& g,
                      const std::string& holder_version, const std::string& holder_hash) {
  if (g.no_regression.empty() || holder_version.empty() || c.run_id.empty()) return;
  c.baseline_version = holder_version;
  const RunRecord* mine = nullptr;
  for (const auto& r : runs)
    if (r.id == c.run_id) mine = &r;
  const RunRecord* base = find_evidence(runs, c.suite_hash, holder_hash);
  if (!base) {
    c.passed = false;
    c.reason = fmt::format("no eval of {} (now in the stage) with this suite to compare with",
                           holder_version);
    return;
  }
  c.baseline_run = base->id;
  for (const auto& key : g.no_regression) {
    GateCheck::Comparison cmp{key, mine ? metric_of(*mine, key) : std::nullopt,
                              metric_of(*base, key), false};
    cmp.ok = cmp.value && cmp.baseline && *cmp.value + g.tolerance + 1e-12 >= *cmp.baseline;
    if (!cmp.ok && c.passed) {
      c.passed = false;
      c.reason = !cmp.value || !cmp.baseline
                     ? fmt::format("metric {} is not recorded by both evals", key)
                     : fmt::format("{} {:.3f} regresses from {:.3f} ({}) beyond tolerance {:.3f}",
                                   key, *cmp.value, *cmp.baseline, holder_version, g.tolerance);
    }
    c.comparisons.push_back(cmp);
  }
  if (c.passed) c.reason += fmt::format("; no regression vs {}", holder_version);
}

}  // namespace

PromotionPlan plan_promotion(const Workspace& ws, const std::string& ref_text,
                             const std::string& stage, const GateRunner& run_missing,
                             bool approved) {
  const auto& stages = ws.config().stages;
  if (std::find(stages.begin(), stages.end(), stage) == stages.end())
    throw usage_error(fmt::format("unknown stage '{}'", stage),
                      fmt::format("stages in {}: {}", ws.config().file.filename().string(),
                                  fmt::join(stages, ", ")));
  auto ref = parse_ref(ref_text);
  if (!ref) {
    if (!valid_artifact_name(ref_text))
      throw usage_error(fmt::format("'{}' is not a version reference", ref_text),
                        "use NAME@vX.Y.Z, NAME@latest or NAME");
    ref = Ref{ref_text, Ref::Latest, "latest"};
  }
  const auto& a = artifact_config(ws, ref->artifact);
  auto repo = repo_of(ws);
  auto reg = Registry::from_tags(repo.tags());
  PromotionPlan plan;
  plan.stage = stage;
  plan.type = a.type;
  plan.version = resolve(reg, *ref, repo.is_shallow());
  plan.content_hash = artifact_pointer_at(ws, a, plan.version.commit).sha256;
  const auto* st = reg.find(ref->artifact);
  if (st) {
    if (const auto* h = st->holder(stage)) plan.current = h->version;
    if (st->deprecated)
      throw precondition_error(fmt::format("artifact '{}' is deprecated", ref->artifact),
                               "register it again under a new name");
  }
  plan.tag =
      format_tag_name({ref->artifact, Action::Assign, "", stage, (st ? st->max_counter : 0) + 1});
  // The version now in the stage, for no_regression gates.
  std::string holder_hash;
  if (const StageHolder* h = st ? st->holder(stage) : nullptr) {
    TrackContext tc(ws);
    if (auto c = content_at(tc, a, h->commit)) holder_hash = c->ptr.sha256;
  }
  RunQuery q;
  q.sort = "-start_time";
  auto runs = Tracker::for_workspace(ws).list(q);
  for (const auto& g : ws.config().gates) {
    if (g.stage != stage) continue;
    if (g.approval) {
      GateCheck c;
      c.kind = "approval";
      c.passed = approved;
      c.reason = approved ? "signed off with --approve" : "needs a sign-off: --approve";
      plan.gates.push_back(std::move(c));
      continue;
    }
    auto check = check_eval_gate(runs, g, ws.root(), plan.content_hash);
    if (!check.passed && run_missing && !check.suite_hash.empty()) {
      run_missing(g, plan.version.artifact + "@" + plan.version.version, a.type);
      runs = Tracker::for_workspace(ws).list(q);
      check = check_eval_gate(runs, g, ws.root(), plan.content_hash);
    }
    bool compare = check.passed && !g.no_regression.empty() && !holder_hash.empty() &&
                   holder_hash != plan.content_hash;
    if (compare && run_missing && !find_evidence(runs, check.suite_hash, holder_hash) &&
        parse_semver(plan.current)) {
      run_missing(g, plan.version.artifact + "@" + plan.current,
                  a.type);  // the baseline, evaluated the same way
      runs = Tracker::for_workspace(ws).list(q);
    }
    if (compare) check_regression(check, runs, g, plan.current, holder_hash);
    plan.gates.push_back(std::move(check));
  }
  plan.allowed = std::all_of(plan.gates.begin(), plan.gates.end(),
                             [](const GateCheck& c) { return c.passed; });
  return plan;
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
    tags[fmt::format("gate.{}", i)] =
        fmt::format("{} {} {}{}: {}", g.kind, g.suite, g.passed ? "PASS" : "FAIL",
                    g.run_id.empty() ? "" : " run=" + g.run_id, g.reason);
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
