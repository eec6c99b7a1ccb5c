#!/usr/bin/env bash
# add-debian-installer.sh — adds Debian 12's own installer as an optional catalog profile
# ("debian-installer"): the kernel and initrd of the Debian package
# debian-installer-12-netboot-amd64 (text frontend), booted directly with a blank 8 GiB disk
# to install onto. It has no network here (VMs get -nic none), so an install stops at the mirror
# step; what it shows is a real operating system nobody in this project wrote, over the console.
#
# Usage: scripts/add-debian-installer.sh [--memory MB]
# Idempotent: does nothing when the profile is in the catalog already. Installs the package when
# it is missing (root). Uses build/vmshare (scripts/setup.sh builds it) and the catalog vmshare
# reads (VMSHARE_IMAGES, else $VMSHARE_DATA_DIR/images/catalog.json, else var/images/catalog.json).
set -euo pipefail
cd "$(dirname "$0")/.."

name=debian-installer
memory=1024
while (($#)); do
  case "$1" in
    --memory) memory=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "add-debian-installer: unknown argument $1" >&2; exit 2 ;;
  esac
done

export VMSHARE_DATA_DIR=${VMSHARE_DATA_DIR:-$PWD/var}
export VMSHARE_IMAGES=${VMSHARE_IMAGES:-$VMSHARE_DATA_DIR/images/catalog.json}
vmshare=${VMSHARE_BIN:-build/vmshare}
[ -x "$vmshare" ] || { echo "add-debian-installer: $vmshare missing (bash scripts/setup.sh builds it)" >&2; exit 1; }

pkg=debian-installer-12-netboot-amd64
if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
  [ "$(id -u)" = 0 ] || { echo "add-debian-installer: run as root to install $pkg" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg"
fi
# The text frontend: a VGA text console that noVNC shows and a keyboard drives.
dir=$(dpkg -L "$pkg" | grep '/text/debian-installer/amd64/linux$' | head -1 | xargs dirname)
[ -f "$dir/linux" ] && [ -f "$dir/initrd.gz" ] || { echo "add-debian-installer: no kernel/initrd in $pkg" >&2; exit 1; }

if "$vmshare" image list 2>/dev/null | grep -q "^$name "; then
  echo "add-debian-installer: $name is in the catalog already"
  exit 0
fi
version=$(dpkg-query -W -f='${Version}' "$pkg")
# fb=false vga=normal: VGA text mode, cheap to draw under TCG and easy to read.
exec "$vmshare" image add "$name" --kernel "$dir/linux" --initrd "$dir/initrd.gz" \
  --append "fb=false vga=normal --- quiet" --memory "$memory" --cpus 1 --kind linux \
  --title "Debian 12 installer ($version)"
