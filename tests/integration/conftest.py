"""Shared helpers for the integration tests: run the real `layertrace` on the real demos and parse
what it prints (path lines and JSON lines)."""
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "pyhelpers"))
from layertrace_testing.env import demos_dir, layertrace, load_catalog, python  # noqa: E402,F401 (fixtures)
from layertrace_testing.events import ENTER, EXIT, check_nesting, count, parse_jsonl  # noqa: E402,F401
from layertrace_testing.paths import appears_in_order, hop_matches, parse_path_line  # noqa: E402,F401
from layertrace_testing.slowdown import scaled  # noqa: E402

TIMEOUT = scaled(300)


@pytest.fixture(scope="session")
def catalog(demos_dir):
    return load_catalog(demos_dir)


def resolve_argv(argv, python):
    return [python if a == "{python}" else a for a in argv]


def run(layertrace, args, cwd, check_status=0):
    """Runs `layertrace ARGS`; returns (stdout, stderr). The program's status must be `check_status`."""
    proc = subprocess.run([str(layertrace), *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    if check_status is not None:
        assert proc.returncode == check_status, (
            f"layertrace {' '.join(args)} exited {proc.returncode}\nstderr:\n{proc.stderr[-4000:]}")
    return proc.stdout, proc.stderr


def hop_sequences(events):
    """Per thread, the hops of every enter event in order, as jsonl tells them."""
    seqs = {}
    for e in events:
        if e["kind"] not in ENTER:
            continue
        seq = seqs.setdefault(e["tid"], [])
        if e["kind"] == "ffi_call" and "caller" in e:
            seq.append((e["caller"]["role"], e["caller"]["module"], ""))
        seq.append((e["role"], e["module"], e["symbol"]))
        if e["kind"] in ("ffi_call", "closure_enter") and "target" in e:
            target = e["target"]
            seq.append((target["role"], target["module"], target["symbol"] if e["kind"] == "ffi_call" else ""))
    return seqs
