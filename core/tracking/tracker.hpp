#pragma once
// Experiment tracking on the project's tracking database (SQLite or PostgreSQL, see
// tracking_db.hpp): runs, params, metrics, tags, artifacts (content-store objects) and
// inputs (every tracked pointer's sha256 at start).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/db/database.hpp"

namespace xops {

class Workspace;

struct RunStart {
  std::string name;
  std::string kind = "run";  // run | finetune | eval
  std::string command;
  std::map<std::string, std::string> params, tags;
  std::string parent;  // run id or prefix
};

struct MetricPoint {
  std::string key;
  double value = 0;
  int64_t step = 0;
  int64_t wall_ms = 0;  // 0: now
};

struct MetricSummary {
  std::string key;
  double last = 0, min = 0, max = 0;
  int64_t last_step = 0;
  int64_t count = 0;
};

struct RunRecord {
  // status: running | finished | failed | killed, or crashed: recorded as running, but its
  // process is gone (same host, pid not alive) or its heartbeat stopped over 2 minutes ago.
  std::string id, name, kind, status, command, git_commit, diff_sha256, user, host, parent;
  bool git_dirty = false;
  int64_t start_ms = 0;
  std::optional<int64_t> end_ms, exit_code;
  std::map<std::string, std::string> params, tags;
  std::vector<MetricSummary> metrics;
  struct Artifact {
    std::string name, sha256, path;
    int64_t size;
  };
  std::vector<Artifact> artifacts;
  std::map<std::string, std::string> inputs;  // path -> sha256
};

struct RunQuery {
  std::string filter;  // MLflow-style: metrics.loss < 0.5 and params.lr = '0.001'
  std::string sort;    // e.g. "metrics.loss", "-start_time", "params.lr desc"
  int limit = 0;       // 0 = all
  int offset = 0;      // skip this many (a page of a listing)
};

class Tracker {
 public:
  explicit Tracker(const std::filesystem::path& db_path);
  explicit Tracker(db::Database db);
  // Opens the workspace's tracking database; git and pointer state are read from `ws` on start_run.
  static Tracker for_workspace(const Workspace& ws);

  // Records git commit, dirty flag + diff hash, user, host and the inputs; returns the id.
  std::string start_run(const RunStart& s, const Workspace* ws);
  void finish_run(const std::string& id, const std::string& status, std::optional<int> exit_code);
  // Marks the run alive now (RunSession calls it every 30 s).
  void heartbeat(const std::string& id);
  // Deletes runs (their params, metrics, tags, artifacts rows; the objects stay until gc).
  void remove(const std::string& id);
  void rename(const std::string& id, const std::string& name);
  std::string resolve(const std::string& id_or_prefix);  // unique prefix match

  void log_params(const std::string& id, const std::map<std::string, std::string>& kv);
  void log_tags(const std::string& id, const std::map<std::string, std::string>& kv);
  // One transaction for the whole batch.
  void log_metrics(const std::string& id, const std::vector<MetricPoint>& points);
  void log_artifact(const std::string& id, const std::string& name, const std::string& sha256, int64_t size,
                    const std::string& path);
  void record_inputs(const std::string& id, const std::map<std::string, std::string>& inputs);

  RunRecord get(const std::string& id);
  std::vector<RunRecord> list(const RunQuery& q);
  int64_t count(const std::string& filter);  // runs the filter matches
  std::vector<std::pair<int64_t, double>> series(const std::string& id, const std::string& key);
  std::vector<std::string> metric_keys(const std::string& id);

  db::Database& db() { return db_; }

 private:
  int64_t seq_of(const std::string& id);
  int64_t key_id(const std::string& key);
  db::Database db_;
  std::map<std::string, int64_t> key_cache_;
};

// Buffers metric points and writes them in batches (for training loops logging every step).
class MetricLogger {
 public:
  MetricLogger(Tracker& t, std::string run_id, size_t batch = 256) : t_(t), id_(std::move(run_id)), batch_(batch) {}
  ~MetricLogger();
  void log(const std::string& key, double value, int64_t step);
  void flush();

 private:
  Tracker& t_;
  std::string id_;
  size_t batch_;
  std::vector<MetricPoint> buf_;
};

// "key=value" -> pair; throws a usage error naming the argument otherwise.
std::pair<std::string, std::string> split_kv(const std::string& arg);

}  // namespace xops
