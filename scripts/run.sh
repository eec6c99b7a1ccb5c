#!/usr/bin/env bash
# Installs and builds what running needs (scripts/setup.sh: no test tools, no unit tests), then
# runs vmshare with the embedded defaults (SQLite, in-process sessions, the built-in tiny guest)
# on http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export VMSHARE_DATA_DIR=${VMSHARE_DATA_DIR:-$PWD/var}
export VMSHARE_IMAGES=${VMSHARE_IMAGES:-$PWD/var/images/catalog.json}
export VMSHARE_WEB_DIR=${VMSHARE_WEB_DIR:-$PWD/web}
# Plain http on loopback: a Secure cookie would never be sent back.
export COOKIE_SECURE=${COOKIE_SECURE:-false}
echo "vmshare: open http://${VMSHARE_HOST:-127.0.0.1}:${PORT:-8000}/"
exec build/vmshare "$@"
