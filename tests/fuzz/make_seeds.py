"""Regenerates the fuzzers' seed corpora (tests/fuzz/seeds/) from real demo runs: the raw wire
stream of each demo (this script plays the tracer's side of the socket: Hello in, Welcome out,
then records every byte), cut at batch boundaries to stay small, and small .ltr recordings made by
`layertrace run -o`. Run from the repository root after building the default preset:
    python3 tests/fuzz/make_seeds.py --build build/rel
"""
import argparse
import json
import os
import pathlib
import socket
import struct
import subprocess
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEEDS = ROOT / "tests" / "fuzz" / "seeds"
K_MAGIC, K_VERSION = 0x5752544C, 3
MAX_SEED = 48 * 1024  # keeps each fuzz iteration fast; whole batches only
# Demos whose anchored recordings stay under 100 KB (the cffi and callbacks demos import far more).
RECORDED = ("c_ext_config_basic", "c_ext_pybind11_config", "c_ext_handle_binding", "ros2_binding_demo")

# Byte 0 of a wire seed is the fuzzer's control byte (fuzz_wire_decoder.cpp): bit 0 direction
# (1 = tracer->probe), bit 1 "handshake already done", bits 2.. feed chunk size (0 = all at once).
CTRL_PROBE, CTRL_TRACER, CTRL_NO_HANDSHAKE = 0, 1, 2


def welcome(mode_full=True, stacks=True, specs=()):
    tail = b"".join(s.encode() + b"\0" for s in specs)
    size = 24 + len(tail)
    padded = (size + 7) // 8 * 8
    flags = 1 if stacks else 0
    head = struct.pack("<HHIIHBBII", 2, padded, 0, K_MAGIC, K_VERSION, 1 if mode_full else 0, 0, flags, len(specs))
    return head + tail + b"\0" * (padded - size)


def capture(probe, argv, cwd, mode_full):
    """Runs argv with the probe, plays the tracer, returns the raw probe->tracer bytes."""
    with tempfile.TemporaryDirectory(prefix="lt-seed-") as d:
        path = os.path.join(d, "probe.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        env = dict(os.environ, LD_PRELOAD=probe, LAYERTRACE_SOCKET=path)
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        listener.settimeout(30)
        conn, _ = listener.accept()
        data = b""
        while len(data) < 40:
            data += conn.recv(40 - len(data))
        conn.sendall(welcome(mode_full=mode_full))
        while chunk := conn.recv(1 << 16):
            data += chunk
        proc.wait(timeout=120)
        return data


def cut(stream, limit):
    """Hello + as many whole batches as fit in `limit` bytes, and the batches without the Hello."""
    pos, end = 40, 40
    while pos + 16 <= len(stream):
        magic, _tid, nbytes, _count = struct.unpack_from("<IIII", stream, pos)
        if magic != K_MAGIC or pos + 16 + nbytes > len(stream) or pos + 16 + nbytes > limit:
            break
        pos += 16 + nbytes
        end = pos
    return stream[:end], stream[40:end]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default="build/rel")
    parser.add_argument("--python", default="/usr/bin/python3")
    args = parser.parse_args()
    build = (ROOT / args.build).resolve()
    probe = str(build / "probes" / "liblayertrace_probe.so")
    layertrace = str(build / "tracer" / "layertrace")
    demos = build / "demos"
    catalog = json.loads((demos / "catalog.json").read_text())
    wire_dir, rec_dir = SEEDS / "wire_decoder", SEEDS / "recording_reader"
    wire_dir.mkdir(parents=True, exist_ok=True)
    rec_dir.mkdir(parents=True, exist_ok=True)
    for demo in catalog["demos"]:
        argv = [args.python if a == "{python}" else a for a in demo["run"]["argv"]]
        cwd = demos / demo["name"]
        for mode_full in (True, False):
            stream = capture(probe, argv, cwd, mode_full)
            with_hello, _ = cut(stream, MAX_SEED)
            _, batches = cut(stream, 16 * 1024)
            tag = f"{demo['name']}_{'full' if mode_full else 'anchored'}"
            (wire_dir / f"{tag}.bin").write_bytes(bytes([CTRL_PROBE]) + with_hello)
            # Recording-style readers start after the handshake; fed in 5-byte pieces.
            (wire_dir / f"{tag}_batches.bin").write_bytes(bytes([CTRL_NO_HANDSHAKE | (5 << 2)]) + batches)
        if demo["name"] not in RECORDED:
            continue
        rec = rec_dir / f"{demo['name']}.ltr"
        subprocess.run([layertrace, "run", "--mode", "anchored", "--no-stacks", "-o", str(rec), "--text-output",
                        os.devnull, "--", *argv], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=300)
    # The tracer's direction: Welcomes with and without specs, then Detach.
    detach = struct.pack("<HHI", 3, 8, 0)
    (wire_dir / "tracer_welcome_detach.bin").write_bytes(bytes([CTRL_TRACER]) + welcome() + detach)
    (wire_dir / "tracer_welcome_specs.bin").write_bytes(
        bytes([CTRL_TRACER | (3 << 2)]) + welcome(False, False, ["libstruct_demo.so:sd_*", "mymodule*.so:*"]) + detach)
    # Small complete recordings (fast fuzz iterations): a non-Python program, a bare interpreter in
    # full mode, one ctypes call in anchored mode.
    small = {"true": ["--no-stacks", "--", "/bin/true"],
             "python_bare_full": ["--no-stacks", "--", args.python, "-S", "-I", "-c", "pass"],
             "python_ctypes_anchored": ["--mode", "anchored", "--no-stacks", "--", args.python, "-S", "-c",
                                        "import ctypes; ctypes.CDLL(None).getpid()"]}
    for name, run_args in small.items():
        subprocess.run([layertrace, "run", "-o", str(rec_dir / f"{name}.ltr"), "--text-output", os.devnull,
                        *run_args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    # A recording cut short (the tracer killed mid-session): its first 20,000 bytes.
    full = (rec_dir / f"{RECORDED[0]}.ltr").read_bytes()
    (rec_dir / f"{RECORDED[0]}_cut.ltr").write_bytes(full[:20000])
    for seed in sorted(list(wire_dir.iterdir()) + list(rec_dir.iterdir())):
        print(f"{seed.relative_to(ROOT)}: {seed.stat().st_size} bytes")


if __name__ == "__main__":
    main()
