#!/usr/bin/env bash
# Builds (once per recipe) the guest image of `make test-vm` under $VM_CACHE/image-<hash>/:
#   vmlinuz     Debian's kernel, extracted from the linux-image .deb (nothing goes to /boot)
#   initrd.img  a busybox initramfs that loads virtio/ext4 and switches to systemd
#   root.img    ext4 (mkfs.ext4 -d: no loop or root mount) of a debootstrap minbase + systemd
# Prints the image directory. Rebuilt only when the recipe (these scripts, packages.txt) changes;
# debootstrap's packages are cached in $VM_CACHE/debootstrap.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

img=$(vm_image_dir)
if [ -e "$img/ready" ]; then echo "$img"; exit 0; fi

for t in debootstrap mkfs.ext4 chroot dpkg-deb apt-get gzip; do
  command -v "$t" >/dev/null || { vm_log "$t is needed to build the image"; exit 1; }
done
bb=/bin/busybox
[ -x "$bb" ] || { vm_log "busybox-static is needed for the initramfs"; exit 1; }

mkdir -p "$VM_CACHE/debootstrap"
exec 9>"$VM_CACHE/.build.lock"
flock 9
if [ -e "$img/ready" ]; then echo "$img"; exit 0; fi

work=$(mktemp -d "$VM_CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
t0=$SECONDS

# 1. Debian's kernel, from the package linux-image-amd64 depends on.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$kpkg" ] || { apt-get -o DPkg::Lock::Timeout=600 update -qq; kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); }
[ -n "$kpkg" ] || { vm_log "cannot resolve linux-image-amd64"; exit 1; }
kver=${kpkg#linux-image-}
vm_log "kernel $kpkg"
(cd "$work" && apt-get download -qq "$kpkg" >/dev/null)
dpkg-deb -x "$work"/"$kpkg"_*.deb "$work/kernel"
[ -f "$work/kernel/boot/vmlinuz-$kver" ] || { vm_log "no vmlinuz in $kpkg"; exit 1; }

# 2. The root filesystem.
vm_log "debootstrap $VM_SUITE ($(vm_packages))"
root=$work/root
nice -n 19 debootstrap --variant=minbase --include="$(vm_packages)" --cache-dir="$VM_CACHE/debootstrap" \
  "$VM_SUITE" "$root" "$VM_MIRROR" >"$work/debootstrap.log" 2>&1 ||
  { tail -30 "$work/debootstrap.log" >&2; exit 1; }
# debootstrap may leave its own mounts in the target on failure; on success it has none.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

# Modules: what a container host uses (filesystems, netfilter, virtio, block, crypto), not
# every driver. depmod and modprobe are the guest's (kmod), run in its tree with chroot (no
# mounts needed): the host needs no kmod.
kmods=$work/kernel/lib/modules/$kver
mkdir -p "$root/lib/modules/$kver"
cp -a "$kmods"/modules.order "$kmods"/modules.builtin* "$root/lib/modules/$kver/"
want=(kernel/fs kernel/net kernel/lib kernel/crypto kernel/arch kernel/security kernel/kernel kernel/mm
  kernel/block kernel/drivers/virtio kernel/drivers/block kernel/drivers/char kernel/drivers/md
  kernel/drivers/net/virtio_net.ko kernel/drivers/net/veth.ko kernel/drivers/net/dummy.ko
  kernel/drivers/net/macvlan.ko kernel/drivers/net/ipvlan kernel/drivers/net/vxlan
  kernel/drivers/net/net_failover.ko kernel/drivers/net/tun.ko)
have=()
for w in "${want[@]}"; do if [ -e "$kmods/$w" ]; then have+=("$w"); fi; done
(cd "$kmods" && tar -cf - "${have[@]}") | tar -xf - -C "$root/lib/modules/$kver"
chroot "$root" /sbin/depmod "$kver"

# Guest configuration: no login, no network, the test service as the only job.
echo tenantrun-vm >"$root/etc/hostname"
printf '/dev/vda / ext4 rw,relatime 0 1\n' >"$root/etc/fstab"
install -m 0755 "$VM_DIR/guest-boot.sh" "$root/usr/local/sbin/tenantrun-vm-boot"
cat >"$root/etc/systemd/system/tenantrun-vm.service" <<'UNIT'
[Unit]
Description=tenantrun VM test run (hack/vm)
After=local-fs.target dbus.service systemd-modules-load.service
Wants=dbus.service
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/tenantrun-vm-boot
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/tenantrun-vm.service "$root/etc/systemd/system/multi-user.target.wants/tenantrun-vm.service"
ln -sf /lib/systemd/system/multi-user.target "$root/etc/systemd/system/default.target"
for u in serial-getty@ttyS0.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer fstrim.timer systemd-timesyncd.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
: >"$root/etc/machine-id"

# 3. The initramfs: busybox, the modules for virtio block and ext4, in dependency order.
ird=$work/initrd
mkdir -p "$ird"/{bin,proc,sys,dev,newroot}
cp "$bb" "$ird/bin/busybox"
install -m 0755 "$VM_DIR/guest-init" "$ird/init"
: >"$ird/modules.order"
chroot "$root" /sbin/modprobe -S "$kver" --show-depends -a virtio_pci virtio_blk crc32c_generic ext4 2>/dev/null |
  awk '$1=="insmod"{print $2}' | while read -r m; do
    rel=${m#/}
    m=$root/$rel
    grep -qxF "$rel" "$ird/modules.order" && continue
    mkdir -p "$ird/$(dirname "$rel")"
    cp "$m" "$ird/$rel"
    echo "$rel" >>"$ird/modules.order"
  done
if [ ! -s "$ird/modules.order" ]; then vm_log "no modules for the initramfs"; exit 1; fi
(cd "$ird" && find . | "$bb" cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initrd.img"

# 4. The ext4 image (sparse), built from the directory without mounting it.
truncate -s 6G "$work/root.img"
nice -n 19 mkfs.ext4 -q -F -L tenantrun-vm -E root_owner=0:0 -d "$root" "$work/root.img"

mkdir -p "$img"
mv "$work/kernel/boot/vmlinuz-$kver" "$img/vmlinuz"
mv "$work/initrd.img" "$work/root.img" "$img/"
echo "$kpkg" >"$img/kernel"
touch "$img/ready"
# Older recipes' images go.
for d in "$VM_CACHE"/image-*; do [ "$d" = "$img" ] || rm -rf "$d"; done
vm_log "image built in $((SECONDS - t0)) s: $img"
echo "$img"
