/* Frames of the shapes compiled code has, for the cached-walk tests: a small rsp-based frame, a
   large one, an rbp-based one (alloca), and a chain through all of them. Each calls the next
   and uses the result afterwards, so no call becomes a tail jump. */
#include <alloca.h>

#define EXPORT __attribute__((visibility("default"), noinline))

typedef void (*Callback)(void*);

EXPORT int shape_chain(int depth, Callback cb, void* data);

EXPORT int shape_small(int depth, Callback cb, void* data) {
    volatile int keep = depth;
    return shape_chain(depth - 1, cb, data) + keep;
}

EXPORT int shape_large(int depth, Callback cb, void* data) {
    volatile char buffer[6000];
    buffer[depth] = (char)depth;
    return shape_chain(depth - 1, cb, data) + buffer[depth];
}

EXPORT int shape_alloca(int depth, Callback cb, void* data) {
    volatile char* area = alloca((unsigned)depth * 16 + 8);
    area[0] = 1;
    return shape_chain(depth - 1, cb, data) + area[0];
}

/* Pushes several callee-saved registers (more CFI offsets) and keeps values across the call. */
EXPORT int shape_saves(int depth, Callback cb, void* data) {
    volatile int a = depth, b = depth * 2, c = depth * 3, d = depth * 5;
    int x = a, y = b, z = c, w = d;
    const int r = shape_chain(depth - 1, cb, data);
    return r + x * y - z + w;
}

EXPORT int shape_chain(int depth, Callback cb, void* data) {
    volatile int keep = 0;
    if (depth <= 0) {
        cb(data);
        return keep;
    }
    switch (depth % 4) {
    case 0: return shape_small(depth, cb, data) + keep;
    case 1: return shape_large(depth, cb, data) + keep;
    case 2: return shape_alloca(depth, cb, data) + keep;
    default: return shape_saves(depth, cb, data) + keep;
    }
}
