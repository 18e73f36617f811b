#!/usr/bin/env bash
# A 1,000-case suite (an exec: provider, deterministic assertions) run by `xops eval` and by
# promptfoo (npm promptfoo@0.121.20) from the SAME config file, in one invocation: wall-time
# ratio, and a check that both pass and fail the same cases. The ratio is withheld when
# another process used more than 0.5 core during a run (bench/common.sh), unless --noisy.
source "$(dirname "$0")/common.sh"
N="${1:-1000}"
[ -x "$XOPS" ] || "$ROOT/scripts/setup.sh"
PF_DIR="${PF_DIR:-$ROOT/bench/out/promptfoo}"
if [ ! -x "$PF_DIR/node_modules/.bin/promptfoo" ]; then
  mkdir -p "$PF_DIR" && (cd "$PF_DIR" && npm install promptfoo@0.121.20 --no-audit --no-fund >/dev/null 2>&1)
fi
export PROMPTFOO_DISABLE_TELEMETRY=1 PROMPTFOO_DISABLE_UPDATE=1 PROMPTFOO_DISABLE_SHARING=1
W="$(mktemp -d "${TMPDIR:-/tmp}/xops-bench.XXXXXX")"; trap 'rm -rf "$W"' EXIT
cd "$W"
cat > answer.sh <<'SH'
#!/bin/sh
# Echoes the word after "Echo: " (shell builtins only); words starting with "q" come back
# with a "!" (those cases fail their equals/regex assertions).
w="${1#Echo: }"
case "$w" in q*) printf '%s!\n' "$w" ;; *) printf '%s\n' "$w" ;; esac
SH
chmod +x answer.sh
python3 - "$N" > suite.yaml <<'PY'
import random, sys
n = int(sys.argv[1]); r = random.Random(5)
print("description: bench suite\nprompts:\n  - 'Echo: {{word}}'\nproviders:\n  - id: 'exec:sh answer.sh'\ntests:")
for i in range(n):
    w = "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
    kind = i % 4
    a = {0: f"{{type: equals, value: '{w}'}}", 1: f"{{type: icontains, value: '{w.upper()}'}}",
         2: f"{{type: starts-with, value: '{w[:2]}'}}", 3: f"{{type: regex, value: '^[a-z]{{6}}$'}}"}[kind]
    print(f"  - vars: {{word: {w}}}\n    assert: [{a}]")
PY
t() { local s e rc; s=$(now); measured "$1" "${@:2}" >/dev/null 2>&1 && rc=0 || rc=$?; e=$(now); echo "$(elapsed "$s" "$e") $rc"; }
read -r tx rx < <(t xops "$XOPS" eval suite.yaml --no-cache --no-track -j 4 --jsonl xops.jsonl)
read -r tp rp < <(t promptfoo "$PF_DIR/node_modules/.bin/promptfoo" eval -c suite.yaml --no-cache -j 4 --output pf.json --no-table --no-progress-bar)
machine "$W"
quiet_gate
python3 - "$tx" "$rx" "$tp" "$rp" "$N" "$QUIET_OK" <<'PY'
import json, sys
tx, rx, tp, rp, n = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
quiet = sys.argv[6] == "1"
x = {}
for l in open("xops.jsonl"):
    r = json.loads(l); x[r["test"]] = r["pass"]
pf = json.load(open("pf.json"))
res = pf.get("results", {})
rows = res.get("results", res) if isinstance(res, dict) else res
p = {r.get("testIdx", i): bool(r.get("success")) for i, r in enumerate(rows)}
same = sum(1 for k in x if k in p and p[k] == x[k])
print(f"{n} cases, exec provider, 4 at a time")
print(f"xops eval:     {tx:7.2f} s (exit {rx}), {sum(x.values())} passed / {len(x) - sum(x.values())} failed")
print(f"promptfoo:     {tp:7.2f} s (exit {rp}), {sum(p.values())} passed / {len(p) - sum(p.values())} failed")
print(f"ratio xops / promptfoo wall time: {tx / tp:.3f} (goal <= 0.1)" if quiet else "ratio xops / promptfoo wall time: withheld (noisy)")
print(f"same verdict on {same}/{len(x)} cases")
PY
