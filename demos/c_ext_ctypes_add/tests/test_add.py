"""Tests of the Part III demo: add() gives the right sums through ctypes, CFFI ABI and CFFI API mode."""
import ctypes
import os
import pathlib
import signal
import subprocess
import sys

import pytest

DEMO = pathlib.Path(os.environ["LAYERTRACE_DEMO_DIR"])
sys.path.insert(0, str(DEMO))  # so _add_cffi and user.py import from the staged folder

import user  # noqa: E402  (the staged user script, imported as a module)


def run_user(*args, timeout=60):
    return subprocess.run([sys.executable, "user.py", *args], cwd=DEMO, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module", params=user.WAYS)
def way(request):
    return request.param, user.LOADERS[request.param]()


def test_default_run_prints_the_series_sum_for_each_way():
    result = run_user()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ctypes    add(2, 3) = 5",
        "cffi-abi  add(2, 3) = 5",
        "cffi-api  add(2, 3) = 5",
    ]


@pytest.mark.parametrize("a, b, expected", [
    (2, 3, 5), (-7, 4, -3), (0, 0, 0),
    (2**31 - 1, 1, -(2**31)),  # wraps like 32-bit two's complement (see add.c)
    (-(2**31), -1, 2**31 - 1),
])
def test_each_way_computes_the_native_sum(way, a, b, expected):
    name, lib = way
    assert user.CALLERS[name](lib, a, b) == expected


def test_ctypes_declares_the_c_signature():
    lib = user.load_ctypes()
    assert lib.add.argtypes == [ctypes.c_int, ctypes.c_int]
    assert lib.add.restype is ctypes.c_int
    with pytest.raises(ctypes.ArgumentError):
        lib.add("2", 3)  # argtypes make _ctypes reject what C cannot take


@pytest.mark.parametrize("name", ["cffi-abi", "cffi-api"])
def test_cffi_ways_reject_non_ints_and_out_of_range(name):
    lib = user.LOADERS[name]()
    with pytest.raises(TypeError):
        lib.add("2", 3)
    with pytest.raises(OverflowError):  # cffi range-checks C int arguments; ctypes would truncate
        lib.add(2**31, 0)


def test_api_mode_module_finds_libadd_through_its_origin_rpath():
    # A fresh interpreter that imports only _add_cffi, from another working directory and with no
    # LD_LIBRARY_PATH: libadd.so can only come from the module's $ORIGIN rpath.
    probe = ("import pathlib, _add_cffi; "
             "maps = pathlib.Path('/proc/self/maps').read_text(); "
             "print(_add_cffi.__file__); "
             "print(sorted({line.split()[-1] for line in maps.splitlines() if line.endswith('libadd.so')})); "
             "print(_add_cffi.lib.add(40, 2))")
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    env["PYTHONPATH"] = str(DEMO)
    result = subprocess.run([sys.executable, "-c", probe], cwd="/", env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    module_file, mapped, total = result.stdout.splitlines()
    assert pathlib.Path(module_file).parent == DEMO and pathlib.Path(module_file).name.startswith("_add_cffi.")
    assert mapped == repr([str(DEMO / "libadd.so")]) and total == "42"


def test_user_script_does_not_depend_on_the_working_directory():
    result = subprocess.run([sys.executable, str(DEMO / "user.py")], cwd="/", capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("= 5\n") == 3


@pytest.mark.parametrize("selected", ["ctypes", "cffi-abi", "cffi-api", "all"])
def test_repeat_counts_calls_per_way(selected):
    result = run_user("--way", selected, "--repeat", "250")
    assert result.returncode == 0, result.stderr
    ways = 3 if selected == "all" else 1
    assert result.stdout.strip().endswith(f": {250 * ways} calls of add, all correct")


def test_repeat_rejects_negative_counts():
    result = run_user("--repeat", "-1")
    assert result.returncode == 2
    assert "--repeat must be >= 0" in result.stderr


def test_forever_signals_ready_and_stops_cleanly_on_sigterm():
    proc = subprocess.Popen([sys.executable, "user.py", "--forever"], cwd=DEMO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"  # readiness through the pipe, no sleeping
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    iterations = int(out.split()[2])
    assert iterations >= 1 and out == f"stopped after {iterations} iterations, all correct\n"


def test_a_wrong_result_is_reported_with_exit_code_3(monkeypatch, capsys):
    # Stand in a wrong reference for one call: the script must name the mismatch and exit 3.
    monkeypatch.setattr(user, "expected_sum", lambda a, b: a + b + 1)
    assert user.main(["--way", "ctypes", "--repeat", "1"]) == user.EXIT_MISMATCH
    assert "mismatch: ctypes: add(2, 3) returned 5, expected 6" in capsys.readouterr().err
