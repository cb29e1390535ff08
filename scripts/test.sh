#!/usr/bin/env bash
# The README's second command: install what is missing, build everything with the `default`
# preset, and run the whole test suite. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset default
cmake --build --preset default
ctest --preset default "$@"
# Fuzzers (issue 8, docs/reliability.md): a clang build of the wire decoder and the recording
# reader with libFuzzer+ASan+UBSan, each run for LAYERTRACE_FUZZ_SECONDS (default 20).
cmake --preset fuzz
cmake --build --preset fuzz
ctest --preset fuzz
