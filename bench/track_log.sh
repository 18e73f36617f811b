#!/usr/bin/env bash
# Tracking write speed: 1,000,000 metric points through the batched core API, against Python's
# sqlite3.executemany into the same table shape; and N separate `xops track log metric` calls
# (median ms per call) against N separate `sqlite3` CLI inserts.
source "$(dirname "$0")/common.sh"
N="${1:-1000}"
B="$ROOT/build/xops_bench_track_log"
[ -x "$B" ] || "$ROOT/scripts/setup.sh"
W="$(mktemp -d "${TMPDIR:-/tmp}/xops-bench.XXXXXX")"; trap 'rm -rf "$W"' EXIT
x=$(measured "xops batched insert" "$B" "$W/batch.db" 1000000)
peer=$(measured "python executemany" python3 - "$W/peer.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1]); db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
db.execute("CREATE TABLE metrics(run INTEGER, key INTEGER, step INTEGER, value REAL, wall_ms INTEGER)")
db.execute("CREATE INDEX m ON metrics(run, key, step)")
n = 1000000; t0 = time.perf_counter()
rows = ((1, i % 4, i // 4, 1.0 / (1 + i), 0) for i in range(n))
with db: db.executemany("INSERT INTO metrics VALUES (?,?,?,?,?)", rows)
print(n / (time.perf_counter() - t0))
PY
)
cd "$W" && "$XOPS" -q init p --template minimal --no-hooks && cd p
id=$("$XOPS" --json track run -q -- true >/dev/null; "$XOPS" --json track runs --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
command -v hyperfine >/dev/null || "$ROOT/scripts/setup.sh" --bench
measured "hyperfine track log and sqlite3" hyperfine -N --warmup 10 --runs "$N" --export-json "$W/h.json" \
  "$XOPS track log metric loss=0.5 --step 1 --run $id" \
  "sqlite3 $W/p/.xops/xops.db \"INSERT INTO metrics(run,key,step,value,wall_ms) VALUES (999,1,1,0.5,0)\"" >/dev/null 2>&1
read -r cli sq < <(python3 -c "import json; r=json.load(open('$W/h.json'))['results']; print(*[t['median']*1000 for t in r])")
rows=$(sqlite3 .xops/xops.db "SELECT COUNT(*) FROM metrics m JOIN runs r ON r.seq=m.run WHERE r.id='$id'")
machine "$W"
quiet_gate
python3 - "$x" "$peer" "$cli" "$sq" "$N" "$rows" "$QUIET_OK" <<'PY'
import json, sys
x, peer, cli, sq, n, rows = json.loads(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
r = lambda v: f"{v:.2f}x" if sys.argv[7] == "1" else "withheld"
print(f"batched insert, 1,000,000 points: xops {x['points_per_s']:,.0f} points/s ({x['seconds']:.2f} s); "
      f"python sqlite3.executemany {peer:,.0f} points/s; ratio {r(x['points_per_s']/peer)} (goal >= 500,000 points/s)")
print(f"xops track log metric: median {cli:.2f} ms per call over {n} calls ({rows} rows landed); "
      f"sqlite3 CLI insert: {sq:.2f} ms; ratio {r(cli/sq)} (goal <= 15 ms)")
PY
