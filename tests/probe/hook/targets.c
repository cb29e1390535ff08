/* C functions the hook engine tests instrument: float and stack-passed arguments, deep
   recursion, setjmp/longjmp through hooked frames, a GOT-imported callee and a threaded worker. */
#include <setjmp.h>

#define EXPORT __attribute__((visibility("default"), noinline))

EXPORT double lt_t_mix(double a, float b, int c) { return a * (double)b + c; }

EXPORT long lt_t_many(long a1, long a2, long a3, long a4, long a5, long a6, long a7, long a8, double d1, double d2,
                      double d3, double d4, double d5, double d6, double d7, double d8, double d9) {
    return a1 + 2 * a2 + 3 * a3 + 4 * a4 + 5 * a5 + 6 * a6 + 7 * a7 + 8 * a8 +
           (long)(d1 + d2 + d3 + d4 + d5 + d6 + d7 + d8 + 10 * d9);
}

/* Not a tail call (the addition follows), so every level is a real frame. */
EXPORT long lt_t_recurse(long n) {
    if (n == 0) return 0;
    volatile long keep = n;
    return lt_t_recurse(n - 1) + (keep > 0 ? 1 : 0);
}

EXPORT long lt_t_add(long a, long b) { return a + b; }

EXPORT long lt_t_work(long x) {
    long acc = x;
    for (int i = 0; i < 8; ++i) acc = acc * 3 + i;
    return acc;
}

EXPORT void lt_t_jumper(jmp_buf* env) { longjmp(*env, 7); }

EXPORT int lt_t_jump_mid(jmp_buf* env) {
    volatile int before = 1;
    lt_t_jumper(env);
    return before; /* never reached */
}

EXPORT int lt_t_setjmp_runner(void) {
    jmp_buf env;
    const int jumped = setjmp(env);
    if (jumped != 0) return jumped;
    lt_t_jump_mid(&env);
    return -1;
}
