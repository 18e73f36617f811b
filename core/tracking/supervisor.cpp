#include "core/tracking/supervisor.hpp"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "core/util/subprocess.hpp"

namespace xops {

namespace {

struct ProcStat {
  int ppid = 0;
  unsigned long long ticks = 0;  // utime + stime
  long rss_pages = 0;
};

bool read_stat(int pid, ProcStat& out) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(f, s)) return false;
  auto close = s.rfind(')');  // the command name may contain spaces and ')'
  if (close == std::string::npos) return false;
  std::istringstream is(s.substr(close + 2));
  std::string state;
  is >> state >> out.ppid;
  std::string skip;
  for (int i = 0; i < 9; ++i) is >> skip;  // pgrp .. cmajflt
  unsigned long long ut = 0, st = 0;
  is >> ut >> st;
  out.ticks = ut + st;
  for (int i = 0; i < 8; ++i) is >> skip;  // cutime .. vsize
  is >> out.rss_pages;
  return true;
}

// The child and every descendant (scan of /proc, cheap at a few-second interval).
std::pair<unsigned long long, long> tree_usage(int root) {
  std::map<int, ProcStat> all;
  if (DIR* d = ::opendir("/proc")) {
    while (auto* e = ::readdir(d)) {
      int pid = std::atoi(e->d_name);
      ProcStat ps;
      if (pid > 0 && read_stat(pid, ps)) all[pid] = ps;
    }
    ::closedir(d);
  }
  std::set<int> tree{root};
  bool grew = true;
  while (grew) {
    grew = false;
    for (const auto& [pid, ps] : all)
      if (!tree.count(pid) && tree.count(ps.ppid)) grew = tree.insert(pid).second || grew;
  }
  unsigned long long ticks = 0;
  long rss = 0;
  for (int pid : tree)
    if (all.count(pid)) ticks += all[pid].ticks, rss += all[pid].rss_pages;
  return {ticks, rss};
}

void sample_gpu(SystemSample& s) {
  static int available = -1;
  if (available == 0) return;
  CommandResult r;
  try {
    r = run_command({"nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"}, "",
                    5000);
  } catch (const Error&) {
    available = 0;
    return;
  }
  double util = 0, mem = 0;
  int rows = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    double u = 0, m = 0;
    if (std::sscanf(line.c_str(), "%lf, %lf", &u, &m) == 2) util += u, mem += m, ++rows;
  }
  int rc = r.exit_code;
  available = (rc == 0 && rows > 0) ? 1 : 0;
  if (available) {
    s.gpu_util = util / rows;
    s.gpu_mem_mb = mem;
  }
}

}  // namespace

RunOutcome supervise(const SupervisedCommand& cmd) {
  if (cmd.argv.empty()) throw usage_error("no command given", "xops track run [OPTIONS] -- CMD ARGS...");
  ChildSpec spec;
  spec.argv = cmd.argv;
  spec.env = cmd.env;
  spec.inherit_stdin = cmd.inherit_stdin;  // the command may be interactive
  spec.cwd = cmd.cwd;
  spec.on_output = cmd.on_output;
  // The command decides how to stop (save, clean up).
  spec.on_interrupt = cmd.own_group ? OnInterrupt::ForwardGroup : OnInterrupt::Forward;
  long ticks_per_s = ::sysconf(_SC_CLK_TCK), page_kb = ::sysconf(_SC_PAGESIZE) / 1024;
  auto start = std::chrono::steady_clock::now(), last_sample = start;
  unsigned long long last_ticks = 0;
  pid_t pid = 0;
  spec.on_start = [&](pid_t child) { pid = child; };
  spec.on_tick = [&] {
    if (cmd.on_tick) cmd.on_tick();
    auto now = std::chrono::steady_clock::now();
    double since = std::chrono::duration<double>(now - last_sample).count();
    if (!cmd.on_sample || !pid || since < cmd.sample_seconds) return;
    auto [ticks, rss] = tree_usage(pid);
    SystemSample s;
    s.cpu_percent = 100.0 * static_cast<double>(ticks - last_ticks) / ticks_per_s / since;
    s.rss_mb = rss * page_kb / 1024.0;
    sample_gpu(s);
    last_ticks = ticks;
    last_sample = now;
    cmd.on_sample(s);
  };
  auto r = run_child(spec);
  if (r.exec_errno)
    throw usage_error(fmt::format("cannot run '{}': {}", cmd.argv[0], errno_text(r.exec_errno)),
                      "check the command name and PATH; wrap shell syntax in `sh -c '...'`");
  RunOutcome res;
  res.exit_code = r.exit_code;
  res.signal = r.signal;
  res.interrupted = r.interrupted;
  res.seconds = r.seconds;
  return res;
}

}  // namespace xops
