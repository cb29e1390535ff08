"""Workload: the Part VII pybind11 Config.process() loop (a PyCFunction dispatch into C++, no libffi)."""
from _harness import measure, parse_args, use_demo

args = parse_args(__doc__, 1_000_000)
use_demo(args.demos, "c_ext_pybind11_config")
import mymodule  # noqa: E402  (the pybind11 build of mymodule)

config = mymodule.Config(timeout=30, url="http://example.com", ssl=True)
expected = config.process()


def loop(n):
    process = config.process
    for _ in range(n):
        if process() != expected:
            raise SystemExit("workload: process() changed its answer")


measure(args, loop, "process() call")
