#include "core/tracking/run_session.hpp"

#include <chrono>
#include <exception>

#include "core/error.hpp"
#include "core/util/interrupt.hpp"

namespace xops {

const char* run_status_name(RunStatus s) {
  switch (s) {
    case RunStatus::Finished:
      return "finished";
    case RunStatus::Failed:
      return "failed";
    case RunStatus::Killed:
      return "killed";
  }
  return "failed";
}

RunSession::RunSession(Tracker& t, const RunStart& s, const Workspace* ws, int heartbeat_s)
    : t_(t), id_(t.start_run(s, ws)) {
  t_.heartbeat(id_);
  heartbeat_ = std::thread([this, url = t.db().url(), heartbeat_s] {
    std::optional<Tracker> own;  // a connection is not shared across threads here
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(heartbeat_s), [this] { return stop_; })) {
      try {
        if (!own) own.emplace(db::Database::open_url(url, false));
        own->heartbeat(id_);
      } catch (const std::exception&) {
        // A busy or vanished database costs a beat, never the run.
      }
    }
  });
}

void RunSession::stop_heartbeat() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void RunSession::finish(RunStatus status, int exit_code) {
  stop_heartbeat();
  t_.finish_run(id_, run_status_name(status), exit_code);
  finished_ = true;
}

void RunSession::fail(const std::exception& e) {
  if (finished_) return;
  auto* err = dynamic_cast<const Error*>(&e);
  int code = err ? exit_code(err->kind()) : 1;
  finish(code == 130 ? RunStatus::Killed : RunStatus::Failed, code);
}

RunSession::~RunSession() {
  if (finished_) {
    stop_heartbeat();
    return;
  }
  try {
    bool killed = interrupt::requested();
    finish(killed ? RunStatus::Killed : RunStatus::Failed, killed ? 130 : 1);
  } catch (...) {
    // The database is gone or locked for good: the run shows as crashed (pid + heartbeat).
    stop_heartbeat();
  }
}

}  // namespace xops
