// Per-PyMethodDef thunks (see cfunction_thunks.h): finding the extension modules' defs, writing
// the stubs, reporting through them, and putting the original ml_meth values back.
//
// Why swapping ml_meth catches every call: CPython 3.11 reads the function pointer from the def
// at call time on every path that calls it: the vectorcall dispatchers of builtin functions and
// method descriptors (methodobject.c cfunction_vectorcall_*, descrobject.c method_vectorcall_*,
// cfunction_call) and the specialised instructions (ceval.c CALL_NO_KW_BUILTIN_O/FAST,
// CALL_BUILTIN_FAST_WITH_KEYWORDS, CALL_NO_KW_METHOD_DESCRIPTOR_O/NOARGS/FAST,
// CALL_METHOD_DESCRIPTOR_FAST_WITH_KEYWORDS read m_ml->ml_meth / d_method->ml_meth). Nothing
// caches it, and every such call starts with the GIL held, which is also held for every write
// here: no caller can see a half-written pointer.
#include "cfunction_thunks.h"

#include "python_api.h"
#include "reentrancy.h"
#include "runtime.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

// The stub's common body (cfunction_thunk.S).
extern "C" void lt_cfunction_thunk();

namespace layertrace::probe::runtime {
namespace {

using python::api;

enum class ThunkKind : std::uint32_t {
    Method,     // an ml_meth: reports the call
    ModuleExec, // a multi-phase module's Py_mod_exec slot: patches what the slot created
};

// One patched pointer. Never freed: a stub may be running, or kept by a caller, long after.
struct ThunkRecord {
    void* original = nullptr;   // first word: called by cfunction_thunk.S
    void** patched = nullptr;   // &def->ml_meth or &slot->value
    void* stub = nullptr;       // what *patched holds while installed
    ThunkKind kind = ThunkKind::Method;
    std::string name, owner;    // the def's ml_name and who owns it (module __name__ or type)
    std::uint32_t nameId = 0, ownerId = 0;
    std::uint32_t idSession = 0; // the session nameId/ownerId were interned in
};

// A stub page is followed by its data page: stub i at code + 16 i loads r11 = data + 16 i (the
// same offset one page on) and jumps through its second word.
struct DataSlot {
    ThunkRecord* record;
    void (*common)();
};
constexpr std::size_t kStubBytes = 16;
static_assert(sizeof(DataSlot) == kStubBytes);

std::atomic<bool> g_reporting{false};
std::atomic<std::uint32_t> g_session{0}; // bumped per install: string ids are per session
std::atomic<bool> g_installed{false};    // between install() and uninstall()
std::atomic<bool> g_restorePending{false}; // detached: the originals are to be written back
std::size_t g_pageBytes = 0;
std::byte* g_stubPage = nullptr;
std::size_t g_stubsUsed = 0;

// Created on first use, never destroyed (a stub may run during the process's exit).
struct Registry {
    std::deque<ThunkRecord> records;
    std::unordered_map<void**, ThunkRecord*> byPatched;
    std::vector<PyObject*> keptAlive; // the objects owning the defs (pybind11 allocates defs)
};
Registry& registry() {
    static Registry* r = new Registry;
    return *r;
}

// A fresh page of 256 stubs, written and made executable at once (a page is never written
// again: its data page carries what differs).
bool mapStubPage() noexcept {
    if (g_pageBytes == 0) {
        g_pageBytes = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    }
    void* m = mmap(nullptr, 2 * g_pageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        return false;
    }
    auto* code = static_cast<std::byte*>(m);
    const auto disp = static_cast<std::int32_t>(g_pageBytes - 7); // from the lea's end to the slot
    for (std::size_t i = 0; i < g_pageBytes / kStubBytes; ++i) {
        unsigned char stub[kStubBytes] = {0x4c, 0x8d, 0x1d, 0, 0, 0, 0, // lea r11, [rip + disp]
                                          0x41, 0xff, 0x63, 0x08,        // jmp [r11 + 8]
                                          0xcc, 0xcc, 0xcc, 0xcc, 0xcc};
        std::memcpy(stub + 3, &disp, sizeof disp);
        std::memcpy(code + i * kStubBytes, stub, sizeof stub);
    }
    if (mprotect(code, g_pageBytes, PROT_READ | PROT_EXEC) != 0) {
        munmap(m, 2 * g_pageBytes); // never executable, never used
        return false;
    }
    g_stubPage = code;
    g_stubsUsed = 0;
    return true;
}

void* allocateStub(ThunkRecord* record) noexcept {
    if (g_stubPage == nullptr || g_stubsUsed == g_pageBytes / kStubBytes) {
        if (!mapStubPage()) {
            return nullptr;
        }
    }
    const std::size_t i = g_stubsUsed++;
    auto* slot = reinterpret_cast<DataSlot*>(g_stubPage + g_pageBytes + i * kStubBytes);
    *slot = DataSlot{record, lt_cfunction_thunk};
    return g_stubPage + i * kStubBytes;
}

// UTF-8 of a str for a name, or "" (GIL held; the error indicator is left as it was).
std::string textOf(PyObject* s) {
    if (s == nullptr || !PyUnicode_Check(s)) {
        return {};
    }
    PyObject *type, *value, *traceback;
    api.PyErr_Fetch(&type, &value, &traceback);
    Py_ssize_t n = 0;
    const char* utf8 = api.PyUnicode_AsUTF8AndSize(s, &n);
    std::string text = utf8 != nullptr ? std::string(utf8, static_cast<std::size_t>(n)) : std::string();
    api.PyErr_Clear();
    api.PyErr_Restore(type, value, traceback);
    return text;
}

// One discovery pass (GIL held): what is writable, which objects are the interpreter, and what
// this pass already walked.
class Discovery {
public:
    Discovery() {
        Dl_info info{};
        if (dladdr(reinterpret_cast<void*>(api.Py_IncRef), &info) != 0) {
            m_interpreterBase = info.dli_fbase;
        }
        if (dladdr(reinterpret_cast<void*>(&lt_cfunction_thunk), &info) != 0) {
            m_probeBase = info.dli_fbase;
        }
        readWritableRanges();
    }

    std::size_t readOnly() const { return m_readOnly; }

    // A module's functions, its types' methods and its submodules (pybind11 def_submodule).
    void module(PyObject* mod, int depth) {
        if (depth > 2 || !m_seen.insert(mod).second) {
            return;
        }
        PyObject* dict = api.PyModule_GetDict(mod);
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (dict != nullptr && api.PyDict_Next(dict, &pos, &key, &value) != 0) {
            if (isFunction(value)) {
                function(value);
            } else if (PyType_Check(value)) {
                type(reinterpret_cast<PyTypeObject*>(value), 0);
            } else if (api.PyType_IsSubtype(Py_TYPE(value), api.PyModule_Type) != 0) {
                module(value, depth + 1);
            }
        }
    }

    // Multi-phase init: the functions the module object will get, and its exec slots (the
    // types they create appear only when they run).
    void moduleDef(PyModuleDef* def) {
        const std::string owner = def->m_name != nullptr ? def->m_name : "";
        for (PyMethodDef* m = def->m_methods; m != nullptr && m->ml_name != nullptr; ++m) {
            patch(reinterpret_cast<void**>(&m->ml_meth), ThunkKind::Method, m->ml_name, owner, nullptr);
        }
        for (PyModuleDef_Slot* s = def->m_slots; s != nullptr && s->slot != 0; ++s) {
            if (s->slot == Py_mod_exec) {
                patch(&s->value, ThunkKind::ModuleExec, "", owner, nullptr);
            }
        }
    }

private:
    bool isFunction(PyObject* o) const {
        return Py_TYPE(o) == api.PyCFunction_Type || Py_TYPE(o) == api.PyCMethod_Type;
    }

    // Owned as the profile function named it: the module's __name__, else the type of self.
    void function(PyObject* o) {
        auto* fn = reinterpret_cast<PyCFunctionObject*>(o);
        std::string owner;
        if (fn->m_module != nullptr) {
            owner = textOf(fn->m_module);
        } else if (fn->m_self != nullptr) {
            const PyTypeObject* t = PyType_Check(fn->m_self) ? reinterpret_cast<PyTypeObject*>(fn->m_self) : Py_TYPE(fn->m_self);
            owner = t->tp_name != nullptr ? t->tp_name : "";
        }
        if (fn->m_ml != nullptr) {
            patch(reinterpret_cast<void**>(&fn->m_ml->ml_meth), ThunkKind::Method, fn->m_ml->ml_name, owner, o);
        }
    }

    // A type's methods: descriptors, and the functions that staticmethod, classmethod and
    // instancemethod (pybind11's methods) wrap; nested types too. The interpreter's static
    // types are left alone (their defs are the interpreter's).
    void type(PyTypeObject* t, int depth) {
        if (depth > 3 || !m_seen.insert(reinterpret_cast<PyObject*>(t)).second || inInterpreter(t) || t->tp_dict == nullptr) {
            return;
        }
        const std::string owner = t->tp_name != nullptr ? t->tp_name : "";
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (api.PyDict_Next(t->tp_dict, &pos, &key, &value) != 0) {
            PyTypeObject* vt = Py_TYPE(value);
            if (vt == api.PyMethodDescr_Type || vt == api.PyClassMethodDescr_Type) {
                PyMethodDef* def = reinterpret_cast<PyMethodDescrObject*>(value)->d_method;
                if (def != nullptr) {
                    patch(reinterpret_cast<void**>(&def->ml_meth), ThunkKind::Method, def->ml_name, owner, value);
                }
            } else if (isFunction(value)) {
                function(value);
            } else if (vt == api.PyStaticMethod_Type || vt == api.PyClassMethod_Type || vt == api.PyInstanceMethod_Type) {
                if (PyObject* inner = api.PyObject_GetAttrString(value, "__func__")) {
                    if (isFunction(inner)) {
                        function(inner);
                    }
                    python::decref(inner);
                } else {
                    api.PyErr_Clear();
                }
            } else if (PyType_Check(value)) {
                type(reinterpret_cast<PyTypeObject*>(value), depth + 1);
            }
        }
    }

    bool inInterpreter(const void* p) const {
        Dl_info info{};
        return dladdr(p, &info) != 0 && info.dli_fbase == m_interpreterBase;
    }

    // Code in a shared object other than the interpreter and the probe.
    bool inExtension(const void* code) const {
        Dl_info info{};
        return code != nullptr && dladdr(code, &info) != 0 && info.dli_fbase != nullptr &&
               info.dli_fbase != m_interpreterBase && info.dli_fbase != m_probeBase;
    }

    bool writable(const void* p) const {
        const auto a = reinterpret_cast<std::uintptr_t>(p);
        for (const auto& [lo, hi] : m_writable) {
            if (a >= lo && a + sizeof(void*) <= hi) {
                return true;
            }
        }
        return false;
    }

    void readWritableRanges() {
        std::FILE* maps = std::fopen("/proc/self/maps", "re");
        if (maps == nullptr) {
            return;
        }
        char line[512];
        while (std::fgets(line, sizeof line, maps) != nullptr) {
            unsigned long lo = 0, hi = 0;
            char perms[5] = {};
            if (std::sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && perms[1] == 'w') {
                m_writable.emplace_back(lo, hi);
            }
        }
        std::fclose(maps);
    }

    // Swaps *where for a new stub, or for the one it had before a detach. `holder` owns the def
    // (a function object or descriptor; nullptr for static defs of a PyModuleDef): it is kept
    // alive for good, so a heap def (pybind11 allocates one per function) is never freed while
    // a record points at it.
    void patch(void** where, ThunkKind kind, const char* name, const std::string& owner, PyObject* holder) {
        Registry& reg = registry();
        if (auto it = reg.byPatched.find(where); it != reg.byPatched.end()) {
            ThunkRecord* r = it->second;
            if (*where == r->original) {
                *where = r->stub; // attached again after a detach
            }
            return;
        }
        if (!inExtension(*where)) {
            return;
        }
        if (!writable(where)) {
            ++m_readOnly;
            return;
        }
        ThunkRecord& r = reg.records.emplace_back();
        r.original = *where;
        r.patched = where;
        r.kind = kind;
        r.name = name != nullptr ? name : "";
        r.owner = owner;
        r.stub = allocateStub(&r);
        if (r.stub == nullptr) {
            reg.records.pop_back();
            m_noMemory = true;
            return;
        }
        if (holder != nullptr) {
            python::incref(holder);
            reg.keptAlive.push_back(holder);
        }
        reg.byPatched.emplace(where, &r);
        *where = r.stub;
    }

public:
    bool noMemory() const { return m_noMemory; }

private:
    const void* m_interpreterBase = nullptr;
    const void* m_probeBase = nullptr;
    std::vector<std::pair<std::uintptr_t, std::uintptr_t>> m_writable;
    std::unordered_set<PyObject*> m_seen;
    std::size_t m_readOnly = 0;
    bool m_noMemory = false;
};

void reportPass(const Discovery& d) {
    if (d.noMemory()) {
        reportOnce(wire::ReportLevel::Warning, "cthunks:memory",
                   "could not map executable memory for C function thunks: some extension functions are not traced");
    }
    if (d.readOnly() != 0) {
        reportOnce(wire::ReportLevel::Info, "cthunks:readonly",
                   "some extension functions have their PyMethodDef in read-only memory: their calls are not "
                   "reported (--c-calls all reports them through a profile function)");
    }
}

// Writes the originals back (GIL held), once per detach, unless tracing came back since. Run by
// whichever comes first: the next call through any stub, or the pending call. (On 3.11 a pending
// call added from a thread other than the main one does not set the eval breaker, so it may wait
// until the GIL changes hands; a single-threaded program calling extensions meets a stub first.)
int restoreOriginals(void*) {
    if (!g_restorePending.exchange(false) || g_installed.load()) {
        return 0;
    }
    for (ThunkRecord& r : registry().records) {
        if (*r.patched == r.stub) {
            *r.patched = r.original;
        }
    }
    return 0;
}

} // namespace

void emitCFunctionEvent(wire::RecordType type, std::uint64_t mlMeth, std::uint32_t nameId, std::uint32_t ownerId) noexcept {
    ThreadSlot* slot = currentThread();
    if (slot == nullptr) {
        return;
    }
    if (type != wire::RecordType::CCall || !options().stacks) { // no stack: the inline fixed-size push
        emplaceRecord<wire::CCall>(slot, type, nowNs(), mlMeth, nameId, ownerId);
        return;
    }
    wire::CCall rec{};
    rec.tsNs = nowNs();
    rec.mlMeth = mlMeth;
    rec.nameId = nameId;
    rec.ownerId = ownerId;
    alignas(8) std::byte buf[kMaxEventBytes];
    wire::RecordWriter w(buf, sizeof buf);
    w.append(type, rec);
    appendStackIfWanted(w);
    pushRecords(slot, w);
}

namespace cthunks {

std::size_t install() noexcept {
    PyObject *type, *value, *traceback;
    api.PyErr_Fetch(&type, &value, &traceback);
    g_session.fetch_add(1, std::memory_order_relaxed);
    g_installed.store(true);
    Discovery discovery;
    if (PyObject* sysModules = api.PyImport_GetModuleDict()) {
        Py_ssize_t pos = 0;
        PyObject *key, *mod;
        while (api.PyDict_Next(sysModules, &pos, &key, &mod) != 0) {
            if (api.PyType_IsSubtype(Py_TYPE(mod), api.PyModule_Type) != 0) {
                discovery.module(mod, 0);
            }
        }
    }
    api.PyErr_Clear();
    api.PyErr_Restore(type, value, traceback);
    reportPass(discovery);
    g_reporting.store(true, std::memory_order_release);
    return registry().records.size();
}

void noteModuleInitialized(std::uint64_t result) noexcept {
    if (!g_installed.load(std::memory_order_relaxed) || result == 0) {
        return;
    }
    ReentrancyGuard guard; // the extension functions our walk may touch are not the program's calls
    auto* object = reinterpret_cast<PyObject*>(result);
    PyObject *type, *value, *traceback;
    api.PyErr_Fetch(&type, &value, &traceback);
    Discovery discovery;
    if (Py_TYPE(object) == api.PyModuleDef_Type) {
        discovery.moduleDef(reinterpret_cast<PyModuleDef*>(object));
    } else if (api.PyType_IsSubtype(Py_TYPE(object), api.PyModule_Type) != 0) {
        discovery.module(object, 0);
    }
    api.PyErr_Clear();
    api.PyErr_Restore(type, value, traceback);
    reportPass(discovery);
}

void uninstall(bool restoreOriginals) noexcept {
    g_reporting.store(false, std::memory_order_relaxed);
    if (!g_installed.exchange(false) || !restoreOriginals) {
        return;
    }
    // Not after the interpreter's end (its pending-call queue is gone): the process is exiting
    // then, and the inert stubs cost nothing more.
    g_restorePending.store(true);
    if (api.Py_IsInitialized() != 0) {
        api.Py_AddPendingCall(runtime::restoreOriginals, nullptr); // a full queue: the stubs do it
    }
}

bool reporting() noexcept { return g_reporting.load(std::memory_order_relaxed); }

} // namespace cthunks

} // namespace layertrace::probe::runtime

using layertrace::probe::runtime::ThunkKind;
using layertrace::probe::runtime::ThunkRecord;

// Called by cfunction_thunk.S with the GIL held, before the original.
extern "C" void lt_cthunk_enter(ThunkRecord* r) {
    namespace rt = layertrace::probe::runtime;
    if (!rt::g_reporting.load(std::memory_order_relaxed)) {
        if (rt::g_restorePending.load(std::memory_order_relaxed)) {
            rt::restoreOriginals(nullptr); // detached: this call goes on through its stub
        }
        return;
    }
    if (r->kind != ThunkKind::Method) {
        return;
    }
    layertrace::probe::ReentrancyGuard guard;
    if (!guard.entered()) {
        return;
    }
    const std::uint32_t session = rt::g_session.load(std::memory_order_relaxed);
    if (r->idSession != session) { // GIL held: one thread at a time writes these
        r->nameId = rt::internString(r->name);
        r->ownerId = rt::internString(r->owner);
        r->idSession = session;
    }
    rt::emitCFunctionEvent(layertrace::wire::RecordType::CCall, reinterpret_cast<std::uint64_t>(r->original), r->nameId,
                           r->ownerId);
}

// Called by cfunction_thunk.S with the GIL held again, after the original; returns its result.
extern "C" std::uint64_t lt_cthunk_exit(ThunkRecord* r, std::uint64_t result, const std::uint64_t* arguments) {
    namespace rt = layertrace::probe::runtime;
    if (r->kind == ThunkKind::ModuleExec) {
        if (static_cast<int>(result) == 0) { // the exec slot succeeded: its types exist now
            rt::cthunks::noteModuleInitialized(arguments[0]);
        }
        return result;
    }
    if (!rt::g_reporting.load(std::memory_order_relaxed) || r->idSession != rt::g_session.load(std::memory_order_relaxed)) {
        return result;
    }
    layertrace::probe::ReentrancyGuard guard;
    if (guard.entered()) {
        rt::emitCFunctionEvent(result != 0 ? layertrace::wire::RecordType::CReturn : layertrace::wire::RecordType::CRaise,
                               reinterpret_cast<std::uint64_t>(r->original), r->nameId, r->ownerId);
    }
    return result;
}
