#!/usr/bin/env bash
# A project with real runs (metrics over steps), evals (two providers that disagree), a
# registry (a model registered and promoted) and served traffic (answers, refusals, feedback):
# what the UI browser test loads. Usage: make_project.sh XOPS GOLDEN_MODEL_DIR DIR
set -euo pipefail
X=$1 MODEL=$2 DIR=$3
export XOPS_CONFIG_HOME="$DIR/config" GIT_AUTHOR_NAME=ui GIT_AUTHOR_EMAIL=ui@example.com
export GIT_COMMITTER_NAME=ui GIT_COMMITTER_EMAIL=ui@example.com
mkdir -p "$DIR" && cd "$DIR"
"$X" -q init p --template minimal --no-hooks
cd p
mkdir -p models && cp -r "$MODEL" models/m
cat > xops.yaml <<'YAML'
name: p
stages: [dev, staging, prod]
artifacts:
  m: {path: models/m, type: model}
feedback:
  scores:
    score: {min: 0, max: 1}
    helpful: {min: 1, max: 5, integer: true}
YAML
"$X" -q track add models/m
git add -A && git commit -qm "model v1"
"$X" -q promote register m
"$X" -q promote m@v0.0.1 --to dev -m "first"

# Three training runs, a loss curve each (a different learning rate, a different slope).
for lr in 0.1 0.01 0.001; do
  "$X" -q track run -n "train-lr$lr" -p lr=$lr -p layers=2 -- sh -c "
    for s in \$(seq 1 25); do
      \"$X\" -q track log metric loss=\$(awk -v s=\$s -v lr=$lr 'BEGIN{print 3/(1+s*lr*10)}') acc=\$(awk -v s=\$s 'BEGIN{print s/25}') --step \$s
    done"
done

# An eval: echo (says the prompt back) and the golden model disagree on three cases, both
# pass one and both fail one (so each filter of the matrix narrows it differently).
mkdir -p evals
cat > evals/echo_vs_model.yaml <<YAML
description: echo against the tiny model
prompts: ['Say: {{word}}']
providers:
  - echo
  - id: $PWD/models/m
    config: {max_tokens: 4, temperature: 0}
tests:
  - vars: {word: apple}
    assert: [{type: contains, value: apple}]
  - vars: {word: river}
    assert: [{type: contains, value: river}]
  - vars: {word: "Say"}
    assert: [{type: icontains, value: say}]
  - vars: {word: both pass}
    assert: [{type: not-contains, value: zzzz-never}]
  - vars: {word: both fail}
    assert: [{type: contains, value: zzzz-never}]
thresholds: {pass_rate: 0}
YAML
"$X" -q eval evals/echo_vs_model.yaml > /dev/null

# Traffic: the model served, asked, refused and rated.
"$X" serve models/m --port 0 > serve.out 2> serve.err &
pid=$!
for _ in $(seq 1 200); do grep -q "listening on" serve.out 2>/dev/null && break; sleep 0.05; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' serve.out | head -1)
for _ in $(seq 1 200); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health")" = 200 ] && break; sleep 0.05; done
for p in "Once upon a time" "The river ran" "An apple a day" "It was a dark night"; do
  id=$(curl -s "$url/v1/completions" -d "{\"prompt\": \"$p\", \"max_tokens\": 6, \"temperature\": 0, \"user\": \"ann\"}" |
       sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
  curl -s "$url/v1/feedback" -d "{\"id\": \"$id\", \"scores\": {\"score\": 1, \"helpful\": 4}, \"comment\": \"fine\", \"user\": \"ann\", \"session\": \"s1\"}" > /dev/null
done
curl -s "$url/v1/completions" -d '{"prompt": "x", "model": "nope"}' > /dev/null
curl -s "$url/v1/chat/completions" -d '{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}' > /dev/null
kill -TERM $pid && wait $pid

# Two days of earlier traffic on two registered versions (as a server writes it), so the
# traffic charts have lines: v0.0.2 from the second day on, slower, a few 5xx, rated lower.
sqlite3 .xops/xops.db <<'SQL'
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1439)
INSERT INTO interactions (id, created_ms, route, model, version, prompt, output, params,
  finish_reason, prompt_tokens, completion_tokens, latency_ms, ttft_ms, status, error)
SELECT printf('cmpl-hist%05d', i), (strftime('%s', 'now') - 2 * 86400) * 1000 + i * 120000,
  'completions', 'm', CASE WHEN i >= 720 AND i % 2 = 0 THEN 'm@v0.0.2' ELSE 'm@v0.0.1' END,
  'question ' || i, 'answer ' || i, '{}',
  CASE WHEN i >= 720 AND i % 2 = 0 AND i % 50 = 0 THEN 'error' ELSE 'stop' END,
  8 + i % 9, 12 + i % 17,
  CASE WHEN i >= 720 AND i % 2 = 0 THEN 180 ELSE 90 END + (i * 37) % 60 + 20 * ((i / 30) % 4),
  20 + (i * 13) % 15,
  CASE WHEN i >= 720 AND i % 2 = 0 AND i % 50 = 0 THEN 500 ELSE 200 END,
  CASE WHEN i >= 720 AND i % 2 = 0 AND i % 50 = 0 THEN 'server_error' ELSE '' END
FROM n;
INSERT INTO feedback (interaction, created_ms, score, name)
SELECT id, created_ms + 5000,
  CASE WHEN version = 'm@v0.0.2' THEN (CAST(substr(id, 10) AS INTEGER) / 3) % 3 = 0 ELSE (CAST(substr(id, 10) AS INTEGER) / 3) % 5 <> 0 END,
  'score'
FROM interactions WHERE id LIKE 'cmpl-hist%' AND CAST(substr(id, 10) AS INTEGER) % 3 = 0;
SQL
