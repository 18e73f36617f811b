#!/usr/bin/env bash
# Team backends, each against its peer on this machine, alternating runs:
#  1. metric logging: 1,000,000 points (batches of 10,000) and 8 concurrent writers x 2,000
#     points (batches of 100) into PostgreSQL vs the same into SQLite (goal: PostgreSQL within
#     1.5x of SQLite for batched logging). A throw-away cluster, fsync on (tests/pg_cluster.sh).
#  2. the content store on S3: `xops track push`/`pull` of SMALL_FILES small files (default
#     10,000 of 1 KiB) and of one BIG_MIB file (default 1024) to a local s3rver, vs `aws s3 sync`
#     and `aws s3 cp` of the same data (goal: >= 1.0x aws). Both talk to the same server.
# Usage: bench/team.sh [ROUNDS=2]    env: SMALL_FILES, BIG_MIB
source "$(dirname "$0")/common.sh"
ROUNDS="${1:-2}"
SMALL_FILES="${SMALL_FILES:-10000}"
BIG_MIB="${BIG_MIB:-1024}"
B="$ROOT/build/xops_bench_track_log"
[ -x "$B" ] || "$ROOT/scripts/setup.sh"
W="$(mktemp -d "${TMPDIR:-/tmp}/xops-team.XXXXXX")"
cleanup() {
  "$ROOT/tests/pg_cluster.sh" stop "$W/pg" || true
  "$ROOT/tests/s3_server.sh" stop "$W/s3" || true
  rm -rf "$W"
}
trap cleanup EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. tracking
PG_FSYNC=on "$ROOT/tests/pg_cluster.sh" start "$W/pg" >/dev/null
export PGPASSWORD="$(cat "$W/pg/password")"
PGURL="$(cat "$W/pg/url")"
newdb() { psql -qX "$PGURL" -c "CREATE DATABASE $1" >/dev/null && echo "${PGURL%/*}/$1"; }
pps() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["points_per_s"])' "$1"; }
declare -a pg1 sq1 pg8 sq8
# The servers' CPU is the benchmark's own (bench/common.sh's quiet check): PostgreSQL's
# postmaster with its backends, then s3rver.
PG_PID=$(head -1 "$(cat "$W/pg/data")/db/postmaster.pid")
for r in $(seq 1 "$ROUNDS"); do
  pg1+=("$(pps "$(measured "PostgreSQL batched" --pids "$PG_PID" "$B" "$(newdb big$r)" 1000000)")")
  sq1+=("$(pps "$(measured "SQLite batched" "$B" "$W/big$r.db" 1000000)")")
  pg8+=("$(pps "$(measured "PostgreSQL 8 writers" --pids "$PG_PID" "$B" "$(newdb many$r)" 2000 8)")")
  sq8+=("$(pps "$(measured "SQLite 8 writers" "$B" "$W/many$r.db" 2000 8)")")
done
best() { printf '%s\n' "$@" | sort -g | tail -1; }

# ---- 2. S3
"$ROOT/tests/s3_server.sh" start "$W/s3" >/dev/null
EP="$(cat "$W/s3/endpoint")"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
export AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_CONFIG_FILE=/nonexistent
aws() { command aws --endpoint-url "$EP" --only-show-errors "$@"; }
# Two projects: one holds the small files, the other the big file (a push sends every object
# the history references, so one project would mix the two measurements).
project() {  # name
  cd "$W" && "$XOPS" -q init "$1" --template minimal --no-hooks >/dev/null && cd "$1"
  python3 - "$EP" <<'PY'
import sys
y = open("xops.yaml").read()
y = y.replace("\nremotes: {}\n", "\n").replace("\nremotes:\n", "\n")  # the template's (empty) section
y += f"remotes:\n  s3:\n    url: s3://xops-test/PREFIX\n    endpoint_url: {sys.argv[1]}\n    default: true\n"
open("xops.yaml", "w").write(y)
PY
}
project small
python3 - "$SMALL_FILES" <<'PY'
import os, sys
os.makedirs("data", exist_ok=True)
for i in range(int(sys.argv[1])):
    with open(f"data/f{i:05d}", "wb") as f: f.write(os.urandom(1024))
PY
"$XOPS" -q track add data >/dev/null && git add -A && git commit -qm data
project big
head -c "$((BIG_MIB << 20))" /dev/urandom > big.bin
"$XOPS" -q track add big.bin >/dev/null && git add -A && git commit -qm data
S3_PID=$(cat "$W/s3/pid")
_t() { local a; a=$(now); "$@" >/dev/null; elapsed "$a" "$(now)"; }
t() { measured "$*" --pids "$S3_PID" _t "$@"; }
declare -a xs_push aws_push xs_pull aws_pull xb_push awsb_push xb_pull awsb_pull xs_co xb_co
for r in $(seq 1 "$ROUNDS"); do
  for p in small big; do sed -i "s#url: s3://xops-test/.*#url: s3://xops-test/$p$r#" "$W/$p/xops.yaml"; done
  cd "$W/small"
  xs_push+=("$(t "$XOPS" track push)")
  aws_push+=("$(t aws s3 sync data "s3://xops-test/aws$r/data")")
  rm -rf .xops/objects data
  xs_pull+=("$(t "$XOPS" track pull --no-checkout)")
  xs_co+=("$(t "$XOPS" track checkout)")
  aws_pull+=("$(t aws s3 sync "s3://xops-test/aws$r/data" "$W/awspull")")
  [ "$(ls data | wc -l)" = "$SMALL_FILES" ] || { echo "pull restored $(ls data | wc -l) files" >&2; exit 1; }
  cd "$W/big"
  xb_push+=("$(t "$XOPS" track push)")
  awsb_push+=("$(t aws s3 cp big.bin "s3://xops-test/aws$r/big.bin")")
  rm -rf .xops/objects big.bin
  xb_pull+=("$(t "$XOPS" track pull --no-checkout)")
  xb_co+=("$(t "$XOPS" track checkout)")
  awsb_pull+=("$(t aws s3 cp "s3://xops-test/aws$r/big.bin" "$W/awsbig")")
  cmp -s big.bin "$W/awsbig" || { echo "pulled big.bin differs" >&2; exit 1; }
  rm -rf "$W/awspull" "$W/awsbig"
done
low() { printf '%s\n' "$@" | sort -g | head -1; }
echo
machine "$W"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) (a figure taken at load > 1 on this shared machine is noisy)"
echo "best of $ROUNDS rounds, peers alternating with xops"
quiet_gate
python3 - "$(best "${pg1[@]}")" "$(best "${sq1[@]}")" "$(best "${pg8[@]}")" "$(best "${sq8[@]}")" "$QUIET_OK" <<'PY'
import sys
pg1, sq1, pg8, sq8 = map(float, sys.argv[1:5])
r = lambda v: f"{v:.2f}x" if sys.argv[5] == "1" else "withheld"
print(f"metrics, 1,000,000 points batched: PostgreSQL {pg1:,.0f} points/s, SQLite {sq1:,.0f} points/s: "
      f"SQLite/PostgreSQL {r(sq1/pg1)} (goal <= 1.5x)")
print(f"metrics, 8 writers x 2,000 points: PostgreSQL {pg8:,.0f} points/s, SQLite {sq8:,.0f} points/s: "
      f"SQLite/PostgreSQL {r(sq8/pg8)}")
PY
python3 - "$SMALL_FILES" "$BIG_MIB" "$(low "${xs_push[@]}")" "$(low "${aws_push[@]}")" "$(low "${xs_pull[@]}")" \
  "$(low "${aws_pull[@]}")" "$(low "${xb_push[@]}")" "$(low "${awsb_push[@]}")" "$(low "${xb_pull[@]}")" \
  "$(low "${awsb_pull[@]}")" "$(low "${xs_co[@]}")" "$(low "${xb_co[@]}")" "$QUIET_OK" <<'PY'
import sys
n, mib = int(sys.argv[1]), int(sys.argv[2])
xs, aws, xl, awl, xb, awb, xbl, awbl, xsc, xbc = map(float, sys.argv[3:13])
r = lambda v: f"{v:.2f}x" if sys.argv[13] == "1" else "withheld"
# A pull fetches into the store; checking out then writes the workspace copy (a second copy
# of every byte, verified again): shown separately and together against aws, which writes one.
print(f"S3 push, {n:,} files of 1 KiB: xops {xs:.2f} s, aws s3 sync {aws:.2f} s: {r(aws/xs)} aws (goal >= 1.0x)")
print(f"S3 pull, {n:,} files of 1 KiB: xops {xl:.2f} s into the store + {xsc:.2f} s checkout, "
      f"aws s3 sync {awl:.2f} s: {r(awl/xl)} aws, {r(awl/(xl+xsc))} with the checkout (goal >= 1.0x)")
print(f"S3 push, one {mib} MiB file: xops {xb:.2f} s ({mib/xb:.0f} MiB/s), aws s3 cp {awb:.2f} s: {r(awb/xb)} aws")
print(f"S3 pull, one {mib} MiB file: xops {xbl:.2f} s ({mib/xbl:.0f} MiB/s) into the store + {xbc:.2f} s checkout, "
      f"aws s3 cp {awbl:.2f} s: {r(awbl/xbl)} aws, {r(awbl/(xbl+xbc))} with the checkout")
PY
