"""The set-up every attach test shares: a target started on its own (not under layertrace), a
`layertrace attach` (or `serve attach`) going into it, a wait until the trace shows enough of the
target's hooked calls, and the target reaped whatever the test did in between."""
import signal
import subprocess

from .runner import start_layertrace
from .slowdown import scaled
from .watch import Fifo, OutputWatch

NATIVE_ENTER = b'"native_enter"'


class AttachTarget:
    """A program started on its own that says 'ready PID' into a FIFO; `argv_for(fifo_path)` is its
    command line. Its stdout and stderr go to `target.err` in `tmp_path` (`err_text()`). As a
    context manager it kills and reaps the program if the test left it running."""

    def __init__(self, tmp_path, argv_for):
        self.fifo = Fifo(tmp_path / "ready")
        self.err_path = tmp_path / "target.err"
        try:
            with open(self.err_path, "w") as err:
                self.proc = subprocess.Popen([str(a) for a in argv_for(self.fifo.path)], stdout=err, stderr=err)
        except BaseException:
            self.fifo.close()
            raise
        try:
            self.fifo.wait_for("ready")
        except BaseException:
            self.close()
            raise

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc.poll() is None

    def err_text(self):
        return self.err_path.read_text()[-2000:]

    def wait(self, timeout=60):
        """Its exit code (-N for signal N), within `timeout` seconds (scaled)."""
        return self.proc.wait(timeout=scaled(timeout))

    def stop(self, timeout=60):
        """SIGTERM (the fault target then writes its result and exits 0); returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.fifo.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_for_trace(out_path, n, producer, what, needle=NATIVE_ENTER, timeout=120):
    """Until `out_path` (jsonl, appended to by `producer` or by the session behind it) holds `n`
    occurrences of `needle` (by default native_enter lines: hooked calls, not the ffi_call lines
    that name them). Fails when `producer` ends first or `timeout` (scaled) runs out."""
    OutputWatch(out_path, needle).wait_for(n, timeout, alive=lambda: producer.poll() is None, what=what)


def attach_until(layertrace, target, args, out_path, err_path, n, needle=NATIVE_ENTER,
                 what="native_enter lines from attach"):
    """Starts `layertrace attach PID ARGS` (stdout to `out_path`, stderr to `err_path`) and returns
    it once its output holds `n` occurrences of `needle` (wait_for_trace). A tracer that got no
    further is killed and reaped."""
    with open(out_path, "w") as out, open(err_path, "w") as err:
        tracer = start_layertrace(layertrace, ["attach", target.pid, *args], out, err)
    try:
        wait_for_trace(out_path, n, tracer, what, needle)
    except BaseException:
        tracer.kill()
        tracer.wait()
        raise
    return tracer
