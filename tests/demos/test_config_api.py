"""Part I (C API) and Part VII (pybind11) mymodule builds: one user API, the same behaviour and output."""
import functools
import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest

DEMOS_DIR = pathlib.Path(os.environ["LAYERTRACE_DEMOS_DIR"])
PYTHON = os.environ.get("LAYERTRACE_PYTHON", sys.executable)
DEMOS = ["c_ext_config_basic", "c_ext_pybind11_config"]

# Runs inside a demo folder, exercises the whole user API and prints what it saw as JSON. Each
# probe is a Python expression or statement; its value, or the exception it raised, is recorded.
OBSERVE = r'''
import datetime, json, os, mymodule
from mymodule import Config

def outcome(code):
    try:
        return ["ok", repr(eval(code))]
    except SyntaxError:
        pass
    except Exception as error:
        return [type(error).__name__, str(error)]
    try:
        exec(code, globals())
        return ["ok", None]
    except Exception as error:
        return [type(error).__name__, str(error)]

probes = json.loads(os.environ["PROBES"])
print(json.dumps({code: outcome(code) for code in probes}))
'''

PROBES = {
    # construction, defaults and repr
    "repr(Config())": ["ok", repr("Config(timeout=30, url='http://example.com', ssl=True)")],
    "repr(Config(5, 'https://h/x', True))": ["ok", repr("Config(timeout=5, url='https://h/x', ssl=True)")],
    "(Config().timeout, Config().url, Config().ssl, Config().processed)": ["ok", "(30, 'http://example.com', True, 0)"],
    "(Config.__module__, Config.__qualname__)": ["ok", repr(("mymodule", "Config"))],
    # process(): computed natively, checked against lines worked out by hand from the rules
    "Config().process()": ["ok", repr("GET https://example.com:443/ timeout_ms=30000 tls=on sig=2e9312f0")],
    "Config(timeout=5, url='http://Example.COM:8080/api/v1', ssl=False).process()":
        ["ok", repr("GET http://example.com:8080/api/v1 timeout_ms=5000 tls=off sig=05a20ec0")],
    "Config(url='https://api.example.org/x').process()":
        ["ok", repr("GET https://api.example.org:443/x timeout_ms=30000 tls=on sig=bdce5413")],
    "Config(3600, 'http://h', True).process()": ["ok", repr("GET https://h:443/ timeout_ms=3600000 tls=on sig=d3856821")],
    "Config(1, 'http://h:8443/a/b').process()": ["ok", repr("GET https://h:8443/a/b timeout_ms=1000 tls=on sig=a21d39bb")],
    "Config(url='https://x', ssl=False).process()": ["ValueError", "url uses https:// but ssl is disabled"],
    # validation, in the constructor and in the setters
    "Config(timeout=0)": ["ValueError", "timeout must be between 1 and 3600 seconds, got 0"],
    "Config(timeout=3601)": ["ValueError", "timeout must be between 1 and 3600 seconds, got 3601"],
    "Config(timeout=10**30)": ["ValueError", "timeout must be between 1 and 3600 seconds, got " + str(10**30)],
    "Config(timeout='30')": ["TypeError", "timeout must be an int, not str"],
    "Config(timeout=True)": ["TypeError", "timeout must be an int, not bool"],
    "Config(url=5)": ["TypeError", "url must be a str, not int"],
    "Config(url='ftp://x')": ["ValueError", "invalid url 'ftp://x': must start with http:// or https://"],
    "Config(url='http://')": ["ValueError", "invalid url 'http://': no host"],
    "Config(url='http://a b')": ["ValueError", "invalid url 'http://a b': unsupported character at offset 8"],
    "Config(url='http://h\\x00/')": ["ValueError", "invalid url 'http://h\\x00/': unsupported character at offset 8"],
    "Config(url='http://h/a?b')": ["ValueError", "invalid url 'http://h/a?b': unsupported character at offset 10"],
    "Config(url='http://h:0')": ["ValueError", "invalid url 'http://h:0': port must be a number from 1 to 65535"],
    "Config(url='http://h:65536')": ["ValueError", "invalid url 'http://h:65536': port must be a number from 1 to 65535"],
    "Config(url='http://h:80x')": ["ValueError", "invalid url 'http://h:80x': port must be a number from 1 to 65535"],
    "Config(url='http://' + 'h' * 254)": ["ValueError", "invalid url 'http://" + "h" * 254 + "': host longer than 253 bytes"],
    "Config(ssl=1)": ["TypeError", "ssl must be a bool, not int"],
    "Config(bogus=1)": ["TypeError", None],  # message wording is the toolkit's own
    # attribute assignment keeps the object valid: a refused value leaves the old one in place
    "c = Config(); c.timeout = 45; c.url = 'http://other:81/p'; c.ssl = False": ["ok", None],
    "(c.timeout, c.url, c.ssl, c.process())": ["ok", repr((45, "http://other:81/p", False,
                                                           "GET http://other:81/p timeout_ms=45000 tls=off sig=d9b8d7dc"))],
    "c.timeout = 0": ["ValueError", "timeout must be between 1 and 3600 seconds, got 0"],
    "c.url = 'nope'": ["ValueError", "invalid url 'nope': must start with http:// or https://"],
    "c.ssl = 'yes'": ["TypeError", None],
    "(c.timeout, c.url, c.ssl)": ["ok", repr((45, "http://other:81/p", False))],
    # processed counts successful process() calls only and is read-only
    "d = Config(); [d.process() for _ in range(3)]; d.url = 'https://s'; d.ssl = False": ["ok", None],
    "d.process()": ["ValueError", "url uses https:// but ssl is disabled"],
    "d.processed": ["ok", "3"],
    "d.processed = 7": ["AttributeError", None],
    # the PyCapsule handle: a named, owned, immutable native snapshot
    "h = Config(timeout=7).native_handle(); hc = Config(timeout=7)": ["ok", None],
    "(type(h).__name__, mymodule.HANDLE_CAPSULE_NAME, mymodule.live_handles())": ["ok", repr(("PyCapsule", "mymodule.ConfigHandle", 1))],
    "mymodule.process_handle(h) == hc.process()": ["ok", "True"],
    "del h; mymodule.live_handles()": ["ok", None],
    "mymodule.live_handles()": ["ok", "0"],
    "mymodule.process_handle(5)": ["TypeError", "expected a mymodule.ConfigHandle capsule, not int"],
    "mymodule.process_handle(datetime.datetime_CAPI)":
        ["ValueError", "capsule is named datetime.datetime_CAPI, expected mymodule.ConfigHandle"],
}


@functools.lru_cache(maxsize=None)
def observe(demo):
    """Runs every probe in a fresh interpreter inside the staged demo folder."""
    result = subprocess.run([PYTHON, "-c", OBSERVE], cwd=DEMOS_DIR / demo, capture_output=True, text=True,
                            timeout=60, env={**os.environ, "PROBES": json.dumps(list(PROBES))})
    assert result.returncode == 0, f"{demo}: observer failed:\n{result.stderr}"
    return json.loads(result.stdout)


def run_user(demo, *args):
    return subprocess.run([PYTHON, "user.py", *args], cwd=DEMOS_DIR / demo, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("demo", DEMOS)
@pytest.mark.parametrize("code", list(PROBES))
def test_probe(demo, code):
    seen = observe(demo)[code]
    kind, detail = PROBES[code]
    assert seen[0] == kind, f"{demo}: {code} gave {seen}"
    if detail is not None:
        assert seen[1] == detail, f"{demo}: {code}"


def test_both_builds_behave_identically():
    observations = {demo: observe(demo) for demo in DEMOS}
    # Where PROBES leaves the message open (None), the wording is CPython's or pybind11's, not ours.
    def seen(demo, code):
        kind, message = observations[demo][code]
        return (kind, message) if PROBES[code][1] is not None else kind

    differing = [code for code in PROBES if seen(DEMOS[0], code) != seen(DEMOS[1], code)]
    assert not differing, {code: [seen(d, code) for d in DEMOS] for code in differing}


def test_the_shared_user_script_is_one_file():
    texts = {(DEMOS_DIR / demo / "user.py").read_text() for demo in DEMOS}
    assert len(texts) == 1


@pytest.mark.parametrize("demo", DEMOS)
def test_user_script_default_run(demo):
    result = run_user(demo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Config(timeout=30, url='http://example.com', ssl=True)",
        "process()       -> GET https://example.com:443/ timeout_ms=30000 tls=on sig=2e9312f0",
        "process_handle  -> GET https://example.com:443/ timeout_ms=30000 tls=on sig=2e9312f0",
        "after timeout=5 -> GET https://example.com:443/ timeout_ms=5000 tls=on sig=cef81024",
    ]


def test_user_script_output_is_the_same_for_both():
    for args in ([], ["--repeat", "3"]):
        outputs = [run_user(demo, *args) for demo in DEMOS]
        assert [o.returncode for o in outputs] == [0, 0]
        assert outputs[0].stdout == outputs[1].stdout and outputs[0].stdout


@pytest.mark.parametrize("demo", DEMOS)
@pytest.mark.parametrize("count", [0, 1, 25])
def test_user_script_repeat(demo, count):
    result = run_user(demo, "--repeat", str(count))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"process() called {count} times, all correct: "
                             "GET https://example.com:443/ timeout_ms=30000 tls=on sig=2e9312f0\n")


@pytest.mark.parametrize("demo", DEMOS)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_user_script_forever_stops_cleanly(demo, signum):
    process = subprocess.Popen([PYTHON, "user.py", "--forever"], cwd=DEMOS_DIR / demo, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "ready\n"  # readiness arrives through the pipe
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
