"""`layertrace serve` / `layertrace view` (issue 8, docs/cli/serve.md): a viewer prints what the
traced session printed; serve refuses a missing or wrong token (the viewer says so and exits 9,
the server goes on serving the right viewer); a non-loopback address without a token refuses to
start; a viewer that dies or stops reading never hurts the target or the session."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import (Fifo, OutputWatch, base_trace_args, check_nesting, count, fault_target, parse_jsonl,
                      read_result, run_layertrace, scaled, target_argv, wait_for_trace)

TOKEN = "projector-token-0123456789abcdef"
REFUSED = 9  # docs/cli/exit-codes.md
USAGE = 2
MIX = b'"symbol":"ft_mix"'


def env_without_token(**more):
    env = {k: v for k, v in os.environ.items() if k != "LAYERTRACE_TOKEN"}
    env.update(more)
    return env


class Server:
    """A `layertrace serve ...` in the background; its stderr is a file we read for the address."""

    def __init__(self, layertrace, args, tmp_path, cwd=None, env=None):
        self.err_path = tmp_path / "serve.err"
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([str(layertrace), "serve", *map(str, args)], cwd=cwd, stdout=subprocess.DEVNULL,
                                     stderr=self.err, env=env if env is not None else env_without_token())

    def address(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"listening on (\S+)", self.err_path.read_text())
            if found:
                return found.group(1)
            assert self.proc.poll() is None, f"serve ended early: {self.stderr()}"
            time.sleep(0.05)
        raise AssertionError(f"serve printed no address within {timeout} s: {self.stderr()}")

    def wait(self, timeout=240):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # never leave a session running into the next test
            self.proc.wait()
            raise
        finally:
            self.err.close()

    def stderr(self):
        return self.err_path.read_text()


def view(layertrace, address, *args, token=TOKEN, timeout=240):
    env = env_without_token(**({"LAYERTRACE_TOKEN": token} if token is not None else {}))
    return subprocess.run([str(layertrace), "view", address, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def start_view(layertrace, address, out, err, *args):
    return subprocess.Popen([str(layertrace), "view", address, "--format", "jsonl", *map(str, args)], stdout=out,
                            stderr=err, env=env_without_token(LAYERTRACE_TOKEN=TOKEN))


VOLATILE = ("ts_ns", "tid", "seq", "base", "address", "duration_ns", "pid")


def without_volatile(value):
    if isinstance(value, dict):
        return {k: without_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [without_volatile(v) for v in value]
    return value


def comparable(text):
    """Events in order and the set of modules, without what differs between two runs of the same
    program (time, thread and process ids, load addresses; modules load on their own schedule)."""
    events, modules = parse_jsonl(text)
    strip = lambda o: json.dumps(without_volatile(o), sort_keys=True)
    return [strip(e) for e in events], sorted({strip(m) for m in modules})


def events_then_modules(text):
    """A late viewer gets the module map first: the same event lines in the same order, the same
    module lines (as a multiset) in another place."""
    lines = text.splitlines()
    return ([l for l in lines if not l.startswith('{"kind":"module_load"')],
            sorted(l for l in lines if l.startswith('{"kind":"module_load"')))


def test_view_prints_what_the_session_printed(layertrace, demos_dir, python, tmp_path):
    demo = demos_dir / "c_ext_ctypes_add"
    # Lossless: two runs of the demo then print the same events (a loaded machine drops otherwise).
    # --c-calls all: every builtin's call too, so that the trace is long (over 1000 lines).
    trace = ["--format", "jsonl", "--mode", "anchored", "--no-stacks", "--lossless", "--c-calls", "all"]
    server = Server(layertrace, ["--listen", "127.0.0.1:0", "--wait-viewers", "1", "run", *trace,
                                 "--text-output", tmp_path / "served.jsonl", "-o", tmp_path / "served.ltr", "--",
                                 python, "user.py"], tmp_path, cwd=demo, env=env_without_token(LAYERTRACE_TOKEN=TOKEN))
    address = server.address()
    viewed = view(layertrace, address, "--format", "jsonl")
    assert server.wait() == 0, server.stderr()
    assert viewed.returncode == 0, viewed.stderr
    served = (tmp_path / "served.jsonl").read_text()
    assert served.count("\n") > 1000 and viewed.stdout == served
    # The same bytes as the server's own recording replayed, and the same trace as a plain run.
    replayed = run_layertrace(layertrace, ["replay", "-q", tmp_path / "served.ltr", "--format", "jsonl"])
    assert replayed.returncode == 0 and replayed.stdout == viewed.stdout, replayed.stderr
    plain = run_layertrace(layertrace, ["run", *trace, "--", python, "user.py"], cwd=demo)
    assert plain.returncode == 0, plain.stderr
    assert comparable(viewed.stdout) == comparable(plain.stdout)
    assert "viewer 127.0.0.1:" in server.stderr() and "received the whole session" in server.stderr()


def test_late_viewer_gets_the_whole_session(layertrace, faults_lib, python, tmp_path):
    fifo = Fifo(tmp_path / "ready")
    result = tmp_path / "result.json"
    server = Server(layertrace, ["--listen", "127.0.0.1:0", "--linger", "60", "--drain", "30", "--history", 1_000_000,
                                 *base_trace_args(faults_lib, "--text-output", tmp_path / "served.jsonl"), "--",
                                 *target_argv(python, "loop", result, "--calls", 5000, "--faults-lib", faults_lib,
                                              ready=fifo.path)],
                    tmp_path, env=env_without_token(LAYERTRACE_TOKEN=TOKEN))
    address = server.address()
    fifo.wait_for("done")
    time.sleep(0.5)  # the program is over (or nearly): all of it is history by now
    viewed = view(layertrace, address, "--format", "jsonl")
    server.proc.send_signal(signal.SIGTERM)  # ends the linger; the session itself is over
    server.wait()
    fifo.close()
    assert viewed.returncode == 0, viewed.stderr
    assert events_then_modules(viewed.stdout) == events_then_modules((tmp_path / "served.jsonl").read_text())
    events, _ = parse_jsonl(viewed.stdout)
    assert count(events, "native_enter", "ft_mix") == read_result(result)["calls"] == 5000


def test_missing_and_wrong_token_are_refused(layertrace, faults_lib, python, tmp_path):
    result = tmp_path / "result.json"
    server = Server(layertrace, ["--listen", "127.0.0.1:0", "--token-file", write_token(tmp_path), "--wait-viewers", 1,
                                 *base_trace_args(faults_lib), "--",
                                 *target_argv(python, "loop", result, "--calls", 200, "--faults-lib", faults_lib)],
                    tmp_path)
    address = server.address()
    missing = view(layertrace, address, token=None)
    wrong = view(layertrace, address, token=TOKEN[:-1] + "x")
    longer = view(layertrace, address, token=TOKEN + "x")
    for refused, why in ((missing, "missing token"), (wrong, "wrong token"), (longer, "wrong token")):
        assert refused.returncode == REFUSED, refused.stderr
        assert refused.stdout == ""  # nothing of the session was sent
        lines = refused.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"layertrace: {address} refused this viewer: {why}"), lines
    # The server logged each refusal and still serves the right token (which starts the program).
    good = view(layertrace, address, "--format", "jsonl")
    assert server.wait() == 0, server.stderr()
    assert good.returncode == 0, good.stderr
    events, _ = parse_jsonl(good.stdout)
    assert count(events, "native_enter", "ft_mix") == read_result(result)["calls"] == 200
    log = server.stderr()
    assert log.count(": missing token") == 1 and log.count(": wrong token") == 2, log
    assert "1 viewer(s) served, 3 refused" in log


def write_token(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


def test_non_loopback_address_needs_a_token(layertrace, python, tmp_path):
    marker = tmp_path / "ran"
    program = [python, "-c", f"open({str(marker)!r}, 'w').close()"]
    refused = subprocess.run([str(layertrace), "serve", "--listen", "0.0.0.0:0", "run", "--", *program],
                             capture_output=True, text=True, env=env_without_token(), timeout=60)
    assert refused.returncode == USAGE, refused.stderr
    assert refused.stderr.splitlines() == [
        "layertrace: refusing to listen on 0.0.0.0:0 without a token: other machines can reach it; "
        "give one with --token-file FILE or LAYERTRACE_TOKEN"], refused.stderr
    assert not marker.exists(), "the program ran although serve refused to start"
    # With a token given on purpose it listens on every address, and viewers present the token.
    server = Server(layertrace, ["--listen", "0.0.0.0:0", "--token-file", write_token(tmp_path), "--wait-viewers", 1,
                                 "run", "--format", "jsonl", "--mode", "anchored", "--no-stacks", "--", *program],
                    tmp_path)
    port = server.address().rsplit(":", 1)[1]
    assert view(layertrace, f"127.0.0.1:{port}", token="nope").returncode == REFUSED
    viewed = view(layertrace, f"127.0.0.1:{port}", "--format", "jsonl")
    assert server.wait() == 0 and viewed.returncode == 0, server.stderr() + viewed.stderr
    assert marker.exists()


def test_token_argument_is_warned_about(layertrace, python, tmp_path):
    proc = subprocess.run([str(layertrace), "serve", "--listen", "127.0.0.1:0", "--token", TOKEN, "run", "--",
                           python, "-c", "pass"], capture_output=True, text=True, env=env_without_token(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "warning: --token is visible to every user of this machine in `ps`" in proc.stderr
    assert TOKEN not in proc.stderr  # the server never echoes a token it was given


def test_generated_token_on_loopback(layertrace, python, tmp_path):
    server = Server(layertrace, ["--listen", "127.0.0.1:0", "--wait-viewers", 1, "run", "--format", "jsonl", "--",
                                 python, "-c", "pass"], tmp_path)
    address = server.address()
    token = re.search(r"token ([0-9a-f]{32}) \(generated", server.stderr()).group(1)
    assert view(layertrace, address, token=None).returncode == REFUSED
    viewed = view(layertrace, address, "--format", "jsonl", token=token)
    assert server.wait() == 0 and viewed.returncode == 0, server.stderr() + viewed.stderr


@pytest.mark.parametrize("round_", range(3))
def test_viewer_killed_mid_stream(layertrace, faults_lib, python, tmp_path, round_):
    fifo = Fifo(tmp_path / "ready")
    result = tmp_path / "result.json"
    served_path, viewed_path = tmp_path / "served.jsonl", tmp_path / "viewed.jsonl"
    # Lossless: the session goes at the tracer's pace, so had the dead viewer held the session
    # back, the target would hang here; and every call must be in the session's output.
    server = Server(layertrace, ["--listen", "127.0.0.1:0", "--wait-viewers", 1,
                                 *base_trace_args(faults_lib, "--lossless", "--text-output", served_path), "--",
                                 *target_argv(python, "loop", result, "--forever", "--faults-lib", faults_lib,
                                              ready=fifo.path)],
                    tmp_path, env=env_without_token(LAYERTRACE_TOKEN=TOKEN))
    with open(viewed_path, "w") as out:
        viewer = start_view(layertrace, server.address(), out, subprocess.DEVNULL)
        target = fifo.wait_for("ready")
        OutputWatch(viewed_path, MIX).wait_for(1000 * (1 + round_), 60, alive=lambda: viewer.poll() is None,
                                               what="ft_mix lines at the viewer")
        viewer.kill()
        viewer.wait()
    # The session goes on without its viewer: more calls, then a normal stop.
    before = OutputWatch(served_path, MIX).poll()
    OutputWatch(served_path, MIX).wait_for(before + 2000, 60, what="ft_mix lines after the viewer died")
    os.kill(target, signal.SIGTERM)
    assert server.wait() == 0, server.stderr()
    fifo.close()
    outcome = read_result(result)
    assert outcome["correct"] and outcome["calls"] > 0, outcome
    events, _ = parse_jsonl(served_path.read_text())
    check_nesting(events, balanced=False)  # SIGTERM may land inside a call
    assert count(events, "dropped") == 0
    assert count(events, "native_enter", "ft_mix") == outcome["calls"]
    assert "disconnected" in server.stderr(), server.stderr()


def test_stopped_viewer_never_blocks_the_session(layertrace, faults_lib, python, tmp_path):
    """A viewer that stops reading (SIGSTOP) for the whole session: the target runs at full speed,
    the viewer's queue overflows, and when it resumes it is told exactly how many events it lost.
    --lossless makes the session exact: had the viewer held the session back, it would hang here."""
    fifo = Fifo(tmp_path / "ready")
    result = tmp_path / "result.json"
    served_path, viewed_path, viewer_err = tmp_path / "served.jsonl", tmp_path / "viewed.jsonl", tmp_path / "v.err"
    calls = 100_000
    server = Server(layertrace, ["--listen", "127.0.0.1:0", "--wait-viewers", 1, "--viewer-queue", 1000,
                                 "--drain", 120,
                                 *base_trace_args(faults_lib, "--lossless", "--text-output", served_path), "--",
                                 *target_argv(python, "loop", result, "--calls", calls, "--faults-lib", faults_lib,
                                              ready=fifo.path)],
                    tmp_path, env=env_without_token(LAYERTRACE_TOKEN=TOKEN))
    with open(viewed_path, "w") as out, open(viewer_err, "w") as err:
        viewer = start_view(layertrace, server.address(), out, err)
        # Stopped before the program starts (serve waits for it to connect), so it reads nothing.
        while "connected" not in server.stderr():
            time.sleep(0.02)
        viewer.send_signal(signal.SIGSTOP)
        target = fifo.wait_for("done", timeout=180)
        # The program ends while the viewer is still stopped.
        while os.path.exists(f"/proc/{target}"):
            time.sleep(0.05)
        viewer.send_signal(signal.SIGCONT)
        assert viewer.wait(timeout=120) == 0, viewer_err.read_text()
    assert server.wait() == 0, server.stderr()
    fifo.close()
    assert read_result(result)["calls"] == calls and read_result(result)["correct"]
    served, _ = parse_jsonl(served_path.read_text())
    viewed, _ = parse_jsonl(viewed_path.read_text())
    assert count(served, "native_enter", "ft_mix") == calls
    lost = re.findall(r"events were not sent to it \((\d+) in all\)", viewer_err.read_text())
    assert lost, viewer_err.read_text()
    total_lost = int(lost[-1])
    assert total_lost > 0 and len(viewed) + total_lost == len(served), (len(viewed), total_lost, len(served))
    assert f"{total_lost} events not sent to viewers that fell behind" in server.stderr()



@pytest.mark.parametrize("round_", range(2))
def test_serve_attach_to_a_running_target(layertrace, faults_lib, python, tmp_path, round_):
    """`serve attach PID`: a viewer sees the attached target's events (the session's own output),
    and detaching (Ctrl-C to serve) leaves the target running with correct results. The target is
    throttled (a paced loop): an unthrottled one makes hundreds of MB of trace in seconds."""
    served_path, viewed_path = tmp_path / "served.jsonl", tmp_path / "viewed.jsonl"
    with fault_target(python, tmp_path, "loop", "--forever", "--pace", "0.001", "--progress", 100,
                      "--faults-lib", faults_lib) as target:
        server = Server(layertrace, ["--listen", "127.0.0.1:0", "--wait-viewers", 1,
                                     "attach", target.pid, "--format", "jsonl", "--mode", "anchored", "--no-stacks",
                                     "--probe", f"{faults_lib.name}:ft_*", "--text-output", served_path],
                        tmp_path, env=env_without_token(LAYERTRACE_TOKEN=TOKEN))
        with open(viewed_path, "w") as out, open(tmp_path / "viewer.err", "w") as viewer_err:
            viewer = start_view(layertrace, server.address(), out, viewer_err)
            wait_for_trace(viewed_path, 300 * (1 + round_), viewer, what="hooked calls at the viewer")
            server.proc.send_signal(signal.SIGINT)  # Ctrl-C: attach detaches, serve ends
            assert server.wait() == 0, server.stderr()
            assert viewer.wait(timeout=scaled(60)) == 0, (tmp_path / "viewer.err").read_text()
        # Detached: the target goes on, untraced and right (two more progress reports after it).
        assert target.running(), target.err_text()
        target.fifo.forget_pending()
        target.fifo.wait_for("progress")
        target.fifo.wait_for("progress")
        status = target.stop()
    assert status == 0, target.err_text()
    outcome = read_result(tmp_path / "result.json")
    assert outcome["correct"], outcome
    assert f"detached from PID {target.pid}" in server.stderr(), server.stderr()
    # The viewer printed exactly what the session printed: the attached target's hooked calls.
    served = served_path.read_text()
    assert viewed_path.read_text() == served
    events, _ = parse_jsonl(served)
    traced = count(events, "native_enter", "ft_mix")
    assert 300 * (1 + round_) <= traced and traced + 100 <= outcome["calls"], (traced, outcome)
    assert all(e["tid"] == target.pid for e in events if e.get("symbol") == "ft_mix")
