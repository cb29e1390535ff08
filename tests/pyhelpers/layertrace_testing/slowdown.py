"""Builds that run slower than the default one (Debug + ASan/UBSan: the `asan` test preset) set
LAYERTRACE_TEST_SLOWDOWN=N; every timeout a suite waits for is multiplied by it. Workloads stay
the same: the sanitized tracer must do the same job, only given longer."""
import os

SLOWDOWN = max(1.0, float(os.environ.get("LAYERTRACE_TEST_SLOWDOWN", "1") or "1"))


def scaled(seconds):
    """A timeout in seconds, stretched for a slow build."""
    return seconds * SLOWDOWN
