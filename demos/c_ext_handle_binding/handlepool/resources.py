"""User-facing wrappers over pool handles: HandleResource with close() and context managers, Config, Counter."""
import ctypes
import weakref

from . import _native
from .errors import BufferTooSmallError, ClosedResourceError, HandlePoolError


def _release(handle):
    """Finalizer: frees a handle whose wrapper was never closed. It must not raise during GC or exit."""
    try:
        _native.hp_release(handle)
    except HandlePoolError:
        pass


class HandleResource:
    """Owns one pool handle. close() releases it exactly once (also on garbage collection or at exit);
    any use after close raises ClosedResourceError before the native library is reached."""

    def __init__(self, handle):
        self._handle = handle
        self._finalizer = weakref.finalize(self, _release, handle)

    @property
    def handle(self):
        """The raw hp_handle number; valid only while the resource is open."""
        if self._handle is None:
            raise ClosedResourceError(f"{type(self).__name__} is closed")
        return self._handle

    @property
    def closed(self):
        return self._handle is None

    def close(self):
        if self._handle is not None:
            self._handle = None
            self._finalizer()  # calls _native.hp_release once; later calls do nothing

    def __enter__(self):
        self.handle  # noqa: B018  (entering a closed resource is an error, as for files)
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        state = "closed" if self._handle is None else f"handle=0x{self._handle:016x}"
        return f"<{type(self).__name__} {state}>"


class Config(HandleResource):
    """A client configuration owned by the native pool."""

    def __init__(self, timeout=30, url="http://example.com", ssl=True):
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, not {type(url).__name__}")
        if not isinstance(ssl, bool):
            raise TypeError(f"ssl must be a bool, not {type(ssl).__name__}")
        handle = _native.Handle()
        _native.hp_config_create(_native.c_int_arg(timeout, "timeout"), url.encode(), ssl, ctypes.byref(handle))
        super().__init__(handle.value)

    @property
    def timeout(self):
        value = ctypes.c_int()
        _native.hp_config_timeout(self.handle, ctypes.byref(value))
        return value.value

    @timeout.setter
    def timeout(self, seconds):
        _native.hp_config_set_timeout(self.handle, _native.c_int_arg(seconds, "timeout"))

    def describe(self):
        length = ctypes.c_size_t()
        buffer = ctypes.create_string_buffer(64)
        try:
            _native.hp_config_describe(self.handle, buffer, len(buffer), ctypes.byref(length))
        except BufferTooSmallError:
            # The bridge reported the size it needs; ask once more with exactly that much room.
            buffer = ctypes.create_string_buffer(length.value)
            _native.hp_config_describe(self.handle, buffer, len(buffer), ctypes.byref(length))
        return buffer.value.decode()


class Counter(HandleResource):
    """A native counter: increment() adds step and returns the new value; it refuses to overflow."""

    def __init__(self, start=0, step=1):
        handle = _native.Handle()
        _native.hp_counter_create(_native.c_int_arg(start, "start", _native.INT64_MIN, _native.INT64_MAX),
                                  _native.c_int_arg(step, "step", _native.INT64_MIN, _native.INT64_MAX),
                                  ctypes.byref(handle))
        super().__init__(handle.value)

    def increment(self):
        value = ctypes.c_int64()
        _native.hp_counter_increment(self.handle, ctypes.byref(value))
        return value.value

    @property
    def value(self):
        value = ctypes.c_int64()
        _native.hp_counter_value(self.handle, ctypes.byref(value))
        return value.value


def live_handles():
    """Resources the native pool currently holds (across all wrappers)."""
    return _native.hp_live_count()
