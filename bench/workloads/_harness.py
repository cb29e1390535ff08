"""Shared by every workload: argument parsing, importing a staged demo, timing the loop, writing the result as JSON."""
import argparse
import json
import pathlib
import sys
import time


def parse_args(description, default_calls):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--demos", required=True, type=pathlib.Path,
                        help="the staged demos folder (build/<preset>/demos)")
    parser.add_argument("--calls", type=int, default=default_calls, help="loop iterations (default %(default)s)")
    parser.add_argument("--result", required=True, type=pathlib.Path, help="where to write the JSON result")
    parser.add_argument("--setprofile", action="store_true",
                        help="count events with a sys.setprofile function around the loop (a peer tracer)")
    return parser.parse_args()


def use_demo(demos, name):
    """Puts a staged demo's folder first on sys.path so its user.py and packages import as the demo's own."""
    folder = demos / name
    if not folder.is_dir():
        sys.exit(f"workload: demo folder {folder} does not exist; build the demo targets first")
    sys.path.insert(0, str(folder))
    return folder


def measure(args, loop, unit):
    """Runs loop(n) once briefly to warm up, then times loop(args.calls) alone; start-up is excluded.

    (The driver counts the ffi_call events an iteration makes with a traced run of its own.)
    """
    loop(min(100, args.calls))
    events = {}
    if args.setprofile:
        def counter(_frame, event, _arg):
            events[event] = events.get(event, 0) + 1
        sys.setprofile(counter)
    # Wall time is what the user waits for; CPU time of this process (the probe's sender thread
    # included, time spent waiting for a core excluded) is what tracing costs on a shared machine.
    start, cpu_start, thread_start = time.perf_counter(), time.process_time(), time.thread_time()
    loop(args.calls)
    seconds = time.perf_counter() - start
    cpu_seconds, thread_seconds = time.process_time() - cpu_start, time.thread_time() - thread_start
    if args.setprofile:
        sys.setprofile(None)
    args.result.write_text(json.dumps({
        "calls": args.calls,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "thread_cpu_seconds": thread_seconds,
        "unit": unit,
        "setprofile_events": sum(events.values()) if args.setprofile else None,
    }))
