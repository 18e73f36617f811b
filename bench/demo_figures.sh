#!/usr/bin/env bash
# Reruns the whole loop (./scripts/demo.sh, the full variant) and checks that the README
# quotes what it printed: the exact-match line and the served answers must appear in
# README.md word for word. Exit 1 (and the lines that differ) when they drifted apart.
#   bench/demo_figures.sh
source "$(dirname "$0")/common.sh"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
machine
echo "load average at start: $(cut -d' ' -f1 /proc/loadavg)"
DEMO_QUICK=0 "$ROOT/scripts/demo.sh" >"$log" 2>&1 || { tail -20 "$log"; exit 1; }
echo "load average at end: $(cut -d' ' -f1 /proc/loadavg)"
grep -E '^== summary' "$log"
drift=0
while IFS= read -r line; do
  echo "demo: $line"
  if ! grep -qF -- "$line" "$ROOT/README.md"; then
    echo "  README.md does not say this" >&2
    drift=1
  fi
done < <(grep -E '^(exact match on held-out years|served \()' "$log")
[ "$drift" = 0 ] && echo "README.md quotes the demo's figures" || exit 1
