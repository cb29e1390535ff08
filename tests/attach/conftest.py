"""Helpers for the attach tests: start targets in --forever mode (their "ready" line is the
readiness signal), run `layertrace attach`, snapshot the target's code and GOT through
/proc/PID/mem, and match catalog paths."""
import os
import pathlib
import signal
import struct
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "pyhelpers"))
from layertrace_testing.env import demos_dir, layertrace, load_catalog, python  # noqa: E402,F401 (fixtures)
from layertrace_testing.events import check_nesting  # noqa: E402,F401
from layertrace_testing.paths import path_in_lines  # noqa: E402,F401
from layertrace_testing.slowdown import scaled  # noqa: E402

TIMEOUT = scaled(120)


@pytest.fixture(scope="session")
def catalog(demos_dir):
    return {d["name"]: d for d in load_catalog(demos_dir)["demos"]}


class Target:
    """A process started with a pipe on stdout; ready once it printed a line starting with `ready`."""

    def __init__(self, argv, cwd, stdin=False, user=None):
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, text=True,
                                     user=user)
        self.lines = []
        self.wait_for("ready")

    @property
    def pid(self):
        return self.proc.pid

    def wait_for(self, prefix):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith(prefix):
                return line
        raise AssertionError(f"target ended before printing {prefix!r}: {self.lines} "
                             f"stderr: {self.proc.stderr.read()[-2000:]}")

    def send(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def alive(self):
        return self.proc.poll() is None and state(self.pid) not in ("Z", "X")

    def terminate_and_check(self, expect_prefix="stopped after"):
        """SIGTERM; the target must say it stopped with correct results and exit 0."""
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=TIMEOUT)
        lines = self.lines + out.splitlines()
        assert self.proc.returncode == 0, f"target exited {self.proc.returncode}: {lines[-5:]} {err[-2000:]}"
        assert any(line.startswith(expect_prefix) for line in lines), lines[-5:]
        return lines

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "X"


def demo_target(demos_dir, python, name):
    return Target([python, "user.py", "--forever"], cwd=demos_dir / name)


def attach(layertrace, pid, *args, timeout=TIMEOUT, user=None):
    """Runs `layertrace attach PID ARGS`; returns the CompletedProcess."""
    return subprocess.run([str(layertrace), "attach", str(pid), *args], capture_output=True, text=True,
                          timeout=timeout, user=user)


def attach_until_paths(layertrace, pid, expected_paths, *args, max_lines=300000):
    """Runs `layertrace attach PID --format path ARGS`, reads its output until every expected
    path (catalog hops) was printed, then stops it with SIGINT (a detach).
    Returns (missing path names, stdout lines read, stderr, exit status)."""
    tracer = subprocess.Popen([str(layertrace), "attach", str(pid), "--format", "path", *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wanted = list(expected_paths)
    seen = []
    try:
        for line in tracer.stdout:
            seen.append(line)
            wanted = [p for p in wanted if not path_in_lines(p["hops"], line)]
            if not wanted or len(seen) > max_lines:
                break
        tracer.send_signal(signal.SIGINT)
        out, err = tracer.communicate(timeout=TIMEOUT)
    finally:
        if tracer.poll() is None:
            tracer.kill()
    return [p["name"] for p in wanted], seen + out.splitlines(True), err, tracer.returncode


# ---- code and GOT snapshots -------------------------------------------------------------------

def _maps(pid):
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            if len(parts) < 6 or not parts[5].startswith("/"):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            out.append((lo, hi, parts[1], int(parts[2], 16), parts[5].strip()))
    return out


def _got_ranges(path):
    """(vaddr, size) of .got and .got.plt, and the lowest PT_LOAD vaddr (page-aligned)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return [], 0
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", data, 0x36)
    first_load = min((struct.unpack_from("<QQQ", data, phoff + i * phentsize + 8)[1] for i in range(phnum)
                      if struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 1), default=0) & ~0xFFF
    sections = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab_off = sections[shstrndx][4] if shstrndx < shnum else 0
    ranges = []
    for name_off, _type, _flags, addr, _offset, size in sections:
        name = data[strtab_off + name_off:data.index(b"\0", strtab_off + name_off)]
        if name in (b".got", b".got.plt") and size:
            ranges.append((addr, size))
    return ranges, first_load


def regions(pid):
    """[(object, kind, address, size)] for every executable file mapping and every object's GOT
    (.got, .got.plt), as mapped now. The probe's own object is left out (not the program's)."""
    maps = [m for m in _maps(pid) if "liblayertrace_probe" not in m[4]]
    out = [(path, "text", lo, hi - lo) for lo, hi, perms, _off, path in maps if "x" in perms]
    bases = {}
    for lo, _hi, _perms, off, path in maps:
        if off == 0 and path not in bases:
            bases[path] = lo
    for path, start in bases.items():
        try:
            ranges, first_load = _got_ranges(path)
        except (OSError, struct.error, ValueError):
            continue
        out += [(path, "got", start - first_load + addr, size) for addr, size in ranges]
    return out


def snapshot(pid, where=None):
    """{(object, kind, address): bytes} read through /proc/PID/mem at `where` (default: regions(pid)).
    Read the same regions before and after: patching may split a mapping into several."""
    out = {}
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for path, kind, addr, size in (where if where is not None else regions(pid)):
            mem.seek(addr)
            out[(path, kind, addr)] = mem.read(size)
    return out


def _lazy_binding(pid, path, old, new):
    """A GOT slot the dynamic linker resolved meanwhile (lazy binding on a first call): it pointed
    into its own object (the PLT stub) and now points into a mapped file other than the probe.
    A hook left in place would point into the probe or an anonymous trampoline page instead."""
    maps = _maps(pid)
    in_own = any(lo <= old < hi and p == path for lo, hi, _perms, _off, p in maps)
    target = [p for lo, hi, _perms, _off, p in maps if lo <= new < hi]
    return in_own and bool(target) and "liblayertrace_probe" not in target[0]


def differences(before, after, pid=None):
    """Regions whose bytes differ between two snapshots of the same regions. With `pid`, GOT
    slots that only went through lazy binding are not differences."""
    diffs = []
    for key, old in before.items():
        new = after.get(key)
        if new == old:
            continue
        if pid is not None and key[1] == "got" and new is not None and len(new) == len(old):
            slots = [i for i in range(0, len(old) - 7, 8) if old[i:i + 8] != new[i:i + 8]]
            if all(_lazy_binding(pid, key[0], int.from_bytes(old[i:i + 8], "little"),
                                 int.from_bytes(new[i:i + 8], "little")) for i in slots):
                continue
        changed = sum(1 for a, b in zip(old, new or b"") if a != b)
        diffs.append(f"{key[0]} {key[1]} @0x{key[2]:x}: {changed} bytes differ")
    return diffs
