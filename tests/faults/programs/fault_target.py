"""The traced program of the fault suite: one scenario per subcommand, every native result checked
against an independent Python computation, the outcome written as JSON to --result (a file, so it
survives whatever happens to the tracer and its pipes) and readiness announced on a FIFO."""
import argparse
import ctypes
import importlib.util
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

MASK64 = (1 << 64) - 1


def ft_mix_expected(i):
    """Python twin of libfaults.so's ft_mix."""
    x = (i * 0x9E3779B97F4A7C15) & MASK64
    x ^= x >> 29
    x = (x * 0xBF58476D1CE4E5B9) & MASK64
    x ^= x >> 32
    return x & 0x7FFFFFFFFFFF


def add_expected(a, b):
    total = (a + b) & 0xFFFFFFFF
    return total - (1 << 32) if total >= (1 << 31) else total


class Wrong(Exception):
    """A native call returned a wrong value: the one thing the suite must never see."""


def load_faults(args):
    lib = ctypes.CDLL(args.faults_lib)
    lib.ft_mix.argtypes = [ctypes.c_int64]
    lib.ft_mix.restype = ctypes.c_int64
    lib.ft_recurse.argtypes = [ctypes.c_long]
    lib.ft_recurse.restype = ctypes.c_long
    lib.ft_longjmp_through.argtypes = [ctypes.c_long, ctypes.c_long]
    lib.ft_longjmp_through.restype = ctypes.c_long
    return lib


def mix_checked(lib, i):
    got = lib.ft_mix(i)
    if got != ft_mix_expected(i):
        raise Wrong(f"ft_mix({i}) returned {got}, expected {ft_mix_expected(i)}")
    return got


class Outcome:
    """Collects the result and writes it (atomically: write + rename) whenever asked."""

    def __init__(self, path):
        self.path = path
        self.data = {"pid": os.getpid(), "correct": True}

    def write(self, **fields):
        self.data.update(fields)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)


def announce_ready(args, text="ready"):
    if args.ready:
        with open(args.ready, "w") as f:
            f.write(f"{text} {os.getpid()}\n")


def install_stop_flag():
    stop = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: stop.append(received))
    return stop


# --- loop: N (or until SIGTERM) checked ft_mix calls, then end the chosen way. ---------------------
def scenario_loop(args, out):
    lib = load_faults(args)
    done = 0
    if args.forever:
        stop = install_stop_flag()
        crash = []
        if args.crash_on_usr1:  # SIGUSR1: the next iteration dies in a traced call (ft_crash: SIGSEGV)
            lib.ft_crash.argtypes = [ctypes.c_int]
            signal.signal(signal.SIGUSR1, lambda _signum, _frame: crash.append(True))
        while not stop:
            if crash:
                out.write(calls=done, crashing="segv")
                lib.ft_crash(FAULTS["segv"])
            mix_checked(lib, done)
            done += 1
            if done == 1:
                announce_ready(args)
            if args.progress and done % args.progress == 0:
                announce_ready(args, "progress")  # "progress PID": another --progress calls done
            if args.pace:
                time.sleep(args.pace)  # a throttled target: a steady, small stream of events
        out.write(calls=done, stopped_by=stop[0])
        print(f"stopped after {done} iterations, all correct", flush=True)
    else:
        for i in range(args.calls):
            mix_checked(lib, i)
        done = args.calls
        out.write(calls=done)
    announce_ready(args, "done")
    if args.end == "raise":
        raise RuntimeError(f"raised on purpose after {done} correct calls")
    if args.end == "os_exit":
        sys.stdout.flush()
        os._exit(7)
    if args.end == "segv":
        sys.stdout.flush()
        ctypes.string_at(0)  # SIGSEGV: reading address 0
    return 0


# --- crash: checked calls, then a real fault inside a traced native call (ft_crash). --------------
FAULTS = {"segv": 0, "bus": 1, "ill": 2, "fpe": 3, "abrt": 4}


def scenario_crash(args, out):
    lib = load_faults(args)
    lib.ft_crash.argtypes = [ctypes.c_int]
    lib.ft_crash.restype = ctypes.c_int
    if args.faulthandler:
        import faulthandler
        faulthandler.enable()  # installed over the probe's handlers: it chains to them
    for i in range(args.calls):
        mix_checked(lib, i)
    out.write(calls=args.calls, crashing=args.fault)
    sys.stdout.flush()
    lib.ft_crash(FAULTS[args.fault])
    out.write(survived=True)  # never: the fault kills the process
    return 4


# --- recover: faults the program catches itself (a SIGSEGV handler that siglongjmps back). --------
def scenario_recover(args, out):
    lib = load_faults(args)
    for name in ("ft_survive_fault", "ft_fault_and_recover"):
        getattr(lib, name).argtypes = [ctypes.c_int64]
        getattr(lib, name).restype = ctypes.c_int64
    # --installed: the handler stays installed from the start (an attached probe finds it there
    # and chains to it); otherwise each fault installs it over the probe's for one call.
    if args.installed and lib.ft_install_recovering_handler() != 0:
        raise Wrong("sigaction failed")
    recover = lib.ft_fault_and_recover if args.installed else lib.ft_survive_fault
    stop = install_stop_flag() if args.forever else []
    done = faults = 0
    while (not stop) if args.forever else done < args.calls:
        mix_checked(lib, done)
        if done % args.every == 0:
            got = recover(done)
            if got != ft_mix_expected(done):
                raise Wrong(f"a recovered fault returned {got}, expected {ft_mix_expected(done)}")
            faults += 1
        done += 1
        if done == 1:
            announce_ready(args)
        if args.progress and done % args.progress == 0:
            announce_ready(args, "progress")
        if args.pace:
            time.sleep(args.pace)
    out.write(calls=done, faults=faults)
    announce_ready(args, "done")
    return 0


# --- fork: calls in the parent, in a fork child (no exec), and in an exec'd child. ----------------
def scenario_fork(args, out):
    lib = load_faults(args)
    for i in range(args.calls):
        mix_checked(lib, i)
    children = []
    pid = os.fork()
    if pid == 0:
        # The fork child keeps the (now inert) probe and its hooks: its calls must still be right.
        status = 0
        try:
            for i in range(args.calls):
                mix_checked(lib, i + 1_000_000)
        except Wrong as error:
            print(f"fork child: {error}", file=sys.stderr)
            status = 3
        os._exit(status)
    _, status = os.waitpid(pid, 0)
    children.append({"pid": pid, "how": "fork", "status": os.waitstatus_to_exitcode(status)})
    # fork + exec: a fresh interpreter; it must not join the session (environment scrubbed).
    code = ("import ctypes, os, sys\n"
            "lib = ctypes.CDLL(sys.argv[1]); lib.ft_mix.argtypes = [ctypes.c_int64]; lib.ft_mix.restype = ctypes.c_int64\n"
            "print(os.getpid(), sum(lib.ft_mix(i) for i in range(int(sys.argv[2]))),"
            " 'LAYERTRACE_SOCKET' in os.environ, 'layertrace_probe' in os.environ.get('LD_PRELOAD', ''))\n")
    proc = subprocess.run([sys.executable, "-c", code, args.faults_lib, str(args.calls)],
                          capture_output=True, text=True, timeout=120)
    fields = proc.stdout.split()
    child = {"how": "exec", "status": proc.returncode, "stderr": proc.stderr[-2000:]}
    if len(fields) == 4:
        child.update(pid=int(fields[0]), sum=int(fields[1]), socket_env=fields[2] == "True",
                     preload_env=fields[3] == "True")
        child["sum_expected"] = sum(ft_mix_expected(i) for i in range(args.calls))
    children.append(child)
    for i in range(args.calls):
        mix_checked(lib, i + 2_000_000)
    out.write(calls=3 * args.calls, children=children)
    return 0


# --- threads: ctypes, cffi ABI and pybind11 calls from many threads at once. ----------------------
def load_module_from(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scenario_threads(args, out):
    demos = pathlib.Path(args.demos)
    libadd_path = str(demos / "c_ext_ctypes_add" / "libadd.so")
    cdll = ctypes.CDLL(libadd_path)
    cdll.add.argtypes = [ctypes.c_int, ctypes.c_int]
    cdll.add.restype = ctypes.c_int
    import cffi
    ffi = cffi.FFI()
    ffi.cdef("int add(int a, int b);")
    cffi_lib = ffi.dlopen(libadd_path)
    sys.path.insert(0, str(demos / "c_ext_pybind11_config"))
    import mymodule
    user = load_module_from(demos / "c_ext_pybind11_config" / "user.py", "pybind11_user")
    if "c_ext_pybind11_config" not in mymodule.__file__:
        raise SystemExit(f"expected the pybind11 build of mymodule, got {mymodule.__file__}")

    barrier = threading.Barrier(args.threads + 1)
    deadline = [0.0]
    results = [None] * args.threads
    errors = []

    def worker(index):
        config = mymodule.Config(timeout=1 + index, url=f"http://host{index}.example.com/p{index}", ssl=index % 2 == 0)
        expected_line = user.expected_request(config.timeout, config.url, config.ssl)
        counts = {"ctypes": 0, "cffi": 0, "pybind11": 0}
        barrier.wait()
        i = 0
        try:
            while time.monotonic() < deadline[0] and i < args.max_iterations:
                a, b = (index * 7919 + i * 31) % 200_003 - 100_000, (i * 13) % 99_991
                got = cdll.add(a, b)
                if got != add_expected(a, b):
                    raise Wrong(f"thread {index}: ctypes add({a}, {b}) = {got}")
                counts["ctypes"] += 1
                got = cffi_lib.add(b, a)
                if got != add_expected(a, b):
                    raise Wrong(f"thread {index}: cffi add({b}, {a}) = {got}")
                counts["cffi"] += 1
                line = config.process()
                if line != expected_line:
                    raise Wrong(f"thread {index}: process() = {line!r}, expected {expected_line!r}")
                counts["pybind11"] += 1
                i += 1
        except Exception as error:  # recorded, and the run reports incorrect
            errors.append(f"{type(error).__name__}: {error}")
        results[index] = {"tid": threading.get_native_id(), "counts": counts, "processed": config.processed}

    threads = [threading.Thread(target=worker, args=(k,), name=f"worker-{k}") for k in range(args.threads)]
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + args.seconds
    barrier.wait()
    for t in threads:
        t.join()
    # The native side counted its own successful process() calls: it must agree with ours.
    for r in results:
        if r["processed"] != r["counts"]["pybind11"]:
            errors.append(f"tid {r['tid']}: Config.processed {r['processed']} != {r['counts']['pybind11']} calls")
    out.write(threads=results, errors=errors, correct=not errors)
    return 0 if not errors else 3


# --- recurse: a hooked function 10,000 frames deep. -----------------------------------------------
def scenario_recurse(args, out):
    lib = load_faults(args)
    for r in range(args.repeat):
        got = lib.ft_recurse(args.depth)
        if got != args.depth:
            raise Wrong(f"ft_recurse({args.depth}) returned {got} (round {r})")
    out.write(calls=args.repeat)
    return 0


# --- unwind: C++ exceptions (pybind11) and longjmp through hooked frames. -------------------------
def scenario_unwind(args, out):
    lib = load_faults(args)
    sys.path.insert(0, str(pathlib.Path(args.demos) / "c_ext_pybind11_config"))
    import mymodule
    raised = accepted = 0
    for i in range(args.repeat):
        bad = -1 - i
        try:
            mymodule.check_timeout(bad)
        except ValueError as error:
            if str(bad) not in str(error):
                raise Wrong(f"check_timeout({bad}) raised {error!r}")
            raised += 1
        else:
            raise Wrong(f"check_timeout({bad}) did not raise")
        if mymodule.check_timeout(1 + i % 3600) is not None:
            raise Wrong("check_timeout of a valid value returned something")
        accepted += 1
        depth, token = 1 + i % args.depth, 1 + i
        got = lib.ft_longjmp_through(depth, token)
        if got != depth + token:
            raise Wrong(f"ft_longjmp_through({depth}, {token}) returned {got}, expected {depth + token}")
        mix_checked(lib, i)  # hooks still right after the unwinding
    out.write(raised=raised, accepted=accepted, longjmps=args.repeat)
    return 0


# --- signals: a Python SIGALRM handler doing ctypes work while the main loop is in hooks. ---------
def scenario_signals(args, out):
    lib = load_faults(args)
    handled = [0]

    def on_alarm(_signum, _frame):
        # Python work, including a hooked native call, nested inside whatever the loop was doing.
        k = handled[0] + 5_000_000
        mix_checked(lib, k)
        if sum(range(50)) != 1225:
            raise Wrong("arithmetic in the handler")
        handled[0] += 1

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, args.interval, args.interval)
    try:
        for i in range(args.calls):
            mix_checked(lib, i)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
    out.write(calls=args.calls, handled=handled[0])
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=["loop", "crash", "recover", "fork", "threads", "recurse", "unwind",
                                                   "signals"])
    parser.add_argument("--result", required=True, help="JSON outcome file")
    parser.add_argument("--ready", help="FIFO to write 'ready PID' (and 'done PID') to")
    parser.add_argument("--faults-lib", default=os.environ.get("FAULTS_LIB", ""))
    parser.add_argument("--demos", default=os.environ.get("LAYERTRACE_DEMOS_DIR", ""))
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--forever", action="store_true")
    parser.add_argument("--progress", type=int, default=0, help="loop --forever, recover: say 'progress' every N calls")
    parser.add_argument("--end", choices=["normal", "raise", "os_exit", "segv"], default="normal")
    parser.add_argument("--fault", choices=sorted(FAULTS), default="segv", help="crash: which fault")
    parser.add_argument("--faulthandler", action="store_true", help="crash: enable Python's faulthandler first")
    parser.add_argument("--installed", action="store_true", help="recover: one handler installed at the start")
    parser.add_argument("--every", type=int, default=10, help="recover: a caught fault every N calls")
    parser.add_argument("--pace", type=float, default=0.0, help="loop, recover: seconds to sleep between calls")
    parser.add_argument("--crash-on-usr1", action="store_true", help="loop --forever: SIGUSR1 makes it crash")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max-iterations", type=int, default=1 << 62, help="threads: per-thread budget")
    parser.add_argument("--depth", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.001)
    args = parser.parse_args(argv)
    out = Outcome(args.result)
    try:
        status = globals()[f"scenario_{args.scenario}"](args, out)
    except Wrong as error:
        out.write(correct=False, error=str(error))
        print(f"WRONG RESULT: {error}", file=sys.stderr)
        return 3
    return status


if __name__ == "__main__":
    sys.exit(main())
