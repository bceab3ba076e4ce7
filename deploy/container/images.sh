#!/usr/bin/env bash
# `make images`: builds the four service images from deploy/docker/Dockerfile with podman:
#   bigmarket/raffle, bigmarket/strategy, bigmarket/activity, bigmarket/award  (tag $BM_IMAGE_TAG, default dev)
# Installs podman when absent and makes the base images locally when they are absent
# (local-images.sh). The Rust build runs inside the build stage; the dependency layer and the
# cargo registry cache make a rebuild after a source edit recompile only the workspace.
#
# Environment: BM_IMAGE_TAG (dev), RUST_IMAGE / RUNTIME_IMAGE (build args; public defaults).
set -euo pipefail
BM_STEP=images
# shellcheck source=deploy/container/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$BM_ROOT"
ensure_engine
"$BM_ROOT/deploy/container/local-images.sh" build

TAG=${BM_IMAGE_TAG:-dev}
# One snapshot of the tree for all four builds: others may edit it meanwhile, and four
# identical contexts let the 2nd-4th build reuse the build stage of the 1st.
CTX=$BM_TOOLS/image-context
rm -rf "$CTX"; mkdir -p "$CTX"
tar -C "$BM_ROOT" --exclude=./target --exclude=./.git --exclude=./.tools --exclude=./.run --exclude='*/target' -cf - . \
  | tar -C "$CTX" -xf -
before=$(podman ps -a --external --format '{{.ID}} {{.Status}}' | awk '$2=="Storage"{print $1}' | sort)
cleanup() {
  local rc=$?
  # A build that was interrupted leaves buildah working containers behind: remove the new ones.
  if [ $rc -ne 0 ]; then
    comm -13 <(echo "$before") <(podman ps -a --external --format '{{.ID}} {{.Status}}' | awk '$2=="Storage"{print $1}' | sort) \
      | xargs -r podman rm -f --storage >/dev/null 2>&1
  fi
  rm -rf "$CTX"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
args=(--format docker --layers -f "$CTX/deploy/docker/Dockerfile")
[ -n "${RUST_IMAGE:-}" ] && args+=(--build-arg "RUST_IMAGE=$RUST_IMAGE")
[ -n "${RUNTIME_IMAGE:-}" ] && args+=(--build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE")
# cargo inside the build fetches crates over TLS: give it the host's CA bundle (the host may
# trust a CA, e.g. a proxy's, that Debian's bundle lacks). Mounted at build time, never
# copied into an image.
CA=${BM_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if [ -r "$CA" ]; then args+=(-v "$CA:/etc/ssl/certs/ca-certificates.crt:ro"); fi

t0=$SECONDS
for svc in raffle strategy activity award; do
  say "building bigmarket/$svc:$TAG"
  ts=$SECONDS
  log=$BM_TOOLS/image-build-$svc.log
  iid=$BM_TOOLS/image-build-$svc.iid
  rm -f "$iid"
  if ! podman build "${args[@]}" --iidfile "$iid" --target "$svc" -t "bigmarket/$svc:$TAG" "$CTX" >"$log" 2>&1; then
    grep -v 'Error validating CNI config' "$log" | tail -n 40 >&2
    fail "podman build of $svc failed (whole log: $log)"
  fi
  # An interrupted podman build can exit 0 without an image: trust only the image id it wrote.
  [ -s "$iid" ] && [ "$(podman image inspect --format '{{.Id}}' "bigmarket/$svc:$TAG")" = "$(sed 's/^sha256://' "$iid")" ] \
    || fail "podman build of $svc produced no image (whole log: $log)"
  rm -f "$iid"
  say "bigmarket/$svc:$TAG built in $((SECONDS - ts)) s"
done
say "all four images built in $((SECONDS - t0)) s"
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^localhost/bigmarket/' | sort | while read -r name size; do
  say "$name $size"
done
