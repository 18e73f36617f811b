#!/usr/bin/env bash
# Records promptfoo's per-case verdicts for every case under cases/ into cases/*/expected.json.
# Run by hand when a case is added or changed (needs the npm registry once):
#   tests/compat/promptfoo/generate.sh [CASE...]
# PROMPTFOO=/path/to/promptfoo uses an installed one instead of installing 0.121.20.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version=0.121.20
if [[ -z "${PROMPTFOO:-}" ]]; then
  prefix="${XDG_CACHE_HOME:-$HOME/.cache}/xops/promptfoo-$version"
  if [[ ! -x "$prefix/node_modules/.bin/promptfoo" ]]; then
    mkdir -p "$prefix"
    (cd "$prefix" && npm init -y >/dev/null && npm install --no-audit --no-fund "promptfoo@$version" >/dev/null)
  fi
  PROMPTFOO="$prefix/node_modules/.bin/promptfoo"
fi
got="$("$PROMPTFOO" --version 2>/dev/null | tail -1)"
[[ "$got" == "$version" ]] || { echo "generate.sh: promptfoo $got, want $version" >&2; exit 2; }

# promptfoo keeps a database and cache under its config dir: a throw-away one, no network.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export PROMPTFOO_CONFIG_DIR="$scratch/config" PROMPTFOO_DISABLE_TELEMETRY=1 PROMPTFOO_DISABLE_UPDATE=1 \
  PROMPTFOO_DISABLE_REMOTE_GENERATION=1 PROMPTFOO_DISABLE_SHARING=1 PROMPTFOO_CACHE_ENABLED=false

cases=("$@")
if [[ ${#cases[@]} -eq 0 ]]; then
  for d in "$here"/cases/*/; do cases+=("$(basename "$d")"); done
fi
for c in "${cases[@]}"; do
  dir="$here/cases/$c"
  rm -f "$scratch/out.json"
  # Exit 100 means "some tests failed", which is expected; anything else without output is not.
  (cd "$dir" && "$PROMPTFOO" eval -c promptfooconfig.yaml -o "$scratch/out.json" --no-cache --no-table \
     --no-progress-bar -j 1 >"$scratch/log" 2>&1) || true
  if [[ ! -s "$scratch/out.json" ]]; then
    echo "== $c: promptfoo wrote no results" >&2
    tail -20 "$scratch/log" >&2
    python3 "$here/verdicts.py" refused "$dir/expected.json" "$version" "$scratch/log"
    continue
  fi
  python3 "$here/verdicts.py" promptfoo "$scratch/out.json" "$dir/expected.json" "$version"
done
