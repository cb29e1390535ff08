/* libfaults.so: small native functions the fault suite hooks (--probe libfaults.so:ft_*) to push
 * the hook engine through deep recursion, longjmp across hooked frames and a hot loop. */
#include <setjmp.h>
#include <stdint.h>

/* Each function is its own frame (noinline) and the recursion is not turned into a loop: the
 * point is 10,000 hooked frames on the stack at once. */
#define FT_EXPORT __attribute__((visibility("default"), noinline))

/* Returns n after recursing n levels deep (n + 1 hooked calls in all). */
FT_EXPORT long ft_recurse(long n) {
    if (n <= 0) {
        return 0;
    }
    volatile long below = ft_recurse(n - 1);
    return below + 1;
}

/* A deterministic value that depends on every bit of i, so a corrupted argument, return value or
 * register (the hook engine's exit stub) shows up as a wrong result in Python. */
FT_EXPORT int64_t ft_mix(int64_t i) {
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (int64_t)(x & 0x7FFFFFFFFFFFull);
}

/* Descends `depth` hooked frames, then longjmps straight back to ft_longjmp_through, skipping
 * every hooked return on the way. */
FT_EXPORT void ft_descend(long depth, jmp_buf* env, long token) {
    if (depth <= 0) {
        if (token != 0) { /* always (ft_longjmp_through passes 1..1000000) */
            longjmp(*env, (int)token);
        }
        return;
    }
    ft_descend(depth - 1, env, token);
    /* Not reached: the longjmp above skips this frame's return. Volatile keeps it a real call. */
    __asm__ volatile("" ::: "memory");
}

/* Returns token + depth when the longjmp came back with token (token must be 1..1000000). */
FT_EXPORT long ft_longjmp_through(long depth, long token) {
    jmp_buf env;
    volatile long d = depth;
    const int got = setjmp(env);
    if (got != 0) {
        return got + d;
    }
    ft_descend(d, &env, token);
    return -1; /* not reached */
}
