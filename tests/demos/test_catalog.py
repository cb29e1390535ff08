"""The demo catalog is the single source of demo facts: every entry is complete and its command runs."""
import fnmatch
import json
import os
import pathlib
import subprocess

import pytest

DEMOS_DIR = pathlib.Path(os.environ["LAYERTRACE_DEMOS_DIR"])
PYTHON = os.environ.get("LAYERTRACE_PYTHON", "/usr/bin/python3")
CATALOG = json.loads((DEMOS_DIR / "catalog.json").read_text())
ROLES = {"app", "wrapper", "pylib", "ext", "glue", "capi", "ffi", "native"}
EXPECTED_DEMOS = {
    "c_ext_config_basic", "c_ext_ctypes_add", "ctypes_complex_struct", "c_ext_handle_binding",
    "ros2_binding_demo", "c_ext_pybind11_config", "callbacks",
}


def demo_ids():
    return [d["name"] for d in CATALOG["demos"]]


def test_catalog_lists_every_demo_once():
    names = demo_ids()
    assert len(names) == len(set(names)), f"duplicate demo names: {names}"
    assert set(names) == EXPECTED_DEMOS


@pytest.mark.parametrize("demo", CATALOG["demos"], ids=demo_ids())
def test_entry_is_complete(demo):
    for key in ("name", "part", "title", "summary", "run", "paths"):
        assert demo.get(key), f"{demo['name']}: missing or empty '{key}'"
    assert "TODO" not in demo["summary"], f"{demo['name']}: summary not written"
    assert demo["run"]["argv"][0] == "{python}"
    for path in demo["paths"]:
        assert path["hops"], f"{demo['name']}: path {path.get('name')} has no hops"
        for hop in path["hops"]:
            assert hop["role"] in ROLES, f"{demo['name']}: unknown role {hop['role']}"
            assert hop.get("module"), f"{demo['name']}: hop without module: {hop}"
        roles = [hop["role"] for hop in path["hops"]]
        assert roles[0] in {"app", "wrapper"}, f"{demo['name']}: a path starts in Python, not {roles[0]}"
        assert any(r in {"native", "ffi"} for r in roles), f"{demo['name']}: a path reaches Layer 3"


@pytest.mark.parametrize("demo", CATALOG["demos"], ids=demo_ids())
def test_command_runs_and_exits_zero(demo):
    folder = DEMOS_DIR / demo["name"]
    assert folder.is_dir(), f"{demo['name']} is not staged in {folder}"
    argv = [PYTHON if arg == "{python}" else arg for arg in demo["run"]["argv"]]
    result = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(argv)} in {folder} exited {result.returncode}:\n{result.stderr}"
    assert result.stdout.strip(), f"{demo['name']} printed nothing"


@pytest.mark.parametrize("demo", CATALOG["demos"], ids=demo_ids())
def test_path_modules_exist_in_staged_demo(demo):
    """Every native module a path names (other than the interpreter's own) is built into the demo."""
    folder = DEMOS_DIR / demo["name"]
    staged = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
    basenames = [pathlib.PurePath(p).name for p in staged]
    for path in demo["paths"]:
        for hop in path["hops"]:
            patterns = hop["module"] if isinstance(hop["module"], list) else [hop["module"]]
            if hop["role"] in {"ext", "ffi", "capi", "pylib"}:
                continue  # ready-made objects: _ctypes, libffi, the interpreter
            found = any(fnmatch.fnmatch(name, pat) for pat in patterns for name in staged + basenames)
            assert found, f"{demo['name']}: {hop['role']} module {patterns} not found in {folder}"
