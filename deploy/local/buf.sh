#!/usr/bin/env bash
# `make proto-check` (issue #11): `buf lint` (STANDARD + COMMENTS rules, buf.yaml) and
# `buf breaking` against the released contract, the buf image committed at
# shared/api/released/contract.binpb, so a change that would break generated clients fails
# (in any clone: no tags or history needed). After a release of the API, refresh the image:
# `./deploy/local/buf.sh --release` (docs/api.md). buf is pinned and installed from the npm registry into
# .tools/buf (Node.js and npm from Debian when absent).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUF_VERSION=1.75.0
BUF=.tools/buf/node_modules/.bin/buf
say() { printf '[proto] %s\n' "$*" >&2; }

if [ ! -x "$BUF" ] || [ "$("$BUF" --version 2>/dev/null)" != "$BUF_VERSION" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
    say "npm missing: installing nodejs and npm (Debian)"
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  say "installing buf $BUF_VERSION into .tools/buf"
  mkdir -p .tools/buf
  npm install --prefix .tools/buf --no-audit --no-fund --silent "@bufbuild/buf@$BUF_VERSION" >&2
fi

RELEASED=shared/api/released/contract.binpb
"$BUF" lint
say "buf lint: clean"
if [ "${1:-}" = "--release" ]; then
  "$BUF" build -o "$RELEASED"
  say "released contract image written to $RELEASED: commit it"
  exit 0
fi
"$BUF" breaking --against "$RELEASED"
say "buf breaking: compatible with the released contract ($RELEASED)"
