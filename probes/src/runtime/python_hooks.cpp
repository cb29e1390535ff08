// Python 3.11 instrumentation: an audit hook registered before Py_Initialize installs a C profile
// function on every thread at the first cpython.run_* event (the first line of the user's
// script); the profile function emits PyCall/PyReturn (full mode) and CCall/CReturn/CRaise, and
// interns code objects and strings. Python frames for stacks are read from the thread's own
// frame chain.
#include "python_api.h"

// The frame chain walk needs the 3.11 interpreter frame layout, which is internal.
#define Py_BUILD_CORE 1
#include <internal/pycore_frame.h>
#undef Py_BUILD_CORE

#include "interner.h"
#include "reentrancy.h"
#include "runtime.h"

#include <dlfcn.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>

namespace layertrace::probe::python {

Api api;

bool resolve(const char** missing) noexcept {
#define LAYERTRACE_PY_RESOLVE(name)                                                                \
    api.name = reinterpret_cast<decltype(api.name)>(dlsym(RTLD_DEFAULT, #name));                    \
    if (api.name == nullptr) {                                                                      \
        *missing = #name;                                                                           \
        return false;                                                                               \
    }
    LAYERTRACE_PY_FUNCTIONS(LAYERTRACE_PY_RESOLVE)
#undef LAYERTRACE_PY_RESOLVE
#define LAYERTRACE_PY_RESOLVE_DATA(name, type)                                                     \
    api.name = static_cast<type*>(dlsym(RTLD_DEFAULT, #name));                                      \
    if (api.name == nullptr) {                                                                      \
        *missing = #name;                                                                           \
        return false;                                                                               \
    }
    LAYERTRACE_PY_DATA(LAYERTRACE_PY_RESOLVE_DATA)
#undef LAYERTRACE_PY_RESOLVE_DATA
    api.Py_Version = static_cast<const unsigned long*>(dlsym(RTLD_DEFAULT, "Py_Version"));
    return true;
}

} // namespace layertrace::probe::python

namespace layertrace::probe::runtime {
namespace {

using python::api;

std::atomic<bool> g_armed{false};     // audit hook registered and tracing wanted
std::atomic<bool> g_installed{false}; // profile functions installed (first cpython.run_*)
std::atomic<bool> g_active{false};    // profile functions should keep emitting
IdTable g_codes;                      // PyCodeObject* -> code id (strong references kept)
std::atomic<std::uint32_t> g_nextCodeId{1};
PyObject* g_threadBootstrap = nullptr; // the callable given to threading.setprofile

// Sends PyCode (and its strings) for `code` once; returns its id. GIL held. The code object is
// kept alive (one reference) so its address can never be reused by another code object.
std::uint32_t internCode(PyCodeObject* code) noexcept {
    std::uint32_t id = 0;
    IdTable::Slot* slot = nullptr;
    switch (g_codes.findOrClaim(reinterpret_cast<std::uint64_t>(code), &id, &slot)) {
    case IdTable::Result::Found: return id;
    case IdTable::Result::Full: return 0;
    case IdTable::Result::Inserted: break;
    }
    Py_INCREF(reinterpret_cast<PyObject*>(code));
    // Converting names may fail (surrogates) and would clobber an exception in flight (return and
    // c_exception events run with one set): save and restore it around the conversions.
    PyObject *type, *value, *traceback;
    api.PyErr_Fetch(&type, &value, &traceback);
    auto text = [](PyObject* s) -> std::string_view {
        Py_ssize_t n = 0;
        const char* utf8 = s != nullptr ? api.PyUnicode_AsUTF8AndSize(s, &n) : nullptr;
        if (utf8 == nullptr) {
            api.PyErr_Clear();
            return "<unencodable>";
        }
        return {utf8, static_cast<std::size_t>(n)};
    };
    wire::PyCode rec{};
    rec.nameId = internString(text(code->co_name));
    rec.qualnameId = internString(text(code->co_qualname));
    rec.fileId = internString(text(code->co_filename));
    rec.firstLine = static_cast<std::uint32_t>(code->co_firstlineno);
    api.PyErr_Restore(type, value, traceback);
    id = g_nextCodeId.fetch_add(1, std::memory_order_relaxed);
    rec.codeId = id;
    std::byte buf[sizeof rec];
    wire::RecordWriter w(buf, sizeof buf);
    w.append(wire::RecordType::PyCode, rec);
    appendMetadata(w);
    IdTable::publish(slot, id);
    return id;
}

// UTF-8 of a str without touching the error indicator in the common (ASCII) case.
std::string_view strText(PyObject* s) noexcept {
    if (s == nullptr || !PyUnicode_Check(s)) {
        return {};
    }
    if (PyUnicode_IS_COMPACT_ASCII(s)) {
        return {static_cast<const char*>(PyUnicode_DATA(s)), static_cast<std::size_t>(PyUnicode_GET_LENGTH(s))};
    }
    PyObject *type, *value, *traceback;
    api.PyErr_Fetch(&type, &value, &traceback);
    Py_ssize_t n = 0;
    const char* utf8 = api.PyUnicode_AsUTF8AndSize(s, &n);
    if (utf8 == nullptr) {
        api.PyErr_Clear();
    }
    api.PyErr_Restore(type, value, traceback);
    return utf8 != nullptr ? std::string_view(utf8, static_cast<std::size_t>(n)) : std::string_view("?");
}

void emitC(wire::RecordType type, PyObject* callable) noexcept {
    // 3.11 reports c_call only for exact builtin function objects (ceval.c trace_call_function);
    // bound method descriptors arrive as such objects too.
    if (callable == nullptr || (Py_TYPE(callable) != api.PyCFunction_Type && Py_TYPE(callable) != api.PyCMethod_Type)) {
        return;
    }
    ThreadSlot* slot = currentThread();
    if (slot == nullptr) {
        return;
    }
    const auto* fn = reinterpret_cast<PyCFunctionObject*>(callable);
    const PyMethodDef* ml = fn->m_ml;
    std::string_view owner;
    if (fn->m_module != nullptr) {
        owner = strText(fn->m_module); // module-level function: the module's __name__
    } else if (fn->m_self != nullptr) {
        // Method: the type of self (or self itself for classmethods on a type).
        const PyTypeObject* t = PyType_Check(fn->m_self) ? reinterpret_cast<PyTypeObject*>(fn->m_self)
                                                        : Py_TYPE(fn->m_self);
        owner = t->tp_name != nullptr ? t->tp_name : "";
    }
    wire::CCall rec{};
    rec.tsNs = nowNs();
    rec.mlMeth = reinterpret_cast<std::uint64_t>(ml->ml_meth);
    rec.nameId = internString(ml->ml_name != nullptr ? ml->ml_name : "");
    rec.ownerId = internString(owner);
    alignas(8) std::byte buf[kMaxEventBytes];
    wire::RecordWriter w(buf, sizeof buf);
    w.append(type, rec);
    if (type == wire::RecordType::CCall) {
        appendStackIfWanted(w);
    }
    pushRecords(slot, w);
}

// The C profile function, one per thread. Runs with the GIL held, on the thread it reports.
int profile(PyObject*, PyFrameObject* frame, int what, PyObject* arg) {
    if (!g_active.load(std::memory_order_relaxed) || !tracingEnabled()) {
        // Detached, or the session ended: take ourselves off this thread.
        api._PyEval_SetProfile(api.PyThreadState_Get(), nullptr, nullptr);
        return 0;
    }
    ReentrancyGuard guard;
    if (!guard.entered()) {
        return 0;
    }
    switch (what) {
    case PyTrace_CALL:
    case PyTrace_RETURN: {
        PyCodeObject* code = frame->f_frame->f_code;
        const std::uint32_t codeId = internCode(code); // anchored mode too: stacks name frames by id
        if (options().mode != wire::TraceMode::Full) {
            return 0;
        }
        ThreadSlot* slot = currentThread();
        if (slot == nullptr) {
            return 0;
        }
        alignas(8) std::byte buf[sizeof(wire::PyCall)];
        wire::RecordWriter w(buf, sizeof buf);
        // Frames that were already running when the profile function arrived on this thread
        // (a new thread's threading bootstrap) return without a call we reported: leave those
        // returns out so that every thread's calls nest.
        if (what == PyTrace_RETURN && slot->pythonDepth == 0) {
            return 0;
        }
        slot->pythonDepth += what == PyTrace_CALL ? 1 : -1;
        if (what == PyTrace_CALL) {
            w.append(wire::RecordType::PyCall,
                     wire::PyCall{{}, nowNs(), codeId, static_cast<std::uint32_t>(code->co_firstlineno)});
        } else {
            // arg is the return value, or NULL when the frame is left by an exception.
            w.append(wire::RecordType::PyReturn, wire::PyReturn{{}, nowNs(), codeId, arg == nullptr ? 1u : 0u});
        }
        pushRecords(slot, w);
        return 0;
    }
    case PyTrace_C_CALL: emitC(wire::RecordType::CCall, arg); return 0;
    case PyTrace_C_RETURN: emitC(wire::RecordType::CReturn, arg); return 0;
    case PyTrace_C_EXCEPTION: emitC(wire::RecordType::CRaise, arg); return 0;
    default: return 0;
    }
}

// Given to threading.setprofile: threading calls sys.setprofile(this) at the start of every new
// thread, so its first call runs on the new thread; it swaps itself for the C profile function
// and forwards the event it was called for.
PyObject* threadBootstrap(PyObject*, PyObject* args) {
    PyThreadState* ts = api.PyThreadState_Get();
    const bool on = g_active.load(std::memory_order_relaxed) && tracingEnabled();
    api._PyEval_SetProfile(ts, on ? profile : nullptr, nullptr);
    if (on && args != nullptr && PyTuple_Check(args) && PyTuple_GET_SIZE(args) == 3) {
        PyObject* frame = PyTuple_GET_ITEM(args, 0);
        const std::string_view event = strText(PyTuple_GET_ITEM(args, 1));
        PyObject* arg = PyTuple_GET_ITEM(args, 2);
        int what = -1;
        if (event == "call") what = PyTrace_CALL;
        else if (event == "return") what = PyTrace_RETURN;
        else if (event == "c_call") what = PyTrace_C_CALL;
        else if (event == "c_return") what = PyTrace_C_RETURN;
        else if (event == "c_exception") what = PyTrace_C_EXCEPTION;
        if (what >= 0 && frame != nullptr && Py_TYPE(frame) == api.PyFrame_Type) {
            // (The Python-level trampoline turned a NULL return value into None: a thread's first
            // event is never its exceptional return, so nothing is lost.)
            profile(nullptr, reinterpret_cast<PyFrameObject*>(frame), what, arg);
        }
    }
    Py_INCREF(api._Py_NoneStruct);
    return api._Py_NoneStruct;
}

PyMethodDef g_bootstrapDef = {"_layertrace_thread_profile", threadBootstrap, METH_VARARGS,
                              "layertrace: installs the C profile function on a new thread"};

// Runs on the main thread with the GIL held, at the first cpython.run_* audit event.
void installProfilers() noexcept {
    PyObject *type, *value, *traceback;
    api.PyErr_Fetch(&type, &value, &traceback);
    // Threads started later: threading calls the hook given to threading.setprofile on each
    // new thread. Imported before the profile functions go on, so its import is not traced.
    bool threadsCovered = false;
    if (PyObject* threading = api.PyImport_ImportModule("threading")) {
        if (PyObject* setprofile = api.PyObject_GetAttrString(threading, "setprofile")) {
            g_threadBootstrap = api.PyCMethod_New(&g_bootstrapDef, nullptr, nullptr, nullptr);
            if (g_threadBootstrap != nullptr) {
                if (PyObject* r = api.PyObject_CallFunctionObjArgs(setprofile, g_threadBootstrap, nullptr)) {
                    python::decref(r);
                    threadsCovered = true;
                }
            }
            python::decref(setprofile);
        }
        python::decref(threading);
    }
    if (!threadsCovered) {
        api.PyErr_Clear();
        reportOnce(wire::ReportLevel::Warning, "python:threading",
                   "threading.setprofile failed: Python events of threads started later are not traced");
    }
    g_active.store(true, std::memory_order_relaxed);
    int threads = 0;
    // The main interpreter's threads (subinterpreters are not traced).
    if (PyInterpreterState* interp = api.PyInterpreterState_Head()) {
        for (PyThreadState* ts = api.PyInterpreterState_ThreadHead(interp); ts != nullptr; ts = api.PyThreadState_Next(ts)) {
            if (api._PyEval_SetProfile(ts, profile, nullptr) == 0) {
                ++threads;
            } else {
                api.PyErr_Clear();
            }
        }
    }
    api.PyErr_Restore(type, value, traceback);
    if (threads == 0) {
        reportOnce(wire::ReportLevel::Error, "python:profile", "could not install the profile function: no Python events");
    }
}

int auditHook(const char* event, PyObject*, void*) {
    // Called for every audit event of the process: keep the common path to two loads.
    if (g_installed.load(std::memory_order_relaxed) || !g_armed.load(std::memory_order_relaxed)) {
        return 0;
    }
    if (std::strncmp(event, "cpython.run_", 12) != 0 || !tracingEnabled()) {
        return 0;
    }
    bool expected = false;
    if (g_installed.compare_exchange_strong(expected, true)) {
        installProfilers();
    }
    return 0;
}

} // namespace

std::uint32_t pythonPrepare(std::string* why) {
    const char* missing = nullptr;
    if (dlsym(RTLD_DEFAULT, "Py_GetVersion") == nullptr) {
        *why = "no Python interpreter in this process: native events only";
        return 0;
    }
    if (!python::resolve(&missing)) {
        *why = std::string("the Python C API lacks ") + missing + ": Python events are off";
        return 0;
    }
    unsigned long hex = api.Py_Version != nullptr ? *api.Py_Version : 0;
    if (hex == 0) { // before 3.11 there is no Py_Version: parse "3.10.4 (...)"
        unsigned major = 0, minor = 0;
        if (std::sscanf(api.Py_GetVersion(), "%u.%u", &major, &minor) == 2) {
            hex = (major << 24) | (minor << 16);
        }
    }
    if ((hex >> 16) != 0x030b) {
        *why = "Python " + std::to_string(hex >> 24) + "." + std::to_string((hex >> 16) & 0xff) +
               " is not supported for Python events (3.11 only; 3.12+ sys.monitoring is not implemented): "
               "native events only";
        return static_cast<std::uint32_t>(hex);
    }
    why->clear();
    return static_cast<std::uint32_t>(hex);
}

bool pythonArm(std::string* why) {
    // Interning table for code objects: 1 Mi slots (16 MiB of address space, touched on use).
    constexpr std::size_t kSlots = 1u << 20;
    void* mem = mmap(nullptr, kSlots * sizeof(IdTable::Slot), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
        *why = "could not map the code interning table";
        return false;
    }
    g_codes.init(static_cast<IdTable::Slot*>(mem), kSlots);
    g_armed.store(true);
    // Allowed before Py_Initialize (it goes to the runtime's list); cannot be removed later,
    // so pythonDisarm() makes it inert instead.
    if (api.PySys_AddAuditHook(auditHook, nullptr) != 0) {
        g_armed.store(false);
        *why = "PySys_AddAuditHook refused the hook: Python events are off";
        return false;
    }
    return true;
}

void pythonDisarm() noexcept {
    g_armed.store(false);
    g_active.store(false);
}

// Reads the calling thread's Python frames, innermost first, without the GIL. Why this is safe:
// the frames belong to this thread, which is right here executing native code called from the
// innermost of them, so none of them can be running, returning or freed meanwhile (only this
// thread pushes or pops its frame chain, and each frame holds a strong reference to its code).
// Other threads may run Python (ctypes released the GIL), but they never write this thread's
// frames. PyCode_Addr2Line only reads the immutable line table. Code objects not yet interned
// (frames that started before the profile function was installed) are sent as id 0.
std::size_t pythonFrames(wire::PyFrameRef* out, std::size_t max) noexcept {
    if (!g_installed.load(std::memory_order_relaxed) || api.PyGILState_GetThisThreadState == nullptr) {
        return 0;
    }
    PyThreadState* ts = api.PyGILState_GetThisThreadState();
    if (ts == nullptr || ts->cframe == nullptr) {
        return 0;
    }
    std::size_t n = 0;
    for (_PyInterpreterFrame* f = ts->cframe->current_frame; f != nullptr && n < max; f = f->previous) {
        PyCodeObject* code = f->f_code;
        if (code == nullptr || _PyFrame_IsIncomplete(f)) {
            continue;
        }
        // Lookup only: interning needs the GIL.
        const std::uint32_t id = g_codes.find(reinterpret_cast<std::uint64_t>(code));
        const int addr = static_cast<int>(reinterpret_cast<const char*>(f->prev_instr) -
                                          reinterpret_cast<const char*>(_PyCode_CODE(code)));
        out[n++] = wire::PyFrameRef{id, static_cast<std::uint32_t>(api.PyCode_Addr2Line(code, addr))};
    }
    return n;
}

} // namespace layertrace::probe::runtime
