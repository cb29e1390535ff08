/* The target library of the native-policy tests, loaded by ctypes and cffi in a real Python:
   a scalar function, a float/double one, a struct by value, nested calls and a callback. */
#define EXPORT __attribute__((visibility("default"), noinline))

typedef struct {
    int x, y;
    double weight;
} NtPoint;

EXPORT int nt_add(int a, int b) {
    volatile int sum = a + b; /* a body long enough for a 5-byte jump */
    return sum;
}

EXPORT double nt_scale(double value, float factor) {
    volatile double r = value * factor;
    return r;
}

EXPORT int nt_inner(int v) {
    volatile int r = v * 3;
    return r;
}

/* Local: only in .symtab, reachable by --probe LIB:GLOB alone. */
__attribute__((noinline)) static int nt_hidden_helper(int v) {
    volatile int r = v + 100;
    return r;
}

EXPORT int nt_uses_hidden(int v) {
    volatile int base = 0;
    return nt_hidden_helper(v) + base;
}

/* Calls another exported function: the nested call must nest inside this one. */
EXPORT int nt_outer(int v) {
    volatile int base = 1;
    return nt_inner(v) + base;
}

EXPORT double nt_point_weight(NtPoint p) {
    volatile double w = p.weight * (p.x + p.y);
    return w;
}

/* Native code calling back into Python through an FFI closure. */
EXPORT int nt_apply(int (*fn)(int), int v) {
    volatile int twice = 2;
    return fn(v) * twice;
}

/* A 4-byte export with code right after it (no padding to spill a jump over): too short for a
   jump patch. Reached through ffi_call it is named by FfiCall alone; a --probe spec that names it
   gets an int3 hook, which also sees the call from nt_calls_tiny. */
int nt_tiny(int a, int b);
__asm__(".text\n"
        ".p2align 4\n"
        ".globl nt_tiny\n"
        ".type nt_tiny, @function\n"
        "nt_tiny:\n"
        "    leal (%rdi,%rsi), %eax\n"
        "    ret\n"
        ".size nt_tiny, .-nt_tiny\n"
        "nt_tiny_neighbour:\n" /* local, never called: occupies the bytes after nt_tiny */
        "    movl %edi, %eax\n"
        "    ret\n");

EXPORT int nt_calls_tiny(int a, int b) {
    volatile int base = 0;
    return nt_tiny(a, b) + base;
}
