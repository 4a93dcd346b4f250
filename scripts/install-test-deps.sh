#!/usr/bin/env bash
# What the test suite drives besides Python: Debian's chromium for the browser tests,
# and the npm package ocpp-rpc for the independent OCPP central system.
# Idempotent: does nothing when they are already there.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PEER=tests/peers/ocpp_rpc
if [ ! -d "$PEER/node_modules/ocpp-rpc" ]; then
  npm ci --prefix "$PEER" --silent --no-audit --no-fund
fi
