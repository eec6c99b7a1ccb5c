#!/bin/sh
# Runs a command the way deploy/vmshare.service runs vmshare with ProtectProc=invisible, in the
# case where that hides the VMs: its own mount namespace whose /proc hides other users' processes
# (hidepid=invisible), no CAP_SYS_PTRACE (which would see through it), and a group other than 0
# (hidepid exempts members of its gid= option, which defaults to group 0; a unit with Group= or
# a proc mounted with gid= leaves root's vmshare outside it). QEMUs running as the VMs' uids are
# then invisible in /proc.
exec unshare --mount --propagation private -- sh -c \
  'mount -t proc -o hidepid=invisible proc /proc &&
   exec setpriv --bounding-set=-sys_ptrace --inh-caps=-sys_ptrace --regid=65534 --clear-groups -- "$@"' \
  hidden-proc "$@"
