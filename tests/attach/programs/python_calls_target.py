"""Attach target for full mode: pure-Python calls (nested functions and a generator) on the main
thread, running since before any attach, and on worker threads that stdin commands start later.

stdin commands: "go" starts one more worker (prints "worker K tid T"); "eval" prints "eval default"
or "eval hooked" (whether the interpreter evaluates frames with its default function); "stop"
ends everything and prints "stopped after N rounds, all correct" (exit 0) or the first wrong
result (exit 1). Prints "ready" once the main loop runs."""
import ctypes
import sys
import threading

stop = threading.Event()
errors = []
rounds = [0]


def eval_function():
    api = ctypes.pythonapi
    api.PyInterpreterState_Get.restype = ctypes.c_void_p
    get = api._PyInterpreterState_GetEvalFrameFunc
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
    default = ctypes.cast(api._PyEval_EvalFrameDefault, ctypes.c_void_p).value
    return "default" if get(api.PyInterpreterState_Get()) == default else "hooked"


def inner(x):
    return x + 1


def squares(n):
    for i in range(n):
        yield inner(i) * i


def outer(i):
    return inner(i) + sum(squares(3))


def work(counter):
    i = 0
    while not stop.is_set():
        if outer(i) != i + 1 + 8:
            errors.append(f"outer({i}) returned {outer(i)}")
            stop.set()
        i += 1
        counter[0] += 1


def commands():
    workers = []
    for line in sys.stdin:
        command = line.strip()
        if command == "go":
            counter = [0]
            t = threading.Thread(target=work, args=(counter,))
            t.start()
            workers.append((t, counter))
            print(f"worker {len(workers)} tid {t.native_id}", flush=True)
        elif command == "eval":
            print(f"eval {eval_function()}", flush=True)
        elif command == "stop":
            break
    stop.set()
    for t, counter in workers:
        t.join()
        rounds[0] += counter[0]


reader = threading.Thread(target=commands)
reader.start()
print("ready", flush=True)
work(rounds)
reader.join()
if errors:
    print(errors[0], flush=True)
    sys.exit(1)
print(f"stopped after {rounds[0]} rounds, all correct", flush=True)
