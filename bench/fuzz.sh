#!/usr/bin/env bash
# Fuzzes every parser of untrusted input (fuzz/fuzz_*.cpp) with libFuzzer + ASan + UBSan for
# SECONDS each (default 300), two targets at a time, and prints inputs tried, coverage, peak
# RSS and findings per target. Seeds: fuzz/seeds/<target>/, the project's templates and
# examples, ../shared's model configs. Findings are kept in build-fuzz/findings/<target>/;
# the exit status is 1 when any target found something or ran fewer than XOPS_FUZZ_MIN_RUNS
# (default 100) inputs. `./scripts/test.sh` runs it with 30.
#   bench/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECS="${1:-300}"; shift || true
BUILD="$ROOT/build-fuzz"
cd "$ROOT"
command -v clang++ >/dev/null && ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
  ./scripts/setup.sh --no-build
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DXOPS_FUZZ=ON \
    "${launcher[@]}" >/dev/null
fi
cmake --build "$BUILD" -j "${JOBS:-2}" --target fuzz_all >/dev/null

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(tokenizer_json vocab_merges model_config safetensors adapter_config
  project_config finetune_config eval_suite eval_cases pointer manifest filter nunjucks openai_request env_file
  json_schema metric_expression aws_settings s3_xml tag_name http_request url_query index_files
  pipeline_files gguf)

# Seeds: committed ones plus real files of the same kind.
seed() {  # target, files...
  local d="$BUILD/corpus/$1"; shift
  mkdir -p "$d"
  cp -f "$ROOT/fuzz/seeds/$(basename "$d")"/* "$d"/ 2>/dev/null || true
  for f in "$@"; do [ -f "$f" ] && cp -f "$f" "$d/$(echo "$f" | tr / _)"; done
  return 0
}
SH="$ROOT/../shared"
for t in "${targets[@]}"; do seed "$t"; done
seed model_config "$SH"/golden/models/*/config.json
seed project_config templates/*/xops.yaml
seed finetune_config templates/llm/configs/*.yaml examples/quickstart/configs/*.yaml
seed eval_suite templates/llm/evals/*.yaml tests/compat/promptfoo/cases/*/promptfooconfig.yaml
[ -f "$SH/data/capitals.jsonl" ] && mkdir -p "$BUILD/corpus/eval_cases" && head -c 4000 "$SH/data/capitals.jsonl" > "$BUILD/corpus/eval_cases/capitals.jsonl"

run_one() {
  local t=$1 out="$BUILD/findings/$1" log="$BUILD/logs/$1.log"
  mkdir -p "$out" "$BUILD/logs"
  # -rss_limit_mb / -malloc_limit_mb: a multi-gigabyte allocation is a finding, not an OOM.
  # Templates run under a budget (docs/security.md): there 1 GiB of RSS (ASan included) or one
  # allocation over 128 MiB is a finding.
  local rss=2048 malloc=1024
  [ "$t" = nunjucks ] && rss=1024 malloc=128
  "$BUILD/fuzz/fuzz_$t" "$BUILD/corpus/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=$rss \
    -malloc_limit_mb=$malloc -max_len=65536 -artifact_prefix="$out/" -print_final_stats=1 >"$log" 2>&1 || true
}
rm -rf "$BUILD/findings"  # this run's findings only (an old crash file once failed a clean run)
export -f run_one; export BUILD SECS
printf '%s\n' "${targets[@]}" | xargs -P 2 -I{} bash -c 'run_one {}'

echo "fuzzing $SECS s per target with libFuzzer + ASan + UBSan (load average $(cut -d' ' -f1 /proc/loadavg))"
printf '%-16s %12s %8s %8s %8s  %s\n' TARGET INPUTS COVERAGE CORPUS PEAK_RSS FINDINGS
found=0
# A target that ran (almost) no inputs tested nothing: it failed to start, or its build broke.
MIN_RUNS="${XOPS_FUZZ_MIN_RUNS:-100}"
idle=()
for t in "${targets[@]}"; do
  log="$BUILD/logs/$t.log"
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo ?)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo ?)
  corp=$(ls "$BUILD/corpus/$t" | wc -l)
  n=$(find "$BUILD/findings/$t" -type f | wc -l)
  printf '%-16s %12s %8s %8s %6sMB  %s\n' "$t" "$runs" "$cov" "$corp" "$rss" "$n"
  [ "${runs:-0}" -ge "$MIN_RUNS" ] 2>/dev/null || idle+=("$t")
  if [ "$n" -gt 0 ]; then
    found=1
    grep -m3 -E 'ERROR|SUMMARY|terminate|what\(\)' "$log" | sed 's/^/    /' || true
    find "$BUILD/findings/$t" -type f | head -3 | sed 's/^/    /'
  fi
done
if [ ${#idle[@]} -gt 0 ]; then
  echo "ran fewer than $MIN_RUNS inputs: ${idle[*]} (see build-fuzz/logs/)"
  found=1
fi
[ "$found" = 0 ] && echo "0 findings" || { echo "findings: see build-fuzz/findings/ and build-fuzz/logs/"; exit 1; }
