#!/usr/bin/env bash
# Installs what vmshare needs on Debian 12 and builds it. Idempotent: a second run only redoes
# what changed.
#
#   scripts/setup.sh          what running needs (scripts/run.sh): the apt packages of
#                             scripts/apt-packages.txt, the npm packages the pages use, the server
#                             binary alone, the web assets and the default guest image
#   scripts/setup.sh --test   everything the tests need too (scripts/test.sh): the packages of
#                             scripts/apt-packages-test.txt, the npm test tools, every target
#                             (unit tests, the fake QEMU, benches)
#
# Each phase prints one line with its elapsed time; a phase's own output goes to
# var/log/setup-<phase>.log and is shown only when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
mode=run
case "${1:-}" in
  --test) mode=test ;;
  "") ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac
mkdir -p var/log

# phase NAME COMMAND...: runs COMMAND with its output in var/log/setup-NAME.log, then prints
# "==> NAME: 12.3 s" (and the log's last lines when it fails).
phase() {
  local name=$1 log=var/log/setup-$1.log start rc=0
  shift
  start=$EPOCHREALTIME
  rm -f "$log.note"
  "$@" >"$log" 2>&1 || rc=$?
  local note=""
  [ -s "$log.note" ] && note=" ($(cat "$log.note"))"
  rm -f "$log.note"
  printf '\033[1m==> %-6s %6.1f s\033[0m%s\n' "$name:" "$(awk "BEGIN{print $EPOCHREALTIME - $start}")" "$note"
  if [ "$rc" != 0 ]; then
    echo "setup: $name failed (exit $rc); the end of $log:" >&2
    tail -n 30 "$log" >&2
    exit "$rc"
  fi
}
note() { echo "$*" >"var/log/setup-$PHASE.log.note"; }

apt_wanted() {
  local f
  for f in "$@"; do grep -v '^\s*#' "$f" | sed '/^\s*$/d'; done
}

install_apt_packages() {
  PHASE=apt
  local missing=() lists=(scripts/apt-packages.txt)
  [ "$mode" = test ] && lists+=(scripts/apt-packages-test.txt)
  for pkg in $(apt_wanted "${lists[@]}"); do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  command -v node >/dev/null || missing+=(nodejs npm)
  if ((${#missing[@]} == 0)); then note "nothing missing"; return 0; fi
  note "installed ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then echo "run as root to install packages: ${missing[*]}"; return 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Running needs noVNC (the console page) and the Tailwind CLI (the stylesheet); the tests add
# playwright-core and ws (package.json devDependencies).
install_npm_packages() {
  PHASE=npm
  local stamp=node_modules/.package-lock.json
  local want_dev=0
  [ "$mode" = test ] && want_dev=1
  if [ -d node_modules ] && [ -f "$stamp" ] && [ ! package.json -nt "$stamp" ] &&
     { [ ! -f package-lock.json ] || [ ! package-lock.json -nt "$stamp" ]; } &&
     { [ "$want_dev" = 0 ] || [ -d node_modules/playwright-core ]; }; then
    note "up to date"
    return 0
  fi
  if [ "$want_dev" = 1 ]; then
    npm install --no-audit --no-fund --loglevel=error
  else
    npm install --omit=dev --no-audit --no-fund --loglevel=error
  fi
}

# run: the server binary alone (no GoogleTest needed); test: every target, unit tests included.
build_server() {
  PHASE=build
  local type=${VMSHARE_BUILD_TYPE:-RelWithDebInfo}
  if [ "$mode" = test ]; then
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$type" -DVMSHARE_TESTS=ON
  elif [ ! -f build/build.ninja ]; then
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$type" -DVMSHARE_TESTS=OFF
  fi
  # The lock serialises builds started at the same time in one tree (tests, benches, editors).
  if [ "$mode" = test ]; then
    flock /tmp/vmshare-build.lock cmake --build build -j"$(nproc)"
  else
    flock /tmp/vmshare-build.lock cmake --build build -j"$(nproc)" --target vmshare
  fi
}

build_web() {
  PHASE=web
  scripts/build-web.sh
}

# The tiny guest is built into a folder of its own with a catalog of its own, and its profile is
# merged into the catalog the server reads (var/images/catalog.json, first in the list): so the
# profiles an operator added there (`vmshare image add`, scripts/add-debian-installer.sh) stay,
# and an unchanged tiny guest is not rebuilt because the catalog holds more than tiny.
build_guest_image() {
  PHASE=image
  VMSHARE_CACHE_DIR=${VMSHARE_CACHE_DIR:-$ROOT/var/cache} scripts/build-tiny-image.sh "$ROOT/var/images/tiny"
  flock var/images/catalog.json.lock node -e '
    const fs = require("fs");
    const [src, dst] = process.argv.slice(1);
    const built = JSON.parse(fs.readFileSync(src, "utf8")).profiles;
    let doc = { profiles: [] };
    try { doc = JSON.parse(fs.readFileSync(dst, "utf8")); } catch (e) {
      if (e.code !== "ENOENT") { console.error(`${dst}: ${e.message}; fix or remove it`); process.exit(1); }
    }
    const names = new Set(built.map((p) => p.name));
    const text = JSON.stringify({ ...doc, profiles: [...built, ...doc.profiles.filter((p) => !names.has(p.name))] }, null, 2) + "\n";
    if (fs.existsSync(dst) && fs.readFileSync(dst, "utf8") === text) process.exit(0);
    fs.writeFileSync(`${dst}.tmp`, text, { mode: 0o644 });
    fs.renameSync(`${dst}.tmp`, dst);
    console.log(`merged ${[...names].join(", ")} into ${dst}`);
  ' "$ROOT/var/images/tiny/catalog.json" "$ROOT/var/images/catalog.json"
}

phase apt install_apt_packages
phase npm install_npm_packages
phase build build_server
phase web build_web
phase image build_guest_image
