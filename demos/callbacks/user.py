"""Beyond the series: libvisit.so sorts and walks records by calling back into Python, via ctypes and cffi."""
import argparse
import collections
import ctypes
import functools
import math
import pathlib
import signal
import sys
import traceback

HERE = pathlib.Path(__file__).resolve().parent
# The library is found next to this script, never through LD_LIBRARY_PATH or the working directory.
LIBVISIT = HERE / "libvisit.so"
WAYS = ("ctypes", "cffi")
EXIT_MISMATCH = 3

Record = collections.namedtuple("Record", "id value name")

RECORDS = (Record(1, 21.5, "boiler"), Record(2, -3.0, "freezer"), Record(3, 18.25, "office"),
           Record(4, 21.5, "server-room"), Record(5, 4.0, "fridge"), Record(6, 35.0, "attic"),
           Record(7, 12.0, "cellar"))
LIMIT = 20.0  # the walk stops at the first record warmer than this


# --- The user's callbacks: plain Python, called from C ------------------------------------------
def compare_records(left, right):
    """Orders records by value. NaN has no order, so it is an error, not a silent 'equal'."""
    if math.isnan(left.value) or math.isnan(right.value):
        raise ValueError(f"cannot order records {left.id} and {right.id}: a value is NaN")
    return (left.value > right.value) - (left.value < right.value)


def collect_until(limit, seen):
    """A visitor: appends each name to seen and stops (returns True) at the first value above limit."""
    def visit(record, index):
        if record.value > limit:
            return True
        seen.append(record.name)
        return False
    return visit


class PendingCall:
    """Per-call state a C callback needs: the user's Python callable and the first error it raised."""
    __slots__ = ("callback", "error", "__weakref__")

    def __init__(self, callback):
        self.callback = callback
        self.error = None

    def finish(self, result):
        # The C function has returned: only now is it safe to raise what a callback raised.
        if self.error is not None:
            raise self.error
        return result


# --- ctypes: CFUNCTYPE callbacks, a libffi closure per callback object --------------------------
class CVisitRecord(ctypes.Structure):
    _fields_ = [("id", ctypes.c_int32), ("value", ctypes.c_double), ("name", ctypes.c_char_p)]


CTYPES_COMPARE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(CVisitRecord), ctypes.POINTER(CVisitRecord),
                                  ctypes.c_void_p)
CTYPES_VISIT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(CVisitRecord), ctypes.c_size_t, ctypes.c_void_p)


class CtypesWay:
    name = "ctypes"

    def __init__(self):
        self.lib = ctypes.CDLL(str(LIBVISIT))
        self.lib.visit_sort.argtypes = [ctypes.POINTER(CVisitRecord), ctypes.c_size_t, CTYPES_COMPARE,
                                        ctypes.c_void_p]
        self.lib.visit_sort.restype = ctypes.c_long
        self.lib.visit_each.argtypes = [ctypes.POINTER(CVisitRecord), ctypes.c_size_t, CTYPES_VISIT,
                                        ctypes.c_void_p]
        self.lib.visit_each.restype = ctypes.c_long

    @staticmethod
    def to_array(records):
        names = [r.name.encode() for r in records]  # the char* fields point into these bytes objects
        array = (CVisitRecord * len(records))(*[(r.id, r.value, n) for r, n in zip(records, names)])
        return array, names

    @staticmethod
    def to_record(c_record):
        return Record(c_record.id, c_record.value, c_record.name.decode())

    def sort(self, records, compare=compare_records):
        """Sorts through visit_sort(); returns (sorted records, number of compare callbacks)."""
        array, keepalive = self.to_array(records)
        call = PendingCall(compare)

        def on_compare(left, right, _context):
            # Left alone, ctypes prints an exception raised here, swallows it and hands C an
            # undefined int; so catch it, answer "equal" from now on, and re-raise after the C call.
            if call.error is not None:
                return 0
            try:
                return call.callback(self.to_record(left.contents), self.to_record(right.contents))
            except BaseException as error:  # noqa: B902 -- KeyboardInterrupt must reach the caller too
                call.error = error
                return 0

        # Keepalive: the CFUNCTYPE object owns the libffi closure C calls. C uses it only during
        # visit_sort(), and this local outlives that call; a C library that stored the pointer
        # would need it kept for as long as it might call it.
        callback = CTYPES_COMPARE(on_compare)
        calls = self.lib.visit_sort(array, len(array), callback, None)
        del keepalive
        return call.finish(([self.to_record(r) for r in array], calls))

    def visit(self, records, visitor):
        """Walks the records through visit_each(); returns the number of visit callbacks."""
        array, keepalive = self.to_array(records)
        call = PendingCall(visitor)

        def on_visit(record, index, _context):
            try:
                return 1 if call.callback(self.to_record(record.contents), index) else 0
            except BaseException as error:  # noqa: B902
                call.error = error
                return 1  # stop the walk: nothing after a failed visit should run

        callback = CTYPES_VISIT(on_visit)
        calls = self.lib.visit_each(array, len(array), callback, None)
        del keepalive
        return call.finish(calls)


# --- cffi, ABI mode: ffi.callback, also a libffi closure, with error=/onerror= handling ----------
CFFI_CDEF = """
typedef struct VisitRecord { int32_t id; double value; const char *name; } VisitRecord;
typedef int (*visit_compare_fn)(const VisitRecord *left, const VisitRecord *right, void *context);
typedef int (*visit_fn)(const VisitRecord *record, size_t index, void *context);
long visit_sort(VisitRecord *records, size_t count, visit_compare_fn compare, void *context);
long visit_each(const VisitRecord *records, size_t count, visit_fn visit, void *context);
"""


class CffiWay:
    name = "cffi"

    def __init__(self):
        import cffi  # imported here so `--way ctypes` runs without cffi installed

        self.ffi = cffi.FFI()
        self.ffi.cdef(CFFI_CDEF)
        self.lib = self.ffi.dlopen(str(LIBVISIT))
        # One callback object each, made once and kept on self for the program's life (cffi frees a
        # callback's closure with the object). Per-call state travels through the void* context as
        # an ffi.new_handle(). If a callback raises, cffi returns `error` to C and calls onerror.
        self.compare_callback = self.ffi.callback("visit_compare_fn", self.on_compare, error=0,
                                                  onerror=self.on_error)
        self.visit_callback = self.ffi.callback("visit_fn", self.on_visit, error=1, onerror=self.on_error)

    def to_array(self, records):
        names = [self.ffi.new("char[]", r.name.encode()) for r in records]  # cffi never keeps these alive itself
        array = self.ffi.new("VisitRecord[]", len(records))
        for slot, record, name in zip(array, records, names):
            slot.id, slot.value, slot.name = record.id, record.value, name
        return array, names

    def to_record(self, c_record):
        return Record(c_record.id, c_record.value, self.ffi.string(c_record.name).decode())

    def on_compare(self, left, right, context):
        call = self.ffi.from_handle(context)
        if call.error is not None:
            return 0
        return call.callback(self.to_record(left), self.to_record(right))

    def on_visit(self, record, index, context):
        call = self.ffi.from_handle(context)
        return 1 if call.callback(self.to_record(record), index) else 0

    @staticmethod
    def on_error(exc_type, exc_value, tb):
        # cffi hands over the traceback of the failed callback: its first frame is on_compare or
        # on_visit, whose local `call` is the PendingCall to report to. Returning None keeps the
        # callback's `error` value as the result C receives.
        call = tb.tb_frame.f_locals.get("call") if tb is not None else None
        if isinstance(call, PendingCall):
            call.error = exc_value
        else:  # the failure came before the state was found: report it rather than lose it
            traceback.print_exception(exc_type, exc_value, tb)

    def sort(self, records, compare=compare_records):
        array, keepalive = self.to_array(records)
        call = PendingCall(compare)
        handle = self.ffi.new_handle(call)  # keepalive: the void* is valid only while `handle` lives
        calls = self.lib.visit_sort(array, len(records), self.compare_callback, handle)
        del handle, keepalive
        return call.finish(([self.to_record(r) for r in array], calls))

    def visit(self, records, visitor):
        array, keepalive = self.to_array(records)
        call = PendingCall(visitor)
        handle = self.ffi.new_handle(call)
        calls = self.lib.visit_each(array, len(records), self.visit_callback, handle)
        del handle, keepalive
        return call.finish(calls)


LOADERS = {"ctypes": CtypesWay, "cffi": CffiWay}


# --- Reference results, computed without C, to check every iteration ----------------------------
def reference_sort(records):
    """sorted() is stable like visit_sort; the count replays visit_sort's insertion sort."""
    ordered = list(records)
    calls = 0
    for i in range(1, len(ordered)):
        j = i
        while j > 0:
            calls += 1
            if compare_records(ordered[j - 1], ordered[j]) <= 0:  # the moving record sits at j
                break
            ordered[j - 1], ordered[j] = ordered[j], ordered[j - 1]
            j -= 1
    assert ordered == sorted(records, key=functools.cmp_to_key(compare_records))
    return ordered, calls


def reference_visit(records, limit):
    seen = []
    for index, record in enumerate(records):
        if record.value > limit:
            return seen, index + 1
        seen.append(record.name)
    return seen, len(records)


class Mismatch(Exception):
    pass


def run_iteration(way):
    """One iteration of one way: exactly one visit_sort() and one visit_each() call."""
    ordered, compare_calls = way.sort(RECORDS)
    seen = []
    visit_calls = way.visit(ordered, collect_until(LIMIT, seen))
    expected_order, expected_compares = reference_sort(RECORDS)
    expected_seen, expected_visits = reference_visit(expected_order, LIMIT)
    got = (ordered, compare_calls, seen, visit_calls)
    expected = (expected_order, expected_compares, expected_seen, expected_visits)
    if got != expected:
        raise Mismatch(f"{way.name}: got {got}, expected {expected}")
    return got


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--way", choices=WAYS + ("all",), default="all",
                        help="call libvisit through ctypes, cffi, or both (default)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--repeat", type=int, metavar="N",
                      help="N iterations per way, each one visit_sort() and one visit_each() call")
    mode.add_argument("--forever", action="store_true",
                      help="loop until SIGTERM/SIGINT; print 'ready' after the first good iteration")
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 0:
        parser.error(f"--repeat must be >= 0, got {args.repeat}")
    return args


def run_forever(ways):
    stop = []
    # The handler only records the signal; the loop finishes its iteration and reports cleanly.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: stop.append(received))
    completed = 0
    while not stop:
        for way in ways:
            run_iteration(way)
        completed += 1
        if completed == 1:
            print("ready", flush=True)
    print(f"stopped after {completed} iterations, all correct", flush=True)
    return 0


def main(argv=None):
    args = parse_args(argv)
    ways = [LOADERS[name]() for name in (WAYS if args.way == "all" else (args.way,))]
    try:
        if args.forever:
            return run_forever(ways)
        if args.repeat is not None:
            compares = visits = 0
            for _ in range(args.repeat):
                for way in ways:
                    _, compare_calls, _, visit_calls = run_iteration(way)
                    compares += compare_calls
                    visits += visit_calls
            calls = args.repeat * len(ways)
            print(f"{args.repeat} iterations x {len(ways)} way(s) ({', '.join(w.name for w in ways)}): "
                  f"{calls} visit_sort + {calls} visit_each calls, {compares} compare and {visits} visit "
                  f"callbacks, all correct")
            return 0
        for way in ways:
            ordered, compare_calls, seen, visit_calls = run_iteration(way)
            print(f"{way.name:<6} sorted: {', '.join(f'{r.name} {r.value:g}' for r in ordered)} "
                  f"({compare_calls} compare callbacks)")
            print(f"{way.name:<6} visited up to {LIMIT:g}: {', '.join(seen)} ({visit_calls} visit callbacks)")
        return 0
    except Mismatch as error:
        print(f"mismatch: {error}", file=sys.stderr)
        return EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main())
