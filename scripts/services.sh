# shellcheck shell=bash
# Throwaway PostgreSQL 15 and Redis on free loopback ports, for tests. Source this file, then:
#   services_start   start both (reuses running ones from this shell), export the URLs below
#   services_stop    stop both and delete their files (safe to call twice; use in a trap)
#   services_pg_stop / services_pg_start / services_redis_stop / services_redis_start
#                    cut a service and bring it back on the same port with the same data
# Exports: VMSHARE_TEST_DATABASE_URL, VMSHARE_TEST_REDIS_URL, VMSHARE_SERVICES_DIR and
# VMSHARE_TEST_{PG,REDIS}_{STOP,START}_CMD (shell command lines a test process can run).
# State lives in $VMSHARE_SERVICES_DIR/state.env so those commands work from any process.

_VMSHARE_SERVICES_SH="$(readlink -f "${BASH_SOURCE[0]}")"
_VMSHARE_PG_BIN="${VMSHARE_PG_BIN:-/usr/lib/postgresql/15/bin}"

_services_log() { echo "services: $*" >&2; }

# A port nobody listens on now (tried by connecting; 127.0.0.1 only).
_services_free_port() {
  local p _
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# postgres refuses to run as root; from / so it never complains about an unreadable cwd.
_services_as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

_services_load_state() {
  [ -n "${VMSHARE_SERVICES_DIR:-}" ] && [ -f "$VMSHARE_SERVICES_DIR/state.env" ] || return 1
  # shellcheck disable=SC1091
  source "$VMSHARE_SERVICES_DIR/state.env"
}

_services_export() {
  local d="$VMSHARE_SERVICES_DIR" s="$_VMSHARE_SERVICES_SH"
  export VMSHARE_SERVICES_DIR
  export VMSHARE_TEST_DATABASE_URL="postgresql://vmshare_test:${_SVC_PG_PASSWORD}@127.0.0.1:${_SVC_PG_PORT}/vmshare_test"
  export VMSHARE_TEST_REDIS_URL="redis://127.0.0.1:${_SVC_REDIS_PORT}"
  local f
  for f in pg_stop pg_start redis_stop redis_start; do
    local var="VMSHARE_TEST_$(echo "$f" | tr '[:lower:]' '[:upper:]')_CMD"
    export "$var=bash -c 'VMSHARE_SERVICES_DIR=$d; source $s; services_$f'"
  done
}

_services_pg_running() {
  _services_as_postgres "$_VMSHARE_PG_BIN/pg_ctl" -D "$VMSHARE_SERVICES_DIR/pg/data" status >/dev/null 2>&1
}

_services_redis_running() {
  [ "$(redis-cli -h 127.0.0.1 -p "$_SVC_REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

services_pg_start() {
  _services_load_state || { _services_log "not started"; return 1; }
  _services_pg_running && return 0
  _services_as_postgres "$_VMSHARE_PG_BIN/pg_ctl" -D "$VMSHARE_SERVICES_DIR/pg/data" \
    -l "$VMSHARE_SERVICES_DIR/pg/postgres.log" -w -t 30 \
    -o "-p $_SVC_PG_PORT -k $VMSHARE_SERVICES_DIR/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || { _services_log "postgres failed, see $VMSHARE_SERVICES_DIR/pg/postgres.log"; return 1; }
}

services_pg_stop() {
  _services_load_state || return 0
  _services_pg_running || return 0
  _services_as_postgres "$_VMSHARE_PG_BIN/pg_ctl" -D "$VMSHARE_SERVICES_DIR/pg/data" -m fast -w -t 30 stop >/dev/null
}

services_redis_start() {
  _services_load_state || { _services_log "not started"; return 1; }
  _services_redis_running && return 0
  # save "" turns off periodic snapshots; 1024 databases give each e2e server its own (tests/e2e/lib/server.mjs); services_redis_stop saves once, so data survives.
  redis-server --bind 127.0.0.1 --port "$_SVC_REDIS_PORT" --dir "$VMSHARE_SERVICES_DIR/redis" \
    --daemonize yes --pidfile "$VMSHARE_SERVICES_DIR/redis/redis.pid" \
    --logfile "$VMSHARE_SERVICES_DIR/redis/redis.log" --save "" --appendonly no --databases 1024 >/dev/null || return 1
  local _
  for _ in $(seq 1 100); do
    _services_redis_running && return 0
    sleep 0.05
  done
  _services_log "redis failed, see $VMSHARE_SERVICES_DIR/redis/redis.log"
  return 1
}

# $1: save (keep the data for services_redis_start) or nosave.
services_redis_stop() {
  _services_load_state || return 0
  _services_redis_running || return 0
  redis-cli -h 127.0.0.1 -p "$_SVC_REDIS_PORT" shutdown "${1:-save}" >/dev/null 2>&1 || true
  local _
  for _ in $(seq 1 100); do
    _services_redis_running || return 0
    sleep 0.05
  done
  return 1
}

services_start() {
  if _services_load_state; then  # already set up by this shell: make sure both run
    services_pg_start && services_redis_start && _services_export
    return
  fi
  local d
  d="$(mktemp -d /tmp/vmshare-services.XXXXXX)" || return 1
  chmod 755 "$d"
  mkdir -p "$d/pg" "$d/redis"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$d/pg"; fi
  local pw
  pw="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  local pg_port redis_port
  pg_port="$(_services_free_port)" && redis_port="$(_services_free_port)" || return 1
  while [ "$redis_port" = "$pg_port" ]; do redis_port="$(_services_free_port)"; done
  {
    echo "VMSHARE_SERVICES_DIR='$d'"
    echo "_SVC_PG_PORT='$pg_port'"
    echo "_SVC_REDIS_PORT='$redis_port'"
    echo "_SVC_PG_PASSWORD='$pw'"
  } >"$d/state.env"
  VMSHARE_SERVICES_DIR="$d"
  _services_load_state

  _services_as_postgres "$_VMSHARE_PG_BIN/initdb" -D "$d/pg/data" -U postgres -E UTF8 \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$d/pg/initdb.log" 2>&1 ||
    { _services_log "initdb failed, see $d/pg/initdb.log"; return 1; }
  services_pg_start || return 1
  _services_as_postgres "$_VMSHARE_PG_BIN/../bin/psql" -h "$d/pg" -p "$_SVC_PG_PORT" -U postgres \
    -v ON_ERROR_STOP=1 -q -d postgres \
    -c "CREATE ROLE vmshare_test LOGIN PASSWORD '$pw'" \
    -c "CREATE DATABASE vmshare_test OWNER vmshare_test" >/dev/null || return 1
  services_redis_start || return 1
  _services_export
  _services_log "postgres on 127.0.0.1:$_SVC_PG_PORT, redis on 127.0.0.1:$_SVC_REDIS_PORT ($d)"
}

services_stop() {
  _services_load_state || return 0
  services_pg_stop || _services_log "postgres did not stop cleanly"
  services_redis_stop nosave || _services_log "redis did not stop cleanly"
  rm -rf "$VMSHARE_SERVICES_DIR"
  unset VMSHARE_SERVICES_DIR VMSHARE_TEST_DATABASE_URL VMSHARE_TEST_REDIS_URL \
    VMSHARE_TEST_PG_STOP_CMD VMSHARE_TEST_PG_START_CMD \
    VMSHARE_TEST_REDIS_STOP_CMD VMSHARE_TEST_REDIS_START_CMD
  return 0
}
