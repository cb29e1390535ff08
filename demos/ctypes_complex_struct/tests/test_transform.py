"""Tests of the Part IV demo: transform() results, errors, keepalive and freeing, and the user script."""
import ctypes
import dataclasses
import gc
import math
import os
import pathlib
import signal
import subprocess
import sys

import pytest

DEMO = pathlib.Path(os.environ["LAYERTRACE_DEMO_DIR"])
sys.path.insert(0, str(DEMO))

import user  # noqa: E402  (the staged user script, imported as a module)
from mypkg import InputRecordPy, ItemPy, ScoredItemPy, TransformError, transform  # noqa: E402
from mypkg import bindings  # noqa: E402

SERIES_LINE = ('with transform(InputRecordPy("sensor-A", version=2, origin=(10, 20)), scale=1.5, min_weight=20, '
               'top_n=2) as out:')

ITEMS = (ItemPy(1, 10, "dust"), ItemPy(2, 35, "pressure"), ItemPy(3, 20, "humidity"),
         ItemPy(4, 35, "temperature"), ItemPy(5, 5, "noise"))
RECORD = InputRecordPy("probe-7", version=9, origin=(1, -1), samples=(0.5, -4, 2, 8), items=ITEMS)


def run_user(*args):
    return subprocess.run([sys.executable, "user.py", *args], cwd=DEMO, capture_output=True, text=True, timeout=60)


def test_series_example_runs_verbatim_and_prints_the_title():
    source = (DEMO / "user.py").read_text()
    assert SERIES_LINE in source and "print(out.title)" in source
    result = run_user()
    assert result.returncode == 0, result.stderr
    assert result.stdout == "sensor-A v2 at (15, 30), scale 1.5: 0 of 0 items kept\n"


def test_user_script_does_not_depend_on_the_working_directory():
    # mypkg loads libstruct_demo.so relative to its own __file__, so running from / works.
    result = subprocess.run([sys.executable, str(DEMO / "user.py")], cwd="/", capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sensor-A v2 at (15, 30)")


def test_native_results_filter_rank_and_keep_top_n():
    with transform(RECORD, scale=2.5, min_weight=20, top_n=3) as out:
        # ids 2 and 4 tie on score and rank by id; weights below 20 are filtered out
        assert out.items == (ScoredItemPy(2, 35, 87.5, "pressure"), ScoredItemPy(4, 35, 87.5, "temperature"),
                             ScoredItemPy(3, 20, 50.0, "humidity"))
        assert out.origin == (3, -3)  # 2.5 and -2.5 round away from zero, as C's round() does
        assert out.version == 9
        assert out.stats == (-10.0, 20.0, pytest.approx((0.5 - 4 + 2 + 8) * 2.5 / 4))
        assert out.title == "probe-7 v9 at (3, -3), scale 2.5: 3 of 5 items kept"
    assert out == user.reference_output(RECORD, scale=2.5, min_weight=20, top_n=3)


@pytest.mark.parametrize("scale, min_weight, top_n", [(1.0, 0, 10), (-1.0, 6, 2), (0.0, 35, 1), (3.25, 100, 4)])
def test_native_results_match_the_python_reference(scale, min_weight, top_n):
    with transform(RECORD, scale=scale, min_weight=min_weight, top_n=top_n) as out:
        assert out == user.reference_output(RECORD, scale=scale, min_weight=min_weight, top_n=top_n)


@pytest.mark.parametrize("args, status", [
    (dict(scale=math.nan, min_weight=0, top_n=1), 2),
    (dict(scale=math.inf, min_weight=0, top_n=1), 2),
    (dict(scale=1.0, min_weight=0, top_n=-1), 2),
    (dict(scale=3e9, min_weight=0, top_n=1), 2),  # the scaled origin no longer fits int32
])
def test_library_errors_become_transform_error(args, status):
    with pytest.raises(TransformError, match=f"status {status}: ") as caught:
        transform(RECORD, **args)
    assert caught.value.status == status


@pytest.mark.parametrize("make, error", [
    (lambda: InputRecordPy("bad\0name"), ValueError),
    (lambda: InputRecordPy("x", items=[ItemPy(1, 1, "nul\0label")]), ValueError),
    (lambda: InputRecordPy("x", samples=(1, 2, 3)), ValueError),
    (lambda: InputRecordPy("x", origin=(1, 2, 3)), ValueError),
    (lambda: InputRecordPy("x", version=-1), OverflowError),
    (lambda: InputRecordPy("x", items=[ItemPy(1, 2**31, "big")]), OverflowError),
])
def test_input_that_c_cannot_represent_is_rejected_in_python(make, error):
    with pytest.raises(error):
        record = make()
        transform(record, scale=1.0, min_weight=0, top_n=1)


def raw_pointer(struct, field):
    """The address stored in a char* field (reading a c_char_p field would return a bytes copy)."""
    return ctypes.c_void_p.from_buffer(struct, getattr(type(struct), field).offset).value


@pytest.mark.parametrize("args", [dict(min_weight=2**31, top_n=1), dict(min_weight=0, top_n=-2**31 - 1)])
def test_arguments_that_c_int_cannot_hold_are_rejected(args):
    with pytest.raises(OverflowError, match="does not fit in int32"):
        transform(RECORD, scale=1.0, **args)


def test_every_pointer_handed_to_c_points_into_the_keepalive_buffers():
    c_input, keepalive = RECORD.to_ctypes()
    buffers = {ctypes.addressof(buf): buf for buf in keepalive}
    assert raw_pointer(c_input, "name") in buffers
    assert ctypes.addressof(c_input.items.contents) in buffers  # the Item array itself
    for i in range(c_input.item_count):
        assert raw_pointer(c_input.items[i], "label") in buffers
    assert c_input.item_count == len(ITEMS) and list(c_input.samples) == [0.5, -4, 2, 8]


def test_an_empty_record_passes_null_items():
    c_input, _ = InputRecordPy("empty").to_ctypes()
    assert not c_input.items and c_input.item_count == 0


def test_leaving_the_block_frees_the_native_record_and_keeps_the_python_copy():
    result = transform(RECORD, scale=1.0, min_weight=0, top_n=5)
    raw = result._raw
    assert raw.title is not None and raw.item_count == 5 and not result.closed
    with result as out:
        pass
    # free_output_record() resets the record it freed: proof the library's free ran on this record
    assert result.closed and raw.title is None and not raw.items and raw.item_count == 0
    assert out.items[0].label == "pressure" and out.title.startswith("probe-7")


def test_an_exception_in_the_block_still_frees():
    result = transform(RECORD, scale=1.0, min_weight=0, top_n=5)
    with pytest.raises(KeyError):
        with result:
            raise KeyError("boom")
    assert result.closed and result._raw.title is None


def test_an_unentered_result_is_freed_when_collected():
    result = transform(RECORD, scale=1.0, min_weight=0, top_n=5)
    finalizer, raw = result._finalizer, result._raw
    del result
    gc.collect()
    assert not finalizer.alive and raw.title is None


def test_structure_mirrors_match_the_c_layout_and_drift_is_caught(monkeypatch):
    bindings.check_layout()

    class Point(ctypes.Structure):  # a stale mirror: the C struct has two fields
        _fields_ = [("x", ctypes.c_int32), ("y", ctypes.c_int32), ("z", ctypes.c_int32)]

    monkeypatch.setattr(bindings, "MIRRORS", (Point,))
    with pytest.raises(ImportError, match="struct Point is 8 bytes in C but 12"):
        bindings.check_layout()


def test_repeat_checks_every_call():
    result = run_user("--repeat", "200")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("200 calls of transform_record, all correct; "
                             "last: sensor-A v2 at (15, 30), scale 1.5: 2 of 5 items kept\n")


def test_forever_signals_ready_and_stops_cleanly_on_sigint():
    proc = subprocess.Popen([sys.executable, "user.py", "--forever"], cwd=DEMO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    iterations = int(out.split()[2])
    assert iterations >= 1 and out == f"stopped after {iterations} iterations, all correct\n"


def test_a_wrong_result_exits_3(monkeypatch, capsys):
    real = user.reference_output
    # A wrong expectation (OutputRecordPy is frozen, so replace one field): the script must exit 3.
    monkeypatch.setattr(user, "reference_output",
                        lambda *a, **k: dataclasses.replace(real(*a, **k), title="something else"))
    assert user.main(["--repeat", "1"]) == user.EXIT_MISMATCH
    assert "mismatch: transform('sensor-A'" in capsys.readouterr().err
