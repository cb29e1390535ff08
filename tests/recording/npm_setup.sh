#!/usr/bin/env bash
# Installs the recording tests' npm tools (speedscope for its file-format schema, ajv to validate
# against it) into DEST from the committed package-lock.json; skipped when DEST is up to date.
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: npm_setup.sh DEST}
command -v npm >/dev/null || { echo "npm_setup: npm is not installed (scripts/install-deps.sh installs it)" >&2; exit 1; }
mkdir -p "$dest"
cp "$src/validate_schema.mjs" "$dest/" # always current; node resolves ajv next to it
if [[ -f "$dest/node_modules/.package-lock.json" && -f "$dest/package-lock.json" ]] &&
   cmp -s "$src/package-lock.json" "$dest/package-lock.json" &&
   [[ -f "$dest/node_modules/speedscope/dist/release/file-format-schema.json" ]]; then
  exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dest/"
cd "$dest"
npm ci --no-audit --no-fund --loglevel=error
