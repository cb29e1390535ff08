"""Record -> replay round trips under the real probe: for every demo, `layertrace replay` of the
recording made with `run -o` prints byte for byte what the live run printed (path format in full
mode; jsonl in full mode without stacks, so every event field, count and per-thread order), and a
recording made in a copy of a demo whose .so files are then deleted still replays every symbol,
DWARF file:line and stack frame; a tracer killed mid-session leaves a file that replays up to its
last flushed block. Outputs are compared by streaming SHA-256 (a demo's jsonl with stacks runs to
hundreds of MB)."""
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from conftest import TIMEOUT, resolve_argv

ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def demo_names():
    directory = os.environ.get("LAYERTRACE_DEMOS_DIR")
    if not directory:
        return []
    with open(os.path.join(directory, "catalog.json")) as f:
        return [d["name"] for d in json.load(f)["demos"]]


def demo_argv(demo, python, cwd):
    argv = resolve_argv(demo["run"]["argv"], python)
    script = cwd / argv[1] if len(argv) > 1 else None
    if script is not None and script.exists() and "--repeat" in script.read_text():
        argv += ["--repeat", "1"]  # one iteration keeps recordings and outputs small
    return argv


class Digest:
    """SHA-256, line count and a few selected lines of a command's stdout, read as it streams."""

    def __init__(self, args, cwd, stderr_path, keep=None):
        self.sha = hashlib.sha256()
        self.lines = 0
        self.kept = []
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=err, env=ENV)
            for line in proc.stdout:
                self.sha.update(line)
                self.lines += 1
                if keep is not None and keep(line):
                    self.kept.append(line)
            self.status = proc.wait(timeout=TIMEOUT)
        self.stderr = stderr_path.read_text(errors="replace")

    def check(self, what):
        assert self.status == 0, f"{what} exited {self.status}\nstderr:\n{self.stderr[-3000:]}"
        assert self.lines > 0, f"{what} printed nothing\nstderr:\n{self.stderr[-3000:]}"


def round_trip(layertrace, cwd, argv, tmp_path, run_options, keep=None):
    recording = tmp_path / "trace.ltr"
    live = Digest([str(layertrace), "run", "--lossless", *run_options, "-o", str(recording), "--", *argv],
                  cwd, tmp_path / "live.err", keep)
    live.check("layertrace run")
    assert recording.stat().st_size > 64
    return live, recording


def replay(layertrace, recording, tmp_path, options, keep=None):
    r = Digest([str(layertrace), "replay", "-q", *options, str(recording)], tmp_path, tmp_path / "replay.err", keep)
    r.check("layertrace replay")
    return r


@pytest.mark.parametrize("name", demo_names())
def test_replay_prints_the_live_paths(layertrace, demos_dir, catalog, python, tmp_path, name):
    demo = next(d for d in catalog["demos"] if d["name"] == name)
    cwd = demos_dir / name
    live, recording = round_trip(layertrace, cwd, demo_argv(demo, python, cwd), tmp_path,
                                 ["--format", "path"])
    again = replay(layertrace, recording, tmp_path, ["--format", "path"])
    assert (again.lines, again.sha.hexdigest()) == (live.lines, live.sha.hexdigest()), (
        f"{name}: replayed paths differ from the live run's")


@pytest.mark.parametrize("name", demo_names())
def test_replay_prints_the_live_events(layertrace, demos_dir, catalog, python, tmp_path, name):
    demo = next(d for d in catalog["demos"] if d["name"] == name)
    cwd = demos_dir / name
    # Native enters and exits kept for a nesting check on the replayed side.
    keep = lambda line: b'"kind":"native_' in line or b'"kind":"ffi_' in line
    live, recording = round_trip(layertrace, cwd, demo_argv(demo, python, cwd), tmp_path,
                                 ["--format", "jsonl", "--no-stacks"], keep)
    again = replay(layertrace, recording, tmp_path, ["--format", "jsonl"], keep)
    assert again.lines == live.lines, f"{name}: {again.lines} replayed lines, {live.lines} live"
    assert again.sha.hexdigest() == live.sha.hexdigest(), f"{name}: replayed events differ from the live run's"
    assert again.kept == live.kept
    events = [json.loads(line) for line in again.kept]
    for e in events:
        e["kind"] = "native_enter" if e["kind"] in ("native_enter", "ffi_call") else e["kind"]
    # Only native/ffi events are kept, so check depth-balance per thread rather than full nesting.
    depth = {}
    for e in events:
        depth[e["tid"]] = depth.get(e["tid"], 0) + (1 if e["kind"] == "native_enter" else -1)
        assert depth[e["tid"]] >= 0, f"{name}: native exit without enter in the replay: {e}"


def test_replay_after_the_demo_objects_are_deleted(layertrace, demos_dir, catalog, python, tmp_path):
    name = "ctypes_complex_struct"
    demo = next(d for d in catalog["demos"] if d["name"] == name)
    copy = tmp_path / name
    shutil.copytree(demos_dir / name, copy, ignore=shutil.ignore_patterns("__pycache__"))
    objects = sorted(p for p in copy.rglob("*.so*") if p.is_file())
    assert any(p.name == "libstruct_demo.so" for p in objects), objects
    keep = lambda line: b"libstruct_demo.so" in line and (b'"native_enter"' in line or b'"ffi_call"' in line)
    live, recording = round_trip(layertrace, copy, demo_argv(demo, python, copy), tmp_path,
                                 ["--format", "jsonl", "--mode", "anchored"], keep)
    for p in objects:
        p.unlink()
    assert not any(copy.rglob("*.so*"))
    again = replay(layertrace, recording, tmp_path, ["--format", "jsonl"], keep)
    assert (again.lines, again.sha.hexdigest()) == (live.lines, live.sha.hexdigest()), (
        "the replay without the objects differs from the live run")

    events = [json.loads(line) for line in again.kept]
    natives = [e for e in events if e["kind"] == "native_enter" and e["module"] == "libstruct_demo.so"]
    assert {"transform_record", "free_output_record"} <= {e["symbol"] for e in natives}
    assert all(e["module_path"].startswith(str(copy)) for e in natives), "the copy's objects were traced"
    # DWARF locations of the (now deleted) library, on the events and in their stacks.
    located = [e for e in natives if e.get("src_file", "").endswith(".c") and e.get("src_line", 0) > 0]
    assert located, "no native event carries its source file:line"
    frames = [f for e in natives for f in e.get("stack", [])
              if f["module"] == "libstruct_demo.so" and f.get("file") and f.get("line", 0) > 0]
    assert frames, "no libstruct_demo.so stack frame with file:line"
    assert all(not f["function"].startswith("libstruct_demo.so+") for f in frames), "unsymbolized frames"


def test_killed_tracer_leaves_a_readable_recording(layertrace, demos_dir, python, tmp_path):
    """SIGKILL of the tracer and its program mid-session: the file replays up to the last block
    flushed (blocks are written at least every 100 ms) and then reports the cut with its offset.
    Every wait is bounded, so a slow machine gives a clear failure rather than a hang."""
    import queue
    import signal
    import threading
    import time
    recording = tmp_path / "killed.ltr"
    cwd = demos_dir / "c_ext_ctypes_add"
    proc = subprocess.Popen([str(layertrace), "run", "--format", "path", "-o", str(recording), "--",
                             python, "user.py", "--way", "ctypes", "--forever"],
                            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
                            start_new_session=True)
    # stderr is read by a thread until it closes: the wait for 'ready' can time out, and the pipe
    # never fills up (a full pipe would block the tracer's writes, and its flushing with them).
    stderr_lines = queue.Queue()

    def read_stderr():
        for line in proc.stderr:
            stderr_lines.put(line)
        stderr_lines.put(None)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    seen = []
    try:
        # The program's stdout goes to stderr under layertrace; 'ready' follows its first add().
        deadline = time.monotonic() + 120
        while True:
            try:
                line = stderr_lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail("the program did not print 'ready' within 120 s; stderr so far:\n" +
                            b"".join(seen).decode(errors="replace")[-2000:])
            if line is None:
                pytest.fail(f"the program never became ready (layertrace exited {proc.wait()}):\n" +
                            b"".join(seen).decode(errors="replace")[-2000:])
            seen.append(line)
            if line.strip() == b"ready":
                break
        # Wait (bounded) until the first add() has reached the file, as the flusher promises.
        deadline = time.monotonic() + 60
        while True:
            dump = subprocess.run([str(layertrace), "dump", str(recording)], capture_output=True, text=True,
                                  timeout=TIMEOUT)
            if " ffi_return ffi libffi.so.8:ffi_call " in dump.stdout:  # add() through ctypes has returned
                break
            assert time.monotonic() < deadline, "the add() events never reached the recording\n" + dump.stdout[-2000:]
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the tracer and the traced program, no goodbye
        proc.wait(timeout=TIMEOUT)
        reader.join(timeout=TIMEOUT)
    out = subprocess.run([str(layertrace), "replay", "-q", "--format", "jsonl", str(recording)],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 7, out.stderr
    assert "without its final record" in out.stderr and f"{recording}: offset " in out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    # add() is too short for a jump patch: its ctypes calls are ffi_call events naming it.
    assert any(e.get("kind") == "ffi_call" and e.get("target", {}).get("symbol") == "add" for e in events)
