"""Attach target with 8 worker threads, each calling libadd.so's add() through ctypes and the
pybind11 mymodule.Config.process(), checking every result. Four workers start at once, four more
when a line "go" arrives on stdin (after the tracer attached); "stop" ends them all.

usage: threads_target.py CTYPES_ADD_DIR PYBIND11_CONFIG_DIR
Prints "ready" once the first four run, "worker K tid T" for each worker as it starts, and at the
end "stopped after N calls, all correct" (exit 0) or the first mismatch (exit 1)."""
import ctypes
import sys
import threading

ADD_DIR, PYBIND_DIR = sys.argv[1], sys.argv[2]
sys.path.insert(0, PYBIND_DIR)
import mymodule  # noqa: E402  (the pybind11 build of Part VII, staged by the build)

lib = ctypes.CDLL(f"{ADD_DIR}/libadd.so")
lib.add.argtypes = (ctypes.c_int, ctypes.c_int)
lib.add.restype = ctypes.c_int

stop = threading.Event()
errors = []
counts = [0] * 8
running = [threading.Event() for _ in range(8)]
print_lock = threading.Lock()


def say(text):
    with print_lock:
        print(text, flush=True)


def worker(k):
    say(f"worker {k} tid {threading.get_native_id()}")
    config = mymodule.Config(timeout=k + 1, url=f"http://example.com/w{k}", ssl=bool(k % 2))
    expected_prefix = f"GET {'https' if k % 2 else 'http'}://example.com:"
    i = 0
    while not stop.is_set():
        total = lib.add(i, k)
        if total != i + k:
            errors.append(f"worker {k}: add({i}, {k}) returned {total}")
            stop.set()
            break
        line = config.process()
        if not line.startswith(expected_prefix):
            errors.append(f"worker {k}: process() returned {line!r}")
            stop.set()
            break
        i += 1
        counts[k] = i
        if i == 1:
            running[k].set()


def start(ks):
    threads = [threading.Thread(target=worker, args=(k,), name=f"worker-{k}") for k in ks]
    for t in threads:
        t.start()
    for k in ks:
        running[k].wait()
    return threads


threads = start(range(4))
say("ready")
for line in sys.stdin:
    command = line.strip()
    if command == "go":
        threads += start(range(4, 8))
        say("all running")
    elif command == "stop":
        break
stop.set()
for t in threads:
    t.join()
if errors:
    say(errors[0])
    sys.exit(1)
say(f"stopped after {sum(counts)} calls, all correct")
