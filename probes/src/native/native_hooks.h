// Native instrumentation policy: which functions the probe hooks (ffi_call under all its names,
// FFI closures, PyInit_* via dlsym, dlopen/dlclose, target-library exports, extension modules'
// GOT imports, --probe LIB:GLOB) and how each hook turns into emit* calls.
#pragma once

#include <string>

namespace layertrace::probe::native {

// Called by the runtime once the handshake fixed the options (options() is valid). Hooks every
// object already loaded and arranges for objects loaded later to be hooked when they load.
// Returns false (with *error) only when nothing at all could be installed; partial failures
// are reported with reportOnce and tracing goes on.
bool install(std::string* error);

// Restores every patched byte and GOT slot (detach). Safe to call more than once.
void uninstall();

} // namespace layertrace::probe::native
