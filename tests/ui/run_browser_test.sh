#!/usr/bin/env bash
# The UI in a real browser: a project with real runs, evals, registry and traffic
# (make_project.sh), `xops ui` on an ephemeral loopback port, and Debian's chromium driven
# headless over the DevTools protocol by puppeteer-core (browser_test.cjs). Screenshots of
# every page go to OUT. Usage: run_browser_test.sh XOPS SHARED_DIR OUT
set -euo pipefail
X=$(realpath "$1") SHARED=$(realpath "$2") OUT=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v chromium >/dev/null || { echo "chromium is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
[ -d "$root/.cache/npm/node_modules/puppeteer-core" ] ||
  { echo "puppeteer-core is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $ui 2>/dev/null || true; rm -rf "$work"' EXIT
"$here/make_project.sh" "$X" "$SHARED/golden/models/gpt2-tiny" "$work"
cd "$work/p"
export XOPS_CONFIG_HOME="$work/config"
"$X" ui --port 0 > ui.out 2> ui.err &
ui=$!
for _ in $(seq 1 200); do grep -q "listening on" ui.out 2>/dev/null && break; sleep 0.05; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' ui.out | head -1)
mkdir -p "$OUT"
NODE_PATH="$root/.cache/npm/node_modules" node "$here/browser_test.cjs" "$url" "$(realpath "$OUT")"
