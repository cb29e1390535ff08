"""The paths ctest hands every suite through the environment, and the fixtures built on them."""
import json
import os
import pathlib

import pytest

DEFAULT_PYTHON = "/usr/bin/python3"


def env_path(name):
    """A path ctest set in the environment (see the suite's CMakeLists.txt); fails the test if unset."""
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set (ctest sets it; see the suite's CMakeLists.txt)")
    return pathlib.Path(value)


def load_catalog(demos_dir):
    """demos/catalog.json as staged next to the built demos."""
    with open(pathlib.Path(demos_dir) / "catalog.json") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def layertrace():
    return env_path("LAYERTRACE_BIN")


@pytest.fixture(scope="session")
def demos_dir():
    return env_path("LAYERTRACE_DEMOS_DIR")


@pytest.fixture(scope="session")
def python():
    return os.environ.get("LAYERTRACE_PYTHON", DEFAULT_PYTHON)
