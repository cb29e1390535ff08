"""Run by `layertrace run` in place of a traced program, with no real probe loaded (the security
test points LAYERTRACE_PROBE at a plain library): it finds the tracer's socket in LAYERTRACE_SOCKET
and tries to reach it as another uid (`nobody`), first through the 0700 directory, then with that
lock opened on purpose to show the tracer's own SO_PEERCRED check; finally it connects as us,
the legitimate probe, and must get a Welcome. Prints one JSON object with what happened."""
import json
import os
import socket
import stat
import struct
import sys
import time

NOBODY = 65534
K_MAGIC, K_VERSION = 0x5752544C, 3


def hello_bytes(pid):
    # Hello (docs/wire-format.md): header {type 1, size 40, reserved}, magic, version, pointer size,
    # pid, Python version (0: none), flags, reserved, CLOCK_MONOTONIC.
    return struct.pack("<HHIIHHIIIIQ", 1, 40, 0, K_MAGIC, K_VERSION, 8, pid, 0, 0, 0, time.monotonic_ns())


def as_nobody(path, send_hello, drop_uid=True):
    """Forks a child that drops to uid/gid 65534 (unless drop_uid is false: a process of ours that
    is not the launched one) and tries the socket; returns what it saw."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        outcome = {}
        try:
            if drop_uid:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            try:
                s.connect(path)
                outcome["connected"] = True
                if send_hello:
                    s.sendall(hello_bytes(os.getpid()))
                    reply = s.recv(4096)
                    outcome["reply_bytes"] = len(reply)
            except PermissionError:
                outcome["connected"] = False
                outcome["error"] = "EACCES"
            except OSError as error:
                outcome["connected"] = outcome.get("connected", False)
                outcome["error"] = f"{type(error).__name__}: {error}"
        except Exception as error:  # reported to the parent, never raised past the fork
            outcome["setup_error"] = repr(error)
        os.write(w, json.dumps(outcome).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def main():
    path = os.environ.get("LAYERTRACE_SOCKET")
    if not path:
        print(json.dumps({"error": "LAYERTRACE_SOCKET not set"}))
        return 2
    directory = os.path.dirname(path)
    st = os.stat(directory)
    report = {"dir_mode": oct(stat.S_IMODE(st.st_mode)), "dir_uid": st.st_uid, "our_uid": os.getuid()}
    # 1. The real situation: the directory is 0700 and ours.
    report["nobody_through_dir"] = as_nobody(path, send_hello=False)
    # 2. Pretend the first lock failed (directory and socket opened to everyone): the tracer must
    #    still refuse a peer of another uid (SO_PEERCRED) and never answer it.
    # (The test gives us an XDG_RUNTIME_DIR of our own, so opening its mode harms nobody else.)
    parent = os.path.dirname(directory)
    parent_mode = stat.S_IMODE(os.stat(parent).st_mode)
    os.chmod(parent, 0o711)
    os.chmod(directory, 0o777)
    os.chmod(path, 0o777)
    report["nobody_lock_opened"] = as_nobody(path, send_hello=True)
    # 2b. Our own uid, but another process (a child of the launched one): not the session either.
    report["our_child"] = as_nobody(path, send_hello=True, drop_uid=False)
    os.chmod(directory, stat.S_IMODE(st.st_mode))
    os.chmod(parent, parent_mode)
    # 3. Us: accepted, answered with a Welcome.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(hello_bytes(os.getpid()))
    reply = s.recv(4096)
    report["ours_reply_type"] = struct.unpack_from("<H", reply)[0] if len(reply) >= 2 else None
    report["ours_reply_magic"] = hex(struct.unpack_from("<I", reply, 8)[0]) if len(reply) >= 12 else None
    s.close()
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
