#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang + ASan + UBSan) in build-fuzz and runs each for
# FUZZ_SECONDS (default 30) from its seed corpus. Fails if any target crashes, leaks, times out
# or does not build. Crash inputs land in tests/artifacts/fuzz/<target>/ (replay: <binary> <file>).
# Usage: scripts/fuzz.sh [target...]   (default: every target)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(fuzz_http_request fuzz_multipart fuzz_json_jwt fuzz_qmp_reader fuzz_rfb_client_stream fuzz_websocket_frames)

command -v clang++ >/dev/null || { echo "fuzz: clang++ missing (scripts/setup.sh installs it)" >&2; exit 1; }
if [ ! -f build-fuzz/build.ninja ]; then
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVMSHARE_FUZZ=ON -DVMSHARE_TESTS=OFF >/dev/null || exit 1
fi
cmake --build build-fuzz --target "${TARGETS[@]}" || { echo "fuzz: build failed" >&2; exit 1; }

status=0
for t in "${TARGETS[@]}"; do
  out=$ROOT/tests/artifacts/fuzz/$t
  mkdir -p "$out/corpus"
  # New inputs go to the artifacts corpus; the committed seeds stay as they are.
  "build-fuzz/fuzz/$t" "$out/corpus" "fuzz/corpus/$t" -max_total_time="$SECONDS_PER_TARGET" \
    -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$out/" >"$out/log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/log")
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$out/log" | tail -1)
  if [ $rc = 0 ]; then
    echo "fuzz $t: ok, ${SECONDS_PER_TARGET}s, ${execs:-?} exec/s, ${cov:-?}"
  else
    status=1
    echo "fuzz $t: FAILED (exit $rc); log and inputs in $out" >&2
    grep -E 'ERROR: |SUMMARY: |^#0 |^    #[0-9] ' "$out/log" | head -20 >&2
  fi
done
exit $status
