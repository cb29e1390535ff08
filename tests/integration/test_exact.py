"""Exact counts and specific hops the issue's acceptance names: N calls give exactly N pairs,
PyInit_* and PyCFunction dispatch are seen and resolved, cffi's decoded arguments, callbacks
nest, real third-party packages (numpy, nacl) trace the same way."""
import pathlib

from conftest import check_nesting, count, parse_jsonl, parse_path_line, run

HERE = pathlib.Path(__file__).resolve().parent


def jsonl(layertrace, cwd, argv, *options):
    # --lossless: these tests check what the probe sees, not how it copes with a slow reader.
    out, err = run(layertrace, ["run", "--format", "jsonl", "--lossless", *options, "--", *argv], cwd=cwd)
    events, modules = parse_jsonl(out)
    assert events, f"no events\nstderr:\n{err[-3000:]}"
    return events, modules


def test_part_iv_thousand_calls_exact_pairs(layertrace, demos_dir, python):
    events, _ = jsonl(layertrace, demos_dir / "ctypes_complex_struct", [python, "user.py", "--repeat", "1000"],
                      "--no-stacks")
    assert count(events, "ffi_call", **{"target.symbol": "transform_record"}) == 1000
    assert count(events, "ffi_return", **{"target.symbol": "transform_record"}) == 1000
    assert count(events, "native_enter", symbol="transform_record") == 1000
    assert count(events, "native_exit", symbol="transform_record") == 1000
    assert count(events, "dropped") == 0
    check_nesting(events)


def test_part_iv_exact_path(layertrace, demos_dir, python):
    out, _ = run(layertrace, ["run", "--lossless", "--format", "path", "--", python, "user.py", "--repeat", "1"],
                 cwd=demos_dir / "ctypes_complex_struct")
    paths = [parse_path_line(line) for line in out.splitlines()]
    transform = [p for p in paths if any(h[2] == "transform_record" for h in p)]
    assert len(transform) == 1, out
    roles = [h[0] for h in transform[0]]
    # Exactly app -> wrapper -> ext _ctypes -> ffi -> native transform_record, then only nested
    # calls inside libstruct_demo.so.
    assert roles[:5] == ["app", "wrapper", "ext", "ffi", "native"], transform[0]
    assert transform[0][1][1] == "mypkg/bindings.py"
    assert transform[0][2][1].startswith("_ctypes")
    assert transform[0][4][1:] == ("libstruct_demo.so", "transform_record")
    assert len(transform[0]) > 5, "the nested calls inside libstruct_demo.so are missing"
    assert all(h[0] == "native" and h[1] == "libstruct_demo.so" for h in transform[0][5:]), transform[0]


def test_pyinit_and_pycfunction_dispatch(layertrace, demos_dir, python):
    for demo in ("c_ext_config_basic", "c_ext_pybind11_config"):
        events, _ = jsonl(layertrace, demos_dir / demo, [python, "user.py"])
        inits = [e for e in events if e["kind"] == "init_enter" and e["symbol"] == "PyInit_mymodule"]
        assert inits and inits[0]["role"] == "glue", f"{demo}: PyInit_mymodule not seen as glue"
        process = [e for e in events if e["kind"] == "c_call" and e.get("py_name", "").endswith("process")]
        assert process, f"{demo}: config.process() not seen as a PyCFunction call"
        assert process[0]["module"].startswith("mymodule")
        if demo == "c_ext_config_basic":
            assert process[0]["symbol"] == "Config_process"
        check_nesting(events)
    events, _ = jsonl(layertrace, demos_dir / "ctypes_complex_struct", [python, "user.py"])
    assert any(e["kind"] == "init_enter" and e["symbol"] == "PyInit__ctypes" and e["role"] == "ext" for e in events)


def test_cffi_abi_decodes_arguments_and_api_mode_calls_directly(layertrace, demos_dir, python):
    cwd = demos_dir / "c_ext_ctypes_add"
    events, _ = jsonl(layertrace, cwd, [python, "user.py", "--way", "cffi-abi"])
    calls = [e for e in events if e["kind"] == "ffi_call" and e.get("target", {}).get("symbol") == "add"]
    assert calls, "no ffi_call to add"
    assert [a["value"] for a in calls[0]["args"]] == ["2", "3"]
    rets = [e for e in events if e["kind"] == "ffi_return" and e.get("target", {}).get("symbol") == "add"]
    assert rets and rets[0]["ret"]["value"] == "5"
    events, _ = jsonl(layertrace, cwd, [python, "user.py", "--way", "cffi-api"])
    assert not any(e["kind"] == "ffi_call" and e.get("target", {}).get("symbol") == "add" for e in events)
    adds = [e for e in events if e["kind"] == "native_enter" and e["symbol"] == "add"]
    assert adds and adds[0]["module"] == "libadd.so"
    assert adds[0]["caller"]["module"].startswith("_add_cffi")


def test_callbacks_nest(layertrace, demos_dir, python):
    events, _ = jsonl(layertrace, demos_dir / "callbacks", [python, "user.py"])
    check_nesting(events)
    closures = [e for e in events if e["kind"] == "closure_enter"]
    assert closures, "no FFI closure seen"
    # Each closure runs inside a native frame and runs Python inside it.
    index = events.index(closures[0])
    assert closures[0]["depth"] > 0
    following = events[index + 1]
    assert following["kind"] == "py_call" and following["depth"] == closures[0]["depth"] + 1, following


def test_numpy_c_api_extension(layertrace, python):
    events, modules = jsonl(layertrace, HERE / "programs", [python, "numpy_program.py"])
    assert any(m["module"].startswith("_multiarray_umath") and m["role"] == "ext" for m in modules)
    calls = [e for e in events if e["kind"] == "c_call" and e["module"].startswith("_multiarray_umath")]
    assert calls, "no PyCFunction call into numpy's extension"
    check_nesting(events)


def test_nacl_cffi_to_libsodium(layertrace, python):
    events, modules = jsonl(layertrace, HERE / "programs", [python, "nacl_program.py"])
    assert any(m["module"].startswith("libsodium") and m["role"] == "native" for m in modules)
    natives = [e for e in events if e["kind"] == "native_enter" and e["module"].startswith("libsodium")]
    assert natives, "no call into libsodium seen"
    assert any(e["symbol"].startswith("crypto_") for e in natives)
    check_nesting(events)


def test_modules_lists_roles_and_reasons(layertrace, demos_dir, python):
    out, _ = run(layertrace, ["modules", "--", python, "user.py"], cwd=demos_dir / "ctypes_complex_struct")
    lines = out.splitlines()
    def role_of(name):
        return next((l.split()[0] for l in lines if len(l.split()) > 1 and l.split()[1] == name), None)
    assert role_of("user.py") == "app"
    assert role_of("mypkg/bindings.py") == "wrapper"
    assert role_of("libstruct_demo.so") == "native"
    assert role_of("ctypes/__init__.py") == "pylib"
    assert any(l.startswith("ffi ") and "libffi" in l for l in lines)
