// C++ part of the native-policy test library: an exception thrown by one exported (hooked)
// function and caught by another, called from Python through ctypes.
#include <stdexcept>

#define EXPORT extern "C" __attribute__((visibility("default"), noinline))

EXPORT int nt_cxx_throw(int v) {
    if (v < 0) throw std::invalid_argument("negative");
    volatile int r = v * 2;
    return r;
}

EXPORT int nt_cxx_catch(int v) {
    volatile int fallback = -1;
    try {
        return nt_cxx_throw(v);
    } catch (const std::invalid_argument&) {
        return fallback;
    }
}
