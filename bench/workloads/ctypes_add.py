"""Workload: the Part III ctypes add(int, int) loop (one ffi_call per iteration), through the demo's own functions."""
from _harness import measure, parse_args, use_demo

args = parse_args(__doc__, 200_000)
use_demo(args.demos, "c_ext_ctypes_add")
import user  # noqa: E402  (the demo's user.py)

lib = user.load_ctypes()
add = user.add_with_ctypes


def loop(n):
    for i in range(n):
        add(lib, i, 1)


measure(args, loop, "add() call")
