#!/usr/bin/env bash
# The serve and eval end-to-end tests against an xops built with AddressSanitizer and
# UndefinedBehaviorSanitizer (#27: a use-after-scope made every streamed usage count garbage and
# no test noticed). The tests come from the regular build (BUILD_DIR, default build); only the
# binary under test (and its plugins) is instrumented, in build-asan. Any sanitizer report fails
# the run, whether or not the test that caused it noticed: reports go to build-asan/reports/.
# `./scripts/test.sh` runs it (XOPS_ASAN=0 skips it).
#   scripts/asan.sh [catch2 test spec...]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="$(cd "${BUILD_DIR:-build}" && pwd)"
ASAN="$ROOT/build-asan"
if [ ! -f "$ASAN/CMakeCache.txt" ]; then
  gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # -O1: a tenth of -O0's run time at the same compile time. vptr checks need RTTI across
  # LibTorch's shared libraries, which are not instrumented.
  flags="-O1 -g1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize=vptr"
  flags+=" -fno-sanitize-recover=undefined"
  cmake -S . -B "$ASAN" "${gen[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=None -DXOPS_BUILD_TESTS=OFF \
    -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
fi
t0=$(date +%s)
# The binary and the plugins it loads; not the benches.
targets=(xops xops_git xops_http xops_pg xops_s3 xops_engine)
if ! cmake --build "$ASAN" -j "${JOBS:-2}" --target "${targets[@]}" >"$ASAN/build.log" 2>&1; then
  grep -E -m 20 "error|Error" "$ASAN/build.log" >&2 || tail -20 "$ASAN/build.log" >&2
  exit 1
fi
echo "asan: built $ASAN/xops in $(($(date +%s) - t0)) s"

reports="$ASAN/reports"
rm -rf "$reports" && mkdir -p "$reports"
# Leaks are not checked: LibTorch keeps its thread pools and registries until exit.
export ASAN_OPTIONS="detect_leaks=0:detect_odr_violation=0:abort_on_error=0:log_path=$reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan"
export XOPS_TEST_BINARY="$ASAN/xops"
# The environment ctest gives every test (tests/CMakeLists.txt, XOPS_TEST_ENV).
export XOPS_CONFIG_HOME="$BUILD_DIR/test-home/config" NO_COLOR=
export GIT_AUTHOR_NAME=xops-test GIT_AUTHOR_EMAIL=test@localhost
export GIT_COMMITTER_NAME=xops-test GIT_COMMITTER_EMAIL=test@localhost
spec=("$@")
[ ${#spec[@]} -gt 0 ] ||
  spec=("[#serve_test],[#serve_attack_test],[#eval_test],[#eval_attack_test],[#pairwise_test],[#live_compare_test],[#feedback_addressed_test],[#serve_monitor_test],[#monitor_test],[#pipeline_test]")
t0=$(date +%s)
status=0
"$BUILD_DIR/tests/e2e_tests" -# "${spec[@]}" || status=$?
n=$(find "$reports" -type f | wc -l)
echo "asan: serve, eval, pairwise and pipeline e2e tests under ASan+UBSan in $(($(date +%s) - t0)) s," \
  "exit $status, $n sanitizer report(s)"
if [ "$n" -gt 0 ]; then
  for f in "$reports"/*; do echo "== $f"; head -40 "$f"; done
  exit 1
fi
exit "$status"
