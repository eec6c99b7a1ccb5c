#!/usr/bin/env bash
# GET /me with a valid cookie under wrk -t2 -c32 -d10s on a fresh server (embedded storage,
# default bcrypt cost), plus the server's resident memory idle and after the run.
# Usage: bench/me_wrk.sh   (env: VMSHARE_BIN, WRK_ARGS to override "-t2 -c32 -d10s")
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VMSHARE_BIN:-build/vmshare}
WRK_ARGS=${WRK_ARGS:--t2 -c32 -d10s}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

data=$(mktemp -d /tmp/vmshare-bench.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Only the server's own keys: a stray VMSHARE_* in the caller's shell would stop start-up.
env -i PATH="$PATH" PORT="$port" VMSHARE_HOST=127.0.0.1 VMSHARE_DATA_DIR="$data" COOKIE_SECURE=false \
  "$BIN" >"$data/server.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
url="http://127.0.0.1:$port"
for _ in $(seq 1 200); do curl -s -o /dev/null "$url/me" && break; sleep 0.05; done
# Anonymous (heap, stacks) vs file-backed (the binary and shared libraries, mostly shared pages).
rss() { awk '/^(VmRSS|RssAnon|RssFile)/ {sub(":", "", $1); printf "%s %s kB  ", $1, $2} END {print ""}' "/proc/$pid/status"; }
sleep 1
echo "idle RSS after start-up: $(rss)"

login="bench_$RANDOM$RANDOM"
cookie=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
  -d "{\"login\":\"$login\",\"password\":\"benchmark password\"}" "$url/register" |
  sed -n 's/^[Ss]et-[Cc]ookie: \(access_token=[^;]*\);.*/\1/p')
[ -n "$cookie" ] || { echo "register failed" >&2; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "$url/me")" = 200 ] || { echo "/me is not 200" >&2; exit 1; }
echo "idle RSS after one registration: $(rss)"

echo "wrk $WRK_ARGS --latency $url/me"
# wrk prints "Non-2xx or 3xx responses" when any /me failed.
# shellcheck disable=SC2086
VMSHARE_COOKIE="$cookie" wrk $WRK_ARGS --latency -s bench/me_cookie.lua "$url/me"
sleep 1
if ! kill -0 "$pid" 2>/dev/null; then
  wait "$pid"; rc=$?
  echo "the server died during the benchmark (exit status $rc); last log lines:" >&2
  tail -20 "$data/server.log" >&2
  exit 1
fi
echo "idle RSS after the benchmark: $(rss)"
