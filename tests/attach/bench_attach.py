"""Benchmark (not a test): how long `layertrace attach` takes to the first event and how long it
pauses the target, over N attach/detach cycles on one running demo.

usage: python3 tests/attach/bench_attach.py [BUILD_DIR] [N]   (default build/attach, 10)"""
import re
import statistics
import subprocess
import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from conftest import Target  # noqa: E402

build = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build/attach").resolve()
cycles = int(sys.argv[2]) if len(sys.argv) > 2 else 10
layertrace = build / "tracer" / "layertrace"
target = Target(["/usr/bin/python3", "user.py", "--forever"], cwd=build / "demos" / "ctypes_complex_struct")
first, attach_ms, all_paused, thread_paused = [], [], [], []
try:
    for _ in range(cycles):
        proc = subprocess.run([str(layertrace), "attach", str(target.pid), "--format", "path", "--duration", "1",
                               "--text-output", "/dev/null"], capture_output=True, text=True, timeout=120)
        m = re.search(r"attached to PID \d+ in ([0-9.]+) ms \(all \d+ threads paused ([0-9.]+) ms, thread \d+ "
                      r"([0-9.]+) ms", proc.stderr)
        f = re.search(r"first event ([0-9.]+) ms after attach began", proc.stderr)
        if proc.returncode != 0 or not m or not f:
            sys.exit(f"attach failed ({proc.returncode}): {proc.stderr}")
        attach_ms.append(float(m.group(1)))
        all_paused.append(float(m.group(2)))
        thread_paused.append(float(m.group(3)))
        first.append(float(f.group(1)))
finally:
    target.terminate_and_check()


def show(name, values):
    print(f"{name:44s} median {statistics.median(values):7.1f} ms   max {max(values):7.1f} ms")


print(f"{cycles} attach/detach cycles on ctypes_complex_struct --forever (/usr/bin/python3)")
show("attach command to first event", first)
show("attach command to injection done", attach_ms)
show("every thread stopped (pause of the process)", all_paused)
show("injected thread stopped (dlopen + entry)", thread_paused)
