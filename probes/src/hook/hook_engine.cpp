// Hook engine core: hook records, per-thread shadow stacks of replaced return addresses, the C
// side of the entry/exit stubs, C++-exception/longjmp recovery and GOT patching.
#include "hook_engine.h"

#include "elf_dynamic.h"
#include "hook_internal.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <unwind.h>

#include <link.h>

#include <algorithm>
#include <cstddef>
#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

extern "C" {
void lt_hook_entry_stub();
void lt_hook_exit_stub();
}

namespace layertrace::probe::hook {
namespace {

enum class Kind : std::uint8_t { Inline, Redirect, Import };

struct GotPatch {
    std::uintptr_t slot;
    std::uintptr_t original;    // value before we patched it
    std::uintptr_t replacement;
    HookId owner;               // 0: a patchImports() patch
};

// Never freed: entry stubs and shadow-stack entries may refer to a record after its removal.
struct HookRecord {
    HookId id = kInvalidHook;
    Kind kind = Kind::Inline;
    EnterCallback onEnter = nullptr;
    ExitCallback onExit = nullptr;
    void* userData = nullptr;
    std::uintptr_t continuation = 0; // where the entry stub continues: trampoline or import target
    std::uintptr_t replacement = 0;  // Redirect: where calls go instead
    std::atomic<bool> active{false};
    detail::InlinePatch patch;
    std::uint8_t* slot = nullptr;
};

constinit std::mutex g_mutex; // every install/remove; never taken on the hot path
constinit std::vector<HookRecord*> g_records;
constinit std::vector<GotPatch> g_got;
constinit std::atomic<std::uint64_t> g_overflows{0};
constinit std::atomic<std::uint64_t> g_unwound{0};

// ---- per-thread shadow stacks ---------------------------------------------------------------

struct ShadowEntry {
    std::uintptr_t realReturn;
    std::uintptr_t slot;        // address of the return-address slot (rsp at entry)
    HookRecord* record;
    std::uintptr_t disarmed;    // 1 while an exception unwinds (real return address put back)
};

struct ThreadState {
    ShadowEntry* stack;
    std::uint32_t depth;
    std::uint8_t guard; // inside a callback or engine code: calls are not traced
    std::uint8_t dead;  // thread-exit destructor ran: stop instrumenting this thread
};

// initial-exec: no __tls_get_addr call (and no allocation) on the hot path. 24 bytes, which fits
// the static TLS surplus glibc keeps for objects dlopen()ed after start-up (attach mode).
thread_local ThreadState t_state __attribute__((tls_model("initial-exec"))) = {nullptr, 0, 0, 0};

constexpr std::size_t kShadowBytes = kShadowStackDepth * sizeof(ShadowEntry);
constinit pthread_key_t g_shadowKey;
constinit std::once_flag g_shadowKeyOnce;

void releaseShadow(void* stack) {
    t_state.dead = 1;
    t_state.stack = nullptr;
    t_state.depth = 0;
    munmap(stack, kShadowBytes);
}

// Once per thread, on its first instrumented call: mmap (lazily committed) + a TLS destructor.
bool allocateShadow(ThreadState& ts) {
    std::call_once(g_shadowKeyOnce, [] { pthread_key_create(&g_shadowKey, releaseShadow); });
    void* p = mmap(nullptr, kShadowBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    ts.stack = static_cast<ShadowEntry*>(p);
    pthread_setspecific(g_shadowKey, p);
    return true;
}

std::uintptr_t exitStubAddress() {
    // +1: the stub starts with a nop so that unwinders, which look up (return address - 1),
    // find the stub itself rather than whatever precedes it.
    return reinterpret_cast<std::uintptr_t>(&lt_hook_exit_stub) + 1;
}

void popUnwound(ThreadState& ts, bool callback) {
    const ShadowEntry e = ts.stack[ts.depth - 1];
    std::atomic_signal_fence(std::memory_order_seq_cst);
    --ts.depth;
    g_unwound.fetch_add(1, std::memory_order_relaxed);
    if (callback && e.record->onExit != nullptr) {
        const ExitRegs none{0, 0, 0.0, 0.0};
        e.record->onExit(e.record->userData, none, true);
    }
}

} // namespace

// ---- the C side of the stubs (called from stubs.S) --------------------------------------------

extern "C" __attribute__((visibility("hidden"))) std::uintptr_t lt_hook_enter(HookRecord* record, EntryRegs* regs) {
    ThreadState& ts = t_state;
    const std::uintptr_t continuation = record->continuation;
    if (ts.guard != 0 || ts.dead != 0 || !record->active.load(std::memory_order_relaxed)) return continuation;
    ts.guard = 1;
    if (record->onExit == nullptr) { // enter-only: leave the return address alone
        if (record->onEnter != nullptr) record->onEnter(record->userData, *regs, *reinterpret_cast<std::uint64_t*>(regs->rsp));
        ts.guard = 0;
        return continuation;
    }
    if (ts.stack == nullptr && !allocateShadow(ts)) {
        ts.guard = 0;
        return continuation;
    }
    if (ts.depth >= kShadowStackDepth) {
        // Full: neither enter nor exit is reported, so what is reported stays properly nested.
        g_overflows.fetch_add(1, std::memory_order_relaxed);
        ts.guard = 0;
        return continuation;
    }
    auto* slot = reinterpret_cast<std::uintptr_t*>(regs->rsp);
    const std::uintptr_t realReturn = *slot;
    ts.stack[ts.depth] = {realReturn, regs->rsp, record, 0};
    std::atomic_signal_fence(std::memory_order_seq_cst); // a signal handler's hooked call pushes above
    ++ts.depth;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    // The callback runs with the real return address in place, so a stack it captures is whole.
    if (record->onEnter != nullptr) record->onEnter(record->userData, *regs, realReturn);
    *slot = exitStubAddress();
    ts.guard = 0;
    return continuation;
}

extern "C" __attribute__((visibility("hidden"))) std::uintptr_t lt_hook_exit(ExitRegs* regs, std::uintptr_t rspAtExit) {
    ThreadState& ts = t_state;
    const std::uint8_t outerGuard = ts.guard;
    ts.guard = 1;
    const bool callbacks = outerGuard == 0;
    // Our frame's return-address slot was rspAtExit - 8. Entries above it belong to frames that
    // were abandoned by longjmp (or by an exception whose catch we did not see): report them as
    // unwound. Normally the match is the innermost entry; only after a longjmp does the search
    // go deeper (bounded by the shadow stack's size).
    std::uint32_t match = ts.depth;
    for (std::uint32_t i = ts.depth; i > 0; --i) {
        if (ts.stack[i - 1].slot + 8 == rspAtExit) {
            match = i - 1;
            break;
        }
    }
    if (match == ts.depth) {
        // No entry for this frame: cannot happen unless a stack-switching library (greenlet,
        // swapcontext) moved hooked frames between stacks. Best effort: the innermost entry.
        if (ts.depth == 0) {
            static const char kMessage[] = "layertrace probe: hook exit without a shadow-stack entry; aborting\n";
            [[maybe_unused]] const auto n = write(2, kMessage, sizeof kMessage - 1);
            __builtin_trap();
        }
        match = ts.depth - 1;
    }
    while (ts.depth > match + 1) popUnwound(ts, callbacks);
    const ShadowEntry e = ts.stack[match];
    std::atomic_signal_fence(std::memory_order_seq_cst);
    ts.depth = match;
    if (callbacks && e.record->onExit != nullptr) e.record->onExit(e.record->userData, *regs, false);
    ts.guard = outerGuard;
    return e.realReturn;
}

namespace {

// ---- C++ exceptions and forced unwinding --------------------------------------------------------
// A replaced return address (the exit stub) has no unwind info: an exception unwinding through
// it would end in std::terminate. As uftrace does (libmcount/wrap.c), every entry into the
// unwinder first puts the real return addresses back ("disarm"); when the exception is caught
// (__cxa_begin_catch, called in the catching frame), the entries of frames below the catching
// frame are gone (reported as unwound) and the others are armed again.

void disarmAll(ThreadState& ts) {
    const std::uintptr_t stub = exitStubAddress();
    for (std::uint32_t i = 0; i < ts.depth; ++i) {
        auto* slot = reinterpret_cast<std::uintptr_t*>(ts.stack[i].slot);
        if (ts.stack[i].disarmed == 0 && *slot == stub) {
            *slot = ts.stack[i].realReturn;
            ts.stack[i].disarmed = 1;
        }
    }
}

void rearmFrom(ThreadState& ts, std::uintptr_t liveFrom) {
    const std::uint8_t outerGuard = ts.guard;
    ts.guard = 1;
    while (ts.depth > 0 && ts.stack[ts.depth - 1].slot < liveFrom) popUnwound(ts, outerGuard == 0);
    const std::uintptr_t stub = exitStubAddress();
    for (std::uint32_t i = 0; i < ts.depth; ++i) {
        auto* slot = reinterpret_cast<std::uintptr_t*>(ts.stack[i].slot);
        if (ts.stack[i].disarmed != 0 && *slot == ts.stack[i].realReturn) *slot = stub;
        ts.stack[i].disarmed = 0;
    }
    ts.guard = outerGuard;
}

using RaiseFn = _Unwind_Reason_Code (*)(_Unwind_Exception*);
using ResumeFn = void (*)(_Unwind_Exception*);
using ForcedFn = _Unwind_Reason_Code (*)(_Unwind_Exception*, _Unwind_Stop_Fn, void*);
using BeginCatchFn = void* (*)(void*);
constinit std::atomic<RaiseFn> g_realRaise{nullptr};
constinit std::atomic<ResumeFn> g_realResume{nullptr};
constinit std::atomic<RaiseFn> g_realRethrow{nullptr};
constinit std::atomic<ForcedFn> g_realForced{nullptr};
constinit std::atomic<BeginCatchFn> g_realBeginCatch{nullptr};

} // namespace

// Not noexcept, with unwind info: the unwinder walks through these frames.
extern "C" __attribute__((visibility("hidden"))) _Unwind_Reason_Code lt_wrap_unwind_raise(_Unwind_Exception* e) {
    disarmAll(t_state);
    return g_realRaise.load(std::memory_order_acquire)(e);
}
extern "C" __attribute__((visibility("hidden"))) void lt_wrap_unwind_resume(_Unwind_Exception* e) {
    disarmAll(t_state);
    g_realResume.load(std::memory_order_acquire)(e);
}
extern "C" __attribute__((visibility("hidden"))) _Unwind_Reason_Code lt_wrap_unwind_rethrow(_Unwind_Exception* e) {
    disarmAll(t_state);
    return g_realRethrow.load(std::memory_order_acquire)(e);
}
extern "C" __attribute__((visibility("hidden"))) _Unwind_Reason_Code lt_wrap_unwind_forced(_Unwind_Exception* e,
                                                                                           _Unwind_Stop_Fn stop,
                                                                                           void* arg) {
    disarmAll(t_state);
    return g_realForced.load(std::memory_order_acquire)(e, stop, arg);
}
extern "C" __attribute__((visibility("hidden"), noinline)) void* lt_wrap_begin_catch(void* exception) {
    // We are entered by a jump from __cxa_begin_catch's patched head, so our return address is
    // the catching frame's: its stack pointer after we return is our frame address + 16.
    const auto liveFrom = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)) + 16;
    rearmFrom(t_state, liveFrom);
    return g_realBeginCatch.load(std::memory_order_acquire)(exception);
}

namespace {

HookRecord* newRecord(Kind kind) {
    auto* r = new HookRecord;
    r->kind = kind;
    r->id = static_cast<HookId>(g_records.size() + 1);
    g_records.push_back(r);
    return r;
}

// mov r11, imm64 (record); jmp [rip+0]; .quad lt_hook_entry_stub
void writeEntryThunk(std::uint8_t* at, HookRecord* record) {
    at[0] = 0x49;
    at[1] = 0xBB;
    const auto rec = reinterpret_cast<std::uintptr_t>(record);
    std::memcpy(at + 2, &rec, 8);
    const std::uint8_t jmp[6] = {0xFF, 0x25, 0, 0, 0, 0};
    std::memcpy(at + 10, jmp, 6);
    const auto stub = reinterpret_cast<std::uintptr_t>(&lt_hook_entry_stub);
    std::memcpy(at + 16, &stub, 8);
}

void writeRedirectThunk(std::uint8_t* at, std::uintptr_t replacement) {
    const std::uint8_t jmp[6] = {0xFF, 0x25, 0, 0, 0, 0};
    std::memcpy(at, jmp, 6);
    std::memcpy(at + 6, &replacement, 8);
}

bool alreadyPatched(std::uintptr_t function) {
    for (const HookRecord* r : g_records)
        if (r->active.load(std::memory_order_relaxed) && r->kind != Kind::Import && r->patch.function == function)
            return true;
    return false;
}

// Installs an inline patch whose head jumps to a fresh slot; `fillThunk` writes the slot's entry.
template <typename Fill>
HookRecord* installInline(std::uintptr_t function, std::size_t functionSize, Kind kind, Fill fillThunk,
                          std::string* error, void** publishOriginal = nullptr, bool allowTrap = false) {
    if (alreadyPatched(function)) {
        if (error) *error = "function already hooked";
        return nullptr;
    }
    bool isNear = false;
    std::uint8_t* slot = detail::allocateCode(function, detail::kSlotSize, &isNear);
    if (slot == nullptr) {
        if (error) *error = "cannot allocate executable memory for a trampoline";
        return nullptr;
    }
    detail::InlinePatch patch;
    if (!detail::preparePatch(function, functionSize, slot, isNear, allowTrap, patch, error)) return nullptr;
    HookRecord* record = newRecord(kind);
    record->patch = patch;
    record->slot = slot;
    record->continuation = patch.trampoline;
    fillThunk(slot, record);
    if (publishOriginal != nullptr) __atomic_store_n(publishOriginal, reinterpret_cast<void*>(patch.trampoline), __ATOMIC_RELEASE);
    record->active.store(true, std::memory_order_release);
    if (!detail::applyPatch(patch, true, error)) {
        record->active.store(false, std::memory_order_release);
        return nullptr;
    }
    return record;
}

constinit std::vector<LoadedObject> g_unwindCovered; // objects whose unwinder entry points we redirected
constinit unsigned long long g_unwindGeneration = 0;  // loader adds/subs when they were last covered

bool installUnwindSupportLocked(std::string* error);
int patchImportsLocked(std::string_view symbol, std::uintptr_t replacement, void** original, ObjectFilter filter,
                       void* filterData, HookId owner, const std::string* onlyPath, std::string* error);

bool removeLocked(HookRecord* r, std::string* error) {
    if (!r->active.load(std::memory_order_relaxed)) return true;
    bool ok = true;
    if (r->kind == Kind::Import) {
        for (auto it = g_got.begin(); it != g_got.end();) {
            if (it->owner == r->id) {
                if (*reinterpret_cast<std::uintptr_t*>(it->slot) == it->replacement)
                    ok = detail::writeSlot(it->slot, it->original, error) && ok;
                it = g_got.erase(it);
            } else {
                ++it;
            }
        }
    } else {
        ok = detail::applyPatch(r->patch, false, error);
    }
    // Still-running calls keep their shadow entries and finish through the exit stub.
    r->active.store(false, std::memory_order_release);
    return ok;
}

} // namespace

HookId hookFunction(void* function, EnterCallback onEnter, ExitCallback onExit, void* userData, std::string* error,
                    std::size_t functionSize, unsigned flags) {
    std::lock_guard lock(g_mutex);
    if (onExit != nullptr && !installUnwindSupportLocked(error)) return kInvalidHook;
    HookRecord* r = installInline(
        reinterpret_cast<std::uintptr_t>(function), functionSize, Kind::Inline,
        [&](std::uint8_t* slot, HookRecord* record) {
            record->onEnter = onEnter;
            record->onExit = onExit;
            record->userData = userData;
            writeEntryThunk(slot, record);
        },
        error, nullptr, (flags & kAllowTrapHook) != 0);
    return r != nullptr ? r->id : kInvalidHook;
}

namespace {
void* redirectLocked(void* function, void* replacement, std::string* error, std::size_t functionSize,
                     void** publishOriginal) {
    HookRecord* r = installInline(
        reinterpret_cast<std::uintptr_t>(function), functionSize, Kind::Redirect,
        [&](std::uint8_t* slot, HookRecord* record) {
            record->replacement = reinterpret_cast<std::uintptr_t>(replacement);
            writeRedirectThunk(slot, record->replacement);
        },
        error, publishOriginal);
    return r != nullptr ? reinterpret_cast<void*>(r->patch.trampoline) : nullptr;
}
} // namespace

void* redirectFunction(void* function, void* replacement, std::string* error, std::size_t functionSize,
                       void** publishOriginal) {
    std::lock_guard lock(g_mutex);
    return redirectLocked(function, replacement, error, functionSize, publishOriginal);
}

HookId redirectionId(void* function) {
    std::lock_guard lock(g_mutex);
    for (const HookRecord* r : g_records)
        if (r->kind == Kind::Redirect && r->active.load(std::memory_order_relaxed) &&
            r->patch.function == reinterpret_cast<std::uintptr_t>(function))
            return r->id;
    return kInvalidHook;
}

namespace {

bool slotPatched(std::uintptr_t slot) {
    return std::any_of(g_got.begin(), g_got.end(), [&](const GotPatch& p) { return p.slot == slot; });
}

int patchImportsLocked(std::string_view symbol, std::uintptr_t replacement, void** original, ObjectFilter filter,
                       void* filterData, HookId owner, const std::string* onlyPath, std::string* error) {
    const std::vector<LoadedObject> objects = loadedObjects();
    const LoadedObject* probe = nullptr;
    for (const LoadedObject& o : objects)
        if (isProbeObject(o)) probe = &o;
    const std::uintptr_t real = resolveDefinition(objects, symbol, probe, nullptr);
    if (original != nullptr) *original = reinterpret_cast<void*>(real);
    int count = 0;
    for (const LoadedObject& o : objects) {
        if (o.isLoader || o.isVdso || &o == probe) continue;
        if (onlyPath != nullptr && o.path != *onlyPath) continue;
        if (filter != nullptr && !filter(o.path, filterData)) continue;
        for (const ImportSlot& s : importSlots(o)) {
            if (s.symbol != symbol || slotPatched(s.slot)) continue;
            const std::uintptr_t before = *reinterpret_cast<const std::uintptr_t*>(s.slot);
            if (!detail::writeSlot(s.slot, replacement, error)) return -1;
            g_got.push_back({s.slot, before, replacement, owner});
            ++count;
        }
    }
    if (count > 0 && real == 0) {
        if (error) *error = "no loaded object defines " + std::string(symbol);
    }
    return count;
}

} // namespace

int patchImports(std::string_view symbol, void* replacement, void** original, ObjectFilter objectFilter,
                 void* filterData, std::string* error) {
    std::lock_guard lock(g_mutex);
    return patchImportsLocked(symbol, reinterpret_cast<std::uintptr_t>(replacement), original, objectFilter,
                              filterData, kInvalidHook, nullptr, error);
}

HookId hookImport(std::string_view objectPath, std::string_view symbol, EnterCallback onEnter, ExitCallback onExit,
                  void* userData, std::string* error) {
    std::lock_guard lock(g_mutex);
    if (onExit != nullptr && !installUnwindSupportLocked(error)) return kInvalidHook;
    const std::vector<LoadedObject> objects = loadedObjects();
    const LoadedObject* probe = nullptr;
    for (const LoadedObject& o : objects)
        if (isProbeObject(o)) probe = &o;
    const std::uintptr_t real = resolveDefinition(objects, symbol, probe, nullptr);
    if (real == 0) {
        if (error) *error = "no loaded object defines " + std::string(symbol);
        return kInvalidHook;
    }
    bool isNear = false;
    std::uint8_t* slot = detail::allocateCode(0, detail::kThunkSize, &isNear);
    if (slot == nullptr) {
        if (error) *error = "cannot allocate executable memory for an import thunk";
        return kInvalidHook;
    }
    HookRecord* r = newRecord(Kind::Import);
    r->onEnter = onEnter;
    r->onExit = onExit;
    r->userData = userData;
    r->continuation = real;
    r->slot = slot;
    writeEntryThunk(slot, r);
    r->active.store(true, std::memory_order_release);
    const std::string path(objectPath);
    const int n = patchImportsLocked(symbol, reinterpret_cast<std::uintptr_t>(slot), nullptr, nullptr, nullptr, r->id,
                                     &path, error);
    if (n <= 0) {
        r->active.store(false, std::memory_order_release);
        if (n == 0 && error) *error = path + " has no unpatched GOT slot for " + std::string(symbol);
        return kInvalidHook;
    }
    return r->id;
}

bool unhook(HookId id, std::string* error) {
    std::lock_guard lock(g_mutex);
    if (id == kInvalidHook || id > g_records.size()) {
        if (error) *error = "no hook with id " + std::to_string(id);
        return false;
    }
    return removeLocked(g_records[id - 1], error);
}

void unhookAll() {
    std::lock_guard lock(g_mutex);
    std::string ignored;
    // Newest first, so that hooks stacked on the same bytes come off in order.
    for (auto it = g_records.rbegin(); it != g_records.rend(); ++it) removeLocked(*it, &ignored);
    for (const GotPatch& p : g_got)
        if (*reinterpret_cast<const std::uintptr_t*>(p.slot) == p.replacement) detail::writeSlot(p.slot, p.original, &ignored);
    g_got.clear();
    g_unwindCovered.clear();
    g_unwindGeneration = 0;
    // The g_real* pointers stay: a thread may be inside a wrapper right now, and the trampolines
    // they point to are never freed.
}

void forgetRange(std::uintptr_t lo, std::uintptr_t hi) {
    std::lock_guard lock(g_mutex);
    for (HookRecord* r : g_records)
        if (r->kind != Kind::Import && r->patch.site >= lo && r->patch.site < hi) r->active.store(false);
    std::erase_if(g_got, [&](const GotPatch& p) { return p.slot >= lo && p.slot < hi; });
    std::erase_if(g_unwindCovered, [&](const LoadedObject& o) { return o.lo >= lo && o.lo < hi; });
}

namespace {

template <typename Fn>
bool redirectUnwinder(const LoadedObject& o, std::string_view name, void* wrapper, std::atomic<Fn>& real,
                      std::string* error) {
    for (const DefinedSymbol& s : definedFunctions(o)) {
        if (s.name != name || !s.defaultVersion) continue;
        const bool redirected = std::any_of(g_records.begin(), g_records.end(), [&](const HookRecord* r) {
            return r->kind == Kind::Redirect && r->active.load() && r->replacement == reinterpret_cast<std::uintptr_t>(wrapper);
        });
        if (redirected) return true; // one unwinder per process is enough
        static_assert(sizeof(std::atomic<Fn>) == sizeof(void*));
        // Published before the patch is live: a throw on another thread may arrive at once.
        void* original = redirectLocked(reinterpret_cast<void*>(s.address), wrapper, error, s.size,
                                        reinterpret_cast<void**>(&real));
        return original != nullptr;
    }
    return true; // not defined here
}

int loaderGeneration(dl_phdr_info* info, std::size_t size, void* data) {
    if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
        *static_cast<unsigned long long*>(data) = info->dlpi_adds * 1000003ull + info->dlpi_subs;
    return 1; // the counters are the same in every entry: stop after the first
}

bool installUnwindSupportLocked(std::string* error) {
    // Cheap when nothing was loaded or unloaded since the last call (hooking hundreds of
    // functions calls this each time).
    unsigned long long generation = 0;
    dl_iterate_phdr(loaderGeneration, &generation);
    if (generation != 0 && generation == g_unwindGeneration) return true;
    const std::vector<LoadedObject> objects = loadedObjects();
    bool ok = true;
    for (const LoadedObject& o : objects) {
        if (o.isVdso || o.isLoader || isProbeObject(o)) continue;
        const bool seen = std::any_of(g_unwindCovered.begin(), g_unwindCovered.end(),
                                      [&](const LoadedObject& c) { return c.lo == o.lo && c.path == o.path; });
        if (seen) continue;
        // The unwinder's entry points are redirected inline in the object that defines them
        // (libgcc_s), which also covers callers that found them with dlsym (glibc's
        // pthread_exit/cancel find _Unwind_ForcedUnwind that way).
        std::string why;
        const bool objectOk =
            redirectUnwinder(o, "_Unwind_RaiseException", reinterpret_cast<void*>(&lt_wrap_unwind_raise), g_realRaise, &why) &&
            redirectUnwinder(o, "_Unwind_Resume", reinterpret_cast<void*>(&lt_wrap_unwind_resume), g_realResume, &why) &&
            redirectUnwinder(o, "_Unwind_Resume_or_Rethrow", reinterpret_cast<void*>(&lt_wrap_unwind_rethrow), g_realRethrow, &why) &&
            redirectUnwinder(o, "_Unwind_ForcedUnwind", reinterpret_cast<void*>(&lt_wrap_unwind_forced), g_realForced, &why);
        if (!objectOk) {
            if (error) *error = "C++ exception support in " + o.path + ": " + why;
            ok = false;
        }
        g_unwindCovered.push_back(o);
    }
    // __cxa_begin_catch's prologue is too short for an inline patch (a call follows 4 bytes in),
    // so, as uftrace does, the GOT slots of its callers (every object with a catch clause) are
    // patched instead; slots patched before are skipped, new objects get theirs.
    void* realBeginCatch = nullptr;
    std::string why;
    const int n = patchImportsLocked("__cxa_begin_catch", reinterpret_cast<std::uintptr_t>(&lt_wrap_begin_catch),
                                     &realBeginCatch, nullptr, nullptr, kInvalidHook, nullptr, &why);
    if (n < 0) {
        if (error) *error = "C++ exception support (__cxa_begin_catch): " + why;
        ok = false;
    } else if (realBeginCatch != nullptr && g_realBeginCatch.load() == nullptr) {
        g_realBeginCatch.store(reinterpret_cast<BeginCatchFn>(realBeginCatch), std::memory_order_release);
    }
    if (ok) g_unwindGeneration = generation;
    return ok;
}

} // namespace

bool installUnwindSupport(std::string* error) {
    std::lock_guard lock(g_mutex);
    return installUnwindSupportLocked(error);
}

std::uint64_t realReturnAddress(std::uint64_t ip, std::uint64_t cfa) {
    if (ip != exitStubAddress()) return ip;
    const ThreadState& ts = t_state;
    for (std::uint32_t i = ts.depth; i > 0; --i)
        if (ts.stack[i - 1].slot + 8 == cfa) return ts.stack[i - 1].realReturn;
    return ip;
}

EngineStats stats() {
    std::lock_guard lock(g_mutex);
    EngineStats s{};
    s.shadowOverflows = g_overflows.load();
    s.unwoundFrames = g_unwound.load();
    for (const HookRecord* r : g_records)
        if (r->active.load()) ++s.activeHooks;
    s.gotSlots = static_cast<std::uint32_t>(g_got.size());
    for (const HookRecord* r : g_records)
        if (r->active.load() && r->kind != Kind::Import && r->patch.trap) ++s.trapHooks;
    return s;
}

} // namespace layertrace::probe::hook
