"""Every way `layertrace attach` refuses: one clear line, its documented exit code
(docs/cli/exit-codes.md), and the target unharmed (it goes on and ends correctly)."""
import ctypes
import os
import pathlib
import signal
import subprocess
import sys

import pytest

from conftest import TIMEOUT, Target, attach, demo_target, state

DEMO = "ctypes_complex_struct"


def single_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {stderr!r}"
    return lines[0]


def test_no_such_process(layertrace):
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: its PID names no process now
    proc = attach(layertrace, child.pid)
    assert proc.returncode == 10, proc.stderr
    assert single_line(proc.stderr) == f"layertrace: no such process: PID {child.pid}"


def test_bad_pid_is_a_usage_error(layertrace):
    proc = subprocess.run([str(layertrace), "attach", "12x"], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 2
    assert "wants a process id" in single_line(proc.stderr)


def test_not_a_python_process(layertrace):
    target = Target(["sh", "-c", "echo ready; exec sleep 600"], cwd="/")
    try:
        proc = attach(layertrace, target.pid)
        assert proc.returncode == 11, proc.stderr
        assert "is not a Python process" in single_line(proc.stderr)
        # Left as it was: not stopped or traced (T, t). It may still be running (R) rather than
        # asleep: the shell's exec of sleep can still be under way on a loaded machine.
        assert state(target.pid) not in ("T", "t") and target.proc.poll() is None
    finally:
        target.kill()


def test_unsupported_interpreter(layertrace):
    fake = os.environ.get("LAYERTRACE_FAKE_PY310")
    if not fake:
        pytest.fail("LAYERTRACE_FAKE_PY310 is not set (ctest sets it)")
    target = Target([fake], cwd="/")
    try:
        proc = attach(layertrace, target.pid)
        assert proc.returncode == 12, proc.stderr
        line = single_line(proc.stderr)
        assert "runs Python 3.10.12" in line and "3.11 and later" in line, line
        assert TracerPid(target.pid) == 0
        target.proc.send_signal(signal.SIGTERM)
        out, _ = target.proc.communicate(timeout=TIMEOUT)
        assert target.proc.returncode == 0 and "stopped cleanly" in out
    finally:
        target.kill()


def TracerPid(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("TracerPid:")).split()[1])


def test_permission_denied_for_another_users_process(layertrace, demos_dir, python):
    if os.geteuid() != 0:
        pytest.skip("needs root to run the tracer as another user")
    # The tracer as `nobody` (no CAP_SYS_PTRACE) against our (root's) demo.
    target = demo_target(demos_dir, python, DEMO)
    try:
        proc = attach(layertrace, target.pid, user=65534)
        assert proc.returncode == 13, proc.stderr
        line = single_line(proc.stderr)
        assert line.startswith("layertrace: permission denied: ") and "uid 0" in line and "CAP_SYS_PTRACE" in line, line
        target.terminate_and_check()
    finally:
        target.kill()


def test_already_traced_by_a_debugger(layertrace, demos_dir, python):
    target = demo_target(demos_dir, python, DEMO)
    # A minimal debugger: PTRACE_SEIZE (the target keeps running) and hold it until told to go.
    holder = subprocess.Popen([sys.executable, "-c", f"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
assert libc.ptrace(0x4206, {target.pid}, None, None) == 0, ctypes.get_errno()
print("seized", flush=True)
sys.stdin.readline()
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "seized"
        proc = attach(layertrace, target.pid)
        assert proc.returncode == 14, proc.stderr
        line = single_line(proc.stderr)
        assert f"is already traced by PID {holder.pid}" in line, line
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=TIMEOUT)
        target.terminate_and_check()
    finally:
        holder.kill()
        target.kill()


def test_stopped_target_is_refused(layertrace, demos_dir, python):
    target = demo_target(demos_dir, python, DEMO)
    try:
        os.kill(target.pid, signal.SIGSTOP)
        while state(target.pid) != "T":
            os.sched_yield()
        proc = attach(layertrace, target.pid)
        assert proc.returncode == 15, proc.stderr
        line = single_line(proc.stderr)
        assert "is stopped" in line and f"kill -CONT {target.pid}" in line, line
        assert state(target.pid) == "T"
        os.kill(target.pid, signal.SIGCONT)
        target.terminate_and_check()
    finally:
        target.kill()


def test_probe_already_active_for_another_session(layertrace, demos_dir, python):
    # `layertrace run` preloads the probe: its session is active, so an attach must refuse.
    runner = subprocess.Popen([str(layertrace), "run", "--format", "path", "--text-output", os.devnull, "--",
                               python, "user.py", "--forever"], cwd=demos_dir / DEMO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # With --text-output the program's stdout stays its own: "ready" is its readiness signal.
        assert runner.stdout.readline().strip() == "ready"
        children = pathlib.Path(f"/proc/{runner.pid}/task/{runner.pid}/children").read_text().split()
        assert len(children) == 1, children
        pid = int(children[0])
        proc = attach(layertrace, pid)
        assert proc.returncode == 14, proc.stderr
        line = single_line(proc.stderr)
        assert "already traced by another layertrace session" in line, line
        os.kill(pid, signal.SIGTERM)
        out, err = runner.communicate(timeout=TIMEOUT)
        assert runner.returncode == 0, err[-2000:]
        assert "all correct" in out
    finally:
        runner.kill()
