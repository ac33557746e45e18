#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (storage contract, multi-instance).
#
#   .ci/pg-cluster.sh start DIR   initdb into DIR/data, start on 127.0.0.1 and a free
#                                 port, print the superuser URL (also in DIR/url)
#   .ci/pg-cluster.sh stop DIR    stop it (fast) and remove DIR
#   .ci/pg-cluster.sh halt DIR    stop the server (pg_ctl stop -m fast), keep its data
#   .ci/pg-cluster.sh resume DIR  start a halted server again on the same port
#
# initdb refuses to run as root: as root the cluster belongs to the `postgres`
# user (Debian's postgresql package creates it); otherwise to the current user.
# Password authentication (scram) with a generated password, so the tests can
# also check what a wrong password does. Durability is off (fsync,
# synchronous_commit): the cluster lives for one test run.
set -euo pipefail

cmd=${1:-}; dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then echo "usage: $0 start|stop DIR" >&2; exit 2; fi

bin=${PG_BIN:-}
if [ -z "$bin" ]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg-cluster: PostgreSQL server binaries not found (apt-get install postgresql, or set PG_BIN)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    as_owner sh -c "umask 077 && printf '%s\n' '$password' > '$dir/pwfile'"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=scram-sha-256 --pwfile="$dir/pwfile" -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    rm -f "$dir/pwfile"
    port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
    as_owner sh -c "printf '%s\n' '$port' > '$dir/port'"
    bash "$0" resume "$dir"
    url="postgres://postgres:$password@127.0.0.1:$port/postgres"
    as_owner sh -c "umask 077 && printf '%s\n' '$url' > '$dir/url'"
    echo "$url"
    ;;
  resume)
    port=$(cat "$dir/port")
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    ;;
  halt)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  stop)
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2; exit 2
    ;;
esac
