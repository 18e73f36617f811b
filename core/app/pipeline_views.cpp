#include "core/app/pipeline_views.hpp"

#include <fmt/format.h>

#include <map>
#include <set>

#include "core/error.hpp"
#include "core/pipeline/dvc_yaml.hpp"
#include "core/pipeline/graph.hpp"
#include "core/pipeline/lock.hpp"
#include "core/pipeline/metrics.hpp"
#include "core/pipeline/values.hpp"
#include "core/project/workspace.hpp"
#include "core/track/track_context.hpp"
#include "core/util/fs.hpp"

namespace xops::app {

namespace fs = std::filesystem;
using namespace pipeline;

Pipeline list_stages(const Workspace& ws, const std::string& file) {
  return load_pipeline(ws.root(), file);
}

std::string render_dag(const Workspace& ws, const DagOptions& o) {
  auto p = load_pipeline(ws.root(), o.file);
  auto g = build_graph(p);
  auto sel = select_stages(g, o.targets, false, false);
  return o.dot ? render_dag_dot(g, sel) : render_dag_text(g, sel);
}

namespace {

constexpr uint64_t kMaxRevFile = 16u << 20;

// Files of one side of a comparison: the workspace, or a git revision (committed files, and
// outputs dvc.lock names there read from the store).
class Side {
 public:
  Side(TrackContext& ctx, std::string rev) : ctx_(ctx), rev_(std::move(rev)) {
    if (!rev_.empty()) commit_ = ctx_.repo.resolve_commit(rev_);
  }
  std::optional<std::string> read(const std::string& rel) {
    if (rev_.empty()) {
      auto fd = ctx_.root.open_regular(rel);
      if (!fd) return std::nullopt;
      return read_fd_limited(fd.get(), kMaxRevFile, "a params or metrics file", rel);
    }
    if (auto found = read_git(ctx_.prefix + rel)) return found;
    // Not in git: an output that dvc.lock at that revision names, from the store.
    if (!lock_) {
      auto text = read_git(ctx_.prefix + "dvc.lock");
      lock_ = text ? parse_lock(*text, rev_ + ":dvc.lock") : LockFile{};
    }
    for (const auto& [name, st] : lock_->stages)
      for (const auto& o : st.outs)
        if (o.path == rel && !o.is_dir() && ctx_.store.has(o.hash)) {
          if (fs::file_size(ctx_.store.path_of(o.hash)) > kMaxRevFile)
            throw runtime_error(
                fmt::format("{} at {} is larger than a metrics file may be", rel, rev_));
          return ctx_.store.read(o.hash);
        }
    return std::nullopt;
  }
  const std::string& label() const { return rev_; }

 private:
  std::optional<std::string> read_git(const std::string& path) {
    std::optional<std::string> found;
    ctx_.repo.for_each_blob(
        commit_, [&](const std::string& p) { return p == path; },
        [&](const std::string&, const std::string& content) { found = content; });
    return found;
  }
  TrackContext& ctx_;
  std::string rev_, commit_;
  std::optional<LockFile> lock_;
};

std::vector<std::string> params_files(const Workspace& ws, const std::string& file) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  auto add = [&](const std::string& f) {
    if (seen.insert(f).second) out.push_back(f);
  };
  auto base = fs::path(file).parent_path().generic_string();
  add(workspace_rel(base, "params.yaml", file));
  std::error_code ec;
  if (fs::exists(ws.root() / file, ec)) {
    auto p = load_pipeline(ws.root(), file);
    for (const auto& s : p.stages)
      for (const auto& r : s.params) add(r.rel);
    for (const auto& f : p.params) add(f);
  }
  return out;
}

std::vector<std::string> metrics_files(const Workspace& ws, const std::string& file) {
  auto p = load_pipeline(ws.root(), file);
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (const auto& f : p.metrics)
    if (seen.insert(f).second) out.push_back(f);
  for (const auto& s : p.stages)
    for (const auto& o : s.outs)
      if (o.kind == OutKind::Metric && seen.insert(o.rel).second) out.push_back(o.rel);
  return out;
}

std::map<std::string, double> metrics_of(Side& side, const std::string& rel) {
  std::map<std::string, double> m;
  auto text = side.read(rel);
  if (!text) return m;
  for (const auto& [k, v] : parse_metrics(*text, rel)) m[k] = v;
  return m;
}

}  // namespace

std::vector<ParamChange> params_diff(const Workspace& ws, const std::string& a_rev,
                                     const std::string& b_rev, bool all, const std::string& file) {
  TrackContext ctx(ws);
  Side a(ctx, a_rev.empty() ? "HEAD" : a_rev), b(ctx, b_rev);
  std::vector<ParamChange> out;
  for (const auto& f : params_files(ws, file)) {
    J fa = J::object(), fb = J::object();
    if (auto t = a.read(f)) flatten(parse_values(*t, f), "", fa);
    if (auto t = b.read(f)) flatten(parse_values(*t, f), "", fb);
    for (auto it = fb.begin(); it != fb.end(); ++it) {
      ParamChange c{f, it.key(), std::nullopt, it.value(), true};
      if (fa.contains(it.key())) c.old_value = fa[it.key()];
      c.changed = !c.old_value || *c.old_value != it.value();
      if (all || c.changed) out.push_back(std::move(c));
    }
    for (auto it = fa.begin(); it != fa.end(); ++it)
      if (!fb.contains(it.key())) out.push_back({f, it.key(), it.value(), std::nullopt, true});
  }
  return out;
}

std::vector<MetricRow> metrics_show(const Workspace& ws, const std::string& rev,
                                    const std::string& file) {
  TrackContext ctx(ws);
  Side side(ctx, rev);
  std::vector<MetricRow> out;
  for (const auto& f : metrics_files(ws, file))
    for (const auto& [k, v] : metrics_of(side, f)) out.push_back({f, k, std::nullopt, v});
  return out;
}

std::vector<MetricRow> metrics_diff(const Workspace& ws, const std::string& a_rev,
                                    const std::string& b_rev, bool all, const std::string& file) {
  TrackContext ctx(ws);
  Side a(ctx, a_rev.empty() ? "HEAD" : a_rev), b(ctx, b_rev);
  std::vector<MetricRow> out;
  for (const auto& f : metrics_files(ws, file)) {
    auto ma = metrics_of(a, f), mb = metrics_of(b, f);
    std::set<std::string> keys;
    for (const auto& [k, v] : ma) keys.insert(k);
    for (const auto& [k, v] : mb) keys.insert(k);
    for (const auto& k : keys) {
      MetricRow r{f, k, std::nullopt, std::nullopt};
      if (ma.count(k)) r.old_value = ma[k];
      if (mb.count(k)) r.new_value = mb[k];
      if (all || r.changed()) out.push_back(r);
    }
  }
  return out;
}

}  // namespace xops::app
