#include "core/tracking/sync.hpp"

#include <map>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "core/tracking/interaction_log.hpp"

namespace xops {

namespace {

// What decides "unchanged": the run row's mutable fields and how many rows hang off it.
struct Shape {
  std::string status, name;
  std::optional<int64_t> end_ms;
  int64_t metrics = 0, params = 0, tags = 0, artifacts = 0, inputs = 0;
  bool operator==(const Shape& o) const {
    return status == o.status && name == o.name && end_ms == o.end_ms && metrics == o.metrics &&
           params == o.params && tags == o.tags && artifacts == o.artifacts && inputs == o.inputs;
  }
};

const char* kShapeSql =
    "SELECT r.status, r.name, r.end_ms, (SELECT COUNT(*) FROM metrics WHERE run = r.seq), "
    "(SELECT COUNT(*) FROM params WHERE run = r.seq), (SELECT COUNT(*) FROM tags WHERE run = "
    "r.seq), "
    "(SELECT COUNT(*) FROM artifacts WHERE run = r.seq), (SELECT COUNT(*) FROM inputs WHERE run = "
    "r.seq) "
    "FROM runs r WHERE r.id = ?";

std::optional<Shape> shape_of(db::Database& d, const std::string& id) {
  auto st = d.prepare(kShapeSql);
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  Shape s{st.text(0),  st.text(1),  std::nullopt, st.int64(3),
          st.int64(4), st.int64(5), st.int64(6),  st.int64(7)};
  if (!st.is_null(2)) s.end_ms = st.int64(2);
  return s;
}

void bind_opt(db::Statement& st, int idx, const db::Statement& from, int col) {
  if (from.is_null(col))
    st.bind_null(idx);
  else
    st.bind(idx, from.int64(col));
}

int64_t metric_key_id(db::Database& to, std::map<std::string, int64_t>& cache,
                      const std::string& name) {
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  to.prepare("INSERT INTO metric_keys(name) VALUES (?) ON CONFLICT (name) DO NOTHING")
      .bind(1, name)
      .step();
  auto q = to.prepare("SELECT id FROM metric_keys WHERE name = ?");
  q.bind(1, name);
  if (!q.step())
    throw runtime_error(fmt::format("sync: metric key '{}' vanished from {}", name, to.describe()));
  return cache[name] = q.int64(0);
}

// Writes run `id` (from's seq `from_seq`) into `to`, replacing whatever `to` had for it.
int64_t copy_run(db::Database& from, db::Database& to, int64_t from_seq,
                 std::map<std::string, int64_t>& keys) {
  auto r = from.prepare(
      "SELECT r.id, r.name, r.kind, r.status, r.start_ms, r.end_ms, r.exit_code, r.command, "
      "r.git_commit, "
      "r.git_dirty, r.diff_sha256, r.\"user\", r.host, r.pid, r.heartbeat_ms, "
      "(SELECT p.id FROM runs p WHERE p.seq = r.parent_seq) FROM runs r WHERE r.seq = ?");
  r.bind(1, from_seq);
  if (!r.step()) return 0;
  std::optional<int64_t> parent;
  if (!r.is_null(15)) {
    auto p = to.prepare("SELECT seq FROM runs WHERE id = ?");
    p.bind(1, r.text(15));
    if (p.step()) parent = p.int64(0);
  }
  auto up = to.prepare(
      "INSERT INTO runs(id, name, kind, status, start_ms, end_ms, exit_code, command, git_commit, "
      "git_dirty, "
      "diff_sha256, \"user\", host, pid, heartbeat_ms, parent_seq) VALUES "
      "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
      "ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, status = "
      "excluded.status, "
      "start_ms = excluded.start_ms, end_ms = excluded.end_ms, exit_code = excluded.exit_code, "
      "command = excluded.command, git_commit = excluded.git_commit, git_dirty = "
      "excluded.git_dirty, "
      "diff_sha256 = excluded.diff_sha256, \"user\" = excluded.\"user\", host = excluded.host, pid "
      "= excluded.pid, "
      "heartbeat_ms = excluded.heartbeat_ms, parent_seq = excluded.parent_seq RETURNING seq");
  up.bind(1, r.text(0))
      .bind(2, r.text(1))
      .bind(3, r.text(2))
      .bind(4, r.text(3))
      .bind(5, r.int64(4));
  bind_opt(up, 6, r, 5);
  bind_opt(up, 7, r, 6);
  up.bind(8, r.text(7))
      .bind(9, r.text(8))
      .bind(10, r.int64(9))
      .bind(11, r.text(10))
      .bind(12, r.text(11));
  up.bind(13, r.text(12));
  bind_opt(up, 14, r, 13);
  bind_opt(up, 15, r, 14);
  if (parent)
    up.bind(16, *parent);
  else
    up.bind_null(16);
  if (!up.step())
    throw runtime_error(fmt::format("sync: {} did not return the run's row", to.describe()));
  int64_t seq = up.int64(0);
  for (const char* table : {"params", "tags", "metrics", "artifacts", "inputs"}) {
    auto del = to.prepare(fmt::format("DELETE FROM {} WHERE run = ?", table));
    del.bind(1, seq).step();
  }
  auto copy_kv = [&](const char* table, const char* k, const char* v) {
    std::vector<std::vector<db::Value>> rows;
    auto st = from.prepare(fmt::format("SELECT {}, {} FROM {} WHERE run = ?", k, v, table));
    st.bind(1, from_seq);
    while (st.step()) rows.push_back({seq, st.text(0), st.text(1)});
    to.insert_rows(table, {"run", k, v}, rows);
  };
  copy_kv("params", "key", "value");
  copy_kv("tags", "key", "value");
  copy_kv("inputs", "path", "sha256");
  {
    std::vector<std::vector<db::Value>> rows;
    auto st = from.prepare("SELECT name, sha256, size, path FROM artifacts WHERE run = ?");
    st.bind(1, from_seq);
    while (st.step()) rows.push_back({seq, st.text(0), st.text(1), st.int64(2), st.text(3)});
    to.insert_rows("artifacts", {"run", "name", "sha256", "size", "path"}, rows);
  }
  std::vector<std::vector<db::Value>> points;
  auto m = from.prepare(
      "SELECT k.name, m.step, m.value, m.wall_ms FROM metrics m JOIN metric_keys k ON k.id = m.key "
      "WHERE m.run = ? ORDER BY m.rowid");
  m.bind(1, from_seq);
  while (m.step())
    points.push_back({seq, metric_key_id(to, keys, m.text(0)), m.int64(1), m.real(2), m.int64(3)});
  to.insert_rows("metrics", {"run", "key", "step", "value", "wall_ms"}, points);
  return static_cast<int64_t>(points.size());
}

}  // namespace

SyncResult sync_tracking(db::Database& from, db::Database& to,
                         const std::function<void(int64_t, int64_t)>& progress) {
  if (from.url() == to.url())
    throw usage_error(fmt::format("sync: {} is both source and target", from.describe()));
  SyncResult res;
  std::vector<std::pair<int64_t, std::string>> runs;  // parents before children: seq order
  auto st = from.prepare("SELECT seq, id FROM runs ORDER BY seq");
  while (st.step()) runs.emplace_back(st.int64(0), st.text(1));
  std::map<std::string, int64_t> keys;
  int64_t done = 0;
  for (const auto& [seq, id] : runs) {
    auto want = shape_of(from, id);
    auto have = shape_of(to, id);
    if (want && have && *want == *have) {
      ++res.runs_unchanged;
    } else {
      db::Database::Transaction tx(to);
      res.metric_points += copy_run(from, to, seq, keys);
      tx.commit();
      ++(have ? res.runs_updated : res.runs_copied);
    }
    if (progress) progress(++done, static_cast<int64_t>(runs.size()));
  }
  // Served traffic and its feedback, through the module that owns those tables.
  db::Database::Transaction tx(to);
  auto copied = copy_interactions(from, to);
  res.interactions = copied.interactions;
  res.feedback = copied.feedback;
  tx.commit();
  return res;
}

}  // namespace xops
