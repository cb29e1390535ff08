// ffi_call / ffi_call_go / cffistatic_ffi_call redirection with argument and return decoding,
// and ffi_prep_closure_loc wrapping so that closures report their entry and exit.
#include "ffi_hooks.h"

#include "hook_engine.h"
#include "../runtime/emit.h"

#include <array>
#include <cstddef>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#if __has_include(<ffi.h>)
#include <ffi.h>
#include <cstddef>
// The mirror must match libffi's own layout for the fields we read.
static_assert(sizeof(layertrace::probe::native::FfiTypeMirror) == sizeof(ffi_type));
static_assert(offsetof(layertrace::probe::native::FfiTypeMirror, type) == offsetof(ffi_type, type));
static_assert(offsetof(layertrace::probe::native::FfiTypeMirror, elements) == offsetof(ffi_type, elements));
static_assert(offsetof(layertrace::probe::native::FfiCifMirror, nargs) == offsetof(ffi_cif, nargs));
static_assert(offsetof(layertrace::probe::native::FfiCifMirror, argTypes) == offsetof(ffi_cif, arg_types));
static_assert(offsetof(layertrace::probe::native::FfiCifMirror, rtype) == offsetof(ffi_cif, rtype));
static_assert(FFI_TYPE_STRUCT == 13 && FFI_TYPE_POINTER == 14 && FFI_TYPE_SINT64 == 12, "FfiType codes");
#endif

namespace layertrace::probe::native {
namespace {

using wire::FfiType;
using wire::FfiValue;

using FfiCallFn = void (*)(FfiCifMirror*, void (*)(), void*, void**);
using FfiCallGoFn = void (*)(FfiCifMirror*, void (*)(), void*, void**, void*);
using ClosureFun = void (*)(FfiCifMirror*, void*, void**, void*);
using PrepClosureFn = int (*)(void*, FfiCifMirror*, ClosureFun, void*, void*);

// One slot per hooked alias; each slot has its own replacement function (template index), so
// the replacement knows which original to call without any lookup.
constexpr int kMaxAliases = 8;
struct Alias {
    std::atomic<void*> original{nullptr};
    std::uint32_t hookId = 0;
    std::uintptr_t address = 0;
};
constinit Alias g_call[kMaxAliases];
constinit Alias g_callGo[kMaxAliases];
constinit Alias g_prep[kMaxAliases];
constinit std::mutex g_mutex;

// FfiArgumentDecoder (emit.h): the arguments, decoded straight into the FfiCall record.
void decodeArgumentsInto(const FfiCifMirror* cif, void** avalue, FfiValue* out, std::size_t count) {
    decodeFfiArguments(cif, avalue, {out, count});
}

void emitCall(const Alias& alias, FfiCifMirror* cif, void (*fn)(), void** avalue, std::uintptr_t caller) {
    const std::size_t argCount = cif->argTypes != nullptr ? cif->nargs : 0;
    emitFfiCall(alias.hookId, reinterpret_cast<std::uint64_t>(fn), caller, static_cast<std::uint16_t>(cif->abi), cif,
                avalue, argCount, decodeArgumentsInto);
}

void emitReturn(FfiCifMirror* cif, void (*fn)(), void* rvalue) {
    FfiValue value;
    decodeFfiValue(cif->rtype, rvalue, &value);
    emitFfiReturn(reinterpret_cast<std::uint64_t>(fn), value.type, value.size, value.bits);
}

template <int I>
void ffiCallReplacement(FfiCifMirror* cif, void (*fn)(), void* rvalue, void** avalue) {
    const auto original = reinterpret_cast<FfiCallFn>(g_call[I].original.load(std::memory_order_acquire));
    if (!tracingEnabled() || cif == nullptr) return original(cif, fn, rvalue, avalue);
    emitCall(g_call[I], cif, fn, avalue, reinterpret_cast<std::uintptr_t>(__builtin_return_address(0)));
    original(cif, fn, rvalue, avalue);
    emitReturn(cif, fn, rvalue);
}

template <int I>
void ffiCallGoReplacement(FfiCifMirror* cif, void (*fn)(), void* rvalue, void** avalue, void* closure) {
    const auto original = reinterpret_cast<FfiCallGoFn>(g_callGo[I].original.load(std::memory_order_acquire));
    if (!tracingEnabled() || cif == nullptr) return original(cif, fn, rvalue, avalue, closure);
    emitCall(g_callGo[I], cif, fn, avalue, reinterpret_cast<std::uintptr_t>(__builtin_return_address(0)));
    original(cif, fn, rvalue, avalue, closure);
    emitReturn(cif, fn, rvalue);
}

// ---- closures ------------------------------------------------------------------------------
// ctypes and cffi read closure->user_data back (cffi's dealloc Py_DECREFs it), so user_data must
// stay theirs. Instead the closure's `fun` is replaced by a dispatcher bound (by template
// index) to the real fun; the closure's code address is found from user_data in a small
// lock-free table filled when the closure is prepared.
constexpr int kMaxFuns = 8;
constinit std::atomic<ClosureFun> g_closureFuns[kMaxFuns];

constexpr std::size_t kCodeTable = 1u << 14;
struct CodeEntry {
    std::atomic<void*> userData{nullptr};
    std::atomic<void*> codeloc{nullptr};
};
constinit CodeEntry g_codeTable[kCodeTable];

std::size_t slotFor(void* userData) {
    return (reinterpret_cast<std::uintptr_t>(userData) >> 4) * 0x9E3779B97F4A7C15ull >> 50; // 14 bits
}

void rememberCodeloc(void* userData, void* codeloc) {
    for (std::size_t i = 0, s = slotFor(userData); i < 64; ++i, s = (s + 1) & (kCodeTable - 1)) {
        void* current = g_codeTable[s].userData.load(std::memory_order_acquire);
        if (current == userData || current == nullptr) {
            g_codeTable[s].codeloc.store(codeloc, std::memory_order_release);
            g_codeTable[s].userData.store(userData, std::memory_order_release);
            return;
        }
    }
    // Table crowded: the closure reports address 0, which the tracer shows as unknown.
}

std::uintptr_t codelocOf(void* userData) {
    for (std::size_t i = 0, s = slotFor(userData); i < 64; ++i, s = (s + 1) & (kCodeTable - 1)) {
        void* current = g_codeTable[s].userData.load(std::memory_order_acquire);
        if (current == userData) return reinterpret_cast<std::uintptr_t>(g_codeTable[s].codeloc.load());
        if (current == nullptr) break;
    }
    return 0;
}

template <int J>
void closureDispatcher(FfiCifMirror* cif, void* ret, void** args, void* userData) {
    const ClosureFun fun = g_closureFuns[J].load(std::memory_order_acquire);
    if (!tracingEnabled()) return fun(cif, ret, args, userData);
    const std::uintptr_t closure = codelocOf(userData);
    emitClosureEnter(closure, reinterpret_cast<std::uint64_t>(fun),
                     reinterpret_cast<std::uint64_t>(__builtin_return_address(0)));
    fun(cif, ret, args, userData);
    emitClosureExit(closure);
}

template <int... J>
constexpr ClosureFun dispatcherFor(int j, std::integer_sequence<int, J...>) {
    constexpr ClosureFun table[] = {&closureDispatcher<J>...};
    return table[j];
}

ClosureFun dispatcherFor(ClosureFun fun) {
    for (int j = 0; j < kMaxFuns; ++j) {
        ClosureFun expected = nullptr;
        if (g_closureFuns[j].load() == fun ||
            g_closureFuns[j].compare_exchange_strong(expected, fun, std::memory_order_acq_rel))
            return dispatcherFor(j, std::make_integer_sequence<int, kMaxFuns>{});
    }
    return nullptr;
}

template <int I>
int prepClosureReplacement(void* closure, FfiCifMirror* cif, ClosureFun fun, void* userData, void* codeloc) {
    const auto original = reinterpret_cast<PrepClosureFn>(g_prep[I].original.load(std::memory_order_acquire));
    ClosureFun dispatcher = fun != nullptr ? dispatcherFor(fun) : nullptr;
    if (dispatcher == nullptr) {
        reportOnce(wire::ReportLevel::Warning, "ffi-closure-funs",
                   "more than 8 distinct FFI closure dispatchers: further closures are not traced");
        return original(closure, cif, fun, userData, codeloc);
    }
    rememberCodeloc(userData, codeloc);
    return original(closure, cif, dispatcher, userData, codeloc);
}

template <int... I>
constexpr auto callTable(std::integer_sequence<int, I...>) {
    return std::array<void*, sizeof...(I)>{reinterpret_cast<void*>(&ffiCallReplacement<I>)...};
}
template <int... I>
constexpr auto callGoTable(std::integer_sequence<int, I...>) {
    return std::array<void*, sizeof...(I)>{reinterpret_cast<void*>(&ffiCallGoReplacement<I>)...};
}
template <int... I>
constexpr auto prepTable(std::integer_sequence<int, I...>) {
    return std::array<void*, sizeof...(I)>{reinterpret_cast<void*>(&prepClosureReplacement<I>)...};
}

void redirectAlias(const hook::LoadedObject& object, std::string_view name, std::uintptr_t address, std::size_t size,
                   Alias* slots, const std::array<void*, kMaxAliases>& replacements) {
    for (int i = 0; i < kMaxAliases; ++i)
        if (slots[i].address == address) return; // already ours
    int free = -1;
    for (int i = 0; i < kMaxAliases && free < 0; ++i)
        if (slots[i].address == 0) free = i;
    const std::string key = "ffi:" + object.path + ":" + std::string(name);
    if (free < 0) {
        reportOnce(wire::ReportLevel::Warning, key, "too many libffi copies loaded; " + std::string(name) + " in " +
                                                        object.path + " is not traced");
        return;
    }
    Alias& slot = slots[free];
    slot.address = address;
    slot.hookId = registerHook(wire::HookKind::Ffi, address, name, object.path);
    std::string error;
    static_assert(sizeof(std::atomic<void*>) == sizeof(void*));
    if (hook::redirectFunction(reinterpret_cast<void*>(address), replacements[free], &error, size,
                               reinterpret_cast<void**>(&slot.original)) == nullptr)
        reportOnce(wire::ReportLevel::Warning, key, "cannot hook " + std::string(name) + " in " + object.path + ": " + error);
}

bool isInterpreter(const hook::LoadedObject& object) {
    const std::string_view path = object.path;
    const std::size_t slash = path.rfind('/');
    const std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
    return object.isMain || base.starts_with("libpython");
}

} // namespace

namespace {

// The low `size` bytes at `bytes` (at most 8), by fixed-size loads: a memcpy of a run-time size
// is a call into libc, about a seventh of the whole hooked ffi_call when profiled.
std::uint64_t loadLow(const std::uint8_t* bytes, std::size_t size) {
    switch (size) {
    case 0: return 0;
    case 1: return bytes[0];
    case 2: {
        std::uint16_t x;
        std::memcpy(&x, bytes, 2);
        return x;
    }
    case 4: {
        std::uint32_t x;
        std::memcpy(&x, bytes, 4);
        return x;
    }
    default:
        if (size >= 8) {
            std::uint64_t x;
            std::memcpy(&x, bytes, 8);
            return x;
        }
        std::uint64_t x = 0; // 3, 5, 6, 7: no libffi scalar has these sizes
        for (std::size_t i = 0; i < size; ++i) x |= std::uint64_t{bytes[i]} << (8 * i);
        return x;
    }
}

} // namespace

void decodeFfiValue(const FfiTypeMirror* type, const void* value, wire::FfiValue* out) {
    // Field by field into *out (in place in the ring for arguments): assembled in a local and
    // returned, the value went through the stack in 1- and 4-byte stores read back by 8-byte
    // loads, a store-forwarding stall per value.
    const auto code = type == nullptr || type->type > 15 ? FfiType::Void : static_cast<FfiType>(type->type);
    const auto size = type == nullptr ? 0u : static_cast<std::uint32_t>(type->size);
    // Scalars: the value's low bytes (a long double's low half). Integer returns narrower than a
    // word are stored widened to ffi_arg: on little-endian x86-64 their low bytes are the value too.
    const bool scalar = value != nullptr && code != FfiType::Void && code != FfiType::Struct;
    out->type = code;
    out->reserved[0] = out->reserved[1] = out->reserved[2] = 0;
    out->size = size;
    out->bits = scalar ? loadLow(static_cast<const std::uint8_t*>(value), size) : 0;
}

std::size_t decodeFfiArguments(const FfiCifMirror* cif, void** avalue, std::span<wire::FfiValue> out) {
    if (cif == nullptr || cif->argTypes == nullptr) return 0;
    const std::size_t n = cif->nargs < out.size() ? cif->nargs : out.size();
    for (std::size_t i = 0; i < n; ++i)
        decodeFfiValue(cif->argTypes[i], avalue != nullptr ? avalue[i] : nullptr, &out[i]);
    return n;
}

void hookFfiIn(const hook::LoadedObject& object) {
    static const auto calls = callTable(std::make_integer_sequence<int, kMaxAliases>{});
    static const auto callGos = callGoTable(std::make_integer_sequence<int, kMaxAliases>{});
    static const auto preps = prepTable(std::make_integer_sequence<int, kMaxAliases>{});
    auto classify = [&](std::string_view name, std::uintptr_t address, std::size_t size) {
        if (name == "ffi_call" || name == "cffistatic_ffi_call") redirectAlias(object, name, address, size, g_call, calls);
        else if (name == "ffi_call_go" || name == "cffistatic_ffi_call_go") redirectAlias(object, name, address, size, g_callGo, callGos);
        else if (name == "ffi_prep_closure_loc" || name == "cffistatic_ffi_prep_closure_loc") redirectAlias(object, name, address, size, g_prep, preps);
    };
    std::lock_guard lock(g_mutex);
    for (const hook::DefinedSymbol& s : hook::definedFunctions(object))
        if (s.defaultVersion && !s.ifunc) classify(s.name, s.address, s.size);
    // libffi linked statically into the interpreter may be invisible in .dynsym; an unstripped
    // interpreter still names it in .symtab.
    if (isInterpreter(object)) {
        std::string error;
        for (const auto& [name, address] : hook::symtabFunctions(object.path, object.base, &error))
            classify(name, address, 0);
    }
}

void resetFfiHooks() {
    std::lock_guard lock(g_mutex);
    for (int i = 0; i < kMaxAliases; ++i) {
        // Originals stay valid for calls still in flight; the addresses are cleared so that a new
        // install() hooks again.
        g_call[i].address = 0;
        g_callGo[i].address = 0;
        g_prep[i].address = 0;
    }
}

} // namespace layertrace::probe::native
