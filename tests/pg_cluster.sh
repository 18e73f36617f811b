#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests and benchmarks (never a system one):
#   tests/pg_cluster.sh start DIR   initdb into a temp dir (as an unprivileged user when run as
#                                   root), password auth (scram-sha-256) for user xops, a free
#                                   port on 127.0.0.1; writes DIR/url (no password), DIR/password
#   tests/pg_cluster.sh stop DIR    stops it and removes its files
# PG_FSYNC=off (the tests' default) skips fsync; bench/team.sh starts it with PG_FSYNC=on.
set -euo pipefail
cmd=${1:?start or stop} dir=${2:?directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
as=()
if [ "$(id -u)" = 0 ]; then
  user=postgres
  id "$user" >/dev/null 2>&1 || user=nobody
  as=(runuser -u "$user" --)
fi
case "$cmd" in
stop)
  [ -f "$dir/data" ] || exit 0
  data=$(cat "$dir/data")
  "${as[@]}" "$bin/pg_ctl" -D "$data/db" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$data" "$dir/url" "$dir/password" "$dir/data"
  ;;
start)
  "$0" stop "$dir"
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "pg_cluster: PostgreSQL is not installed (scripts/setup.sh installs it)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  data=$(mktemp -d /tmp/xops-pg.XXXXXX)
  chmod 755 "$data"
  password="xops-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  printf '%s\n' "$password" > "$data/pw"
  [ "${#as[@]}" -gt 0 ] && chown -R "$user" "$data"
  "${as[@]}" "$bin/initdb" -D "$data/db" -U xops --pwfile="$data/pw" -A scram-sha-256 \
    --locale=C -E UTF8 >"$data/initdb.log" 2>&1 || { cat "$data/initdb.log" >&2; exit 1; }
  rm -f "$data/pw"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as[@]}" "$bin/pg_ctl" -D "$data/db" -l "$data/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=${PG_FSYNC:-off} -c max_connections=200" \
    start >/dev/null || { cat "$data/log" >&2; exit 1; }
  echo "$data" > "$dir/data"
  echo "$password" > "$dir/password"
  echo "postgresql://xops@127.0.0.1:$port/postgres" > "$dir/url"
  echo "pg_cluster: $(cat "$dir/url") (data in $data)"
  ;;
*) echo "pg_cluster: start or stop" >&2; exit 2 ;;
esac
