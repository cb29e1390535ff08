"""The learner's script: native Config and Counter resources through handlepool's wrappers (ctypes underneath)."""
import argparse
import signal
import sys

from handlepool import ClosedResourceError, Config, Counter, live_handles

STEP = 5


def check(value, expected, iteration):
    if value != expected:
        print(f"mismatch in iteration {iteration}: increment() returned {value}, expected {expected}",
              file=sys.stderr)
        sys.exit(3)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--repeat", type=int, metavar="N", help="call counter.increment() exactly N times")
    mode.add_argument("--forever", action="store_true", help="call counter.increment() until SIGTERM/SIGINT")
    args = parser.parse_args()

    with Config(timeout=30, url="http://example.com", ssl=True) as config, \
            Counter(start=config.timeout, step=STEP) as counter:
        start = config.timeout

        if args.repeat is not None:
            for i in range(args.repeat):
                check(counter.increment(), start + STEP * (i + 1), i)
            print(f"increment() called {args.repeat} times, all correct: counter at {start + STEP * args.repeat}")
            return 0

        if args.forever:
            stop = []
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda received, frame: stop.append(received))
            count = 0
            while not stop:
                check(counter.increment(), start + STEP * (count + 1), count)
                count += 1
                if count == 1:
                    print("ready", flush=True)
            print(f"stopped after {count} iterations, all correct", flush=True)
            return 0

        print(config.describe())
        value = counter.increment()
        check(value, start + STEP, 0)
        print(f"counter: {start} + {STEP} -> {value}")
        print(f"live native resources: {live_handles()}")

    # Leaving the with-block closed both; the wrapper refuses further use instead of crashing.
    try:
        counter.increment()
    except ClosedResourceError as error:
        print(f"after close: {type(error).__name__}: {error}")
    print(f"live native resources: {live_handles()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
