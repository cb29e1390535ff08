"""`layertrace attach` on a running demo: the expected path shows, every patched byte and GOT slot
is back after the detach, the demo's results stay right, and ten cycles on one process work."""
import json
import os
import re
import signal
import subprocess
import time

from layertrace_testing.watch import OutputWatch

from conftest import (TIMEOUT, attach, attach_until_paths, check_nesting, demo_target, differences, path_in_lines, regions,
                      snapshot)

DEMO = "ctypes_complex_struct"


def test_attach_shows_path_and_detach_restores_every_byte(layertrace, demos_dir, python, catalog):
    target = demo_target(demos_dir, python, DEMO)
    try:
        where = regions(target.pid)
        before = snapshot(target.pid, where)
        tracer = subprocess.Popen([str(layertrace), "attach", str(target.pid), "--format", "path"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The tracer's "attached" line is its readiness signal; then the hooks go in.
        attached = tracer.stderr.readline()
        assert re.match(rf"layertrace: attached to PID {target.pid} in [0-9.]+ ms", attached), attached
        # While attached, some code or GOT slot of the program must be patched (else this test
        # could not fail). Hooks are installed right after the handshake: look a few times.
        during = []
        for _ in range(100):
            during = differences(before, snapshot(target.pid, where))
            if during:
                break
            time.sleep(0.05)
        assert during, "no byte of the program changed while attached: were any hooks installed?"
        # Stay attached until every expected path was printed (the demo loops forever).
        wanted = list(catalog[DEMO]["paths"])
        seen = []
        for line in tracer.stdout:
            seen.append(line)
            wanted = [p for p in wanted if not path_in_lines(p["hops"], line)]
            if not wanted or len(seen) > 200000:
                break
        tracer.send_signal(signal.SIGINT)
        out, err = tracer.communicate(timeout=TIMEOUT)
        assert tracer.returncode == 0, err[-3000:]
        assert f"detached from PID {target.pid}" in err, err[-3000:]
        assert not wanted, f"paths not seen while attached: {[p['name'] for p in wanted]}:\n" + "".join(seen[:30])
        assert differences(before, snapshot(target.pid, where), target.pid) == [], "bytes not restored after detach"
        assert target.alive()
        target.terminate_and_check()
    finally:
        target.kill()


def test_ten_attach_detach_cycles(layertrace, demos_dir, python, catalog):
    target = demo_target(demos_dir, python, DEMO)
    try:
        where = regions(target.pid)
        before = snapshot(target.pid, where)
        transform = catalog[DEMO]["paths"][0]
        for cycle in range(10):
            missing, _lines, err, status = attach_until_paths(layertrace, target.pid, [transform])
            assert status == 0, f"cycle {cycle}: exit {status}: {err[-3000:]}"
            assert not missing, f"cycle {cycle}: no transform() path:\n{err}"
            assert f"detached from PID {target.pid}" in err, err
            if cycle > 0:
                assert "probe already loaded" in err, err
            assert differences(before, snapshot(target.pid, where), target.pid) == [], f"cycle {cycle}: bytes not restored"
            assert target.alive(), f"cycle {cycle}: the target died"
        target.terminate_and_check()
    finally:
        target.kill()


def test_second_ctrl_c_skips_the_backlog(layertrace, demos_dir, python, tmp_path):
    # After its first events nobody reads the tracer's output, so its decoder stalls on the full
    # pipe and what the looping demo sends piles up undecoded (pool, then spool). The detach
    # (Ctrl-C) cannot finish while the decoder is stuck, so the tracer says it is still decoding;
    # the second Ctrl-C skims the rest: the tracer ends, says how many events it skipped, counts
    # them as dropped, and the target goes on untouched.
    target = demo_target(demos_dir, python, DEMO)
    err_path = tmp_path / "err.txt"
    try:
        with open(err_path, "w") as err:
            tracer = subprocess.Popen([str(layertrace), "attach", str(target.pid), "--format", "jsonl", "--no-stacks"],
                                      stdout=subprocess.PIPE, stderr=err)
        # Raw reads: communicate() below reads the descriptor itself, past any Python buffer.
        head = b""
        while head.count(b"\n") < 100:
            chunk = os.read(tracer.stdout.fileno(), 1 << 16)
            assert chunk, "the tracer ended before its first 100 events"
            head += chunk
        tracer.send_signal(signal.SIGINT)
        OutputWatch(err_path, b"(Ctrl-C again to skip it)").wait_for(
            1, 120, alive=lambda: tracer.poll() is None, what="the 'still decoding' notice after the detach")
        tracer.send_signal(signal.SIGINT)
        out, _ = tracer.communicate(timeout=TIMEOUT)
        err = err_path.read_text()
        assert tracer.returncode == 0, err[-3000:]
        assert f"detached from PID {target.pid}" in err, err[-3000:]
        skipped = re.search(r"detach: (\d+) events were skipped, not decoded", err)
        assert skipped and int(skipped.group(1)) > 0, err[-3000:]
        # The skipped events are counted as dropped and marked in the output, which nests.
        dropped = re.search(r"the probe dropped (\d+) events", err)
        assert dropped and int(dropped.group(1)) >= int(skipped.group(1)), err[-3000:]
        events = [json.loads(line) for line in (head + out).split(b"\n") if line]
        assert sum(e["dropped"] for e in events if e["kind"] == "dropped") >= int(skipped.group(1))
        check_nesting([e for e in events if "tid" in e])
        assert target.alive()
        target.terminate_and_check()
    finally:
        target.kill()


def test_attach_in_jsonl_and_tree_formats(layertrace, demos_dir, python):
    target = demo_target(demos_dir, python, DEMO)
    try:
        proc = attach(layertrace, target.pid, "--format", "jsonl", "--duration", "0.7", "--no-stacks")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert '"symbol":"transform_record"' in proc.stdout.replace(" ", ""), proc.stdout[:2000]
        proc = attach(layertrace, target.pid, "--format", "tree", "--duration", "0.7", "--color", "never")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "transform_record" in proc.stdout
        target.terminate_and_check()
    finally:
        target.kill()


def test_session_ends_when_the_target_exits(layertrace, demos_dir, python):
    target = demo_target(demos_dir, python, DEMO)
    try:
        tracer = subprocess.Popen([str(layertrace), "attach", str(target.pid), "--format", "path"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert "attached to PID" in tracer.stderr.readline()
        target.terminate_and_check()
        out, err = tracer.communicate(timeout=TIMEOUT)
        assert tracer.returncode == 0, err[-2000:]
        assert f"PID {target.pid} exited" in err, err[-2000:]
    finally:
        target.kill()


def test_ps_lists_the_demo_with_its_version(layertrace, demos_dir, python):
    target = demo_target(demos_dir, python, DEMO)
    try:
        proc = subprocess.run([str(layertrace), "ps", "--format", "jsonl"], capture_output=True, text=True,
                              timeout=TIMEOUT)
        assert proc.returncode == 0, proc.stderr
        import json
        rows = {row["pid"]: row for row in map(json.loads, proc.stdout.splitlines())}
        assert target.pid in rows, proc.stdout
        row = rows[target.pid]
        version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                                 capture_output=True, text=True).stdout.strip()
        assert row["version"] == version
        assert "user.py --forever" in row["command"]
        text = subprocess.run([str(layertrace), "ps"], capture_output=True, text=True, timeout=TIMEOUT).stdout
        assert any(line.split()[:2] == [str(target.pid), version] for line in text.splitlines()[1:]), text
        target.terminate_and_check()
    finally:
        target.kill()
