#!/usr/bin/env bash
# A throw-away S3-compatible server for the tests and benchmarks: s3rver (npm, installed into
# .cache/npm by scripts/setup.sh) on a free port of 127.0.0.1 with bucket `xops-test`. It knows
# one access key (S3RVER / S3RVER) and refuses others; it does not verify SigV4 signatures.
#   tests/s3_server.sh start DIR   writes DIR/endpoint (http://127.0.0.1:PORT)
#   tests/s3_server.sh stop DIR    stops it and removes its files
set -euo pipefail
cmd=${1:?start or stop} dir=${2:?directory}
root=$(cd "$(dirname "$0")/.." && pwd)
s3rver="$root/.cache/npm/node_modules/s3rver/bin/s3rver.js"
case "$cmd" in
stop)
  [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
  [ -f "$dir/data" ] && rm -rf "$(cat "$dir/data")"
  rm -f "$dir/pid" "$dir/endpoint" "$dir/data"
  ;;
start)
  "$0" stop "$dir"
  if [ ! -f "$s3rver" ] || ! command -v node >/dev/null; then
    echo "s3_server: s3rver is not installed (scripts/setup.sh installs it into .cache/npm)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  data=$(mktemp -d /tmp/xops-s3.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # s3rver's ListObjectsV2 continuation tokens use DES, which Node 20's OpenSSL 3 keeps in its
  # legacy provider: without it every listing over 1,000 keys is an HTTP 500.
  nohup node --openssl-legacy-provider "$s3rver" -d "$data" -a 127.0.0.1 -p "$port" --no-vhost-buckets --configure-bucket xops-test -s \
    >"$data/log" 2>&1 &
  echo $! > "$dir/pid"
  echo "$data" > "$dir/data"
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
      echo "http://127.0.0.1:$port" > "$dir/endpoint"
      echo "s3_server: http://127.0.0.1:$port (data in $data)"
      exit 0
    fi
    sleep 0.1
  done
  cat "$data/log" >&2
  "$0" stop "$dir"
  exit 1
  ;;
*) echo "s3_server: start or stop" >&2; exit 2 ;;
esac
