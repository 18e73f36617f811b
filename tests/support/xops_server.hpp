#pragma once
// A running `xops serve` for e2e tests: the real binary on an ephemeral loopback port, talked
// to with curl.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/util/fs.hpp"
#include "tests/support/process.hpp"

extern char** environ;

namespace xops::test {

inline std::string model_dir() {
  return (shared_dir() / "golden/models/gpt2-tiny").string();
}

struct Reply {
  int status = 0;
  std::string body, headers;
  nlohmann::json j() const { return nlohmann::json::parse(body); }
};

// A running `xops serve`: started on port 0, ready once /health answers 200.
class Server {
 public:
  Server(const std::filesystem::path& dir, std::vector<std::string> args,
         std::map<std::string, std::string> env = {}, const std::filesystem::path& cwd = {})
      : out_(dir / "serve.out"), err_(dir / "serve.err") {
    // The golden model unless the first argument names another.
    std::vector<std::string> argv{xops_binary(), "serve"};
    if (args.empty() || args[0].rfind("-", 0) == 0) argv.push_back(model_dir());
    argv.insert(argv.end(), {"--port", "0"});
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) envs.emplace_back(*e);
    for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    std::vector<char*> av, ev;
    for (auto& a : argv) av.push_back(a.data());
    av.push_back(nullptr);
    for (auto& e : envs) ev.push_back(e.data());
    ev.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
    REQUIRE(posix_spawn(&pid_, av[0], &fa, nullptr, av.data(), ev.data()) == 0);
    posix_spawn_file_actions_destroy(&fa);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (port_ == 0 && std::chrono::steady_clock::now() < until) {
      auto text = std::filesystem::exists(out_) ? read_file(out_) : "";
      auto at = text.find("listening on http://127.0.0.1:");
      if (at != std::string::npos && text.find('\n', at) != std::string::npos)
        port_ = std::stoi(text.substr(at + 30));
      else if (!process_alive(pid_))
        break;
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    INFO(read_file(err_));
    REQUIRE(port_ > 0);
    while (get("/health").status != 200 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ~Server() {
    if (pid_ > 0) stop(SIGKILL);
  }
  int port() const { return port_; }
  std::string url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  Reply curl(const std::string& path, const std::vector<std::string>& extra) const {
    std::vector<std::string> argv{"curl", "-s", "-S", "-D", "-", "--max-time", "60"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url(path));
    auto r = run_process(argv, std::filesystem::current_path());
    Reply rep;
    auto split = r.out.find("\r\n\r\n");
    rep.headers = r.out.substr(0, split);
    rep.body = split == std::string::npos ? "" : r.out.substr(split + 4);
    if (rep.headers.size() > 12) rep.status = std::atoi(rep.headers.c_str() + 9);
    return rep;
  }
  Reply get(const std::string& path, std::vector<std::string> extra = {}) const {
    return curl(path, extra);
  }
  Reply post(const std::string& path, const std::string& body,
             std::vector<std::string> extra = {}) const {
    extra.insert(extra.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    return curl(path, extra);
  }
  // Sends a signal and waits; the exit status (128 + signal when killed by it).
  int stop(int sig = SIGTERM) {
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string err() const { return read_file(err_); }

 private:
  std::filesystem::path out_, err_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace xops::test
