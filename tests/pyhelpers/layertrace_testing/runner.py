"""Running the real `layertrace` binary."""
import os
import subprocess

from .slowdown import scaled

TIMEOUT = 300  # seconds, before scaled() stretches it for a slow build


def layertrace_env(env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return env


def run_layertrace(layertrace, args, cwd=None, env_extra=None, timeout=TIMEOUT):
    """Runs `layertrace ARGS` to its end (`timeout` is scaled for slow builds); returns the
    CompletedProcess (text)."""
    return subprocess.run([str(layertrace), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=scaled(timeout), env=layertrace_env(env_extra))


def start_layertrace(layertrace, args, stdout, stderr, env_extra=None):
    """Starts `layertrace ARGS` in the background; returns the Popen."""
    return subprocess.Popen([str(layertrace), *map(str, args)], stdout=stdout, stderr=stderr,
                            env=layertrace_env(env_extra))
