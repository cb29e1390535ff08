"""Shared by the recording suite's pytest files: the committed fixtures and the paths ctest passes
in the environment (tests/recording/CMakeLists.txt), through the helpers every Python suite shares
(tests/pyhelpers/layertrace_testing)."""
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "pyhelpers"))
from layertrace_testing.env import env_path, layertrace  # noqa: E402,F401 (fixture)

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"
FIXTURES = json.loads((DATA / "fixtures.json").read_text())["fixtures"]
