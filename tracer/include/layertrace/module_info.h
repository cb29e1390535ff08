// What the tracer knows about one loaded object or Python file: where it is, what the ELF says,
// the role the classifier gave it and why. Front ends show it (`layertrace modules`, GUI hovers);
// recordings store it so a replay needs no original files.
#pragma once

#include <layertrace/trace_event.h>

#include <cstdint>
#include <string>

namespace layertrace::tracer {

// Facts read from an object's ELF (see elf_inspect.h); all false for Python files.
struct ElfFacts {
    bool readable = false;       // the file could be opened and parsed
    bool exportsPyInit = false;  // defines PyInit_<name>: a Python extension module
    bool importsPython = false;  // undefined Py*/_Py* symbols: built against the C API
    bool isInterpreter = false;  // defines Py_Initialize and _PyEval_EvalFrameDefault
    bool isLibffi = false;       // SONAME libffi* (or defines ffi_call without importing Py*)
    bool bundlesFfi = false;     // defines ffi_call or cffistatic_ffi_call inside a Python object
    bool pybind11 = false;       // symbols mention pybind11
    bool cffiGenerated = false;  // _cffi_f_* / _cffi_type* symbols: a cffi API-mode module
    bool hasSymtab = false;      // has .symtab (not stripped)
    bool hasDebugInfo = false;   // has .debug_info
    std::string soname;
    std::string pyInitName;      // "PyInit_mymodule"
};

struct ModuleInfo {
    std::uint32_t id = 0;      // probe's module id (0 for Python files, which have none)
    std::uint64_t base = 0;    // load bias
    std::string path;          // as mapped / as Python reports it
    std::string name;          // short name shown in paths: "libffi.so.8", "mypkg/bindings.py"
    bool python = false;       // a Python source file rather than a mapped object
    Role role = Role::Unknown; // object-level role (functions inside may refine it: glue/native)
    std::string reason;        // one sentence: why this role
    ElfFacts elf;
};

} // namespace layertrace::tracer
