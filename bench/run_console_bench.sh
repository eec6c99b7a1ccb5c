#!/usr/bin/env bash
# Console benchmark (issue 3), side by side in one run on one synthetic RFB source:
#   direct      RFB client on the source's UNIX socket (the ceiling)
#   websockify  Debian's websockify --unix-target (the baseline to beat)
#   bridge      bench/bridge_only: ConsoleBridge behind a Beast WebSocket acceptor (relay copy)
#   bridge_splice  the same with --relay splice (VMSHARE_CONSOLE_RELAY=splice)
#   bridge_noparse bench/bridge_only_noparse: bridge without the RFB client-stream parser (item 6)
#   vmshare     build/vmshare's /ws/<vmid> with the source as VMSHARE_QEMU (once /run-script exists)
# Single-console rounds alternate between the paths (ROUNDS, medians reported); then CLIENTS
# concurrent consoles per WebSocket path with the server's RSS growth per console. Server CPU
# per frame (--cpu-pid) is reported too: it moves far less than frames/s on a shared machine.
#
# Usage: bench/run_console_bench.sh [build-dir]      (default build-bridge; needs bench_console)
# Env:   BENCH_SECONDS (5) ROUNDS (3) CLIENTS (100) MANY_SECONDS (10) VMSHARE_BIN (build/vmshare)
#        FAKE_QEMU (<build-dir>/bench/fake_rfb_qemu): the fake QEMU VMSHARE_BIN spawns. It
#        must come from the same commit as VMSHARE_BIN: since the VM engine v2 vmshare passes QEMU
#        descriptors (QMP chardev fd=3, -vnc none + add_client), before it paths (-qmp/-vnc unix:).
#        VMSHARE_BEFORE (unset): a second vmshare binary measured in the same rounds, labelled
#        vmshare_before (before/after side by side), with FAKE_QEMU_BEFORE (default FAKE_QEMU).
#        The summary then gives after/before ratios too. CPU per frame "self" is the server
#        process alone (vmshare's tree holds the VM's fake QEMU as its child).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(realpath "${1:-build-bridge}")
SECS=${BENCH_SECONDS:-5}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-100}
MANY_SECS=${MANY_SECONDS:-10}
VMSHARE_BIN=${VMSHARE_BIN:-build/vmshare}
FAKE_QEMU=$(realpath "${FAKE_QEMU:-$BUILD/bench/fake_rfb_qemu}")
BENCH="$BUILD/bench/console_bench"

work=$(mktemp -d /tmp/vmbench.XXXXXX)
chmod 755 "$work"  # vmshare before the VM engine v2: the confined QEMU opened the base image by path
pids=()
vm_pids=()
cleanup() {
  # VMs outlive a stopped vmshare by design: end the fake QEMU it started for the /ws path, found
  # as vmshare's child (its command line names no path of ours since the VM engine v2).
  for v in "${vm_pids[@]}"; do for p in $(pgrep -P "$v" || true); do kill "$p" 2>/dev/null || true; done; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n ${KEEP:-} ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for <test-expression...>
  for _ in $(seq 100); do if "$@"; then return 0; fi; sleep 0.1; done
  echo "timed out waiting for: $*" >&2; return 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

"$BUILD/bench/fake_rfb_qemu" -vnc "unix:$work/vnc.sock" -qmp "unix:$work/qmp.sock,server=on,wait=off" &
pids+=($!)
wait_for test -S "$work/vnc.sock"

ws_port=$(free_port)
websockify --unix-target="$work/vnc.sock" "127.0.0.1:$ws_port" >"$work/websockify.log" 2>&1 &
ws_pid=$!; pids+=($ws_pid)
br_port=$(free_port)
"$BUILD/bench/bridge_only" --port "$br_port" --vnc "$work/vnc.sock" >"$work/bridge.log" 2>&1 &
br_pid=$!; pids+=($br_pid)
bs_port=$(free_port)
"$BUILD/bench/bridge_only" --port "$bs_port" --vnc "$work/vnc.sock" --relay splice >"$work/bridge_splice.log" 2>&1 &
bs_pid=$!; pids+=($bs_pid)
bn_port=$(free_port)
"$BUILD/bench/bridge_only_noparse" --port "$bn_port" --vnc "$work/vnc.sock" >"$work/bridge_noparse.log" 2>&1 &
bn_pid=$!; pids+=($bn_pid)
wait_for port_open "$ws_port"
wait_for port_open "$br_port"
wait_for port_open "$bs_port"
wait_for port_open "$bn_port"

# (c) the whole vmshare path: register, /run-script, then /ws/<vmid> with the cookie.
# try_vmshare BIN FAKE DIR: sets vm_ws, vm_cookie, vm_origin, vm_pid (or vm_note).
vm_ws=""; vm_note=""
try_vmshare() {
  local VMSHARE_BIN=$1 FAKE_QEMU=$2 work="$work/$3"
  mkdir -p "$work"
  vm_ws=""; vm_pid=""
  [[ -x $VMSHARE_BIN ]] || { vm_note="no $VMSHARE_BIN"; return; }
  command -v qemu-img >/dev/null || { vm_note="no qemu-img for the base image"; return; }
  local port; port=$(free_port)
  # VM uids of their own: every vmshare ends all processes of a VM uid before using it, so two
  # instances on one host with the same VMSHARE_VM_UID_BASE (the default) kill each other's VMs.
  local vm_uid_base=$((2000000000 + ($$ % 1000000) * 32 + ${#vm_pids[@]} * 16))
  mkdir -p "$work/data"
  qemu-img create -q -f qcow2 "$work/base.qcow2" 64M
  printf '{"profiles":[{"name":"tiny","title":"Tiny","base_image":"%s","memory_mb":64,"cpus":1}]}\n' \
    "$work/base.qcow2" >"$work/images.json"
  env -u VMSHARE_BIN -u VMSHARE_BEFORE PORT=$port VMSHARE_HOST=127.0.0.1 VMSHARE_DATA_DIR="$work/data" VMSHARE_QEMU="$FAKE_QEMU" \
    VMSHARE_IMAGES="$work/images.json" VMSHARE_ACCEL=tcg COOKIE_SECURE=false VMSHARE_VM_UID_BASE=$vm_uid_base \
    ALLOWED_ORIGINS="http://127.0.0.1:$port" CONSOLE_VIEWERS_PER_VM=$((CLIENTS + 1)) CONSOLE_VIEWERS_PER_USER=$((CLIENTS + 1)) \
    "$VMSHARE_BIN" >"$work/vmshare.log" 2>&1 &
  vm_pid=$!; pids+=($vm_pid); vm_pids+=($vm_pid)
  wait_for port_open "$port" || { vm_note="vmshare did not start: $(tail -n 3 "$work/vmshare.log")"; return; }
  local base="http://127.0.0.1:$port" jar="$work/cookies" code
  code=$(curl -s -o "$work/register.json" -w '%{http_code}' -c "$jar" -H 'Content-Type: application/json' \
    -H "Origin: $base" -d '{"login":"bench","password":"bench-password-1","g_recaptcha_response":""}' "$base/register")
  [[ $code == 200 ]] || { vm_note="POST /register -> HTTP $code"; return; }
  code=$(curl -s -o "$work/run.json" -w '%{http_code}' -b "$jar" -H 'Content-Type: application/json' \
    -H "Origin: $base" -d '{"os_type":"tiny"}' "$base/run-script")
  [[ $code == 200 ]] || { vm_note="POST /run-script -> HTTP $code (not implemented yet?)"; return; }
  local path; path=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).ws_path)' "$work/run.json")
  # The cookie is HttpOnly (curl's jar comments such lines out): take the token from the body.
  vm_cookie="access_token=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).access_token)' "$work/register.json")"
  vm_origin=$base
  vm_ws="127.0.0.1:$port$path"
}
try_vmshare "$VMSHARE_BIN" "$FAKE_QEMU" after
vb_ws=""
if [[ -n ${VMSHARE_BEFORE:-} ]]; then
  a_ws=$vm_ws a_cookie=${vm_cookie:-} a_origin=${vm_origin:-} a_pid=$vm_pid
  try_vmshare "$(realpath "$VMSHARE_BEFORE")" "$(realpath "${FAKE_QEMU_BEFORE:-$FAKE_QEMU}")" before
  vb_ws=$vm_ws vb_cookie=${vm_cookie:-} vb_origin=${vm_origin:-} vb_pid=$vm_pid
  vm_ws=$a_ws vm_cookie=$a_cookie vm_origin=$a_origin vm_pid=$a_pid
  [[ -z $vb_ws ]] && echo "vmshare_before: skipped ($vm_note)"
fi

run() { "$BENCH" "$@" | tee -a "$work/results"; }
for r in $(seq "$ROUNDS"); do
  run --label direct --unix "$work/vnc.sock" --seconds "$SECS"
  run --label websockify --ws "127.0.0.1:$ws_port/websockify" --seconds "$SECS" --cpu-pid "$ws_pid"
  run --label bridge --ws "127.0.0.1:$br_port/ws/bench" --seconds "$SECS" --cpu-pid "$br_pid"
  run --label bridge_splice --ws "127.0.0.1:$bs_port/ws/bench" --seconds "$SECS" --cpu-pid "$bs_pid"
  run --label bridge_noparse --ws "127.0.0.1:$bn_port/ws/bench" --seconds "$SECS" --cpu-pid "$bn_pid"
  [[ -n $vm_ws ]] && run --label vmshare --ws "$vm_ws" --cookie "$vm_cookie" --origin "$vm_origin" --seconds "$SECS" --cpu-pid "$vm_pid"
  [[ -n $vb_ws ]] && run --label vmshare_before --ws "$vb_ws" --cookie "$vb_cookie" --origin "$vb_origin" --seconds "$SECS" --cpu-pid "$vb_pid"
done
sleep 1  # let websockify reap the forked children of the single-console runs
run --label "websockify_x$CLIENTS" --ws "127.0.0.1:$ws_port/websockify" --seconds "$MANY_SECS" --clients "$CLIENTS" --rss-pid "$ws_pid" || true
run --label "bridge_x$CLIENTS" --ws "127.0.0.1:$br_port/ws/bench" --seconds "$MANY_SECS" --clients "$CLIENTS" --rss-pid "$br_pid" || true
[[ -n $vm_ws ]] && { run --label "vmshare_x$CLIENTS" --ws "$vm_ws" --cookie "$vm_cookie" --origin "$vm_origin" \
  --seconds "$MANY_SECS" --clients "$CLIENTS" --rss-pid "$vm_pid" || true; }
[[ -n $vb_ws ]] && { run --label "vmshare_before_x$CLIENTS" --ws "$vb_ws" --cookie "$vb_cookie" --origin "$vb_origin" \
  --seconds "$MANY_SECS" --clients "$CLIENTS" --rss-pid "$vb_pid" || true; }

echo
[[ -z $vm_ws ]] && echo "vmshare /ws path: skipped ($vm_note)"
python3 - "$work/results" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
    runs.setdefault(kv["label"], []).append(kv)
def med(label, key):
    return statistics.median(float(r[key]) for r in runs[label])
singles = [l for l in ("direct", "websockify", "bridge", "bridge_splice", "bridge_noparse", "vmshare", "vmshare_before") if l in runs]
ws = med("websockify", "fps"); direct = med("direct", "fps")
ws_cpu = med("websockify", "cpu_us_per_frame")
print(f"| path | frames/s (median of {len(runs['direct'])}) | p50 ms | p99 ms | vs websockify | vs direct | server CPU us/frame (tree) | self | self CPU vs websockify |")
print("|---|---|---|---|---|---|---|---|---|")
for l in singles:
    f = med(l, "fps")
    cpu = f"{med(l, 'cpu_us_per_frame'):.0f}" if "cpu_us_per_frame" in runs[l][0] else "-"
    own = med(l, "cpu_self_us_per_frame") if "cpu_self_us_per_frame" in runs[l][0] else None
    print(f"| {l} | {f:.0f} | {med(l,'p50_ms'):.2f} | {med(l,'p99_ms'):.2f} | {f/ws:.2f}x | {f/direct:.2f}x | {cpu} | "
          f"{'-' if own is None else f'{own:.0f}'} | {'-' if own is None else f'{own/ws_cpu:.2f}'} |")
# Per-round ratios (same round: the load is shared): fps and self CPU against websockify's.
for l in ("vmshare", "vmshare_before", "bridge", "bridge_splice", "bridge_noparse"):
    if l not in runs: continue
    fr = [float(a["fps"]) / float(w["fps"]) for a, w in zip(runs[l], runs["websockify"])]
    cr = [float(a["cpu_self_us_per_frame"]) / float(w["cpu_us_per_frame"]) for a, w in zip(runs[l], runs["websockify"])]
    print(f"{l}/websockify per round: fps {' '.join(f'{x:.2f}' for x in fr)} (median {statistics.median(fr):.2f}); "
          f"self CPU per frame {' '.join(f'{x:.2f}' for x in cr)} (median {statistics.median(cr):.2f})")
if "bridge" in runs and "bridge_noparse" in runs:
    fr = [float(a["fps"]) / float(b["fps"]) for a, b in zip(runs["bridge"], runs["bridge_noparse"])]
    cr = [float(a["cpu_self_us_per_frame"]) / float(b["cpu_self_us_per_frame"]) for a, b in zip(runs["bridge"], runs["bridge_noparse"])]
    print(f"parser in the path / without (bridge / bridge_noparse) per round: fps {' '.join(f'{x:.2f}' for x in fr)} "
          f"(median {statistics.median(fr):.2f}); CPU per frame {' '.join(f'{x:.2f}' for x in cr)} (median {statistics.median(cr):.2f})")
many = [l for l in runs if "_x" in l]
if many:
    print()
    print("| path | consoles | connected | errors | total frames/s | min / median frames/s per console | RSS per console |")
    print("|---|---|---|---|---|---|---|")
    for l in many:
        r = runs[l][-1]
        print(f"| {l} | {r['clients']} | {r['connected']} | {r['errors']} | {float(r['fps']):.0f} | "
              f"{float(r['min_client_fps']):.2f} / {float(r['median_client_fps']):.2f} | {float(r['rss_per_console_kib']):.0f} KiB |")
EOF
