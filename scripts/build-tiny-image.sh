#!/usr/bin/env bash
# build-tiny-image.sh — build the "tiny" vmshare guest image and its catalog entry.
#
# Usage: scripts/build-tiny-image.sh [--force] OUT_DIR
#
# Writes:
#   OUT_DIR/tiny.qcow2    bootable disk (MBR + one FAT16 partition, ~64 MB), qcow2
#   OUT_DIR/catalog.json  {"profiles":[{"name":"tiny", ... "base_image":"<abs path>"}]}
#
# Why: vmshare's tests and demos need a real guest that boots in seconds under TCG,
# shows a shell on the VGA console (so noVNC has something to show and type into) and
# keeps user files on its disk, without downloading anything but Debian packages.
#
# What: the kernel comes from Debian's linux-image-amd64 (resolved to the current
# linux-image-6.1.*-amd64 with apt-cache, fetched with `apt-get download` into a cache
# directory and unpacked with `dpkg-deb -x` — never installed on the host). A busybox
# initramfs (busybox-static, cpio, gzip) carries the few modules needed (virtio-blk,
# IDE cdrom, vfat, usb-tablet, usb-storage; dependencies resolved from the modules' own
# .modinfo "depends=" since the .deb ships no modules.dep). The disk is an MBR
# (syslinux mbr.bin) with one active FAT16 partition at 1 MiB made with mtools'
# mformat, holding /boot/{vmlinuz,initrd.gz,syslinux/syslinux.cfg}, with SYSLINUX
# installed into the partition's boot sector. So the disk boots by itself via
# SeaBIOS: no -kernel/-initrd.
#
# Guest: busybox init mounts proc/sys/devtmpfs, insmods the modules, mounts the FAT
# partition read-write with -o sync at /mnt/disk (so every write reaches the virtual
# disk at once: a snapshot of a running disk holds a file right after it was written),
# prints a banner and runs a login shell with job control on tty1 (VGA console), in
# /mnt/disk, respawned on `exit`. A USB stick plugged in while it runs (vmshare's
# "drop files into the VM": a FAT image hot-plugged as usb-storage) is mounted by busybox
# mdev -d (a daemon on the kernel's uevents: Debian's kernel has no hotplug helper) at
# /mnt/usb, -o sync so what the guest writes is on the image at once, and unmounted when it
# is pulled out. `poweroff` (or ACPI power button, QMP
# system_powerdown) syncs, unmounts and powers the machine off, so QEMU exits.
#
# Idempotent: does nothing when both outputs exist, are newer than this script and the
# catalog names the current OUT_DIR; --force rebuilds. Output files are replaced
# atomically. Concurrent runs on the same OUT_DIR are serialized with flock.
#
# Environment:
#   VMSHARE_CACHE_DIR     where the kernel .deb is kept (default: OUT_DIR/../cache)
#   VMSHARE_TINY_DISK_MB  disk size in MiB (default 64; the FAT gets all but 1 MiB)
#
# Host needs: apt-get/apt-cache, dpkg-deb, busybox-static, cpio, gzip, syslinux,
# syslinux-common (mbr.bin), mtools, qemu-utils (qemu-img). No root needed except for
# `apt-get update`, which is only run when `apt-get download` fails.
set -euo pipefail

log() { printf 'build-tiny-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

force=0
out_dir=""
for arg in "$@"; do
    case "$arg" in
        --force|-f) force=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option: $arg" ;;
        *) [[ -z "$out_dir" ]] || die "only one OUT_DIR allowed"; out_dir="$arg" ;;
    esac
done
[[ -n "$out_dir" ]] || die "usage: $0 [--force] OUT_DIR"

mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd -P)"
script_path="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/$(basename "${BASH_SOURCE[0]}")"
image="$out_dir/tiny.qcow2"
catalog="$out_dir/catalog.json"
cache_dir="${VMSHARE_CACHE_DIR:-$out_dir/../cache}"
disk_mb="${VMSHARE_TINY_DISK_MB:-64}"
if ! [[ "$disk_mb" =~ ^[0-9]+$ ]] || (( disk_mb < 32 || disk_mb > 2000 )); then
    die "VMSHARE_TINY_DISK_MB must be 32..2000 (got $disk_mb)"
fi

# Modules wanted in the guest (dependencies are added automatically). Missing or
# built-in ones are skipped; i8042/atkbd (PS/2 keyboard) are built into Debian's kernel.
wanted_modules=(
    virtio_pci virtio_blk                                  # the disk: -device virtio-blk-pci
    crct10dif_generic                                      # crc-t10dif backend (sd_mod); before it
    ata_piix ata_generic sd_mod sr_mod cdrom isofs         # IDE cdrom (user ISOs)
    vfat fat nls_cp437 nls_iso8859_1 nls_ascii nls_utf8    # the FAT disk
    xhci_pci xhci_hcd usbhid hid_generic                   # -device qemu-xhci + usb-tablet
    usb_storage                                            # files dropped on the console (a USB stick)
    evdev button                                           # ACPI power button -> acpid
)

catalog_json() {
    printf '{"profiles":[{"name":"tiny","title":"Tiny Linux","base_image":"%s","memory_mb":256,"cpus":1,"kind":"linux","description":"BusyBox shell on a Debian kernel; /mnt/disk persists; dropped files appear in /mnt/usb"}]}\n' "$image"
}

up_to_date() {
    [[ -f "$image" && -f "$catalog" ]] || return 1
    [[ "$image" -nt "$script_path" && "$catalog" -nt "$script_path" ]] || return 1
    [[ "$(cat "$catalog")" == "$(catalog_json)" ]] || return 1
}

# Serialize concurrent builds into the same OUT_DIR.
exec 9>"$out_dir/.build-tiny-image.lock"
flock 9

if (( ! force )) && up_to_date; then
    log "up to date: $image"
    exit 0
fi

for tool in apt-get apt-cache dpkg-deb cpio gzip mformat mcopy mmd syslinux qemu-img; do
    command -v "$tool" >/dev/null || die "missing host tool: $tool"
done
busybox_bin=/bin/busybox
[[ -x "$busybox_bin" ]] || busybox_bin="$(command -v busybox || true)"
[[ -n "$busybox_bin" ]] || die "missing busybox (install busybox-static)"
ldd "$busybox_bin" >/dev/null 2>&1 && die "$busybox_bin is dynamically linked; install busybox-static"
mbr_bin=""
for f in /usr/lib/syslinux/mbr/mbr.bin /usr/lib/SYSLINUX/mbr.bin /usr/share/syslinux/mbr.bin; do
    if [[ -f "$f" ]]; then mbr_bin="$f"; break; fi
done
[[ -n "$mbr_bin" ]] || die "syslinux mbr.bin not found (install syslinux-common)"

work="$(mktemp -d "$out_dir/.tiny-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- kernel package
mkdir -p "$cache_dir"
cache_dir="$(cd "$cache_dir" && pwd -P)"

resolve_kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1
}
apt_download() {  # $1 = package; downloads into the cwd
    apt-get -q -o APT::Sandbox::User=root download "$1" >&2
}

kpkg="$(resolve_kernel_pkg)"
if [[ -z "$kpkg" ]]; then
    log "apt-cache does not know linux-image-amd64; running apt-get update"
    apt-get -q update >&2 || true
    kpkg="$(resolve_kernel_pkg)"
fi

kdeb=""
if [[ -n "$kpkg" ]]; then
    [[ "$kpkg" == linux-image-6.1.* ]] || log "warning: expected linux-image-6.1.*-amd64, got $kpkg"
    kver="$(apt-cache policy "$kpkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')"
    if [[ -n "$kver" && "$kver" != "(none)" ]]; then
        cand="$cache_dir/${kpkg}_${kver//:/%3a}_amd64.deb"
        [[ -s "$cand" ]] && kdeb="$cand"
    fi
    if [[ -z "$kdeb" ]]; then
        log "downloading $kpkg ${kver:-} into $cache_dir"
        if ! (cd "$cache_dir" && apt_download "$kpkg"); then
            log "apt-get download failed; running apt-get update and retrying"
            apt-get -q update >&2 || true
            kpkg="$(resolve_kernel_pkg)"
            if [[ -n "$kpkg" ]]; then
                (cd "$cache_dir" && apt_download "$kpkg") || log "apt-get download failed again"
            fi
        fi
    fi
fi
if [[ -z "$kdeb" ]]; then
    # Newest matching .deb in the cache (also the offline fallback).
    # shellcheck disable=SC2012
    kdeb="$(ls -1 "$cache_dir"/"${kpkg:-linux-image-6.1.}"*_amd64.deb 2>/dev/null | sort -V | tail -n1 || true)"
fi
[[ -n "$kdeb" && -s "$kdeb" ]] || die "could not get the kernel package (${kpkg:-linux-image-6.1.*-amd64})"
log "kernel package: $(basename "$kdeb")"
# Drop superseded kernel packages from the cache (they are ~70 MB each).
for old in "$cache_dir"/linux-image-[0-9]*-amd64_*_amd64.deb; do
    if [[ -f "$old" && "$old" != "$kdeb" ]]; then rm -f "$old"; fi
done

# Unpack only what we need: /boot and the module tree.
kroot="$work/kroot"
mkdir -p "$kroot"
dpkg-deb -x "$kdeb" "$kroot"
vmlinuz=""
for f in "$kroot"/boot/vmlinuz-*; do if [[ -f "$f" ]]; then vmlinuz="$f"; break; fi; done
[[ -n "$vmlinuz" ]] || die "no vmlinuz in $kdeb"
kv="${vmlinuz##*/vmlinuz-}"
moddir="$kroot/lib/modules/$kv"
[[ -d "$moddir" ]] || die "no module tree for $kv"

# ---------------------------------------------------------------- modules
# Map module name (with '_', as the kernel normalizes) -> relative path.
declare -A mod_path=()
while IFS= read -r rel; do
    f="${rel##*/}"; name="${f%%.ko*}"; name="${name//-/_}"
    mod_path["$name"]="$rel"
done < <(cd "$moddir" && find kernel -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')

builtin_mods=" $(sed 's#.*/##; s#\.ko$##; s#-#_#g' "$moddir/modules.builtin" | tr '\n' ' ') "

mod_depends() {  # prints the "depends=" list of a .ko (uncompressed or compressed)
    local f="$moddir/$1"
    case "$f" in
        *.xz) xz -dc "$f" ;;
        *.zst) zstd -dcq "$f" ;;
        *.gz) gzip -dc "$f" ;;
        *) cat "$f" ;;
    esac | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '
}

declare -A mod_seen=()
mod_order=()
add_module() {
    local name="${1//-/_}" dep
    [[ -n "${mod_seen[$name]:-}" ]] && return 0
    mod_seen["$name"]=1
    if [[ -z "${mod_path[$name]:-}" ]]; then
        [[ "$builtin_mods" == *" $name "* ]] || log "note: module $name not found (skipped)"
        return 0
    fi
    for dep in $(mod_depends "${mod_path[$name]}"); do
        add_module "$dep"
    done
    mod_order+=("$name")
}
for m in "${wanted_modules[@]}"; do add_module "$m"; done

# ---------------------------------------------------------------- initramfs
rd="$work/initramfs"
mkdir -p "$rd"/{bin,sbin,usr/bin,usr/sbin,etc/acpi/PWRF,proc,sys,dev,tmp,run,root,mnt/disk,mnt/usb,var/log,lib/modules/"$kv"}
chmod 1777 "$rd/tmp"
cp "$busybox_bin" "$rd/bin/busybox"
while IFS= read -r applet; do
    applet="${applet#/}"
    [[ "$applet" == bin/busybox || -e "$rd/$applet" ]] && continue
    mkdir -p "$rd/$(dirname "$applet")"
    ln -s /bin/busybox "$rd/$applet"
done < <("$busybox_bin" --list-full)

: > "$rd/etc/modules"
for m in "${mod_order[@]}"; do
    src="$moddir/${mod_path[$m]}"
    case "$src" in  # busybox insmod wants plain .ko
        *.xz) xz -dc "$src" > "$rd/lib/modules/$kv/$m.ko" ;;
        *.zst) zstd -dcq "$src" > "$rd/lib/modules/$kv/$m.ko" ;;
        *.gz) gzip -dc "$src" > "$rd/lib/modules/$kv/$m.ko" ;;
        *) cp "$src" "$rd/lib/modules/$kv/$m.ko" ;;
    esac
    echo "$m" >> "$rd/etc/modules"
done
log "modules (load order): ${mod_order[*]}"

# /init: get a console and devtmpfs first (the archive holds no device nodes, so it
# can be built without root), then hand over to busybox init.
cat > "$rd/init" <<'EOF'
#!/bin/sh
/bin/busybox mount -t devtmpfs -o mode=0755 devtmpfs /dev
exec </dev/console >/dev/console 2>&1
exec /sbin/init
EOF

cat > "$rd/etc/inittab" <<'EOF'
::sysinit:/etc/rc.sysinit
tty1::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/rc.shutdown
EOF

cat > "$rd/etc/banner" <<'EOF'

  ================================================================
   vmshare tiny linux -- your files in /mnt/disk persist
  ================================================================
   BusyBox shell on a Debian kernel. Type 'poweroff' to shut down.
   Files dropped on the console page appear in /mnt/usb.

EOF

cat > "$rd/etc/rc.sysinit" <<EOF
#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
dmesg -n 1
while read -r m; do
    insmod /lib/modules/$kv/\$m.ko 2>/dev/null
done < /etc/modules
hostname tiny
# Find the disk: first partition of the virtio disk, else the whole disk, else others.
dev=""
i=0
while [ \$i -lt 50 ]; do
    for d in /dev/vda1 /dev/vda /dev/sda1 /dev/sda; do
        [ -b "\$d" ] || continue
        if mount -t vfat -o rw,sync,dirsync,noatime,flush "\$d" /mnt/disk 2>/dev/null; then
            dev=\$d; break 2
        fi
    done
    i=\$((i + 1)); usleep 100000
done
if [ -n "\$dev" ]; then
    echo "\$dev" > /run/disk-dev
    # Belt and braces: -o sync already writes through; also flush every 2 s.
    ( while sleep 2; do sync; done ) </dev/null >/dev/null 2>&1 &
    echo \$! > /run/syncer.pid
else
    echo "vmshare: WARNING: FAT disk not found; /mnt/disk is NOT persistent" > /dev/tty1
fi
acpid -c /etc/acpi -l /dev/null 2>/dev/null
# USB sticks plugged in later are mounted at /mnt/usb (/etc/mdev.conf, /etc/usb-hotplug).
mdev -d 2>/dev/null
EOF

cat > "$rd/etc/rc.shutdown" <<'EOF'
#!/bin/sh
[ -f /run/syncer.pid ] && kill "$(cat /run/syncer.pid)" 2>/dev/null
sync
cd /
umount /mnt/disk 2>/dev/null || mount -o remount,ro /mnt/disk 2>/dev/null
sync
EOF

# mdev -d (started by rc.sysinit) hears the kernel's uevents: a USB stick's disk (sda, FAT with
# no partition table, as vmshare makes it) or its first partition (a stick someone
# partitioned) is mounted at /mnt/usb; pulling the stick out unmounts it.
cat > "$rd/etc/mdev.conf" <<'EOF'
sd[a-z][0-9]* 0:0 660 */etc/usb-hotplug
sd[a-z] 0:0 660 */etc/usb-hotplug
EOF

cat > "$rd/etc/usb-hotplug" <<'EOF'
#!/bin/sh
# $MDEV (sda, sda1...) and $ACTION (add, remove) come from mdev.
case "$ACTION" in
add)
    grep -q ' /mnt/usb ' /proc/mounts && exit 0
    # A whole disk whose partition shows up separately: mount that one instead.
    case "$MDEV" in sd[a-z]) [ -e "/sys/block/$MDEV/${MDEV}1" ] && exit 0 ;; esac
    opts=rw,sync,dirsync,noatime,flush,utf8
    # A partition that is not FAT after all (the kernel may read one out of a FAT boot
    # sector): the whole disk then.
    for dev in "$MDEV" "${MDEV%%[0-9]*}"; do
        mount -t vfat -o "$opts" "/dev/$dev" /mnt/usb 2>/dev/null && { echo "$MDEV" > /run/usb-dev; break; }
    done
    ;;
remove)
    [ "$(cat /run/usb-dev 2>/dev/null)" = "$MDEV" ] || exit 0
    umount -l /mnt/usb 2>/dev/null
    rm -f /run/usb-dev
    ;;
esac
exit 0
EOF

cat > "$rd/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
exec /sbin/poweroff
EOF

cat > "$rd/etc/profile" <<'EOF'
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export HOME=/root TERM=linux
export PS1='tiny:\w# '
clear
cat /etc/banner
if [ -f /run/disk-dev ]; then
    echo "   /mnt/disk = $(cat /run/disk-dev) (FAT, mounted sync)"
else
    echo "   WARNING: no persistent disk found"
fi
echo
cd /mnt/disk 2>/dev/null || cd /root
EOF

cat > "$rd/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
echo 'root:x:0:' > "$rd/etc/group"
chmod 755 "$rd/init" "$rd/etc/rc.sysinit" "$rd/etc/rc.shutdown" "$rd/etc/acpi/PWRF/00000080" "$rd/etc/usb-hotplug"

(cd "$rd" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet) \
    | gzip -9n > "$work/initrd.gz"

# ---------------------------------------------------------------- disk
cat > "$work/syslinux.cfg" <<'EOF'
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /boot/vmlinuz
  INITRD /boot/initrd.gz
  APPEND console=tty0 quiet loglevel=3 vga=normal panic=10
EOF

raw="$work/tiny.raw"
part_start=2048                                   # sectors (1 MiB)
total_sectors=$(( disk_mb * 2048 ))
part_sectors=$(( total_sectors - part_start ))
truncate -s "${disk_mb}M" "$raw"

le32() {  # little-endian 32-bit as printf escapes
    printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(( $1 & 255 )) $(( ($1 >> 8) & 255 )) \
        $(( ($1 >> 16) & 255 )) $(( ($1 >> 24) & 255 ))
}
dd if="$mbr_bin" of="$raw" bs=440 count=1 conv=notrunc status=none
# Partition 1: active, type 0x0e (FAT16 LBA), CHS fields saturated (LBA is used).
# shellcheck disable=SC2059
printf "\\x80\\xfe\\xff\\xff\\x0e\\xfe\\xff\\xff$(le32 $part_start)$(le32 $part_sectors)" \
    | dd of="$raw" bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of="$raw" bs=1 seek=510 conv=notrunc status=none

export MTOOLS_SKIP_CHECK=1 MTOOLS_NO_VFAT=0
img="$raw@@$(( part_start * 512 ))"
mformat -i "$img" -T "$part_sectors" -h 64 -s 32 -H "$part_start" -v VMSHARE ::
# Boot files live in /boot so the top of /mnt/disk is the user's.
mmd -i "$img" ::boot ::boot/syslinux
syslinux --install --offset $(( part_start * 512 )) --directory /boot/syslinux "$raw"
mcopy -i "$img" "$vmlinuz" ::boot/vmlinuz
mcopy -i "$img" "$work/initrd.gz" ::boot/initrd.gz
mcopy -i "$img" "$work/syslinux.cfg" ::boot/syslinux/syslinux.cfg
printf 'Files you put in /mnt/disk on the tiny VM are kept on this disk.\r\n' > "$work/README.txt"
mcopy -i "$img" "$work/README.txt" ::README.txt

qemu-img convert -q -f raw -O qcow2 "$raw" "$work/tiny.qcow2"
catalog_json > "$work/catalog.json"

# Every VM's user reads the base image when vmshare confines QEMU (docs/operations.md).
chmod 0644 "$work/tiny.qcow2" "$work/catalog.json"
chmod a+rx "$(dirname "$image")"
# Image first, catalog last: a present catalog implies a complete image.
mv -f "$work/tiny.qcow2" "$image"
mv -f "$work/catalog.json" "$catalog"
log "wrote $image ($(du -k "$image" | cut -f1) KiB) and $catalog"
