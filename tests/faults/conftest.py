"""Shared machinery of the fault suite: run the real `layertrace` on fault_target.py, talk to the
target through a FIFO, reap it even when the tracer died (we are a child subreaper), and read the
JSON lines the tracer printed. LAYERTRACE_FAULTS_SOAK=N multiplies every repeat count (soak runs)."""
import ctypes
import json
import os
import pathlib
import select
import signal
import subprocess
import sys
import time

import pytest

HERE = pathlib.Path(__file__).resolve().parent
TARGET = HERE / "programs" / "fault_target.py"
TIMEOUT = 240

# Soak runs: LAYERTRACE_FAULTS_SOAK=20 repeats every case 20 times as often (docs/reliability.md).
SOAK = max(1, int(os.environ.get("LAYERTRACE_FAULTS_SOAK", "1") or "1"))

# A target whose tracer was SIGKILLed is re-parented to us (not to init), so its exit status can be
# collected with waitpid and nothing outlives the test unseen.
PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def rounds(base):
    return range(base * SOAK)


def env_path(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set (ctest sets it; see tests/faults/CMakeLists.txt)")
    return pathlib.Path(value)


@pytest.fixture(scope="session")
def layertrace():
    return env_path("LAYERTRACE_BIN")


@pytest.fixture(scope="session")
def faults_lib():
    return env_path("FAULTS_LIB")


@pytest.fixture(scope="session")
def demos_dir():
    return env_path("LAYERTRACE_DEMOS_DIR")


@pytest.fixture(scope="session")
def python():
    return os.environ.get("LAYERTRACE_PYTHON", "/usr/bin/python3")


class Fifo:
    """The target's readiness channel: it writes 'ready PID' / 'done PID' lines."""

    def __init__(self, path):
        self.path = str(path)
        os.mkfifo(self.path)
        # Non-blocking read end, plus a write end of our own so the FIFO never reports EOF between
        # the target's separate open/write/close rounds.
        self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.keep = os.open(self.path, os.O_WRONLY)
        self.buffer = b""

    def wait_for(self, word, timeout=60.0):
        deadline = time.monotonic() + timeout
        while True:
            for line in self.buffer.split(b"\n")[:-1]:
                parts = line.decode().split()
                if parts and parts[0] == word:
                    self.buffer = self.buffer[self.buffer.index(line) + len(line) + 1:]
                    return int(parts[1])
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the target did not say '{word}' within {timeout} s")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                self.buffer += os.read(self.fd, 4096)

    def close(self):
        os.close(self.fd)
        os.close(self.keep)


class OutputWatch:
    """Counts occurrences of `needle` in a file another process is appending to, reading only
    what is new each time."""

    def __init__(self, path, needle=b"\n"):
        self.path, self.needle = path, needle
        self.offset, self.count, self.carry = 0, 0, b""

    def poll(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        data = self.carry + data
        self.count += data.count(self.needle)
        # Keep a tail shorter than the needle so a match split across reads is counted once.
        cut = max(0, len(data) - len(self.needle) + 1)
        self.carry = data[cut:] if self.needle not in data[cut:] else b""
        return self.count

    def wait_for(self, n, timeout, alive=lambda: True, what="output"):
        deadline = time.monotonic() + timeout
        while self.poll() < n:
            assert time.monotonic() < deadline, f"{what}: only {self.count} of {n} within {timeout} s"
            assert alive(), f"{what}: the producer ended after {self.count} of {n}"
            time.sleep(0.05)


def target_argv(python, scenario, result, *extra, ready=None):
    argv = [python, str(TARGET), scenario, "--result", str(result)]
    if ready is not None:
        argv += ["--ready", str(ready)]
    return argv + [str(e) for e in extra]


def read_result(path):
    with open(path) as f:
        return json.load(f)


def parse_jsonl(text, allow_partial_last=False):
    """Every line is one JSON object; returns (events, modules). A tracer killed mid-write may
    leave one partial last line, which `allow_partial_last` tolerates."""
    events, modules = [], []
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            if allow_partial_last and number == len(lines) and not text.endswith("\n"):
                break
            raise AssertionError(f"jsonl line {number} does not parse ({error}): {line[:200]}")
        (modules if obj["kind"] == "module_load" else events).append(obj)
    return events, modules


ENTER = {"py_call", "c_call", "init_enter", "ffi_call", "closure_enter", "native_enter"}
EXIT = {"py_return", "c_return", "c_raise", "init_exit", "ffi_return", "closure_exit", "native_exit"}


def check_nesting(events, balanced=True):
    """Per thread every enter is at the current depth and every exit closes its enter; with
    `balanced`, every thread ends at depth 0 (a program that exited inside calls is not)."""
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
    if balanced:
        assert all(d == 0 for d in depth.values()), f"unbalanced threads: {depth}"
    return depth


def count(events, kind, symbol=None, **fields):
    n = 0
    for e in events:
        if e["kind"] != kind or (symbol is not None and e.get("symbol") != symbol):
            continue
        if all(e.get(k) == v for k, v in fields.items()):
            n += 1
    return n


def ffi_target_count(events, kind, symbol):
    return sum(1 for e in events if e["kind"] == kind and e.get("target", {}).get("symbol") == symbol)


def run_layertrace(layertrace, args, cwd=None, env_extra=None, timeout=TIMEOUT):
    """Runs `layertrace ARGS` to its end; returns the CompletedProcess (text)."""
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([str(layertrace), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def reap(pid, timeout=60.0):
    """waitpid for an orphaned target re-parented to us; returns its exit code (-N for signal N)."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"target {pid} did not exit within {timeout} s")
        time.sleep(0.02)


def base_trace_args(faults_lib, *more):
    """Anchored mode, no stacks, libfaults.so's functions hooked: the cheap, exact set of events."""
    return ["run", "--format", "jsonl", "--mode", "anchored", "--no-stacks",
            "--probe", f"{pathlib.Path(faults_lib).name}:ft_*", *more]


print(f"fault suite: soak factor {SOAK}", file=sys.stderr)
