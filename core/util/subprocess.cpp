#include "core/util/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "core/error.hpp"
#include "core/util/fs.hpp"
#include "core/util/interrupt.hpp"

namespace xops {

namespace {
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

void kill_group(pid_t pid) {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);  // in case setpgid lost a race with the kill
}
}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input, int timeout_ms,
                          const std::map<std::string, std::string>& env, size_t max_output) {
  if (argv.empty()) throw usage_error("no command to run");
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
    throw runtime_error(fmt::format("pipe: {}", errno_text(errno)));
  auto env_strings = child_environment(env);
  std::vector<char*> envp, args;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw runtime_error(fmt::format("fork: {}", errno_text(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);  // its own group: a timeout kills the whole tree
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::signal(SIGPIPE, SIG_DFL);
    ::execvpe(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  ::signal(SIGPIPE, SIG_IGN);
  CommandResult r;
  size_t written = 0;
  bool in_open = true;
  if (input.empty()) {
    ::close(in[1]);
    in_open = false;
  }
  pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
  int open_fds = 2;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto left_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
  };
  char buf[65536];
  bool killed = false;
  bool interrupted = false;
  while ((open_fds > 0 || in_open) && !killed) {
    if (interrupt::requested()) {  // Ctrl-C: the command's whole group goes too
      kill_group(pid);
      killed = interrupted = true;
      break;
    }
    auto left = left_ms();
    if (left <= 0) {
      r.timed_out = true;
      kill_group(pid);
      killed = true;
      break;
    }
    int n = ::poll(fds, in_open ? 3 : 2, static_cast<int>(std::min<long long>(left, 1000)));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t k = ::read(fds[i].fd, buf, sizeof buf);
      if (k <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      auto& dst = i == 0 ? r.out : r.err;
      dst.append(buf, static_cast<size_t>(k));
      if (dst.size() > max_output) {
        r.output_too_large = true;
        dst.resize(max_output);
        kill_group(pid);
        killed = true;
        break;
      }
    }
    if (in_open && !killed && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t k = ::write(in[1], input.data() + written, input.size() - written);
      if (k > 0) written += static_cast<size_t>(k);
      if (k < 0 || written == input.size()) {
        ::close(in[1]);
        in_open = false;
      }
    }
  }
  if (in_open) ::close(in[1]);
  for (int i = 0; i < 2; ++i)
    if (fds[i].fd >= 0) ::close(fds[i].fd);
  // The pipes can close while the command lives on (it closed them, or left a daemon): the
  // timeout still holds for the wait.
  int st = 0;
  useconds_t nap = 50;  // most commands exit right after closing their pipes
  for (;;) {
    pid_t w = ::waitpid(pid, &st, killed ? 0 : WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (w == 0) {
      if (interrupt::requested() && !killed) {
        kill_group(pid);
        killed = interrupted = true;
        continue;
      }
      if (left_ms() <= 0) {
        r.timed_out = true;
        kill_group(pid);
        killed = true;
        continue;
      }
      ::usleep(nap);
      nap = std::min<useconds_t>(nap * 2, 5000);
    }
  }
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  if (interrupted) interrupt::check();
  return r;
}

}  // namespace xops
