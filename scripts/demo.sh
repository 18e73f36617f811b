#!/usr/bin/env bash
# Set-up plus the main job: an end-to-end run of what exists today on embedded defaults
# (a local git repo, a local content store, SQLite), in a temp directory.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
DEMO_ROOT="$PWD"
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
echo "== version a data set: track add, commit, modify, status, checkout the old revision" >&2
mkdir -p data/corpus
head -c 200000 "$DEMO_ROOT/../shared/data/austen.txt" > data/corpus/emma.txt 2>/dev/null || \
  head -c 200000 /dev/urandom | base64 > data/corpus/emma.txt
"$XOPS" track add data/corpus
git commit -qm "corpus v1"
echo "An added line." >> data/corpus/emma.txt
"$XOPS" track status || true
"$XOPS" track add data/corpus && git commit -qm "corpus v2"
"$XOPS" track checkout HEAD~1 && "$XOPS" track status
"$XOPS" track checkout HEAD
echo "== push to a directory remote, drop the local store, pull it back" >&2
sed -i "s|^remotes:.*|remotes:\n  local:\n    url: $work/remote-store\n    default: true|" xops.yaml
"$XOPS" track push && rm -rf .xops/objects && "$XOPS" track pull && "$XOPS" track verify
echo "== the model engine: greedy generation from the tiny GPT-2 fixture" >&2
if [ -d "$DEMO_ROOT/../shared/golden/models/gpt2-tiny" ]; then
  "$XOPS" generate "$DEMO_ROOT/../shared/golden/models/gpt2-tiny" "The quick brown fox" -n 16 -v
fi
echo "== train the template's small model on date rewriting, then evaluate it on held-out years" >&2
"$XOPS" finetune configs/finetune.yaml
git commit -qm "demo model"
"$XOPS" eval evals/basic.yaml --junit eval-junit.xml --html eval-report.html || echo "(eval gate: exit $?)" >&2
"$XOPS" track runs --columns id,name,kind,status,duration,metrics.train/loss,metrics.pass_rate
echo "== the quickstart: pretrain on Jane Austen, LoRA on date rewriting, exact match before/after" >&2
"$DEMO_ROOT/examples/quickstart/run.sh" "$work/quickstart"
echo "== done: $work/demo and $work/quickstart" >&2
