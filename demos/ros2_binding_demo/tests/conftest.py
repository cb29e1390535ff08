"""Shared fixtures of the Part VI tests: the staged demo folder on sys.path and a fresh context per test."""
import os
import pathlib
import subprocess
import sys

import pytest

DEMO = pathlib.Path(os.environ["LAYERTRACE_DEMO_DIR"])
# The staged folder is what a learner runs: import rclpy_mini, demo_interfaces and user_node from it.
sys.path.insert(0, str(DEMO))

import rclpy_mini  # noqa: E402


@pytest.fixture
def context():
    """A context of its own, so one test's topics and shutdown never leak into another."""
    ctx = rclpy_mini.Context()
    ctx.init()
    yield ctx
    if ctx.ok():
        ctx.shutdown()


@pytest.fixture
def node(context):
    node = rclpy_mini.Node("test_node", context=context)
    yield node
    node.destroy_node()


def run_user_node(*args, timeout=60):
    return subprocess.run([sys.executable, "user_node.py", *args], cwd=DEMO, capture_output=True, text=True,
                          timeout=timeout)
