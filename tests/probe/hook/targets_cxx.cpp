// C++ functions for the exception tests: an exception thrown by one hooked function and caught
// above, or inside, another hooked function.
#include <stdexcept>

#define EXPORT extern "C" __attribute__((visibility("default"), noinline))

EXPORT int lt_t_cxx_thrower(int x) {
    if (x < 0) throw std::runtime_error("negative");
    return x * 10;
}

EXPORT int lt_t_cxx_middle(int x) {
    volatile int bias = 1;
    return lt_t_cxx_thrower(x) + bias;
}

EXPORT int lt_t_cxx_catches_inside(int x) {
    volatile int copy = x; // a few instructions before the first call
    try {
        return lt_t_cxx_middle(copy);
    } catch (const std::runtime_error&) {
        return 42;
    }
}

// Not hooked: catches what the hooked frames below it let through.
EXPORT int lt_t_cxx_catch_above(int x) {
    try {
        return lt_t_cxx_middle(x);
    } catch (const std::runtime_error&) {
        return -100;
    }
}
