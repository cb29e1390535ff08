"""`layertrace attach --mode full` into a process running pure-Python calls: frames already running
at the attach return unreported while everything called afterwards nests, on the main thread and on
threads started after the attach; the detach gives the interpreter back its eval-frame function
(3.11, docs/probe.md), and a second attach puts it back in."""
import json
import pathlib
import signal
import subprocess
import threading

from conftest import TIMEOUT, Target, check_nesting

PROGRAM = pathlib.Path(__file__).parent / "programs" / "python_calls_target.py"


def attach_full(layertrace, target):
    """Attaches in full mode until `inner` was seen on the main thread and on a worker started
    after the attach, checking the eval function while attached; returns the events read."""
    tracer = subprocess.Popen([str(layertrace), "attach", str(target.pid), "--mode", "full", "--no-stacks",
                               "--format", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "attached to PID" in tracer.stderr.readline()
        events, inner_tids = [], set()
        enough = threading.Event()

        def read_trace():
            for line in tracer.stdout:
                if enough.is_set():
                    continue  # drain the rest: the prefix is what is checked
                e = json.loads(line)
                if e["kind"] == "module_load":
                    continue
                events.append(e)
                if e["kind"] == "py_call" and e.get("symbol") == "inner":
                    inner_tids.add(e["tid"])
                if {target.pid, worker_tid[0]} <= inner_tids:
                    enough.set()

        worker_tid = [None]
        reader = threading.Thread(target=read_trace)
        reader.start()
        target.send("go")
        worker_tid[0] = int(target.wait_for("worker ").split()[3])
        # Events from both threads: the Python hooks are in (they go in after the handshake).
        enough.wait(timeout=60)
        target.send("eval")
        during = target.wait_for("eval ")
        tracer.send_signal(signal.SIGINT)
        reader.join(timeout=TIMEOUT)
        err = tracer.stderr.read()
        tracer.wait(timeout=TIMEOUT)
        assert tracer.returncode == 0, err[-3000:]
        assert f"detached from PID {target.pid}" in err, err[-3000:]
        assert during == "eval hooked\n", during
        assert worker_tid[0] in inner_tids, f"no inner() call on the worker started after the attach: {inner_tids}"
        assert target.pid in inner_tids, f"no inner() call on the main thread: {inner_tids}"
        return events
    finally:
        if tracer.poll() is None:
            tracer.kill()


def test_full_mode_attach_nests_and_detach_restores_the_eval_function(layertrace, python):
    target = Target([python, str(PROGRAM)], cwd=PROGRAM.parent, stdin=True)
    try:
        for cycle in range(2):
            events = attach_full(layertrace, target)
            # Frames running at the attach (work(), commands(), the module) return without a
            # call: those returns are left out, so nesting holds from the first event.
            check_nesting(events, balanced=False)
            calls = [e for e in events if e["kind"] == "py_call"]
            assert calls, f"cycle {cycle}: no Python calls"
            assert not any(e["symbol"] == "work" for e in calls if e["tid"] == target.pid), \
                f"cycle {cycle}: the main thread's work() began before the attach"
            target.send("eval")
            assert target.wait_for("eval ") == "eval default\n", f"cycle {cycle}: eval function not restored"
        target.send("stop")
        out, err = target.proc.communicate(timeout=TIMEOUT)
        assert target.proc.returncode == 0, out + err[-2000:]
        assert "all correct" in out, out
    finally:
        target.kill()
