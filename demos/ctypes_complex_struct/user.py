"""Part IV user script: the transform() user API over libstruct_demo.so, with no ctypes in sight."""
import argparse
import math
import signal
import sys

from mypkg import InputRecordPy, ItemPy, OutputRecordPy, ScoredItemPy, transform

EXIT_MISMATCH = 3

# The record --repeat and --forever use: it has items, so every helper of transform_record runs
# (filter, score, rank, title) and the result has something to check.
CHECKED_RECORD = InputRecordPy(
    "sensor-A", version=2, origin=(10, 20), samples=(1.0, -2.0, 4.0, 3.5),
    items=(ItemPy(1, 10, "dust"), ItemPy(2, 35, "pressure"), ItemPy(3, 20, "humidity"),
           ItemPy(4, 35, "temperature"), ItemPy(5, 5, "noise")))
CHECKED_ARGS = dict(scale=1.5, min_weight=20, top_n=2)


def round_half_away(value):
    """C's round(): halves go away from zero (Python's round() goes to even)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def reference_output(record, scale, min_weight, top_n):
    """What transform_record() must return, computed independently in Python."""
    scaled = [s * scale for s in record.samples]
    total = 0.0
    for value in scaled:  # left to right, like the C loop, so the mean matches bit for bit
        total += value
    kept = sorted((i for i in record.items if i.weight >= min_weight), key=lambda i: (-(i.weight * scale), i.id))
    items = tuple(ScoredItemPy(i.id, i.weight, i.weight * scale, i.label) for i in kept[:top_n])
    origin = (round_half_away(record.origin[0] * scale), round_half_away(record.origin[1] * scale))
    title = (f"{record.name} v{record.version} at ({origin[0]}, {origin[1]}), scale {scale:g}: "
             f"{len(items)} of {len(record.items)} items kept")
    return OutputRecordPy(title, record.version, origin, (min(scaled), max(scaled), total / len(scaled)), items)


class Mismatch(Exception):
    pass


def check(out, record, **args):
    expected = reference_output(record, **args)
    if out != expected:
        raise Mismatch(f"transform({record.name!r}, {args}) returned {out}, expected {expected}")


def transform_checked():
    """One iteration: exactly one transform_record() call, then one free_output_record() on exit."""
    with transform(CHECKED_RECORD, **CHECKED_ARGS) as out:
        check(out, CHECKED_RECORD, **CHECKED_ARGS)
    return out


def run_forever():
    stop = []
    # The handler only records the signal; the loop finishes its iteration and reports cleanly.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: stop.append(received))
    completed = 0
    while not stop:
        transform_checked()
        completed += 1
        if completed == 1:
            print("ready", flush=True)
    print(f"stopped after {completed} iterations, all correct", flush=True)
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--repeat", type=int, metavar="N", help="call transform() exactly N times, checking each")
    mode.add_argument("--forever", action="store_true",
                      help="loop until SIGTERM/SIGINT; print 'ready' after the first good iteration")
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 0:
        parser.error(f"--repeat must be >= 0, got {args.repeat}")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.forever:
            return run_forever()
        if args.repeat is not None:
            for _ in range(args.repeat):
                out = transform_checked()
            print(f"{args.repeat} calls of transform_record, all correct"
                  + (f"; last: {out.title}" if args.repeat else ""))
            return 0
        # The series' example, verbatim: one call, the title printed, the native output freed on exit.
        with transform(InputRecordPy("sensor-A", version=2, origin=(10, 20)), scale=1.5, min_weight=20, top_n=2) as out:
            print(out.title)
        check(out, InputRecordPy("sensor-A", version=2, origin=(10, 20)), scale=1.5, min_weight=20, top_n=2)
        return 0
    except Mismatch as error:
        print(f"mismatch: {error}", file=sys.stderr)
        return EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main())
