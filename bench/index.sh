#!/usr/bin/env bash
# Vector search: xops's index (hnswlib's HNSW behind core/index/vector_index) beside the same
# library from Python (python3-hnswlib) and numpy brute force, on the same files:
#   1. N (1,000,000) random 384-d vectors, NQ (1,000) random queries;
#   2. Austen chunks: `xops index build` over austen.txt with the BERT fixture encoder
#      (tests/fixtures/bert-tiny: random weights, 32-d), its first NQ vectors as queries.
# For each: build seconds (THREADS threads), seconds per query (one at a time) and recall@10
# against exact search at each ef_search, exact-scan seconds per query. Load printed.
#
#   bench/index.sh     N (1000000), DIMS (384), NQ (1000), M (16), EFC (200), THREADS (2), EFS ("64 128 256 512"),
#                      PEER=0 (xops alone), AUSTEN=0 (random vectors only)
# Building HNSW over 1M x 384 takes tens of minutes per side on 2 cores: N=200000 compares the
# two sides in minutes, PEER=0 N=1000000 measures xops's recall at full size.
source "$(dirname "$0")/common.sh"
N="${N:-1000000}" DIMS="${DIMS:-384}" NQ="${NQ:-1000}" M="${M:-16}" EFC="${EFC:-200}" THREADS="${THREADS:-2}"
EFS="${EFS:-64 128 256 512}"
WORK="$(mktemp -d -t xops-bench-index.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
BENCH="$ROOT/build/xops_bench_index"
[ -x "$BENCH" ] || "$ROOT/scripts/setup.sh" --bench
/usr/bin/python3 -c 'import numpy, hnswlib' 2>/dev/null || "$ROOT/scripts/setup.sh" --bench --no-build
machine "$WORK"

compare() {  # name data queries dims
  local name=$1 data=$2 queries=$3 dims=$4
  echo "== $name: load $(cut -d' ' -f1 /proc/loadavg)"
  : >"$QUIET_LOG"  # each comparison is judged on its own runs
  measured "$name: xops" "$BENCH" run "$data" "$queries" "$dims" 10 "$M" "$EFC" "$THREADS" $EFS > "$WORK/xops.json"
  echo "   (load $(cut -d' ' -f1 /proc/loadavg) after xops)"
  if [ "${PEER:-1}" = 1 ]; then
    measured "$name: hnswlib (Python)" /usr/bin/python3 "$ROOT/bench/index_peer.py" run "$data" "$queries" "$dims" 10 "$M" "$EFC" "$THREADS" $EFS > "$WORK/py.json"
    echo "   (load $(cut -d' ' -f1 /proc/loadavg) after python)"
  else  # xops alone (PEER=0): the peer's columns repeat xops's, ratios 1
    cp "$WORK/xops.json" "$WORK/py.json"
    /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d['brute_query_s']=d['exact_query_s']; json.dump(d, open(sys.argv[1],'w'))" "$WORK/py.json"
    echo "   (PEER=0: no Python run; the peer columns repeat xops's)"
  fi
  local verdict
  QUIET_OK=1; verdict=$(quiet_verdict) || QUIET_OK=0
  sed 's/^/   /' <<<"$verdict"
  /usr/bin/python3 - "$WORK/xops.json" "$WORK/py.json" "$QUIET_OK" <<'PY'
import json, sys
x, p = (json.load(open(f)) for f in sys.argv[1:3])
r = lambda v, fmt: format(v, fmt) if sys.argv[3] == "1" else "withheld"
print(f"   {x['n']:,} vectors x {x['dims']}-d, {x['queries']:,} queries, k=10")
print(f"   build: xops {x['build_s']:.1f} s, hnswlib (Python) {p['build_s']:.1f} s, ratio {r(x['build_s'] / p['build_s'], '.2f')}")
print(f"   exact: xops scan {1e3 * x['exact_query_s']:.2f} ms/query, numpy brute force {1e3 * p['brute_query_s']:.2f} ms/query")
print("   ef_search | xops ms/query  recall@10 | hnswlib-py ms/query  recall@10 | xops/py time | xops speed-up over its scan")
for a, b in zip(x["runs"], p["runs"]):
    print(f"   {a['ef_search']:9d} | {1e3 * a['query_s']:13.3f}  {a['recall']:9.4f} | {1e3 * b['query_s']:19.3f}  "
          f"{b['recall']:9.4f} | {r(a['query_s'] / b['query_s'], '12.2f'):>12} | {x['exact_query_s'] / a['query_s']:8.0f}x")
PY
}

/usr/bin/python3 "$ROOT/bench/index_peer.py" random "$N" "$DIMS" "$NQ" 7 "$WORK/random"
compare "random" "$WORK/random-data.f32" "$WORK/random-queries.f32" "$DIMS"
rm -f "$WORK"/random-*.f32

[ "${AUSTEN:-1}" = 1 ] || exit 0
# Austen: a real index built by the binary, its vectors exported as raw files.
(cd "$WORK" && "$XOPS" -q init p --template minimal --no-hooks >/dev/null)
mkdir -p "$WORK/p/data" && cp "$ROOT/../shared/data/austen.txt" "$WORK/p/data/"
t0=$(now)
(cd "$WORK/p" && "$XOPS" -q index build austen --from data/austen.txt --embedding "$ROOT/tests/fixtures/bert-tiny" \
   --chunk 20 --overlap 4 --exact-below 0 >/dev/null)
echo "xops index build over austen.txt (4 MB, BERT fixture, 20-token chunks): $(printf '%.1f' "$(elapsed "$t0" "$(now)")") s"
d=$(/usr/bin/python3 "$ROOT/bench/index_peer.py" export "$WORK/p/indexes/austen/vectors.bin" "$NQ" "$WORK/austen")
compare "austen chunks" "$WORK/austen-data.f32" "$WORK/austen-queries.f32" "$d"
