#!/usr/bin/env bash
# Set-up (packages + build), a 30-second libFuzzer smoke of every parser of untrusted input
# (XOPS_FUZZ_SECONDS=N changes it, 0 skips it), the serve and eval end-to-end tests against an
# ASan+UBSan build (scripts/asan.sh; XOPS_ASAN=0 skips it), then the full test suite: unit,
# command, engine and e2e tests (ctest's summary stays the last line).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BUILD_DIR="${BUILD_DIR:-build}"
if [ "${XOPS_FUZZ_SECONDS:-30}" != 0 ]; then
  ./bench/fuzz.sh "${XOPS_FUZZ_SECONDS:-30}"
fi
if [ "${XOPS_ASAN:-1}" != 0 ]; then
  ./scripts/asan.sh
fi
ctest --test-dir "$BUILD_DIR" --output-on-failure -j 2 "$@"
