#!/usr/bin/env bash
# Set-up (packages + build) and the full test suite: unit, command, engine and e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BUILD_DIR="${BUILD_DIR:-build}"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j 2 "$@"
