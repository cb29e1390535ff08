"""ctypes declarations for libhandle_pool.so: CDLL, argtypes/restype per bridge function, errcheck for statuses."""
import ctypes
import pathlib

from .errors import error_for_status

# Loaded from this package's folder, so neither LD_LIBRARY_PATH nor the working directory matters.
LIBRARY_PATH = pathlib.Path(__file__).with_name("libhandle_pool.so")
lib = ctypes.CDLL(str(LIBRARY_PATH))

Handle = ctypes.c_uint64
INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1

lib.hp_last_error.argtypes = []
lib.hp_last_error.restype = ctypes.c_char_p
lib.hp_live_count.argtypes = []
lib.hp_live_count.restype = ctypes.c_size_t


def _check_status(status, func, args):
    """errcheck: ctypes calls this after every status-returning function; a non-zero status raises."""
    if status != 0:
        # hp_last_error is per thread, and errcheck runs on the thread that made the call.
        message = lib.hp_last_error().decode("utf-8", errors="replace")
        raise error_for_status(status, f"{func.__name__}: {message}")
    return args


def _declare(name, *argtypes):
    function = getattr(lib, name)
    function.argtypes = list(argtypes)
    function.restype = ctypes.c_int
    function.errcheck = _check_status
    return function


hp_config_create = _declare("hp_config_create", ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(Handle))
hp_config_timeout = _declare("hp_config_timeout", Handle, ctypes.POINTER(ctypes.c_int))
hp_config_set_timeout = _declare("hp_config_set_timeout", Handle, ctypes.c_int)
hp_config_describe = _declare("hp_config_describe", Handle, ctypes.c_char_p, ctypes.c_size_t,
                              ctypes.POINTER(ctypes.c_size_t))
hp_counter_create = _declare("hp_counter_create", ctypes.c_int64, ctypes.c_int64, ctypes.POINTER(Handle))
hp_counter_increment = _declare("hp_counter_increment", Handle, ctypes.POINTER(ctypes.c_int64))
hp_counter_value = _declare("hp_counter_value", Handle, ctypes.POINTER(ctypes.c_int64))
hp_release = _declare("hp_release", Handle)
hp_live_count = lib.hp_live_count


def c_int_arg(value, name, low=INT_MIN, high=INT_MAX):
    """ctypes silently truncates out-of-range ints to the C type; refuse them instead."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise OverflowError(f"{name}={value} does not fit the C parameter ({low}..{high})")
    return value
