"""Shared by the recording suite's pytest files: the committed fixtures and the paths ctest passes
in the environment (tests/recording/CMakeLists.txt)."""
import json
import os
import pathlib

import pytest

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"
FIXTURES = json.loads((DATA / "fixtures.json").read_text())["fixtures"]


def env_path(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set (ctest sets it; see tests/recording/CMakeLists.txt)")
    return pathlib.Path(value)


@pytest.fixture(scope="session")
def layertrace():
    return env_path("LAYERTRACE_BIN")
