"""What is specific to the hand-written C API build of mymodule: type slots, members, refcounts, capsule lifetime."""
import gc
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.environ["LAYERTRACE_DEMO_DIR"])
import mymodule  # noqa: E402  (imported from the staged demo folder)

Py_TPFLAGS_HEAPTYPE = 1 << 9
Py_TPFLAGS_BASETYPE = 1 << 10
DEFAULT_LINE = "GET https://example.com:443/ timeout_ms=30000 tls=on sig=2e9312f0"


def test_config_is_a_static_type_that_can_be_subclassed():
    assert type(mymodule.Config) is type
    assert mymodule.Config.__flags__ & Py_TPFLAGS_HEAPTYPE == 0
    assert mymodule.Config.__flags__ & Py_TPFLAGS_BASETYPE

    class Tagged(mymodule.Config):
        def tagged(self):
            return "tagged " + self.process()

    assert Tagged(timeout=30).tagged() == "tagged " + DEFAULT_LINE


def test_new_without_init_still_gives_a_valid_object():
    config = mymodule.Config.__new__(mymodule.Config)
    assert (config.timeout, config.url, config.ssl) == (30, "http://example.com", True)
    assert config.process() == DEFAULT_LINE


def test_getset_attributes_cannot_be_deleted():
    config = mymodule.Config()
    with pytest.raises(TypeError, match="cannot delete the timeout attribute"):
        del config.timeout
    with pytest.raises(TypeError, match="cannot delete the url attribute"):
        del config.url
    assert config.process() == DEFAULT_LINE


def test_members_use_cpythons_member_rules():
    config = mymodule.Config()
    with pytest.raises(TypeError, match="attribute value type must be bool"):
        config.ssl = 1
    with pytest.raises(AttributeError, match="readonly attribute"):
        config.processed = 1
    config.ssl = False
    assert config.ssl is False


def test_refcounts_balance():
    url = "http://refcount.example:8080/path"
    baseline = sys.getrefcount(url)
    config = mymodule.Config(url=url)
    assert sys.getrefcount(url) == baseline + 1  # the object holds exactly one reference
    assert config.url is url
    for _ in range(1000):
        config.process()
        config.url  # noqa: B018  (the getter returns a new reference each time)
    handle = config.native_handle()
    assert sys.getrefcount(url) == baseline + 1  # the capsule copies the bytes, it keeps no reference
    config_refs = sys.getrefcount(config)
    mymodule.process_handle(handle)
    assert sys.getrefcount(config) == config_refs
    config.url = "http://other"  # Py_XSETREF drops the old value
    assert sys.getrefcount(url) == baseline
    config.__init__(url=url)  # re-running __init__ must not leak the previous url either
    assert sys.getrefcount(url) == baseline + 1
    del config, handle
    gc.collect()
    assert sys.getrefcount(url) == baseline


def test_failed_setter_keeps_the_old_value_and_reference():
    url = "http://kept.example"
    config = mymodule.Config(url=url)
    baseline = sys.getrefcount(url)
    with pytest.raises(ValueError):
        config.url = "http://bad host"
    refs = sys.getrefcount(url)  # read before asserting: pytest's rewriting keeps operands alive
    assert refs == baseline
    assert config.url is url


def test_capsule_owns_its_native_handle():
    before = mymodule.live_handles()
    handles = [mymodule.Config(timeout=t).native_handle() for t in (1, 2, 3)]  # the Configs die at once
    assert mymodule.live_handles() == before + 3
    lines = [mymodule.process_handle(h) for h in handles]
    assert [line.split()[2] for line in lines] == ["timeout_ms=1000", "timeout_ms=2000", "timeout_ms=3000"]
    del handles
    assert mymodule.live_handles() == before


def test_process_handle_is_independent_of_later_changes():
    config = mymodule.Config(timeout=9)
    handle = config.native_handle()
    config.timeout = 10
    config.url = "http://changed"
    assert mymodule.process_handle(handle).startswith("GET https://example.com:443/ timeout_ms=9000 ")
    assert config.processed == 0  # the handle is a snapshot, not a view of the Config


def test_only_the_init_function_is_exported():
    path = mymodule.__file__
    symbols = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True, check=True)
    exported = {line.split()[-1] for line in symbols.stdout.splitlines() if " T " in line}
    assert exported == {"PyInit_mymodule"}
