#include "core/tracking/tracker.hpp"

#include <signal.h>

#include <pwd.h>
#include <unistd.h>

#include "core/error.hpp"
#include "core/plugins/git.hpp"
#include "core/project/workspace.hpp"
#include "core/store/pointer.hpp"
#include "core/store/sha256.hpp"
#include "core/tracking/filter.hpp"
#include "core/tracking/tracking_db.hpp"
#include "core/tracking/ulid.hpp"
#include "core/util/fs.hpp"

namespace xops {

std::pair<std::string, std::string> split_kv(const std::string& arg) {
  auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0)
    throw usage_error(fmt::format("'{}' is not key=value", arg), "write it as key=value, e.g. lr=0.001");
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

Tracker::Tracker(const std::filesystem::path& db_path) : db_(db::Database::open(db_path)) {}
Tracker::Tracker(db::Database db) : db_(std::move(db)) {}

Tracker Tracker::for_workspace(const Workspace& ws) {
  return Tracker(open_tracking_db(ws));
}

static std::string current_user() {
  if (const char* u = std::getenv("USER"); u && *u) return u;
  if (auto* pw = ::getpwuid(::getuid())) return pw->pw_name;
  return "";
}

static std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string Tracker::start_run(const RunStart& s, const Workspace* ws) {
  std::string commit, diff_hash;
  bool dirty = false;
  std::map<std::string, std::string> inputs;
  if (ws) {
    if (auto repo = git::Repo::discover(ws->root())) {
      commit = repo->head_commit();
      dirty = repo->dirty();
      if (dirty) diff_hash = sha256_hex(repo->diff_head());
      // Lineage: every tracked pointer in the index, as it stands when the run starts.
      auto prefix = ws->root().lexically_relative(repo->workdir()).generic_string();
      prefix = (prefix.empty() || prefix == ".") ? "" : prefix + "/";
      for (const auto& p : repo->index_paths_with_suffix(".xops")) {
        if (p.rfind(prefix, 0) != 0) continue;
        auto rel = p.substr(prefix.size());
        std::error_code ec;
        if (!std::filesystem::exists(ws->root() / rel, ec)) continue;
        try {
          auto ptr = parse_pointer(read_file(ws->root() / rel), rel);
          inputs[rel.substr(0, rel.size() - 5)] = ptr.sha256;
        } catch (const Error&) {
          continue;  // an unreadable pointer is not lineage; `track status` reports it
        }
      }
    }
  }
  auto id = new_ulid();
  std::optional<int64_t> parent;
  if (!s.parent.empty()) parent = seq_of(resolve(s.parent));
  db::Database::Transaction tx(db_);
  auto st = db_.prepare(
      "INSERT INTO runs(id, name, kind, status, start_ms, command, git_commit, git_dirty, "
      "diff_sha256, \"user\", host, "
      "pid, parent_seq) VALUES (?,?,?,'running',?,?,?,?,?,?,?,?,?)");
  st.bind(1, id).bind(2, s.name).bind(3, s.kind).bind(4, now_ms()).bind(5, s.command).bind(6, commit);
  st.bind(7, int64_t{dirty}).bind(8, diff_hash).bind(9, current_user()).bind(10, host_name());
  st.bind(11, static_cast<int64_t>(::getpid()));
  if (parent) st.bind(12, *parent);
  else st.bind_null(12);
  st.step();
  tx.commit();
  log_params(id, s.params);
  log_tags(id, s.tags);
  record_inputs(id, inputs);
  return id;
}

void Tracker::finish_run(const std::string& id, const std::string& status, std::optional<int> exit_code) {
  auto st = db_.prepare("UPDATE runs SET status = ?, end_ms = ?, exit_code = ? WHERE id = ?");
  st.bind(1, status).bind(2, now_ms());
  if (exit_code) st.bind(3, static_cast<int64_t>(*exit_code));
  else st.bind_null(3);
  st.bind(4, id).step();
}

void Tracker::heartbeat(const std::string& id) {
  db_.prepare("UPDATE runs SET heartbeat_ms = ? WHERE id = ?").bind(1, now_ms()).bind(2, id).step();
}

void Tracker::remove(const std::string& id) {
  db::Database::Transaction tx(db_);
  // Explicit: on PostgreSQL, metrics have no foreign key to cascade (see migration 2).
  db_.prepare("DELETE FROM metrics WHERE run = (SELECT seq FROM runs WHERE id = ?)")
      .bind(1, id)
      .step();
  db_.prepare("DELETE FROM runs WHERE id = ?").bind(1, id).step();
  tx.commit();
}

void Tracker::rename(const std::string& id, const std::string& name) {
  db_.prepare("UPDATE runs SET name = ? WHERE id = ?").bind(1, name).bind(2, id).step();
}

std::string Tracker::resolve(const std::string& prefix) {
  if (prefix.empty()) throw usage_error("empty run id");
  std::string up;
  for (char c : prefix) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto st = db_.prepare("SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 3");
  st.bind(1, up).bind(2, up + "\x7f");
  std::vector<std::string> found;
  while (st.step()) found.push_back(st.text(0));
  if (found.empty()) {
    // Names are a convenience: an exact run name resolves to its latest run.
    auto byname = db_.prepare("SELECT id FROM runs WHERE name = ? ORDER BY start_ms DESC, seq DESC LIMIT 1");
    byname.bind(1, prefix);
    if (byname.step()) return byname.text(0);
    throw precondition_error(fmt::format("no run matches '{}'", prefix), "`xops track runs` lists the runs");
  }
  if (found.size() > 1 && found[0] != up)
    throw usage_error(fmt::format("run id prefix '{}' is ambiguous ({}, {}, ...)", prefix, found[0], found[1]),
                      "type more characters of the id");
  return found[0];
}

int64_t Tracker::seq_of(const std::string& id) {
  auto st = db_.prepare("SELECT seq FROM runs WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) throw precondition_error(fmt::format("no run {}", id));
  return st.int64(0);
}

int64_t Tracker::key_id(const std::string& key) {
  auto it = key_cache_.find(key);
  if (it != key_cache_.end()) return it->second;
  auto ins = db_.prepare("INSERT INTO metric_keys(name) VALUES (?) ON CONFLICT (name) DO NOTHING");
  ins.bind(1, key).step();
  auto q = db_.prepare("SELECT id FROM metric_keys WHERE name = ?");
  q.bind(1, key).step();
  return key_cache_[key] = q.int64(0);
}

static void put_kv(db::Database& db, const char* table, int64_t seq, const std::map<std::string, std::string>& kv) {
  if (kv.empty()) return;
  db::Database::Transaction tx(db);
  auto st =
      db.prepare(fmt::format("INSERT INTO {}(run, key, value) VALUES (?,?,?) ON CONFLICT (run, "
                             "key) DO UPDATE SET value = excluded.value",
                             table));
  for (const auto& [k, v] : kv) {
    st.bind(1, seq).bind(2, k).bind(3, v).step();
    st.reset();
  }
  tx.commit();
}

void Tracker::log_params(const std::string& id, const std::map<std::string, std::string>& kv) {
  put_kv(db_, "params", seq_of(id), kv);
}
void Tracker::log_tags(const std::string& id, const std::map<std::string, std::string>& kv) {
  put_kv(db_, "tags", seq_of(id), kv);
}

void Tracker::log_metrics(const std::string& id, const std::vector<MetricPoint>& points) {
  if (points.empty()) return;
  auto seq = seq_of(id);
  int64_t now = now_ms();
  std::vector<std::vector<db::Value>> rows;
  rows.reserve(points.size());
  for (const auto& p : points) {
    if (p.key.empty()) throw usage_error("a metric needs a name");
    rows.push_back({seq, key_id(p.key), p.step, p.value, p.wall_ms ? p.wall_ms : now});
  }
  // One COPY is one transaction on PostgreSQL (BEGIN/COMMIT would add two round trips per
  // batch); SQLite inserts row by row and needs the transaction to be fast and atomic.
  if (db_.dialect() == db::Dialect::Postgres) {
    db_.insert_rows("metrics", {"run", "key", "step", "value", "wall_ms"}, rows);
    return;
  }
  db::Database::Transaction tx(db_);
  db_.insert_rows("metrics", {"run", "key", "step", "value", "wall_ms"}, rows);
  tx.commit();
}

void Tracker::log_artifact(const std::string& id, const std::string& name, const std::string& sha256, int64_t size,
                           const std::string& path) {
  auto st = db_.prepare(
      "INSERT INTO artifacts(run, name, sha256, size, path) VALUES (?,?,?,?,?) ON CONFLICT (run, "
      "name) "
      "DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, path = excluded.path");
  st.bind(1, seq_of(id)).bind(2, name).bind(3, sha256).bind(4, size).bind(5, path).step();
}

void Tracker::record_inputs(const std::string& id, const std::map<std::string, std::string>& inputs) {
  if (inputs.empty()) return;
  auto seq = seq_of(id);
  db::Database::Transaction tx(db_);
  auto st = db_.prepare(
      "INSERT INTO inputs(run, path, sha256) VALUES (?,?,?) ON CONFLICT (run, path) DO UPDATE SET "
      "sha256 = "
      "excluded.sha256");
  for (const auto& [p, h] : inputs) {
    st.bind(1, seq).bind(2, p).bind(3, h).step();
    st.reset();
  }
  tx.commit();
}

static const char* kRunColumns =
    "r.seq, r.id, r.name, r.kind, r.status, r.start_ms, r.end_ms, r.exit_code, r.command, "
    "r.git_commit, "
    "r.git_dirty, r.diff_sha256, r.\"user\", r.host, (SELECT p.id FROM runs p WHERE p.seq = "
    "r.parent_seq), r.pid, "
    "r.heartbeat_ms";

static RunRecord read_run(db::Statement& st) {
  RunRecord r;
  r.id = st.text(1);
  r.name = st.text(2);
  r.kind = st.text(3);
  r.status = st.text(4);
  r.start_ms = st.int64(5);
  if (!st.is_null(6)) r.end_ms = st.int64(6);
  if (!st.is_null(7)) r.exit_code = st.int64(7);
  r.command = st.text(8);
  r.git_commit = st.text(9);
  r.git_dirty = st.int64(10) != 0;
  r.diff_sha256 = st.text(11);
  r.user = st.text(12);
  r.host = st.text(13);
  r.parent = st.text(14);
  if (r.status == "running") {
    // Its process is gone (same host, pid not alive), or its heartbeat stopped: crashed.
    int64_t pid = st.is_null(15) ? 0 : st.int64(15);
    bool dead = pid > 0 && r.host == host_name() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
    bool silent = !st.is_null(16) && now_ms() - st.int64(16) > 120000;
    if (dead || silent) r.status = "crashed";
  }
  return r;
}

// Params, tags, metric summaries, artifacts and inputs for many runs: five queries per 500
// runs, not five per run (a round trip each on PostgreSQL: listing 500 runs took 0.62 s).
static void fill_details(db::Database& db, const std::vector<int64_t>& seqs,
                         std::vector<RunRecord*>& recs) {
  constexpr size_t kChunk = 500;
  for (size_t from = 0; from < seqs.size(); from += kChunk) {
    size_t n = std::min(kChunk, seqs.size() - from);
    std::map<int64_t, RunRecord*> by_seq;
    std::string in = "(";
    for (size_t i = 0; i < n; ++i) {
      by_seq[seqs[from + i]] = recs[from + i];
      in += i ? ",?" : "?";
    }
    in += ")";
    auto query = [&](const std::string& sql) {
      auto st = db.prepare(sql);
      for (size_t i = 0; i < n; ++i) st.bind(static_cast<int>(i + 1), seqs[from + i]);
      return st;
    };
    auto kv = [&](const char* table, std::map<std::string, std::string> RunRecord::*field) {
      auto st = query(fmt::format(
          "SELECT run, key, value FROM {} WHERE run IN {} ORDER BY run, key", table, in));
      while (st.step()) (by_seq.at(st.int64(0))->*field)[st.text(1)] = st.text(2);
    };
    kv("params", &RunRecord::params);
    kv("tags", &RunRecord::tags);
    auto m = query(
        "SELECT m.run, k.name, COUNT(*), MIN(m.value), MAX(m.value), "
        "(SELECT value FROM metrics WHERE run = m.run AND key = m.key ORDER BY step DESC, rowid "
        "DESC LIMIT 1), "
        "MAX(m.step) FROM metrics m JOIN metric_keys k ON k.id = m.key WHERE m.run IN " +
        in + " GROUP BY m.run, m.key, k.name ORDER BY m.run, k.name");
    while (m.step())
      by_seq.at(m.int64(0))
          ->metrics.push_back({m.text(1), m.real(5), m.real(3), m.real(4), m.int64(6), m.int64(2)});
    auto a = query("SELECT run, name, sha256, size, path FROM artifacts WHERE run IN " + in +
                   " ORDER BY run, name");
    while (a.step())
      by_seq.at(a.int64(0))->artifacts.push_back({a.text(1), a.text(2), a.text(4), a.int64(3)});
    auto inputs =
        query("SELECT run, path, sha256 FROM inputs WHERE run IN " + in + " ORDER BY run, path");
    while (inputs.step()) by_seq.at(inputs.int64(0))->inputs[inputs.text(1)] = inputs.text(2);
  }
}

RunRecord Tracker::get(const std::string& id) {
  auto st = db_.prepare(fmt::format("SELECT {} FROM runs r WHERE r.id = ?", kRunColumns));
  st.bind(1, id);
  if (!st.step()) throw precondition_error(fmt::format("no run {}", id));
  auto r = read_run(st);
  std::vector<RunRecord*> one{&r};
  fill_details(db_, {st.int64(0)}, one);
  return r;
}

std::vector<RunRecord> Tracker::list(const RunQuery& q) {
  auto where = compile_filter(q.filter, db_.dialect());
  auto order = compile_sort(q.sort, db_.dialect());
  std::string sql = fmt::format(
      "SELECT {} FROM runs r{}{} ORDER BY {}{}", kRunColumns, where.sql.empty() ? "" : " WHERE ",
      where.sql, order.sql,
      q.limit > 0 ? fmt::format(" LIMIT {} OFFSET {}", q.limit, std::max(0, q.offset)) : "");
  auto st = db_.prepare(sql);
  int idx = 1;
  for (const auto& b : where.binds) {
    if (b.is_number) st.bind(idx++, b.number);
    else st.bind(idx++, b.text);
  }
  for (const auto& b : order.binds) {
    if (b.is_number)
      st.bind(idx++, b.number);
    else
      st.bind(idx++, b.text);
  }
  std::vector<RunRecord> out;
  std::vector<int64_t> seqs;
  while (st.step()) {
    out.push_back(read_run(st));
    seqs.push_back(st.int64(0));
  }
  std::vector<RunRecord*> recs;
  for (auto& r : out) recs.push_back(&r);
  fill_details(db_, seqs, recs);
  return out;
}

int64_t Tracker::count(const std::string& filter) {
  auto where = compile_filter(filter, db_.dialect());
  auto st = db_.prepare(fmt::format("SELECT COUNT(*) FROM runs r{}{}",
                                    where.sql.empty() ? "" : " WHERE ", where.sql));
  int idx = 1;
  for (const auto& b : where.binds) {
    if (b.is_number)
      st.bind(idx++, b.number);
    else
      st.bind(idx++, b.text);
  }
  st.step();
  return st.int64(0);
}

std::vector<std::pair<int64_t, double>> Tracker::series(const std::string& id, const std::string& key) {
  auto st = db_.prepare(
      "SELECT m.step, m.value FROM metrics m JOIN metric_keys k ON k.id = m.key WHERE m.run = ? AND k.name = ? "
      "ORDER BY m.step, m.rowid");
  st.bind(1, seq_of(id)).bind(2, key);
  std::vector<std::pair<int64_t, double>> out;
  while (st.step()) out.emplace_back(st.int64(0), st.real(1));
  return out;
}

std::vector<std::string> Tracker::metric_keys(const std::string& id) {
  auto st = db_.prepare(
      "SELECT DISTINCT k.name FROM metrics m JOIN metric_keys k ON k.id = m.key WHERE m.run = ? ORDER BY k.name");
  st.bind(1, seq_of(id));
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.text(0));
  return out;
}

MetricLogger::~MetricLogger() {
  try {
    flush();
  } catch (...) {
  }
}

void MetricLogger::log(const std::string& key, double value, int64_t step) {
  buf_.push_back({key, value, step, now_ms()});
  if (buf_.size() >= batch_) flush();
}

void MetricLogger::flush() {
  if (buf_.empty()) return;
  t_.log_metrics(id_, buf_);
  buf_.clear();
}

}  // namespace xops
