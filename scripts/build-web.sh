#!/usr/bin/env bash
# Builds the browser assets into web/: the Tailwind stylesheet (web/css/app.css from
# web/css/input.css, scanning the pages and scripts) and the vendored noVNC ES modules
# (web/vendor/novnc/{core,vendor}). Both are build outputs, not committed. Quick when nothing
# changed: each step runs only when an input is newer than its output.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ ! -d node_modules/@novnc/novnc ] || [ ! -x node_modules/.bin/tailwindcss ]; then
  log "installing npm packages"
  npm install --no-audit --no-fund --loglevel=error
fi

# noVNC: browsers import core/rfb.js directly; core/ imports ../vendor/pako, so both are copied
# side by side. A stamp with the installed version makes a re-run a no-op.
novnc_src=node_modules/@novnc/novnc
novnc_dst=web/vendor/novnc
version=$(node -p "require('./$novnc_src/package.json').version")
if [ "$(cat "$novnc_dst/.version" 2>/dev/null)" != "$version" ] || [ ! -f "$novnc_dst/core/rfb.js" ]; then
  log "vendoring noVNC $version"
  rm -rf "$novnc_dst.tmp"
  mkdir -p "$novnc_dst.tmp"
  cp -R "$novnc_src/core" "$novnc_src/vendor" "$novnc_src/LICENSE.txt" "$novnc_dst.tmp/"
  echo "$version" >"$novnc_dst.tmp/.version"
  rm -rf "$novnc_dst"
  mv "$novnc_dst.tmp" "$novnc_dst"
fi

# Tailwind: rebuilt when the input, a page, a script or the CLI is newer than the output.
css_out=web/css/app.css
if [ ! -f "$css_out" ] || [ -n "$(find web/css/input.css web/*.html web/js node_modules/tailwindcss/package.json \
      -newer "$css_out" -print -quit 2>/dev/null)" ]; then
  log "building $css_out"
  rm -f "$css_out.tmp"
  node_modules/.bin/tailwindcss -i web/css/input.css -o "$css_out.tmp" --minify 2>&1 | grep -v '^≈\|^$\|^Done in' >&2 || true
  [ -s "$css_out.tmp" ] || { echo "tailwind produced no CSS" >&2; exit 1; }
  mv "$css_out.tmp" "$css_out"
fi
