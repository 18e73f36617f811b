#include "core/app/repro.hpp"

#include <fmt/format.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "core/app/notify.hpp"
#include "core/app/tracked_command.hpp"
#include "core/error.hpp"
#include "core/pipeline/dvc_yaml.hpp"
#include "core/pipeline/graph.hpp"
#include "core/pipeline/metrics.hpp"
#include "core/pipeline/run_cache.hpp"
#include "core/pipeline/stage_state.hpp"
#include "core/pipeline/values.hpp"
#include "core/project/workspace.hpp"
#include "core/store/pointer.hpp"
#include "core/track/track.hpp"
#include "core/track/track_context.hpp"
#include "core/tracking/tracker.hpp"
#include "core/util/fs.hpp"
#include "core/util/interrupt.hpp"

namespace xops::app {

namespace fs = std::filesystem;
using namespace pipeline;

namespace {

bool cacheable(const Stage& s) {
  if (s.always_changed || s.outs.empty()) return false;
  for (const auto& o : s.outs)
    if (!o.cache || o.persist) return false;
  return true;
}

enum class State { Waiting, Running, Done, Failed };

struct Runner {
  const Workspace& ws;
  const ReproOptions& o;
  const ReproObserver& obs;
  Pipeline p;
  Graph g;
  std::mutex mu;  // guards everything below while stages run in parallel
  std::unique_ptr<TrackContext> ctx;
  LockFile lock;
  std::unique_ptr<ParamsCache> params;
  ReproResult res;
  std::vector<State> state;
  std::vector<size_t> report_of;  // stage index -> its row in res.stages
  std::vector<bool> selected;     // stage index -> in this repro
  std::exception_ptr first_error;
  std::condition_variable cv;

  Runner(const Workspace& w, const ReproOptions& opt, const ReproObserver& ob)
      : ws(w), o(opt), obs(ob) {}

  fs::path lock_path() const { return ws.root() / (fs::path(p.file).parent_path() / "dvc.lock"); }
  std::string lock_rel() const {
    return (fs::path(p.file).parent_path() / "dvc.lock").generic_string();
  }

  std::optional<LockedPath> hash(const std::string& rel) {
    auto h = ctx->hash_path(rel, 0);
    if (!h) return std::nullopt;
    LockedPath lp;
    lp.hash = h->is_dir ? h->sha256 + ".dir" : h->sha256;
    lp.size = h->size;
    lp.nfiles = h->is_dir ? h->files : 0;
    return lp;
  }
  PathHashFn hasher() {
    return [this](const std::string& rel) { return hash(rel); };
  }

  void write_lock() {
    std::vector<std::string> order;
    for (const auto& s : p.stages) order.push_back(s.name);
    atomic_write_file(lock_path(), render_lock(lock, order));
    ctx->repo.add({ctx->prefix + lock_rel()});
  }

  StageReport& report(size_t i) { return res.stages[report_of[i]]; }

  // The outputs `outs` (as dvc.lock names them) brought back from the store; false when the
  // store lacks any of them (the stage then runs).
  bool restore(const Stage& s, const std::vector<LockedPath>& outs) {
    // Everything must be in the store before any pointer is written: a restore that cannot
    // finish leaves the stage as it was (it then runs).
    for (const auto& lp : outs) {
      if (!ctx->store.has(lp.object())) return false;
      if (!lp.is_dir()) continue;
      try {
        for (const auto& e : parse_manifest(ctx->store.read(lp.object()), lp.object()))
          if (!ctx->store.has(e.sha256)) return false;
      } catch (const Error&) {
        return false;
      }
    }
    std::vector<std::string> paths;
    for (const auto& out : s.outs) {
      const LockedPath* lp = nullptr;
      for (const auto& x : outs)
        if (x.path == out.path) lp = &x;
      if (!lp) return false;
      Pointer ptr;
      ptr.sha256 = lp->object();
      ptr.size = lp->size;
      ptr.is_dir = lp->is_dir();
      ptr.files = lp->nfiles;
      ptr.name = fs::path(out.rel).filename().string();
      auto pointer_rel = out.rel + kPointerSuffix;
      auto text = render_pointer(ptr);
      std::error_code ec;
      if (!fs::exists(ctx->abs(pointer_rel), ec) || read_file(ctx->abs(pointer_rel)) != text)
        atomic_write_file(ctx->abs(pointer_rel), text);
      ctx->repo.add({ctx->prefix + pointer_rel});
      paths.push_back(ctx->abs(out.rel).string());
    }
    CheckoutOptions co;
    co.paths = paths;
    co.force = true;
    auto r = track_checkout(ws, co, {});
    return r.missing_objects.empty() && r.refused.empty() && r.skipped_modified.empty();
  }

  // Decides stage i and, when it must run, runs it. Called with no lock held.
  void process(size_t i) {
    const Stage& s = p.stages[i];
    StageCheck c;
    bool upstream_pending = false;
    std::string pending_from;
    {
      std::lock_guard<std::mutex> lk(mu);
      auto& r = report(i);
      c = check_stage(s, lock.find(s.name), hasher(), *params);
      r.reasons = c.reasons;
      for (auto u : g.upstream[i]) {
        if (!selected[u]) continue;  // not in this repro: it runs nothing
        const auto& a = res.stages[report_of[u]].action;
        if (a == "would-run" || a == "maybe") {
          upstream_pending = true;
          pending_from = p.stages[u].name;
        }
      }
      if (s.frozen) {
        r.action = "frozen";
        return;
      }
      if (o.dry) {
        // Missing dependencies an upstream stage would produce are not yet an error.
        if (upstream_pending) {
          r.reasons.erase(r.reasons.begin(),
                          r.reasons.begin() + static_cast<long>(c.missing_deps.size()));
          c.changed = !r.reasons.empty();
        }
        if (c.changed || o.force) {
          r.action = "would-run";
          if (!c.changed) r.reasons = {"forced"};
        } else if (upstream_pending) {
          r.action = "maybe";
          r.reasons = {fmt::format("runs if the outputs of {} change", pending_from)};
        } else {
          r.action = "unchanged";
        }
        return;
      }
      if (!c.changed && !o.force) {
        r.action = "unchanged";
        return;
      }
      if (!c.changed) r.reasons = {"forced"};
      if (!c.missing_deps.empty()) {
        r.action = "failed";
        r.error = fmt::format("dependency {} does not exist", c.missing_deps.front());
        return;
      }
      // The run cache, then dvc.lock's own outputs when only they are missing or modified.
      if (!o.force && o.run_cache && cacheable(s)) {
        std::optional<std::vector<LockedPath>> outs =
            run_cache_get(ws.state_dir() / "runs", run_key(s, c.now));
        const char* from = "the run cache";
        if (!outs && c.outputs_only) {
          outs = lock.find(s.name)->outs;
          from = "dvc.lock";
        }
        if (outs) {
          tell(obs.on_info, fmt::format("stage {}: restoring its outputs from {}", s.name, from));
          if (restore(s, *outs)) {
            c.now.outs = *outs;
            lock.stages[s.name] = c.now;
            write_lock();
            r.action = "restored";
            r.reasons.push_back(fmt::format("outputs restored from {}", from));
            return;
          }
        }
      }
    }
    run(i, c);
  }

  void run(size_t i, const StageCheck& c) {
    const Stage& s = p.stages[i];
    if (obs.on_stage_start) obs.on_stage_start(s.name, c.reasons);
    for (const auto& out : s.outs) {
      if (out.persist) continue;
      std::error_code ec;
      fs::remove_all(ws.root() / out.rel, ec);  // DVC removes outputs before a stage runs
    }
    auto cwd = ws.root() / s.wdir;
    std::error_code ec;
    if (!fs::is_directory(cwd, ec)) {
      std::lock_guard<std::mutex> lk(mu);
      report(i).action = "failed";
      report(i).error = fmt::format("wdir {} does not exist", s.wdir);
      return;
    }
    TrackedCommand tc;
    // Several commands run in order, each in its own subshell, until one fails (as DVC runs them).
    std::string joined = s.cmd.size() == 1 ? s.cmd[0] : "";
    if (s.cmd.size() > 1)
      for (const auto& cmd : s.cmd) joined += (joined.empty() ? "(" : " && (") + cmd + "\n)";
    tc.argv = {"/bin/sh", "-c", joined};
    tc.name = s.name;
    J flat = J::object();
    for (auto f = c.now.params.begin(); f != c.now.params.end(); ++f)
      for (auto k = f.value().begin(); k != f.value().end(); ++k)
        flatten(k.value(), f.key() == "params.yaml" ? k.key() : f.key() + ":" + k.key(), flat);
    for (auto it = flat.begin(); it != flat.end(); ++it) tc.params[it.key()] = to_str(it.value());
    tc.tags = {{"stage", s.name}, {"pipeline", p.file}};
    tc.cwd = cwd.string();
    // Its own process group: an interrupt reaches the shell and all it started, and the
    // stage never reads the terminal (stages run unattended, some at once).
    tc.inherit_stdin = false;
    tc.own_group = true;
    TrackedCommandObserver tobs;
    tobs.on_info = obs.on_info;
    if (obs.on_output)
      tobs.on_output = [&](int fd, const char* data, size_t n) {
        obs.on_output(s.name, fd, data, n);
      };
    auto result = run_tracked(ws, tc, tobs);

    std::lock_guard<std::mutex> lk(mu);
    auto& r = report(i);
    r.run_id = result.run_id;
    r.seconds = result.seconds;
    if (result.status != RunStatus::Finished) {
      r.action = "failed";
      if (result.status == RunStatus::Killed) res.interrupted = true;
      r.error = result.status == RunStatus::Killed
                    ? "interrupted"
                    : fmt::format("the command exited with {}", result.exit_code);
      return;
    }
    for (const auto& out : s.outs)
      if (ctx->root.kind(out.rel) == EntryKind::Missing) {
        r.action = "failed";
        r.error = fmt::format("the command did not produce its output {}", out.path);
        return;
      }
    commit(i, result.run_id);
    r.action = "ran";
  }

  // Outputs into the store (cached ones behind pointers), the lock entry, the run cache and
  // the tracked run's lineage. Called with mu held.
  void commit(size_t i, const std::string& run_id) {
    const Stage& s = p.stages[i];
    AddOptions add;
    for (const auto& out : s.outs)
      if (out.cache) add.paths.push_back(ctx->abs(out.rel).string());
    if (!add.paths.empty()) track_add(ws, add, {});
    params = std::make_unique<ParamsCache>(ws.root());  // a stage may have rewritten a params file
    auto after = check_stage(s, nullptr, hasher(), *params);
    lock.stages[s.name] = after.now;
    write_lock();
    if (cacheable(s))
      run_cache_put(ws.state_dir() / "runs", run_key(s, after.now), s.name, after.now.outs);

    auto tracker = Tracker::for_workspace(ws);
    std::map<std::string, std::string> inputs;
    for (const auto& d : s.deps)  // workspace-relative paths and object ids, as every run's inputs
      if (const auto* lp = after.now.dep(d.path)) inputs[d.rel] = lp->object();
    tracker.record_inputs(run_id, inputs);
    for (size_t k = 0; k < s.outs.size(); ++k) {
      const auto* lp = after.now.out(s.outs[k].path);
      if (lp && s.outs[k].cache)
        tracker.log_artifact(run_id, s.outs[k].path, lp->object(), static_cast<int64_t>(lp->size),
                             s.outs[k].rel);
      if (s.outs[k].kind == OutKind::Metric) {
        std::vector<MetricPoint> pts;
        try {
          for (const auto& [key, v] : read_metrics_file(ws.root() / s.outs[k].rel, s.outs[k].rel))
            pts.push_back({key, v, 0, 0});
        } catch (const Error& e) {  // committed already: a metrics file we cannot read is reported
          tell(obs.on_info, fmt::format("stage {}: metrics not logged: {}", s.name, e.what()));
        }
        if (!pts.empty()) tracker.log_metrics(run_id, pts);
      }
    }
  }

  // A cached output goes into the store as `track add` would put it: refused before anything
  // runs when `track add` would refuse it afterwards (inside a directory tracked as one, or
  // holding paths tracked on their own).
  void check_tracked_overlaps() {
    std::set<std::string> outputs;
    for (const auto& s : p.stages)
      for (const auto& o : s.outs) outputs.insert(o.rel);
    auto tracked = ctx->pointers_in_index();
    for (const auto& s : p.stages)
      for (const auto& o : s.outs) {
        if (!o.cache) continue;
        for (const auto& r : tracked) {
          if (r.rel == o.rel || outputs.count(r.rel)) continue;
          if (r.ptr.is_dir && path_within(o.rel, r.rel))
            throw usage_error(
                fmt::format("{}: output '{}' of stage '{}' is inside {}, which `xops track add` "
                            "versions as one directory",
                            s.where, o.rel, s.name, r.rel),
                "write the output elsewhere, or track that directory's files one by one");
          if (path_within(r.rel, o.rel))
            throw usage_error(
                fmt::format("{}: output '{}' of stage '{}' holds {}, which is tracked on its own",
                            s.where, o.rel, s.name, r.rel),
                "untrack it (git rm --cached " + r.rel + ".xops) or write the output elsewhere");
        }
      }
  }

  void go() {
    // One repro at a time; stage commands may still take the workspace lock themselves.
    WorkspaceLock repro_lock(ws, "repro.lock");
    p = load_pipeline(ws.root(), o.file);
    g = build_graph(p);
    res.warnings = p.warnings;
    auto sel = select_stages(g, o.targets, o.single_item, o.downstream);
    if (o.pull && !o.dry) {
      SyncOptions so;
      so.remote = o.remote;
      auto pulled = track_pull(ws, so, {});
      tell(obs.on_info,
           fmt::format("pulled {} objects from {}", pulled.transferred, pulled.remote));
      // As `dvc pull`: what was fetched is checked out (edited files are kept), so the stages
      // whose outputs arrived are unchanged and do not run.
      auto co = track_checkout(ws, CheckoutOptions{}, {});
      if (!co.skipped_modified.empty())
        tell(obs.on_info, fmt::format("kept {} edited file(s) instead of the pulled version",
                                      co.skipped_modified.size()));
    }
    ctx = std::make_unique<TrackContext>(ws);
    check_tracked_overlaps();
    params = std::make_unique<ParamsCache>(ws.root());
    lock = read_lock(lock_path(), lock_rel());
    state.assign(p.stages.size(), State::Done);
    report_of.assign(p.stages.size(), 0);
    selected.assign(p.stages.size(), false);
    for (auto i : sel) {
      selected[i] = true;
      state[i] = State::Waiting;
      report_of[i] = res.stages.size();
      res.stages.push_back({p.stages[i].name, "not-run", {}, "", 0, ""});
    }
    schedule(sel);
    ctx->cache.flush();
    for (const auto& r : res.stages)
      if (r.action == "failed") res.failed = true;
    if (first_error) std::rethrow_exception(first_error);
    if (o.push && !o.dry && !res.failed) {
      SyncOptions so;
      so.remote = o.remote;
      auto pushed = track_push(ws, so, {});
      tell(obs.on_info, fmt::format("pushed {} objects to {}", pushed.transferred, pushed.remote));
    }
  }

  // Starts each stage once every upstream stage has finished, up to o.jobs at a time; after a
  // failure nothing new starts and the stages depending on it are reported not-run.
  void schedule(const std::vector<size_t>& sel) {
    size_t jobs = o.dry ? 1 : static_cast<size_t>(std::max(1, o.jobs));
    std::vector<std::thread> threads;
    std::unique_lock<std::mutex> lk(mu);
    size_t running = 0;
    bool stop = false;
    for (;;) {
      bool ran_inline = false;
      bool any_failed = false;
      for (auto i : sel)
        any_failed = any_failed || (state[i] == State::Failed && report(i).action == "failed");
      stop = any_failed || first_error || interrupt::requested();
      bool waiting = false;
      for (auto i : sel) {
        if (state[i] != State::Waiting) continue;
        waiting = true;
        bool blocked = false, ready = true;
        for (auto u : g.upstream[i]) {
          if (state[u] == State::Failed) blocked = true;
          if (state[u] == State::Waiting || state[u] == State::Running) ready = false;
        }
        if (blocked) {
          state[i] = State::Failed;
          report(i).action = "not-run";
          report(i).reasons = {"an upstream stage failed"};
          continue;
        }
        if (!ready || stop || running >= jobs) continue;
        state[i] = State::Running;
        ++running;
        auto work = [this, i, &running] {
          try {
            process(i);
          } catch (...) {
            std::lock_guard<std::mutex> g2(mu);
            if (!first_error) first_error = std::current_exception();
            report(i).action = "failed";
          }
          std::lock_guard<std::mutex> g2(mu);
          auto& r = report(i);
          state[i] = r.action == "failed" ? State::Failed : State::Done;
          --running;
          if (obs.on_stage_end) obs.on_stage_end(r);
          cv.notify_all();
        };
        if (jobs == 1) {  // one at a time: no thread per stage (a no-op repro of 100 stages)
          lk.unlock();
          work();
          lk.lock();
          ran_inline = true;
          break;  // re-read the states from the top
        }
        threads.emplace_back(work);
      }
      if (ran_inline) continue;
      if (!waiting && running == 0) break;
      if (stop && running == 0) {
        for (auto i : sel)
          if (state[i] == State::Waiting) {
            state[i] = State::Failed;
            report(i).reasons = {interrupt::requested() ? "interrupted"
                                                        : "not reached: an earlier stage failed"};
          }
        break;
      }
      cv.wait(lk);
    }
    lk.unlock();
    for (auto& t : threads) t.join();
  }
};

}  // namespace

ReproResult repro(const Workspace& ws, const ReproOptions& o, const ReproObserver& obs) {
  Runner r(ws, o, obs);
  r.go();
  return std::move(r.res);
}

}  // namespace xops::app
