"""Security checks (issue 8): another uid can neither reach the tracer's socket nor feed the
tracer events (0700 directory + SO_PEERCRED on the tracer's side), the probe refuses a listener of
another uid, and path-ish or shell-ish text in control messages and recordings is only ever data:
nothing is executed and nothing is written outside the files asked for. Runs as root (the CI
machine); the other uid is `nobody` (65534), reached with setuid in a forked child."""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile

import pytest

from conftest import HERE, parse_jsonl, run_layertrace

NOBODY = 65534
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another uid")


def test_other_uid_cannot_reach_or_feed_the_tracer(layertrace, faults_lib, python, tmp_path):
    # libfaults.so stands in for the probe (a valid library without a constructor): the socket
    # stays free for the intruder program to play with.
    # A runtime directory of our own (0700): the intruder may open it up without touching the
    # shared /tmp/layertrace-0.
    runtime = tempfile.mkdtemp(prefix="lt-sec-", dir="/tmp")
    try:
        proc = run_layertrace(layertrace, ["run", "--text-output", tmp_path / "trace.txt", "--",
                                           python, HERE / "programs" / "socket_intruder.py"],
                              env_extra={"LAYERTRACE_PROBE": str(faults_lib), "XDG_RUNTIME_DIR": runtime},
                              timeout=120)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["dir_mode"] == "0o700" and report["dir_uid"] == report["our_uid"] == 0, report
    # First lock: nobody cannot even connect through the private directory.
    assert report["nobody_through_dir"] == {"connected": False, "error": "EACCES"}, report
    # Second lock: with the directory opened on purpose, nobody connects but the tracer checks the
    # peer's uid, closes, and never sends it a Welcome.
    opened = report["nobody_lock_opened"]
    assert opened.get("connected") is True and opened.get("reply_bytes", 0) == 0, report
    # Third lock: a process of our own uid that is not the launched one (nor an exec of it) is
    # refused as well.
    child = report["our_child"]
    assert child.get("connected") is True and child.get("reply_bytes", 0) == 0, report
    # The legitimate peer (the launched process) gets the Welcome (type 2, magic LTRW).
    assert report["ours_reply_type"] == 2 and report["ours_reply_magic"] == "0x5752544c", report


def test_probe_refuses_a_listener_of_another_uid(layertrace, faults_lib, python, tmp_path):
    probe = os.environ["LAYERTRACE_PROBE"]
    # A directory nobody owns, reachable by both (pytest's tmp_path is inside a 0700 directory).
    sock_dir = pathlib.Path(tempfile.mkdtemp(prefix="lt-nobody-", dir="/tmp"))
    os.chown(sock_dir, NOBODY, NOBODY)
    path = str(sock_dir / "probe.sock")
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the listener, as nobody: counts every byte any probe sends it
        try:
            os.close(r)
            os.close(ready_r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(path)
            os.chmod(path, 0o777)
            listener.listen(4)
            os.write(ready_w, b"1")
            listener.settimeout(30)
            received = 0
            try:
                conn, _ = listener.accept()
                conn.settimeout(30)
                while chunk := conn.recv(65536):
                    received += len(chunk)
            except socket.timeout:
                pass
            os.write(w, str(received).encode())
        finally:
            os._exit(0)
    os.close(w)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b"1"
    env = dict(os.environ, LD_PRELOAD=probe, LAYERTRACE_SOCKET=path)
    code = ("import ctypes,sys; lib=ctypes.CDLL(sys.argv[1]); lib.ft_mix.restype=ctypes.c_int64;"
            "lib.ft_mix.argtypes=[ctypes.c_int64]; print(lib.ft_mix(12345))")
    target = subprocess.run([python, "-c", code, str(faults_lib)], env=env, capture_output=True, text=True,
                            timeout=60)
    received = int(os.read(r, 64) or b"-1")
    os.close(r)
    os.waitpid(pid, 0)
    shutil.rmtree(sock_dir, ignore_errors=True)
    assert target.returncode == 0, target.stderr
    assert target.stdout.strip() == "119492399968978"  # ft_mix(12345): the program ran, untraced
    assert "refusing to trace" in target.stderr and "65534" in target.stderr, target.stderr
    assert received == 0, f"the probe sent {received} bytes to a listener of another uid"


WEIRD_DIR = "x $(touch PWNED_DIR) `touch PWNED_TICK` ; touch PWNED_SEMI"
WEIRD_SCRIPT = "a;touch PWNED_SCRIPT;'b\"\nc.py"


def test_path_like_fields_are_only_data(layertrace, faults_lib, python, tmp_path):
    """Shell syntax and path traversal in --probe specs (the Welcome), in the program's path, its
    arguments and working directory (all stored in the recording): replay, dump and export treat
    them as text, never run them, and write only the file they are told to."""
    work = tmp_path / WEIRD_DIR
    work.mkdir()
    script = work / WEIRD_SCRIPT
    script.write_text("import ctypes, sys\nlib = ctypes.CDLL(sys.argv[1])\nlib.ft_mix.restype = ctypes.c_int64\n"
                      "lib.ft_mix.argtypes = [ctypes.c_int64]\nassert lib.ft_mix(12345) == 119492399968978\n")
    rec = tmp_path / "rec.ltr"
    evil_specs = ["../../../../etc/passwd:*", "$(touch PWNED_SPEC):*", f"{faults_lib.name}:ft_*;touch PWNED_GLOB",
                  "/proc/self/mem:*", f"{faults_lib.name}:../../*"]
    args = ["run", "--format", "jsonl", "-o", rec, "-C", work]
    for spec in evil_specs:
        args += ["--probe", spec]
    before = snapshot(tmp_path)
    proc = run_layertrace(layertrace, [*args, "--", python, script, faults_lib, "--arg=$(touch PWNED_ARG)", "../../x"],
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events, modules = parse_jsonl(proc.stdout)
    assert events and any(m.get("module_path", "").endswith(WEIRD_SCRIPT) for m in modules)
    outputs = {rec}
    for command in (["replay", rec, "--format", "jsonl"], ["dump", rec]):
        result = run_layertrace(layertrace, command, cwd=work, timeout=120)
        assert result.returncode == 0, result.stderr
    for fmt in ("chrome", "speedscope"):
        out = tmp_path / f"export.{fmt}.json"
        result = run_layertrace(layertrace, ["export", rec, "--format", fmt, "-O", out], cwd=work, timeout=120)
        assert result.returncode == 0, result.stderr
        json.loads(out.read_text())
        outputs.add(out)
    after = snapshot(tmp_path)
    created = sorted(str(p) for p in after - before - outputs)
    assert created == [], f"files appeared: {created}"
    assert not list(pathlib.Path("/").glob("PWNED*")) and not list(pathlib.Path.cwd().glob("PWNED*"))


def snapshot(root):
    return {p for p in root.rglob("*")}
