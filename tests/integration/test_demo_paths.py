"""Every demo in the catalog, traced by the real probe and the real `layertrace run`: its expected
layer paths appear in --format path (in order within one line) and in --format jsonl (in order
within one thread), every line of jsonl parses, and every thread's events nest."""
import pytest

from conftest import appears_in_order, check_nesting, hop_sequences, parse_jsonl, parse_path_line, resolve_argv, run


def demos_with_paths():
    import json
    import os
    import pathlib
    directory = os.environ.get("LAYERTRACE_DEMOS_DIR")
    if not directory:
        return []
    with open(pathlib.Path(directory) / "catalog.json") as f:
        return [d["name"] for d in json.load(f)["demos"]]


@pytest.mark.parametrize("name", demos_with_paths())
def test_path_format_shows_every_expected_path(layertrace, demos_dir, catalog, python, name):
    demo = next(d for d in catalog["demos"] if d["name"] == name)
    if not demo.get("paths"):
        pytest.skip(f"{name}: the catalog lists no expected paths yet")
    out, err = run(layertrace, ["run", "--lossless", "--format", "path", "--", *resolve_argv(demo["run"]["argv"], python)],
                   cwd=demos_dir / name)
    lines = [parse_path_line(line) for line in out.splitlines() if line.strip()]
    assert lines, f"{name}: no path lines at all\nstderr:\n{err[-3000:]}"
    for expected in demo["paths"]:
        assert any(appears_in_order(expected["hops"], hops) for hops in lines), (
            f"{name}: path {expected['name']!r} not found. Lines:\n" + "\n".join(out.splitlines()[:40]))


@pytest.mark.parametrize("name", demos_with_paths())
def test_jsonl_format_parses_nests_and_orders_hops(layertrace, demos_dir, catalog, python, name):
    demo = next(d for d in catalog["demos"] if d["name"] == name)
    out, err = run(layertrace, ["run", "--lossless", "--format", "jsonl", "--", *resolve_argv(demo["run"]["argv"], python)],
                   cwd=demos_dir / name)
    events, modules = parse_jsonl(out)
    assert events, f"{name}: no events\nstderr:\n{err[-3000:]}"
    assert modules, f"{name}: no module_load lines"
    for e in events:
        for field in ("ts_ns", "tid", "kind", "role", "layer", "module", "symbol"):
            assert field in e, f"{name}: event without {field}: {e}"
    check_nesting(events)
    seqs = hop_sequences(events)
    for expected in demo.get("paths", []):
        assert any(appears_in_order(expected["hops"], seq) for seq in seqs.values()), (
            f"{name}: the hops of {expected['name']!r} do not appear in order in any thread's jsonl events")
