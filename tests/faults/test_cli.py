"""Every misuse of the `layertrace` command line, table-driven: each gives exactly one line on
stderr that starts with `layertrace: ` and says what is wrong, and the exit code documented in
docs/cli/exit-codes.md (2 usage, 3 program not found, 4 probe missing, 6 transport, 7 bad input,
8 I/O, 10-16 attach). Nothing is ever printed on stdout for a misuse."""
import os
import pathlib
import stat
import subprocess

import pytest

from conftest import run_layertrace

PY = os.environ.get("LAYERTRACE_PYTHON", "/usr/bin/python3")


def files(tmp):
    """The odd inputs the table refers to, made fresh for each case."""
    not_exec = tmp / "script.sh"
    not_exec.write_text("#!/bin/sh\necho hi\n")
    not_exec.chmod(0o644)
    garbage = tmp / "garbage.ltr"
    garbage.write_bytes(b"this is not a recording, just text that is long enough to be a header" * 2)
    empty = tmp / "empty.ltr"
    empty.write_bytes(b"")
    longdir = tmp / ("d" * 120)  # a private, writable XDG_RUNTIME_DIR too long for a socket path
    longdir.mkdir(mode=0o700)
    return {"NOT_EXEC": str(not_exec), "GARBAGE": str(garbage), "EMPTY": str(empty), "TMP": str(tmp), "LONGDIR": str(longdir),
            "MISSING": str(tmp / "missing.ltr"), "NODIR": str(tmp / "no" / "such" / "dir" / "out.txt")}


# (id, argv, extra environment, exit code, fragment of the one stderr line)
CASES = [
    ("no-command", [], {}, 2, "missing command"),
    ("unknown-command", ["frobnicate"], {}, 2, "unknown command 'frobnicate'"),
    ("unknown-option", ["run", "--bogus", "--", PY, "-c", "pass"], {}, 2, "unknown option '--bogus'"),
    ("missing-value", ["run", "--format"], {}, 2, "--format needs a value"),
    ("bad-format", ["run", "--format", "xml", "--", PY, "-c", "pass"], {}, 2,
     "--format must be tree, path or jsonl, not 'xml'"),
    ("bad-format-inline", ["run", "--format=csv", "--", PY, "-c", "pass"], {}, 2, "not 'csv'"),
    ("bad-mode", ["run", "--mode", "half", "--", PY, "-c", "pass"], {}, 2, "--mode must be full or anchored"),
    ("bad-c-calls", ["run", "--c-calls", "some", "--", PY, "-c", "pass"], {}, 2,
     "--c-calls must be extensions or all, not 'some'"),
    ("bad-spool-limit", ["run", "--spool-limit", "lots", "--", PY, "-c", "pass"], {}, 2,
     "--spool-limit wants a size (bytes, or with K, M, G, T: 512M, 2G; 0 for none), not 'lots'"),
    ("bad-spool-unit", ["attach", "1", "--spool-limit=3X"], {}, 2, "--spool-limit wants a size"),
    ("negative-spool-limit", ["run", "--spool-limit", "-1", "--", PY, "-c", "pass"], {}, 2,
     "--spool-limit wants a size"),
    ("bad-probe-no-colon", ["run", "--probe", "foo", "--", PY, "-c", "pass"], {}, 2, "--probe wants LIB:GLOB"),
    ("bad-probe-empty-lib", ["run", "--probe", ":x", "--", PY, "-c", "pass"], {}, 2, "--probe wants LIB:GLOB"),
    ("bad-probe-empty-glob", ["run", "--probe", "lib:", "--", PY, "-c", "pass"], {}, 2, "--probe wants LIB:GLOB"),
    ("bad-color", ["run", "--color", "sometimes", "--", PY, "-c", "pass"], {}, 2, "--color must be"),
    ("no-program", ["run"], {}, 2, "no program given"),
    ("no-program-after-dashes", ["run", "--format", "path", "--"], {}, 2, "no program given"),
    ("modules-bad-format", ["modules", "--format", "tree2", "--", PY, "-c", "pass"], {}, 2,
     "modules --format must be text or jsonl"),
    ("program-missing-path", ["run", "--", "/nonexistent/prog"], {}, 3, "cannot run '/nonexistent/prog'"),
    ("program-not-on-path", ["run", "--", "no_such_program_xyz"], {}, 3,
     "cannot run 'no_such_program_xyz': not found on PATH"),
    ("program-not-executable", ["run", "--", "{NOT_EXEC}"], {}, 3, "cannot run '{NOT_EXEC}'"),
    ("program-is-directory", ["run", "--", "{TMP}"], {}, 3, "cannot run '{TMP}'"),
    ("probe-missing", ["run", "--", PY, "-c", "pass"], {"LAYERTRACE_PROBE": "/nonexistent/liblayertrace_probe.so"},
     4, "probe library '/nonexistent/liblayertrace_probe.so'"),
    ("socket-path-too-long", ["run", "--", PY, "-c", "pass"], {"XDG_RUNTIME_DIR": "{LONGDIR}"}, 6,
     "socket path too long: {LONGDIR}/layertrace-"),
    ("text-output-unwritable", ["run", "--text-output", "{NODIR}", "--", PY, "-c", "pass"], {}, 8,
     "{NODIR}: cannot open for writing"),
    ("recording-unwritable", ["run", "-o", "{NODIR}", "--", PY, "-c", "pass"], {}, 8, "{NODIR}"),
    ("attach-no-pid", ["attach"], {}, 2, "no PID given"),
    ("attach-bad-pid", ["attach", "abc"], {}, 2, "attach wants a process id"),
    ("attach-bad-duration", ["attach", "1", "--duration", "-3"], {}, 2, "--duration wants a positive number"),
    ("attach-no-such-process", ["attach", "4000000"], {}, 10, "no such process: PID 4000000"),
    ("replay-no-file", ["replay"], {}, 2, "replay"),
    ("replay-missing-file", ["replay", "{MISSING}"], {}, 8, "{MISSING}"),
    ("replay-directory", ["replay", "{TMP}"], {}, 8, "{TMP}"),
    ("replay-not-a-recording", ["replay", "{GARBAGE}"], {}, 7, "{GARBAGE}: offset 0"),
    ("replay-empty-file", ["replay", "{EMPTY}"], {}, 7, "{EMPTY}: offset 0"),
    ("replay-bad-format", ["replay", "{GARBAGE}", "--format", "xml"], {}, 2, "xml"),
    ("dump-no-file", ["dump"], {}, 2, "dump"),
    ("dump-not-a-recording", ["dump", "{GARBAGE}"], {}, 7, "{GARBAGE}: offset 0"),
    ("replay-two-files", ["replay", "{GARBAGE}", "{EMPTY}"], {}, 2, "replay takes one recording"),
    ("replay-capture-option", ["replay", "{GARBAGE}", "--mode", "full"], {}, 2,
     "--mode was fixed when the recording was made"),
    ("replay-unknown-option", ["replay", "{GARBAGE}", "-o", "x.ltr"], {}, 2, "unknown option '-o' for replay"),
    # Filters (run, attach, replay): one parser, so one message per mistake whatever the command.
    ("bad-tid", ["run", "--tid", "abc", "--", PY, "-c", "pass"], {}, 2, "--tid wants a thread id"),
    ("zero-tid-replay", ["replay", "{GARBAGE}", "--tid", "0"], {}, 2, "--tid wants a thread id"),
    ("negative-tid-attach", ["attach", "1", "--tid=-5"], {}, 2, "not '-5'"),
    ("unknown-layer", ["run", "--layer", "kernel", "--", PY, "-c", "pass"], {}, 2,
     "--layer must be python, extension, ffi or native (or 1, 2, 3), not 'kernel'"),
    ("unknown-layer-replay", ["replay", "{GARBAGE}", "--layer", "4"], {}, 2, "--layer must be"),
    ("unknown-role", ["replay", "{GARBAGE}", "--role", "library"], {}, 2, "--role must be app, wrapper"),
    ("empty-function", ["attach", "1", "--function="], {}, 2, "--function wants a non-empty GLOB"),
    ("empty-module", ["run", "--module", "", "--", PY, "-c", "pass"], {}, 2, "--module wants a non-empty GLOB"),
    ("empty-hide", ["replay", "{GARBAGE}", "--hide="], {}, 2, "--hide wants a non-empty GLOB"),
    ("module-no-value", ["replay", "{GARBAGE}", "--module"], {}, 2, "--module needs a value"),
    ("attach-bad-format", ["attach", "1", "--format", "xml"], {}, 2, "--format must be tree, path or jsonl, not 'xml'"),
    ("attach-unknown-option", ["attach", "1", "--bogus"], {}, 2, "unknown option '--bogus' for attach"),
    ("modules-recording", ["modules", "-o", "{TMP}/x.ltr", "--", PY, "-c", "pass"], {}, 2,
     "modules does not write recordings"),
    ("modules-filter", ["modules", "--tid", "3", "--", PY, "-c", "pass"], {}, 2, "modules lists objects"),
    ("export-no-format", ["export", "{GARBAGE}"], {}, 2, "--format"),
    ("export-bad-format", ["export", "{GARBAGE}", "--format", "svg"], {}, 2, "svg"),
    ("export-not-a-recording", ["export", "{GARBAGE}", "--format", "chrome", "-O", "{TMP}/x.json"], {}, 7,
     "{GARBAGE}: offset 0"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_cli_misuse(layertrace, tmp_path, case):
    _, argv, env, code, fragment = case
    subst = files(tmp_path)
    fill = lambda text: text.format(**subst)
    argv = [fill(a) for a in argv]
    env = {k: fill(v) for k, v in env.items()}
    fragment = fill(fragment)
    proc = run_layertrace(layertrace, argv, env_extra=env, timeout=60)
    lines = proc.stderr.splitlines()
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}; stderr: {proc.stderr!r}"
    assert len(lines) == 1, f"expected one line on stderr, got: {proc.stderr!r}"
    assert lines[0].startswith("layertrace: "), lines[0]
    assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert proc.stdout == "", f"stdout not empty: {proc.stdout[:300]!r}"


def test_attach_to_a_process_that_is_not_python(layertrace):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        proc = run_layertrace(layertrace, ["attach", str(sleeper.pid)], timeout=60)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert proc.returncode == 11, proc.stderr
    assert proc.stderr.count("\n") == 1 and f"PID {sleeper.pid} (sleep" in proc.stderr
    assert "is not a Python process" in proc.stderr


def test_help_and_version_exit_zero(layertrace):
    for argv in (["--help"], ["--version"]):
        proc = run_layertrace(layertrace, argv, timeout=60)
        assert proc.returncode == 0 and proc.stdout and proc.stderr == "", (argv, proc.stderr)


def test_documented_codes_match_the_table():
    """docs/cli/exit-codes.md lists every code this table uses."""
    doc = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "cli" / "exit-codes.md").read_text()
    for code in sorted({c[3] for c in CASES}):
        assert f"\n| {code} |" in doc, f"exit code {code} is not documented"
