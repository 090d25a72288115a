# Shared settings of hack/vm (sourced).
VM_CACHE=${TENANTRUN_VM_CACHE:-/var/cache/tenantrun-vm}
VM_SUITE=${TENANTRUN_VM_SUITE:-bookworm}
VM_MIRROR=${TENANTRUN_VM_MIRROR:-http://deb.debian.org/debian}
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

vm_log() { echo "vm: $*" >&2; }

# The recipe: everything that decides the image's contents. A change rebuilds it.
vm_recipe_hash() {
  cat "$VM_DIR/build-image.sh" "$VM_DIR/packages.txt" "$VM_DIR/guest-init" "$VM_DIR/guest-boot.sh" \
    "$VM_DIR/lib.sh" | { cat; echo "$VM_SUITE $VM_MIRROR"; } | sha256sum | cut -c1-16
}

vm_packages() { grep -v '^\s*\(#\|$\)' "$VM_DIR/packages.txt" | awk '{print $1}' | paste -sd, -; }

# The image directory of the current recipe (kernel, initrd, root.img, ready).
vm_image_dir() { echo "$VM_CACHE/image-$(vm_recipe_hash)"; }
