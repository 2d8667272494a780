#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests (docs/testing.md, "PostgreSQL").
#
#   tests/support/pg-cluster.sh start <state-dir>   initdb + start; writes <state-dir>/cluster.env
#   tests/support/pg-cluster.sh stop  <state-dir>   stops the cluster and removes its files
#   tests/support/pg-cluster.sh halt   <state-dir>  stops the server, keeps its data (fault tests)
#   tests/support/pg-cluster.sh resume <state-dir>  starts a halted server again, same port
#
# The cluster lives in a fresh folder under /tmp (its data, its log, its unix
# socket), listens on 127.0.0.1 only, on a free port, and runs as the
# unprivileged `postgres` user when started by root (PostgreSQL refuses to run
# as root). Nothing depends on a system-wide cluster or service. TCP
# connections authenticate with scram-sha-256 as the superuser `tokend_test`
# (its random password is in cluster.env); unix-socket connections are
# trusted. CTest starts one cluster for the whole run (the `pg_cluster`
# fixture, tests/CMakeLists.txt); every test case makes its own database in it.
#
# cluster.env, one KEY=VALUE a line: PG_HOST, PG_PORT, PG_USER, PG_PASSWORD,
# PG_SOCKET_DIR, PG_DIR (the cluster's folder), PG_BIN.
set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
usage() { echo "usage: $0 start|stop <state-dir>" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
cmd="$1"
state="$2"
env_file="$state/cluster.env"

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

stop_cluster() {
  [[ -f "$env_file" ]] || return 0
  local dir
  dir="$(sed -n 's/^PG_DIR=//p' "$env_file")"
  if [[ -n "$dir" && -d "$dir/data" ]]; then
    # -m immediate: the data is thrown away, nothing needs a clean shutdown.
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  [[ -n "$dir" && "$dir" == /tmp/tokend-pg-* ]] && rm -rf "$dir"
  rm -f "$env_file"
}

case "$cmd" in
  start)
    for tool in initdb pg_ctl postgres; do
      if [[ ! -x "$PG_BIN/$tool" ]]; then
        echo "pg-cluster: $PG_BIN/$tool is missing: install postgresql-15 (scripts/install-deps.sh --test)" >&2
        exit 1
      fi
    done
    mkdir -p "$state"
    stop_cluster  # a cluster left over from an interrupted run
    dir="$(mktemp -d /tmp/tokend-pg-XXXXXX)"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
    chmod 700 "$dir"
    password="$(openssl rand -hex 16)"
    as_owner sh -c "umask 077 && printf '%s\n' '$password' > '$dir/pwfile'"
    # --no-sync and fsync=off: the cluster is thrown away after the run; a
    # crash of the machine loses nothing a test needs.
    if ! as_owner "$PG_BIN/initdb" -D "$dir/data" -U tokend_test --pwfile="$dir/pwfile" -E UTF8 --locale=C \
         --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$dir/initdb.log" 2>&1; then
      cat "$dir/initdb.log" >&2
      rm -rf "$dir"
      exit 1
    fi
    as_owner rm -f "$dir/pwfile"
    as_owner sh -c "cat >> '$dir/data/postgresql.conf'" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
full_page_writes = off
max_connections = 300
shared_buffers = 32MB
EOF
    # A free port: another process may take it between the probe and the
    # bind, so a failed start tries again with another one.
    started=0
    for attempt in 1 2 3 4 5; do
      port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
      if as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
           -o "-p $port" start >"$dir/pg_ctl.log" 2>&1; then
        as_owner sh -c "echo 'port = $port' >> '$dir/data/postgresql.conf'"
        started=1
        break
      fi
    done
    if [[ $started -ne 1 ]]; then
      echo "pg-cluster: PostgreSQL did not start" >&2
      cat "$dir/pg_ctl.log" "$dir/postgres.log" >&2 || true
      as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
      rm -rf "$dir"
      exit 1
    fi
    tmp="$(mktemp "$state/cluster.env.XXXXXX")"
    cat >"$tmp" <<EOF
PG_HOST=127.0.0.1
PG_PORT=$port
PG_USER=tokend_test
PG_PASSWORD=$password
PG_SOCKET_DIR=$dir
PG_DIR=$dir
PG_BIN=$PG_BIN
EOF
    chmod 600 "$tmp"
    mv "$tmp" "$env_file"
    echo "pg-cluster: PostgreSQL on 127.0.0.1:$port (socket $dir), state $env_file"
    ;;
  halt | resume)
    [[ -f "$env_file" ]] || { echo "pg-cluster: no cluster in $state" >&2; exit 1; }
    dir="$(sed -n 's/^PG_DIR=//p' "$env_file")"
    if [[ "$cmd" == halt ]]; then
      as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null
    else
      as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null
    fi
    ;;
  stop)
    stop_cluster
    echo "pg-cluster: stopped"
    ;;
  *) usage ;;
esac
