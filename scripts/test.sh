#!/usr/bin/env bash
# Sets everything up for the tests too (scripts/setup.sh --test: the test tools, every target),
# starts a throwaway PostgreSQL and Redis on loopback, and runs every test:
# the unit tests (ctest), then the end-to-end tests against the real binary, once with the
# embedded storage (SQLite + in-process) and once with PostgreSQL + Redis.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
scripts/setup.sh --test || exit 1

# shellcheck source=scripts/services.sh
source scripts/services.sh
trap services_stop EXIT
services_start || { echo "cannot start PostgreSQL/Redis for the tests" >&2; exit 1; }

export VMSHARE_ACCEL=${VMSHARE_ACCEL:-tcg}
export VMSHARE_TEST_IMAGES=$ROOT/var/images/catalog.json
mkdir -p tests/artifacts
passed=0 failed=0 status=0

echo "==> unit tests"
ctest --test-dir build --output-on-failure 2>&1 | tee tests/artifacts/ctest.log
[ "${PIPESTATUS[0]}" = 0 ] || status=1
read -r nfail ntotal < <(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1 \2/p' tests/artifacts/ctest.log)
if [ -n "${ntotal:-}" ]; then failed=$((failed + nfail)); passed=$((passed + ntotal - nfail)); fi

# Fuzzing (issue 7, adversarial suite): each libFuzzer target for a short, bounded time; a crash
# fails the run. FUZZ_SECONDS=0 skips it. Longer runs: FUZZ_SECONDS=600 scripts/fuzz.sh
if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
  echo "==> fuzzing (${FUZZ_SECONDS:-20} s per target)"
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} scripts/fuzz.sh 2>&1 | tee tests/artifacts/fuzz.log
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  # One test per target (six): "fuzz <target>: ok" lines pass, the others failed.
  fp=$(grep -c '^fuzz .*: ok' tests/artifacts/fuzz.log)
  passed=$((passed + fp)); failed=$((failed + 6 - fp))
fi

run_e2e() {
  local storage=$1 log=tests/artifacts/e2e-$1.log
  echo "==> end-to-end tests ($storage storage)"
  VMSHARE_E2E_STORAGE=$storage node --test --test-concurrency=1 tests/e2e/ 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  local p f
  p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  [ -n "$p" ] || status=1
}
run_e2e embedded
run_e2e production

echo
echo "${passed} passed, ${failed} failed"
exit $status
