"""Shared helpers for the integration tests: run the real `layertrace` on the real demos and parse
what it prints (path lines and JSON lines)."""
import fnmatch
import json
import os
import pathlib
import subprocess

import pytest

TIMEOUT = 300


def _env_path(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set (ctest sets it; see tests/integration/CMakeLists.txt)")
    return pathlib.Path(value)


@pytest.fixture(scope="session")
def layertrace():
    return _env_path("LAYERTRACE_BIN")


@pytest.fixture(scope="session")
def demos_dir():
    return _env_path("LAYERTRACE_DEMOS_DIR")


@pytest.fixture(scope="session")
def python():
    return os.environ.get("LAYERTRACE_PYTHON", "/usr/bin/python3")


@pytest.fixture(scope="session")
def catalog(demos_dir):
    with open(demos_dir / "catalog.json") as f:
        return json.load(f)


def resolve_argv(argv, python):
    return [python if a == "{python}" else a for a in argv]


def run(layertrace, args, cwd, check_status=0):
    """Runs `layertrace ARGS`; returns (stdout, stderr). The program's status must be `check_status`."""
    proc = subprocess.run([str(layertrace), *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    if check_status is not None:
        assert proc.returncode == check_status, (
            f"layertrace {' '.join(args)} exited {proc.returncode}\nstderr:\n{proc.stderr[-4000:]}")
    return proc.stdout, proc.stderr


def parse_path_line(line):
    """'app user.py:main -> ext _ctypes.so -> ...' -> [(role, module, symbol), ...]"""
    if line.startswith("[tid "):
        line = line[line.index("] ") + 2:]
    hops = []
    for text in line.split(" -> "):
        role, _, rest = text.partition(" ")
        module, _, symbol = rest.partition(":")
        hops.append((role, module, symbol))
    return hops


def _globs(value):
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


def hop_matches(expected, hop):
    role, module, symbol = hop
    if expected.get("role") and expected["role"] != role:
        return False
    globs = _globs(expected.get("module"))
    if globs is not None and not any(fnmatch.fnmatch(module, g) for g in globs):
        return False
    globs = _globs(expected.get("symbol"))
    if globs is None:
        return True
    # A qualified Python name ("Publisher.publish") also matches by its last component.
    candidates = [symbol] + ([symbol.rsplit(".", 1)[1]] if "." in symbol else [])
    return any(fnmatch.fnmatch(c, g) for c in candidates for g in globs)


def path_matches_in_order(expected_hops, hops):
    """The catalog's hops appear in one path line in order; other hops (siblings of the chain's
    calls) may come between them, as in tracer::pathMatches."""
    return appears_in_order(expected_hops, hops)


def parse_jsonl(text):
    """Every line must be one JSON object; returns (events, modules)."""
    events, modules = [], []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            raise AssertionError(f"jsonl line {number} does not parse ({error}): {line[:200]}")
        (modules if obj["kind"] == "module_load" else events).append(obj)
    return events, modules


ENTER = {"py_call", "c_call", "init_enter", "ffi_call", "closure_enter", "native_enter"}
EXIT = {"py_return", "c_return", "c_raise", "init_exit", "ffi_return", "closure_exit", "native_exit"}


def assert_nesting(events):
    """Per thread: every enter is at the current depth, every exit returns to its enter's depth,
    and each thread ends where it started."""
    depth = {}
    for e in events:
        tid = e["tid"]
        if e["kind"] in ENTER:
            assert e["depth"] == depth.get(tid, 0), f"enter at wrong depth: {e}"
            depth[tid] = depth.get(tid, 0) + 1
        elif e["kind"] in EXIT:
            depth[tid] = depth.get(tid, 0) - 1
            assert depth[tid] >= 0, f"exit without enter: {e}"
            assert e["depth"] == depth[tid], f"exit at wrong depth: {e}"
    # Threads may end inside calls only if the program exited from inside them (not in demos).
    assert all(d == 0 for d in depth.values()), f"unbalanced threads: {depth}"


def hop_sequences(events):
    """Per thread, the hops of every enter event in order, as jsonl tells them."""
    seqs = {}
    for e in events:
        if e["kind"] not in ENTER:
            continue
        seq = seqs.setdefault(e["tid"], [])
        if e["kind"] == "ffi_call" and "caller" in e:
            seq.append((e["caller"]["role"], e["caller"]["module"], ""))
        seq.append((e["role"], e["module"], e["symbol"]))
        if e["kind"] in ("ffi_call", "closure_enter") and "target" in e:
            target = e["target"]
            seq.append((target["role"], target["module"], target["symbol"] if e["kind"] == "ffi_call" else ""))
    return seqs


def appears_in_order(expected_hops, seq):
    """The catalog's hops appear in `seq` in order (other hops may come between them)."""
    i = 0
    for hop in seq:
        if i < len(expected_hops) and hop_matches(expected_hops[i], hop):
            i += 1
    return i == len(expected_hops)
