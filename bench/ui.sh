#!/usr/bin/env bash
# `xops ui`'s pages over a large project: RUNS (10,000) runs with params and 10 metric points
# each, N (100,000) interactions with feedback. Times each API call the pages make (median of
# REPS, over curl on loopback) beside the same page's plain SQL in sqlite3, with the load
# average (above 0.5 the figures are noise). Target: each page <= 200 ms.
#
#   bench/ui.sh     RUNS (10000), N (100000), REPS (5)
source "$(dirname "$0")/common.sh"
RUNS="${RUNS:-10000}" N="${N:-100000}" REPS="${REPS:-5}"
WORK="$(mktemp -d -t xops-bench-ui.XXXXXX)"
ui=""
trap '[ -n "$ui" ] && kill $ui 2>/dev/null; rm -rf "$WORK"' EXIT
[ -x "$XOPS" ] || "$ROOT/scripts/setup.sh"
machine "$WORK"
(cd "$WORK" && "$XOPS" -q init p --template minimal --no-hooks)
cd "$WORK/p"
"$XOPS" -q track run -- true
db=.xops/xops.db
sqlite3 "$db" <<SQL >/dev/null
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $RUNS)
INSERT INTO runs (id, name, kind, status, start_ms, end_ms, exit_code)
SELECT printf('R%025d', i), 'run-' || i, CASE WHEN i % 10 = 0 THEN 'eval' ELSE 'run' END,
  'finished', 1796000000000 + i * 1000, 1796000000000 + i * 1000 + 500, 0 FROM n;
INSERT INTO params (run, key, value) SELECT seq, 'lr', printf('%g', 0.001 * (seq % 7 + 1)) FROM runs;
INSERT INTO params (run, key, value) SELECT seq, 'layers', (seq % 4 + 1) FROM runs;
INSERT INTO metric_keys (name) VALUES ('loss'), ('acc');
WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 10)
INSERT INTO metrics (run, key, step, value, wall_ms)
SELECT r.seq, mk.id, s.k, CASE mk.name WHEN 'loss' THEN 3.0 / (s.k + r.seq % 13) ELSE s.k / 10.0 END,
  r.start_ms + s.k FROM runs r, s, metric_keys mk;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $N - 1)
INSERT INTO interactions (id, created_ms, route, model, version, prompt, output, params,
  finish_reason, prompt_tokens, completion_tokens, latency_ms, ttft_ms, status)
SELECT printf('cmpl-%08d', i), (strftime('%s','now') - 6 * 86400) * 1000 + i * (6 * 86400000 / $N),
  'completions', 'm', CASE WHEN i % 3 = 0 THEN 'm@v0.0.2' ELSE 'm@v0.0.1' END,
  'prompt number ' || i || ' about the river and the sea', 'answer ' || i, '{}', 'stop',
  10 + i % 37, 20 + i % 53, 40 + (i * 7919) % 200, 5 + (i * 104729) % 30, 200 FROM n;
INSERT INTO feedback (interaction, created_ms, score, name)
SELECT id, created_ms + 1000, CAST(substr(id, 6) AS INTEGER) % 2, 'score' FROM interactions WHERE CAST(substr(id, 6) AS INTEGER) % 7 = 0;
SQL
echo "$(sqlite3 "$db" 'SELECT COUNT(*) FROM runs') runs, $(sqlite3 "$db" 'SELECT COUNT(*) FROM metrics') metric points, $(sqlite3 "$db" 'SELECT COUNT(*) FROM interactions') interactions"
"$XOPS" ui --port 0 > ui.out 2> ui.err &
ui=$!
for _ in $(seq 1 200); do grep -q "listening on" ui.out 2>/dev/null && break; sleep 0.05; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' ui.out | head -1)
curl -sf "$url/api/summary" >/dev/null
_timed() { local a; a=$(now); "$@" >/dev/null; elapsed "$a" "$(now)"; }
rows=()
page() {  # label, API path, the equivalent SQL
  local t s
  t=$(for _ in $(seq 1 "$REPS"); do measured "$1 (xops ui)" --pids "$ui" curl -s -o /dev/null -w '%{time_total}\n' "$url/api/$2"; done | median)
  s=$(for _ in $(seq 1 "$REPS"); do measured "$1 (sqlite3)" _timed sqlite3 "$db" "$3"; done | median)
  rows+=("$1|$t|$s|$(cut -d' ' -f1 /proc/loadavg)")
}
last_loss="(SELECT m.value FROM metrics m WHERE m.run = r.seq AND m.key = 1 ORDER BY m.step DESC LIMIT 1)"
page "runs, newest first, page 1" "runs?limit=50" "SELECT r.*, (SELECT COUNT(*) FROM runs) FROM runs r ORDER BY start_ms DESC LIMIT 50"
page "runs sorted by loss, page 100" "runs?sort=metrics.loss&offset=5000&limit=50" "SELECT r.*, $last_loss AS l FROM runs r ORDER BY l LIMIT 50 OFFSET 5000"
page "runs filtered (params.lr)" "runs?filter=params.lr%20%3D%20%270.003%27&limit=50" "SELECT r.* FROM runs r JOIN params p ON p.run = r.seq AND p.key = 'lr' WHERE p.value = '0.003' ORDER BY start_ms DESC LIMIT 50"
page "one run with its series" "runs/R0000000000000000000005000" "SELECT * FROM metrics WHERE run = 5000"
page "traffic, 7 days per hour" "traffic?since=7d&bucket=hour" "SELECT version, strftime('%Y-%m-%dT%H', created_ms / 1000, 'unixepoch') h, COUNT(*), AVG(latency_ms) FROM interactions GROUP BY version, h"
page "interactions, newest page" "interactions?limit=50" "SELECT * FROM interactions ORDER BY created_ms DESC LIMIT 50"
page "interactions, search 'river'" "interactions?q=river&limit=50&offset=1000" "SELECT * FROM interactions WHERE prompt LIKE '%river%' ORDER BY created_ms DESC LIMIT 50 OFFSET 1000"
page "the page itself (index.html)" "../" "SELECT 1"
quiet_gate
for r in "${rows[@]}"; do
  IFS='|' read -r label t s load <<<"$r"
  printf '%-34s %6.0f ms   sqlite3 %6.0f ms   ratio %s   load %s\n' "$label" "$(echo "$t * 1000" | bc -l)" \
    "$(echo "$s * 1000" | bc -l)" "$(shown_ratio "$t" "$s")" "$load"
done
