"""Workload: the Part IV transform() loop: mypkg builds ctypes structs, calls transform_record and frees the output (2 ffi_calls)."""
from _harness import measure, parse_args, use_demo

args = parse_args(__doc__, 2_000)
use_demo(args.demos, "ctypes_complex_struct")
import user  # noqa: E402  (the demo's user.py: transform_checked() is one transform() with-block, checked)


def loop(n):
    for _ in range(n):
        user.transform_checked()


measure(args, loop, "transform() with-block")
