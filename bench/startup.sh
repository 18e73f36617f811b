#!/usr/bin/env bash
# Median wall time of `xops --version` against `git --version` over N runs (default 50),
# and proof that libtorch is not mapped (LD_DEBUG=libs).
source "$(dirname "$0")/common.sh"
N="${1:-50}"
[ -x "$XOPS" ] || "$ROOT/scripts/setup.sh"
command -v hyperfine >/dev/null || "$ROOT/scripts/setup.sh" --bench
J="$(mktemp)"; trap 'rm -f "$J"' EXIT
measured "hyperfine xops and git --version" hyperfine -N --warmup 5 --runs "$N" --export-json "$J" "$XOPS --version" "git --version" >/dev/null 2>&1
read -r x g < <(python3 -c "import json,sys; r=json.load(open('$J'))['results']; print(*[t['median']*1000 for t in r])")
machine
printf 'xops --version: median %.2f ms over %d runs\n' "$x" "$N"
printf 'git --version:  median %.2f ms over %d runs\n' "$g" "$N"
quiet_gate
printf 'ratio xops/git: %s   (goal: xops <= 10 ms)\n' "$(shown_ratio "$x" "$g")"
libs=$(LD_DEBUG=libs "$XOPS" --version 2>&1 >/dev/null | grep -c 'calling init' || true)
if LD_DEBUG=libs "$XOPS" --version 2>&1 >/dev/null | grep -q libtorch; then
  echo "FAIL: libtorch is mapped by xops --version"; exit 1
fi
echo "libraries initialised by xops --version: $libs (libtorch: not mapped)"
