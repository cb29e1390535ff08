"""Filters of `run`, `attach` and `replay` (docs/cli/run.md#filters), through the real CLI:

- on every committed recording (tests/data), each filter keeps exactly the events the documented
  semantics select from the unfiltered jsonl (computed here, independently, by `expected_seqs`),
  and the tree printed with the same filters has one well-nested line per kept event;
- live: `run --format F [filters] -o FILE` prints exactly what `replay FILE --format F [filters]`
  prints, for every format and several filters, on a small threaded ctypes program with
  callbacks; --tid on its recording keeps exactly one thread's events.
"""
import fnmatch
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import DATA, FIXTURES, env_path

TIMEOUT = 600
ENTERS = {"py_call", "c_call", "init_enter", "ffi_call", "closure_enter", "native_enter"}
EXITS = {"py_return", "c_return", "c_raise", "init_exit", "ffi_return", "closure_exit", "native_exit"}
LAYERS = {"python": {"app", "wrapper", "pylib"}, "extension": {"ext", "glue", "capi"}, "ffi": {"ffi"},
          "native": {"native", "unknown"}}
BAND = {"app": 0, "wrapper": 0, "pylib": 0, "capi": 0, "ext": 1, "glue": 1, "ffi": 2, "native": 3, "unknown": 3}
SEQ = re.compile(rb'^\{"seq":(\d+),')


def run_cli(args, cwd=None):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, timeout=TIMEOUT)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-2000:]}"
    return proc


def replay(layertrace, recording, fmt, filters=()):
    return run_cli([str(layertrace), "replay", "-q", str(recording), "--format", fmt, *filters])


def event_summaries(jsonl):
    """The fields the filters look at, per event line (stacks reduced to 'has a Python frame';
    they are the bulk of each line and only the root-crossing rule needs them)."""
    events = []
    for line in jsonl.splitlines():
        cut = line.find(b',"stack":[')
        head = json.loads(line if cut < 0 else line[:cut] + b"}")
        if head["kind"] == "module_load":
            continue
        head["python_frame"] = cut >= 0 and b'"python":true' in line[cut:]
        events.append(head)
    return events


def kept_seqs(jsonl):
    return [int(m.group(1)) for m in map(SEQ.match, jsonl.splitlines()) if m]


def glob_match(glob, text):
    return bool(text) and fnmatch.fnmatchcase(text, glob)


def code_text(module, symbol):
    if symbol.startswith(module + "+"):
        return symbol
    return f"{module}:{symbol}" if symbol else module


def function_match(globs, ev):
    return any((":" in g and glob_match(g, code_text(ev["module"], ev["symbol"])))
               or glob_match(g, ev["symbol"]) or glob_match(g, ev.get("py_name", "")) for g in globs)


def expected_seqs(events, tids=(), roles=(), modules=(), functions=(), hide=(), crossings=False):
    """The documented semantics, written out: enters judged on their own and on an open
    --function / --hide call; exits follow their enter; markers follow their thread."""
    threads = {}  # tid -> {"open": [(depth, band, kept, opens_scope, opens_hidden)], "scope", "hidden"}
    out = []
    for ev in events:
        tid, kind = ev["tid"], ev["kind"]
        if tids and tid not in tids:
            continue
        t = threads.setdefault(tid, {"open": [], "scope": False, "hidden": False})
        if kind in ENTERS:
            band = BAND[ev["role"]]
            opens = bool(functions) and not t["scope"] and function_match(functions, ev)
            t["scope"] = t["scope"] or opens
            hides = bool(hide) and not t["hidden"] and function_match(hide, ev)
            t["hidden"] = t["hidden"] or hides
            if t["open"]:
                crossing = t["open"][-1][1] != band
            else:
                crossing = band != 0 and (bool(ev.get("py_file")) or ev["python_frame"])
            crossing = crossing or kind == "closure_enter"
            path = ev.get("module_path", "")
            keep = ((not functions or t["scope"]) and not t["hidden"] and (not roles or ev["role"] in roles)
                    and (not modules or any(glob_match(g, ev["module"]) or glob_match(g, path)
                                            or glob_match(g, path.rsplit("/", 1)[-1]) for g in modules))
                    and (not crossings or crossing))
            t["open"].append((ev["depth"], band, keep, opens, hides))
        elif kind in EXITS:
            while t["open"] and t["open"][-1][0] > ev["depth"]:
                _, _, _, opens, hides = t["open"].pop()
                t["scope"] = t["scope"] and not opens
                t["hidden"] = t["hidden"] and not hides
            if not t["open"] or t["open"][-1][0] != ev["depth"]:
                continue
            _, _, keep, opens, hides = t["open"].pop()
            t["scope"] = t["scope"] and not opens
            t["hidden"] = t["hidden"] and not hides
        else:
            keep = True
        if keep:
            out.append(ev["seq"])
    return out


def check_tree(text, expected_lines):
    """One line per kept event; per thread every '}' closes the last open '{' at its indent."""
    lines = text.decode().splitlines()
    assert len(lines) == expected_lines, f"{len(lines)} tree lines for {expected_lines} events"
    open_calls = {}
    for line in lines:
        m = re.match(r"^\[(\d+)\] ( *)(.*)$", line)
        assert m, line
        tid, indent, rest = m.group(1), len(m.group(2)), m.group(3)
        stack = open_calls.setdefault(tid, [])
        if rest.startswith("}"):
            assert stack and stack[-1] == indent, f"unbalanced exit on thread {tid}: {line}"
            stack.pop()
        elif rest.endswith("{"):
            assert not stack or indent > stack[-1], f"enter not nested inside its parent on {tid}: {line}"
            stack.append(indent)


def fixture_filters(name, events):
    """Filter sets for one fixture, chosen from its contents so that each keeps something."""
    tid = events[0]["tid"]
    native = [e for e in events if e["kind"] == "native_enter"]
    symbol = native[0]["symbol"]
    module = native[0]["module"]
    py_calls = [e for e in events if e["kind"] == "c_call" and e["role"] in ("ext", "glue") and e.get("py_name")]
    sets = [
        (["--tid", str(tid)], dict(tids={tid})),
        (["--layer", "native"], dict(roles=LAYERS["native"])),
        (["--layer", "python", "--layer", "ffi", "--role", "glue"], dict(roles=LAYERS["python"] | {"ffi", "glue"})),
        (["--module", module], dict(modules=[module])),
        (["--module", "*/" + module[:3] + "*"], dict(modules=["*/" + module[:3] + "*"])),
        (["--function", symbol], dict(functions=[symbol])),
        (["--function", f"{module}:{symbol[:2]}*"], dict(functions=[f"{module}:{symbol[:2]}*"])),
        (["--only-crossings"], dict(crossings=True)),
        (["--only-crossings", "--layer", "native", "--function", symbol],
         dict(crossings=True, roles=LAYERS["native"], functions=[symbol])),
        (["--hide", symbol], dict(hide=[symbol])),
        (["--layer", "native", "--hide", symbol, "--only-crossings"],
         dict(roles=LAYERS["native"], hide=[symbol], crossings=True)),
    ]
    if py_calls:
        glob = py_calls[0]["py_name"].rsplit(".", 1)[0] + ".*"  # a Python-visible name: mymodule.Config.*
        sets.append((["--function", glob], dict(functions=[glob])))
    return sets


@pytest.fixture(scope="module")
def unfiltered(layertrace):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = event_summaries(replay(layertrace, DATA / name, "jsonl").stdout)
        return cache[name]
    return get


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_filters_keep_what_the_semantics_select(layertrace, unfiltered, name):
    events = unfiltered(name)
    assert len(events) == FIXTURES[name]["events"]
    for args, semantics in fixture_filters(name, events):
        want = expected_seqs(events, **semantics)
        assert want, f"{args} selects nothing in {name}: pick another filter"
        got = kept_seqs(replay(layertrace, DATA / name, "jsonl", args).stdout)
        assert got == want, f"{name} {args}: kept {len(got)} events, the semantics select {len(want)}"
        check_tree(replay(layertrace, DATA / name, "tree", args).stdout, len(want))
        if "--only-crossings" in args and len(args) == 1:
            assert len(want) < len(events), "every event a crossing: the filter would test nothing"


@pytest.mark.parametrize("name", sorted(FIXTURES)[:2])
def test_a_filter_that_keeps_nothing_says_so(layertrace, name):
    proc = subprocess.run([str(layertrace), "replay", "-q", str(DATA / name), "--tid", "4194304"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0 and proc.stdout == ""
    assert "the filters kept none of the" in proc.stderr


# Two worker threads and the main thread sort through the callbacks demo's libvisit.so: ctypes,
# libffi, a hooked native function and a Python callback per comparison on every thread.
THREADED = r"""
import ctypes, sys, threading

class Record(ctypes.Structure):
    _fields_ = [("id", ctypes.c_int32), ("value", ctypes.c_double), ("name", ctypes.c_char_p)]

COMPARE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(Record), ctypes.POINTER(Record), ctypes.c_void_p)
lib = ctypes.CDLL(sys.argv[1])
lib.visit_sort.argtypes = [ctypes.POINTER(Record), ctypes.c_size_t, COMPARE, ctypes.c_void_p]
lib.visit_sort.restype = ctypes.c_long

def compare(left, right, context):
    return (left[0].value > right[0].value) - (left[0].value < right[0].value)

def work(n):
    records = (Record * 4)(*(Record(i, float((i * 7 + n) % 5), b"r") for i in range(4)))
    callback = COMPARE(compare)
    return lib.visit_sort(records, 4, callback, None)

threads = [threading.Thread(target=work, args=(i,), name=f"worker-{i}") for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
work(9)
"""

LIVE_FILTERS = [
    [],
    ["--layer", "native"],
    ["--function", "compare"],
    ["--function", "libvisit.so:visit_*", "--layer", "python"],
    ["--only-crossings"],
    ["--module", "libvisit*", "--module", "libffi*"],
    ["--hide", "compare", "--hide", "<module>"],
]


@pytest.fixture(scope="module")
def threaded_script(tmp_path_factory):
    path = tmp_path_factory.mktemp("live") / "threaded.py"
    path.write_text(THREADED)
    return path


@pytest.fixture(scope="module")
def live_argv(threaded_script):
    libvisit = env_path("LAYERTRACE_DEMOS_DIR") / "callbacks" / "libvisit.so"
    assert libvisit.exists(), f"{libvisit} is missing: build the callbacks demo"
    return ["--", os.environ.get("LAYERTRACE_PYTHON", sys.executable), str(threaded_script), str(libvisit)]


@pytest.mark.parametrize("fmt", ["tree", "path", "jsonl"])
@pytest.mark.parametrize("filters", LIVE_FILTERS, ids=lambda f: " ".join(f) or "unfiltered")
def test_run_prints_what_replay_prints(layertrace, live_argv, tmp_path, fmt, filters):
    recording = tmp_path / "live.ltr"
    live = run_cli([str(layertrace), "run", "--format", fmt, *filters, "-o", str(recording), *live_argv],
                   cwd=tmp_path)
    replayed = replay(layertrace, recording, fmt, filters)
    # A path line needs a crossing among the kept events: Python callbacks alone have none.
    assert live.stdout or (fmt == "path" and filters in (["--function", "compare"], LIVE_FILTERS[3])), \
        f"run printed nothing: {live.stderr.decode(errors='replace')[-2000:]}"
    assert replayed.stdout == live.stdout


def test_tid_keeps_exactly_one_thread_of_a_live_recording(layertrace, live_argv, tmp_path):
    recording = tmp_path / "live.ltr"
    run_cli([str(layertrace), "run", "--format", "path", "-o", str(recording), *live_argv], cwd=tmp_path)
    events = event_summaries(replay(layertrace, recording, "jsonl").stdout)
    tids = sorted({e["tid"] for e in events})
    assert len(tids) >= 3, f"expected the main thread and two workers, got {tids}"
    for tid in tids:
        got = kept_seqs(replay(layertrace, recording, "jsonl", ["--tid", str(tid)]).stdout)
        assert got == [e["seq"] for e in events if e["tid"] == tid]
    both = kept_seqs(replay(layertrace, recording, "jsonl", ["--tid", str(tids[1]), "--tid", str(tids[2])]).stdout)
    assert both == [e["seq"] for e in events if e["tid"] in tids[1:3]]
    # A worker's qsort callback: --function compare on that thread alone is its callbacks only.
    want = expected_seqs(events, tids={tids[1]}, functions=["compare"])
    got = kept_seqs(replay(layertrace, recording, "jsonl", ["--tid", str(tids[1]), "--function", "compare"]).stdout)
    assert got == want and got
    check_tree(replay(layertrace, recording, "tree", ["--tid", str(tids[1]), "--only-crossings"]).stdout,
               len(expected_seqs(events, tids={tids[1]}, crossings=True)))
