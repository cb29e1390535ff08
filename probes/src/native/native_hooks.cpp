// The native hook policy: decides, for every object loaded now or later, what the hook engine
// instruments (ffi_call aliases, closures, PyInit_*, target-library exports, extension modules'
// imports from native libraries, --probe LIB:GLOB) and turns each hook into emit* calls.
#include "native_hooks.h"

#include "elf_dynamic.h"
#include "ffi_hooks.h"
#include "hook_engine.h"
#include "load_watch.h"
#include "../runtime/emit.h"

#include <dlfcn.h>
#include <fnmatch.h>
#include <link.h>

#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace layertrace::probe::native {
namespace {

// Per-hook data the callbacks receive; kept in deques (stable addresses) and never freed while
// the process lives, since a call may still be returning through a removed hook.
struct TargetHook {
    std::uint32_t hookId;
    std::uintptr_t function;
};
struct InitHook {
    std::uintptr_t function;
    std::string moduleName;
    std::string path;
};

constinit std::mutex g_mutex;
constinit bool g_installed = false;
// Containers without a constant initializer, created on first use and never destroyed: the
// probe's constructor installs hooks (libffi linked into the program) before this file's dynamic
// initializers would have run, and those would then wipe what it recorded.
struct PolicyState {
    std::deque<TargetHook> targetHooks;
    std::deque<InitHook> initHooks;
    std::set<std::uintptr_t> hooked;                       // inline-hooked function addresses
    std::set<std::pair<std::string, std::string>> imports; // (object path, symbol) hooked via GOT
};
PolicyState& state() {
    static PolicyState* s = new PolicyState;
    return *s;
}
struct ProbeSpec {
    std::string library;
    std::string glob;
};
constinit std::vector<ProbeSpec> g_specs;
using PyErrOccurredFn = void* (*)();
constinit PyErrOccurredFn g_pyErrOccurred = nullptr;

void targetEnter(void* data, const hook::EntryRegs&, std::uint64_t returnAddress) {
    const auto* h = static_cast<const TargetHook*>(data);
    emitNativeEnter(h->hookId, h->function, returnAddress);
}

void targetExit(void* data, const hook::ExitRegs& regs, bool unwound) {
    const auto* h = static_cast<const TargetHook*>(data);
    emitNativeExit(h->hookId, h->function, regs.rax, unwound);
}

void initEnter(void* data, const hook::EntryRegs&, std::uint64_t) {
    const auto* h = static_cast<const InitHook*>(data);
    emitInitEnter(h->function, h->moduleName, h->path);
}

void initExit(void* data, const hook::ExitRegs& regs, bool unwound) {
    const auto* h = static_cast<const InitHook*>(data);
    // PyInit_* returns NULL with an exception set on failure; we hold the GIL here.
    const bool raised = unwound || (regs.rax == 0 && (g_pyErrOccurred == nullptr || g_pyErrOccurred() != nullptr));
    emitInitExit(h->function, raised, regs.rax);
}

std::string_view baseName(std::string_view path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The C/C++ runtime, the interpreter, libffi and the probe: their functions are not "target
// library" calls (and hooking them would trace the interpreter itself).
bool isRuntimeObject(const hook::LoadedObject& o) {
    if (o.isMain || o.isLoader || o.isVdso || hook::isProbeObject(o)) return true;
    static constexpr std::string_view kRuntime[] = {
        "libc.so",    "libm.so",    "libmvec.so", "libpthread.so", "libdl.so",    "librt.so",   "libutil.so",
        "ld-linux",   "libstdc++.", "libgcc_s.",  "libpython",     "libffi.so",   "libcrypt.so", "libresolv.so",
        "libnsl.so",  "libanl.so",  "libc++.so",  "libc++abi.so",  "libunwind.so"};
    const std::string_view base = baseName(o.path);
    for (std::string_view prefix : kRuntime)
        if (base.starts_with(prefix)) return true;
    return false;
}

// The interpreter's own extension modules (lib-dynload) and the FFI modules: their internals
// are the `ext` layer, not code the user wrote (an unstripped interpreter such as pyenv's would
// otherwise have every static function of _ctypes or _cffi_backend hooked).
bool isInterpreterModule(const hook::LoadedObject& o) {
    const std::string_view base = baseName(o.path);
    return o.path.find("/lib-dynload/") != std::string::npos || base.starts_with("_ctypes") ||
           base.starts_with("_cffi_backend");
}

bool exportsPyInit(const hook::LoadedObject& o) {
    for (const hook::DefinedSymbol& s : hook::definedFunctions(o))
        if (s.name.starts_with("PyInit_")) return true;
    return false;
}

// Hooks one function with NativeEnter/NativeExit; returns false with *why on failure.
// `allowTrap`: functions too short for a jump get a (slow) int3 hook; used only where the user
// named the functions (--probe), not for ctypes/cffi targets or extension internals.
bool hookTarget(const hook::LoadedObject& o, std::string_view name, std::uintptr_t address, std::size_t size,
                wire::HookKind kind, bool allowTrap, std::string* why) {
    if (!state().hooked.insert(address).second) return true; // already instrumented (e.g. two names)
    TargetHook& h = state().targetHooks.emplace_back(TargetHook{0, address});
    h.hookId = registerHook(kind, address, name, o.path);
    const unsigned trapsBefore = allowTrap ? hook::stats().trapHooks : 0;
    if (hook::hookFunction(reinterpret_cast<void*>(address), targetEnter, targetExit, &h, why, size,
                           allowTrap ? hook::kAllowTrapHook : 0) == hook::kInvalidHook) {
        state().hooked.erase(address);
        return false;
    }
    if (allowTrap && hook::stats().trapHooks > trapsBefore)
        reportOnce(wire::ReportLevel::Info, "trap:" + o.path + ":" + std::string(name),
                   std::string(name) + " in " + o.path +
                       " is too short for a jump and is traced through an int3 (a signal per call: slower)");
    return true;
}

// Summarises failures per object in one report instead of one per function.
struct FailureSummary {
    std::size_t failed = 0, total = 0;
    std::string first;
    void note(bool ok, std::string_view name, const std::string& why) {
        ++total;
        if (ok) return;
        if (failed++ == 0) first = std::string(name) + ": " + why;
    }
    void report(std::string_view what, const hook::LoadedObject& o) const {
        if (failed == 0) return;
        reportOnce(wire::ReportLevel::Info, std::string(what) + ":" + o.path,
                   std::to_string(failed) + " of " + std::to_string(total) + " " + std::string(what) + " in " + o.path +
                       " are not traced (first: " + first + ")");
    }
};

// Not function entries (GCC's split-off cold blocks) or not ours to trace.
bool skippedName(std::string_view name) {
    return name == "_init" || name == "_fini" || name.starts_with("PyInit_") ||
           name.find(".cold") != std::string_view::npos;
}

// An extension module's own implementation, as opposed to the binding machinery and C++
// runtime instantiations compiled into it (pybind11 internals, std::, compiler helpers).
bool isExtensionImplementation(std::string_view name) {
    static constexpr std::string_view kMachinery[] = {
        "_ZN8pybind11", "_ZNK8pybind11", "_ZZN8pybind11", "_ZNSt", "_ZNKSt", "_ZSt", "_ZZNSt", "_ZN9__gnu_cxx",
        "_ZNK9__gnu_cxx", "_ZN10__cxxabiv", "_GLOBAL__", "__", "frame_dummy", "register_tm_clones",
        "deregister_tm_clones", "pybind11_", "Py", "_Py", "_ZTh", "_ZTv", "_ZTW", "_ZTH"};
    if (skippedName(name)) return false;
    if (name.starts_with("_cffi_") && !name.starts_with("_cffi_f_")) return false; // cffi's helpers; _cffi_f_* is the glue
    for (std::string_view prefix : kMachinery)
        if (name.starts_with(prefix)) return false;
    return true;
}

// A library opened by ctypes.CDLL / ffi.dlopen: its exports are what Python calls through
// ffi_call, and the FfiCall/FfiReturn pair already names each such call (function pointer ->
// symbol) with decoded arguments and return value. A separate NativeEnter/NativeExit hook adds
// the calls those functions make to each other. Functions too short for a jump patch (a leaf of
// a few bytes such as `lea eax,[rdi+rsi]; ret`) would need an int3 hook, a signal per call (about
// 3 us, 30x the ffi_call hook): they are left to FfiCall, and only a --probe LIB:GLOB that names
// them asks for the int3 (docs/hooking.md, "Functions too short for a jump").
void hookExports(const hook::LoadedObject& o) {
    FailureSummary summary;
    std::size_t tooShort = 0;
    std::string firstTooShort;
    for (const hook::DefinedSymbol& s : hook::definedFunctions(o)) {
        if (s.ifunc || skippedName(s.name)) continue;
        std::string why;
        const bool ok = hookTarget(o, s.name, s.address, s.size, wire::HookKind::TargetSymbol, false, &why);
        if (!ok && why.starts_with(hook::kTooShortForJump)) {
            if (tooShort++ == 0) firstTooShort = s.name;
            continue;
        }
        summary.note(ok, s.name, why);
    }
    summary.report("exported functions", o);
    if (tooShort > 0)
        reportOnce(wire::ReportLevel::Info, "ffi-only:" + o.path,
                   std::to_string(tooShort) + " exported function(s) of " + o.path + " (first: " + firstTooShort +
                       ") are too short for a jump patch: their calls through ffi_call are traced, their calls "
                       "from other native code are not (--probe " + std::string(baseName(o.path)) + ":" +
                       firstTooShort + " traces those too, at a signal per call)");
}

// The functions an extension module implements itself (the C/C++ code behind its glue): its
// exports and, when it is not stripped, its .symtab functions.
void hookExtensionOwn(const hook::LoadedObject& o) {
    FailureSummary summary;
    for (const hook::DefinedSymbol& s : hook::definedFunctions(o)) {
        if (s.ifunc || !isExtensionImplementation(s.name)) continue;
        std::string why;
        summary.note(hookTarget(o, s.name, s.address, s.size, wire::HookKind::TargetSymbol, false, &why), s.name, why);
    }
    std::string ignored; // stripped: no .symtab, nothing more to add
    for (const auto& [name, address] : hook::symtabFunctions(o.path, o.base, &ignored)) {
        if (!isExtensionImplementation(name) || state().hooked.count(address) != 0) continue;
        std::string why;
        summary.note(hookTarget(o, name, address, 0, wire::HookKind::TargetSymbol, false, &why), name, why);
    }
    summary.report("extension functions", o);
}

void hookPyInit(const hook::LoadedObject& o) {
    for (const hook::DefinedSymbol& s : hook::definedFunctions(o)) {
        if (!s.name.starts_with("PyInit_") || !state().hooked.insert(s.address).second) continue;
        InitHook& h = state().initHooks.emplace_back(InitHook{s.address, std::string(s.name.substr(7)), o.path});
        registerHook(wire::HookKind::Init, s.address, s.name, o.path);
        std::string why;
        if (hook::hookFunction(reinterpret_cast<void*>(s.address), initEnter, initExit, &h, &why, s.size) ==
            hook::kInvalidHook) {
            state().hooked.erase(s.address);
            reportOnce(wire::ReportLevel::Warning, "pyinit:" + o.path, "cannot hook " + std::string(s.name) + " in " + o.path + ": " + why);
        }
    }
}

// An extension module's calls into the native libraries it links: its GOT imports of functions
// that a non-runtime object defines.
void hookExtensionImports(const hook::LoadedObject& ext) {
    const std::vector<hook::LoadedObject> objects = hook::loadedObjects();
    FailureSummary summary;
    for (const hook::ImportSlot& slot : hook::importSlots(ext)) {
        if (!slot.functionType || slot.symbol.starts_with("Py") || slot.symbol.starts_with("_Py")) continue;
        if (state().imports.count({ext.path, std::string(slot.symbol)}) != 0) continue;
        const hook::LoadedObject* definer = nullptr;
        const std::uintptr_t real = hook::resolveDefinition(objects, slot.symbol, &ext, &definer);
        if (real == 0 || definer == nullptr || isRuntimeObject(*definer) || definer->lo == ext.lo) continue;
        if (state().hooked.count(real) != 0) continue; // already traced inline: one event per call
        state().imports.insert({ext.path, std::string(slot.symbol)});
        TargetHook& h = state().targetHooks.emplace_back(TargetHook{0, real});
        h.hookId = registerHook(wire::HookKind::Import, real, slot.symbol, definer->path);
        std::string why;
        summary.note(hook::hookImport(ext.path, slot.symbol, targetEnter, targetExit, &h, &why) != hook::kInvalidHook,
                     slot.symbol, why);
    }
    summary.report("imported functions", ext);
}

void hookProbeSpecs(const hook::LoadedObject& o) {
    const std::string base(baseName(o.path));
    std::vector<std::pair<std::string, std::uintptr_t>> symtab;
    bool symtabRead = false;
    for (const ProbeSpec& spec : g_specs) {
        if (fnmatch(spec.library.c_str(), base.c_str(), 0) != 0 && fnmatch(spec.library.c_str(), o.path.c_str(), 0) != 0)
            continue;
        FailureSummary summary;
        std::size_t matched = 0;
        for (const hook::DefinedSymbol& s : hook::definedFunctions(o)) {
            const std::string name(s.name);
            if (s.ifunc || skippedName(s.name) || fnmatch(spec.glob.c_str(), name.c_str(), 0) != 0) continue;
            ++matched;
            std::string why;
            summary.note(hookTarget(o, s.name, s.address, s.size, wire::HookKind::TargetSymbol, true, &why), s.name, why);
        }
        if (!symtabRead) {
            std::string ignored; // stripped objects simply have no .symtab
            symtab = hook::symtabFunctions(o.path, o.base, &ignored);
            symtabRead = true;
        }
        for (const auto& [name, address] : symtab) {
            if (skippedName(name) || fnmatch(spec.glob.c_str(), name.c_str(), 0) != 0 || state().hooked.count(address) != 0) continue;
            ++matched;
            std::string why;
            summary.note(hookTarget(o, name, address, 0, wire::HookKind::TargetSymbol, true, &why), name, why);
        }
        summary.report("functions matching --probe " + spec.library + ":" + spec.glob, o);
        if (matched == 0)
            reportOnce(wire::ReportLevel::Info, "probe-spec-empty:" + spec.library + ":" + spec.glob + ":" + o.path,
                       "--probe " + spec.library + ":" + spec.glob + " matches no function of " + o.path);
    }
}

bool loadedByFfiModule(std::uintptr_t caller) {
    if (caller == 0) return false;
    Dl_info info {};
    if (dladdr(reinterpret_cast<void*>(caller), &info) == 0 || info.dli_fname == nullptr) return false;
    const std::string_view base = baseName(info.dli_fname);
    return base.starts_with("_ctypes") || base.starts_with("_cffi_backend");
}

// Every DT_NEEDED name of every loaded object, and each object's DT_SONAME (attach: onLoaded).
struct DependencyNames {
    std::set<std::string> needed;
    std::set<std::pair<std::string, std::string>> sonames; // (path, soname)
};

int collectDependencyNames(dl_phdr_info* info, std::size_t, void* out) {
    auto* names = static_cast<DependencyNames*>(out);
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC) continue;
        const auto* dyn = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        std::uintptr_t strtab = 0;
        for (const ElfW(Dyn)* d = dyn; d->d_tag != DT_NULL; ++d) {
            if (d->d_tag == DT_STRTAB) strtab = d->d_un.d_ptr;
        }
        if (strtab == 0) continue;
        // glibc relocates the in-memory DT_STRTAB of most objects; the vDSO's stays relative.
        if (strtab < info->dlpi_addr) strtab += info->dlpi_addr;
        for (const ElfW(Dyn)* d = dyn; d->d_tag != DT_NULL; ++d) {
            const char* text = reinterpret_cast<const char*>(strtab + d->d_un.d_val);
            if (d->d_tag == DT_NEEDED) {
                names->needed.insert(std::string(baseName(text)));
            } else if (d->d_tag == DT_SONAME && info->dlpi_name != nullptr) {
                names->sonames.insert({info->dlpi_name, text});
            }
        }
    }
    return 0;
}

// Objects already loaded when the probe started (an attach into a running process) cannot tell
// who opened them. One that no loaded object needs (by file name or SONAME) was opened with
// dlopen; if it is not an extension module, it is treated like a library opened by ctypes.CDLL
// or ffi.dlopen. (Under `run` nothing has been dlopened yet when the probe starts.)
constinit DependencyNames* g_dependencyNames = nullptr; // built on first use after each install(); g_mutex

bool openedDirectlyBeforeStart(const hook::LoadedObject& o) {
    if (g_dependencyNames == nullptr) {
        g_dependencyNames = new DependencyNames;
        dl_iterate_phdr(collectDependencyNames, g_dependencyNames);
    }
    const DependencyNames* names = g_dependencyNames;
    if (o.isMain || o.isLoader || o.path.empty()) return false;
    if (names->needed.count(std::string(baseName(o.path))) != 0) return false;
    for (const auto& [path, soname] : names->sonames) {
        if (path == o.path && names->needed.count(soname) != 0) return false;
    }
    return true;
}

void onLoaded(const hook::LoadedObject& o, std::uintptr_t caller, bool requested, void*) {
    if (o.isVdso) return;
    noteModuleLoaded(o.path, o.base);
    if (o.isLoader || hook::isProbeObject(o)) return;
    std::lock_guard lock(g_mutex);
    hookFfiIn(o);
    if (!isRuntimeObject(o)) {
        if (exportsPyInit(o)) {
            hookPyInit(o);
            if (!isInterpreterModule(o)) hookExtensionOwn(o);
            hookExtensionImports(o);
        } else if (requested && loadedByFfiModule(caller)) {
            hookExports(o); // a library opened by ctypes.CDLL / ffi.dlopen
        } else if (caller == 0 && !requested && openedDirectlyBeforeStart(o)) {
            hookExports(o); // attach: probably opened by ctypes or cffi before we came
        }
    }
    if (!g_specs.empty()) hookProbeSpecs(o);
}

void onUnloaded(const hook::LoadedObject& o, void*) {
    noteModuleUnloaded(o.base);
    std::lock_guard lock(g_mutex);
    state().hooked.erase(state().hooked.lower_bound(o.lo), state().hooked.lower_bound(o.hi));
    std::erase_if(state().imports, [&](const auto& entry) { return entry.first == o.path; });
}

} // namespace

bool install(std::string* error) {
    {
        std::lock_guard lock(g_mutex);
        if (g_installed) return true;
        g_installed = true;
        delete g_dependencyNames; // objects loaded since an earlier session count too
        g_dependencyNames = nullptr;
        g_pyErrOccurred = reinterpret_cast<PyErrOccurredFn>(dlsym(RTLD_DEFAULT, "PyErr_Occurred"));
        g_specs.clear();
        for (const std::string& spec : options().probeSpecs) {
            const std::size_t colon = spec.find(':');
            if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size()) {
                reportOnce(wire::ReportLevel::Warning, "probe-spec:" + spec,
                           "ignoring --probe " + spec + ": expected LIB:GLOB, e.g. libfoo.so:foo_*");
                continue;
            }
            g_specs.push_back({spec.substr(0, colon), spec.substr(colon + 1)});
        }
    }
    hook::LoadEvents events;
    events.onLoaded = onLoaded;
    events.onUnloaded = onUnloaded;
    std::string why;
    if (!hook::startLoadWatch(events, &why)) {
        reportOnce(wire::ReportLevel::Warning, "load-watch", "libraries loaded later are not hooked: " + why);
        if (hook::stats().activeHooks == 0) {
            if (error) *error = "no native hook could be installed: " + why;
            return false;
        }
    }
    return true;
}

void uninstall() {
    hook::stopLoadWatch();
    hook::unhookAll();
    resetFfiHooks();
    std::lock_guard lock(g_mutex);
    state().hooked.clear();
    state().imports.clear();
    g_installed = false;
}

} // namespace layertrace::probe::native
