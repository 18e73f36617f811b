#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: installs the Debian packages that the
# build, tests and demo need (apt-get only when something is missing), then configures and
# builds xops (Release, ccache, Ninja). `--bench` also installs what the benchmarks compare
# against (git-lfs, python3-torch, hyperfine, openssl). BUILD_DIR overrides ./build.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake ninja-build ccache pkg-config git ca-certificates curl
      libcli11-dev libgit2-dev libyaml-cpp-dev libsqlite3-dev sqlite3 libfmt-dev
      nlohmann-json3-dev libcpp-httplib-dev libssl-dev libpcre2-dev catch2
      libutf8proc-dev  # Unicode data for BERT's WordPiece normalizer
      libhnswlib-dev  # approximate nearest-neighbour search (xops index), header-only
      libgloo-dev  # Gloo headers: distributed training over c10d (the library comes with libtorch)
      libtorch-dev libopenblas0-openmp python3
      libboost-dev  # Boost.Beast/Asio: the event-driven HTTP server (header-only)
      libpq-dev postgresql  # tracking on PostgreSQL; tests start a throw-away cluster
      libcurl4-openssl-dev  # s3:// remotes
      awscli  # tests check that the S3 remote's layout is what `aws s3` reads and writes
      nodejs  # javascript assertions in eval suites (a long-lived node worker)
      libxml2-utils  # xmllint: tests validate JUnit/HTML output
      chromium  # `xops ui` is tested in a real browser, headless, over the DevTools protocol
      clang libclang-rt-14-dev)  # libFuzzer + ASan/UBSan for the fuzz smoke (bench/fuzz.sh)
BENCH_PKGS=(git-lfs python3-torch hyperfine openssl bc python3-numpy python3-hnswlib)

want=("${PKGS[@]}")
for arg in "$@"; do
  case "$arg" in
    --bench) want+=("${BENCH_PKGS[@]}") ;;
    --no-build) NO_BUILD=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# From npm (pinned): the official OpenAI Node client, for the demo's "any OpenAI client works"
# step (the demo fails without it), and s3rver, the local
# S3-compatible server the s3:// remote's tests and bench/team.sh run against.
npm_want=()
[ -d .cache/npm/node_modules/openai ] || npm_want+=(openai@4.95.0)
[ -d .cache/npm/node_modules/s3rver ] || npm_want+=(s3rver@3.7.1)
# puppeteer-core: drives Debian's chromium for the UI tests (it downloads no browser).
[ -d .cache/npm/node_modules/puppeteer-core ] || npm_want+=(puppeteer-core@24.9.0)
if ((${#npm_want[@]})); then
  if ! command -v npm >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null 2>&1 || true
  fi
  if command -v npm >/dev/null; then
    mkdir -p .cache/npm && [ -f .cache/npm/package.json ] || echo '{"private": true}' > .cache/npm/package.json
    (cd .cache/npm && timeout 300 npm install --no-audit --no-fund --loglevel=error "${npm_want[@]}" >/dev/null 2>&1) ||
      echo "setup: could not install ${npm_want[*]} from npm: the demo's OpenAI client step," \
        "the S3 tests and the UI browser test fail without them" >&2
  fi
fi

[ "${NO_BUILD:-0}" = 1 ] && exit 0

BUILD_DIR="${BUILD_DIR:-build}"
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
fi
# Two jobs at most: a LibTorch translation unit takes ~1.2 GB and 10-16 s to compile.
cmake --build "$BUILD_DIR" -j "${JOBS:-2}"
