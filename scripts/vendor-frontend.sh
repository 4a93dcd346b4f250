#!/usr/bin/env bash
# Re-create the vendored front-end files from their npm packages (pinned versions).
# The built files and each package's licence are committed under
# src/ukscp/web/static/vendor/, so running the charger needs no npm and no build step.
set -euo pipefail
cd "$(dirname "$0")/.."
VENDOR=src/ukscp/web/static/vendor
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# package@version  file-in-package...
PACKAGES=(
  "uplot@1.6.32 dist/uPlot.iife.min.js dist/uPlot.min.css"
)

for entry in "${PACKAGES[@]}"; do
  read -r spec files <<<"$entry"
  name=${spec%@*}
  (cd "$WORK" && npm pack --silent "$spec" >/dev/null)
  mkdir -p "$WORK/$name" "$VENDOR/$name"
  tar xzf "$WORK"/*"${spec#*@}".tgz -C "$WORK/$name"
  for file in $files; do
    cp "$WORK/$name/package/$file" "$VENDOR/$name/"
  done
  cp "$WORK/$name/package/LICENSE" "$VENDOR/$name/LICENSE"
  echo "$spec" >"$VENDOR/$name/VERSION"
  rm -f "$WORK"/*.tgz
done
echo "vendored into $VENDOR"
