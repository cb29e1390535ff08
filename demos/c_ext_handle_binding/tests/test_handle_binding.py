"""Part V: the HandlePool through its C bridge and ctypes wrappers — results, errors, lifetimes, stale handles."""
import ctypes
import os
import pathlib
import signal
import subprocess
import sys
import threading

import pytest

DEMO_DIR = pathlib.Path(os.environ["LAYERTRACE_DEMO_DIR"])
sys.path.insert(0, str(DEMO_DIR))
import handlepool  # noqa: E402  (imported from the staged demo folder)
from handlepool import _native  # noqa: E402
from handlepool import (ClosedResourceError, Config, Counter, CounterOverflowError, InvalidArgumentError,  # noqa: E402
                        InvalidHandleError, StaleHandleError, WrongKindError)


def raw_increment(handle):
    """Calls the bridge directly with any number, bypassing the wrapper's closed check."""
    value = ctypes.c_int64()
    _native.hp_counter_increment(handle, ctypes.byref(value))
    return value.value


def run_user(*args):
    return subprocess.run([sys.executable, "user.py", *args], cwd=DEMO_DIR, capture_output=True, text=True,
                          timeout=60)


def test_config_values_and_validation():
    with Config(timeout=12, url="https://secure.example/x", ssl=True) as config:
        assert config.timeout == 12
        assert config.describe() == "Config(timeout=12s, url=https://secure.example/x, ssl=on)"
        config.timeout = 3600
        assert config.timeout == 3600
        with pytest.raises(InvalidArgumentError, match="timeout must be between 1 and 3600 seconds, got 0"):
            config.timeout = 0
        assert config.timeout == 3600
    with pytest.raises(InvalidArgumentError, match="url must start with http:// or https://"):
        Config(url="ftp://x")
    with pytest.raises(InvalidArgumentError, match="url has no host"):
        Config(url="http://")
    with pytest.raises(InvalidArgumentError, match="url uses https:// but ssl is disabled"):
        Config(url="https://x", ssl=False)
    with pytest.raises(TypeError, match="url must be a str"):
        Config(url=b"http://x")
    with pytest.raises(TypeError, match="timeout must be an int"):
        Config(timeout="30")
    # ctypes would silently wrap 2**32 + 30 to 30; the wrapper refuses instead.
    with pytest.raises(OverflowError, match="does not fit"):
        Config(timeout=2 ** 32 + 30)


def test_describe_grows_its_buffer_for_long_text():
    url = "http://" + "a" * 300 + ".example/" + "p" * 200
    with Config(url=url, ssl=False) as config:
        assert config.describe() == f"Config(timeout=30s, url={url}, ssl=off)"


def test_counter_counts_and_refuses_to_overflow():
    with Counter(start=-3, step=4) as counter:
        assert [counter.increment() for _ in range(3)] == [1, 5, 9]
        assert counter.value == 9
    with Counter(start=2 ** 63 - 2, step=1) as counter:
        assert counter.increment() == 2 ** 63 - 1
        with pytest.raises(CounterOverflowError, match="would overflow"):
            counter.increment()
        assert counter.value == 2 ** 63 - 1  # a failed increment changes nothing


def test_use_after_close_raises_and_close_is_idempotent():
    counter = Counter()
    config = Config()
    raw = counter.handle
    with counter, config:
        assert not counter.closed
    assert counter.closed and config.closed
    counter.close()  # closing twice is harmless
    for use in (counter.increment, lambda: counter.value, lambda: counter.handle, config.describe,
                lambda: config.timeout, lambda: setattr(config, "timeout", 5)):
        with pytest.raises(ClosedResourceError, match="is closed"):
            use()
    with pytest.raises(ClosedResourceError):
        with counter:
            pass
    assert repr(counter) == "<Counter closed>"
    with pytest.raises(StaleHandleError):
        raw_increment(raw)  # the pool itself also knows the handle is dead


def test_stale_handles_are_detected_by_generation():
    first = Counter(start=100)
    old = first.handle
    first.close()
    second = Counter(start=200)  # reuses the freed slot...
    assert second.handle & 0xFFFFFFFF == old & 0xFFFFFFFF
    assert second.handle != old  # ...under a new generation
    with pytest.raises(StaleHandleError, match=f"handle 0x{old:016x} is stale"):
        raw_increment(old)
    assert second.increment() == 201  # the old number never reaches the new resource
    with pytest.raises(StaleHandleError):
        _native.hp_release(old)  # nor can it release it
    assert second.value == 201
    second.close()


@pytest.mark.parametrize("forged", [0, 0xDEADBEEF, 2 ** 64 - 1, (9 << 56) | (1 << 32) | 1])
def test_invalid_handles_are_refused(forged):
    with pytest.raises(InvalidHandleError, match="was not issued by this pool"):
        raw_increment(forged)


def test_kind_bits_are_checked_against_the_slot():
    with Counter() as counter:
        as_config = (counter.handle & ~(0xFF << 56)) | (1 << 56)  # same slot and generation, Config kind
        with pytest.raises(InvalidHandleError, match="was not issued by this pool"):
            _native.hp_config_timeout(as_config, ctypes.byref(ctypes.c_int()))
        assert counter.value == 0


def test_wrong_kind_is_reported():
    with Config() as config:
        with pytest.raises(WrongKindError, match="names a Config, not a Counter") as raised:
            raw_increment(config.handle)
        assert raised.value.status == 4
        assert isinstance(raised.value, TypeError)


def test_null_out_pointer_is_an_error_not_a_crash():
    with Counter() as counter:
        with pytest.raises(InvalidArgumentError, match="value must not be NULL"):
            _native.hp_counter_increment(counter.handle, None)
        assert counter.value == 0


def test_last_error_is_cleared_by_success():
    with pytest.raises(StaleHandleError):
        raw_increment((2 << 56) | (0xFFFFFF << 32) | 1)  # a generation no slot reaches here
    assert _native.lib.hp_last_error() != b""
    with Counter() as counter:
        counter.increment()
    assert _native.lib.hp_last_error() == b""


def test_unclosed_wrappers_are_released_when_collected():
    before = handlepool.live_handles()
    counters = [Counter() for _ in range(5)]
    assert handlepool.live_handles() == before + 5
    del counters  # no cycles: the finalizers run immediately
    assert handlepool.live_handles() == before


def test_threads_share_a_counter_safely():
    # ctypes drops the GIL around each call, so these increments really run in parallel in C++.
    with Counter(start=0, step=1) as counter:
        results = []

        def work():
            results.extend(counter.increment() for _ in range(2000))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert counter.value == 8000
        assert sorted(results) == list(range(1, 8001))  # every value handed out exactly once


def test_library_is_plain_native_code():
    library = DEMO_DIR / "handlepool" / "libhandle_pool.so"
    dynamic = subprocess.run(["readelf", "-d", "-W", str(library)], capture_output=True, text=True, check=True)
    assert "libpython" not in dynamic.stdout
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True,
                             check=True).stdout
    assert "PyInit" not in symbols
    for name in ("hp_config_create", "hp_counter_increment", "hp_release", "hp_last_error"):
        assert f" T {name}\n" in symbols


def test_user_script_default_run():
    result = run_user()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Config(timeout=30s, url=http://example.com, ssl=on)",
        "counter: 30 + 5 -> 35",
        "live native resources: 2",
        "after close: ClosedResourceError: Counter is closed",
        "live native resources: 0",
    ]


@pytest.mark.parametrize("count", [0, 1, 40])
def test_user_script_repeat(count):
    result = run_user("--repeat", str(count))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"increment() called {count} times, all correct: counter at {30 + 5 * count}\n"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_user_script_forever_stops_cleanly(signum):
    process = subprocess.Popen([sys.executable, "user.py", "--forever"], cwd=DEMO_DIR, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    words = out.split()
    assert words[:2] == ["stopped", "after"] and words[3:] == ["iterations,", "all", "correct"], out
    assert int(words[2]) >= 1
