#!/usr/bin/env bash
# A no-op `xops repro` of a STAGES-stage pipeline (default 100: ten chains of ten, each
# stage reading a file and a params key, writing one output) against the stat-cache floor:
# `xops track status` over the same tracked files, which stats each file and looks its hash
# up in the same cache, and `git status`. DVC is not installable here (no PyPI), so it is not
# run; the floor is what any tool that checks content by stat cache must pay.
# Median of RUNS (default 11) runs each, alternating; the load average around them.
# Usage: bench/repro.sh            env: STAGES, RUNS
source "$(dirname "$0")/common.sh"
STAGES="${STAGES:-100}"
RUNS="${RUNS:-11}"
[ -x "$XOPS" ] || "$ROOT/scripts/setup.sh"
W="$(mktemp -d "${TMPDIR:-/tmp}/xops-repro.XXXXXX")"
trap 'rm -rf "$W"' EXIT
machine "$W"
cd "$W"
"$XOPS" -q init p --template minimal --no-hooks >/dev/null
cd p
mkdir -p in
{
  echo "stages:"
  for i in $(seq 0 $((STAGES - 1))); do
    if [ $((i % 10)) = 0 ]; then dep="in/f$i.txt"; seq 100 | sed "s/.*/data $i/" > "$dep"; else dep="out/s$((i - 1)).txt"; fi
    printf '  s%d:\n    cmd: mkdir -p out && cat %s > out/s%d.txt\n    deps: [%s]\n    params: [p.k%d]\n    outs: [out/s%d.txt]\n' \
      "$i" "$dep" "$i" "$dep" $((i % 5)) "$i"
  done
} > dvc.yaml
printf 'p:\n  k0: 0\n  k1: 1\n  k2: 2\n  k3: 3\n  k4: 4\n' > params.yaml
t0=$(now); "$XOPS" -q repro >/dev/null; first=$(elapsed "$t0" "$(now)")
"$XOPS" -q track add in >/dev/null
ran=$("$XOPS" --json repro | grep -o '"action":"ran"' | wc -l || true)
[ "$ran" = 0 ] || { echo "a no-op repro ran $ran stages" >&2; exit 1; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
_timed() { local t0; t0=$(now); "$@" >/dev/null; elapsed "$t0" "$(now)"; }
: > repro.t; : > status.t; : > git.t
for _ in $(seq "$RUNS"); do
  measured "no-op repro" _timed "$XOPS" -q repro >> repro.t
  measured "track status" _timed "$XOPS" -q track status >> status.t
  measured "git status" _timed git status --porcelain >> git.t
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
r=$(median < repro.t); s=$(median < status.t); g=$(median < git.t)
quiet_gate
printf "first repro of %d stages (every command run, outputs stored): %.2f s\n" "$STAGES" "$first"
printf "no-op repro, %d stages: %.1f ms (target <= 50 ms); track status over the same %d outputs + inputs: %.1f ms (%s the floor); git status: %.1f ms\n" \
  "$STAGES" "$(echo "$r * 1000" | bc -l)" "$((STAGES + STAGES / 10))" "$(echo "$s * 1000" | bc -l)" "$(shown_ratio "$r" "$s")" "$(echo "$g * 1000" | bc -l)"
