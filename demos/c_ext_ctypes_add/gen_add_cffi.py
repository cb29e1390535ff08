"""Build-time generator of the CFFI API-mode extension: writes _add_cffi.c for CMake to compile."""
import argparse
import pathlib

import cffi

# The cdef is what Python sees; the set_source text is what the C compiler sees. In API mode the C
# compiler checks the declaration against add.h, so a signature mismatch fails the build instead of
# corrupting the stack at run time (the ABI-mode risk).
CDEF = "int add(int a, int b);"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=pathlib.Path, help="path of the C file to write")
    args = parser.parse_args()
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source("_add_cffi", '#include "add.h"')
    args.output.parent.mkdir(parents=True, exist_ok=True)
    ffi.emit_c_code(str(args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
