#!/bin/bash
# Runs in the guest as tenantrun-vm.service: mounts the payload disk (/dev/vdb, ext4 made on
# the host: binaries run from a real filesystem with a page cache, bundles need one for
# idmapped mounts) at /payload and the host's 9p share for the results, runs the payload's
# guest-run.sh, and writes its log and exit status to the share. systemd powers off after.
set -u
mkdir -p /mnt/share /payload
modprobe -a 9pnet_virtio 9p 2>/dev/null
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /mnt/share; then
  echo "guest-boot: cannot mount the 9p share" >/dev/console
  exit 1
fi
out=/mnt/share/out
mkdir -p "$out"
if ! mount -t ext4 /dev/vdb /payload; then
  echo "guest-boot: cannot mount the payload disk /dev/vdb" | tee "$out/guest.log" >/dev/console
  echo 1 >"$out/rc"
  exit 1
fi
rc=0
(cd /payload && bash /payload/guest-run.sh "$out") >"$out/guest.log" 2>&1 || rc=$?
echo "$rc" >"$out/rc"
sync
umount /payload /mnt/share
exit 0
