"""Attach to a process with 8 threads calling ctypes and pybind11 functions, four started before
the attach and four after: every thread is traced, and every thread's events nest properly."""
import json
import pathlib
import signal
import subprocess
import threading

from conftest import TIMEOUT, Target, check_nesting

PROGRAM = pathlib.Path(__file__).parent / "programs" / "threads_target.py"

def test_eight_threads_before_and_after_attach(layertrace, demos_dir, python):
    target = Target([python, str(PROGRAM), str(demos_dir / "c_ext_ctypes_add"),
                     str(demos_dir / "c_ext_pybind11_config")], cwd=demos_dir, stdin=True)
    try:
        tracer = subprocess.Popen([str(layertrace), "attach", str(target.pid), "--format", "jsonl", "--no-stacks", "--mode", "anchored",
                                   "--lossless"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert "attached to PID" in tracer.stderr.readline()
        # The trace is read from the start on its own thread: with --lossless a tracer blocked on
        # a full pipe would hold the target's threads.
        events, ffi, pybind = [], set(), set()
        tids = {}
        satisfied = threading.Event()

        def read_trace():
            for line in tracer.stdout:
                if satisfied.is_set():
                    continue  # drain the rest unparsed: the checked prefix is what we need
                e = json.loads(line)
                if e["kind"] == "module_load":
                    continue
                events.append(e)
                if e["kind"] == "ffi_call" and e.get("target", {}).get("symbol") == "add":
                    ffi.add(e["tid"])
                if e["kind"] == "c_call" and e.get("py_name", "").endswith("process") and "pybind11" in e["symbol"]:
                    pybind.add(e["tid"])
                if len(tids) == 8 and set(tids) <= ffi and set(tids) <= pybind:
                    satisfied.set()

        reader = threading.Thread(target=read_trace)
        reader.start()
        target.send("go")
        target.wait_for("all running")
        for line in target.lines:
            if line.startswith("worker "):
                _, k, _, tid = line.split()
                tids[int(tid)] = int(k)
        assert len(tids) == 8, target.lines
        satisfied.wait(timeout=60)
        tracer.send_signal(signal.SIGINT)
        reader.join(timeout=TIMEOUT)
        err = tracer.stderr.read()
        tracer.wait(timeout=TIMEOUT)
        assert tracer.returncode == 0, err[-3000:]
        missing_ffi = {tids[t] for t in set(tids) - ffi}
        missing_pybind = {tids[t] for t in set(tids) - pybind}
        assert not missing_ffi, f"workers without a ctypes add() call: {sorted(missing_ffi)}"
        assert not missing_pybind, f"workers without a pybind11 process() call: {sorted(missing_pybind)}"
        check_nesting(events, balanced=False)  # the detach cut threads inside calls
        target.send("stop")
        out, _ = target.proc.communicate(timeout=TIMEOUT)
        assert target.proc.returncode == 0, out
        assert "all correct" in out
    finally:
        target.kill()
