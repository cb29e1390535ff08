#!/usr/bin/env bash
# The README's first command: install what is missing, build with the `default` preset, then
# start the main job: the GUI tracing the Part IV transform() demo live when a display exists,
# the CLI trace of the same demo when none does.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default

build=build/default
demo="$build/demos/ctypes_complex_struct"
python=/usr/bin/python3

if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" && -x "$build/gui/layertrace-gui" ]]; then
  exec "$build/gui/layertrace-gui" --demo ctypes_complex_struct "$@"
elif [[ -x "$build/tracer/layertrace" ]]; then
  cd "$demo"
  exec "../../tracer/layertrace" run "$@" -- "$python" user.py
else
  cd "$demo"
  exec "$python" user.py "$@"
fi
