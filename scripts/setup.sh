#!/usr/bin/env bash
# Installs what vmshare needs on Debian 12 (apt and npm packages), builds the server and the
# default guest image. Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

install_apt_packages() {
  local wanted missing=()
  wanted=$(grep -v '^\s*#' scripts/apt-packages.txt | sed '/^\s*$/d')
  for pkg in $wanted; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  command -v node >/dev/null || missing+=(nodejs npm)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    if [ "$(id -u)" != 0 ]; then echo "run as root to install packages: ${missing[*]}" >&2; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

install_npm_packages() {
  if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ] || \
     { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
    log "installing npm packages"
    npm install --no-audit --no-fund --loglevel=error
  fi
}

build_server() {
  log "building vmshare"
  local type=${VMSHARE_BUILD_TYPE:-RelWithDebInfo}
  if [ ! -f build/build.ninja ]; then
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$type" >/dev/null
  fi
  # The lock serialises builds started at the same time in one tree (tests, benches, editors).
  flock /tmp/vmshare-build.lock cmake --build build -j"$(nproc)"
}

build_web() {
  if [ -x scripts/build-web.sh ]; then scripts/build-web.sh; fi
}

build_guest_image() {
  log "building the default guest image"
  scripts/build-tiny-image.sh "$ROOT/var/images"
}

install_apt_packages
install_npm_packages
build_server
build_web
build_guest_image
