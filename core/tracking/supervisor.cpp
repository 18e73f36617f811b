#include "core/tracking/supervisor.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/util/fs.hpp"

namespace xops {

namespace {

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

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
  FILE* p = ::popen("nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits 2>/dev/null", "r");
  if (!p) return;
  char buf[256];
  double util = 0, mem = 0;
  int rows = 0;
  while (std::fgets(buf, sizeof buf, p)) {
    double u = 0, m = 0;
    if (std::sscanf(buf, "%lf, %lf", &u, &m) == 2) util += u, mem += m, ++rows;
  }
  int rc = ::pclose(p);
  available = (rc == 0 && rows > 0) ? 1 : 0;
  if (available) {
    s.gpu_util = util / rows;
    s.gpu_mem_mb = mem;
  }
}

}  // namespace

RunOutcome supervise(const SupervisedCommand& cmd) {
  if (cmd.argv.empty()) throw usage_error("no command given", "xops track run [OPTIONS] -- CMD ARGS...");
  int out_pipe[2], err_pipe[2], exec_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) || ::pipe2(err_pipe, O_CLOEXEC) || ::pipe2(exec_pipe, O_CLOEXEC))
    throw runtime_error(fmt::format("pipe: {}", errno_text(errno)));
  struct sigaction sa {}, old_int{}, old_term{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  g_signal = 0;
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);

  auto start = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0) throw runtime_error(fmt::format("fork: {}", errno_text(errno)));
  if (pid == 0) {
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    for (const auto& [k, v] : cmd.env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (const auto& a : cmd.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    int err = errno;
    ssize_t ignored = ::write(exec_pipe[1], &err, sizeof err);
    (void)ignored;
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(exec_pipe[1]);
  int exec_err = 0;
  bool exec_failed = ::read(exec_pipe[0], &exec_err, sizeof exec_err) == sizeof exec_err;
  ::close(exec_pipe[0]);
  if (exec_failed) {
    ::waitpid(pid, nullptr, 0);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    throw usage_error(fmt::format("cannot run '{}': {}", cmd.argv[0], errno_text(exec_err)),
                      "check the command name and PATH; wrap shell syntax in `sh -c '...'`");
  }

  RunOutcome res;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  long ticks_per_s = ::sysconf(_SC_CLK_TCK), page_kb = ::sysconf(_SC_PAGESIZE) / 1024;
  auto last_sample = start, last_tick = start;
  unsigned long long last_ticks = 0;
  bool forwarded = false;
  int status = 0;
  bool reaped = false;
  while (open_fds > 0 || !reaped) {
    if (g_signal && !forwarded) {
      ::kill(pid, g_signal);
      res.interrupted = forwarded = true;
    }
    if (open_fds > 0) {
      int n = ::poll(fds, 2, 200);
      if (n > 0) {
        for (int i = 0; i < 2; ++i) {
          if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
          ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
          if (r <= 0) {
            ::close(fds[i].fd);
            fds[i].fd = -1;
            --open_fds;
          } else if (cmd.on_output) {
            cmd.on_output(i + 1, buf, static_cast<size_t>(r));
          }
        }
      }
    } else {
      ::usleep(20000);
    }
    if (!reaped && ::waitpid(pid, &status, WNOHANG) == pid) reaped = true;
    auto now = std::chrono::steady_clock::now();
    if (cmd.on_tick && now - last_tick > std::chrono::milliseconds(500)) {
      last_tick = now;
      cmd.on_tick();
    }
    double since = std::chrono::duration<double>(now - last_sample).count();
    if (cmd.on_sample && !reaped && since >= cmd.sample_seconds) {
      auto [ticks, rss] = tree_usage(pid);
      SystemSample s;
      s.cpu_percent = 100.0 * static_cast<double>(ticks - last_ticks) / ticks_per_s / since;
      s.rss_mb = rss * page_kb / 1024.0;
      sample_gpu(s);
      last_ticks = ticks;
      last_sample = now;
      cmd.on_sample(s);
    }
  }
  if (cmd.on_tick) cmd.on_tick();
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (WIFEXITED(status)) {
    res.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    res.signal = WTERMSIG(status);
    res.exit_code = 128 + res.signal;
  }
  if (g_signal && !res.signal) res.interrupted = true;
  return res;
}

}  // namespace xops
