"""The process' context: owns the native middleware context every node, wait set and entity lives in."""
import threading

from rclpy_mini import _rclpy_pybind11


class Context:
    """rclpy.context.Context: init() once, shutdown() to stop everything spinning on it."""

    def __init__(self):
        self._lock = threading.Lock()
        self.__handle = None

    def init(self):
        with self._lock:
            if self.__handle is not None and self.__handle.ok():
                raise RuntimeError("rclpy_mini.init() called twice on the same context; call shutdown() first")
            self.__handle = _rclpy_pybind11.Context()

    @property
    def handle(self):
        if self.__handle is None:
            raise RuntimeError("the context is not initialised: call rclpy_mini.init() first")
        return self.__handle

    def ok(self):
        with self._lock:
            return self.__handle is not None and self.__handle.ok()

    def shutdown(self):
        with self._lock:
            if self.__handle is None or not self.__handle.ok():
                raise RuntimeError("rclpy_mini.shutdown() on a context that is not running")
            self.__handle.shutdown()


_default_context = Context()


def get_default_context():
    return _default_context
