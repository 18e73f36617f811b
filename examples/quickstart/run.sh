#!/usr/bin/env bash
# The quickstart: pretrain a small GPT on Jane Austen, then LoRA-tune it to rewrite ISO dates,
# and measure exact match on a held-out split (years never seen in training) before and after.
# Usage: examples/quickstart/run.sh [WORKDIR]   (QUICK=1: a few steps only, for the tests)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
XOPS="${XOPS:-$HERE/../../build/xops}"
WORK="${1:-$(mktemp -d -t xops-quickstart.XXXXXX)}"
export XOPS_BIN="$XOPS"
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-xops}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-xops@localhost}"
export GIT_COMMITTER_NAME="${GIT_COMMITTER_NAME:-xops}" GIT_COMMITTER_EMAIL="${GIT_COMMITTER_EMAIL:-xops@localhost}"
mkdir -p "$WORK" && cd "$WORK"
"$XOPS" -q init . --template minimal --name quickstart >/dev/null
cp -r "$HERE/configs" .
mkdir -p data && cp "$HERE/data/austen.txt" data/
if [ "${QUICK:-0}" = 1 ]; then
  python3 "$HERE/make_dates.py" data 200 20
  head -c 60000 "$HERE/data/austen.txt" > data/austen.txt
  quick=(--set max_steps=4 --set eval_interval=2)
else
  python3 "$HERE/make_dates.py" data
  quick=()
fi
"$XOPS" -q track add data
git add -A && git commit -qm "quickstart data and configs"

echo "== 1. pretrain on data/austen.txt" >&2
"$XOPS" finetune configs/pretrain.yaml "${quick[@]}"
git commit -qm "pretrained tiny-gpt"

em() {  # exact match of MODEL [ADAPTER] on the held-out dates
  local args=("$1"); [ -n "${2:-}" ] && args+=(--adapter "$2")
  "$XOPS" -q generate "${args[@]}" --batch data/dates-heldout.jsonl --batch-size 50 -n 24 --stop $'\n' > "em-$3.jsonl"
  python3 "$HERE/exact_match.py" "em-$3.jsonl"
}
echo "== 2. exact match on held-out dates BEFORE LoRA" >&2
before=$(em models/tiny-gpt "" before)
echo "before: $before"

echo "== 3. LoRA on data/dates-train.jsonl" >&2
"$XOPS" finetune configs/lora.yaml "${quick[@]}"
git commit -qm "LoRA adapter for dates"

echo "== 4. exact match on held-out dates AFTER LoRA" >&2
after=$(em models/tiny-gpt models/tiny-gpt-dates after)
echo "after:  $after"
"$XOPS" track runs --columns id,name,kind,status,duration,metrics.train/loss,metrics.eval/loss
echo "== quickstart done in $WORK (before: $before, after: $after)" >&2
