#pragma once
// One recorded run's lifecycle, shared by every verb that records one (track run, finetune,
// eval): start, a heartbeat while it lives, and an end that is always written. Destroyed
// unfinished, the run is marked `killed` (exit 130) after an interrupt and `failed` (exit 1)
// otherwise, so no run stays `running` after its process has gone. A run whose process died
// without either (kill -9, power loss) is shown as `crashed` (see Tracker: pid + host +
// heartbeat).
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/tracking/tracker.hpp"

namespace xops {

enum class RunStatus { Finished, Failed, Killed };
const char* run_status_name(RunStatus s);

class RunSession {
 public:
  // Starts the run (Tracker::start_run) and a heartbeat every `heartbeat_s` seconds on its own
  // connection to the tracker's database.
  RunSession(Tracker& t, const RunStart& s, const Workspace* ws, int heartbeat_s = 30);
  ~RunSession();
  RunSession(const RunSession&) = delete;
  RunSession& operator=(const RunSession&) = delete;

  const std::string& id() const { return id_; }
  Tracker& tracker() { return t_; }
  void finish(RunStatus status, int exit_code);
  // Ends the run for an error that is about to leave the command: killed (130) for an
  // interrupt, else failed with the exit code that error gives the process.
  void fail(const std::exception& e);
  bool finished() const { return finished_; }

 private:
  void stop_heartbeat();
  Tracker& t_;
  std::string id_;
  bool finished_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread heartbeat_;
};

}  // namespace xops
