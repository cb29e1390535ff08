#!/usr/bin/env bash
# The README's second command: install what is missing, build everything with the `default`
# preset and run the whole test suite, then the suite again with the `asan` preset (ASan+UBSan),
# then the fuzzers for a bounded time. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset default
cmake --build --preset default
ctest --preset default "$@"
# ASan+UBSan (issue 8, docs/reliability.md "Sanitizers"): the tracer, the GUI and every test built
# at -O1 with -fsanitize=address,undefined (never the probe or the demos' extension modules: they
# load into an uninstrumented Python), and the whole suite again against them, two tests at a time
# (docs/HACKING.md, "CI": the budget).
cmake --preset asan
cmake --build --preset asan
ctest --preset asan "$@"
# Fuzzers (issue 8, docs/reliability.md): a clang build of the wire decoder and the recording
# reader with libFuzzer+ASan+UBSan, each run for LAYERTRACE_FUZZ_SECONDS (default 20).
cmake --preset fuzz
cmake --build --preset fuzz
ctest --preset fuzz
