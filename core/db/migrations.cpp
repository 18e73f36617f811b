#include "core/db/migrations.hpp"

namespace xops::db {

const std::vector<const char*>& migrations() {
  static const std::vector<const char*> m = {
      // 1: stat cache for the content store: unchanged files are never re-hashed.
      R"sql(
CREATE TABLE stat_cache (
  path TEXT PRIMARY KEY,
  dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
  sha256 TEXT NOT NULL
) WITHOUT ROWID;
)sql",
      // 2: experiment tracking. Runs are addressed by ULID text; rows elsewhere refer to the
      // integer rowid and to interned metric keys, which keeps 1M-point inserts fast.
      R"sql(
CREATE TABLE runs (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL DEFAULT 'run',
  status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'killed')),
  start_ms INTEGER NOT NULL,
  end_ms INTEGER,
  exit_code INTEGER,
  command TEXT NOT NULL DEFAULT '',
  git_commit TEXT NOT NULL DEFAULT '',
  git_dirty INTEGER NOT NULL DEFAULT 0,
  diff_sha256 TEXT NOT NULL DEFAULT '',
  user TEXT NOT NULL DEFAULT '',
  host TEXT NOT NULL DEFAULT '',
  pid INTEGER,
  parent_seq INTEGER REFERENCES runs(seq)
);
CREATE INDEX runs_start ON runs(start_ms);
CREATE TABLE params (
  run INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
  key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (run, key)
) WITHOUT ROWID;
CREATE TABLE tags (
  run INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
  key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (run, key)
) WITHOUT ROWID;
CREATE TABLE metric_keys (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE metrics (
  run INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
  key INTEGER NOT NULL REFERENCES metric_keys(id),
  step INTEGER NOT NULL,
  value REAL NOT NULL,
  wall_ms INTEGER NOT NULL
);
CREATE INDEX metrics_run_key_step ON metrics(run, key, step);
CREATE TABLE artifacts (
  run INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
  name TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, path TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run, name)
) WITHOUT ROWID;
CREATE TABLE inputs (
  run INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
  path TEXT NOT NULL, sha256 TEXT NOT NULL,
  PRIMARY KEY (run, path)
) WITHOUT ROWID;
)sql",
      // 3: the eval result cache, keyed on everything that can change an answer.
      R"sql(
CREATE TABLE eval_cache (
  key TEXT PRIMARY KEY,
  output TEXT NOT NULL,
  latency_ms REAL NOT NULL,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
      // 4: per tracked directory, a digest of every file's stat and the manifest it gave, so a
      // status of an unchanged tree neither looks up nor hashes each file again. `complete`:
      // every object the manifest lists was in the store when the row was written.
      R"sql(
CREATE TABLE dir_summary (
  path TEXT PRIMARY KEY,
  digest TEXT NOT NULL,
  manifest TEXT NOT NULL,
  complete INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
      // 5: a heartbeat per live run (RunSession), so a run whose process died is shown as crashed.
      R"sql(
ALTER TABLE runs ADD COLUMN heartbeat_ms INTEGER;
)sql",
      // 6: `xops serve`'s interaction log and the feedback clients attach to a response.
      R"sql(
CREATE TABLE interactions (
  id TEXT PRIMARY KEY,
  created_ms INTEGER NOT NULL,
  route TEXT NOT NULL,
  model TEXT NOT NULL,
  adapter TEXT NOT NULL DEFAULT '',
  version TEXT NOT NULL DEFAULT '',
  model_hash TEXT NOT NULL DEFAULT '',
  adapter_hash TEXT NOT NULL DEFAULT '',
  prompt TEXT NOT NULL,
  messages TEXT,
  output TEXT NOT NULL,
  params TEXT NOT NULL,
  finish_reason TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  ttft_ms REAL
) WITHOUT ROWID;
CREATE INDEX interactions_created ON interactions(created_ms);
CREATE TABLE feedback (
  interaction TEXT NOT NULL REFERENCES interactions(id) ON DELETE CASCADE,
  created_ms INTEGER NOT NULL,
  score REAL,
  comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX feedback_interaction ON feedback(interaction);
)sql",
  };
  return m;
}

}  // namespace xops::db
