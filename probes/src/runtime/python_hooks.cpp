// Python 3.11 instrumentation: an audit hook registered before Py_Initialize installs, at the
// first cpython.run_* event (the first line of the user's script), the C function thunks of the
// extension modules (cfunction_thunks.h: CCall/CReturn/CRaise without a profile function) and,
// in full mode, the PEP 523 eval-frame function (frame_hook.h: PyCall/PyReturn without a profile
// function). A C profile function goes on every thread only with --c-calls all (CCall/CReturn/
// CRaise for every builtin) or when the eval-frame function could not go in (then it reports
// PyCall/PyReturn). Code objects and strings are interned here. Python frames for stacks are
// read from the thread's own frame chain. 3.12+: sys.monitoring callbacks instead.
#include "python_api.h"

// The frame chain walk needs the 3.11 interpreter frame layout, which is internal.
#define Py_BUILD_CORE 1
#include <internal/pycore_frame.h>
#undef Py_BUILD_CORE

#include "cfunction_thunks.h"
#include "frame_hook.h"
#include "interner.h"
#include "reentrancy.h"
#include "runtime.h"

#include <dlfcn.h>
#include <sys/mman.h>

#include <atomic>
#include <new>
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
#define LAYERTRACE_PY_RESOLVE_OPTIONAL(name)                                                       \
    api.name = reinterpret_cast<decltype(api.name)>(dlsym(RTLD_DEFAULT, #name));
    LAYERTRACE_PY_OPTIONAL_FUNCTIONS(LAYERTRACE_PY_RESOLVE_OPTIONAL)
#undef LAYERTRACE_PY_RESOLVE_OPTIONAL
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
bool g_monitoring = false;            // 3.12+: sys.monitoring callbacks instead of profile functions
bool g_fullMode = false;              // PyCall/PyReturn wanted; set before the hooks go on
bool g_frameHookEvents = false;       // 3.11 full mode: PyCall/PyReturn come from frame_hook.cpp
IdTable g_codes;                      // PyCodeObject* -> code id (strong references kept)
IdTable g_codeContents;               // hash of a code object's names, file, first line -> code id
std::atomic<std::uint32_t> g_codeSession{0}; // bumped with every new pair of tables (never 0 once armed)
std::atomic<std::uint32_t> g_nextCodeId{1};
PyObject* g_threadBootstrap = nullptr; // the callable given to threading.setprofile

} // namespace

// Sends PyCode (and its strings) for `code` once; returns its id. GIL held. The code object is
// kept alive (one reference) so its address can never be reused by another code object.
std::uint32_t internCode(PyObject* code, std::uint32_t* firstLine) noexcept {
    std::uint32_t id = 0;
    IdTable::Slot* slot = nullptr;
    switch (g_codes.findOrClaim(reinterpret_cast<std::uint64_t>(code), &id, &slot, firstLine)) {
    case IdTable::Result::Found: return id;
    case IdTable::Result::Full: return 0;
    case IdTable::Result::Inserted: break;
    }
    python::incref(code);
    // Reading names may fail (surrogates) and would clobber an exception in flight (return and
    // c_exception events run with one set): save and restore it around the lookups. Attributes
    // are read by name, not through the 3.11 struct layout, so this works on any version.
    PyObject *type, *value, *traceback;
    api.PyErr_Fetch(&type, &value, &traceback);
    auto text = [code](const char* attribute) -> std::uint32_t {
        PyObject* s = api.PyObject_GetAttrString(code, attribute);
        Py_ssize_t n = 0;
        const char* utf8 = s != nullptr ? api.PyUnicode_AsUTF8AndSize(s, &n) : nullptr;
        const std::uint32_t sid = internString(utf8 != nullptr ? std::string_view(utf8, static_cast<std::size_t>(n))
                                                               : std::string_view("<unknown>"));
        if (utf8 == nullptr) {
            api.PyErr_Clear();
        }
        python::decref(s);
        return sid;
    };
    wire::PyCode rec{};
    rec.nameId = text("co_name");
    rec.qualnameId = text("co_qualname");
    rec.fileId = text("co_filename");
    if (PyObject* line = api.PyObject_GetAttrString(code, "co_firstlineno")) {
        rec.firstLine = static_cast<std::uint32_t>(api.PyLong_AsLong(line));
        python::decref(line);
    }
    api.PyErr_Clear();
    api.PyErr_Restore(type, value, traceback);
    id = g_nextCodeId.fetch_add(1, std::memory_order_relaxed);
    rec.codeId = id;
    std::byte buf[sizeof rec];
    wire::RecordWriter w(buf, sizeof buf);
    w.append(wire::RecordType::PyCode, rec);
    appendMetadata(w);
    slot->aux = rec.firstLine;
    *firstLine = rec.firstLine;
    IdTable::publish(slot, id);
    return id;
}

namespace {

// UTF-8 of a str read straight from its 3.11 layout: no GIL, no error indicator, no allocation.
// The caller guarantees the string stays alive (a live frame's code object holds it), and a str
// never changes. Non-ASCII text is encoded from the canonical code points into `scratch` (the
// cached UTF-8 copy may be being filled in by a thread holding the GIL). Only compact strings,
// which every code object name and file name is; anything else reads as "?".
std::string_view strTextWithoutGil(PyObject* s, char* scratch, std::size_t capacity) noexcept {
    if (s == nullptr || !PyUnicode_Check(s) || !PyUnicode_IS_COMPACT(s)) {
        return "?";
    }
    if (PyUnicode_IS_COMPACT_ASCII(s)) {
        return {static_cast<const char*>(PyUnicode_DATA(s)), static_cast<std::size_t>(PyUnicode_GET_LENGTH(s))};
    }
    const int kind = PyUnicode_KIND(s);
    const void* data = PyUnicode_DATA(s);
    const Py_ssize_t length = PyUnicode_GET_LENGTH(s);
    std::size_t n = 0;
    for (Py_ssize_t i = 0; i < length && n + 4 <= capacity; ++i) {
        const Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80) {
            scratch[n++] = static_cast<char>(c);
        } else if (c < 0x800) {
            scratch[n++] = static_cast<char>(0xc0 | (c >> 6));
            scratch[n++] = static_cast<char>(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            scratch[n++] = static_cast<char>(0xe0 | (c >> 12));
            scratch[n++] = static_cast<char>(0x80 | ((c >> 6) & 0x3f));
            scratch[n++] = static_cast<char>(0x80 | (c & 0x3f));
        } else {
            scratch[n++] = static_cast<char>(0xf0 | (c >> 18));
            scratch[n++] = static_cast<char>(0x80 | ((c >> 12) & 0x3f));
            scratch[n++] = static_cast<char>(0x80 | ((c >> 6) & 0x3f));
            scratch[n++] = static_cast<char>(0x80 | (c & 0x3f));
        }
    }
    return {scratch, n};
}

// The id of a frame's code object for a stack (3.11 layout; GIL not needed). Full mode interned
// every code object it saw called, by address; anything else (anchored mode, which tracks no
// calls, or a frame that began before tracing) is interned here by content: name, qualified
// name, file and first line. No reference is taken (that would need the GIL), and none is
// needed: the key is the content, so a code object freed and another allocated at the same
// address cannot inherit a wrong name, and two code objects with the same content (the same
// source compiled twice) share an id, being indistinguishable in a stack anyway.
std::uint32_t codeIdByContent(PyCodeObject* code) noexcept;

// With a per-thread cache in front: an entry is used only while the code object at that address
// still has the same name, qualified name and file objects and first line. Another code object
// in a freed one's place would have to hold the very same string objects (then its content, what
// the id stands for, is the same) or new ones allocated exactly where all three old ones were.
std::uint32_t codeIdForStack(PyCodeObject* code) noexcept {
    StackCodeCache::Entry* entry = nullptr;
    const std::uint32_t session = g_codeSession.load(std::memory_order_relaxed);
    if (ThreadSlot* slot = t_slot) {
        entry = &slot->stackCodes.entries[(reinterpret_cast<std::uintptr_t>(code) >> 4) % StackCodeCache::kEntries];
        if (entry->session == session && entry->code == code && entry->name == code->co_name &&
            entry->qualname == code->co_qualname && entry->file == code->co_filename &&
            entry->firstLine == static_cast<std::uint32_t>(code->co_firstlineno)) {
            return entry->id;
        }
    }
    std::uint32_t id = g_codes.find(reinterpret_cast<std::uint64_t>(code));
    if (id == 0) {
        id = codeIdByContent(code);
    }
    if (entry != nullptr && id != 0) {
        *entry = {code, code->co_name, code->co_qualname, code->co_filename,
                  static_cast<std::uint32_t>(code->co_firstlineno), id, session};
    }
    return id;
}

std::uint32_t codeIdByContent(PyCodeObject* code) noexcept {
    char nameScratch[256], qualnameScratch[512], fileScratch[1024];
    const std::string_view name = strTextWithoutGil(code->co_name, nameScratch, sizeof nameScratch);
    const std::string_view qualname = strTextWithoutGil(code->co_qualname, qualnameScratch, sizeof qualnameScratch);
    const std::string_view file = strTextWithoutGil(code->co_filename, fileScratch, sizeof fileScratch);
    const auto firstLine = static_cast<std::uint32_t>(code->co_firstlineno);
    std::uint64_t key = IdTable::hashText(name);
    key = IdTable::mix(key) ^ IdTable::hashText(qualname);
    key = IdTable::mix(key) ^ IdTable::hashText(file);
    key = IdTable::mix(key ^ firstLine);
    key = key == 0 ? 1 : key;
    std::uint32_t id = 0;
    IdTable::Slot* slot = nullptr;
    switch (g_codeContents.findOrClaim(key, &id, &slot)) {
    case IdTable::Result::Found: return id;
    case IdTable::Result::Full: return 0;
    case IdTable::Result::Inserted: break;
    }
    wire::PyCode rec{};
    rec.codeId = g_nextCodeId.fetch_add(1, std::memory_order_relaxed);
    rec.nameId = internString(name);
    rec.qualnameId = internString(qualname);
    rec.fileId = internString(file);
    rec.firstLine = firstLine;
    std::byte buf[sizeof rec];
    wire::RecordWriter w(buf, sizeof buf);
    w.append(wire::RecordType::PyCode, rec);
    appendMetadata(w);
    IdTable::publish(slot, rec.codeId);
    return rec.codeId;
}

// UTF-8 of a str without touching the error indicator in the common (ASCII) case.
std::string_view strText(PyObject* s) noexcept {
    if (s == nullptr || !PyUnicode_Check(s)) {
        return {};
    }
    if (!g_monitoring && PyUnicode_IS_COMPACT_ASCII(s)) { // 3.11 layout only
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
    // 3.11 reports c_call only for exact builtin function objects (ceval.c trace_call_function;
    // bound method descriptors arrive as such objects too); 3.12+ CALL events also pass method
    // descriptors themselves. Anything else (Python functions, ctypes/cffi callables) is not a
    // C function dispatch.
    if (callable == nullptr) {
        return;
    }
    const PyMethodDef* ml = nullptr;
    std::string_view owner;
    if (Py_TYPE(callable) == api.PyMethodDescr_Type) {
        const auto* descr = reinterpret_cast<PyMethodDescrObject*>(callable);
        ml = descr->d_method;
        const PyTypeObject* t = descr->d_common.d_type;
        owner = t != nullptr && t->tp_name != nullptr ? t->tp_name : "";
    } else if (Py_TYPE(callable) == api.PyCFunction_Type || Py_TYPE(callable) == api.PyCMethod_Type) {
        const auto* fn = reinterpret_cast<PyCFunctionObject*>(callable);
        ml = fn->m_ml;
        if (fn->m_module != nullptr) {
            owner = strText(fn->m_module); // module-level function: the module's __name__
        } else if (fn->m_self != nullptr) {
            // Method: the type of self (or self itself for classmethods on a type).
            const PyTypeObject* t = PyType_Check(fn->m_self) ? reinterpret_cast<PyTypeObject*>(fn->m_self)
                                                            : Py_TYPE(fn->m_self);
            owner = t->tp_name != nullptr ? t->tp_name : "";
        }
    }
    if (ml == nullptr) {
        return;
    }
    if (!tracingNow()) {
        return;
    }
    emitCFunctionEvent(type, reinterpret_cast<std::uint64_t>(ml->ml_meth),
                       internString(ml->ml_name != nullptr ? ml->ml_name : ""), internString(owner));
}

// A Python frame starts (call) or ends (return; raised when by an exception). GIL held. Full
// mode only: anchored mode names the frames of a stack when it reads them (codeIdForStack).
void pythonEvent(PyObject* code, bool call, bool raised) noexcept {
    std::uint32_t firstLine = 0;
    const std::uint32_t codeId = internCode(code, &firstLine);
    ThreadSlot* slot = currentThread();
    if (slot == nullptr) {
        return;
    }
    // Frames that were already running when tracing reached this thread (a new thread's
    // threading bootstrap) return without a call we reported: leave those returns out so that
    // every thread's calls nest.
    if (!call && slot->pythonDepth == 0) {
        return;
    }
    slot->pythonDepth += call ? 1 : -1;
    if (call) {
        pushPyCall(slot, codeId, firstLine);
    } else {
        pushPyReturn(slot, codeId, raised);
    }
}

// The C profile function (3.11), one per thread. Runs with the GIL held, on the thread it reports.
int profile(PyObject*, PyFrameObject* frame, int what, PyObject* arg) {
    if (!g_active.load(std::memory_order_relaxed) || !tracingNow()) {
        // Detached, or the session ended: take ourselves off this thread.
        api._PyEval_SetProfile(api.PyThreadState_Get(), nullptr, nullptr);
        return 0;
    }
    if ((!g_fullMode || g_frameHookEvents) && (what == PyTrace_CALL || what == PyTrace_RETURN)) {
        // Anchored: Python frames are read from the frame chain when a stack needs them. Full
        // mode on 3.11: the eval-frame function reports them.
        return 0;
    }
    if (cthunks::reporting() && (what == PyTrace_C_CALL || what == PyTrace_C_RETURN || what == PyTrace_C_EXCEPTION)) {
        return 0; // full mode: the thunks report extension functions; builtins are left out
    }
    ReentrancyGuard guard;
    if (!guard.entered()) {
        return 0;
    }
    switch (what) {
    case PyTrace_CALL:
    case PyTrace_RETURN:
        // arg is the return value, or NULL when the frame is left by an exception.
        pythonEvent(reinterpret_cast<PyObject*>(frame->f_frame->f_code), what == PyTrace_CALL, arg == nullptr);
        return 0;
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
    python::incref(api._Py_NoneStruct);
    return api._Py_NoneStruct;
}

PyMethodDef g_bootstrapDef = {"_layertrace_thread_profile", threadBootstrap, METH_VARARGS,
                              "layertrace: installs the C profile function on a new thread"};

// Full mode on 3.11: Python calls from the PEP 523 eval-frame function (frame_hook.h). False,
// with a Report, when it could not go in: the profile function reports them then.
bool installFrameHook() noexcept {
    std::string why;
    if (frame_hook::install(&why)) {
        return true;
    }
    reportOnce(wire::ReportLevel::Warning, "python:frame-hook", why + ": Python calls come from the profile function (slower)");
    return false;
}

// Runs on the main thread with the GIL held, at the first cpython.run_* audit event (or attach).
// By default C function calls come from per-def thunks (cfunction_thunks.h) and full mode's
// Python calls from the eval-frame function, so neither mode needs a profile function;
// `--c-calls all` keeps the profile function for C calls.
// Not noexcept: on the attach thread the import of threading runs Python code, and when the
// interpreter starts finalizing meanwhile CPython ends this thread with pthread_exit (a forced
// unwind), which a noexcept frame would turn into std::terminate: an abort of the program.
void installProfilers() {
    g_frameHookEvents = false;
    if (!options().allCCalls) {
        // The default: no profile function at all, unless full mode's eval-frame function could
        // not go in (then the profile function reports Python calls, the thunks C calls).
        cthunks::install();
        g_frameHookEvents = g_fullMode && installFrameHook();
        if (!g_fullMode || g_frameHookEvents) {
            g_active.store(true, std::memory_order_relaxed);
            return;
        }
    }
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
    // --c-calls all in full mode: Python calls still from the eval-frame function (put in after
    // the import above, which is the probe's, not the program's); the profile function then
    // reports C calls only.
    if (options().allCCalls && g_fullMode) {
        g_frameHookEvents = installFrameHook();
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

// ---- 3.12+: sys.monitoring ---------------------------------------------------------------

PyObject* g_monitoringModule = nullptr; // sys.monitoring
long g_toolId = -1;
std::atomic<bool> g_monitoringStopped{false};

PyObject* none() noexcept {
    python::incref(api._Py_NoneStruct);
    return api._Py_NoneStruct;
}

// Turns our events off once, from a callback (GIL held), after a detach or the session's end.
bool monitoringWanted() noexcept {
    if (g_active.load(std::memory_order_relaxed) && tracingEnabled()) {
        return true;
    }
    bool expected = false;
    if (g_monitoringStopped.compare_exchange_strong(expected, true) && g_monitoringModule != nullptr) {
        PyObject *type, *value, *traceback;
        api.PyErr_Fetch(&type, &value, &traceback);
        PyObject* tool = api.PyLong_FromLong(g_toolId);
        PyObject* zero = api.PyLong_FromLong(0);
        if (PyObject* setEvents = api.PyObject_GetAttrString(g_monitoringModule, "set_events")) {
            python::decref(api.PyObject_CallFunctionObjArgs(setEvents, tool, zero, nullptr));
            python::decref(setEvents);
        }
        python::decref(tool);
        python::decref(zero);
        api.PyErr_Clear();
        api.PyErr_Restore(type, value, traceback);
    }
    return false;
}

// Callback arguments (PEP 669): PY_START/PY_RESUME (code, offset); PY_RETURN/PY_YIELD (code,
// offset, value); PY_UNWIND (code, offset, exception); CALL/C_RETURN/C_RAISE (code, offset,
// callable, arg0).
template <int Kind>
PyObject* onMonitoringEvent(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (!monitoringWanted()) {
        return none();
    }
    ReentrancyGuard guard;
    if (!guard.entered() || nargs < 2) {
        return none();
    }
    switch (Kind) {
    case 0: pythonEvent(args[0], true, false); break;  // PY_START, PY_RESUME
    case 1: pythonEvent(args[0], false, false); break; // PY_RETURN, PY_YIELD
    case 2: pythonEvent(args[0], false, true); break;  // PY_UNWIND
    case 3: if (nargs >= 3) emitC(wire::RecordType::CCall, args[2]); break;
    case 4: if (nargs >= 3) emitC(wire::RecordType::CReturn, args[2]); break;
    case 5: if (nargs >= 3) emitC(wire::RecordType::CRaise, args[2]); break;
    }
    return none();
}

template <int Kind>
PyMethodDef g_monitorDef = {"_layertrace_monitor", reinterpret_cast<PyCFunction>(onMonitoringEvent<Kind>),
                            METH_FASTCALL, "layertrace sys.monitoring callback"};

// Registers our callbacks with sys.monitoring (process-wide: every thread, now and later).
// Main thread, GIL held, at the first cpython.run_* event.
bool installMonitoring(std::string* why) noexcept {
    PyObject* sys = api.PyImport_ImportModule("sys");
    g_monitoringModule = sys != nullptr ? api.PyObject_GetAttrString(sys, "monitoring") : nullptr;
    python::decref(sys);
    if (g_monitoringModule == nullptr) {
        *why = "sys.monitoring is missing";
        return false;
    }
    auto call = [](const char* function, std::initializer_list<PyObject*> argv) -> bool {
        PyObject* f = api.PyObject_GetAttrString(g_monitoringModule, function);
        if (f == nullptr) {
            return false;
        }
        PyObject* a[4] = {nullptr, nullptr, nullptr, nullptr};
        std::size_t i = 0;
        for (PyObject* o : argv) {
            a[i++] = o;
        }
        PyObject* r = api.PyObject_CallFunctionObjArgs(f, a[0], a[1], a[2], a[3]);
        python::decref(f);
        python::decref(r);
        return r != nullptr;
    };
    // The profiler id, or another free one (0 is for debuggers, 1 coverage, 5 optimizers).
    PyObject* name = api.PyUnicode_FromString("layertrace");
    for (long id : {2L, 3L, 4L}) {
        PyObject* tool = api.PyLong_FromLong(id);
        const bool ok = call("use_tool_id", {tool, name});
        python::decref(tool);
        if (ok) {
            g_toolId = id;
            break;
        }
        api.PyErr_Clear();
    }
    python::decref(name);
    if (g_toolId < 0) {
        *why = "no free sys.monitoring tool id (2, 3 and 4 are taken)";
        return false;
    }
    PyObject* events = api.PyObject_GetAttrString(g_monitoringModule, "events");
    long mask = 0;
    bool ok = events != nullptr;
    const std::pair<const char*, PyMethodDef*> callbacks[] = {
        {"PY_START", &g_monitorDef<0>}, {"PY_RESUME", &g_monitorDef<0>}, {"PY_RETURN", &g_monitorDef<1>},
        {"PY_YIELD", &g_monitorDef<1>}, {"PY_UNWIND", &g_monitorDef<2>}, {"CALL", &g_monitorDef<3>},
        {"C_RETURN", &g_monitorDef<4>}, {"C_RAISE", &g_monitorDef<5>},
    };
    PyObject* tool = api.PyLong_FromLong(g_toolId);
    for (const auto& [event, def] : callbacks) {
        if (!ok) {
            break;
        }
        // Anchored mode wants C function calls only: no callback at all for Python frames.
        if (!g_fullMode && def != &g_monitorDef<3> && def != &g_monitorDef<4> && def != &g_monitorDef<5>) {
            continue;
        }
        PyObject* bit = api.PyObject_GetAttrString(events, event);
        PyObject* callback = api.PyCMethod_New(def, nullptr, nullptr, nullptr);
        ok = bit != nullptr && callback != nullptr && call("register_callback", {tool, bit, callback});
        if (ok) {
            mask |= api.PyLong_AsLong(bit);
        }
        python::decref(bit);
        python::decref(callback); // sys.monitoring holds it
    }
    python::decref(events);
    g_active.store(true, std::memory_order_relaxed);
    PyObject* set = api.PyLong_FromLong(mask);
    ok = ok && call("set_events", {tool, set});
    python::decref(set);
    python::decref(tool);
    if (!ok) {
        api.PyErr_Clear();
        g_active.store(false);
        *why = "sys.monitoring refused the callbacks";
        return false;
    }
    return true;
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
        if (!g_monitoring) {
            installProfilers();
        } else {
            PyObject *type, *value, *traceback;
            api.PyErr_Fetch(&type, &value, &traceback);
            std::string why;
            if (!installMonitoring(&why)) {
                api.PyErr_Clear();
                reportOnce(wire::ReportLevel::Error, "python:monitoring", "Python events are off: " + why);
            }
            api.PyErr_Restore(type, value, traceback);
        }
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
    const unsigned long minor = (hex >> 16) & 0xff;
    if ((hex >> 24) != 3 || minor < 11) {
        *why = "Python " + std::to_string(hex >> 24) + "." + std::to_string(minor) +
               " is not supported for Python events (3.11 and later): native events only";
        return static_cast<std::uint32_t>(hex);
    }
    // 3.11: per-thread C profile functions and frame-chain stacks (this build's struct layouts).
    // 3.12+: sys.monitoring through the C API's functions only; no Python frames in native
    // stacks (the frame layout is 3.11's here), reported by pythonArm's caller.
    g_monitoring = minor >= 12;
    why->clear();
    return static_cast<std::uint32_t>(hex);
}

// Empty code interning tables for a new session (by address and by content), mapped once per
// process: 1 Mi slots each (16 MiB of address space, touched on use). The ids of an earlier
// session meant nothing to this tracer; the code objects it referenced keep their reference
// (their addresses are never reused).
bool resetCodeTables(std::string* why) noexcept {
    constexpr std::size_t kSlots = 1u << 20;
    constexpr std::size_t kBytes = kSlots * sizeof(IdTable::Slot);
    static void* mem = nullptr;
    if (mem == nullptr) {
        void* m = mmap(nullptr, 2 * kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            *why = "could not map the code interning tables";
            return false;
        }
        mem = m;
    } else {
        madvise(mem, 2 * kBytes, MADV_DONTNEED);
    }
    new (&g_codes) IdTable;
    g_codes.init(static_cast<IdTable::Slot*>(mem), kSlots);
    new (&g_codeContents) IdTable;
    g_codeContents.init(static_cast<IdTable::Slot*>(mem) + kSlots, kSlots);
    g_fullMode = options().mode == wire::TraceMode::Full;
    g_codeSession.fetch_add(1, std::memory_order_relaxed);
    return true;
}

bool pythonArm(std::string* why) {
    if (!resetCodeTables(why)) {
        return false;
    }
    g_armed.store(true);
    if (g_monitoring) {
        reportOnce(wire::ReportLevel::Info, "python:frames",
                   "Python 3.12+: events come from sys.monitoring; native stacks carry no Python frames "
                   "(the frame-chain walk supports 3.11 only)");
    }
    // Allowed before Py_Initialize (it goes to the runtime's list); cannot be removed later,
    // so pythonDisarm() makes it inert instead.
    if (api.PySys_AddAuditHook(auditHook, nullptr) != 0) {
        g_armed.store(false);
        *why = "PySys_AddAuditHook refused the hook: Python events are off";
        return false;
    }
    return true;
}

void pythonDisarm(bool restoreOriginals) noexcept {
    g_armed.store(false);
    g_active.store(false);
    cthunks::uninstall(restoreOriginals);
    frame_hook::stop();
}

// Reads the calling thread's Python frames, innermost first, without the GIL. Why this is safe:
// the frames belong to this thread, which is right here executing native code called from the
// innermost of them, so none of them can be running, returning or freed meanwhile (only this
// thread pushes or pops its frame chain, and each frame holds a strong reference to its code).
// Other threads may run Python (ctypes released the GIL), but they never write this thread's
// frames. PyCode_Addr2Line only reads the immutable line table. Code objects are named through
// codeIdForStack, which needs no GIL either.
std::size_t pythonFrames(wire::PyFrameRef* out, std::size_t max) noexcept {
    if (g_monitoring || !g_installed.load(std::memory_order_relaxed) || api.PyGILState_GetThisThreadState == nullptr) {
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
        const std::uint32_t id = codeIdForStack(code);
        const int addr = static_cast<int>(reinterpret_cast<const char*>(f->prev_instr) -
                                          reinterpret_cast<const char*>(_PyCode_CODE(code)));
        out[n++] = wire::PyFrameRef{id, static_cast<std::uint32_t>(api.PyCode_Addr2Line(code, addr))};
    }
    return n;
}

bool pythonAttach(std::string* why) {
    using Ensure = PyGILState_STATE (*)();
    using Release = void (*)(PyGILState_STATE);
    const auto ensure = reinterpret_cast<Ensure>(dlsym(RTLD_DEFAULT, "PyGILState_Ensure"));
    const auto release = reinterpret_cast<Release>(dlsym(RTLD_DEFAULT, "PyGILState_Release"));
    if (ensure == nullptr || release == nullptr) {
        *why = "the Python C API lacks PyGILState_Ensure: Python events are off";
        return false;
    }
    if (api.Py_IsInitialized() == 0) {
        *why = "the interpreter is not initialized (starting up or shutting down): Python events are off";
        return false;
    }
    if (!resetCodeTables(why)) {
        return false;
    }
    // Waits for the GIL like any other thread (the holder gives it up every switch interval).
    const PyGILState_STATE state = ensure();
    g_installed.store(true);
    bool ok = true;
    if (!g_monitoring) {
        // Frames already running (main(), the loop around the traced calls) were never seen
        // calling; stacks name them by content when they read them (codeIdForStack).
        installProfilers();
    } else {
        // 3.12+ (untested here: no such interpreter on the build machine). The tool id stays
        // taken after a detach, so a second attach into the same process has no Python events.
        PyObject *type, *value, *traceback;
        api.PyErr_Fetch(&type, &value, &traceback);
        if (g_toolId >= 0) {
            *why = "Python 3.12+: Python events are traced on the first attach to a process only";
            ok = false;
        } else {
            ok = installMonitoring(why);
        }
        api.PyErr_Clear();
        api.PyErr_Restore(type, value, traceback);
    }
    release(state);
    return ok;
}

} // namespace layertrace::probe::runtime
