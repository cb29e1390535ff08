"""Workload run under valgrind by test_memcheck.py: drives libstruct_demo.so through mypkg in one mode.

clean    -- every public path of the user API (results, errors, early and late frees); must be clean.
leak     -- calls transform_record() and never frees the output (negative control: must be flagged).
overread -- tells C there are more items than the array holds (negative control: must be flagged).
"""
import ctypes
import gc
import sys

from mypkg import InputRecordPy, ItemPy, TransformError, transform
from mypkg import bindings

ITEMS = tuple(ItemPy(i, (i * 37) % 50, f"item-{i}" * (1 + i % 3)) for i in range(12))
RECORD = InputRecordPy("sensor-A", version=2, origin=(10, 20), samples=(1, 2, 3, 4), items=ITEMS)


def clean():
    total = 0
    for top_n in (0, 1, 5, 100):
        with transform(RECORD, scale=1.5, min_weight=20, top_n=top_n) as out:
            total += len(out.items) + len(out.title)
    with transform(InputRecordPy("sensor-A", version=2, origin=(10, 20)), scale=1.5, min_weight=20, top_n=2) as out:
        total += len(out.title)
    for bad in (dict(scale=float("nan"), min_weight=0, top_n=1), dict(scale=1.0, min_weight=0, top_n=-1)):
        try:
            transform(RECORD, **bad)
        except TransformError:
            total += 1
    result = transform(RECORD, scale=2.0, min_weight=0, top_n=3)  # never entered: the finalizer frees it
    total += len(result.output.items)
    del result
    result = transform(RECORD, scale=2.0, min_weight=0, top_n=3)
    result.close()
    result.close()  # a second close must not double-free
    try:
        with transform(RECORD, scale=1.0, min_weight=0, top_n=2):
            raise KeyError("user code fails inside the block")
    except KeyError:
        total += 1
    gc.collect()
    print(f"clean workload done ({total})")


def leak():
    c_input, keepalive = RECORD.to_ctypes()
    raw = bindings.transform_raw(c_input, 1.5, 20, 3)
    assert raw.status == 0 and raw.item_count == 3
    del raw  # the native title and items are now unreachable: a definite leak


def overread():
    c_input, keepalive = RECORD.to_ctypes()
    c_input.item_count += 2  # lies about the array's length: C reads past its end
    # min_weight keeps the bogus items out of the copy step, so only the reads happen.
    raw = bindings.transform_raw(c_input, 1.0, 2**31 - 1, 1)
    bindings.free_raw(raw)


if __name__ == "__main__":
    {"clean": clean, "leak": leak, "overread": overread}[sys.argv[1]]()
