#!/usr/bin/env bash
# Builds the two local images (no registry is reachable here) and imports them into each engine
# that is up: localhost/tenantrun/busybox:latest (busybox-static) and localhost/tenantrun/pause:latest
# (catatonit -P, the CRI sandbox image). podman imports the rootfs tarballs; `podman save`
# turns them into docker archives that ctr (namespaces tenantrun-test and k8s.io) and docker load.
# The archives are cached in $ENG_CACHE/images, keyed by the binaries' hashes.
. "$(dirname "$0")/lib.sh"

BUSYBOX_REF=localhost/tenantrun/busybox:latest
PAUSE_REF=localhost/tenantrun/pause:latest
mkdir -p "$ENG_IMAGES"

key=$(cat /bin/busybox /usr/bin/catatonit "$0" | sha256sum | cut -c1-16)
bb_tar=$ENG_IMAGES/busybox-$key.docker.tar
pause_tar=$ENG_IMAGES/pause-$key.docker.tar

build_rootfs_tars() {
  local tmp; tmp=$(mktemp -d "$ENG_IMAGES/build.XXXXXX")
  # busybox: reuse the project's fixture builder when present, else a minimal one
  if [ -x "$ENG_REPO/hack/rootfs/mk-busybox.sh" ]; then
    "$ENG_REPO/hack/rootfs/mk-busybox.sh" "$tmp/bb" >/dev/null
  else
    mkdir -p "$tmp/bb"/{bin,etc,proc,sys,dev,tmp,run,root}
    chmod 1777 "$tmp/bb/tmp"; install -m 0755 /bin/busybox "$tmp/bb/bin/busybox"
    for a in $(/bin/busybox --list); do ln -sf busybox "$tmp/bb/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$tmp/bb/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$tmp/bb/etc/group"
  fi
  mkdir -p "$tmp/bb/data"
  tar -C "$tmp/bb" -cf "$tmp/busybox.tar" .
  mkdir -p "$tmp/pause"/{dev,proc,sys,etc}
  install -m 0755 /usr/bin/catatonit "$tmp/pause/catatonit"
  tar -C "$tmp/pause" -cf "$tmp/pause.tar" .
  echo "$tmp"
}

podman_has() { podman_cmd image exists "$1" 2>/dev/null; }

if [ -s "$bb_tar" ] && [ -s "$pause_tar" ] && { ! podman_has "$BUSYBOX_REF" || ! podman_has "$PAUSE_REF"; }; then
  # a fresh podman store (the test VM's) with the archives cached: load them
  log "loading images ($key)"
  podman_cmd load -q -i "$bb_tar" >/dev/null && podman_cmd load -q -i "$pause_tar" >/dev/null ||
    rm -f "$bb_tar" "$pause_tar"
fi
if ! podman_has "$BUSYBOX_REF" || ! podman_has "$PAUSE_REF" || [ ! -s "$bb_tar" ] || [ ! -s "$pause_tar" ]; then
  log "building images ($key)"
  tmp=$(build_rootfs_tars)
  podman_cmd import --change 'CMD ["/bin/sh"]' "$tmp/busybox.tar" "$BUSYBOX_REF" >/dev/null
  podman_cmd import --change 'ENTRYPOINT ["/catatonit","-P"]' "$tmp/pause.tar" "$PAUSE_REF" >/dev/null
  rm -f "$ENG_IMAGES"/busybox-*.docker.tar "$ENG_IMAGES"/pause-*.docker.tar
  podman_cmd save --format docker-archive -o "$bb_tar.tmp" "$BUSYBOX_REF" && mv "$bb_tar.tmp" "$bb_tar"
  podman_cmd save --format docker-archive -o "$pause_tar.tmp" "$PAUSE_REF" && mv "$pause_tar.tmp" "$pause_tar"
  rm -rf "$tmp"
fi

if [ -S "$CTRD_SOCK" ]; then
  for ns in tenantrun-test k8s.io; do
    for pair in "$BUSYBOX_REF:$bb_tar" "$PAUSE_REF:$pause_tar"; do
      ref=${pair%:*}; tar=${pair##*:}
      # ref itself contains a ':' (the tag): split at the last ':' of the archive path instead
      ref=${pair%:"$tar"}
      if ! ctr_cmd -n "$ns" images ls -q | grep -qx "$ref"; then
        ctr_cmd -n "$ns" images import "$tar" >/dev/null
      fi
    done
  done
  # keep the CRI's images from being garbage-collected
  ctr_cmd -n k8s.io images label "$PAUSE_REF" io.cri-containerd.pinned=pinned >/dev/null 2>&1 || true
fi
if [ -S "$DOCKER_SOCK" ]; then
  for pair in "$BUSYBOX_REF:$bb_tar"; do
    tar=${pair##*:}; ref=${pair%:"$tar"}
    docker_cmd image inspect "$ref" >/dev/null 2>&1 || docker_cmd load -q -i "$tar" >/dev/null
  done
fi
log "images ready: $BUSYBOX_REF $PAUSE_REF"
