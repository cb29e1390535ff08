"""The fault suite (issue 8): the traced program always finishes with correct results, whatever
happens to the tracer, the program or the stream, and the tracer says what happened. Repeat counts
are the `rounds(...)` below, multiplied by LAYERTRACE_FAULTS_SOAK for soak runs."""
import os
import re
import select
import signal
import subprocess
import time

import pytest

from conftest import (SOAK, Fifo, OutputWatch, attach_until, base_trace_args, check_nesting, count, fault_target,
                      parse_jsonl, read_result, reap, rounds, run_layertrace, scaled, start_layertrace, target_argv)


MIX = b'"symbol":"ft_mix"'  # in native_enter/native_exit lines and ffi targets


# --- the tracer killed with SIGKILL mid-stream -----------------------------------------------------
@pytest.mark.parametrize("round_", rounds(3))
def test_tracer_sigkill_mid_stream(layertrace, faults_lib, python, tmp_path, round_):
    fifo = Fifo(tmp_path / "ready")
    result = tmp_path / "result.json"
    out_path, err_path, rec = tmp_path / "out.jsonl", tmp_path / "err.txt", tmp_path / "rec.ltr"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        tracer = start_layertrace(layertrace, [*base_trace_args(faults_lib, "-o", rec), "--",
                                               *target_argv(python, "loop", result, "--forever",
                                                            "--faults-lib", faults_lib, ready=fifo.path)],
                                  out, err)
        target = fifo.wait_for("ready")
        # Mid-stream: wait until the tracer has printed a good part of the loop's events.
        OutputWatch(out_path, MIX).wait_for(1000 * (1 + round_), 60, what="ft_mix lines before the kill")
        # Recording blocks are flushed at least every 100 ms: past that, one is on disk for sure
        # (a loop that runs at full speed prints 1000 lines well before the first flush).
        time.sleep(0.3)
        tracer.kill()
        tracer.wait()
        # The probe notices the dead tracer at its next send; the program must not notice at all.
        time.sleep(0.3)
        os.kill(target, signal.SIGTERM)
        status = reap(target)
    fifo.close()
    outcome = read_result(result)
    assert status == 0, f"the target exited {status}: {err_path.read_text()[-2000:]}"
    assert outcome["correct"] and outcome["calls"] > 0, outcome
    # The probe said once that its tracer went away (on the target's stderr, which we hold).
    probe_lines = [l for l in err_path.read_text().splitlines() if l.startswith("layertrace-probe:")]
    assert len(probe_lines) == 1, err_path.read_text()[-2000:]
    # What the tracer printed before it died is intact, and the recording replays up to its damage.
    events, _ = parse_jsonl(out_path.read_text(), allow_partial_last=True)
    check_nesting(events, balanced=False)
    mixes = count(events, "native_enter", "ft_mix")
    assert 0 < mixes <= outcome["calls"]
    replay = run_layertrace(layertrace, ["replay", rec, "--format", "jsonl"])
    # The recording was cut mid-session: replay delivers every complete block, then names the
    # damage (exit 7) in its last stderr line.
    assert replay.returncode == 7, replay.stderr
    assert replay.stderr.splitlines()[-1].startswith(f"layertrace: {rec}: offset "), replay.stderr
    # Killed between blocks, or in the middle of writing one: either way the damage is named.
    assert "ends without its final record" in replay.stderr or "the writer stopped mid-block" in replay.stderr
    replayed, _ = parse_jsonl(replay.stdout)
    assert replayed, "the partial recording replayed nothing"
    # Both were cut by the kill, each at its own point: the recording at its last flushed block
    # (every 100 ms), the printed lines at the last stdio buffer written (4 KiB), so either may
    # hold a few more events than the other. Up to where both go, they hold the same events.
    key = lambda e: (e["kind"], e.get("tid"), e.get("symbol"), e.get("depth"))
    common = min(len(replayed), len(events))
    assert [key(e) for e in replayed[:common]] == [key(e) for e in events[:common]], "replay and live output differ"
    check_nesting(replayed, balanced=False)


# --- a stop during a burst of events (Ctrl-C path: SIGTERM to layertrace stops the program) -------
@pytest.mark.parametrize("round_", range(2))
def test_stop_during_burst(layertrace, faults_lib, python, tmp_path, round_):
    fifo = Fifo(tmp_path / "ready")
    result = tmp_path / "result.json"
    out_path, err_path = tmp_path / "out.jsonl", tmp_path / "err.txt"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        tracer = start_layertrace(layertrace, [*base_trace_args(faults_lib), "--",
                                               *target_argv(python, "loop", result, "--forever",
                                                            "--faults-lib", faults_lib, ready=fifo.path)],
                                  out, err)
        fifo.wait_for("ready")
        burst = min(50_000 * SOAK, 1_000_000)  # lines printed before the stop (soak 20: the 1M)
        OutputWatch(out_path).wait_for(burst, 180, alive=lambda: tracer.poll() is None, what="burst lines")
        tracer.send_signal(signal.SIGTERM)  # layertrace forwards it: the program stops cleanly
        status = tracer.wait(timeout=scaled(120))
    fifo.close()
    outcome = read_result(result)
    assert status == 0, err_path.read_text()[-2000:]
    assert outcome["correct"] and outcome["stopped_by"] == signal.SIGTERM
    events, modules = parse_jsonl(out_path.read_text())
    assert len(events) + len(modules) >= burst
    assert count(events, "dropped") == 0 or "dropped" in err_path.read_text()
    check_nesting(events, balanced=False)
    # Every call the program made was delivered (the stream was drained after the stop), unless
    # the probe said it dropped some: then the missing ones are exactly the dropped ones.
    dropped = sum(e["dropped"] for e in events if e["kind"] == "dropped")
    enters = count(events, "native_enter", "ft_mix")
    exits = count(events, "native_exit", "ft_mix")
    if dropped == 0:
        assert enters == exits == outcome["calls"]
    else:
        assert enters <= outcome["calls"]
    assert "stopped after" in err_path.read_text()


# --- the target ending every way while traced ------------------------------------------------------
ENDINGS = {
    # end: (exit status of layertrace, what the tracer must say on stderr)
    "normal": (0, None),
    "raise": (1, "RuntimeError: raised on purpose"),
    "os_exit": (7, None),
    "segv": (139, "killed by signal 11"),
}
NO_GOODBYE = re.compile(r"exited without the probe's Goodbye \(os\._exit, a crash or SIGKILL\): up to (\d+) events "
                        r"buffered in the probe may be missing")


@pytest.mark.parametrize("round_", rounds(2))
@pytest.mark.parametrize("end", sorted(ENDINGS))
def test_target_ending(layertrace, faults_lib, python, tmp_path, end, round_):
    result, rec = tmp_path / "result.json", tmp_path / "rec.ltr"
    calls = 2000
    proc = run_layertrace(layertrace, [*base_trace_args(faults_lib, "--lossless", "-o", rec), "--",
                                       *target_argv(python, "loop", result, "--calls", calls, "--end", end,
                                                    "--faults-lib", faults_lib)])
    status, says = ENDINGS[end]
    assert proc.returncode == status, proc.stderr[-3000:]
    if says:
        assert says in proc.stderr, proc.stderr[-3000:]
    outcome = read_result(result)
    assert outcome["correct"] and outcome["calls"] == calls
    events, _ = parse_jsonl(proc.stdout)
    enters = count(events, "native_enter", "ft_mix")
    exits = count(events, "native_exit", "ft_mix")
    no_goodbye = NO_GOODBYE.search(proc.stderr)
    # Lossless, and an exit through exit() or _exit (the probe interposes os._exit's _exit and ends
    # the session first) or a crash (the probe's fatal-signal handler flushes its rings and says
    # Goodbye before the process dies of the signal): every call is delivered, the Goodbye arrives.
    assert enters == exits == calls, (enters, proc.stderr[-2000:])
    assert not no_goodbye, proc.stderr[-2000:]
    # Calls os._exit or the crash never returned from are closed at the end with lost exits.
    check_nesting(events)
    # The recording holds what the live output showed, and says the same about what is missing.
    replay = run_layertrace(layertrace, ["replay", rec, "--format", "jsonl"])
    assert replay.returncode == 0, replay.stderr
    replayed, _ = parse_jsonl(replay.stdout)
    assert [(e["kind"], e.get("symbol")) for e in replayed] == [(e["kind"], e.get("symbol")) for e in events]
    replay_says = NO_GOODBYE.search(replay.stderr)
    assert (replay_says and replay_says.group(1)) == (no_goodbye and no_goodbye.group(1)), replay.stderr


# --- fork and exec ---------------------------------------------------------------------------------
@pytest.mark.parametrize("round_", rounds(3))
def test_fork_and_exec(layertrace, faults_lib, python, tmp_path, round_):
    result = tmp_path / "result.json"
    calls = 500
    proc = run_layertrace(layertrace, [*base_trace_args(faults_lib, "--lossless"), "--",
                                       *target_argv(python, "fork", result, "--calls", calls,
                                                    "--faults-lib", faults_lib)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = read_result(result)
    assert outcome["correct"], outcome
    fork_child, exec_child = outcome["children"]
    assert fork_child["status"] == 0, "the fork child computed wrong results (see stderr)"
    assert exec_child["status"] == 0 and exec_child["sum"] == exec_child["sum_expected"], exec_child
    assert not exec_child["socket_env"] and not exec_child["preload_env"], exec_child
    events, _ = parse_jsonl(proc.stdout)
    tids = {e["tid"] for e in events}
    # Only the parent's own calls are in the trace: the children never joined the session.
    assert fork_child["pid"] not in tids and exec_child["pid"] not in tids
    assert count(events, "native_enter", "ft_mix") == 2 * calls
    check_nesting(events)


# --- 16 threads calling ctypes, cffi and pybind11 at once --------------------------------------------
def test_sixteen_threads_ctypes_cffi_pybind11(layertrace, demos_dir, python, tmp_path):
    result = tmp_path / "result.json"
    # Every thread runs until the deadline or its iteration budget (3 checked calls each); lossless,
    # so the tracer paces the program and the trace must hold every call.
    # 5 s in CI, up to a minute in soak runs; a sanitized tracer paces the (lossless) program
    # several times slower, so it gets LAYERTRACE_TEST_SLOWDOWN times as long (20 s in asan).
    seconds = scaled(5) * min(SOAK, 12)
    iterations = 1500 * SOAK
    proc = run_layertrace(layertrace, ["run", "--format", "jsonl", "--mode", "anchored", "--no-stacks", "--lossless",
                                       "--", *target_argv(python, "threads", result, "--threads", 16,
                                                          "--seconds", seconds, "--max-iterations", iterations,
                                                          "--demos", demos_dir)],
                          timeout=seconds * 20 + 120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = read_result(result)
    assert outcome["correct"], outcome["errors"][:5]
    events, _ = parse_jsonl(proc.stdout)
    check_nesting(events)
    assert len(outcome["threads"]) == 16
    by_tid = {}
    for e in events:
        by_tid.setdefault(e["tid"], []).append(e)
    for t in outcome["threads"]:
        mine = by_tid.get(t["tid"], [])
        assert t["counts"]["ctypes"] > 0
        # Lossless: every call of every thread is in the trace, on that thread.
        add_calls = sum(1 for e in mine if e["kind"] == "ffi_call" and e.get("target", {}).get("symbol") == "add")
        assert add_calls == t["counts"]["ctypes"] + t["counts"]["cffi"], (t, add_calls)
        process = sum(1 for e in mine if e["kind"] == "c_call" and e.get("py_name", "").endswith("process"))
        assert process == t["counts"]["pybind11"], (t, process)


# --- a hooked function 10,000 frames deep -----------------------------------------------------------
@pytest.mark.parametrize("stacks", [False, True], ids=["no-stacks", "stacks"])
def test_recursion_ten_thousand_deep(layertrace, faults_lib, python, tmp_path, stacks):
    result = tmp_path / "result.json"
    # With stacks every one of the 10,001 events is unwound and symbolized (128 frames): 1 round.
    depth, repeat = 10_000, (1 if stacks else 3) * len(rounds(1))
    args = ["run", "--format", "jsonl", "--mode", "anchored", "--lossless",
            "--probe", f"{faults_lib.name}:ft_*"] + ([] if stacks else ["--no-stacks"])
    proc = run_layertrace(layertrace, [*args, "--", *target_argv(python, "recurse", result, "--depth", depth,
                                                                 "--repeat", repeat, "--faults-lib", faults_lib)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert read_result(result)["correct"]
    events, _ = parse_jsonl(proc.stdout)
    check_nesting(events)
    assert count(events, "native_enter", "ft_recurse") == repeat * (depth + 1)
    assert count(events, "native_exit", "ft_recurse") == repeat * (depth + 1)
    deepest = max(e["depth"] for e in events if e.get("symbol") == "ft_recurse")
    assert deepest >= depth  # the innermost of 10,001 nested frames


# --- C++ exceptions and longjmp through hooked functions -----------------------------------------
@pytest.mark.parametrize("stacks", [False, True], ids=["no-stacks", "stacks"])
def test_cxx_exceptions_and_longjmp(layertrace, faults_lib, demos_dir, python, tmp_path, stacks):
    result = tmp_path / "result.json"
    repeat = 300 * len(rounds(1))
    args = ["run", "--format", "jsonl", "--mode", "anchored", "--lossless",
            "--probe", f"{faults_lib.name}:ft_*", "--probe", "mymodule*.so:*validateTimeout*"]
    args += [] if stacks else ["--no-stacks"]
    proc = run_layertrace(layertrace, [*args, "--", *target_argv(python, "unwind", result, "--repeat", repeat,
                                                                 "--depth", 50, "--faults-lib", faults_lib,
                                                                 "--demos", demos_dir)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = read_result(result)
    assert outcome["correct"] and outcome["raised"] == repeat and outcome["longjmps"] == repeat, outcome
    events, _ = parse_jsonl(proc.stdout)
    check_nesting(events)
    validate = [e for e in events if e["kind"] == "native_exit" and "validateTimeout" in e.get("symbol", "")]
    assert len(validate) == 2 * repeat
    assert sum(1 for e in validate if e.get("unwound")) == repeat  # the throwing half left by unwinding
    descend_exits = [e for e in events if e["kind"] == "native_exit" and e.get("symbol") == "ft_descend"]
    expected_frames = sum(1 + (1 + i % 50) for i in range(repeat))
    assert len(descend_exits) == expected_frames
    assert all(e.get("unwound") for e in descend_exits)  # every one skipped by longjmp
    assert count(events, "native_exit", "ft_longjmp_through") == repeat


# --- signals delivered while hooks run -------------------------------------------------------------
@pytest.mark.parametrize("round_", rounds(2))
def test_signals_during_hooks(layertrace, faults_lib, python, tmp_path, round_):
    result = tmp_path / "result.json"
    calls = 30_000
    proc = run_layertrace(layertrace, [*base_trace_args(faults_lib, "--lossless"), "--",
                                       *target_argv(python, "signals", result, "--calls", calls,
                                                    "--interval", 0.0005, "--faults-lib", faults_lib)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = read_result(result)
    assert outcome["correct"] and outcome["handled"] > 10, outcome
    events, _ = parse_jsonl(proc.stdout)
    check_nesting(events)
    assert count(events, "native_enter", "ft_mix") == calls + outcome["handled"]


# --- a slow consumer: the program never waits; the tracer spools, or drops are counted exactly -----
def run_with_stalled_consumer(layertrace, faults_lib, python, tmp_path, calls, trace_args, env_extra):
    """The loop traced while nothing reads the tracer's stdout until the program is done (its
    decoder is stuck on a full pipe). Returns (tracer status, stdout text, stderr text)."""
    fifo = Fifo(tmp_path / "ready")
    result = tmp_path / "result.json"
    err_path = tmp_path / "err.txt"
    with open(err_path, "w") as err:
        tracer = start_layertrace(layertrace, [*base_trace_args(faults_lib, *trace_args), "--",
                                               *target_argv(python, "loop", result, "--calls", calls,
                                                            "--faults-lib", faults_lib, ready=fifo.path)],
                                  subprocess.PIPE, err, env_extra=env_extra)
        fifo.wait_for("done", timeout=120)  # reached while nobody has read a byte of the output
        chunks = []
        while True:
            ready, _, _ = select.select([tracer.stdout], [], [], scaled(120))
            assert ready, "the tracer stopped printing"
            chunk = os.read(tracer.stdout.fileno(), 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        status = tracer.wait(timeout=scaled(120))
    fifo.close()
    assert read_result(result)["correct"]
    return status, b"".join(chunks).decode(), err_path.read_text()


def lossless_reference(layertrace, faults_lib, python, tmp_path, calls, *trace_args):
    """The same deterministic program, --lossless: every event it makes. (It announces "done"
    into a plain file: the same Python calls as the FIFO of the stalled run.)"""
    reference = run_layertrace(layertrace, [*base_trace_args(faults_lib, "--lossless", *trace_args), "--",
                                            *target_argv(python, "loop", tmp_path / "ref.json", "--calls", calls,
                                                         "--faults-lib", faults_lib,
                                                         ready=tmp_path / "ref-ready.txt")])
    assert reference.returncode == 0, reference.stderr[-2000:]
    assert "dropped" not in reference.stderr
    return reference.stdout


@pytest.mark.parametrize("round_", rounds(2))
def test_slow_consumer_drops_counted_exactly(layertrace, faults_lib, python, tmp_path, round_):
    calls = 20_000
    ref_events, _ = parse_jsonl(lossless_reference(layertrace, faults_lib, python, tmp_path, calls))
    assert count(ref_events, "dropped") == 0
    total = len(ref_events)

    # The consumer stalls. A small ring (8 KiB a thread) makes the probe drop while the sender is
    # behind, and no spool (--spool-limit 0) lets the tracer's stalled decoder stop its reader.
    status, stdout, stderr = run_with_stalled_consumer(layertrace, faults_lib, python, tmp_path, calls,
                                                       ["--spool-limit", "0"], {"LAYERTRACE_BUFFER_SIZE": "8192"})
    assert status == 0, stderr[-2000:]
    events, _ = parse_jsonl(stdout)
    # The drop total comes from the probe's Goodbye (it includes drops no later event reported);
    # the `dropped` lines are the per-thread reports that a later event carried.
    said = re.search(r"the probe dropped (\d+) events", stderr)
    assert said, f"the tracer did not report drops: {stderr[-2000:]}"
    dropped = int(said.group(1))
    assert dropped > 0
    assert sum(e["dropped"] for e in events if e["kind"] == "dropped") <= dropped
    # An exit whose enter was dropped is discarded (an exit alone would break nesting), and said.
    discarded = re.search(r"(\d+) exits were not shown because their enter was dropped", stderr)
    discarded = int(discarded.group(1)) if discarded else 0
    check_nesting(events)  # strict: the exits the probe dropped are there, marked lost
    # Lost exits are made by the tracer, not produced by the program.
    delivered = sum(1 for e in events if e["kind"] != "dropped" and not e.get("lost"))
    accounted = delivered + dropped + discarded
    no_goodbye = NO_GOODBYE.search(stderr)
    if no_goodbye:
        # The probe's sender was still behind when its 1 s exit budget ran out (a very slow
        # tracer): the rest was neither sent nor counted, and the tracer says how much it can be.
        assert accounted <= total <= accounted + int(no_goodbye.group(1)), stderr[-2000:]
    else:
        # Every event the program produced is delivered, dropped or a discarded orphan exit.
        assert accounted == total, f"delivered {delivered} + dropped {dropped} + discarded {discarded} vs {total}"


@pytest.mark.parametrize("round_", rounds(2))
def test_slow_consumer_spooled_nothing_lost(layertrace, faults_lib, python, tmp_path, round_):
    # A burst of about 35 MB of stream, four times the tracer's in-memory pool (8 MiB) plus the
    # probe's ring, while the decoder is stuck on a full stdout pipe. --lossless, so that the probe
    # never drops: without a spool the program would then wait for the decoder and never announce
    # "done" while nobody reads the output (run_with_stalled_consumer fails). With the spool the
    # reader drains the socket to disk, the program finishes untouched, and the decoder prints
    # every event afterwards. (Without --lossless the outcome would also depend on the probe's
    # sender getting a core in time on a loaded machine: docs/reliability.md, Known gaps.)
    calls = 250_000
    reference = lossless_reference(layertrace, faults_lib, python, tmp_path, calls, "--format", "path")
    status, stdout, stderr = run_with_stalled_consumer(layertrace, faults_lib, python, tmp_path, calls,
                                                       ["--lossless", "--format", "path"], {})
    assert status == 0, stderr[-2000:]
    assert "\nlayertrace: spool: the tracer is behind the program" in "\n" + stderr, stderr[-2000:]
    spooled = re.search(r"layertrace: spooled ([\d.]+) MiB of the stream to disk", stderr)
    assert spooled and float(spooled.group(1)) > 8, stderr[-2000:]
    assert "dropped" not in stderr and not NO_GOODBYE.search(stderr), stderr[-2000:]
    # The same events as the unstalled run, in the same order: the path lines they make are identical.
    assert stdout.count("native libfaults.so:ft_mix\n") == calls
    assert stdout == reference, "the spooled run printed something else than the unstalled one"


# --- attach, then detach during a burst: the target goes on untouched ----------------------------
@pytest.mark.parametrize("round_", rounds(2))
def test_attach_then_detach_during_burst(layertrace, faults_lib, python, tmp_path, round_):
    out_path, err_path = tmp_path / "out.jsonl", tmp_path / "err.txt"
    with fault_target(python, tmp_path, "loop", "--forever", "--faults-lib", faults_lib) as target:
        # Hooked calls (native_enter of ft_mix), not only the ffi_call lines that name it.
        tracer = attach_until(layertrace, target, ["--format", "jsonl", "--mode", "anchored", "--no-stacks",
                                                   "--probe", f"{faults_lib.name}:ft_*"],
                              out_path, err_path, 5_000 * (1 + round_))
        tracer.send_signal(signal.SIGINT)  # Ctrl-C: detach, the target goes on
        attach_status = tracer.wait(timeout=scaled(60))
        # Still running, and still right, after the detach: let it do more work untraced.
        assert target.running(), "the target died when the tracer detached"
        time.sleep(0.5)
        status = target.stop()
    assert attach_status == 0, err_path.read_text()[-2000:]
    assert status == 0, target.err_text()
    outcome = read_result(tmp_path / "result.json")
    assert outcome["correct"], outcome
    events, _ = parse_jsonl(out_path.read_text())
    # A call in flight at the attach has its exit discarded (its enter came before tracing); one in
    # flight at the detach, or whose exit the probe dropped (attach runs without --lossless), is
    # closed by a lost exit: every call shown has exactly one exit.
    check_nesting(events)
    traced = count(events, "native_enter", "ft_mix")
    assert traced == count(events, "native_exit", "ft_mix")
    assert 5_000 * (1 + round_) <= traced < outcome["calls"], (traced, outcome["calls"])
