#include "core/app/finetune_launch.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "core/app/notify.hpp"
#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "core/util/interrupt.hpp"

extern char** environ;

namespace xops::app {

namespace {

// A whole decimal integer in [lo, hi], or a usage error naming the variable.
int env_int(const char* name, const char* v, int lo, int hi) {
  int x = 0;
  const char* end = v + std::strlen(v);
  auto [p, ec] = std::from_chars(v, end, x);
  if (ec != std::errc() || p != end || x < lo || x > hi)
    throw usage_error(fmt::format("{}={:?} is not a whole number from {} to {}", name, v, lo, hi),
                      "torchrun's variables: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, "
                      "MASTER_ADDR, MASTER_PORT (see docs/finetune.md, Distributed training)");
  return x;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw runtime_error(fmt::format("socket: {}", std::strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  if (!port)
    throw runtime_error("could not find a free port for the rendezvous",
                        "give one with --master-port");
  return port;
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return fmt::format("was killed by signal {} ({})", sig, ::strsignal(sig));
  }
  return fmt::format("exited with status {}", WEXITSTATUS(status));
}

ErrorKind kind_of(int status) {
  if (!WIFEXITED(status)) return ErrorKind::Runtime;
  switch (WEXITSTATUS(status)) {
    case 2:
      return ErrorKind::Usage;
    case 3:
      return ErrorKind::Precondition;
    case 4:
      return ErrorKind::CheckFailed;
    case 130:
      return ErrorKind::Interrupted;
    default:
      return ErrorKind::Runtime;
  }
}

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  bool done = false;
  int status = 0;
};

pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::vector<char*> av, ev;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  for (const auto& e : env) ev.push_back(const_cast<char*>(e.c_str()));
  ev.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, av[0], nullptr, nullptr, av.data(), ev.data());
  if (rc != 0)
    throw runtime_error(
        fmt::format("could not start a worker ({}): {}", argv[0], std::strerror(rc)));
  return pid;
}

// Our environment with the torchrun variables replaced.
std::vector<std::string> worker_env(const std::map<std::string, std::string>& set) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos && set.count(kv.substr(0, eq))) continue;
    env.push_back(std::move(kv));
  }
  for (const auto& [k, v] : set) env.push_back(k + "=" + v);
  return env;
}

}  // namespace

std::optional<WorldSpec> world_from_env(const EnvLookup& env) {
  const char* ws = env("WORLD_SIZE");
  if (!ws || !*ws) return std::nullopt;
  WorldSpec w;
  w.world_size = env_int("WORLD_SIZE", ws, 1, 65536);
  const char* rank = env("RANK");
  if (w.world_size == 1 && (!rank || std::string(rank) == "0")) return std::nullopt;
  if (!rank || !*rank)
    throw usage_error(fmt::format("WORLD_SIZE={} is set but RANK is not", w.world_size),
                      "set RANK (0 to WORLD_SIZE-1) for each process, or unset WORLD_SIZE");
  w.rank = env_int("RANK", rank, 0, w.world_size - 1);
  const char* lr = env("LOCAL_RANK");
  const char* lws = env("LOCAL_WORLD_SIZE");
  w.local_world_size =
      lws && *lws ? env_int("LOCAL_WORLD_SIZE", lws, 1, w.world_size) : w.world_size;
  w.local_rank = lr && *lr ? env_int("LOCAL_RANK", lr, 0, w.local_world_size - 1)
                           : w.rank % w.local_world_size;
  const char* addr = env("MASTER_ADDR");
  w.master_addr = addr && *addr ? addr : "127.0.0.1";
  const char* port = env("MASTER_PORT");
  if (!port || !*port)
    throw usage_error(
        fmt::format("RANK={} WORLD_SIZE={}: MASTER_PORT is not set", w.rank, w.world_size),
        "set MASTER_PORT (and MASTER_ADDR, rank 0's address) the same for every rank");
  w.master_port = env_int("MASTER_PORT", port, 1, 65535);
  if (const char* t = env("XOPS_DIST_TIMEOUT"); t && *t)
    w.timeout_s = env_int("XOPS_DIST_TIMEOUT", t, 1, 86400);
  return w;
}

std::optional<WorldSpec> world_from_env() {
  return world_from_env([](const char* k) { return static_cast<const char*>(std::getenv(k)); });
}

std::vector<std::string> strip_launcher_args(const std::vector<std::string>& argv) {
  static const char* opts[] = {"--nproc-per-node", "--nnodes",      "--node-rank",
                               "--master-addr",    "--master-port", "--dist-timeout"};
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    bool skip = false;
    for (const char* o : opts) {
      if (argv[i] == o) {
        skip = true;
        ++i;  // and its value
        break;
      }
      if (argv[i].rfind(std::string(o) + "=", 0) == 0) {
        skip = true;
        break;
      }
    }
    if (!skip) out.push_back(argv[i]);
  }
  return out;
}

std::vector<std::string> own_command_line() {
  std::string raw = read_file("/proc/self/cmdline");
  std::vector<std::string> argv;
  for (size_t at = 0; at < raw.size();) {
    size_t end = raw.find('\0', at);
    if (end == std::string::npos) end = raw.size();
    argv.push_back(raw.substr(at, end - at));
    at = end + 1;
  }
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec || argv.empty()) throw runtime_error("cannot read this process's command line from /proc");
  argv[0] = exe.string();
  return argv;
}

void launch_workers(const LaunchSpec& spec, const LaunchObserver& obs) {
  if (spec.nproc_per_node < 1 || spec.nnodes < 1 || spec.node_rank < 0 ||
      spec.node_rank >= spec.nnodes)
    throw usage_error(
        fmt::format("--nproc-per-node {} --nnodes {} --node-rank {}: need N >= 1, "
                    "M >= 1 and 0 <= R < M",
                    spec.nproc_per_node, spec.nnodes, spec.node_rank));
  if (spec.nnodes > 1 && spec.master_addr.empty())
    throw usage_error("--nnodes > 1 needs --master-addr (node 0's address, where rank 0 listens)");
  const std::string addr = spec.master_addr.empty() ? "127.0.0.1" : spec.master_addr;
  const int port = spec.master_port ? spec.master_port : spec.nnodes > 1 ? 29500 : free_port();
  const int world = spec.nnodes * spec.nproc_per_node;
  tell(obs.on_info, fmt::format("starting {} worker{} on this node (node {} of {}, world size {}, "
                                "rendezvous {}:{})",
                                spec.nproc_per_node, spec.nproc_per_node == 1 ? "" : "s",
                                spec.node_rank, spec.nnodes, world, addr, port));
  // Signals sent to us are counted, not fatal: forwarded, so every worker stops at a step
  // boundary (and a second one stops them at once).
  interrupt::ForwardScope forward;
  const unsigned seen0 = interrupt::count();
  std::vector<Worker> workers;
  auto kill_all = [&](int sig) {
    for (auto& w : workers)
      if (!w.done) ::kill(w.pid, sig);
  };
  try {
    for (int local = 0; local < spec.nproc_per_node; ++local) {
      Worker w;
      w.rank = spec.node_rank * spec.nproc_per_node + local;
      std::map<std::string, std::string> env = {
          {"RANK", std::to_string(w.rank)},
          {"LOCAL_RANK", std::to_string(local)},
          {"WORLD_SIZE", std::to_string(world)},
          {"LOCAL_WORLD_SIZE", std::to_string(spec.nproc_per_node)},
          {"GROUP_RANK", std::to_string(spec.node_rank)},
          {"MASTER_ADDR", addr},
          {"MASTER_PORT", std::to_string(port)}};
      if (spec.timeout_s > 0) env["XOPS_DIST_TIMEOUT"] = std::to_string(spec.timeout_s);
      w.pid = spawn(spec.worker_argv, worker_env(env));
      workers.push_back(w);
    }
  } catch (...) {
    kill_all(SIGKILL);
    for (auto& w : workers) ::waitpid(w.pid, nullptr, 0);
    throw;
  }
  const Worker* failed = nullptr;
  unsigned forwarded = seen0;
  std::chrono::steady_clock::time_point kill_at{};
  size_t running = workers.size();
  bool first_round = true;  // until the first failure is seen
  while (running > 0) {
    for (auto& w : workers) {
      if (w.done) continue;
      pid_t r = ::waitpid(w.pid, &w.status, WNOHANG);
      if (r != w.pid) continue;
      w.done = true;
      --running;
      bool ok = WIFEXITED(w.status) && WEXITSTATUS(w.status) == 0;
      // The cause, when several ended in the same poll: a worker killed by a signal (its
      // peers then fail in their next collective) rather than the peers.
      if (!ok &&
          (!failed || (first_round && WIFSIGNALED(w.status) && !WIFSIGNALED(failed->status))))
        failed = &w;
    }
    if (failed && first_round) {
      first_round = false;
      kill_all(SIGTERM);
      kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(spec.grace_s);
    }
    if (unsigned n = interrupt::count(); n != forwarded) {
      // Ctrl-C reached the workers from the terminal already; kill(2) reached only us.
      if (!interrupt::last_from_terminal())
        kill_all(interrupt::signal_number() ? interrupt::signal_number() : SIGTERM);
      forwarded = n;
    }
    if (failed && running > 0 && std::chrono::steady_clock::now() >= kill_at) {
      kill_all(SIGKILL);
      kill_at = std::chrono::steady_clock::time_point::max();
    }
    if (running > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!failed) return;
  if (kind_of(failed->status) == ErrorKind::Interrupted)
    throw Error(ErrorKind::Interrupted, "interrupted: the workers stopped",
                "continue with --resume (rank 0 wrote a checkpoint at the step it stopped)");
  const size_t others = workers.size() - 1;
  throw Error(
      kind_of(failed->status),
      fmt::format(
          "worker rank {} (pid {}) {}{}", failed->rank, failed->pid, describe(failed->status),
          others == 0   ? ""
          : others == 1 ? "; the other worker on this node was stopped"
                        : fmt::format("; the other {} workers on this node were stopped", others)),
      WIFSIGNALED(failed->status)
          ? "it was killed from outside (out of memory? see dmesg); with checkpoints "
            "(save_interval) continue with --resume"
          : "its own error is above; with checkpoints (save_interval) continue with "
            "--resume");
}

}  // namespace xops::app
