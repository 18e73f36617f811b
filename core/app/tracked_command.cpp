#include "core/app/tracked_command.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/app/notify.hpp"
#include "core/error.hpp"
#include "core/project/workspace.hpp"
#include "core/store/object_store.hpp"
#include "core/tracking/metrics_file.hpp"
#include "core/tracking/supervisor.hpp"
#include "core/tracking/tracker.hpp"
#include "core/util/fs.hpp"

namespace xops::app {

namespace fs = std::filesystem;

namespace {

RunStart run_start(const TrackedCommand& c) {
  RunStart s;
  s.name = c.name.empty() ? fs::path(c.argv[0]).filename().string() : c.name;
  for (const auto& a : c.argv) s.command += (s.command.empty() ? "" : " ") + a;
  s.params = c.params;
  s.tags = c.tags;
  return s;
}

// CPU/RSS (and GPU) samples as system.* metrics, one step per sample.
std::function<void(const SystemSample&)> sampler(Tracker& tracker, const std::string& id) {
  return [&tracker, id, step = int64_t{0}](const SystemSample& smp) mutable {
    std::vector<MetricPoint> pts = {{"system.cpu_percent", smp.cpu_percent, step, 0},
                                    {"system.rss_mb", smp.rss_mb, step, 0}};
    if (smp.gpu_util) pts.push_back({"system.gpu_util", *smp.gpu_util, step, 0});
    if (smp.gpu_mem_mb) pts.push_back({"system.gpu_mem_mb", *smp.gpu_mem_mb, step, 0});
    ++step;
    tracker.log_metrics(id, pts);
  };
}

// The child's stdout/stderr logs into the store, as the run's artifacts.
void keep_logs(const Workspace& ws, Tracker& tracker, const std::string& id, const fs::path& dir) {
  ObjectStore store(ws.objects_dir(), ws.tmp_dir());
  for (const char* name : {"stdout.log", "stderr.log"}) {
    auto p = dir / name;
    if (fs::file_size(p) == 0) continue;
    auto obj = store.add_file(p);
    tracker.log_artifact(id, name, obj.id, static_cast<int64_t>(obj.size), "");
  }
}

RunStatus status_of(const RunOutcome& res) {
  if (res.interrupted || res.signal == SIGKILL || res.signal == SIGINT || res.signal == SIGTERM)
    return RunStatus::Killed;
  return res.exit_code == 0 ? RunStatus::Finished : RunStatus::Failed;
}

}  // namespace

std::map<std::string, std::string> child_environment(const std::string& run_id, Tracker& tracker,
                                                     const std::string& metrics_file,
                                                     const Workspace& ws) {
  return {{"XOPS_RUN_ID", run_id},
          {"XOPS_DB", tracker.db().url()},
          {"XOPS_METRICS_FILE", metrics_file},
          {"XOPS_WORKSPACE", ws.root().string()}};
}

TrackedCommandResult run_tracked(const Workspace& ws, const TrackedCommand& c,
                                 const TrackedCommandObserver& obs) {
  if (c.argv.empty())
    throw usage_error("no command given", "xops track run [OPTIONS] -- CMD ARGS...");
  auto tracker = Tracker::for_workspace(ws);
  auto start = run_start(c);
  RunSession session(tracker, start, &ws);  // ends the run however we leave
  const auto& id = session.id();
  tell(obs.on_info, fmt::format("run {} started: {}", id, start.command));

  auto dir = ws.tmp_dir() / ("run-" + id);
  fs::create_directories(dir);
  ScopedCleanup cleanup(dir);  // the run directory (logs, metrics file) goes however this ends
  auto metrics_file = dir / "metrics.jsonl";
  atomic_write_file(metrics_file, "");
  std::ofstream logs[2] = {std::ofstream(dir / "stdout.log", std::ios::binary),
                           std::ofstream(dir / "stderr.log", std::ios::binary)};
  MetricsFileReader reader(metrics_file, tracker, id, obs.on_warning);

  SupervisedCommand cmd;
  cmd.argv = c.argv;
  cmd.env = child_environment(id, tracker, metrics_file.string(), ws);
  cmd.sample_seconds = c.sample_seconds;
  cmd.cwd = c.cwd;
  cmd.inherit_stdin = c.inherit_stdin;
  cmd.own_group = c.own_group;
  cmd.on_output = [&](int fd, const char* data, size_t n) {
    if (obs.on_output) {
      obs.on_output(fd, data, n);
    } else {
      ssize_t ignored = ::write(fd, data, n);
      (void)ignored;
    }
    logs[fd - 1].write(data, static_cast<std::streamsize>(n));
  };
  cmd.on_sample = sampler(tracker, id);
  cmd.on_tick = [&] { reader.poll(); };
  RunOutcome res;
  try {
    res = supervise(cmd);
  } catch (...) {
    session.finish(RunStatus::Failed, 127);
    throw;
  }
  for (auto& l : logs) l.close();
  keep_logs(ws, tracker, id, dir);
  auto status = status_of(res);
  session.finish(status, res.exit_code);  // the exit code this process returns
  return {id, start.name, status, res.exit_code, res.seconds};
}

}  // namespace xops::app
