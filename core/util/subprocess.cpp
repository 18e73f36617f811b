#include "core/util/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>

#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "core/util/interrupt.hpp"

namespace xops {

namespace {
using clk = std::chrono::steady_clock;

// The child's environment, built before fork: a forked child of a threaded process may only
// call async-signal-safe functions (setenv may take a malloc lock another thread held).
std::vector<std::string> child_environment(const std::map<std::string, std::string>& env) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto key = kv.substr(0, kv.find('='));
    if (!env.count(key)) out.push_back(std::move(kv));
  }
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() {
    if (::pipe2(fd, O_CLOEXEC)) throw runtime_error(fmt::format("pipe: {}", errno_text(errno)));
  }
  ~Pipe() {
    close(0);
    close(1);
  }
  void close(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
};

// posix_spawn with the given fds as stdin (-1: ours), stdout and stderr; in its own process
// group when asked. glibc spawns with CLONE_VM|CLONE_VFORK: no copy of this process's page
// tables (a fork of the 30 MB, many-threaded xops cost milliseconds per command, most of an
// eval exec: case). An exec (or chdir) failure comes back as *exec_errno, with no child:
// the result is -1.
pid_t spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            bool own_group, int in_fd, int out_fd, int err_fd, int* exec_errno,
            const std::string& cwd = {}) {
  auto env_strings = child_environment(env);
  std::vector<char*> envp, args;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&fa);
  ::posix_spawnattr_init(&attr);
  if (in_fd >= 0) ::posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  ::posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  ::posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  if (!cwd.empty()) ::posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (own_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    ::posix_spawnattr_setpgroup(&attr, 0);
  }
  ::posix_spawnattr_setflags(&attr, flags);
  sigset_t none, defaults;
  sigemptyset(&none);
  ::posix_spawnattr_setsigmask(&attr, &none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);  // we ignore it; the command must not inherit that
  ::posix_spawnattr_setsigdefault(&attr, &defaults);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &fa, &attr, args.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&fa);
  ::posix_spawnattr_destroy(&attr);
  *exec_errno = rc;
  return rc == 0 ? pid : -1;
}

class Running {
 public:
  Running(const ChildSpec& spec, pid_t pid, unsigned signals_before)
      : spec_(spec),
        pid_(pid),
        own_group_(spec.on_interrupt != OnInterrupt::Forward),
        forwarded_(signals_before) {}

  void kill_all() {
    if (own_group_) ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);  // also in case setpgid lost a race with the kill
    killed_ = true;
  }
  bool killed() const { return killed_; }

  // Interrupts, timeout and ticks; true when the child has been killed.
  bool attend(ChildResult& r, clk::time_point deadline) {
    if (spec_.on_interrupt == OnInterrupt::Kill) {
      if (interrupt::requested() && !killed_) {
        interrupted_ = true;
        kill_all();
      }
    } else {
      for (unsigned c = interrupt::count(); forwarded_ < c; ++forwarded_) {
        r.interrupted = true;
        if (spec_.on_interrupt == OnInterrupt::ForwardGroup) {
          ::kill(-pid_, interrupt::signal_number());  // the shell and everything it started
          continue;
        }
        // Ctrl-C at the terminal already reached the child (same process group).
        if (!interrupt::last_from_terminal()) ::kill(pid_, interrupt::signal_number());
      }
    }
    if (spec_.timeout_ms > 0 && !killed_ && clk::now() >= deadline) {
      r.timed_out = true;
      kill_all();
    }
    if (spec_.on_tick && clk::now() - last_tick_ >= std::chrono::milliseconds(500)) {
      last_tick_ = clk::now();
      spec_.on_tick();
    }
    return killed_;
  }
  bool interrupted() const { return interrupted_; }

 private:
  const ChildSpec& spec_;
  pid_t pid_;
  bool own_group_;
  bool killed_ = false, interrupted_ = false;
  unsigned forwarded_;
  clk::time_point last_tick_ = clk::now();
};
}  // namespace

ChildResult run_child(const ChildSpec& spec) {
  if (spec.argv.empty()) throw usage_error("no command to run");
  Pipe in, out, err;
  const bool own_group = spec.on_interrupt != OnInterrupt::Forward;
  const bool forward = spec.on_interrupt != OnInterrupt::Kill;
  std::optional<interrupt::ForwardScope> forwarding;
  if (forward) forwarding.emplace();  // before fork: no signal may end us once it runs
  unsigned signals_before = interrupt::count();

  auto start = clk::now();
  ChildResult r;
  pid_t pid = spawn(spec.argv, spec.env, own_group, spec.inherit_stdin ? -1 : in.fd[0], out.fd[1],
                    err.fd[1], &r.exec_errno, spec.cwd);
  in.close(0);
  out.close(1);
  err.close(1);
  if (pid < 0) {  // it never ran: exec (or the chdir before it) failed
    r.exit_code = 127;
    r.err = fmt::format("cannot run '{}': {}\n", spec.argv[0], errno_text(r.exec_errno));
    return r;
  }
  std::optional<interrupt::ChildGroup> registered;
  if (own_group) registered.emplace(pid);  // a second Ctrl-C kills its group before we exit
  if (!r.exec_errno && spec.on_start) spec.on_start(pid);

  ::signal(SIGPIPE, SIG_IGN);  // a child that stops reading its stdin must not kill us
  Running run(spec, pid, signals_before);
  size_t written = 0;
  bool in_open = !spec.inherit_stdin && !spec.input.empty() && !r.exec_errno;
  if (!in_open) in.close(1);
  pollfd fds[3] = {{out.fd[0], POLLIN, 0}, {err.fd[0], POLLIN, 0}, {in.fd[1], POLLOUT, 0}};
  int open_fds = 2;
  auto deadline = start + std::chrono::milliseconds(spec.timeout_ms);
  char buf[65536];
  while ((open_fds > 0 || in_open) && !run.attend(r, deadline)) {
    int wait_ms = 200;
    if (spec.timeout_ms > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clk::now()).count();
      wait_ms = static_cast<int>(std::clamp<long long>(left, 0, wait_ms));
    }
    int n = ::poll(fds, in_open ? 3 : 2, wait_ms);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2 && n > 0; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t k = ::read(fds[i].fd, buf, sizeof buf);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        (i == 0 ? out : err).close(0);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      if (spec.on_output) {
        spec.on_output(i + 1, buf, static_cast<size_t>(k));
        continue;
      }
      auto& dst = i == 0 ? r.out : r.err;
      dst.append(buf, static_cast<size_t>(k));
      if (spec.max_output && dst.size() > spec.max_output) {
        r.output_too_large = true;
        dst.resize(spec.max_output);
        run.kill_all();
        break;
      }
    }
    if (in_open && !run.killed() && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t k = ::write(in.fd[1], spec.input.data() + written, spec.input.size() - written);
      if (k > 0) written += static_cast<size_t>(k);
      if ((k < 0 && errno != EINTR && errno != EAGAIN) || written == spec.input.size()) {
        in.close(1);
        in_open = false;
      }
    }
  }
  in.close(1);
  // The pipes can close while the command lives on (it closed them, or left a daemon): the
  // timeout and interrupts still hold for the wait.
  int st = 0;
  useconds_t nap = 50;  // most commands exit right after closing their pipes
  for (;;) {
    pid_t w = ::waitpid(pid, &st, run.killed() ? 0 : WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (w == 0 && !run.attend(r, deadline)) {
      ::usleep(nap);
      nap = std::min<useconds_t>(nap * 2, 20000);
    }
  }
  if (spec.on_tick) spec.on_tick();
  r.seconds = std::chrono::duration<double>(clk::now() - start).count();
  if (WIFEXITED(st)) {
    r.exit_code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    r.signal = WTERMSIG(st);
    r.exit_code = 128 + r.signal;
  }
  if (r.exec_errno)
    r.err = fmt::format("cannot run '{}': {}\n", spec.argv[0], errno_text(r.exec_errno));
  if (run.interrupted()) interrupt::check();  // Kill mode: the command ends as ours does
  if (forward && r.interrupted) interrupt::reset();  // the child had the signal; we go on
  return r;
}

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input, int timeout_ms,
                          const std::map<std::string, std::string>& env, size_t max_output) {
  ChildSpec s;
  s.argv = argv;
  s.input = input;
  s.timeout_ms = std::max(1, timeout_ms);
  s.env = env;
  s.max_output = max_output;
  return run_child(s);
}

// ---- LineChild

struct LineChild::State {
  pid_t pid = -1;
  int in = -1, out = -1, err = -1;
  std::string out_buf, err_tail;
  std::optional<interrupt::ChildGroup> group;
};

LineChild::LineChild(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env)
    : s_(std::make_unique<State>()) {
  if (argv.empty()) throw usage_error("no command to run");
  Pipe in, out, err;
  int exec_errno = 0;
  s_->pid = spawn(argv, env, true, in.fd[0], out.fd[1], err.fd[1], &exec_errno);
  if (s_->pid < 0)
    throw runtime_error(fmt::format("cannot run '{}': {}", argv[0], errno_text(exec_errno)));
  s_->group.emplace(s_->pid);
  ::signal(SIGPIPE, SIG_IGN);
  s_->in = in.fd[1], in.fd[1] = -1;
  s_->out = out.fd[0], out.fd[0] = -1;
  s_->err = err.fd[0], err.fd[0] = -1;
}

LineChild::~LineChild() { kill(); }

void LineChild::kill() {
  if (s_->pid > 0) {
    ::kill(-s_->pid, SIGKILL);
    ::kill(s_->pid, SIGKILL);
    while (::waitpid(s_->pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    s_->pid = -1;
  }
  for (int* fd : {&s_->in, &s_->out, &s_->err})
    if (*fd >= 0) ::close(*fd), *fd = -1;
  s_->group.reset();
}

bool LineChild::alive() const { return s_->pid > 0; }

std::string LineChild::stderr_tail() const { return s_->err_tail; }

bool LineChild::write(const std::string& data) {
  size_t done = 0;
  while (done < data.size() && s_->in >= 0) {
    ssize_t k = ::write(s_->in, data.data() + done, data.size() - done);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    done += static_cast<size_t>(k);
  }
  return done == data.size();
}

std::optional<std::string> LineChild::read_line(const std::string& marker, int timeout_ms) {
  auto deadline = clk::now() + std::chrono::milliseconds(timeout_ms);
  char buf[65536];
  while (true) {
    // A complete line in the buffer: ours when it starts with the marker; anything else the
    // child printed (user code's prints) is kept with its stderr for messages.
    for (size_t nl; (nl = s_->out_buf.find('\n')) != std::string::npos;) {
      auto line = s_->out_buf.substr(0, nl);
      s_->out_buf.erase(0, nl + 1);
      if (line.rfind(marker, 0) == 0) return line.substr(marker.size());
      s_->err_tail += line + "\n";
    }
    if (s_->err_tail.size() > 8192) s_->err_tail.erase(0, s_->err_tail.size() - 8192);
    if (s_->out < 0) return std::nullopt;
    if (interrupt::requested()) {
      kill();
      interrupt::check();
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clk::now()).count();
    if (left <= 0) {
      kill();  // a hung script: the next call starts a fresh worker
      return std::nullopt;
    }
    pollfd fds[2] = {{s_->out, POLLIN, 0}, {s_->err, POLLIN, 0}};
    int n = ::poll(fds, s_->err >= 0 ? 2 : 1, static_cast<int>(std::min<long long>(left, 200)));
    if (n < 0 && errno != EINTR) return std::nullopt;
    for (int i = 0; i < 2 && n > 0; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t k = ::read(fds[i].fd, buf, sizeof buf);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        if (i == 0) {  // the worker ended
          ::close(s_->out);
          s_->out = -1;
        } else {
          ::close(s_->err);
          s_->err = -1;
        }
        continue;
      }
      (i == 0 ? s_->out_buf : s_->err_tail).append(buf, static_cast<size_t>(k));
      if (s_->out_buf.size() > (64u << 20)) {  // a runaway line
        kill();
        return std::nullopt;
      }
    }
  }
}

}  // namespace xops
