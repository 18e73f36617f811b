#include "core/pipeline/stage_state.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/pipeline/values.hpp"
#include "core/store/sha256.hpp"

namespace xops::pipeline {

const J& ParamsCache::file(const std::string& rel) {
  auto it = files_.find(rel);
  if (it != files_.end()) return it->second;
  return files_[rel] = load_values(root_ / rel, rel);
}

J stage_params(const Stage& s, ParamsCache& params) {
  J out = J::object();
  for (const auto& p : s.params) {
    const auto& values = params.file(p.rel);
    J one = J::object();
    if (p.all) {
      one = values;
    } else {
      for (const auto& k : p.keys) {
        const J* v = lookup(values, k);
        if (!v)
          throw usage_error(
              fmt::format("{}: stage '{}' reads param '{}', which {} does not define", s.where,
                          s.name, k, p.rel),
              fmt::format("add {} to {}, or remove it from the stage's params", k, p.rel));
        one[k] = *v;
      }
    }
    out[p.file] = std::move(one);
  }
  return out;
}

namespace {

std::string short_value(const J& v) {
  auto s = to_str(v);
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

void diff_params(const J& was, const J& now, std::vector<std::string>& reasons) {
  for (auto f = now.begin(); f != now.end(); ++f) {
    auto old = was.find(f.key());
    for (auto k = f.value().begin(); k != f.value().end(); ++k) {
      if (old == was.end() || !old->contains(k.key())) {
        reasons.push_back(fmt::format("param {} added", k.key()));
      } else if ((*old)[k.key()] != k.value()) {
        reasons.push_back(fmt::format("param {} changed: {} -> {}", k.key(),
                                      short_value((*old)[k.key()]), short_value(k.value())));
      }
    }
    if (old != was.end())
      for (auto k = old->begin(); k != old->end(); ++k)
        if (!f.value().contains(k.key()))
          reasons.push_back(fmt::format("param {} removed", k.key()));
  }
  for (auto f = was.begin(); f != was.end(); ++f)
    if (!now.contains(f.key()))
      reasons.push_back(fmt::format("params file {} no longer read", f.key()));
}

}  // namespace

StageCheck check_stage(const Stage& s, const LockedStage* locked, const PathHashFn& hash,
                       ParamsCache& params) {
  StageCheck c;
  c.now.cmd = s.cmd;
  c.now.cmd_is_list = s.cmd.size() > 1;
  for (const auto& d : s.deps) {
    auto h = hash(d.rel);
    if (!h) {
      c.missing_deps.push_back(d.path);
      continue;
    }
    h->path = d.path;
    c.now.deps.push_back(*h);
  }
  c.now.params = stage_params(s, params);
  for (const auto& o : s.outs) {
    auto h = hash(o.rel);
    if (!h) continue;
    h->path = o.path;
    c.now.outs.push_back(*h);
  }
  auto& r = c.reasons;
  size_t output_reasons = 0;  // outputs missing or edited, while what made them is unchanged
  for (const auto& m : c.missing_deps) r.push_back(fmt::format("dependency {} does not exist", m));
  if (!locked) {
    r.push_back("never run (not in dvc.lock)");
  } else {
    if (s.always_changed) r.push_back("always_changed");
    if (locked->cmd != s.cmd) r.push_back("command changed");
    for (const auto& d : c.now.deps) {
      auto* was = locked->dep(d.path);
      if (!was)
        r.push_back(fmt::format("new dependency {}", d.path));
      else if (!was->same_content(d))
        r.push_back(fmt::format("dependency {} modified", d.path));
    }
    for (const auto& d : locked->deps) {
      bool declared = false;
      for (const auto& x : s.deps) declared = declared || x.path == d.path;
      if (!declared) r.push_back(fmt::format("dependency {} no longer declared", d.path));
    }
    diff_params(locked->params, c.now.params, r);
    for (const auto& o : s.outs) {
      auto* was = locked->out(o.path);
      auto* now = c.now.out(o.path);
      if (!was)
        r.push_back(fmt::format("new output {}", o.path));
      else if (!now)
        r.push_back(fmt::format("output {} missing", o.path)), ++output_reasons;
      else if (!was->same_content(*now))
        r.push_back(fmt::format("output {} modified", o.path)), ++output_reasons;
    }
    for (const auto& o : locked->outs) {
      bool declared = false;
      for (const auto& x : s.outs) declared = declared || x.path == o.path;
      if (!declared) r.push_back(fmt::format("output {} no longer declared", o.path));
    }
  }
  c.changed = !r.empty();
  c.outputs_only = c.changed && output_reasons == r.size();
  return c;
}

std::string run_key(const Stage& s, const LockedStage& now) {
  J k = J::object();
  k["cmd"] = s.cmd;
  k["wdir"] = s.wdir;
  J deps = J::array();
  for (const auto& d : now.deps) deps.push_back({d.path, d.algo, d.hash});
  k["deps"] = deps;
  k["params"] = now.params;
  J outs = J::array();
  for (const auto& o : s.outs) outs.push_back({o.path, o.cache, o.persist});
  k["outs"] = outs;
  return sha256_hex(k.dump());
}

}  // namespace xops::pipeline
