#!/usr/bin/env bash
# Downloads the Debian -dev packages the build needs into .debs/ (git-ignored), for a
# machine without a package registry (scripts/gpu-check.sh unpacks them there).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .debs && cd .debs
apt-get download libcli11-dev libgit2-dev libgit2-1.5 libyaml-cpp-dev libyaml-cpp0.7 libsqlite3-dev \
  libfmt-dev libfmt9 nlohmann-json3-dev libssl-dev libpcre2-dev libpcre2-8-0 catch2 \
  libhttp-parser2.9 libssh2-1 libmbedtls14 libmbedx509-1 libmbedcrypto7 libgloo-dev
ls -1 | wc -l
