"""Live output reaches its reader while the program is still running: a trace printed to a pipe or
written with --text-output is buffered for speed, and the tracer writes what it holds whenever it
has caught up with the program (EventSink::onIdle), so an idle program's last calls show at once
instead of after a full buffer or at the end."""
import os
import select
import subprocess
import sys
import time

from conftest import TIMEOUT, scaled

# One ctypes call (an ffi_call event), then idle until the test creates the file named by argv[1].
PROGRAM = """
import ctypes, os, sys, time
ctypes.CDLL(None).abs(-7)
deadline = time.monotonic() + float(sys.argv[2])
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.02)
sys.exit(0 if os.path.exists(sys.argv[1]) else 3)
"""


def start(layertrace, python, tmp_path, *output_args):
    program = tmp_path / "idle_after_one_call.py"
    program.write_text(PROGRAM)
    go = tmp_path / "go"
    argv = [str(layertrace), "run", "--mode", "anchored", "--no-stacks", "--format", "jsonl", *output_args, "--",
            python, str(program), str(go), str(scaled(60))]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    return proc, go


def finish(proc, go):
    go.touch()
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, f"layertrace exited {proc.returncode}: {err.decode()[-2000:]}"


def wait_until(condition, proc, what):
    deadline = time.monotonic() + scaled(30)
    while not condition():
        assert proc.poll() is None, f"{what}: the session ended before the line was seen"
        assert time.monotonic() < deadline, f"{what}: not seen while the program was idle"
        time.sleep(0.02)


def test_text_output_file_shows_an_idle_programs_call(layertrace, python, tmp_path):
    out = tmp_path / "trace.jsonl"
    proc, go = start(layertrace, python, tmp_path, "--text-output", str(out))
    try:
        wait_until(lambda: out.exists() and b'"kind":"ffi_call"' in out.read_bytes(), proc, str(out))
    finally:
        finish(proc, go)


def test_stdout_pipe_shows_an_idle_programs_call(layertrace, python, tmp_path):
    proc, go = start(layertrace, python, tmp_path)
    received = bytearray()

    def seen():
        while select.select([proc.stdout], [], [], 0)[0]:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            received.extend(chunk)
        return b'"kind":"ffi_call"' in received

    try:
        wait_until(seen, proc, "stdout")
    finally:
        finish(proc, go)


if __name__ == "__main__":
    sys.exit("run with pytest")
