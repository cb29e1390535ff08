"""Crashes inside a traced native call (issue 8): the probe's fatal-signal handlers get the events
still in its rings out before the process dies, so the call that crashed is the last thing in the
trace, the recording and `replay`; the process dies of the same signal as without the probe. A
fault the program catches itself goes on being the program's business: results right, tracing on.
Repeat counts are the `rounds(...)` below (docs/reliability.md)."""
import re
import signal

import pytest

from conftest import base_trace_args, check_nesting, count, parse_jsonl, read_result, rounds, run_layertrace, \
    target_argv

FAULT_SIGNALS = {"segv": signal.SIGSEGV, "bus": signal.SIGBUS, "ill": signal.SIGILL, "fpe": signal.SIGFPE,
                 "abrt": signal.SIGABRT}
NO_GOODBYE = re.compile(r"without the probe's Goodbye")
CALLS = 2000


def crash_in_native_call(layertrace, faults_lib, python, tmp_path, fault, *more):
    """Runs `crash`: CALLS checked ft_mix calls, then ft_crash(fault) through ctypes, lossless,
    recorded. Returns (the run, its events, the outcome file, the recording)."""
    result, rec = tmp_path / "result.json", tmp_path / "rec.ltr"
    proc = run_layertrace(layertrace, [*base_trace_args(faults_lib, "--lossless", "-o", rec), "--",
                                       *target_argv(python, "crash", result, "--calls", CALLS, "--fault", fault,
                                                    "--faults-lib", faults_lib, *more)])
    events, _ = parse_jsonl(proc.stdout)
    return proc, events, read_result(result), rec


def check_crash_reported(layertrace, proc, events, outcome, rec, fault):
    sig = FAULT_SIGNALS[fault]
    # The process died of its own signal, as it would have untraced (the shell's 128+N).
    assert proc.returncode == 128 + sig, proc.stderr[-3000:]
    assert f"the program was killed by signal {int(sig)} (" in proc.stderr, proc.stderr[-3000:]
    assert outcome["correct"] and outcome["calls"] == CALLS and "survived" not in outcome, outcome
    # The handler flushed the rings and said Goodbye: nothing is missing, nothing is said missing.
    assert not NO_GOODBYE.search(proc.stderr), proc.stderr[-2000:]
    assert count(events, "native_enter", "ft_mix") == count(events, "native_exit", "ft_mix") == CALLS
    # The crashing call is the last thing the thread did: its ffi_call and the hooked entry into
    # ft_crash, never an exit of its own (the tracer closes the calls at the end, lost).
    main_tid = next(e["tid"] for e in events if e["kind"] == "native_enter" and e["symbol"] == "ft_crash")
    last_two = [e for e in events if e["tid"] == main_tid and not e.get("lost")][-2:]
    assert [(e["kind"], e.get("symbol"), (e.get("target") or {}).get("symbol")) for e in last_two] == [
        ("ffi_call", "ffi_call", "ft_crash"), ("native_enter", "ft_crash", None)], last_two
    assert count(events, "native_exit", "ft_crash", lost=None) == 0
    assert count(events, "native_exit", "ft_crash", lost=True) == 1
    check_nesting(events)
    # The recording holds the same events and says the same about the ending.
    replay = run_layertrace(layertrace, ["replay", rec, "--format", "jsonl"])
    assert replay.returncode == 0, replay.stderr
    replayed, _ = parse_jsonl(replay.stdout)
    key = lambda e: (e["kind"], e.get("symbol"), e["tid"], e.get("depth"))
    assert [key(e) for e in replayed] == [key(e) for e in events]
    assert f"the recorded program was killed by signal {int(sig)} (" in replay.stderr, replay.stderr
    assert not NO_GOODBYE.search(replay.stderr), replay.stderr


@pytest.mark.parametrize("round_", rounds(2))
@pytest.mark.parametrize("fault", sorted(FAULT_SIGNALS))
def test_crash_in_native_call_keeps_its_last_events(layertrace, faults_lib, python, tmp_path, fault, round_):
    proc, events, outcome, rec = crash_in_native_call(layertrace, faults_lib, python, tmp_path, fault)
    check_crash_reported(layertrace, proc, events, outcome, rec, fault)


@pytest.mark.parametrize("round_", rounds(2))
def test_crash_under_python_faulthandler(layertrace, faults_lib, python, tmp_path, round_):
    # faulthandler, enabled after the probe, chains to the probe's handler: both do their work.
    proc, events, outcome, rec = crash_in_native_call(layertrace, faults_lib, python, tmp_path, "segv",
                                                      "--faulthandler")
    assert "Fatal Python error: Segmentation fault" in proc.stderr, proc.stderr[-3000:]
    assert "in scenario_crash" in proc.stderr, proc.stderr[-3000:]
    check_crash_reported(layertrace, proc, events, outcome, rec, "segv")


@pytest.mark.parametrize("round_", rounds(2))
def test_faults_the_program_recovers_from(layertrace, faults_lib, python, tmp_path, round_):
    # Each fault installs the program's own SIGSEGV handler over the probe's for one call; it
    # siglongjmps back and the call returns its value. The probe's handler is never involved, and
    # tracing goes on through every recovery.
    result = tmp_path / "result.json"
    calls, every = 2000, 10
    proc = run_layertrace(layertrace, [*base_trace_args(faults_lib, "--lossless"), "--",
                                       *target_argv(python, "recover", result, "--calls", calls, "--every", every,
                                                    "--faults-lib", faults_lib)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = read_result(result)
    assert outcome["correct"] and outcome["calls"] == calls and outcome["faults"] == calls // every, outcome
    assert not NO_GOODBYE.search(proc.stderr) and "layertrace-probe:" not in proc.stderr, proc.stderr[-2000:]
    events, _ = parse_jsonl(proc.stdout)
    faults = calls // every
    assert count(events, "native_enter", "ft_survive_fault") == count(events, "native_exit", "ft_survive_fault") \
        == faults
    assert count(events, "native_enter", "ft_fault_and_recover") == \
        count(events, "native_exit", "ft_fault_and_recover") == faults
    # ft_fault_and_recover computes its value with ft_mix (a hooked call of its own).
    assert count(events, "native_enter", "ft_mix") == count(events, "native_exit", "ft_mix") == calls + faults
    check_nesting(events)
