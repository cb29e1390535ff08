"""Following exec of the launched process (docs/cli/run.md, "Launchers that exec"): a shell script
or a pyenv shim that execs the interpreter is traced as one session, Python and native events of
the interpreter included; an exec into a program that is not Python gives native events only; a
failed exec leaves the program traced; a static program exec'd gets a notice, not a Goodbye
warning; the launched process's children still never join the session."""
import os
import pathlib
import re
import shutil
import stat

import pytest

from conftest import appears_in_order, check_nesting, hop_sequences, parse_jsonl, parse_path_line, run

DEMO = "ctypes_complex_struct"


def demo_entry(catalog):
    return next(d for d in catalog["demos"] if d["name"] == DEMO)


def write_script(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def exec_notices(stderr):
    return [line for line in stderr.splitlines() if line.startswith("layertrace: exec: PID")]


def probe_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("layertrace: probe ")]


def test_shell_script_exec_python_gives_the_full_trace(layertrace, demos_dir, catalog, python, tmp_path):
    demo = demo_entry(catalog)
    # The child's own view of the environment is printed by a subshell (a fork + exec of the
    # launched shell) before the exec: it must not see the probe's variables.
    # bash: it has its own getenv/setenv/unsetenv, and builds its children's environment from the
    # initial array (the probe must scrub that array itself).
    script = write_script(tmp_path / "launch.sh",
                          "#!/bin/bash\n"
                          f"child=$({python} -c 'import os; print(os.environ.get(\"LAYERTRACE_SOCKET\"), "
                          "os.environ.get(\"LD_PRELOAD\"))')\n"
                          "echo \"child sees: $child\" >&2\n"
                          f"exec {python} user.py\n")
    out, err = run(layertrace, ["run", "--lossless", "--format", "jsonl", "--app", str(demos_dir / DEMO),
                                "--", str(script)], cwd=demos_dir / DEMO)
    assert "child sees: None None" in err, err[-3000:]
    notices = exec_notices(err)
    assert len(notices) == 1 and "python3" in notices[0], err[-3000:]
    assert probe_lines(err) == [], err[-3000:]  # the launching shell is not said to lack Python
    events, modules = parse_jsonl(out)
    assert {e["kind"] for e in events} >= {"py_call", "py_return", "c_call", "ffi_call", "native_enter"}
    # One session: event numbers run on across the exec, one process (the exec keeps the PID;
    # the subshell's python never joined).
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert len({e["tid"] for e in events}) == 1, {e["tid"] for e in events}
    check_nesting(events)
    seqs = hop_sequences(events)
    for expected in demo["paths"]:
        assert any(appears_in_order(expected["hops"], seq) for seq in seqs.values()), expected["name"]
    # The shell's objects and the interpreter's both appear: the new image's module map.
    paths = {m.get("module_path", "") for m in modules}
    assert any(p.endswith("/libstruct_demo.so") for p in paths), sorted(paths)[:20]


def test_recording_of_an_exec_replays_the_same(layertrace, demos_dir, python, tmp_path):
    script = write_script(tmp_path / "launch.sh", f"#!/bin/sh\nexec {python} user.py\n")
    recording = tmp_path / "exec.ltr"
    live, err = run(layertrace, ["run", "--format", "path", "-o", str(recording), "--", str(script)],
                    cwd=demos_dir / DEMO)
    replayed, replay_err = run(layertrace, ["replay", "--format", "path", str(recording)], cwd=tmp_path)
    assert live == replayed
    assert any("libstruct_demo.so:transform_record" in line for line in replayed.splitlines())
    # The exec notice is part of the recording.
    assert exec_notices(err) and exec_notices(err)[0] in replay_err, replay_err[-2000:]


@pytest.mark.skipif(shutil.which("pyenv") is None, reason="pyenv is not installed")
def test_pyenv_shim_is_followed_to_the_interpreter(layertrace, demos_dir, tmp_path):
    root = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv"))
    shim = root / "shims" / "python3"
    if not shim.exists():
        pytest.skip(f"no pyenv shim at {shim}")
    out, err = run(layertrace, ["run", "--lossless", "--format", "path", "--", str(shim), "user.py"],
                   cwd=demos_dir / DEMO)
    lines = [parse_path_line(line) for line in out.splitlines() if line.strip()]
    assert any(any(hop[2] == "transform_record" for hop in hops) for hops in lines), out[-3000:]
    # env (the shim's #!) -> bash -> env -> ... -> the interpreter: a chain of execs, said in one
    # line once it reached the interpreter, and nothing else from the probes (none of the
    # launchers on the way is said to have no Python).
    assert probe_lines(err) == [], err[-3000:]
    notices = exec_notices(err)
    assert len(notices) == 1, err[-3000:]
    chain = re.search(r"exec'd (\d+) times \((.*)\); tracing goes on in the Python interpreter (\S+)$", notices[0])
    assert chain, notices[0]
    programs = chain.group(2).split(" -> ")
    assert int(chain.group(1)) >= 2 and len(programs) == int(chain.group(1)) + 1, notices[0]
    assert "bash" in programs[:-1] and programs[-1].startswith("python3"), notices[0]
    assert chain.group(3).endswith("/" + programs[-1]), notices[0]
    assert "without the probe's Goodbye" not in err, err[-3000:]


def test_exec_into_a_program_that_is_not_python(layertrace, python, tmp_path):
    program = tmp_path / "to_shell.py"
    program.write_text(
        "import ctypes, os\n"
        "libc = ctypes.CDLL('libc.so.6')\n"
        "print(libc.abs(-5), flush=True)\n"
        "try:\n"
        "    os.execv('/nonexistent/program', ['program'])\n"
        "except OSError:\n"
        "    print(libc.abs(-6), flush=True)\n"
        "os.execv('/bin/sh', ['sh', '-c', 'exit 7'])\n")
    out, err = run(layertrace, ["run", "--format", "jsonl", "--", python, str(program)], cwd=tmp_path,
                   check_status=7)
    events, _ = parse_jsonl(out)
    # Both calls are traced: the failed exec left the program traced (and says so).
    abs_calls = [e for e in events if e["kind"] == "ffi_call" and e.get("target", {}).get("symbol") == "abs"]
    assert len(abs_calls) == 2, err[-3000:]
    assert "exec of /nonexistent/program failed" in err, err[-3000:]
    # The shell has no Python: said once, with the exec that led to it, at the end; the trace ends
    # cleanly (its Goodbye came).
    notices = exec_notices(err)
    shell = os.path.realpath("/bin/sh")
    assert len(notices) == 1 and "/nonexistent" not in notices[0], err[-3000:]
    assert "exec'd once (" in notices[0], notices[0]
    assert notices[0].endswith(f" -> {os.path.basename(shell)}); {shell} has no Python interpreter: native events "
                               "only"), notices[0]
    assert "without the probe's Goodbye" not in err, err[-3000:]


def is_static_elf(path):
    """True when the ELF file has no PT_INTERP program header (no dynamic loader: LD_PRELOAD
    cannot apply)."""
    import struct
    with open(path, "rb") as f:
        header = f.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", header, 32)
        phentsize, phnum = struct.unpack_from("<HH", header, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))


def test_exec_of_a_static_program_is_noted(layertrace, tmp_path):
    static = shutil.which("ldconfig") or "/sbin/ldconfig"
    if not os.path.exists(static) or not is_static_elf(static):
        pytest.skip("no static program (ldconfig) to exec")
    script = write_script(tmp_path / "to_static.sh", f"#!/bin/sh\nexec {static} -p > /dev/null\n")
    _, err = run(layertrace, ["run", "--", str(script)], cwd=tmp_path)
    assert "which never connected" in err, err[-3000:]
    assert "without the probe's Goodbye" not in err, err[-3000:]


def test_modules_lists_the_interpreters_objects_only(layertrace, demos_dir, python, tmp_path):
    # bash execs the interpreter: bash's own objects (the bash executable) are left out of the
    # list and the note says so; --all-images lists both programs' objects.
    script = write_script(tmp_path / "launch.sh", f"#!/bin/bash\nexec {python} user.py\n")
    bash = os.path.realpath("/bin/bash")

    def listed(*options):
        out, err = run(layertrace, ["modules", *options, "--", str(script)], cwd=demos_dir / DEMO)
        paths = {line.rsplit("  ", 1)[1] for line in out.splitlines() if not line.startswith((" ", "(")) and "  " in line}
        return paths, out, err

    paths, out, _ = listed()
    assert any(p.endswith("/libstruct_demo.so") for p in paths), out[-3000:]
    assert bash not in paths, out[-3000:]
    assert out.splitlines()[-1] == ("(the process exec'd: of its 2 programs only the Python interpreter's objects "
                                    "are listed, 1 skipped (--all-images lists every program's))"), out[-3000:]
    paths, out, _ = listed("--all-images")
    assert bash in paths and any(p.endswith("/libstruct_demo.so") for p in paths), out[-3000:]
    assert "skipped" not in out
    # jsonl: stdout stays one object a line; the note goes to stderr.
    out, err = run(layertrace, ["modules", "--format", "jsonl", "--", str(script)], cwd=demos_dir / DEMO)
    events, modules = parse_jsonl(out)
    assert not events and modules and bash not in {m.get("module_path") for m in modules}, out[-3000:]
    assert "1 skipped (--all-images lists every program's)" in err, err[-3000:]
