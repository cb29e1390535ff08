"""Waiting on other processes without sleeping blindly: a FIFO a target writes readiness lines
into, and a file another process appends to (counted as it grows)."""
import os
import select
import time

from .slowdown import scaled


class Fifo:
    """The target's readiness channel: it writes 'WORD PID' lines ('ready PID', 'done PID', ...)."""

    def __init__(self, path):
        self.path = str(path)
        os.mkfifo(self.path)
        # Non-blocking read end, plus a write end of our own so the FIFO never reports EOF between
        # the target's separate open/write/close rounds.
        self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.keep = os.open(self.path, os.O_WRONLY)
        self.buffer = b""

    def wait_for(self, word, timeout=60.0):
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.buffer.split(b"\n")[:-1]:
                parts = line.decode().split()
                if parts and parts[0] == word:
                    self.buffer = self.buffer[self.buffer.index(line) + len(line) + 1:]
                    return int(parts[1])
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the target did not say '{word}' within {timeout} s")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                self.buffer += os.read(self.fd, 4096)

    def forget_pending(self):
        """Drops every line written so far, so the next wait_for sees only later ones."""
        while select.select([self.fd], [], [], 0)[0]:
            self.buffer += os.read(self.fd, 4096)
        self.buffer = b""

    def close(self):
        os.close(self.fd)
        os.close(self.keep)


class OutputWatch:
    """Counts occurrences of `needle` in a file another process is appending to, reading only
    what is new each time."""

    def __init__(self, path, needle=b"\n"):
        self.path, self.needle = path, needle
        self.offset, self.count, self.carry = 0, 0, b""

    def poll(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        data = self.carry + data
        self.count += data.count(self.needle)
        # Keep a tail shorter than the needle so a match split across reads is counted once.
        cut = max(0, len(data) - len(self.needle) + 1)
        self.carry = data[cut:] if self.needle not in data[cut:] else b""
        return self.count

    def wait_for(self, n, timeout, alive=lambda: True, what="output"):
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        while self.poll() < n:
            assert time.monotonic() < deadline, f"{what}: only {self.count} of {n} within {timeout} s"
            assert alive(), f"{what}: the producer ended after {self.count} of {n}"
            time.sleep(0.05)
