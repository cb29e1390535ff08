#!/usr/bin/env bash
# Installs every Debian package layertrace needs to build, test and run, skipping what is present.
# Idempotent: a second run installs nothing and takes about a second.
set -euo pipefail

# One list, grouped by who needs it. Keep it the only place packages are named.
packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # probe: instruction decoder and in-process unwinder (LLVM libunwind, see docs/architecture.md)
  libcapstone-dev libunwind-14-dev libffi-dev
  # tracer: symbolization and recordings
  libdw-dev libelf-dev libzstd-dev
  # GUI
  qt6-base-dev qt6-svg-dev libgl-dev fonts-dejavu-core xvfb xauth
  # demos and their tests
  python3 python3-dev python3-pytest python3-cffi pybind11-dev python3-pybind11
  python3-numpy python3-nacl
  # tests, sanitizers and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev valgrind clang libclang-rt-14-dev
  # recording export tests: node runs ajv against the speedscope npm package's schema
  nodejs
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

# npm comes with some nodejs builds and as its own Debian package with Debian's nodejs.
command -v npm >/dev/null || missing+=(npm)

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to apt-get install ${missing[*]}" >&2; exit 2; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
