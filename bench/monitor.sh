#!/usr/bin/env bash
# `xops monitor` over N (1,000,000) logged interactions on SQLite, beside the plain SQL query
# that counts and averages the same rows per version (no percentiles: what sqlite3 alone
# gives). Two versions, a day apart, with refusals and feedback. Prints each time (median of
# RUNS), the ratio xops/SQL and the load average (above 0.5 the figures are noise).
#
#   bench/monitor.sh     N (1000000), RUNS (3)
source "$(dirname "$0")/common.sh"
N="${N:-1000000}" RUNS="${RUNS:-3}"
WORK="$(mktemp -d -t xops-bench-monitor.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
[ -x "$XOPS" ] || "$ROOT/scripts/setup.sh"
command -v sqlite3 >/dev/null || { echo "monitor.sh: needs sqlite3" >&2; exit 1; }
machine "$WORK"
(cd "$WORK" && "$XOPS" -q init p --template minimal --no-hooks)
cd "$WORK/p"
"$XOPS" -q track run -- true  # creates the tracking database at the current schema
db=.xops/xops.db
t0=$(now)
sqlite3 "$db" <<SQL >/dev/null
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $N - 1)
INSERT INTO interactions (id, created_ms, route, model, version, prompt, output, params,
  finish_reason, prompt_tokens, completion_tokens, latency_ms, ttft_ms, status, error)
SELECT printf('cmpl-%08d', i), 1796000000000 + i * 86400000 / $N * 2, 'completions', 'm',
  CASE WHEN i < $N / 2 THEN 'm@v0.0.1' ELSE 'm@v0.0.2' END, 'p', 'o', '{}',
  CASE WHEN i % 97 = 5 THEN '' WHEN i % 11 = 0 THEN 'length' ELSE 'stop' END,
  10 + i % 37, 20 + i % 53, 40 + (i * 7919) % 200, 5 + (i * 104729) % 30,
  CASE WHEN i % 97 = 5 THEN 400 ELSE 200 END, CASE WHEN i % 97 = 5 THEN 'context_length_exceeded' ELSE '' END
FROM n;
INSERT INTO feedback (interaction, created_ms, score, name)
SELECT id, created_ms + 1000, (created_ms / 10000) % 2, 'score' FROM interactions WHERE (created_ms / 1000) % 10 = 0;
SQL
echo "generated $N interactions and $(sqlite3 "$db" 'SELECT COUNT(*) FROM feedback') scores in $(printf '%.1f' "$(elapsed "$t0" "$(now)")") s"
sql="SELECT version, COUNT(*), SUM(status >= 500), SUM(status >= 400 AND status < 500), AVG(latency_ms), SUM(prompt_tokens), SUM(completion_tokens) FROM interactions GROUP BY version;"
_time_of() { local s; s=$(now); "$@" >/dev/null; elapsed "$s" "$(now)"; }
time_of() { measured "$*" _time_of "$@"; }
for _ in $(seq 1 "$RUNS"); do time_of sqlite3 "$db" "$sql"; done | median > "$WORK/sql"
for _ in $(seq 1 "$RUNS"); do time_of "$XOPS" --json monitor; done | median > "$WORK/xops"
"$XOPS" monitor | head -4
x=$(cat "$WORK/xops") s=$(cat "$WORK/sql")
quiet_gate
printf 'xops monitor over %d interactions: %.2f s (median of %d); plain SQL GROUP BY: %.2f s; ratio %s; load %s\n' \
  "$N" "$x" "$RUNS" "$s" "$(shown_ratio "$x" "$s")" "$(cut -d' ' -f1 /proc/loadavg)"
