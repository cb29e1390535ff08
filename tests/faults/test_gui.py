"""The GUI dies mid-stream (issue 8): layertrace-gui traces a busy program with `--run`, and is
killed (SIGTERM, SIGKILL) while events flow. What happens then (docs/reliability.md): the program
is the GUI's child but not in its fate; its probe notices the closed socket at its next send, says
so once on the program's stderr, uninstalls its hooks, and the program runs on untraced, with
correct results, until it ends by itself (here: our SIGTERM, which it handles by stopping)."""
import os
import signal
import subprocess

import pytest

from conftest import Fifo, OutputWatch, env_path, read_result, reap, rounds, scaled, target_argv

PROGRESS = 5_000  # the target says "progress" after every 5,000 checked calls


@pytest.fixture(scope="session")
def layertrace_gui():
    return env_path("LAYERTRACE_GUI")


@pytest.mark.parametrize("round_", rounds(2))
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_gui_killed_mid_stream(layertrace_gui, faults_lib, python, tmp_path, sig, round_):
    fifo = Fifo(tmp_path / "ready")
    result = tmp_path / "result.json"
    out_path, err_path = tmp_path / "out.txt", tmp_path / "err.txt"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    argv = target_argv(python, "loop", result, "--forever", "--progress", PROGRESS, "--faults-lib", faults_lib,
                       ready=fifo.path)
    # The program inherits the GUI's stdout and stderr: it keeps writing there after the GUI died.
    with open(out_path, "w") as out, open(err_path, "w") as err:
        gui = subprocess.Popen([str(layertrace_gui), "--run", "--", *argv], stdout=out, stderr=err, env=env)
    try:
        target = fifo.wait_for("ready", timeout=120)
        # Mid-stream: the GUI has been taking the program's events for a while (4 × 5,000 calls,
        # each an ffi_call/ffi_return pair and more), round 2 for longer.
        for _ in range(4 * (1 + round_)):
            fifo.wait_for("progress", timeout=120)
        assert gui.poll() is None, f"the GUI ended on its own: {err_path.read_text()[-2000:]}"
        gui.send_signal(sig)
        gui.wait(timeout=scaled(60))
        # The probe notices at its next send and says so once; the program goes on and progresses.
        OutputWatch(err_path, b"layertrace-probe:").wait_for(1, 60, what="the probe's notice")
        fifo.wait_for("progress", timeout=120)
        os.kill(target, signal.SIGTERM)
        status = reap(target)
    finally:
        if gui.poll() is None:
            gui.kill()
            gui.wait()
        fifo.close()
    assert gui.returncode == -sig
    outcome = read_result(result)
    assert status == 0, err_path.read_text()[-2000:]
    assert outcome["correct"] and outcome["stopped_by"] == signal.SIGTERM, outcome
    assert outcome["calls"] >= PROGRESS * (4 * (1 + round_) + 1), outcome
    assert "all correct" in out_path.read_text()
    probe_lines = [l for l in err_path.read_text().splitlines() if l.startswith("layertrace-probe:")]
    assert len(probe_lines) == 1, err_path.read_text()[-2000:]
