"""Reading `--format jsonl` output: parsing, per-thread nesting, counting."""
import json

ENTER = {"py_call", "c_call", "init_enter", "ffi_call", "closure_enter", "native_enter"}
EXIT = {"py_return", "c_return", "c_raise", "init_exit", "ffi_return", "closure_exit", "native_exit"}


def parse_jsonl(text, allow_partial_last=False):
    """Every line is one JSON object; returns (events, modules). A tracer killed mid-write may
    leave one partial last line, which `allow_partial_last` tolerates."""
    events, modules = [], []
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            if allow_partial_last and number == len(lines) and not text.endswith("\n"):
                break
            raise AssertionError(f"jsonl line {number} does not parse ({error}): {line[:200]}")
        (modules if obj["kind"] == "module_load" else events).append(obj)
    return events, modules


def check_nesting(events, balanced=True):
    """Per thread every enter is at the current depth and every exit closes the innermost open
    call, at its depth, never below zero; with `balanced`, every thread ends at depth 0 (the
    tracer closes what is open at the end, so only a cut stream, e.g. a killed tracer, leaves
    threads inside calls). Returns the final depth per thread.

    Exits the probe lost (dropped, skipped by a longjmp, not yet made when the trace ended) are
    in the stream too, made by the tracer and marked `"lost": true` (docs/cli/run.md): they count
    as exits here, so the nesting is strict whatever the probe dropped."""
    depth = {}
    for e in events:
        tid = e["tid"]
        if e["kind"] in ENTER:
            assert e["depth"] == depth.get(tid, 0), f"enter at wrong depth: {e}"
            depth[tid] = depth.get(tid, 0) + 1
        elif e["kind"] in EXIT:
            open_calls = depth.get(tid, 0)
            assert open_calls > 0, f"exit without enter: {e}"
            assert e["depth"] == open_calls - 1, f"exit at wrong depth: {e}"
            depth[tid] = e["depth"]
    if balanced:
        assert all(d == 0 for d in depth.values()), f"unbalanced threads: {depth}"
    return depth


def field(event, key):
    """event[key]; a dotted key ("target.symbol") reads a nested object."""
    value = event
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def count(events, kind, symbol=None, **fields):
    """Events of `kind` (and `symbol`) whose fields equal `fields`; pass dotted keys as
    **{"target.symbol": "add"}."""
    return sum(1 for e in events
               if e["kind"] == kind and (symbol is None or e.get("symbol") == symbol)
               and all(field(e, k) == v for k, v in fields.items()))
