#!/usr/bin/python3
"""layertrace's benchmark suite (issue 7): what tracing costs the traced program, side by side with the peers.

Runs every workload untraced and under every tracer in the same run, alternating (B T1 B T2 ... per
round, several rounds), and reports per-iteration and per-ffi_call overhead and the slowdown ratio
with min/median/max over the rounds; then the probe's microbenchmarks (Google Benchmark), the
probe -> tracer stream rate in --lossless mode and the tracer's memory over a long streaming run.
Results: a text table on stdout and in OUT/results.txt, everything in OUT/results.json.

Not a test: it prints numbers and never fails on them. Exit codes: 0 done, 2 bad usage or a missing
build, 3 a workload or tool failed in a way that left no result (the message says which and why).
"""
import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = "/usr/bin/python3"
# Debian packages the peers come from; installed here, not by scripts/install-deps.sh, so that a
# plain test run never pulls them in.
BENCH_PACKAGES = ("ltrace", "uftrace", "linux-perf")

# name, workload file, iterations (None: the workload's default).
WORKLOADS = (
    ("ctypes_add", "ctypes_add.py"),
    ("transform", "transform.py"),
    ("pybind11_process", "pybind11_process.py"),
    ("pure_python", "pure_python.py"),
    ("nested_callbacks", "nested_callbacks.py"),
)
# Untraced, each loop takes about 0.1-0.5 s on the build machine.
DEFAULT_CALLS = {"ctypes_add": 200_000, "transform": 2_000, "pybind11_process": 1_000_000, "pure_python": 200_000,
                 "nested_callbacks": 5_000}


class BenchError(Exception):
    """A failure that leaves no result; exit code 3."""


def tracers(layertrace):
    """Every way of running a workload: name -> (argv prefix builder, divisor of the iteration count, note).

    The divisor keeps slow tracers' runs short (ltrace, stacks). The cheap ones run the whole loop,
    as the untraced runs do: a traced thread's one-time costs (its 4 MiB ring's first touch, about
    1 ms of page faults) are then spread over the loop the issue names (ctypes: 200,000 calls), not
    over a fifth of it, where they add about 0.05 us per call.
    """
    def lt(*options):
        return lambda _tmp: [str(layertrace), "run", *options, "--format", "jsonl", "--text-output", os.devnull, "--"]

    return {
        "setprofile": (lambda _tmp: [], 1, "sys.setprofile(counter) around the loop (in the workload)"),
        "lt_anchored_nostacks": (lt("--mode", "anchored", "--no-stacks"), 1, "layertrace run --mode anchored --no-stacks"),
        "lt_anchored_allc": (lt("--mode", "anchored", "--no-stacks", "--c-calls", "all"), 1,
                             "layertrace run --mode anchored --no-stacks --c-calls all (3.11: a profile function)"),
        "lt_anchored_stacks": (lt("--mode", "anchored"), 20, "layertrace run --mode anchored (native+Python stacks)"),
        "lt_full_nostacks": (lt("--mode", "full", "--no-stacks"), 1, "layertrace run --mode full --no-stacks"),
        "lt_full_allc": (lt("--mode", "full", "--no-stacks", "--c-calls", "all"), 1,
                         "layertrace run --mode full --no-stacks --c-calls all (3.11: a profile function for C calls)"),
        "lt_full": (lt("--mode", "full"), 20, "layertrace run --mode full (default: stacks on)"),
        "uftrace": (lambda tmp: ["uftrace", "record", "--no-libcall", "-d", str(tmp / "uftrace.data"),
                                 "-P", "ffi_call@libffi.so.8"], 1,
                    "uftrace record --no-libcall -P ffi_call@libffi.so.8"),
        "ltrace": (lambda _tmp: ["ltrace", "-e", "ffi_call", "-o", os.devnull], 100, "ltrace -e ffi_call -o /dev/null"),
    }


# ---- environment ---------------------------------------------------------------------------------

def ensure_packages(packages):
    """Installs the peers' Debian packages that are missing (apt-get, as root or through sudo)."""
    missing = []
    for pkg in packages:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True).stdout
        if status != "install ok installed":
            missing.append(pkg)
    if not missing:
        return
    print(f"bench: installing {' '.join(missing)}", file=sys.stderr)
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    if prefix and shutil.which("sudo") is None:
        raise BenchError(f"need root or sudo to apt-get install {' '.join(missing)} (or pass --no-install)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(prefix + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(prefix + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": subprocess.run([PYTHON, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                                 text=True).stdout.strip(),
        "tools": {tool: (subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.splitlines() or ["?"])[0]
                  for tool in ("uftrace", "ltrace") if shutil.which(tool)},
    }


def loadavg():
    return float(pathlib.Path("/proc/loadavg").read_text().split()[0])


# ---- one run -------------------------------------------------------------------------------------

def run_workload(argv_prefix, workload, demos, calls, setprofile, tmp, timeout):
    """Runs one workload process; returns its JSON result plus what the tracer said on stderr."""
    result = tmp / "result.json"
    result.unlink(missing_ok=True)
    argv = argv_prefix + [PYTHON, str(HERE / "workloads" / workload), "--demos", str(demos), "--calls", str(calls),
                          "--result", str(result)] + (["--setprofile"] if setprofile else [])
    try:
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=timeout,
                              cwd=tmp)
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"{' '.join(argv[:6])} ... did not finish within {timeout} s") from error
    if not result.exists():
        raise BenchError(f"{' '.join(argv)} exited {proc.returncode} without a result:\n{proc.stderr[-2000:]}")
    data = json.loads(result.read_text())
    data["exit"] = proc.returncode
    dropped = 0
    for line in proc.stderr.splitlines():
        if line.startswith("layertrace: the probe dropped "):
            dropped = int(line.split()[4])
    data["dropped"] = dropped
    return data


def count_ffi_calls_per_iteration(layertrace, workload, demos, tmp, timeout, iterations=100):
    """ffi_call events one iteration makes, counted rather than declared: a workload's Python code
    may call ctypes' own C helpers through libffi too (transform: ctypes.cast and friends are
    CFUNCTYPE objects, seven of its nine ffi_calls). Two traced runs of N and 2N iterations; their
    difference divided by N leaves out the import and the warm-up."""
    counts = []
    for n in (iterations, 2 * iterations):
        out = tmp / "ffi_count.jsonl"
        run_workload([str(layertrace), "run", "--mode", "anchored", "--no-stacks", "--lossless", "--format", "jsonl",
                      "--text-output", str(out), "--"], workload, demos, n, False, tmp, timeout)
        with out.open() as lines:
            counts.append(sum(1 for line in lines if json.loads(line)["kind"] == "ffi_call"))
    per_iteration, remainder = divmod(counts[1] - counts[0], iterations)
    if remainder or per_iteration < 0:
        raise BenchError(f"{workload}: {counts[0]} ffi_call events in {iterations} iterations and {counts[1]} in "
                         f"{2 * iterations}: not a whole number per iteration (is the workload deterministic?)")
    return per_iteration


def summarize(values):
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def bench_workloads(args, layertrace, demos):
    specs = tracers(layertrace)
    chosen = [t for t in specs if not args.tracers or t in args.tracers]
    workloads = [w for w in WORKLOADS if not args.workloads or w[0] in args.workloads]
    raw = {w: {t: [] for t in ["untraced"] + chosen} for w, _ in workloads}
    with tempfile.TemporaryDirectory(prefix="layertrace-bench-") as tmpdir:
        tmp = pathlib.Path(tmpdir)
        ffi_calls = {name: count_ffi_calls_per_iteration(layertrace, workload, demos, tmp, args.timeout)
                     for name, workload in workloads}
        for rnd in range(args.rounds):
            for name, workload in workloads:
                calls = max(1, int(DEFAULT_CALLS[name] * args.scale))
                # B T1 B T2 ... B: each traced run sits between two untraced runs of the same round.
                base = run_workload([], workload, demos, calls, False, tmp, args.timeout)
                raw[name]["untraced"].append(base)
                for tracer in chosen:
                    prefix_of, divisor, _note = specs[tracer]
                    n = max(1, calls // divisor) if not args.same_calls else calls
                    shutil.rmtree(tmp / "uftrace.data", ignore_errors=True)
                    traced = run_workload(prefix_of(tmp), workload, demos, n, tracer == "setprofile", tmp, args.timeout)
                    after = run_workload([], workload, demos, calls, False, tmp, args.timeout)
                    raw[name]["untraced"].append(after)
                    for metric in METRICS:
                        baseline = (base[metric] / base["calls"] + after[metric] / after["calls"]) / 2
                        per_iter = traced[metric] / traced["calls"]
                        traced[f"{metric}_overhead_per_iter"] = per_iter - baseline
                        traced[f"{metric}_ratio"] = per_iter / baseline
                    raw[name][tracer].append(traced)
                    base = after
                    print(f"bench: round {rnd + 1}/{args.rounds} {name:<17} {tracer:<21} "
                          f"wall +{traced['seconds_overhead_per_iter'] * 1e6:9.2f} us/iter x{traced['seconds_ratio']:7.2f}  "
                          f"cpu +{traced['cpu_seconds_overhead_per_iter'] * 1e6:9.2f} us/iter x{traced['cpu_seconds_ratio']:7.2f}"
                          + (f"  dropped {traced['dropped']}" if traced["dropped"] else ""), file=sys.stderr, flush=True)
    results = {}
    for name, _ in workloads:
        per_ffi = ffi_calls[name]
        results[name] = {"ffi_calls_per_iteration": per_ffi, "tracers": {}}
        for metric in METRICS:
            results[name][f"untraced_us_per_iter_{metric}"] = summarize(
                [r[metric] / r["calls"] * 1e6 for r in raw[name]["untraced"]])
        for tracer in chosen:
            runs = raw[name][tracer]
            entry = {"note": specs[tracer][2], "calls": runs[0]["calls"] if runs else None,
                     "dropped": [r["dropped"] for r in runs]}
            for metric in METRICS:
                entry[f"overhead_us_per_iter_{metric}"] = summarize([r[f"{metric}_overhead_per_iter"] * 1e6 for r in runs])
                entry[f"overhead_us_per_ffi_call_{metric}"] = summarize(
                    [r[f"{metric}_overhead_per_iter"] * 1e6 / per_ffi for r in runs]) if per_ffi else None
                entry[f"ratio_{metric}"] = summarize([r[f"{metric}_ratio"] for r in runs])
            results[name]["tracers"][tracer] = entry
    return results, raw


# Wall time inside the workload, and CPU time of the traced process (time waiting for a core excluded).
METRICS = ("seconds", "cpu_seconds")


# ---- microbenchmarks and the stream ----------------------------------------------------------------

def run_google_benchmark(argv, prefix, tmp, timeout):
    out = tmp / "gbench.json"
    out.unlink(missing_ok=True)
    proc = subprocess.run(prefix + argv + [f"--benchmark_out={out}", "--benchmark_out_format=json"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if not out.exists():
        raise BenchError(f"{' '.join(prefix + argv)} exited {proc.returncode} without results:\n{proc.stderr[-2000:]}")
    data = json.loads(out.read_text())
    return {b["name"]: b for b in data["benchmarks"]}


def bench_micro(args, build, layertrace):
    """Hot-path microbenchmarks: the hooked ffi_call bench untraced and under each mode; the runtime's own."""
    results = {}
    hooked = build / "bench" / "bench_hooked_call"
    hot = build / "tests" / "probe" / "bench_probe_hot_path"
    with tempfile.TemporaryDirectory(prefix="layertrace-micro-") as tmpdir:
        tmp = pathlib.Path(tmpdir)
        if hooked.exists():
            modes = {"untraced": [],
                     "anchored_nostacks": [str(layertrace), "run", "--mode", "anchored", "--no-stacks", "--format",
                                           "jsonl", "--text-output", os.devnull, "--"],
                     "anchored_stacks": [str(layertrace), "run", "--mode", "anchored", "--format", "jsonl",
                                         "--text-output", os.devnull, "--"]}
            samples = {m: [] for m in modes}
            for _ in range(args.rounds):
                for mode, prefix in modes.items():
                    b = run_google_benchmark([str(hooked), "--benchmark_min_time=0.2"], prefix, tmp, args.timeout)
                    samples[mode].append(b)
            # cpu_time is the calling thread's own CPU (Google Benchmark's default): what the hook costs
            # the program, unaffected by the machine's other load; real_time includes waiting for a core.
            per_call, added = {}, {}
            for metric in ("cpu_time", "real_time"):
                per_call[metric] = {mode: {name: summarize([s[name][metric] for s in samples[mode]])
                                           for name in samples[mode][0]} for mode in modes}
                added[metric] = {mode: {name: summarize([t[name][metric] - u[name][metric]
                                                         for t, u in zip(samples[mode], samples["untraced"])])
                                        for name in samples[mode][0]}
                                 for mode in ("anchored_nostacks", "anchored_stacks")}
            results["hooked_call_ns"] = per_call
            results["hooked_call_added_ns"] = added
        else:
            print(f"bench: {hooked} not built; skipping the hooked-call microbenchmark", file=sys.stderr)
        if hot.exists():
            b = run_google_benchmark([str(hot)], [], tmp, args.timeout)
            results["probe_hot_path"] = {name: {k: v for k, v in r.items()
                                                if k in ("real_time", "cpu_time", "time_unit", "untraced_ns_per_call",
                                                         "traced_ns_per_call", "added_ns_per_event")}
                                         for name, r in b.items()}
        else:
            print(f"bench: {hot} not built; skipping the probe runtime microbenchmarks", file=sys.stderr)
    return results


def sample_rss(pid, samples, stop):
    """Appends (seconds since start, VmRSS KiB) of the tracer process every 20 ms."""
    start = time.monotonic()
    path = pathlib.Path(f"/proc/{pid}/status")
    while not stop.is_set():
        try:
            for line in path.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    samples.append((time.monotonic() - start, int(line.split()[1])))
        except (FileNotFoundError, ProcessLookupError):
            return
        stop.wait(0.02)


def stream_run(layertrace, producer, events_wanted, fmt, tmp, timeout, gap_ns=0, record=False):
    """One lossless streaming run of the synthetic producer; returns rate, drops, CPU and the tracer's RSS over time."""
    result = tmp / "stream.json"
    result.unlink(missing_ok=True)
    calls = events_wanted // 2  # each ffi_call is an FfiCall + an FfiReturn
    argv = [str(layertrace), "run", "--lossless", "--mode", "anchored", "--no-stacks", "--format", fmt,
            "--text-output", os.devnull, "--", str(producer), "--stream", str(calls), "--result", str(result)]
    if gap_ns:
        argv += ["--gap-ns", str(gap_ns)]
    if record:
        # -o FILE: the recording writer teed next to the formatter, as `layertrace run -o` does.
        argv[2:2] = ["-o", str(tmp / "stream.ltr")]
    with open(tmp / "stream.err", "w+") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        samples, stop = [], threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(proc.pid, samples, stop))
        sampler.start()
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        # wait4, not communicate(): its rusage is the CPU of layertrace plus the program it waited for.
        _, status, usage = os.wait4(proc.pid, 0)
        tracer_end = time.clock_gettime(time.CLOCK_MONOTONIC)
        killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        sampler.join()
        err.seek(0)
        stderr = err.read()
    if not result.exists():
        raise BenchError(f"{' '.join(argv)} exited {proc.returncode} without a result:\n{stderr[-2000:]}")
    data = json.loads(result.read_text())
    dropped = sum(int(l.split()[4]) for l in stderr.splitlines() if l.startswith("layertrace: the probe dropped "))
    events = 2 * data["calls"]
    # The producer's loop ends when its last event is in its ring; the tracer is done when it exits.
    end_to_end = tracer_end - data["start_monotonic"]
    tracer_cpu = usage.ru_utime + usage.ru_stime - data["cpu_seconds"]
    rss = [kb for _, kb in samples]
    quarter = max(1, len(rss) // 4)
    return {
        "events": events, "format": fmt, "gap_ns": gap_ns, "recording": record, "dropped": dropped, "exit": proc.returncode,
        "producer_seconds": data["seconds"], "producer_events_per_s": events / data["seconds"],
        "producer_cpu_seconds": data["cpu_seconds"],
        "end_to_end_seconds": end_to_end, "end_to_end_events_per_s": events / end_to_end,
        "tracer_cpu_seconds": tracer_cpu, "tracer_events_per_cpu_s": events / tracer_cpu if tracer_cpu > 0 else None,
        "tracer_rss_kib": {"first_quarter_max": max(rss[:quarter]) if rss else None,
                           "last_quarter_max": max(rss[-quarter:]) if rss else None,
                           "max": max(rss) if rss else None, "samples": len(rss)},
    }


def bench_stream(args, build, layertrace):
    producer = build / "bench" / "bench_hooked_call"
    if not producer.exists():
        print(f"bench: {producer} not built; skipping the stream benchmark", file=sys.stderr)
        return {}
    out = {"runs": []}
    n = args.stream_events
    with tempfile.TemporaryDirectory(prefix="layertrace-stream-") as tmpdir:
        tmp = pathlib.Path(tmpdir)
        # Flat out: both formats at N events, path (the cheaper formatter) at 4N. Paced (one ffi_call
        # every 8 us: 0.25 M events/s, below what the tracer decodes): N and 4N events, to see whether
        # the tracer's memory follows the trace's length when it keeps up.
        # Tree and tree with -o (the recording writer) flat out too: each output path's own rate.
        for events, fmt, gap, record in ((n, "path", 0, False), (n, "jsonl", 0, False), (n, "tree", 0, False),
                                         (n, "tree", 0, True), (4 * n, "path", 0, False), (n, "path", 8000, False),
                                         (4 * n, "path", 8000, False)):
            r = stream_run(layertrace, producer, events, fmt, tmp, args.timeout, gap, record)
            out["runs"].append(r)
            print(f"bench: stream {events} events ({fmt}{' -o' if record else ''}, gap {gap} ns): "
                  f"{r['end_to_end_events_per_s'] / 1e6:.2f} M events/s "
                  f"end to end, producer {r['producer_events_per_s'] / 1e6:.2f} M/s, dropped {r['dropped']}, "
                  f"tracer RSS max {r['tracer_rss_kib']['max']} KiB", file=sys.stderr, flush=True)
    return out


# ---- report --------------------------------------------------------------------------------------

def fmt_stat(s, digits=2):
    if s is None:
        return "-"
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]"


def report(doc):
    lines = []
    m = doc["machine"]
    lines.append(f"machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}; "
                 f"load average {doc['load_before']:.1f} before, {doc['load_after']:.1f} after")
    lines.append("median [min, max] over rounds; overhead = traced - untraced time per iteration, measured "
                 "inside the workload (start-up excluded)")
    lines.append("wall = time.perf_counter() around the loop; cpu = time.process_time() (the traced process's CPU, "
                 "probe threads included, the tracer process not)")
    for name, w in doc.get("workloads", {}).items():
        lines.append("")
        lines.append(f"{name}: untraced wall {fmt_stat(w['untraced_us_per_iter_seconds'])} us, cpu "
                     f"{fmt_stat(w['untraced_us_per_iter_cpu_seconds'])} us per iteration; "
                     f"{w['ffi_calls_per_iteration']} ffi_call(s) per iteration")
        lines.append(f"  {'tracer':<21} {'iters':>7}  {'wall +us/iter':<26} {'cpu +us/iter':<26} "
                     f"{'cpu +us/ffi_call':<26} {'wall x':<22} {'cpu x':<22} dropped")
        for tracer, t in w["tracers"].items():
            lines.append(f"  {tracer:<21} {t['calls']:>7}  {fmt_stat(t['overhead_us_per_iter_seconds']):<26} "
                         f"{fmt_stat(t['overhead_us_per_iter_cpu_seconds']):<26} "
                         f"{fmt_stat(t['overhead_us_per_ffi_call_cpu_seconds']):<26} "
                         f"{fmt_stat(t['ratio_seconds']):<22} {fmt_stat(t['ratio_cpu_seconds']):<22} "
                         f"{max(t['dropped']) if t['dropped'] else 0}")
    micro = doc.get("micro", {})
    if "hooked_call_ns" in micro:
        for metric in ("cpu_time", "real_time"):
            lines.append("")
            lines.append(f"hooked ffi_call microbenchmark, {metric} (ns per call, median [min, max]):")
            for mode, benches in micro["hooked_call_ns"][metric].items():
                for name, s in benches.items():
                    added = micro["hooked_call_added_ns"][metric].get(mode, {}).get(name)
                    lines.append(f"  {mode:<18} {name:<22} {fmt_stat(s, 1):<30}"
                                 + (f" added {fmt_stat(added, 1)}" if added else ""))
    if "probe_hot_path" in micro:
        lines.append("")
        lines.append("probe runtime microbenchmarks (tests/probe/bench_probe_hot_path):")
        for name, r in micro["probe_hot_path"].items():
            extra = "".join(f" {k}={r[k]:.1f}" for k in ("untraced_ns_per_call", "traced_ns_per_call",
                                                          "added_ns_per_event") if k in r)
            lines.append(f"  {name:<32} {r['real_time']:.1f} {r['time_unit']}{extra}")
    for r in doc.get("stream", {}).get("runs", []):
        lines.append("")
        lines.append(f"stream, --lossless, {r['events']} events, --format {r['format']}"
                     + (" -o FILE" if r.get("recording") else "")
                     + (f", one ffi_call every {r['gap_ns']} ns" if r.get("gap_ns") else ", flat out") + ": "
                     f"{r['end_to_end_events_per_s'] / 1e6:.2f} M events/s end to end "
                     f"({r['producer_events_per_s'] / 1e6:.2f} M/s producer side; tracer "
                     f"{(r['tracer_events_per_cpu_s'] or 0) / 1e6:.2f} M events per CPU-second), dropped {r['dropped']}; tracer RSS "
                     f"KiB first quarter max {r['tracer_rss_kib']['first_quarter_max']}, last quarter max "
                     f"{r['tracer_rss_kib']['last_quarter_max']}, max {r['tracer_rss_kib']['max']}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=pathlib.Path, default=REPO / "build" / "default",
                        help="build directory with tracer/layertrace, demos/ and bench/ (default %(default)s)")
    parser.add_argument("--out", type=pathlib.Path, help="where results.json/results.txt go (default BUILD/bench)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of B T B T ... (default %(default)s)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every workload's iteration count (default %(default)s: "
                             "about 3 minutes on an idle 2-core machine; 1.0 runs the loops at the lengths issue 7 names)")
    parser.add_argument("--same-calls", action="store_true", help="run every tracer at the full iteration count")
    parser.add_argument("--workloads", nargs="*", help="only these workloads")
    parser.add_argument("--tracers", nargs="*", help="only these tracers")
    parser.add_argument("--skip", nargs="*", default=[], choices=("workloads", "micro", "stream"), help="parts to skip")
    parser.add_argument("--stream-events", type=int, default=1_000_000, help="events of the shorter stream runs")
    parser.add_argument("--timeout", type=int, default=300, help="seconds one run may take")
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install ltrace/uftrace/linux-perf")
    args = parser.parse_args()

    build = args.build.resolve()
    layertrace = build / "tracer" / "layertrace"
    demos = build / "demos"
    if not layertrace.exists() or not demos.is_dir():
        print(f"bench: {layertrace} or {demos} is missing: build first "
              f"(cmake --build {build} --target layertrace layertrace_probe bench_hooked_call ...)", file=sys.stderr)
        return 2
    out = (args.out or build / "bench").resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        if not args.no_install:
            ensure_packages(BENCH_PACKAGES)
        doc = {"machine": machine(), "load_before": loadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
               "rounds": args.rounds, "scale": args.scale}
        t0 = time.monotonic()
        if "workloads" not in args.skip:
            doc["workloads"], doc["raw"] = bench_workloads(args, layertrace, demos)
        if "micro" not in args.skip:
            doc["micro"] = bench_micro(args, build, layertrace)
        if "stream" not in args.skip:
            doc["stream"] = bench_stream(args, build, layertrace)
        doc["load_after"] = loadavg()
        doc["seconds"] = time.monotonic() - t0
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 3
    text = report(doc)
    (out / "results.json").write_text(json.dumps(doc, indent=1))
    (out / "results.txt").write_text(text)
    sys.stdout.write(text)
    print(f"bench: {doc['seconds']:.0f} s; results in {out}/results.json and results.txt", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
