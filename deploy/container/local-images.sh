#!/usr/bin/env bash
# Offline / air-gapped base images. For every base image the big-market Dockerfiles and
# compose/k8s files name, when it is absent from local storage and no registry is used,
# builds a local stand-in and tags it under the public name, so the files stay unchanged:
#
#   docker.io/library/debian:bookworm-slim    debootstrap --variant=minbase bookworm + import
#   docker.io/library/rust:1.95-slim-bookworm  debian + gcc + the host's rustup toolchain
#   docker.io/library/postgres:15-bookworm     debian + postgresql-15 + a compatible entrypoint
#   docker.io/library/redis:7-bookworm         debian + redis-server 7.0
#   docker.io/library/nats:2.9-alpine          debian + nats-server 2.9 (+ wget for health)
#
# Each step is guarded by `podman image exists`, so a second run takes a second. With
# BM_PULL=1 it tries `podman pull` first (for a machine that can reach a registry or mirror).
# Usage: local-images.sh [all|build|infra]   (build = debian + rust; infra = debian + the three)
set -euo pipefail
BM_STEP=local-images
# shellcheck source=deploy/container/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$BM_ROOT"
ensure_engine

WHAT=${1:-all}
DEBIAN=docker.io/library/debian:bookworm-slim
RUST=docker.io/library/rust:1.95-slim-bookworm
POSTGRES=docker.io/library/postgres:15-bookworm
REDIS=docker.io/library/redis:7-bookworm
NATS=docker.io/library/nats:2.9-alpine
SCRATCH=$BM_TOOLS/image-scratch

have() {
  podman image exists "$1" && return 0
  if [ "${BM_PULL:-0}" = 1 ] && podman pull -q "$1" >/dev/null 2>&1; then say "pulled $1"; return 0; fi
  return 1
}

debian_base() {
  if have "$DEBIAN"; then say "$DEBIAN: present"; return; fi
  say "$DEBIAN: absent; making it with debootstrap (about 30 s)"
  local t0=$SECONDS rootfs=$SCRATCH/rootfs
  rm -rf "$rootfs"; mkdir -p "$rootfs"
  # No mirror argument: debootstrap uses the mirror apt is configured with.
  as_root debootstrap --variant=minbase bookworm "$rootfs" >"$SCRATCH.debootstrap.log" 2>&1 \
    || { tail -n 20 "$SCRATCH.debootstrap.log" >&2; fail "debootstrap failed"; }
  as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  as_root tar -C "$rootfs" -c . | podman import -q --change 'CMD ["/bin/bash"]' - "$DEBIAN" >/dev/null
  as_root rm -rf "$rootfs" "$SCRATCH.debootstrap.log"
  say "$DEBIAN: imported in $((SECONDS - t0)) s"
}

standin() { # image dir [extra podman build args...]
  local image=$1 dir=$2; shift 2
  if have "$image"; then say "$image: present"; return; fi
  say "$image: absent; building a stand-in from deploy/docker/standins/$dir"
  local t0=$SECONDS
  podman build -q --pull=never -t "$image" "$@" "$BM_ROOT/deploy/docker/standins/$dir" >/dev/null \
    || fail "building the $image stand-in failed"
  say "$image: built in $((SECONDS - t0)) s"
}

rust_image() {
  if have "$RUST"; then say "$RUST: present"; return; fi
  command -v rustc >/dev/null 2>&1 || fail "no rustc on this machine: install rustup (https://rustup.rs) or provide $RUST"
  local sysroot version ctx=$SCRATCH/rust-ctx
  sysroot=$(rustc --print sysroot)
  version=$(rustc --version | awk '{print $2}')
  case $version in 1.9[5-9]*|1.[1-9][0-9][0-9]*) ;; *) say "warning: host toolchain is $version; the project needs >= 1.94, the tag says 1.95" ;; esac
  rm -rf "$ctx"; mkdir -p "$ctx/tc"
  cp deploy/docker/standins/rust/Dockerfile "$ctx/"
  # Hard links when on the same file system (no copy of the ~600 MB toolchain), else a copy.
  local part
  for part in bin lib libexec etc; do
    [ -e "$sysroot/$part" ] || continue
    cp -al "$sysroot/$part" "$ctx/tc/" 2>/dev/null || cp -a "$sysroot/$part" "$ctx/tc/"
  done
  say "$RUST: absent; building a stand-in from the host toolchain ($version, about 30 s)"
  local t0=$SECONDS
  podman build -q --pull=never -t "$RUST" "$ctx" >/dev/null || { rm -rf "$ctx"; fail "building the $RUST stand-in failed"; }
  rm -rf "$ctx"
  say "$RUST: built in $((SECONDS - t0)) s"
}

mkdir -p "$SCRATCH"
debian_base
case $WHAT in
  all|build) rust_image ;;
esac
case $WHAT in
  all|infra)
    standin "$POSTGRES" postgres
    standin "$REDIS" redis
    standin "$NATS" nats ;;
esac
rmdir "$SCRATCH" 2>/dev/null || true
