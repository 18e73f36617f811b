#include "core/refs/registry.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/util/suggest.hpp"

namespace xops::registry {

const VersionInfo* ArtifactState::find_version(const std::string& v) const {
  for (const auto& x : versions)
    if (x.version == v) return &x;
  return nullptr;
}

const VersionInfo* ArtifactState::latest() const {
  const VersionInfo* best = nullptr;
  std::optional<SemVer> best_v;
  for (const auto& x : versions) {
    if (!x.registered || x.deregistered) continue;
    auto v = parse_semver(x.version);
    if (v && (!best_v || compare(*v, *best_v) > 0)) best = &x, best_v = v;
  }
  return best;
}

const VersionInfo* ArtifactState::at_commit(const std::string& commit) const {
  const VersionInfo* best = nullptr;  // the latest registration at that commit
  for (const auto& x : versions)
    if (x.commit == commit && !x.deregistered) best = &x;
  return best;
}

const StageHolder* ArtifactState::holder(const std::string& stage) const {
  auto it = stages.find(stage);
  return it == stages.end() ? nullptr : &it->second;
}

const StageHolder* ArtifactState::holder_before(const std::string& stage, int n) const {
  const StageHolder* h = holder(stage);
  auto it = assignments.find(stage);
  if (!h || it == assignments.end()) return nullptr;
  const auto& log = it->second;
  // From the holder's latest assignment backwards, each version counted once.
  size_t i = log.size();
  while (i > 0 && log[i - 1].version != h->version) --i;
  std::vector<std::string> seen = {h->version};
  while (n > 0 && i > 0) {
    const auto& e = log[--i];
    if (std::find(seen.begin(), seen.end(), e.version) != seen.end()) continue;
    seen.push_back(e.version);
    if (--n == 0) return &e;
  }
  return n == 0 ? h : nullptr;
}

const ArtifactState* Registry::find(const std::string& name) const {
  auto it = artifacts_.find(name);
  return it == artifacts_.end() ? nullptr : &it->second;
}

namespace {
// Control bytes but newlines and tabs as \xNN.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}
}  // namespace

Registry Registry::from_tags(const std::vector<git::TagInfo>& tags) {
  std::vector<Event> events;
  for (const auto& t : tags) {
    if (!t.annotated) continue;
    auto n = parse_tag_name(t.name);
    if (!n) continue;
    Event e;
    e.action = n->action;
    e.artifact = n->artifact;
    e.version = n->version;
    e.stage = n->stage;
    e.commit = t.target;
    e.tag = t.name;
    // Tag text is someone else's: control bytes (terminal escapes) never reach a terminal.
    e.author = printable(t.tagger_name);
    e.author_email = printable(t.tagger_email);
    e.message = printable(t.message);
    while (!e.message.empty() && (e.message.back() == '\n' || e.message.back() == ' '))
      e.message.pop_back();
    e.time = t.time;
    e.counter = n->counter;
    events.push_back(std::move(e));
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.counter != b.counter) return a.counter < b.counter;
    return a.tag < b.tag;
  });
  Registry reg;
  // Per artifact and stage: the versions whose latest event there is an assignment, in the
  // order of those assignments; the stage holder is the most recent (gto's default view).
  std::map<std::pair<std::string, std::string>, std::vector<StageHolder>> active;
  for (const auto& e : events) {
    auto& a = reg.artifacts_[e.artifact];
    a.name = e.artifact;
    a.max_counter = std::max(a.max_counter, e.counter);
    a.history.push_back(e);
    switch (e.action) {
      case Action::Register: {
        VersionInfo v{e.version, e.commit, e.tag, e.author, e.message, e.time, true, false};
        a.versions.push_back(v);
        break;
      }
      case Action::Deregister:
        for (auto& v : a.versions)
          if (v.version == e.version) v.deregistered = true;
        break;
      case Action::Deprecate:
        a.deprecated = true;
        break;
      case Action::Create:  // gto's annotation that the artifact exists: nothing to replay
        break;
      case Action::Assign:
      case Action::Unassign: {
        std::string version;
        if (auto* v = a.at_commit(e.commit))
          version = v->version;
        else {
          version = e.commit.substr(0, 7);  // gto shows an unregistered commit the same way
          if (!a.find_version(version))
            a.versions.push_back({version, e.commit, "", e.author, "", e.time, false, false});
        }
        // The version as of this event (what `ls` replays): history shows the same one, even
        // when a later registration puts another version on that commit.
        a.history.back().version = version;
        auto& list = active[{e.artifact, e.stage}];
        list.erase(std::remove_if(list.begin(), list.end(),
                                  [&](const StageHolder& h) { return h.version == version; }),
                   list.end());
        if (e.action == Action::Assign) {
          list.push_back({version, e.commit, e.tag, e.author, e.message, e.time});
          a.assignments[e.stage].push_back(list.back());
        }
        break;
      }
    }
  }
  for (auto& [key, list] : active)
    if (!list.empty()) reg.artifacts_[key.first].stages[key.second] = list.back();
  return reg;
}

std::string Ref::str() const {
  switch (kind) {
    case Version:
      return artifact + "@" + value;
    case Latest:
      return artifact + "@latest";
    case Stage:
      return artifact + "#" + value + (back ? "~" + std::to_string(back) : "");
  }
  return artifact;
}

std::optional<Ref> parse_ref(const std::string& s) {
  Ref r;
  auto at = s.find('@'), hash = s.find('#');
  if ((at == std::string::npos) == (hash == std::string::npos)) return std::nullopt;
  if (at != std::string::npos) {
    r.artifact = s.substr(0, at);
    r.value = s.substr(at + 1);
    if (r.value == "latest")
      r.kind = Ref::Latest;
    else if (parse_semver(r.value))
      r.kind = Ref::Version;
    else
      return std::nullopt;
  } else {
    r.artifact = s.substr(0, hash);
    r.value = s.substr(hash + 1);
    r.kind = Ref::Stage;
    if (auto tilde = r.value.find('~'); tilde != std::string::npos) {
      auto n = r.value.substr(tilde + 1);
      if (n.empty() || n.size() > 4 || n.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
      r.back = std::stoi(n);
      r.value.resize(tilde);
    }
    if (!valid_stage_name(r.value)) return std::nullopt;
  }
  if (!valid_artifact_name(r.artifact)) return std::nullopt;
  return r;
}

Resolved resolve(const Registry& reg, const Ref& ref, bool shallow) {
  std::string fetch_hint = shallow ? "this is a shallow clone: run `git fetch --unshallow --tags`"
                                   : "tags may not be fetched yet: run `git fetch --tags`";
  const auto* a = reg.find(ref.artifact);
  if (!a)
    throw precondition_error(
        fmt::format("no artifact '{}' in the registry (no tags {}@... or {}#...)", ref.artifact,
                    ref.artifact, ref.artifact),
        "register a version with `xops promote register " + ref.artifact + "`; " + fetch_hint);
  const VersionInfo* v = nullptr;
  if (ref.kind == Ref::Latest) {
    v = a->latest();
    if (!v)
      throw precondition_error(fmt::format("'{}' has no registered version", ref.artifact),
                               fetch_hint);
  } else if (ref.kind == Ref::Version) {
    v = a->find_version(ref.value);
    if (!v || v->deregistered)
      throw precondition_error(fmt::format("'{}' has no version {}{}", ref.artifact, ref.value,
                                           v ? " (it was deregistered)" : ""),
                               "`xops promote ls` lists the versions; " + fetch_hint);
  } else {
    const StageHolder* h = a->holder(ref.value);
    if (!h) {
      // A stage the artifact has never been in, close to one it has: a typo, not a request
      // to promote into a new stage.
      std::vector<std::string> seen;
      for (const auto& e : a->history)
        if (!e.stage.empty() && std::find(seen.begin(), seen.end(), e.stage) == seen.end())
          seen.push_back(e.stage);
      auto guess = std::find(seen.begin(), seen.end(), ref.value) == seen.end()
                       ? closest(ref.value, seen)
                       : std::string();
      if (!guess.empty())
        throw precondition_error(
            fmt::format("'{}' has never been in stage '{}' (did you mean '{}'?)", ref.artifact,
                        ref.value, guess),
            fmt::format("{}#{}", ref.artifact, guess));
      throw precondition_error(
          fmt::format("no version of '{}' is in stage '{}'", ref.artifact, ref.value),
          "promote one with `xops promote " + ref.artifact + "@vX.Y.Z --to " + ref.value + "`");
    }
    if (ref.back > 0) {
      h = a->holder_before(ref.value, ref.back);
      if (!h)
        throw precondition_error(
            fmt::format("'{}' has had fewer than {} version(s) in stage '{}' before {}",
                        ref.artifact, ref.back, ref.value, a->holder(ref.value)->version),
            fmt::format("`xops promote history {}` lists who held it", ref.artifact));
    }
    return {ref.artifact, h->version, h->commit, h->tag};
  }
  return {ref.artifact, v->version, v->commit, v->tag};
}

}  // namespace xops::registry
