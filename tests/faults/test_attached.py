"""Faults while `layertrace attach` is attached (issue 8): the target SIGKILLed (no Goodbye: the
tracer says so in one line and keeps the partial recording), the target crashing in a traced call
(the attached probe's fatal-signal handler flushes and says which signal), and a target whose own
SIGSEGV handler was installed before the probe arrived (the probe chains to it; recoveries keep
working, during and after the session). Repeat counts are the `rounds(...)` below."""
import re
import signal

import pytest

from conftest import attach_until, count, fault_target, parse_jsonl, read_result, rounds, run_layertrace, scaled

NO_GOODBYE = re.compile(r"^layertrace: the (target|program) exited without the probe's Goodbye \(os\._exit, a crash "
                        r"or SIGKILL\): up to (\d+) events buffered in the probe may be missing at the end of the "
                        r"trace$", re.M)


def attach_args(faults_lib, *more):
    return ["--format", "jsonl", "--mode", "anchored", "--no-stacks", "--probe", f"{faults_lib.name}:ft_*", *more]


def replay_of(layertrace, rec, events):
    """Replays the attach's recording: the same events as its live output; returns its stderr."""
    replay = run_layertrace(layertrace, ["replay", rec, "--format", "jsonl"])
    assert replay.returncode == 0, replay.stderr
    replayed, _ = parse_jsonl(replay.stdout)
    key = lambda e: (e["kind"], e.get("symbol"), e["tid"], e.get("depth"))
    assert [key(e) for e in replayed] == [key(e) for e in events]
    return replay.stderr


@pytest.mark.parametrize("round_", rounds(2))
def test_target_sigkilled_while_attached(layertrace, faults_lib, python, tmp_path, round_):
    out_path, err_path, rec = tmp_path / "out.jsonl", tmp_path / "err.txt", tmp_path / "rec.ltr"
    with fault_target(python, tmp_path, "loop", "--forever", "--faults-lib", faults_lib) as target:
        tracer = attach_until(layertrace, target, attach_args(faults_lib, "-o", rec), out_path, err_path,
                              2_000 * (1 + round_))
        # Until now every result was right: a wrong one ends the target (exit 3) before this.
        assert target.running(), target.err_text()
        target.proc.kill()
        assert target.wait() == -signal.SIGKILL
        attach_status = tracer.wait(timeout=scaled(60))  # the session ends with the target
    stderr = err_path.read_text()
    assert attach_status == 0, stderr[-2000:]
    # One clear line, with the bound; the end of the session is still said.
    said = NO_GOODBYE.findall(stderr)
    assert len(said) == 1 and said[0][0] == "target", stderr[-2000:]
    assert int(said[0][1]) > 0
    assert f"layertrace: PID {target.proc.pid} exited" in stderr, stderr[-2000:]
    # The partial recording is kept, holds what was printed, and says the same.
    events, _ = parse_jsonl(out_path.read_text())
    assert count(events, "native_enter", "ft_mix") >= 2_000 * (1 + round_)
    replayed = NO_GOODBYE.findall(replay_of(layertrace, rec, events))
    assert replayed == [("program", said[0][1])], replayed


@pytest.mark.parametrize("round_", rounds(2))
def test_crash_while_attached(layertrace, faults_lib, python, tmp_path, round_):
    out_path, err_path, rec = tmp_path / "out.jsonl", tmp_path / "err.txt", tmp_path / "rec.ltr"
    with fault_target(python, tmp_path, "loop", "--forever", "--crash-on-usr1", "--pace", "0.0005",
                      "--faults-lib", faults_lib) as target:
        tracer = attach_until(layertrace, target, attach_args(faults_lib, "-o", rec), out_path, err_path,
                              300 * (1 + round_))
        target.proc.send_signal(signal.SIGUSR1)  # the next iteration calls ft_crash: SIGSEGV
        assert target.wait() == -signal.SIGSEGV, target.err_text()
        attach_status = tracer.wait(timeout=scaled(60))
    stderr = err_path.read_text()
    assert attach_status == 0, stderr[-2000:]
    outcome = read_result(tmp_path / "result.json")
    assert outcome["correct"] and outcome["crashing"] == "segv", outcome
    # The attached probe is not our child's: the signal comes from its Goodbye, and the rings
    # were flushed, so nothing is said missing.
    assert f"layertrace: PID {target.proc.pid} was killed by signal 11 (" in stderr, stderr[-2000:]
    assert not NO_GOODBYE.search(stderr), stderr[-2000:]
    events, _ = parse_jsonl(out_path.read_text())
    crash_tid = next(e["tid"] for e in events if e["kind"] == "native_enter" and e["symbol"] == "ft_crash")
    # The last recorded events: the calls the crash cut are closed after them with lost exits.
    last_two = [e for e in events if e["tid"] == crash_tid and not e.get("lost")][-2:]
    assert [(e["kind"], e.get("symbol"), (e.get("target") or {}).get("symbol")) for e in last_two] == [
        ("ffi_call", "ffi_call", "ft_crash"), ("native_enter", "ft_crash", None)], last_two
    replay_says = replay_of(layertrace, rec, events)
    assert "the recorded program was killed by signal 11 (" in replay_says, replay_says


@pytest.mark.parametrize("round_", rounds(2))
def test_attached_probe_chains_to_the_programs_recovering_handler(layertrace, faults_lib, python, tmp_path,
                                                                  round_):
    # The target's SIGSEGV handler is installed before the attach: the probe's goes over it and
    # chains to it. Each fault is flushed, then recovered by the program; tracing goes on.
    out_path, err_path = tmp_path / "out.jsonl", tmp_path / "err.txt"
    recovered = b'"kind":"native_exit","role":"native","layer":3,"module":"libfaults.so","symbol":"ft_fault_and_recover"'
    with fault_target(python, tmp_path, "recover", "--installed", "--forever", "--every", 5, "--pace", "0.0005",
                      "--progress", 100, "--faults-lib", faults_lib) as target:
        tracer = attach_until(layertrace, target, attach_args(faults_lib), out_path, err_path, 50 * (1 + round_),
                              needle=recovered, what="recovered faults traced")
        tracer.send_signal(signal.SIGINT)  # detach: the probe gives the program its handler back
        attach_status = tracer.wait(timeout=scaled(60))
        # Still running and recovering, untraced, after the detach: two more progress reports
        # (each 100 calls, 20 recovered faults) from after it.
        assert target.running(), target.err_text()
        target.fifo.forget_pending()
        target.fifo.wait_for("progress")
        target.fifo.wait_for("progress")
        status = target.stop()
    stderr = err_path.read_text()
    assert attach_status == 0 and status == 0, (stderr[-2000:], target.err_text())
    outcome = read_result(tmp_path / "result.json")
    assert outcome["correct"], outcome
    events, _ = parse_jsonl(out_path.read_text())
    traced = count(events, "native_exit", "ft_fault_and_recover")
    assert 50 * (1 + round_) <= traced and traced + 20 <= outcome["faults"], (traced, outcome)
    assert f"detached from PID {target.proc.pid}" in stderr and not NO_GOODBYE.search(stderr), stderr[-2000:]
