#!/usr/bin/env bash
# Listing runs (`xops track runs`) from PostgreSQL vs SQLite: RUNS runs (default 500) of
# POINTS metric points each (default 200) written into each backend, then the median of 5
# listings' wall time, and the ratio PostgreSQL/SQLite. A throw-away cluster
# (tests/pg_cluster.sh). The README's "listing 500 runs" figure comes from here.
# Usage: bench/track_runs.sh           env: RUNS, POINTS
source "$(dirname "$0")/common.sh"
RUNS="${RUNS:-500}"
POINTS="${POINTS:-200}"
B="$ROOT/build/xops_bench_track_log"
[ -x "$B" ] || "$ROOT/scripts/setup.sh"
W="$(mktemp -d "${TMPDIR:-/tmp}/xops-runs.XXXXXX")"
trap '"$ROOT/tests/pg_cluster.sh" stop "$W/pg" >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
machine
echo "load average at start: $(cut -d' ' -f1 /proc/loadavg)"
"$ROOT/tests/pg_cluster.sh" start "$W/pg" >/dev/null
PG_PID=$(head -1 "$(cat "$W/pg/data")/db/postmaster.pid")  # its backends' CPU is the run's own
export PGPASSWORD="$(cat "$W/pg/password")"
PGURL="$(cat "$W/pg/url")"
(cd "$W" && "$XOPS" -q init p --template minimal --no-hooks >/dev/null)
for i in $(seq 1 "$RUNS"); do
  "$B" "$W/runs.db" "$POINTS" >/dev/null
  "$B" "$PGURL" "$POINTS" >/dev/null
done
list() {  # tracking URL, label -> median seconds of 5 listings
  for _ in 1 2 3 4 5; do
    t0=$(now)
    (cd "$W/p" && XOPS_TRACKING="$1" measured "track runs ($2)" --pids "$PG_PID" "$XOPS" track runs --limit "$RUNS" >/dev/null)
    elapsed "$t0" "$(now)"
  done | median
}
list "$W/runs.db" "SQLite, warm-up" >/dev/null  # warm the page cache once
sq=$(list "$W/runs.db" SQLite)
pg=$(list "$PGURL" PostgreSQL)
quiet_gate
printf "track runs, %s runs x %s points: SQLite %.3f s, PostgreSQL %.3f s (ratio %s)\n" "$RUNS" "$POINTS" "$sq" "$pg" "$(shown_ratio "$pg" "$sq")"
echo "load average at end: $(cut -d' ' -f1 /proc/loadavg)"
