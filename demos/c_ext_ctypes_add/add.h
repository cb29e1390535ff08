/* libadd's public interface: one plain C function, no Python.h, reached three ways from Python. */
#ifndef LAYERTRACE_DEMO_ADD_H
#define LAYERTRACE_DEMO_ADD_H

#ifdef __cplusplus
extern "C" {
#endif

/* Returns a + b. Overflow wraps like unsigned arithmetic instead of being undefined, so every
 * caller (ctypes, CFFI ABI, CFFI API) sees the same well-defined result for any two ints. */
int add(int a, int b);

#ifdef __cplusplus
}
#endif

#endif
