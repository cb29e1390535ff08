"""The native side of Part IV under valgrind memcheck: clean for the real workload, and the check
is shown to catch a leak and an out-of-bounds read in libstruct_demo.so (so it cannot pass vacuously)."""
import os
import pathlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

DEMO = pathlib.Path(os.environ["LAYERTRACE_DEMO_DIR"])
WORKLOAD = pathlib.Path(__file__).with_name("memcheck_workload.py")
VALGRIND = shutil.which("valgrind")
ERROR_EXIT = 99


def memcheck(mode, tmp_path):
    """Runs the workload under memcheck; returns (exit code, [(kind, [objects in its stacks])])."""
    assert VALGRIND, "valgrind is required (scripts/install-deps.sh installs it)"
    xml_file = tmp_path / f"{mode}.xml"
    env = dict(os.environ, PYTHONPATH=str(DEMO),
               # pymalloc hides small blocks from valgrind; plain malloc lets it see every buffer ctypes
               # hands to C, and makes CPython itself memcheck-clean (so no suppressions are needed).
               PYTHONMALLOC="malloc")
    result = subprocess.run(
        [VALGRIND, "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite",
         "--errors-for-leak-kinds=definite", f"--error-exitcode={ERROR_EXIT}", "--xml=yes",
         f"--xml-file={xml_file}", sys.executable, str(WORKLOAD), mode],
        cwd=DEMO, env=env, capture_output=True, text=True, timeout=300)
    errors = []
    for error in ET.parse(xml_file).getroot().iter("error"):
        objects = [obj.text for obj in error.iter("obj") if obj.text]
        errors.append((error.findtext("kind"), objects))
    return result, errors


def in_library(objects):
    return any(pathlib.PurePath(obj).name == "libstruct_demo.so" for obj in objects)


def test_user_api_workload_is_memcheck_clean(tmp_path):
    result, errors = memcheck("clean", tmp_path)
    assert errors == [], f"memcheck errors: {errors}\n{result.stderr}"
    assert result.returncode == 0, result.stderr
    assert "clean workload done" in result.stdout


def test_memcheck_flags_an_unfreed_output_record(tmp_path):
    result, errors = memcheck("leak", tmp_path)
    assert result.returncode == ERROR_EXIT
    leaks = [objs for kind, objs in errors if kind == "Leak_DefinitelyLost"]
    assert leaks and all(in_library(objs) for objs in leaks), errors


def test_memcheck_flags_reads_past_the_items_array(tmp_path):
    result, errors = memcheck("overread", tmp_path)
    assert result.returncode == ERROR_EXIT
    assert any(kind == "InvalidRead" and in_library(objs) for kind, objs in errors), errors
