"""rosidl_mini's generator on its own: every supported type, and one clear error line (exit 2) for a bad .msg."""
import importlib
import pathlib
import subprocess
import sys

import pytest

GENERATOR = pathlib.Path(__file__).resolve().parents[1] / "rosidl_mini" / "generate.py"


def generate(tmp_path, package, files):
    msgs = []
    for name, text in files.items():
        path = tmp_path / "msg" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        msgs.append(str(path))
    return subprocess.run([sys.executable, str(GENERATOR), "--package", package, "--py-out", str(tmp_path / "py"),
                           "--c-out", str(tmp_path / "c"), *msgs], capture_output=True, text=True, timeout=60)


def test_every_supported_type_becomes_a_validating_property(tmp_path, monkeypatch):
    result = generate(tmp_path, "gen_check", {"AllTypes.msg": "\n".join([
        "# every type the miniature supports", "bool flag", "uint8 small", "int32 medium", "uint32 unsigned_medium",
        "int64 large", "float32 single", "float64 double  # trailing comment", "string text", "uint8[2] pair",
        "float32[] samples", ""])})
    assert result.returncode == 0, result.stderr
    c_dir = tmp_path / "c"
    assert (c_dir / "gen_check_s__rosidl_typesupport_c.c").is_file()
    header = (c_dir / "gen_check" / "msg" / "detail" / "all_types__struct.h").read_text()
    assert "uint8_t pair[2];" in header and "rosidl_mini__float__Sequence samples;" in header
    monkeypatch.syspath_prepend(str(tmp_path / "py"))
    module = importlib.import_module("gen_check.msg")
    msg = module.AllTypes(small=255, unsigned_medium=2**32 - 1, large=-2**63, single=1.5, pair=[1, 2],
                          samples=[0.5], text="t", flag=True)
    assert msg.pair.typecode == "B" and msg.samples.typecode == "f"
    with pytest.raises(ValueError, match=r"\[0, 255\] \(uint8\)"):
        msg.small = 256
    with pytest.raises(ValueError, match="must fit in float32"):
        msg.single = 1e39
    msg.single = float("inf")  # rosidl allows infinities in float32 fields
    with pytest.raises(ValueError, match="exactly 2 elements"):
        msg.pair = [1]
    assert module.AllTypes.get_fields_and_field_types()["samples"] == "float32[]"


@pytest.mark.parametrize("text, message", [
    ("int32 a\nfloat128 b\n", "Bad.msg:2: unknown type 'float128'"),
    ("string[] names\n", "Bad.msg:1: arrays and sequences of string are not supported"),
    ("int32 a\nint32 a\n", "Bad.msg:2: field 'a' is defined twice"),
    ("int32 Value\n", "Bad.msg:1: field name 'Value' must be lower_case_with_underscores"),
    ("int32 X=5\n", "Bad.msg:1: constants ('int32 X=5') are not supported"),
    ("int32 x 5\n", "Bad.msg:1: expected '<type> <name>'"),
    ("int32[0] none\n", "Bad.msg:1: a fixed-size array needs at least one element"),
    ("# nothing\n", "Bad.msg: a message needs at least one field"),
])
def test_a_bad_msg_file_is_one_error_line_with_its_location_and_exit_code_2(tmp_path, text, message):
    result = generate(tmp_path, "bad_pkg", {"Bad.msg": text})
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rosidl_mini: ")
    assert message in lines[0]
    assert not (tmp_path / "py").exists()  # nothing half-written


def test_a_missing_msg_file_is_reported_with_its_path(tmp_path):
    result = subprocess.run([sys.executable, str(GENERATOR), "--package", "p", "--py-out", str(tmp_path),
                             "--c-out", str(tmp_path), str(tmp_path / "Missing.msg")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith(f"rosidl_mini: cannot read {tmp_path / 'Missing.msg'}")
