#!/usr/bin/env python3
"""Regenerates the recording fixtures: records every catalog demo with the live probe
(`layertrace run --lossless --mode anchored -o tests/data/<demo>.ltr`, `--repeat 1` where the demo
takes it) and writes the counts a reader must reproduce to tests/data/fixtures.json.

Run after a deliberate, documented format change (docs/recording-format.md):
    python3 tests/data/make_fixtures.py --build build/recording
The fixture test (recording.RecordingFixtures.*) fails when the reader can no longer read them."""
import argparse
import json
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent


def counts(layertrace, recording, status):
    out = subprocess.run([str(layertrace), "replay", "-q", "--format", "jsonl", str(recording)],
                         capture_output=True, text=True, check=True).stdout
    c = {"events": 0, "modules": 0, "enters": 0, "exits": 0, "native_frames": 0, "src_located": 0,
         "exit_status": status}
    threads, symbols = set(), set()
    enter = {"py_call", "c_call", "init_enter", "ffi_call", "closure_enter", "native_enter"}
    exits = {"py_return", "c_return", "c_raise", "init_exit", "ffi_return", "closure_exit", "native_exit"}
    for line in out.splitlines():
        obj = json.loads(line)
        if obj["kind"] == "module_load" and "tid" not in obj:
            c["modules"] += 1
            continue
        c["events"] += 1
        c["enters"] += obj["kind"] in enter
        c["exits"] += obj["kind"] in exits
        threads.add(obj["tid"])
        c["native_frames"] += sum(1 for f in obj.get("stack", []) if not f["python"])
        c["src_located"] += bool(obj.get("src_file"))
        if obj["kind"] in ("native_enter", "ffi_call"):
            symbols.add(f"{obj['module']}:{obj['symbol']}")
    c["threads"] = len(threads)
    c["symbols"] = sorted(symbols)[:40]
    return c


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build/recording", help="build directory with layertrace and the probe")
    parser.add_argument("--python", default="/usr/bin/python3")
    args = parser.parse_args()
    build = pathlib.Path(args.build).resolve()
    layertrace = build / "tracer" / "layertrace"
    demos = build / "demos"
    catalog = json.loads((demos / "catalog.json").read_text())
    fixtures = {}
    for demo in catalog["demos"]:
        name = demo["name"]
        cwd = demos / name
        argv = [args.python if a == "{python}" else a for a in demo["run"]["argv"]]
        script = cwd / argv[1] if len(argv) > 1 else None
        if script and script.exists() and "--repeat" in script.read_text():
            argv += ["--repeat", "1"]
        target = HERE / f"{name}.ltr"
        proc = subprocess.run([str(layertrace), "run", "--lossless", "--mode", "anchored", "--format", "path",
                               "-o", str(target), "--", *argv], cwd=cwd, capture_output=True, text=True,
                              env={**os.environ, "LAYERTRACE_PROBE": str(build / "probes" / "liblayertrace_probe.so")})
        if proc.returncode != 0:
            sys.exit(f"{name}: layertrace run exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        fixtures[target.name] = {"demo": name, "argv": argv[1:], **counts(layertrace, target, proc.returncode)}
        print(f"{target.name}: {target.stat().st_size} bytes, {fixtures[target.name]['events']} events")
    doc = {"about": "Recordings of every demo (format version 1) and the counts a reader must reproduce; "
                    "regenerate with tests/data/make_fixtures.py after a deliberate format change.",
           "fixtures": fixtures}
    (HERE / "fixtures.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
