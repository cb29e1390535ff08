"""Shared machinery of the fault suite: run the real `layertrace` on fault_target.py, talk to the
target through a FIFO, reap it even when the tracer died (we are a child subreaper), and read the
JSON lines the tracer printed. LAYERTRACE_FAULTS_SOAK=N multiplies every repeat count (soak runs)."""
import ctypes
import json
import os
import pathlib
import select
import signal
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "pyhelpers"))
from layertrace_testing.env import demos_dir, env_path, layertrace, python  # noqa: E402,F401 (fixtures)
from layertrace_testing.events import ENTER, EXIT, check_nesting, count, parse_jsonl  # noqa: E402,F401
from layertrace_testing.runner import run_layertrace, start_layertrace  # noqa: E402,F401
from layertrace_testing.slowdown import SLOWDOWN, scaled  # noqa: E402,F401

import pytest  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
TARGET = HERE / "programs" / "fault_target.py"

# Soak runs: LAYERTRACE_FAULTS_SOAK=20 repeats every case 20 times as often (docs/reliability.md).
SOAK = max(1, int(os.environ.get("LAYERTRACE_FAULTS_SOAK", "1") or "1"))

# A target whose tracer was SIGKILLed is re-parented to us (not to init), so its exit status can be
# collected with waitpid and nothing outlives the test unseen.
PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def rounds(base):
    return range(base * SOAK)


@pytest.fixture(scope="session")
def faults_lib():
    return env_path("FAULTS_LIB")


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
        timeout = scaled(timeout)
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

    def forget_pending(self):
        """Drops every line written so far, so the next wait_for sees only later ones."""
        while select.select([self.fd], [], [], 0)[0]:
            self.buffer += os.read(self.fd, 4096)
        self.buffer = b""

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
        timeout = scaled(timeout)
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


def reap(pid, timeout=60.0):
    """waitpid for an orphaned target re-parented to us; returns its exit code (-N for signal N)."""
    timeout = scaled(timeout)
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
