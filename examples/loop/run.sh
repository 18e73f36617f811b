#!/usr/bin/env bash
# The whole loop on embedded defaults (a git repo, a local content store, SQLite), every step
# printed as the command a user would type, with its wall time:
#   data -> pretrain -> LoRA -> eval (base and tuned) -> register -> promote behind gates
#   (the base is refused with its evidence) -> serve -> curl + the OpenAI client -> feedback
#   -> eval cases from the logs -> runs, report, registry -> a summary.
# Usage: examples/loop/run.sh [WORKDIR]   DEMO_QUICK=1: a 2-minute variant (few training
# steps, a small held-out set, relaxed gates) that the tests run.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
XOPS="${XOPS:-$ROOT/build/xops}"
WORK="${1:-$(mktemp -d -t xops-loop.XXXXXX)}"
QUICK="${DEMO_QUICK:-0}"
export XOPS_BIN="$XOPS"
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-xops-demo}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-demo@localhost}"
export GIT_COMMITTER_NAME="${GIT_COMMITTER_NAME:-xops-demo}" GIT_COMMITTER_EMAIL="${GIT_COMMITTER_EMAIL:-demo@localhost}"
export NO_COLOR=1

STEPS=()      # "seconds|title" per step
T_START=$(date +%s.%N)
fail() { echo "demo: $*" >&2; exit 1; }
# step TITLE EXPECTED_RC 'COMMAND LINE': prints the command line exactly as a user would type
# it, runs it (xops is on PATH), and times it.
step() {
  local title=$1 want=$2 cmd=$3 t0 rc
  printf '\n\033[1m== %s\033[0m\n$ %s\n' "$title" "$cmd" >&2
  t0=$(date +%s.%N)
  bash -o pipefail -c "$cmd"
  rc=$?
  STEPS+=("$(elapsed "$t0")|$title")
  [ "$rc" = "$want" ] || fail "'$cmd' exited with $rc, expected $want"
}
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(date +%s.%N)"; }
json_field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }

mkdir -p "$WORK/bin" && cd "$WORK" || exit 1
ln -sf "$XOPS" bin/xops
export PATH="$WORK/bin:$PATH"
echo "== the loop in $WORK (DEMO_QUICK=$QUICK)" >&2

# ---- a project, its data and configs ------------------------------------------------------
step "a new project" 0 "xops -q init loop --template minimal"
cd loop || exit 1
cp -r "$HERE/configs" "$HERE/evals" "$HERE/prompts" .
mkdir -p data
if [ "$QUICK" = 1 ]; then
  python3 "$ROOT/examples/quickstart/make_dates.py" data 400 30
  head -c 100000 "$ROOT/examples/quickstart/data/austen.txt" > data/austen.txt
  PRE_STEPS=40 LORA_STEPS=60
  STAGING_MIN=0.0 PROD_MIN=0.0 PROD_WIN=0.0
else
  python3 "$ROOT/examples/quickstart/make_dates.py" data
  cp "$ROOT/examples/quickstart/data/austen.txt" data/
  PRE_STEPS=1000 LORA_STEPS=1600 STAGING_MIN=0.3 PROD_MIN=0.5 PROD_WIN=0.5
fi
cat > xops.yaml <<YAML
name: loop
stages: [dev, staging, prod]
artifacts:
  austen: {path: data/austen.txt, type: dataset, description: "Jane Austen, the pretraining text"}
  dates: {path: data/dates-train.jsonl, type: dataset, description: "ISO dates and their long form"}
  tiny-gpt: {path: models/tiny-gpt, type: model, description: "0.8M-parameter GPT pretrained on Austen"}
  tiny-gpt-dates: {path: models/tiny-gpt-dates, type: adapter, description: "LoRA on tiny-gpt for dates"}
  date-prompt: {path: prompts/date.txt, type: prompt, description: "The prompt the eval and the service send"}
gates:
  staging:
    - eval: evals/dates.yaml
      min_pass_rate: $STAGING_MIN
  prod:
    - eval: evals/dates.yaml
      min_pass_rate: $PROD_MIN
      no_regression: [pass_rate]
    # the adapter's answers judged against its base model's (both orders, the suite's judge)
    - pairwise: {suite: evals/dates.yaml, baseline: tiny-gpt@v0.0.1, min_win_rate: $PROD_WIN}
      artifacts: [tiny-gpt-dates]
    # the roles swapped: the base reaches prod only if it is judged no worse than the adapter
    - pairwise: {suite: evals/dates.yaml, baseline: tiny-gpt-dates@v0.0.1, min_win_rate: 0.5}
      artifacts: [tiny-gpt]
YAML
step "version the data" 0 "xops track add data && git add -A && git commit -qm 'data, configs, suite'"

# ---- train and evaluate: a pipeline (DVC's dvc.yaml, run by xops repro) ---------------------
# params.yaml holds what the stages read; dvc.lock records what each run used (hashes of its
# inputs and outputs, the params values), so a change reruns only the stages it reaches.
cat > params.yaml <<YAML
pretrain: {max_steps: $PRE_STEPS, eval_interval: $((PRE_STEPS / 2))}
lora: {max_steps: $LORA_STEPS, eval_interval: $((LORA_STEPS / 2)), lr: 5.0e-3, r: 16}
YAML
cat > dvc.yaml <<'YAML'
stages:
  pretrain:
    desc: the base model, pretrained on Austen
    cmd: xops -q finetune configs/pretrain.yaml --set max_steps=${pretrain.max_steps} --set eval_interval=${pretrain.eval_interval}
    deps: [data/austen.txt, configs/pretrain.yaml]
    outs: [models/tiny-gpt]
  lora:
    desc: a LoRA adapter on it for rewriting dates
    cmd: >-
      xops -q finetune configs/lora.yaml --set max_steps=${lora.max_steps} --set eval_interval=${lora.eval_interval}
      --set optimizer.lr=${lora.lr} --set lora.r=${lora.r}
    deps: [models/tiny-gpt, data/dates-train.jsonl, data/dates-heldout.jsonl, configs/lora.yaml]
    outs: [models/tiny-gpt-dates]
  evaluate:
    desc: the adapter on held-out years
    cmd:
    - xops eval evals/dates.yaml -o eval-tuned.json -o eval-tuned.html
    - python3 evals/summary_metrics.py eval-tuned.json metrics.json
    deps: [models/tiny-gpt-dates, evals/dates.yaml, prompts/date.txt, evals/summary_metrics.py]
    outs: [eval-tuned.json, eval-tuned.html]
    metrics: [metrics.json]
YAML
step "the pipeline's stages" 0 "xops dag && xops stage list"
step "run it: pretrain -> LoRA -> eval" 0 "xops repro && git add -A && git commit -qm 'pipeline: tiny-gpt, its adapter, its eval'"
step "nothing changed: nothing runs" 0 "xops repro | grep -c unchanged | grep -qx 3 && echo 'all 3 stages unchanged'"
step "a LoRA param changes (half the steps): what would run, and why" 0 "sed -i 's/lora: {max_steps: $LORA_STEPS,/lora: {max_steps: $((LORA_STEPS / 2)),/' params.yaml && xops stage status && xops params diff"
step "only LoRA and eval rerun" 0 "xops repro && xops metrics diff --all"
step "reverted: the earlier runs come back from the run cache" 0 "sed -i 's/lora: {max_steps: $((LORA_STEPS / 2)),/lora: {max_steps: $LORA_STEPS,/' params.yaml && xops repro && git diff --exit-code HEAD -- dvc.lock models/tiny-gpt-dates.xops && echo 'dvc.lock and the adapter pointer are as committed'"
step "a sample from the tuned model" 0 "xops generate tiny-gpt-dates \$'Date: 2061-04-05\\nLong:' -n 24 --stop \$'\\n'"

# ---- evaluate ----------------------------------------------------------------------------
step "evaluate the base model (held-out years)" 0 "xops eval evals/dates.yaml --model tiny-gpt -o eval-base.json"
BASE_RATE=$(json_field eval-base.json "round(100 * d['summary']['pass_rate'], 1)")
TUNED_RATE=$(json_field eval-tuned.json "round(100 * d['summary']['pass_rate'], 1)")
# The same cases on both (the answers come from the eval cache), compared case by case and
# judged pair by pair in both orders by the suite's judge (evals/date_judge.py: it knows the
# right long form of each date; a script, not a model).
step "the tuned adapter against its base, judged" 0 "xops eval evals/dates.yaml --baseline tiny-gpt -o eval-vs-base.json"
VS_BASE=$(json_field eval-vs-base.json "'{} fixed, {} regressed of {} compared'.format(len(d['summary']['against_baseline'][0]['fixes']), len(d['summary']['against_baseline'][0]['regressions']), d['summary']['against_baseline'][0]['compared'])")
VS_JUDGED=$(json_field eval-vs-base.json "'win rate {:.2f} (95% CI {:.2f}-{:.2f}; {} wins, {} ties, {} losses; sign test p={:.2g})'.format(d['summary']['pairwise'][0]['win_rate'], *d['summary']['pairwise'][0]['win_rate_95'], d['summary']['pairwise'][0]['wins'], d['summary']['pairwise'][0]['ties'], d['summary']['pairwise'][0]['losses'], d['summary']['pairwise'][0]['sign_test_p'])")
step "the roles swapped: the base against the adapter" 0 "xops eval evals/dates.yaml --model tiny-gpt --baseline tiny-gpt-dates -o eval-base-vs-tuned.json | tail -4"
VS_SWAPPED=$(json_field eval-base-vs-tuned.json "'win rate {:.2f}'.format(d['summary']['pairwise'][0]['win_rate'])")

# ---- register and promote ------------------------------------------------------------------
step "register versions" 0 "xops promote register tiny-gpt && xops promote register tiny-gpt-dates && xops promote register date-prompt"
BASE_WANT=4; [ "$QUICK" = 1 ] && BASE_WANT=0
step "promote the base model to staging (the gate decides)" $BASE_WANT "xops promote tiny-gpt@v0.0.1 --to staging"
step "promote the tuned adapter to staging" 0 "xops promote tiny-gpt-dates@v0.0.1 --to staging"
step "promote it to prod" 0 "xops promote tiny-gpt-dates@v0.0.1 --to prod"
step "the base to prod, judged against the adapter (refused)" 4 "xops promote tiny-gpt@v0.0.1 --to prod"
step "promote the prompt to staging and prod (its gate runs the suite)" 0 "xops promote date-prompt@v0.0.1 --to staging --run-evals && xops promote date-prompt@v0.0.1 --to prod"
step "the registry" 0 "xops promote ls"
# ---- hand it to llama.cpp and Ollama -------------------------------------------------------
step "export prod as GGUF (the adapter merged into its base) with an Ollama Modelfile" 0 "xops export tiny-gpt-dates#prod -o ../export/tiny-gpt-dates.gguf && cat ../export/Modelfile"
step "the GGUF answers as the registry version does" 0 "a=\$(xops generate ../export/tiny-gpt-dates.gguf \$'Date: 2061-04-05\\nLong:' -n 24 -t 0 --stop \$'\\n') && b=\$(xops generate tiny-gpt-dates#prod \$'Date: 2061-04-05\\nLong:' -n 24 -t 0 --stop \$'\\n') && echo \"GGUF: \$a\" && echo \"prod: \$b\" && [ \"\$a\" = \"\$b\" ]"

# ---- serve ---------------------------------------------------------------------------------
printf '\n\033[1m== serve what holds prod\033[0m\n$ xops serve tiny-gpt-dates#prod --port 0 &\n' >&2
t0=$(date +%s.%N)
"$XOPS" serve tiny-gpt-dates#prod --port 0 > serve.log 2>&1 &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null' EXIT
URL=""
for _ in $(seq 1 300); do
  URL=$(sed -n 's/^listening on //p' serve.log | head -1)
  [ -n "$URL" ] && curl -sf "$URL/health" >/dev/null 2>&1 && break
  kill -0 $SERVE_PID 2>/dev/null || { cat serve.log >&2; fail "xops serve exited"; }
  sleep 0.1
done
[ -n "$URL" ] || fail "xops serve did not start"
STEPS+=("$(elapsed "$t0")|serve tiny-gpt-dates#prod (until it answers /health)")
step "a completion with curl" 0 "curl -sf $URL/v1/completions -H 'Content-Type: application/json' -d '{\"model\": \"tiny-gpt-dates\", \"prompt\": \"Date: 1987-03-14\\nLong:\", \"max_tokens\": 24, \"temperature\": 0, \"stop\": [\"\\n\"]}' | tee curl.json"
echo >&2
CURL_TEXT=$(json_field curl.json "d['choices'][0]['text'].strip()")
CURL_ID=$(json_field curl.json "d['id']")
CLIENT="$ROOT/.cache/npm/node_modules/openai"
if [ -d "$CLIENT" ]; then
  cp "$HERE/client.cjs" .  # resolves 'openai' through NODE_PATH
  export NODE_PATH="$ROOT/.cache/npm/node_modules"
  step "a completion with the OpenAI Node client" 0 "node client.cjs $URL/v1 tiny-gpt-dates | tee client.json"
  CLIENT_TEXT=$(json_field client.json "d['content'].strip()")
  CLIENT_ID=$(json_field client.json "d['id']")
  good2=$([ "$CLIENT_TEXT" = "April 5, 2061" ] && echo 1 || echo 0)
else  # a demo that skips a step would claim what it did not show
  fail "the OpenAI Node client is not installed in $CLIENT (scripts/setup.sh installs it with npm)"
fi
good=$([ "$CURL_TEXT" = "March 14, 1987" ] && echo 1 || echo 0)
step "feedback on the curl answer (score $good)" 0 "curl -sf $URL/v1/feedback -H 'Content-Type: application/json' -d '{\"id\": \"$CURL_ID\", \"score\": $good}'"
step "feedback on the client's answer (score $good2)" 0 "curl -sf $URL/v1/feedback -H 'Content-Type: application/json' -d '{\"id\": \"$CLIENT_ID\", \"score\": $good2}'"
step "a request the server refuses (logged too, with its status)" 0 "curl -s $URL/v1/completions -H 'Content-Type: application/json' -d '{\"model\": \"no-such-model\", \"prompt\": \"x\"}'"
echo >&2
kill $SERVE_PID 2>/dev/null; wait $SERVE_PID 2>/dev/null
trap - EXIT
step "what was served, per version: requests, refusals, latency, feedback" 0 "xops monitor"
step "the feedback given" 0 "xops monitor feedback"

# ---- close the loop --------------------------------------------------------------------------
step "turn the logged traffic into eval cases" 0 "xops eval --from-logs -o evals/from-traffic.jsonl && head -c 600 evals/from-traffic.jsonl"
step "how much of the served traffic the date suite covers" 0 "xops eval coverage evals/dates.yaml --embedding tiny-gpt"

# ---- retrieval -------------------------------------------------------------------------------
mkdir -p kb && head -c 200000 data/austen.txt > kb/austen-head.txt
step "index Austen with the base model's embeddings (a versioned artifact)" 0 "xops index build austen-index --from kb --embedding tiny-gpt --chunk 48 --overlap 8"
step "search the index" 0 "xops index query austen-index 'a single man in possession of a good fortune' -k 3 && xops --json index query austen-index 'a single man in possession of a good fortune' -k 1 > query.json"
INDEX_CHUNKS=$("$XOPS" --json index info austen-index | python3 -c "import json,sys; print(json.load(sys.stdin)['chunks'])")
INDEX_TOP=$(json_field query.json "'{} at {:.3f}'.format(d['hits'][0]['source'] + ':' + str(d['hits'][0]['start']), d['hits'][0]['score'])")
step "the runs" 0 "xops track runs --columns id,name,kind,status,duration,metrics.pass_rate,metrics.train/loss"
step "an HTML report of the runs" 0 "xops track report --html runs.html"
printf '\n\033[1m== the same project in a browser\033[0m\n$ xops ui --port 0 &\n' >&2
"$XOPS" ui --port 0 > ui.log 2>&1 &
UI_PID=$!
UI_URL=""
for _ in $(seq 1 100); do
  UI_URL=$(grep -o 'http://127.0.0.1:[0-9]*' ui.log 2>/dev/null | head -1) && [ -n "$UI_URL" ] && break
  sleep 0.1
done
[ -n "$UI_URL" ] || fail "xops ui did not start"
step "xops ui's JSON API: the project at a glance" 0 "curl -sf $UI_URL/api/summary"
echo >&2
kill $UI_PID 2>/dev/null; wait $UI_PID 2>/dev/null
FROM_LOGS=$(wc -l < evals/from-traffic.jsonl)
TOTAL=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$T_START" "$(date +%s.%N)")

# ---- summary -----------------------------------------------------------------------------------
{
  echo
  echo "== summary (DEMO_QUICK=$QUICK, ${TOTAL} s in all)"
  printf '%8s  %s\n' "seconds" "step"
  for s in "${STEPS[@]}"; do printf '%8s  %s\n' "${s%%|*}" "${s#*|}"; done
  echo
  echo "exact match on held-out years: base ${BASE_RATE}%, LoRA-tuned ${TUNED_RATE}%"
  echo "LoRA-tuned against its base, case by case: ${VS_BASE}"
  echo "LoRA-tuned against its base, judged in both orders: ${VS_JUDGED}; the base against it: ${VS_SWAPPED}"
  echo "served (tiny-gpt-dates#prod): curl 'Date: 1987-03-14' -> '${CURL_TEXT}'; OpenAI client 'Date: 2061-04-05' -> '${CLIENT_TEXT}'"
  echo "eval cases written from the logged traffic: ${FROM_LOGS} (evals/from-traffic.jsonl)"
  echo "index of 200 kB of Austen by tiny-gpt's mean-pooled states: ${INDEX_CHUNKS} chunks; top hit ${INDEX_TOP}"
  echo
  echo "where everything lives (in $WORK/loop):"
  echo "  xops.yaml                  artifacts, stages and gates"
  echo "  data/*.xops, models/*.xops pointers in git; contents in .xops/objects"
  echo "  .xops/xops.db              runs, metrics, eval cache, served traffic and feedback (SQLite)"
  echo "  git tag                    registry: versions (NAME@vX.Y.Z) and stages (NAME#STAGE#N)"
  echo "  eval-tuned.html, runs.html reports; eval-*.json results"
} | tee summary.txt >&2
