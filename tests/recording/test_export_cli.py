"""`layertrace export` on the committed demo recordings (tests/data): the Chrome Trace Event JSON
parses, its B/E events nest per thread and match the recording's calls one for one, every thread
is named and each flow start has its end; the speedscope file validates against the schema the
speedscope npm package ships (checked with ajv) and its open/close events match the calls.
Also `replay` and `dump` on a damaged copy: one error line naming the offset, exit 7, and
everything before the damage printed."""
import json
import subprocess

import pytest

from conftest import DATA, FIXTURES, env_path


@pytest.fixture(scope="session")
def npm_dir():
    return env_path("LAYERTRACE_NPM_DIR")


def export(layertrace, recording, fmt, out):
    proc = subprocess.run([str(layertrace), "export", str(recording), "--format", fmt, "-O", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_chrome_export_nests_and_counts_match(layertrace, tmp_path, name):
    expect = FIXTURES[name]
    doc = export(layertrace, DATA / name, "chrome", tmp_path / "trace.json")
    stacks, names, starts, ends = {}, {}, set(), set()
    begins = endings = 0
    for ev in doc["traceEvents"]:
        ph, tid = ev["ph"], ev["tid"]
        if ph == "B":
            begins += 1
            stacks.setdefault(tid, []).append((ev["name"], ev["ts"]))
            assert ev["cat"] in {"app", "wrapper", "pylib", "ext", "glue", "capi", "ffi", "native", "unknown"}
        elif ph == "E":
            endings += 1
            assert stacks.get(tid), f"E without B on thread {tid}: {ev}"
            bname, bts = stacks[tid].pop()
            assert bname == ev["name"] and float(ev["ts"]) >= float(bts), (bname, ev)
        elif ph == "s":
            starts.add(ev["id"])
        elif ph == "f":
            ends.add(ev["id"])
        elif ph == "M" and ev["name"] == "thread_name":
            names[tid] = ev["args"]["name"]
    assert all(not s for s in stacks.values()), "unclosed B events"
    assert begins == expect["enters"] and endings == expect["exits"]
    assert starts == ends and starts, "every layer hop has a flow start and end"
    assert set(names) >= set(stacks), "every thread with calls is named"


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_speedscope_export_validates_against_the_packaged_schema(layertrace, npm_dir, tmp_path, name):
    expect = FIXTURES[name]
    out = tmp_path / "profile.speedscope.json"
    doc = export(layertrace, DATA / name, "speedscope", out)
    schema = npm_dir / "node_modules" / "speedscope" / "dist" / "release" / "file-format-schema.json"
    assert schema.exists(), "the speedscope npm package no longer ships file-format-schema.json"
    proc = subprocess.run(["node", str(npm_dir / "validate_schema.mjs"), str(schema), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    opens = sum(1 for p in doc["profiles"] for e in p["events"] if e["type"] == "O")
    closes = sum(1 for p in doc["profiles"] for e in p["events"] if e["type"] == "C")
    assert opens == expect["enters"] and closes == opens
    assert len(doc["profiles"]) == expect["threads"]


def test_schema_check_rejects_an_invalid_file(npm_dir, tmp_path):
    """The validator is not a rubber stamp: a profile without its unit fails."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"$schema": "https://www.speedscope.app/file-format-schema.json",
                               "shared": {"frames": [{"name": "f"}]},
                               "profiles": [{"type": "evented", "name": "x", "startValue": 0, "endValue": 1,
                                             "events": [{"type": "O", "frame": 0, "at": 0}]}]}))
    schema = npm_dir / "node_modules" / "speedscope" / "dist" / "release" / "file-format-schema.json"
    proc = subprocess.run(["node", str(npm_dir / "validate_schema.mjs"), str(schema), str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout


def test_damaged_recording_replays_up_to_the_damage(layertrace, tmp_path):
    name = min(FIXTURES, key=lambda n: (DATA / n).stat().st_size)
    whole = (DATA / name).read_bytes()
    full = subprocess.run([str(layertrace), "replay", "-q", "--format", "jsonl", str(DATA / name)],
                          capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stderr
    cut = tmp_path / "cut.ltr"
    cut.write_bytes(whole[:len(whole) * 2 // 3])
    proc = subprocess.run([str(layertrace), "replay", "-q", "--format", "jsonl", str(cut)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 7, proc.stderr
    errors = [line for line in proc.stderr.splitlines()
              if line.startswith("layertrace:") and not line.startswith("layertrace: probe ")]
    assert len(errors) == 1 and f"{cut}: offset " in errors[0] and "truncated" in errors[0], proc.stderr
    lines = proc.stdout.splitlines()
    assert 0 < len(lines) < len(full.stdout.splitlines())
    assert full.stdout.splitlines()[:len(lines)] == lines, "what was replayed is exactly the start of the trace"
    dump = subprocess.run([str(layertrace), "dump", str(cut)], capture_output=True, text=True, timeout=300)
    assert dump.returncode == 7 and "block 0 @64:" in dump.stdout and "offset" in dump.stderr


def test_not_a_recording_is_one_clear_error(layertrace, tmp_path):
    text = tmp_path / "trace.json"
    text.write_text("{}\n" * 40)
    for command in (["replay"], ["dump"], ["export", "--format", "chrome"]):
        proc = subprocess.run([str(layertrace), *command, str(text)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 7
        assert proc.stderr.strip() == f"layertrace: {text}: offset 0: not a layertrace recording (no .ltr magic at the start)"
    missing = subprocess.run([str(layertrace), "replay", str(tmp_path / "nope.ltr")], capture_output=True, text=True)
    assert missing.returncode == 8 and "cannot open the recording" in missing.stderr
