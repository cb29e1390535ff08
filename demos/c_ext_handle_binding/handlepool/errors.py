"""Exceptions of the handlepool package: one per hp_status code, plus use-after-close."""


class HandlePoolError(Exception):
    """Root of every handlepool error; status is the bridge's hp_status code (None if raised in Python)."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status


class InvalidArgumentError(HandlePoolError, ValueError):
    status = 1


class InvalidHandleError(HandlePoolError):
    """The pool never issued this handle."""

    status = 2


class StaleHandleError(InvalidHandleError):
    """The handle's resource was released (its slot's generation moved on)."""

    status = 3


class WrongKindError(InvalidHandleError, TypeError):
    status = 4


class CounterOverflowError(HandlePoolError, OverflowError):
    status = 5


class BufferTooSmallError(HandlePoolError):
    status = 7


class ClosedResourceError(HandlePoolError, ValueError):
    """A wrapper was used after close(); raised in Python, the native pool is never called."""


_BY_STATUS = {cls.status: cls for cls in (InvalidArgumentError, InvalidHandleError, StaleHandleError,
                                          WrongKindError, CounterOverflowError, BufferTooSmallError)}


def error_for_status(status, message):
    """The exception for a failed bridge call; MemoryError and internal errors map to Python's own kinds."""
    if status == 6:
        return MemoryError(message)
    cls = _BY_STATUS.get(status)
    if cls is None:
        return HandlePoolError(f"{message} (hp_status {status})", status)
    return cls(message)
