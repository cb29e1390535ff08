"""Tests of the callbacks demo: C calls back into Python through ctypes and cffi closures, and
exceptions raised in callbacks are handled the way each library does it."""
import ctypes
import gc
import math
import os
import pathlib
import signal
import subprocess
import sys
import weakref

import pytest

DEMO = pathlib.Path(os.environ["LAYERTRACE_DEMO_DIR"])
sys.path.insert(0, str(DEMO))

import user  # noqa: E402  (the staged user script, imported as a module)
from user import Record  # noqa: E402

WAYS = {name: loader() for name, loader in user.LOADERS.items()}


def run_user(*args):
    return subprocess.run([sys.executable, "user.py", *args], cwd=DEMO, capture_output=True, text=True, timeout=60)


@pytest.fixture(params=user.WAYS)
def way(request):
    return WAYS[request.param]


def test_default_run_prints_both_ways():
    result = run_user()
    assert result.returncode == 0, result.stderr
    sort_line = ("sorted: freezer -3, fridge 4, cellar 12, office 18.25, boiler 21.5, server-room 21.5, attic 35 "
                 "(14 compare callbacks)")
    visit_line = "visited up to 20: freezer, fridge, cellar, office (5 visit callbacks)"
    assert result.stdout.splitlines() == [f"ctypes {sort_line}", f"ctypes {visit_line}",
                                          f"cffi   {sort_line}", f"cffi   {visit_line}"]


def test_user_script_does_not_depend_on_the_working_directory():
    result = subprocess.run([sys.executable, str(DEMO / "user.py"), "--repeat", "1"], cwd="/",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("all correct\n")


def test_sort_is_done_by_c_calling_the_python_comparator(way):
    seen_pairs = []

    def compare(left, right):
        seen_pairs.append((left.id, right.id))
        return user.compare_records(left, right)

    ordered, calls = way.sort(user.RECORDS, compare)
    assert [r.id for r in ordered] == [2, 5, 7, 3, 1, 4, 6]  # 1 and 4 tie at 21.5: stable order kept
    assert calls == len(seen_pairs) == 14 and seen_pairs[0] == (1, 2)
    assert ordered[0] == Record(2, -3.0, "freezer")  # names made the round trip through char*


def test_a_comparator_can_reverse_the_order(way):
    ordered, _ = way.sort(user.RECORDS, lambda a, b: user.compare_records(b, a))
    assert [r.value for r in ordered] == sorted((r.value for r in user.RECORDS), reverse=True)


def test_visit_passes_indexes_and_stops_when_asked(way):
    visited = []

    def visitor(record, index):
        visited.append((index, record.id))
        return record.id == 3

    assert way.visit(user.RECORDS, visitor) == 3
    assert visited == [(0, 1), (1, 2), (2, 3)]
    assert way.visit([], visitor) == 0


def test_a_comparator_exception_is_raised_after_c_returns(way):
    records = user.RECORDS + (Record(8, math.nan, "broken"),)
    calls_after_error = []

    def compare(left, right):
        if calls_after_error:
            calls_after_error.append((left.id, right.id))
        try:
            return user.compare_records(left, right)
        except ValueError:
            calls_after_error.append("raised")
            raise

    with pytest.raises(ValueError, match="cannot order records .* NaN"):
        way.sort(records, compare)
    assert calls_after_error == ["raised"]  # after the first error Python code is not run again


def test_a_visitor_exception_stops_the_walk_and_is_raised(way):
    def visitor(record, index):
        if index == 2:
            raise KeyError(record.name)
        return False

    with pytest.raises(KeyError, match="office"):
        way.visit(user.RECORDS, visitor)


def test_keyboard_interrupt_in_a_callback_reaches_the_caller(way):
    def visitor(record, index):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        way.visit(user.RECORDS, visitor)


# --- What the libraries themselves do with an exception nobody catches ---------------------------
def test_bare_ctypes_callback_exception_goes_to_unraisablehook(monkeypatch):
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    lib = WAYS["ctypes"].lib
    array, _names = user.CtypesWay.to_array(user.RECORDS)

    def visit(record, index, context):
        raise RuntimeError(f"boom at {index}")

    callback = user.CTYPES_VISIT(visit)
    # ctypes reports the exception and goes on: C gets an unspecified int and keeps walking or stops
    calls = lib.visit_each(array, len(array), callback, None)
    assert 1 <= calls <= len(array) and len(reports) == calls
    assert isinstance(reports[0].exc_value, RuntimeError) and str(reports[0].exc_value) == "boom at 0"
    assert "ctypes callback" in reports[0].err_msg


def test_bare_cffi_callback_returns_its_error_value_and_reports(monkeypatch):
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    way = WAYS["cffi"]
    array, _names = way.to_array(user.RECORDS)

    def visit(record, index, context):
        raise RuntimeError("boom")

    stop_on_error = way.ffi.callback("visit_fn", visit, error=1)  # no onerror: cffi reports it
    assert way.lib.visit_each(array, len(array), stop_on_error, way.ffi.NULL) == 1
    continue_on_error = way.ffi.callback("visit_fn", visit, error=0)
    assert way.lib.visit_each(array, len(array), continue_on_error, way.ffi.NULL) == len(array)
    assert len(reports) == 1 + len(array)
    assert all(isinstance(r.exc_value, RuntimeError) and "cffi callback" in r.err_msg for r in reports)


def test_the_demo_handlers_leave_nothing_unraisable(way, monkeypatch):
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    with pytest.raises(ValueError):
        way.sort(user.RECORDS + (Record(9, math.nan, "x"),))
    assert reports == []


# --- Keepalive --------------------------------------------------------------------------------
def test_per_call_state_lives_exactly_as_long_as_the_call(way, monkeypatch):
    states = []
    real = user.PendingCall

    class TrackedCall(real):
        def __init__(self, callback):
            super().__init__(callback)
            states.append(weakref.ref(self))

    monkeypatch.setattr(user, "PendingCall", TrackedCall)
    alive_during_call = []

    def visitor(record, index):
        alive_during_call.append(states[-1]() is not None)
        return False

    way.visit(user.RECORDS, visitor)
    gc.collect()
    assert alive_during_call == [True] * len(user.RECORDS)
    assert states[-1]() is None  # no handle or closure keeps it (or the user's callback) alive afterwards


def test_cffi_callbacks_are_made_once_and_kept_for_the_life_of_the_way():
    way = user.CffiWay()
    assert way.ffi.typeof(way.compare_callback) is way.ffi.typeof("visit_compare_fn")
    assert way.ffi.typeof(way.visit_callback) is way.ffi.typeof("visit_fn")
    before = (way.compare_callback, way.visit_callback)
    way.sort(user.RECORDS)
    way.visit(user.RECORDS, lambda record, index: False)
    assert (way.compare_callback, way.visit_callback) == before  # reused, never rebuilt per call


def test_c_rejects_null_callbacks():
    lib = WAYS["ctypes"].lib
    array, _names = user.CtypesWay.to_array(user.RECORDS)
    assert lib.visit_sort(array, len(array), user.CTYPES_COMPARE(), None) == -1  # a NULL function pointer
    assert lib.visit_each(array, len(array), user.CTYPES_VISIT(), None) == -1


# --- The script's modes -----------------------------------------------------------------------
@pytest.mark.parametrize("selected, ways", [("ctypes", 1), ("cffi", 1), ("all", 2)])
def test_repeat_counts_calls_and_callbacks(selected, ways):
    result = run_user("--way", selected, "--repeat", "30")
    assert result.returncode == 0, result.stderr
    calls = 30 * ways
    assert result.stdout.endswith(f": {calls} visit_sort + {calls} visit_each calls, {14 * calls} compare "
                                  f"and {5 * calls} visit callbacks, all correct\n")


def test_forever_signals_ready_and_stops_cleanly_on_sigterm():
    proc = subprocess.Popen([sys.executable, "user.py", "--forever"], cwd=DEMO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    iterations = int(out.split()[2])
    assert iterations >= 1 and out == f"stopped after {iterations} iterations, all correct\n"


def test_a_wrong_result_exits_3(monkeypatch, capsys):
    # A wrong expectation stands in for a wrong native result: the script must name it and exit 3.
    monkeypatch.setattr(user, "reference_visit", lambda records, limit: (["nobody"], 1))
    assert user.main(["--way", "cffi", "--repeat", "1"]) == user.EXIT_MISMATCH
    assert "mismatch: cffi: got" in capsys.readouterr().err
