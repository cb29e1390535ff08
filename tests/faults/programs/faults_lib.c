/* libfaults.so: small native functions the fault suite hooks (--probe libfaults.so:ft_*) to push
 * the hook engine through deep recursion, longjmp across hooked frames and a hot loop, and to
 * crash (or fault and recover) inside a traced native call. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* ---- crashes and recovered faults ---------------------------------------------------------- */

/* Read through a pointer the compiler cannot see is null: a real fault, not undefined behaviour
 * it could fold away. */
static volatile int* volatile ft_null = 0;

/* Dies of a real fault raised inside this (hooked) call: 0 SIGSEGV (write to address 0),
 * 1 SIGBUS (a page of an empty file), 2 SIGILL (ud2), 3 SIGFPE (integer division by zero),
 * 4 SIGABRT (abort). Returns only for an unknown kind. */
FT_EXPORT int ft_crash(int kind) {
    switch (kind) {
    case 0: *ft_null = 1; break;
    case 1: {
        const int fd = memfd_create("ft_crash", 0);
        volatile char* page = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        return page == MAP_FAILED ? -1 : page[0];
    }
    case 2: __builtin_trap();
    case 3: {
        volatile int one = 1, zero = 0; /* both volatile: GCC turns 1 / x into a comparison */
        return one / zero;
    }
    case 4: abort();
    }
    return -1;
}

/* A SIGSEGV handler that recovers: it siglongjmps back to ft_fault_and_recover when that armed
 * it on this thread, else hands the signal to what was installed before it. */
static __thread sigjmp_buf* volatile ft_recover_point; /* volatile: set before the fault, read by the handler */
static struct sigaction ft_before_recovering;

static void ft_recovering_handler(int signal, siginfo_t* info, void* context) {
    sigjmp_buf* point = ft_recover_point;
    if (point != NULL) {
        ft_recover_point = NULL;
        siglongjmp(*point, 1);
    }
    (void)info;
    (void)context;
    sigaction(signal, &ft_before_recovering, NULL);
    raise(signal);
}

/* Installs the recovering handler for the rest of the process's life (the probe, attached later,
 * then finds it installed and chains to it). */
FT_EXPORT int ft_install_recovering_handler(void) {
    struct sigaction recover = {0};
    recover.sa_sigaction = ft_recovering_handler;
    recover.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&recover.sa_mask);
    return sigaction(SIGSEGV, &recover, &ft_before_recovering);
}

/* Faults on address 0 and comes back through the recovering handler: ft_mix(i) when the fault
 * was caught, -1 when it never happened. */
FT_EXPORT int64_t ft_fault_and_recover(int64_t i) {
    sigjmp_buf point;
    volatile int faulted = 0;
    if (sigsetjmp(point, 1) == 0) {
        ft_recover_point = &point;
        *ft_null = 1;
    } else {
        faulted = 1;
    }
    ft_recover_point = NULL;
    return faulted ? ft_mix(i) : -1;
}

/* The same with the recovering handler installed only for this call, over whatever was there
 * (the probe's own handler under `layertrace run`), and the previous one put back after. */
FT_EXPORT int64_t ft_survive_fault(int64_t i) {
    struct sigaction before;
    struct sigaction recover = {0};
    recover.sa_sigaction = ft_recovering_handler;
    recover.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&recover.sa_mask);
    sigaction(SIGSEGV, &recover, &before);
    const int64_t result = ft_fault_and_recover(i);
    sigaction(SIGSEGV, &before, NULL);
    return result;
}
