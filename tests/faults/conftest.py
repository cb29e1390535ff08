"""Shared machinery of the fault suite: run the real `layertrace` on fault_target.py, talk to the
target through a FIFO (layertrace_testing.watch; attached targets: layertrace_testing.attached), reap it even when the tracer died (we are a child subreaper), and read the
JSON lines the tracer printed. LAYERTRACE_FAULTS_SOAK=N multiplies every repeat count (soak runs)."""
import ctypes
import json
import os
import pathlib
import signal
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "pyhelpers"))
from layertrace_testing.env import demos_dir, env_path, layertrace, python  # noqa: E402,F401 (fixtures)
from layertrace_testing.events import ENTER, EXIT, check_nesting, count, parse_jsonl  # noqa: E402,F401
from layertrace_testing.runner import run_layertrace, start_layertrace  # noqa: E402,F401
from layertrace_testing.slowdown import SLOWDOWN, scaled  # noqa: E402,F401
from layertrace_testing.watch import Fifo, OutputWatch  # noqa: E402,F401
from layertrace_testing.attached import AttachTarget, attach_until, wait_for_trace  # noqa: E402,F401

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


def target_argv(python, scenario, result, *extra, ready=None):
    argv = [python, str(TARGET), scenario, "--result", str(result)]
    if ready is not None:
        argv += ["--ready", str(ready)]
    return argv + [str(e) for e in extra]


def fault_target(python, tmp_path, scenario, *extra):
    """fault_target.py started on its own, for an attach to go into: result in tmp_path/result.json."""
    return AttachTarget(tmp_path, lambda ready: target_argv(python, scenario, tmp_path / "result.json", *extra,
                                                             ready=ready))


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
