"""Part III user script: libadd.so's add(int, int) called through ctypes, CFFI ABI mode and CFFI API mode."""
import argparse
import ctypes
import pathlib
import signal
import sys

HERE = pathlib.Path(__file__).resolve().parent
# The library is found next to this script, never through LD_LIBRARY_PATH or the working directory.
LIBADD = HERE / "libadd.so"
WAYS = ("ctypes", "cffi-abi", "cffi-api")
EXIT_MISMATCH = 3


# --- ctypes: the stdlib's _ctypes extension packs the ints with libffi from argtypes/restype. ---
def load_ctypes():
    lib = ctypes.CDLL(str(LIBADD))
    lib.add.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.add.restype = ctypes.c_int
    return lib


def add_with_ctypes(lib, a, b):
    return lib.add(a, b)


# --- CFFI ABI mode: _cffi_backend reads the cdef at run time and calls through libffi, like ctypes. ---
def load_cffi_abi():
    import cffi  # imported here so `--way ctypes` runs without cffi installed

    ffi = cffi.FFI()
    ffi.cdef("int add(int a, int b);")
    return ffi.dlopen(str(LIBADD))


def add_with_cffi_abi(lib, a, b):
    return lib.add(a, b)


# --- CFFI API mode: _add_cffi was generated and compiled by the build; its _cffi_f_add calls add()
# directly in C, with no libffi in between. Its rpath ($ORIGIN) finds libadd.so next to it. ---
def load_cffi_api():
    from _add_cffi import lib

    return lib


def add_with_cffi_api(lib, a, b):
    return lib.add(a, b)


LOADERS = {"ctypes": load_ctypes, "cffi-abi": load_cffi_abi, "cffi-api": load_cffi_api}
CALLERS = {"ctypes": add_with_ctypes, "cffi-abi": add_with_cffi_abi, "cffi-api": add_with_cffi_api}


def operands(iteration):
    """Deterministic inputs: iteration 0 is the series' add(2, 3); later ones vary, signs included."""
    if iteration == 0:
        return 2, 3
    return (7 * iteration) % 100_003 - 50_000, (13 * iteration) % 99_991


def expected_sum(a, b):
    """add() wraps like 32-bit two's complement; Python ints do not, so wrap here for the check."""
    total = (a + b) & 0xFFFFFFFF
    return total - (1 << 32) if total >= (1 << 31) else total


class Mismatch(Exception):
    pass


def run_iteration(iteration, selected):
    """One iteration: exactly one call of add() per selected way, each result checked."""
    a, b = operands(iteration)
    results = []
    for way, lib in selected:
        got = CALLERS[way](lib, a, b)
        if got != expected_sum(a, b):
            raise Mismatch(f"{way}: add({a}, {b}) returned {got}, expected {expected_sum(a, b)}")
        results.append((way, a, b, got))
    return results


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--way", choices=WAYS + ("all",), default="all",
                        help="which binding to call add() through (default: all three)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--repeat", type=int, metavar="N", help="call add() exactly N times per selected way")
    mode.add_argument("--forever", action="store_true",
                      help="loop until SIGTERM/SIGINT; print 'ready' after the first good iteration")
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 0:
        parser.error(f"--repeat must be >= 0, got {args.repeat}")
    return args


def main(argv=None):
    args = parse_args(argv)
    ways = WAYS if args.way == "all" else (args.way,)
    # Loading happens once, before the loop, so each iteration is only the add() calls.
    selected = [(way, LOADERS[way]()) for way in ways]
    try:
        if args.forever:
            return run_forever(selected)
        if args.repeat is not None:
            for iteration in range(args.repeat):
                run_iteration(iteration, selected)
            print(f"{args.repeat} iterations x {len(ways)} way(s) ({', '.join(ways)}): "
                  f"{args.repeat * len(ways)} calls of add, all correct")
            return 0
        for way, a, b, got in run_iteration(0, selected):
            print(f"{way:<9} add({a}, {b}) = {got}")
        return 0
    except Mismatch as error:
        print(f"mismatch: {error}", file=sys.stderr)
        return EXIT_MISMATCH


def run_forever(selected):
    stop = []
    # The handler only records the signal; the loop finishes its iteration and reports cleanly.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: stop.append(received))
    completed = 0
    while not stop:
        run_iteration(completed, selected)
        completed += 1
        if completed == 1:
            print("ready", flush=True)
    print(f"stopped after {completed} iterations, all correct", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
