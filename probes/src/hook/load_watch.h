// Noticing objects that are loaded and unloaded after start-up, without changing how the
// program's dlopen calls find their libraries (RPATH/RUNPATH/$ORIGIN of the real caller).
#pragma once

#include "elf_dynamic.h"

#include <cstdint>
#include <string>

namespace layertrace::probe::hook {

struct LoadEvents {
    // Once for each object present when the watch starts (dlopenCaller = 0), then for each new
    // object right after the dlopen that brought it in returns (dlopenCaller = the return
    // address of that dlopen call, so the policy can tell who loaded it; `requested` is true for
    // the object that dlopen returned, false for dependencies it pulled in). Runs with a
    // process-wide watch lock held; may install hooks.
    void (*onLoaded)(const LoadedObject& object, std::uintptr_t dlopenCaller, bool requested, void* data) = nullptr;
    // After a dlclose unmapped the object (its memory is gone; hooks in it are already forgotten).
    void (*onUnloaded)(const LoadedObject& object, void* data) = nullptr;
    void* data = nullptr;
};

// Reports every loaded object, then patches the dlopen/dlclose GOT imports of every object
// (and of every object loaded later). False with *error when dlopen could not be wrapped
// anywhere (later loads would then go unnoticed).
bool startLoadWatch(const LoadEvents& events, std::string* error);
// Stops reporting. The dlopen/dlclose slots stay patched (the wrappers just forward) until the
// engine's unhookAll() restores them with every other GOT patch.
void stopLoadWatch();

// dlopen(file, flags) searched the way the object containing `callerAddress` would search:
// a name without '/' that is not loaded yet is looked up in that object's search path
// (dlinfo RTLD_DI_SERINFO: its RPATH/RUNPATH with $ORIGIN expanded, LD_LIBRARY_PATH, system
// directories) before falling back to a plain dlopen (ld.so.cache). Needed because a wrapper
// that calls dlopen itself becomes "the caller" for glibc.
void* dlopenAsCaller(const char* file, int flags, const void* callerAddress);

} // namespace layertrace::probe::hook
