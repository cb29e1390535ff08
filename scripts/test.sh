#!/usr/bin/env bash
# The README's second command: install what is missing, build everything with the `default`
# preset, and run the whole test suite. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset default
cmake --build --preset default
ctest --preset default "$@"
