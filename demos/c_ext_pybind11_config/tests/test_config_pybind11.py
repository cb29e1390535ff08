"""What is specific to the pybind11 build of mymodule: C++ exception translation, pybind11 types, capsule lifetime."""
import datetime
import os
import pathlib
import sys

import pytest

DEMO_DIR = pathlib.Path(os.environ["LAYERTRACE_DEMO_DIR"])
sys.path.insert(0, str(DEMO_DIR))
import mymodule  # noqa: E402  (imported from the staged demo folder)

DEFAULT_LINE = "GET https://example.com:443/ timeout_ms=30000 tls=on sig=2e9312f0"


def test_config_is_a_pybind11_class():
    assert type(mymodule.Config).__name__ == "pybind11_type"
    assert "pybind11" in type(mymodule.Config).__module__


@pytest.mark.parametrize("seconds", [1, 30, 3600])
def test_check_timeout_accepts_valid_values(seconds):
    assert mymodule.check_timeout(seconds) is None


@pytest.mark.parametrize("seconds", [0, -5, 3601])
def test_cpp_invalid_argument_becomes_value_error(seconds):
    # config_demo::validateTimeout throws std::invalid_argument; pybind11's translator raises ValueError
    # with the exception's what() as the message.
    with pytest.raises(ValueError) as raised:
        mymodule.check_timeout(seconds)
    assert str(raised.value) == f"timeout must be between 1 and 3600 seconds, got {seconds}"
    assert raised.value.__cause__ is None


def test_check_timeout_argument_types_are_checked_by_pybind11():
    with pytest.raises(TypeError, match="incompatible function arguments"):
        mymodule.check_timeout("30")


def test_process_error_is_a_translated_cpp_exception():
    config = mymodule.Config(url="https://secure.example", ssl=True)
    config.ssl = False
    with pytest.raises(ValueError, match="^url uses https:// but ssl is disabled$"):
        config.process()
    assert config.processed == 0


def test_python_subclass_of_the_cpp_class():
    class Tagged(mymodule.Config):
        def tagged(self):
            return "tagged " + self.process()

    tagged = Tagged(timeout=30)
    assert tagged.tagged() == "tagged " + DEFAULT_LINE
    assert tagged.processed == 1


def test_capsule_owns_a_cpp_snapshot():
    before = mymodule.live_handles()
    handles = [mymodule.Config(timeout=t).native_handle() for t in (4, 5)]  # the Configs die at once
    assert mymodule.live_handles() == before + 2
    assert [mymodule.process_handle(h).split()[2] for h in handles] == ["timeout_ms=4000", "timeout_ms=5000"]
    del handles
    assert mymodule.live_handles() == before


def test_process_handle_keyword_and_wrong_capsule():
    handle = mymodule.Config().native_handle()
    assert mymodule.process_handle(handle=handle) == DEFAULT_LINE
    with pytest.raises(ValueError, match="capsule is named datetime.datetime_CAPI"):
        mymodule.process_handle(datetime.datetime_CAPI)


def test_staged_user_script_is_part_one_script():
    source = DEMO_DIR.parent / "c_ext_config_basic" / "user.py"
    if source.exists():  # staged by the Part I demo in the same build tree
        assert (DEMO_DIR / "user.py").read_bytes() == source.read_bytes()
    assert "import mymodule" in (DEMO_DIR / "user.py").read_text()
