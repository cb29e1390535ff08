"""The learner's script: configure mymodule.Config, let native code build the request, check it."""
import argparse
import signal
import sys
import urllib.parse

import mymodule


def fnv1a32(text):
    """FNV-1a, 32 bit: the signature the native side appends, recomputed here to check its work."""
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def expected_request(timeout, url, ssl):
    """What process() must return, computed independently of the native code."""
    parts = urllib.parse.urlsplit(url)
    scheme = "https" if ssl else "http"
    port = parts.port or (443 if ssl else 80)
    text = f"GET {scheme}://{parts.hostname}:{port}{parts.path or '/'} timeout_ms={timeout * 1000} " \
           f"tls={'on' if ssl else 'off'}"
    return f"{text} sig={fnv1a32(text):08x}"


def check(line, expected, iteration):
    if line != expected:
        print(f"mismatch in iteration {iteration}: process() returned {line!r}, expected {expected!r}",
              file=sys.stderr)
        sys.exit(3)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--repeat", type=int, metavar="N", help="call config.process() exactly N times")
    mode.add_argument("--forever", action="store_true", help="call config.process() until SIGTERM/SIGINT")
    args = parser.parse_args()

    config = mymodule.Config(timeout=30, url="http://example.com", ssl=True)
    expected = expected_request(config.timeout, config.url, config.ssl)

    if args.repeat is not None:
        for i in range(args.repeat):
            check(config.process(), expected, i)
        print(f"process() called {args.repeat} times, all correct: {expected}")
        return 0

    if args.forever:
        stop = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda received, frame: stop.append(received))
        count = 0
        while not stop:
            check(config.process(), expected, count)
            count += 1
            if count == 1:
                print("ready", flush=True)
        print(f"stopped after {count} iterations, all correct", flush=True)
        return 0

    print(config)
    line = config.process()
    check(line, expected, 0)
    print(f"process()       -> {line}")
    # The capsule is a frozen native copy: changing the Config afterwards does not change it.
    handle = config.native_handle()
    config.timeout = 5
    from_handle = mymodule.process_handle(handle)
    check(from_handle, expected, 1)
    print(f"process_handle  -> {from_handle}")
    line = config.process()
    check(line, expected_request(5, config.url, config.ssl), 2)
    print(f"after timeout=5 -> {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
