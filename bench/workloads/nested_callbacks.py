"""Workload: a library with nested native calls: libvisit's visit_sort/visit_each call back into Python through libffi closures."""
from _harness import measure, parse_args, use_demo

args = parse_args(__doc__, 5_000)
use_demo(args.demos, "callbacks")
import user  # noqa: E402  (the demo's user.py)

way = user.CtypesWay()


def loop(n):
    for _ in range(n):
        user.run_iteration(way)  # one visit_sort (~13 compare callbacks) + one visit_each (a few visits)


measure(args, loop, "sort + walk (2 ffi_calls, ~17 closure calls)")
