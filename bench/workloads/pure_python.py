"""Workload: a call-heavy pure-Python loop (small functions and methods, no native library): the cost of Python events."""
from _harness import measure, parse_args

args = parse_args(__doc__, 200_000)


class Point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def moved(self, dx, dy):
        return Point(self.x + dx, self.y + dy)

    def norm1(self):
        return abs(self.x) + abs(self.y)


def step(p, i):
    return p.moved(i % 3 - 1, i % 5 - 2)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def iteration(i):
    """30 Python calls (fib(5) is 15 of them) and a few builtin calls."""
    p = Point(0, 0)
    for k in range(4):
        p = step(p, i + k)
    return p.norm1() + fib(5)


def loop(n):
    total = 0
    for i in range(n):
        total += iteration(i)
    return total


measure(args, loop, "iteration (30 Python calls)")
