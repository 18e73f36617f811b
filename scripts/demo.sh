#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, then runs the whole loop
# (examples/loop/run.sh) in a fresh temp directory: track data, pretrain and LoRA-tune a
# small model, evaluate base and tuned, promote behind gates, serve, query with curl and the
# OpenAI client, feedback, eval cases from the logs, runs and registry, and a summary with
# each step's wall time. DEMO_QUICK=1: the 2-minute variant the tests run.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
./scripts/setup.sh
echo "== set-up and build: $(( $(date +%s) - t0 )) s" >&2
work="$(mktemp -d -t xops-demo.XXXXXX)"
XOPS="$PWD/${BUILD_DIR:-build}/xops" exec examples/loop/run.sh "$work"
