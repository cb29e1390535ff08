"""Part IV wrapper: loads libstruct_demo.so, mirrors its structs with ctypes and offers transform()."""
import ctypes
import dataclasses
import pathlib
import weakref
from typing import Sequence, Tuple

# Loaded by a path relative to this file: no LD_LIBRARY_PATH, no dependence on the working directory.
LIBRARY_PATH = pathlib.Path(__file__).resolve().parent / "libstruct_demo.so"
_lib = ctypes.CDLL(str(LIBRARY_PATH))

SAMPLE_COUNT = 4  # SD_SAMPLE_COUNT in struct_demo.h; check_layout() verifies every mirror's size
STAT_COUNT = 3    # SD_STAT_COUNT
STATUS_OK = 0


# --- Structure mirrors: field order and types exactly as in struct_demo.h -------------------------
class Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int32), ("y", ctypes.c_int32)]


class Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("origin", Point)]


class Item(ctypes.Structure):
    _fields_ = [("id", ctypes.c_int32), ("weight", ctypes.c_int32), ("label", ctypes.c_char_p)]


class InputRecord(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("header", Header),
        ("samples", ctypes.c_double * SAMPLE_COUNT),
        ("items", ctypes.POINTER(Item)),
        ("item_count", ctypes.c_size_t),
    ]


class ScoredItem(ctypes.Structure):
    # label is char* owned by the C side: c_char_p reads copy the bytes out, and ctypes never frees it.
    _fields_ = [("id", ctypes.c_int32), ("weight", ctypes.c_int32), ("score", ctypes.c_double),
                ("label", ctypes.c_char_p)]


class OutputRecord(ctypes.Structure):
    _fields_ = [
        ("status", ctypes.c_int32),
        ("title", ctypes.c_char_p),
        ("header", Header),
        ("stats", ctypes.c_double * STAT_COUNT),
        ("items", ctypes.POINTER(ScoredItem)),
        ("item_count", ctypes.c_size_t),
    ]


# --- Signatures: without argtypes/restype ctypes would pass ints and read the result as int ------
_lib.transform_record.argtypes = [ctypes.POINTER(InputRecord), ctypes.c_double, ctypes.c_int, ctypes.c_int]
_lib.transform_record.restype = OutputRecord  # returned by value (sret); ctypes copies it into a Structure
_lib.free_output_record.argtypes = [ctypes.POINTER(OutputRecord)]
_lib.free_output_record.restype = None
_lib.sd_status_message.argtypes = [ctypes.c_int]
_lib.sd_status_message.restype = ctypes.c_char_p
_lib.sd_layout_size.argtypes = [ctypes.c_char_p]
_lib.sd_layout_size.restype = ctypes.c_size_t

MIRRORS = (Point, Header, Item, InputRecord, ScoredItem, OutputRecord)


def check_layout() -> None:
    """Raises if a Structure mirror's size differs from the C struct's (a drifted header)."""
    for mirror in MIRRORS:
        native = _lib.sd_layout_size(mirror.__name__.encode())
        if native != ctypes.sizeof(mirror):
            raise ImportError(f"{LIBRARY_PATH}: struct {mirror.__name__} is {native} bytes in C but "
                              f"{ctypes.sizeof(mirror)} in mypkg.bindings; rebuild or fix the mirror")


check_layout()


class TransformError(RuntimeError):
    """transform_record() reported a failure status."""

    def __init__(self, status: int):
        self.status = status
        super().__init__(f"transform_record failed with status {status}: "
                         f"{_lib.sd_status_message(status).decode()}")


def _encode(text: str, what: str) -> bytes:
    data = text.encode("utf-8")
    if b"\0" in data:
        raise ValueError(f"{what} {text!r} contains a NUL character; C would silently truncate it")
    return data


def _int32(value: int, what: str) -> int:
    if not -2**31 <= value < 2**31:
        raise OverflowError(f"{what} {value} does not fit in int32")
    return value


# --- The user API (the Python mirror): plain Python objects, no ctypes visible -------------------
@dataclasses.dataclass(frozen=True)
class ItemPy:
    id: int
    weight: int
    label: str


@dataclasses.dataclass(frozen=True)
class InputRecordPy:
    name: str
    version: int = 1
    origin: Tuple[int, int] = (0, 0)
    samples: Sequence[float] = (0.0,) * SAMPLE_COUNT
    items: Sequence[ItemPy] = ()

    def __post_init__(self):
        # Normalise once so to_ctypes() can trust the shapes.
        object.__setattr__(self, "origin", tuple(self.origin))
        object.__setattr__(self, "samples", tuple(float(s) for s in self.samples))
        object.__setattr__(self, "items", tuple(i if isinstance(i, ItemPy) else ItemPy(*i) for i in self.items))
        if len(self.origin) != 2:
            raise ValueError(f"origin must be (x, y), got {self.origin!r}")
        if len(self.samples) != SAMPLE_COUNT:
            raise ValueError(f"samples must hold exactly {SAMPLE_COUNT} values, got {len(self.samples)}")
        if not 0 <= self.version < 2**32:
            raise OverflowError(f"version {self.version} does not fit in uint32")

    def to_ctypes(self) -> Tuple[InputRecord, tuple]:
        """Builds the C input record and the tuple of every buffer its pointers refer to.

        The caller must hold the keepalive tuple until the C call returns: InputRecord's char* and
        Item* fields are raw addresses into these buffers, and if they were collected C would read
        freed memory. (ctypes also records some references in the Structure's _objects, but that
        is an implementation detail; the contract here is explicit.)
        """
        name_buffer = ctypes.create_string_buffer(_encode(self.name, "name"))
        label_buffers = [ctypes.create_string_buffer(_encode(item.label, "item label")) for item in self.items]
        item_array = (Item * len(self.items))()
        for slot, item, label in zip(item_array, self.items, label_buffers):
            slot.id = _int32(item.id, "item id")
            slot.weight = _int32(item.weight, "item weight")
            slot.label = ctypes.cast(label, ctypes.c_char_p)
        record = InputRecord()
        record.name = ctypes.cast(name_buffer, ctypes.c_char_p)
        record.header.version = self.version
        record.header.origin.x = _int32(self.origin[0], "origin x")
        record.header.origin.y = _int32(self.origin[1], "origin y")
        record.samples[:] = self.samples
        # An empty record passes NULL, as the C contract allows for item_count == 0.
        record.items = ctypes.cast(item_array, ctypes.POINTER(Item)) if self.items else None
        record.item_count = len(self.items)
        keepalive = (name_buffer, item_array, *label_buffers)
        return record, keepalive


@dataclasses.dataclass(frozen=True)
class ScoredItemPy:
    id: int
    weight: int
    score: float
    label: str


@dataclasses.dataclass(frozen=True)
class OutputRecordPy:
    title: str
    version: int
    origin: Tuple[int, int]
    stats: Tuple[float, float, float]  # min, max, mean of the scaled samples
    items: Tuple[ScoredItemPy, ...]

    @classmethod
    def from_ctypes(cls, raw: OutputRecord) -> "OutputRecordPy":
        """Copies everything out of the C-owned record, so the result outlives free_output_record()."""
        items = tuple(
            ScoredItemPy(raw.items[i].id, raw.items[i].weight, raw.items[i].score, raw.items[i].label.decode())
            for i in range(raw.item_count))
        return cls(title=raw.title.decode(), version=raw.header.version,
                   origin=(raw.header.origin.x, raw.header.origin.y), stats=tuple(raw.stats), items=items)


class TransformResult:
    """What transform() returns: a context manager owning one native OutputRecord.

    Entering yields the OutputRecordPy copy; leaving frees the native record through the library's
    free_output_record(). If the block is never entered or left (a bare transform() call), a
    weakref finalizer frees it when this object is collected, so the native memory cannot leak.
    """

    def __init__(self, raw: OutputRecord):
        self._raw = raw
        # finalize() runs free_output_record at most once, whichever comes first: close() or collection.
        self._finalizer = weakref.finalize(self, _lib.free_output_record, ctypes.byref(raw))
        try:
            self.output = OutputRecordPy.from_ctypes(raw)
        except BaseException:
            self._finalizer()
            raise

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> OutputRecordPy:
        return self.output

    def __exit__(self, *exc_info) -> None:
        self.close()


def transform(record: InputRecordPy, *, scale: float, min_weight: int, top_n: int) -> TransformResult:
    """Calls transform_record() once and returns a context manager over its output.

    The native call happens here, not in __enter__, so the call path is simply
    user code -> transform -> _ctypes -> libffi -> libstruct_demo.so.
    """
    # ctypes would silently truncate an int that does not fit C's int; refuse it instead.
    min_weight, top_n = _int32(min_weight, "min_weight"), _int32(top_n, "top_n")
    c_input, keepalive = record.to_ctypes()
    raw = _lib.transform_record(ctypes.byref(c_input), scale, min_weight, top_n)
    del keepalive  # only now may the buffers go: the library copies what it keeps (struct_demo.h)
    if raw.status != STATUS_OK:
        raise TransformError(raw.status)  # a failed record owns nothing (struct_demo.h), so no free
    return TransformResult(raw)


def transform_raw(c_input: InputRecord, scale: float, min_weight: int, top_n: int) -> OutputRecord:
    """The bare CDLL call, for tests that check ownership by hand; the caller must free the result."""
    return _lib.transform_record(ctypes.byref(c_input), scale, min_weight, top_n)


def free_raw(raw: OutputRecord) -> None:
    _lib.free_output_record(ctypes.byref(raw))


def status_message(status: int) -> str:
    return _lib.sd_status_message(status).decode()


__all__ = ["InputRecordPy", "ItemPy", "OutputRecordPy", "ScoredItemPy", "TransformError", "TransformResult",
           "transform", "check_layout"]
