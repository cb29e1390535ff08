// libffi instrumentation: ffi_call under all its names and FFI closures, decoded into
// FfiCall/FfiReturn and ClosureEnter/ClosureExit events.
#pragma once

#include "elf_dynamic.h"

#include <layertrace/wire/records.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace layertrace::probe::native {

// Our mirror of libffi 3.x's public structs (only the leading fields we read). The layout has
// been stable across libffi 3.0-3.4 and is the same in cffi's bundled copy; ffi_hooks.cpp checks
// it against Debian's <ffi.h> with static_asserts when that header is present.
struct FfiTypeMirror {
    std::size_t size;
    unsigned short alignment;
    unsigned short type; // FFI_TYPE_*
    FfiTypeMirror** elements;
};
struct FfiCifMirror {
    int abi;
    unsigned nargs;
    FfiTypeMirror** argTypes;
    FfiTypeMirror* rtype;
    unsigned bytes;
    unsigned flags;
};

// Decodes one value of type `type` stored at `value` (arguments: avalue[i]; returns: rvalue,
// where libffi widens integers narrower than a word to a full ffi_arg, whose low bytes are read)
// into *out.
void decodeFfiValue(const FfiTypeMirror* type, const void* value, wire::FfiValue* out);
// Decodes up to out.size() arguments; returns how many were written.
std::size_t decodeFfiArguments(const FfiCifMirror* cif, void** avalue, std::span<wire::FfiValue> out);

// Hooks every ffi_call alias and ffi_prep_closure_loc alias `object` defines (in .dynsym, and in
// .symtab for the interpreter, where libffi may be linked statically). Failures are reported
// once each; never throws.
void hookFfiIn(const hook::LoadedObject& object);
// Forget per-object state on detach (the engine restores the bytes).
void resetFfiHooks();

} // namespace layertrace::probe::native
