#!/usr/bin/env bash
# Set-up plus the main job: an end-to-end run of what exists today on embedded defaults
# (a local git repo, a local content store, SQLite), in a temp directory.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
XOPS="$PWD/${BUILD_DIR:-build}/xops"
work="$(mktemp -d -t xops-demo.XXXXXX)"
echo "== demo directory: $work" >&2
cd "$work"
export GIT_AUTHOR_NAME=xops-demo GIT_AUTHOR_EMAIL=demo@localhost
export GIT_COMMITTER_NAME=xops-demo GIT_COMMITTER_EMAIL=demo@localhost
export XOPS_BIN="$XOPS"

echo "== xops --version -v" >&2
"$XOPS" --version -v
echo "== xops init demo" >&2
"$XOPS" init demo
cd demo
git add -A && git commit -qm "xops init"
echo "== xops config (where each setting comes from)" >&2
"$XOPS" config
echo "== done: $work/demo" >&2
