"""handlepool: Python wrappers for the native HandlePool in libhandle_pool.so, reached through ctypes."""
from .errors import (BufferTooSmallError, ClosedResourceError, CounterOverflowError, HandlePoolError,
                     InvalidArgumentError, InvalidHandleError, StaleHandleError, WrongKindError)
from .resources import Config, Counter, HandleResource, live_handles

__all__ = [
    "BufferTooSmallError", "ClosedResourceError", "Config", "Counter", "CounterOverflowError", "HandlePoolError",
    "HandleResource", "InvalidArgumentError", "InvalidHandleError", "StaleHandleError", "WrongKindError",
    "live_handles",
]
